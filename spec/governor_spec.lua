-- The shared budget (client option `shared`, zuora.governor) across processes, against zuora-sim
-- and a redis-server of the spec's own: the tenant's cap is held exactly (no 429 of our own
-- making), one token for all, a killed process's leases come back, a Redis outage costs nothing.
local zuora = require "zuora"
local simh = require "spec.support.sim"
local budget = require "spec.support.budget"

describe("shared budget (zuora.governor) #redis", function()
  local s, ctl, redis, ids

  setup(function()
    s = simh.start()
    ctl = require("spec.support.simctl").new(s)
    redis = require("spec.support.redis").start()
    ids = {}
    for i = 1, 5 do ids[i] = ctl:account{ name = "Budget " .. i }.accountId end
  end)

  teardown(function()
    if redis then redis:stop() end
    if ctl then ctl:close() end
    if s then s:stop() end
  end)

  before_each(function()
    ctl:clear_faults()
    ctl:clear_requests()
    ctl:config{ concurrency_limit = 40, retry_after = 1 }
    redis:call("FLUSHALL")
  end)

  local function limited(entries)
    local n = 0
    for _, e in ipairs(entries) do if e.limited then n = n + 1 end end
    return n
  end

  local function latency(seconds)
    ctl:fault{ method = "GET", path = "/v1/accounts/*", latency = seconds }
  end

  local function new_client(extra)
    local o = { base_url = s.url, client_id = s.client_id, client_secret = s.client_secret, max_concurrency = 10 }
    for k, v in pairs(extra or {}) do o[k] = v end
    return zuora.new(o)
  end

  describe("options", function()
    it("refuses a shared table without a store, with both stores, or with unknown keys", function()
      assert.has_error(function() new_client{ shared = { concurrency = 4 } } end,
        'zuora.new: shared needs exactly one of redis = "redis://host:port/db" or dict = "<lua_shared_dict>"')
      assert.has_error(function() new_client{ shared = { redis = redis.url, dict = "x", concurrency = 4 } } end)
      assert.has_error(function() new_client{ shared = { dict = "x", concurrency = 4 } } end,
        "zuora.new: shared.dict: no lua_shared_dict named 'x' (declare `lua_shared_dict x 1m;` in the http block "
        .. "of nginx.conf)")
      assert.has_error(function() new_client{ shared = { redis = redis.url, concurrency = 4, tokenz = true } } end,
        "zuora.new: shared: unknown option 'tokenz'")
      assert.has_error(function() new_client{ shared = { redis = redis.url } } end,
        "zuora.new: shared.concurrency is required (the tenant's cap)")
      assert.has_error(function() new_client{ shared = { redis = "http://x", concurrency = 2 } } end,
        "zuora.new: shared.redis must be a redis://host:port[/db] URL")
    end)

    it("without shared, budget() shows the client's own cap", function()
      local c = new_client()
      local b = c:budget()
      assert.is_false(b.shared)
      assert.equal(10, b.max_concurrency)
    end)
  end)

  it("the CLI takes shared from its profile", function()
    local config = require "zuora.cli.config"
    local cfg = { profiles = { job = { base_url = s.url, client_id = s.client_id, client_secret = s.client_secret,
      shared = { redis = redis.url, concurrency = 4, tokens = true } } }, default = "job" }
    local opts = assert(config.client_options(cfg, {}, function() return nil end))
    local c = zuora.new(opts)
    assert(c.accounts.retrieve(ids[1]))
    assert.is_true(assert(c:budget()).shared)
    assert.equal(4, c:budget().limit)
    c:close()
  end)

  it("zuora budget shows the profile's shared budget", function()
    local cli = require "spec.support.cli"
    local fs = require "spec.support.fs"
    local home = cli.tmpdir()
    fs.sh("mkdir -p " .. fs.q(home .. "/zuora"))
    fs.write(home .. "/zuora/config.lua", ('default = "job"\nprofiles = { job = { base_url = %q, client_id = %q, '
      .. 'client_secret = env "ZS_SECRET", shared = { redis = %q, concurrency = 7 } } }\n'):format(s.url, s.client_id,
      redis.url))
    local r = cli.run({ "budget" }, { config_home = home, env = { ZS_SECRET = s.client_secret } })
    assert.equal(0, r.code, r.stderr)
    local b = assert(require("zuora.core").json.decode(r.stdout))
    assert.is_true(b.shared)
    assert.equal(7, b.limit)
    assert.equal(0, b.in_flight)
    redis:pause()
    r = cli.run({ "budget" }, { config_home = home, env = { ZS_SECRET = s.client_secret } })
    redis:resume()
    assert.equal(4, r.code)
    assert.matches("shared budget: redis: connect", r.stderr)
  end)

  describe("in one process", function()
    it("holds the shared cap across two clients, and budget() reports what the store saw", function()
      latency(0.1)
      ctl:config{ concurrency_limit = 6 } -- a seventh request in flight would be answered 429
      local shared = { redis = redis.url, concurrency = 6, tokens = true }
      local a, b = new_client{ shared = shared }, new_client{ shared = shared }
      local items = {}
      for i = 1, 30 do items[i] = ids[i % 5 + 1] end
      local ta = a:spawn(function() return a:map(items, function(id) return a.accounts.retrieve(id) end) end)
      local _, errs_b = b:map(items, function(id) return b.accounts.retrieve(id) end)
      local _, errs_a = ta:wait()
      assert.same({}, errs_a)
      assert.same({}, errs_b)
      local log = ctl:requests{ method = "GET" }
      assert.equal(60, #log)
      assert.equal(0, limited(log))
      assert.equal(6, simh.peak(log, 0.05)) -- the cap was reached, not just respected
      assert.equal(1, ctl:count("POST", "/oauth/token")) -- b loaded a's token from Redis
      local bud = assert(a:budget())
      assert.is_true(bud.shared)
      assert.equal(0, bud.in_flight)
      assert.equal(6, bud.limit)
      assert.equal("6", tostring(bud.limits_seen.concurrency_limit))
      a:close(); b:close()
    end)

    it("gives object queries their own budget with object_query_concurrency", function()
      local c = new_client{ shared = { redis = redis.url, concurrency = 2, object_query_concurrency = 3 } }
      local seen = {}
      ctl:fault{ method = "GET", path = "/object-query/*", latency = 0.2 }
      latency(0.2)
      local fns = {}
      for _ = 1, 3 do fns[#fns + 1] = function() return c:request("GET", "/object-query/accounts") end end
      for i = 1, 2 do fns[#fns + 1] = function() return c.accounts.retrieve(ids[i]) end end
      local t = c:spawn(function()
        c:sleep(0.1)
        local st = assert(c:budget())
        seen.main, seen.oq = st.in_flight, st.object_query.in_flight
      end)
      local out = c:gather(fns)
      t:wait()
      for i = 1, 5 do assert.truthy(out[i][1], tostring(out[i][2])) end
      assert.equal(2, seen.main)
      assert.equal(3, seen.oq)
      c:close()
    end)

    it("holds requests when the rate window's budget is used up, instead of collecting 429s", function()
      ctl:config{ rate_limit = 12, rate_window = 1 }
      latency(0.05)
      local shared = { redis = redis.url, concurrency = 4 }
      local a, b = new_client{ shared = shared }, new_client{ shared = shared }
      local items = {}
      for i = 1, 15 do items[i] = ids[i % 5 + 1] end
      local t0 = require("zuora.core").http.now()
      local ta = a:spawn(function() return a:map(items, function(id) return a.accounts.retrieve(id) end) end)
      local _, errs_b = b:map(items, function(id) return b.accounts.retrieve(id) end)
      local _, errs_a = ta:wait()
      local took = require("zuora.core").http.now() - t0
      ctl:config{ rate_limit = 0 }
      assert.same({}, errs_a)
      assert.same({}, errs_b)
      local log = ctl:requests{ method = "GET" }
      assert.equal(30, #log) -- no call was repeated
      assert.equal(0, limited(log))
      assert.is_true(took >= 2, "30 calls at 12 a second took only " .. took .. " s")
      local bud = assert(a:budget())
      assert.equal(12, tonumber(bud.limits_seen.rate_limit))
      a:close(); b:close()
    end)

    it("without Redis: runs on the local cap and says so once; with required, calls fail", function()
      local port = require("spec.support.nginx").free_port()
      local dead = ("redis://127.0.0.1:%d/0"):format(port)
      local c = new_client{ shared = { redis = dead, concurrency = 4 } }
      local t0 = require("zuora.core").http.now()
      assert(c.accounts.retrieve(ids[1]))
      assert(c.accounts.retrieve(ids[2]))
      assert.is_true(require("zuora.core").http.now() - t0 < 2)
      local r = new_client{ shared = { redis = dead, concurrency = 4, required = true } }
      local v, err = r.accounts.retrieve(ids[1])
      assert.is_nil(v)
      assert.equal("transport", err.kind)
      assert.matches("shared budget unavailable", err.message)
      assert.equal(0, ctl:count("GET", "/v1/accounts/*") - 2) -- the refused call was never sent
      c:close(); r:close()
    end)

    it("a 401 drops the shared token for everyone; one new token is fetched", function()
      local shared = { redis = redis.url, concurrency = 4, tokens = true }
      local a = new_client{ shared = shared }
      assert(a.accounts.retrieve(ids[1]))
      assert.equal(1, ctl:count("POST", "/oauth/token"))
      ctl:control("POST", "tokens/revoke", {}) -- Zuora revoked every token
      local b = new_client{ shared = shared }
      assert(a.accounts.retrieve(ids[1])) -- 401, new token, stored
      assert(b.accounts.retrieve(ids[2])) -- loads the new one from Redis
      assert.equal(2, ctl:count("POST", "/oauth/token"))
      local keys = redis:call("KEYS", "zuora:budget:*:token:*")
      for _, k in ipairs(keys) do
        assert.is_nil(k:find(s.client_id, 1, true))
        assert.is_nil(k:find("127.0.0.1", 1, true))
      end
      a:close(); b:close()
    end)
  end)

  describe("across processes", function()
    it("4 processes x 100 retrieves at 40: no 429, one token, every call served, near the ideal time", function()
      latency(0.1)
      -- Wall time on a shared machine is noisy (other work takes the CPUs for a second at a time):
      -- each try measures one client alone with the whole cap (400 calls at 40: what this machine
      -- achieves now), then the 4 shared processes; the time bound must hold in one of 3 tries,
      -- everything else in every try.
      local figures = {}
      for _ = 1, 3 do
        ctl:clear_requests()
        local one = budget.launch{ url = s.url, procs = 1, count = 400, concurrency = 40, ids = ids }
        local base = one:wait(60)[1]
        one:cleanup()
        assert.equal(400, base.ok)
        ctl:clear_requests()
        redis:call("FLUSHALL")
        local h = budget.launch{ url = s.url, redis = redis.url, procs = 4, count = 100, concurrency = 40, ids = ids }
        local res, errs = h:wait(60)
        h:cleanup()
        local worst = 0
        for p = 1, 4 do
          assert.is_table(res[p], errs[p])
          assert.equal(100, res[p].ok, tostring(res[p].first))
          worst = math.max(worst, res[p].elapsed)
        end
        local log = ctl:requests{ method = "GET" }
        assert.equal(400, #log)
        assert.equal(0, limited(log))
        local toks = ctl:requests{ method = "POST", path = "/oauth/token" }
        local why = {}
        for _, e in ipairs(toks) do why[#why + 1] = ("%s %s"):format(tostring(e.time), tostring(e.status)) end
        assert.equal(1, #toks, table.concat(why, "; ") .. "\n" .. table.concat(errs, "\n"))
        figures[#figures + 1] = ("%.2f s shared, %.2f s one process alone"):format(worst, base.elapsed)
        -- ideal: 10 rounds of 100 ms; on a loaded machine one client alone takes longer: the bound
        -- is 1.3x the slower of the two, plus the start-up (the token request)
        if worst <= 1.3 * math.max(1.0, base.elapsed) + 0.3 then return end
      end
      error("4 shared processes never came within 1.3x of one process alone: " .. table.concat(figures, "; "))
    end)

    -- nginx with `workers` workers; each, 0.3 s after it starts, maps `count` account retrieves at
    -- 40 with a client of `shared` (Lua source of the table) and files "<ok> <first error>".
    -- Returns a function that waits for every worker's line and stops nginx: "n|line|line...", errlog.
    local function nginx_workers(workers, count, shared)
      local openresty = require "spec.support.openresty"
      local srv = openresty.start{ workers = workers, vars = { sim = s.url, id = s.client_id,
        secret = s.client_secret, ids = table.concat(ids, ","), count = count, shared = shared }, http = [[
        lua_shared_dict results 1m;
        lua_shared_dict zuora_budget 1m;
        lua_socket_log_errors off;
        init_worker_by_lua_block {
          local ok, err = ngx.timer.at(0.3, function()
            local c = require("zuora").new{ base_url = "${sim}", client_id = "${id}", client_secret = "${secret}",
              max_concurrency = 40, shared = ${shared} }
            local items, ids = {}, {}
            for id in ("${ids}"):gmatch("[^,]+") do ids[#ids + 1] = id end
            for i = 1, ${count} do items[i] = ids[i % #ids + 1] end
            local _, errs = c:map(items, function(id) return c.accounts.retrieve(id) end, { concurrency = 40 })
            local failed, first = 0, ""
            for _, e in pairs(errs) do failed = failed + 1; first = tostring(e) end
            ngx.shared.results:set("worker " .. ngx.worker.pid(), (${count} - failed) .. " " .. first)
          end)
          if not ok then ngx.log(ngx.ERR, err) end
        }
        server {
          listen 127.0.0.1:${port1};
          location = /results {
            content_by_lua_block {
              local out = {}
              for _, k in ipairs(ngx.shared.results:get_keys()) do out[#out + 1] = ngx.shared.results:get(k) end
              table.sort(out)
              ngx.say(#out, "|", table.concat(out, "|"))
            }
          }
        }
      ]] }
      return function()
        local fs = require "spec.support.fs"
        local got
        for _ = 1, 400 do
          got = fs.sh_read(("curl -s %s/results"):format(srv.url))
          if got:match("^" .. workers .. "|") then break end
          fs.sleep(0.05)
        end
        local errlog = srv:errlog()
        srv:stop()
        return (got:gsub("\n$", "")), errlog
      end
    end

    it("nginx workers and a plain process on one Redis: no 429, one token, every call served", function()
      latency(0.1)
      local finish = nginx_workers(4, 60, ('{ redis = %q, concurrency = 40, tokens = true }'):format(redis.url))
      local h = budget.launch{ url = s.url, redis = redis.url, procs = 1, count = 100, concurrency = 40, ids = ids,
        delay = 0.3 }
      local res, errs = h:wait(60)
      h:cleanup()
      local got, errlog = finish()
      assert.is_table(res[1], errs[1])
      assert.equal(100, res[1].ok, tostring(res[1].first))
      assert.equal("4|60 |60 |60 |60 ", got, errlog)
      local log = ctl:requests{ method = "GET" }
      assert.equal(340, #log)
      assert.equal(0, limited(log))
      assert.equal(1, ctl:count("POST", "/oauth/token"), errlog .. "\n" .. errs[1])
    end)

    it("8 nginx workers with shared.dict: no 429, one token, every call served", function()
      latency(0.1)
      local got, errlog = nginx_workers(8, 50, '{ dict = "zuora_budget", concurrency = 40, tokens = true }')()
      assert.equal("8|50 |50 |50 |50 |50 |50 |50 |50 ", got, errlog)
      local log = ctl:requests{ method = "GET" }
      assert.equal(400, #log)
      assert.equal(0, limited(log))
      assert.equal(1, ctl:count("POST", "/oauth/token"), errlog)
    end)

    it("first come, first served across processes", function()
      latency(0.8)
      local fs = require "spec.support.fs"
      local procs = {}
      for k = 1, 3 do -- each process asks for the whole cap of 2, for its own account
        procs[k] = budget.launch{ url = s.url, redis = redis.url, procs = 1, count = 2, concurrency = 2,
          ids = { ids[k] }, delay = 0 }
        fs.sleep(0.3)
      end
      for k = 1, 3 do
        local r, e = procs[k]:wait(30)
        procs[k]:cleanup()
        assert.is_table(r[1], e[1])
        assert.equal(2, r[1].ok, tostring(r[1].first))
      end
      local log = ctl:requests{ method = "GET" }
      table.sort(log, function(x, y) return simh.json.tonumber(x.time) < simh.json.tonumber(y.time) end)
      local order = {}
      for i, e in ipairs(log) do order[i] = e.path:match("([^/]+)$") end
      assert.same({ ids[1], ids[1], ids[2], ids[2], ids[3], ids[3] }, order)
    end)

    it("a request longer than the lease keeps its slot (the lease is renewed while it runs)", function()
      latency(1.5)
      local a = budget.launch{ url = s.url, redis = redis.url, procs = 1, count = 1, concurrency = 1, ids = ids,
        lease = 0.6, delay = 0 }
      local fs = require "spec.support.fs"
      fs.sleep(0.4)
      local b = budget.launch{ url = s.url, redis = redis.url, procs = 1, count = 1, concurrency = 1, ids = ids,
        lease = 0.6, delay = 0 }
      local ra, ea = a:wait(30)
      local rb, eb = b:wait(30)
      a:cleanup(); b:cleanup()
      assert.is_table(ra[1], ea[1])
      assert.is_table(rb[1], eb[1])
      local log = ctl:requests{ method = "GET" }
      assert.equal(2, #log)
      local t1, t2 = simh.json.tonumber(log[1].time), simh.json.tonumber(log[2].time)
      -- the second waited for the first to end (1.5 s), not for a lease of 0.6 s to lapse
      assert.is_true(t2 - t1 >= 1.4, ("the second request started %.2f s after the first"):format(t2 - t1))
    end)

    it("a SIGKILLed process's leases come back within the lease expiry", function()
      latency(0.4)
      local a = budget.launch{ url = s.url, redis = redis.url, procs = 1, count = 400, concurrency = 40, ids = ids,
        lease = 1, delay = 0 }
      -- wait until it holds the whole cap
      local held
      for _ = 1, 200 do
        local keys = redis:call("KEYS", "zuora:budget:*:main:held")
        local vals = keys and keys[1] and redis:call("HVALS", keys[1])
        held = tonumber(vals and vals[1]) or 0
        if held == 40 then break end
        require("spec.support.fs").sleep(0.02)
      end
      assert.equal(40, held)
      a:kill(1)
      local killed_at = budget.wall()
      a:cleanup()
      local b = budget.launch{ url = s.url, redis = redis.url, procs = 1, count = 80, concurrency = 40, ids = ids,
        lease = 1, delay = 0 }
      local res, errs = b:wait(30)
      b:cleanup()
      assert.is_table(res[1], errs[1])
      assert.equal(80, res[1].ok, tostring(res[1].first))
      local mine = {}
      for _, e in ipairs(ctl:requests{ method = "GET" }) do
        if simh.json.tonumber(e.time) > killed_at then mine[#mine + 1] = e end
      end
      if #mine ~= 80 then
        for _, e in ipairs(mine) do print(e.time, e.path, e.status, e.limited, killed_at) end
      end
      assert.equal(80, #mine)
      assert.equal(0, limited(mine))
      assert.equal(40, simh.peak(mine, 0.3)) -- the full cap again
      table.sort(mine, function(x, y) return simh.json.tonumber(x.time) < simh.json.tonumber(y.time) end)
      local first_full = simh.json.tonumber(mine[40].time) - killed_at
      assert.is_true(first_full < 1.0 + 0.5, ("the cap came back after %.2f s"):format(first_full))
    end)

    it("Redis stopped mid-run: nothing hangs or fails, it says so once, and sharing resumes", function()
      latency(0.1)
      local fs = require "spec.support.fs"
      -- shared cap 30; each process alone keeps to 20, so two on their own caps stay within 40
      local h = budget.launch{ url = s.url, redis = redis.url, procs = 2, count = 400, concurrency = 30, ids = ids,
        max_concurrency = 20, delay = 0.3 }
      fs.sleep(0.7)
      redis:pause()
      fs.sleep(0.6)
      redis:resume()
      local resumed = false
      for _ = 1, 150 do
        local keys = redis:call("KEYS", "zuora:budget:*:main:alive")
        if keys and #keys > 0 then resumed = true; break end
        fs.sleep(0.02)
      end
      local res, errs = h:wait(60)
      h:cleanup()
      for p = 1, 2 do
        assert.is_table(res[p], errs[p])
        assert.equal(400, res[p].ok, tostring(res[p].first))
        local _, said = errs[p]:gsub("shared budget unavailable", "")
        assert.equal(1, said, errs[p])
        assert.truthy(errs[p]:find("shared budget available again", 1, true), errs[p])
      end
      assert.is_true(resumed, "no client came back to Redis")
      assert.equal(0, limited(ctl:requests{ method = "GET" }))
    end)
  end)
end)

describe("core.redis #redis", function()
  local core = require "zuora.core"
  local redis

  setup(function() redis = require("spec.support.redis").start() end)
  teardown(function() if redis then redis:stop() end end)

  it("maps replies to Lua values and reports errors by kind", function()
    local c = assert(core.redis.connect("127.0.0.1", redis.port, 0.5))
    assert.equal("PONG", c:call("PING"))
    assert.equal("OK", c:call("SET", "k", 42))
    assert.equal("42", c:call("GET", "k"))
    assert.equal(2, c:call("INCRBY", "n", 2))
    assert.is_false(c:call("GET", "missing"))
    assert.same({ 1, "a", { false } }, c:call("EVAL", "return {1, 'a', {false}}", 0))
    local r, err, how = c:call("NOSUCHCOMMAND")
    assert.is_nil(r)
    assert.matches("unknown command", err)
    assert.equal("reply", how)
    assert.is_true(c:is_open()) -- an error reply leaves the connection usable
    c:close()
    c:close() -- twice is harmless
    r, err, how = c:call("PING")
    assert.is_nil(r)
    assert.equal("redis: connection closed", err)
    assert.equal("io", how)
    assert.matches("closed", tostring(c))
  end)

  it("fails fast on a closed port and raises on programmer mistakes", function()
    local port = require("spec.support.nginx").free_port()
    local c, err = core.redis.connect("127.0.0.1", port, 0.2)
    assert.is_nil(c)
    assert.matches("connect 127.0.0.1:" .. port, err)
    assert.has_error(function() core.redis.connect("127.0.0.1", 70000) end)
    local ok = assert(core.redis.connect("127.0.0.1", redis.port, 0.5))
    assert.has_error(function() ok:call() end)
    assert.has_error(function() ok:call("GET", {}) end)
    ok:close()
  end)

  it("a server that goes away is an io error, not a hang", function()
    local c = assert(core.redis.connect("127.0.0.1", redis.port, 0.3))
    redis:pause()
    local t0 = core.http.now()
    local r, _, how = c:call("PING")
    assert.is_nil(r)
    assert.equal("io", how)
    assert.is_true(core.http.now() - t0 < 1)
    redis:resume()
  end)
end)
