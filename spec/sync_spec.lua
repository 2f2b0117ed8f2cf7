-- zuora.sync and `zuora sync` against zuora-sim: a full sync, changes and deletions made on the
-- simulator's clock, an incremental sync that brings exactly those, windows halved when jobs
-- fail or stall, and syncs killed with SIGKILL at random points that resume to the same
-- destination as a clean sync (no row lost, none written twice): files, SQLite, PostgreSQL.
local sim = require "spec.support.sim"
local cli = require "spec.support.cli"
local fs = require "spec.support.fs"
local postgres = require "spec.support.postgres"
local zsync = require "zuora.sync"

local T0 = "2026-01-01 00:00:00"

describe("zuora.sync", function()
  local s, c, pg, pg_err, dbs = nil, nil, nil, nil, 0

  setup(function()
    s = sim.start()
    c = s:client{ max_retries = 2 }
    pg, pg_err = postgres.start()
    math.randomseed(os.time())
  end)
  teardown(function()
    if c then c:close() end
    if s then s:stop() end
    if pg then pg:stop() end
  end)

  local function clock(t) return s:control("POST", "clock", { set = t }) end
  local function change(object, id, set)
    return s:control("POST", "records", { object = object, id = id, set = set })
  end
  local function delete(object, id) return s:control("POST", "records", { object = object, id = id, delete = true }) end

  -- n accounts (each with a contact) created `step` seconds apart from T0; their ids.
  local function populate(n, step)
    s:reset()
    s:config{ job_polls = 0 }
    clock(T0)
    local ids = {}
    for i = 1, n do
      ids[i] = s:account{ name = ("Account %03d"):format(i) }.accountId
      s:control("POST", "clock", { advance = step })
    end
    return ids
  end

  -- What Zuora holds now: id -> "name|updateddate" (accounts) or "lastname|updateddate".
  local function source(object)
    local rows = assert(c:data_query("SELECT * FROM " .. object:lower(), { output_format = "JSON" }))
    local out = {}
    for r in rows do out[r.id] = tostring(r.name or r.lastname) .. "|" .. tostring(r.updateddate) end
    return out
  end

  local function held(dest, object)
    local out = {}
    for id, r in pairs(dest:materialize(object)) do
      out[id] = tostring(r.name or r.lastname) .. "|" .. tostring(r.updateddate)
    end
    return out
  end

  local destinations = {
    { name = "files", url = function() return "dir:" .. fs.tmpdir("sync-files") .. "/out" end },
    { name = "files (csv)", url = function() return "csv:" .. fs.tmpdir("sync-csv") .. "/out" end },
    { name = "SQLite", url = function() return "sqlite:" .. fs.tmpdir("sync-sqlite") .. "/billing.db" end },
    { name = "PostgreSQL", url = function()
      if not pg then return nil end
      dbs = dbs + 1
      local db = "sync" .. dbs
      pg:psql("CREATE DATABASE " .. db)
      return (pg.url:gsub("/postgres$", "/" .. db))
    end },
  }

  for _, d in ipairs(destinations) do
    it("syncs everything, then exactly the changes and deletions, to " .. d.name .. " #luajit", function()
      local url = d.url()
      if not url then pending("PostgreSQL: " .. tostring(pg_err)); return end
      local ids = populate(8, 600)
      local function run(until_time)
        local job = zsync.new(c, { objects = { "Account", "Contact" }, to = url, ["until"] = until_time,
          window = 1800, start = "2025-12-31 00:00:00" })
        local sum = assert(job:run())
        return job, sum
      end
      local job, sum = run("2026-01-01 02:00:00")
      assert.are.equal(8, sum.objects.Account.rows)
      assert.are.equal(8, sum.objects.Contact.rows)
      assert.are.equal(0, sum.deleted)
      assert.are.same(source("Account"), held(job.dest, "Account"))
      assert.are.same(source("Contact"), held(job.dest, "Contact"))
      assert.is_true(assert(job:verify()).ok)
      job:close()

      clock("2026-01-01 03:00:00")
      change("Account", ids[2], { name = "Renamed 2" })
      change("Account", ids[5], { name = "Renamed 5" })
      delete("Account", ids[7])
      s:control("POST", "clock", { advance = 60 })
      delete("Account", ids[8])

      job, sum = run("2026-01-01 04:00:00")
      assert.are.equal(2, sum.objects.Account.rows)
      assert.are.equal(2, sum.objects.Account.deleted)
      assert.are.equal(0, sum.objects.Contact.rows)
      local now = source("Account")
      assert.are.equal(6, (function() local n = 0; for _ in pairs(now) do n = n + 1 end; return n end)())
      assert.are.same(now, held(job.dest, "Account"))
      local st = job:status()
      assert.are.equal("2026-01-01 04:00:00", st.Account.window_end)
      assert.are.equal(10, st.Account.rows)
      assert.are.equal(2, st.Account.deleted)
      assert.is_true(assert(job:verify()).ok)
      job:close()

      -- Nothing changed since: nothing comes.
      job, sum = run("2026-01-01 05:00:00")
      assert.are.equal(0, sum.rows + sum.deleted)
      job:close()
    end)
  end

  it("keeps deleted rows flagged with deletions = flag (SQLite)", function()
    local ids = populate(3, 600)
    local url = "sqlite:" .. fs.tmpdir("sync-flag") .. "/b.db"
    clock("2026-01-01 01:00:00")
    delete("Account", ids[1])
    local job = zsync.new(c, { objects = { "Account" }, to = url, ["until"] = "2026-01-01 02:00:00",
      start = "2025-12-31 00:00:00", deletions = "flag" })
    assert(job:run())
    local rows = job.dest:materialize("Account")
    assert.are.equal("1", tostring(rows[ids[1]].deleted))
    assert.are.equal("0", tostring(rows[ids[2]].deleted))
    assert.is_true(assert(job:verify()).ok)
    job:close()
  end)

  it("halves windows whose jobs fail or stall, and still brings every row", function()
    populate(12, 300)
    s:control("POST", "query-faults", { kind = "max_rows", max_rows = 3, match = "from account" })
    s:control("POST", "query-faults", { kind = "stall", count = 1, match = "from contact" })
    local url = "dir:" .. fs.tmpdir("sync-halve") .. "/out"
    local events = {}
    local job = zsync.new(c, { objects = { "Account", "Contact" }, to = url, ["until"] = "2026-01-01 02:00:00",
      start = "2026-01-01 00:00:00", window = 7200, job_timeout = 1, interval = 0.05, max_interval = 0.1,
      on_progress = function(e) if e.phase == "halved" then events[#events + 1] = e end end })
    local sum = assert(job:run())
    assert.is_true(sum.objects.Account.halved >= 2)
    assert.is_true(sum.objects.Contact.halved >= 1)
    assert.are.equal(12, sum.objects.Account.rows)
    assert.are.equal(12, sum.objects.Contact.rows)
    assert.is_true(#events >= 3)
    s:control("DELETE", "query-faults")
    assert.are.same(source("Account"), held(job.dest, "Account"))
    job:close()
  end)

  it("grows windows that bring few rows, and keeps bookmarks in a state file when asked", function()
    local ids = populate(4, 3600)
    local dir = fs.tmpdir("sync-state")
    local function job(until_time)
      return zsync.new(c, { objects = { "Account" }, to = "dir:" .. dir .. "/out", state = dir .. "/state.json",
        ["until"] = until_time, start = "2026-01-01 00:00:00", window = 600, grow_below = 5, in_flight = 1 })
    end
    local j = job("2026-01-01 04:00:00")
    local sum = assert(j:run())
    assert.are.equal(4, sum.objects.Account.rows)
    -- 4 hours in windows of 600 s would be 24; doubling after each small one makes 5 (600 .. 9600 s)
    assert.are.equal(5, sum.objects.Account.windows)
    local st = sim.json.decode(fs.read(dir .. "/state.json"))
    assert.are.equal("2026-01-01 04:00:00", st.objects.Account.window_end)
    j:close()
    -- The state file, not the manifest, says where the next run starts.
    clock("2026-01-01 05:00:00")
    change("Account", ids[1], { name = "Later" })
    j = job("2026-01-01 06:00:00")
    sum = assert(j:run())
    assert.are.equal(1, sum.objects.Account.rows)
    assert.are.equal("2026-01-01 06:00:00", j:status().Account.window_end)
    assert.are.equal(5, j:status().Account.rows)
    j:close()
  end)

  it("ends with an error when a window cannot be made smaller", function()
    populate(2, 0)
    s:control("POST", "query-faults", { kind = "fail", match = "from account" })
    local job = zsync.new(c, { objects = { "Account" }, to = "dir:" .. fs.tmpdir("sync-fail") .. "/out",
      ["until"] = "2026-01-01 00:00:04", start = "2026-01-01 00:00:00", window = 4 })
    local sum, err = job:run()
    assert.is_nil(sum)
    assert.are.equal("api", err.kind)
    assert.is_nil(job:status().Account.window_end) -- nothing committed
    job:close()
  end)

  it("zuora sync: a run, --status with bookmarks and lag, --verify, and a bad option", function()
    local ids = populate(4, 600)
    local env = { ZUORA_BASE_URL = s.url, ZUORA_CLIENT_ID = s.client_id, ZUORA_CLIENT_SECRET = s.client_secret }
    local dir = fs.tmpdir("sync-cli")
    local base = { "sync", "--objects", "Account,Contact", "--to", "csv:" .. dir .. "/out", "--start", "2025-12-31",
      "--until", "2026-01-01 01:00:00" }
    local function with(...)
      local a = {}
      for i, v in ipairs(base) do a[i] = v end
      for _, v in ipairs{ ... } do a[#a + 1] = v end
      return a
    end
    local r = cli.run(with("--json"), { env = env })
    assert.are.equal(0, r.code, r.stderr)
    local summary = sim.json.decode(r.stdout)
    assert.are.equal(4, sim.json.tonumber(summary.objects.Account.rows))
    assert.matches("Account: 4 rows, 0 deleted, %d+ windows, synced up to 2026%-01%-01 01:00:00", r.stderr)
    -- CSV files with a header and a deleted column, listed in the manifest
    local manifest = sim.json.decode(fs.read(dir .. "/out/manifest.json"))
    local file = manifest.objects.Account.windows[#manifest.objects.Account.windows].file
    local text = fs.read(dir .. "/out/" .. file)
    assert.matches("^accountnumber,", text)
    assert.matches(",deleted\r\n", text)
    assert.matches(ids[1], text, 1, true)

    r = cli.run(with("--status"), { env = env })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("Account%s+2026%-01%-01 01:00:00%s+4%s+0%s+0s", r.stdout)
    assert.matches("Contact%s+2026%-01%-01 01:00:00%s+4", r.stdout)

    r = cli.run(with("--verify"), { env = env })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("verify Account: %d+ windows, 0 mismatches", r.stderr)

    -- The progress line: all rows, then each object's rows and "done" (or its lag).
    r = cli.run({ "--progress", "sync", "--objects", "Account,Contact", "--to", "dir:" .. dir .. "/p", "--start",
      "2025-12-31", "--until", "2026-01-01 01:00:00" }, { env = env })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("Account 4 done | Contact 4 done", r.stderr, 1, true)

    r = cli.run({ "sync", "--objects", "Account", "--to", "dir:" .. dir .. "/x", "--window=0" }, { env = env })
    assert.are.equal(1, r.code)
    assert.matches("%-%-window must be a positive number", r.stderr)
  end)

  describe("killed with SIGKILL at random points", function()
    local KILLS = tonumber(os.getenv("SYNC_KILLS") or "") or 20
    for _, d in ipairs{ destinations[1], destinations[3], destinations[4] } do
      it("resumes to the same " .. d.name .. " destination as a clean sync", function()
        local clean_url, url = d.url(), d.url()
        if not url then pending("PostgreSQL: " .. tostring(pg_err)); return end
        local ids = populate(30, 600)
        clock("2026-01-01 05:10:00")
        for i = 1, 3 do change("Account", ids[i * 7], { name = "Changed " .. i }) end
        for i = 1, 3 do delete("Account", ids[i * 9]) end
        local UNTIL = "2026-01-01 06:00:00"
        local args = { "sync", "--objects", "Account,Contact", "--until", UNTIL, "--start", "2025-12-31 23:00:00",
          "--window", "300", "--max-window", "600", "-q" }
        local env = { ZUORA_BASE_URL = s.url, ZUORA_CLIENT_ID = s.client_id, ZUORA_CLIENT_SECRET = s.client_secret }

        local clean = zsync.new(c, { objects = { "Account", "Contact" }, to = clean_url, ["until"] = UNTIL,
          start = "2025-12-31 23:00:00", window = 300, max_window = 600 })
        assert(clean:run())

        local a = {}
        for i, v in ipairs(args) do a[i] = v end
        a[#a + 1] = "--to"
        a[#a + 1] = url
        local cmd = cli.command(a, { env = env })
        local completed_early = 0
        for _ = 1, KILLS do
          local pid = fs.sh_read(cmd .. " >/dev/null 2>&1 & echo $!"):match("%d+")
          fs.sleep(0.05 + math.random() * 0.9)
          if not fs.sh("kill -9 " .. pid .. " 2>/dev/null") then completed_early = completed_early + 1 end
          fs.sh("while kill -0 " .. pid .. " 2>/dev/null; do sleep 0.02; done")
        end
        local r = cli.run(a, { env = env })
        assert.are.equal(0, r.code, r.stderr)

        local resumed = zsync.new(c, { objects = { "Account", "Contact" }, to = url })
        for _, object in ipairs{ "Account", "Contact" } do
          assert.are.same(held(clean:destination(), object), held(resumed:destination(), object))
          assert.are.same(source(object), held(resumed:destination(), object))
          -- Every row written once: the committed windows count the rows a clean sync wrote.
          local want, got = clean:status()[object], resumed:status()[object]
          assert.are.equal(want.rows, got.rows)
          assert.are.equal(want.deleted, got.deleted)
          assert.are.equal(UNTIL, got.window_end)
        end
        assert.is_true(assert(resumed:verify()).ok)
        assert.is_true(completed_early < KILLS, "every run finished before it was killed")
        clean:close()
        resumed:close()
      end)
    end
  end)
end)
