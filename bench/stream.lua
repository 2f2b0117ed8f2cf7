--- Streaming reads: rows per second and peak RSS for a 1,000,000-row Data Query result (JSON lines,
-- about 107 MB; also gzip and CSV) and a 100,000-record ZOQL query/queryMore result, against
-- zuora-sim. Each case runs in a fresh child process, so its VmHWM (peak resident set, from
-- /proc/self/status) is its own. Peers measured in the same run:
--   * idle: the interpreter with zuora loaded and a client made (the RSS floor);
--   * curl download: the result file fetched by the curl command line (the download's peer; the
--     simulator generating the file is the bottleneck of both);
--   * lines+cjson: the same result file saved with output = path, then io.lines + cjson.decode (the
--     leanest hand-written loop: the lower bound for decoding JSON lines in Lua);
--   * slurp: the saved file read whole, then split and decoded (what not streaming costs);
--   * manual ZOQL: query/queryMore written by hand with client:request (what paging adds).
-- Usage: make bench BENCH=stream   [ROWS=1000000 RECORDS=100000 ROUNDS=1 CASES="dq-json,zoql,..."]
local LUA = arg[-1] or "lua5.4"
local now = require("zuora.core").http.now

local ROWS = tonumber(os.getenv("ROWS")) or 1000000
local RECORDS = tonumber(os.getenv("RECORDS")) or 100000
local ROUNDS = tonumber(os.getenv("ROUNDS")) or 1

local status_kib = require("bench.lib_proc").status_kib
local function hwm_kb() return status_kib("VmHWM") end

local function client(url)
  return require("zuora").new{ base_url = url, client_id = "zuora-sim-client", client_secret = "zuora-sim-secret",
    timeout = 600 }
end

local SYNTHETIC = "select * from sim_synthetic limit " .. ROWS

---------------------------------------------------------------------------------------------------
-- Children: one case each; print "rows seconds setup_seconds" on stdout.

local children = {}

local function data_query(url, format, compression)
  local c = client(url)
  local t0 = now()
  local rows = assert(c:data_query(SYNTHETIC, { output_format = format, compression = compression, interval = 0.05 }))
  local t1 = now()
  local n = 0
  for row in rows do
    if row.id then n = n + 1 end
  end
  return n, now() - t1, t1 - t0
end

children["dq-json"] = function(url) return data_query(url, "JSON", "NONE") end
children["dq-json-gzip"] = function(url) return data_query(url, "JSON", "GZIP") end
children["dq-csv"] = function(url) return data_query(url, "CSV", "NONE") end
children["dq-csv-gzip"] = function(url) return data_query(url, "CSV", "GZIP") end

children.idle = function(url)
  client(url)
  return 0, 0, 0
end

local function saved_file(url)
  local path = os.tmpname()
  local c = client(url)
  local t0 = now()
  assert(c:data_query(SYNTHETIC, { output_format = "JSON", output = path, interval = 0.05 }))
  return path, now() - t0
end

-- The download alone by the curl command line (the setup column is the peer of dq-json's).
children["curl download"] = function(url)
  local c = client(url)
  local job = assert(c:request("POST", "/query/jobs", { body = { query = SYNTHETIC, outputFormat = "JSON",
    compression = "NONE" } })).data
  while job.queryStatus ~= "completed" do
    c:sleep(0.05)
    job = assert(c:request("GET", "/query/jobs/{id}", { path = { id = job.id } })).data
  end
  local t0 = now()
  assert(os.execute("curl -s -S -o /dev/null '" .. job.dataFile .. "'"))
  return 0, 0, now() - t0
end

children["lines+cjson"] = function(url)
  local cjson = require "cjson"
  local path, setup = saved_file(url)
  local t1 = now()
  local n = 0
  for line in io.lines(path) do
    if cjson.decode(line).id then n = n + 1 end
  end
  local dt = now() - t1
  os.remove(path)
  return n, dt, setup
end

children.slurp = function(url)
  local cjson = require "cjson"
  local path, setup = saved_file(url)
  local t1 = now()
  local f = assert(io.open(path, "rb"))
  local text = f:read("a")
  f:close()
  local n = 0
  for line in text:gmatch("[^\n]+") do
    if cjson.decode(line).id then n = n + 1 end
  end
  local dt = now() - t1
  os.remove(path)
  return n, dt, setup
end

children.zoql = function(url)
  local c = client(url)
  local t0 = now()
  local n = 0
  for rec in c:query("select Id, Name, AccountNumber, Balance from Account where Name like ?", "Seed%") do
    if rec.Id then n = n + 1 end
  end
  return n, now() - t0, 0
end

children["manual zoql"] = function(url)
  local c = client(url)
  local t0 = now()
  local n = 0
  local res = assert(c:request("POST", "/v1/action/query",
    { body = { queryString = "select Id, Name, AccountNumber, Balance from Account where Name like 'Seed%'" } }))
  while true do
    for _, rec in ipairs(res.records or {}) do
      if rec.Id then n = n + 1 end
    end
    if res.done then break end
    res = assert(c:request("POST", "/v1/action/queryMore", { body = { queryLocator = res.queryLocator } }))
  end
  return n, now() - t0, 0
end

if arg[1] == "child" then
  local n, dt, setup = children[arg[2]](arg[3])
  collectgarbage()
  print(("%d %.6f %.6f %d"):format(n, dt, setup, hwm_kb()))
  os.exit(0)
end

---------------------------------------------------------------------------------------------------
-- Parent: start zuora-sim, seed it, run every case in a child, print the table.

local simh = require "spec.support.sim"
local s = simh.start()
local ok, err = pcall(function()
  local t0 = now()
  local seeded = s:request{ method = "POST", path = "/__sim/seed", json = { accounts = RECORDS }, auth = "none",
    timeout = 600 }
  assert(seeded.status == 201, "seeding failed: " .. seeded.status .. " " .. seeded.body)
  s:config{ job_polls = 1 }
  io.stderr:write(("seeded %d accounts in %.1f s\n"):format(RECORDS, now() - t0))

  local order = { "idle", "curl download", "dq-json", "lines+cjson", "slurp", "dq-json-gzip", "dq-csv",
    "dq-csv-gzip", "zoql", "manual zoql" }
  local wanted = {}
  for name in (os.getenv("CASES") or ""):gmatch("[^,]+") do wanted[name:match("^%s*(.-)%s*$")] = true end
  local cases = {}
  for _, name in ipairs(order) do
    if next(wanted) == nil or wanted[name] then cases[#cases + 1] = name end
  end
  -- Rounds alternate the cases, so drifting machine load hits them alike; medians are reported.
  local results = {}
  for round = 1, ROUNDS do
    for _, name in ipairs(cases) do
      local p = assert(io.popen(("%s bench/stream.lua child '%s' '%s'"):format(LUA, name, s.url)))
      local out = p:read("a")
      p:close()
      local n, dt, setup, kb = out:match("^(%d+) (%S+) (%S+) (%d+)")
      if not n then error(name .. " failed: " .. out, 0) end
      results[name] = results[name] or {}
      results[name][round] = { n = tonumber(n), dt = tonumber(dt), setup = tonumber(setup), kb = tonumber(kb) }
      io.stderr:write(("round %d %s: %s"):format(round, name, out))
    end
  end
  local function median(list, key)
    local v = {}
    for i, r in ipairs(list) do v[i] = r[key] end
    table.sort(v)
    return v[math.floor((#v + 1) / 2)]
  end
  print(("Data Query: %d rows (sim_synthetic; JSON lines %.0f MB); ZOQL: %d records; %s; median of %d"):format(
    ROWS, ROWS * 108 / 1e6, RECORDS, _VERSION, ROUNDS))
  print(("%-13s %9s %9s %12s %10s %12s"):format("case", "rows", "iterate s", "rows/s", "setup s", "peak RSS MB"))
  for _, name in ipairs(cases) do
    local list = results[name]
    local n, dt = list[1].n, median(list, "dt")
    local kb = 0
    for _, r in ipairs(list) do kb = math.max(kb, r.kb) end
    print(("%-13s %9d %9.2f %12s %10.2f %12.1f"):format(name, n, dt, n > 0 and ("%.0f"):format(n / dt) or "-",
      median(list, "setup"), kb / 1024))
  end
end)
s:stop()
if not ok then error(err, 0) end
