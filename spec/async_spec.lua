-- Tasks over the libcurl runtime (zuora.async) against zuora-sim: start order, results and errors,
-- nested spawns, sleeping, cancellation, caps measured through the simulator's request log, the
-- single-flight OAuth token, and the pollable face driven by a foreign loop.
local zuora = require "zuora"
local simh = require "spec.support.sim"
local core = require "zuora.core"
local sj = require("spec.support.sim").json

local now = core.http.now

describe("zuora.async tasks #luajit", function()
  local s

  lazy_setup(function() s = simh.start() end)
  lazy_teardown(function() if s then s:stop() end end)
  before_each(function() s:reset() end)

  local function client(opts) return s:client(opts) end

  local function log(filter)
    return s:requests(filter)
  end

  local peak = simh.peak

  local function slow(path, seconds, extra)
    local rule = { method = "GET", path = path, latency = seconds }
    for k, v in pairs(extra or {}) do rule[k] = v end
    return s:fault(rule)
  end

  describe("start order and results", function()
    it("runs nothing at spawn; tasks start in spawn order at the next turn", function()
      local c = client()
      local order = {}
      local tasks = {}
      for _, name in ipairs({ "a", "b", "c" }) do
        tasks[#tasks + 1] = c:spawn(function(x) order[#order + 1] = x; return x:upper(), #order end, name)
      end
      assert.same({}, order)
      assert.equals("pending", tasks[1].status)
      c:run()
      assert.same({ "a", "b", "c" }, order)
      local up, n = tasks[2]:wait()
      assert.equals("B", up)
      assert.equals(2, n)
      assert.is_true(tasks[3]:is_done())
      assert.equals("zuora.Task<done>", tostring(tasks[3]))
    end)

    it("returns every value of the function, nils included", function()
      local c = client()
      local t = c:spawn(function() return nil, false, nil, 4 end)
      assert.same({ n = 4, nil, false, nil, 4 }, table.pack(t:wait()))
    end)

    it("runs calls concurrently: three 300 ms calls overlap at the simulator", function()
      local c = client()
      assert(c.catalog.list_products()) -- token first, so only the three calls are timed
      s:clear_requests()
      slow("/v1/catalog/products", 0.3)
      local t0 = now()
      local tasks = {}
      for i = 1, 3 do tasks[i] = c:spawn(function() return c.catalog.list_products() end) end
      for i = 1, 3 do
        local res, err = tasks[i]:wait()
        assert.is_nil(err)
        assert.is_true(res.success)
      end
      local elapsed = now() - t0
      local calls = log{ method = "GET", path = "/v1/catalog/products" }
      assert.equals(3, #calls)
      assert.equals(3, peak(calls, 0.25))
      assert.is_true(elapsed < 0.85, "three 300 ms calls took " .. elapsed .. " s") -- one after another: 0.9
    end)

    it("lets a call outside any task drive the tasks spawned before it", function()
      local c = client()
      assert(c.catalog.list_products())
      s:clear_requests()
      slow("/v1/catalog/products", 0.3)
      local t = c:spawn(function() return c.catalog.list_products() end)
      assert(c.catalog.list_products()) -- blocks, but the task's call runs meanwhile
      assert.is_true(t:wait().success)
      -- both calls were in flight together (one after the other, they would be 300 ms apart)
      assert.equals(2, peak(log{ method = "GET", path = "/v1/catalog/products" }, 0.25))
    end)

    it("supports op:async and callable tables", function()
      local c = client()
      local t = c.catalog.list_products:async()
      local res = assert(t:wait())
      assert.is_true(res.success)
      local callable = setmetatable({}, { __call = function(_, x) return x * 2 end })
      assert.equals(42, c:spawn(callable, 21):wait())
    end)
  end)

  describe("errors", function()
    it("returns a raised error from wait, unchanged, with a traceback kept on the task", function()
      local c = client()
      local boom = { "not a string" }
      local t1 = c:spawn(function() error(boom) end)
      local t2 = c:spawn(function() error("plain message") end)
      local r, err = t1:wait()
      assert.is_nil(r)
      assert.equals(boom, err)
      assert.equals("failed", t1.status)
      local _, err2 = t2:wait()
      assert.matches("plain message", err2)
      assert.matches("stack traceback", t2.traceback)
      c:run() -- both were waited for: nothing to report
    end)

    it("returns an API error as nil, err, and a raised zuora.Error as the object itself", function()
      local c = client()
      local soft = c:spawn(function() return c.accounts.retrieve("NOPE") end)
      local hard = c:spawn(function()
        local r, e = c.accounts.retrieve("NOPE")
        if not r then error(e) end -- what Lua's assert does (busted's assert formats its own message)
      end)
      local r1, e1 = soft:wait()
      assert.is_nil(r1)
      assert.equals("api", e1.kind)
      assert.equals(404, e1.status)
      local r2, e2 = hard:wait()
      assert.is_nil(r2)
      assert.is_true(zuora.errors.is(e2))
      assert.equals("not_found", e2.category)
    end)

    it("makes run() raise when a task failed and nobody waited for it", function()
      local c = client()
      c:spawn(function() c:sleep(0.01); error("lost in the background") end)
      c:spawn(function() return "fine" end)
      local ok, err = pcall(c.run, c)
      assert.is_false(ok)
      assert.matches("1 task%(s%) failed and nobody waited for them", err)
      assert.matches("lost in the background", err)
      assert.is_true(c:run()) -- reported once
    end)

    it("reports a task's failure to a waiter that comes later, not to run()", function()
      local c = client()
      local child
      c:spawn(function()
        child = c:spawn(function() error("child failed") end)
        c:sleep(0.05) -- the child fails meanwhile
        local _, err = child:wait()
        assert(tostring(err):find("child failed"))
      end)
      assert.is_true(c:run())
    end)

    it("fails a task that yields on its own, and lets its own generators work", function()
      local c = client()
      local bad = c:spawn(function() coroutine.yield("mine") end)
      local _, err = bad:wait()
      assert.matches("yielded outside the client", err)
      -- a generator (its own coroutine) that makes calls: they block inside it, tasks still run
      local other_ran = false
      local good = c:spawn(function()
        local gen = coroutine.wrap(function()
          for _ = 1, 2 do coroutine.yield(assert(c.catalog.list_products())) end
        end)
        return gen().success and gen().success
      end)
      c:spawn(function() other_ran = true end)
      assert.is_true(good:wait())
      assert.is_true(other_ran)
    end)

    it("raises at once for a task that waits for itself and for a deadlock", function()
      local c = client()
      local t
      t = c:spawn(function() return t:wait() end)
      local _, err = t:wait()
      assert.matches("cannot wait for itself", err)
      local a, b
      a = c:spawn(function() c:sleep(0); return b:wait() end)
      b = c:spawn(function() c:sleep(0); return a:wait() end)
      local ok, derr = pcall(a.wait, a)
      assert.is_false(ok)
      assert.matches("deadlock", derr)
      a:cancel()
      b:cancel()
    end)
  end)

  describe("nested spawns", function()
    it("lets tasks spawn and wait for tasks, at any depth, all concurrently", function()
      local c = client()
      assert(c.catalog.list_products())
      s:clear_requests()
      slow("/v1/catalog/products", 0.25)
      local t0 = now()
      local top = c:spawn(function()
        local kids = {}
        for i = 1, 2 do
          kids[i] = c:spawn(function()
            local grand = c:spawn(function() return assert(c.catalog.list_products()).success end)
            local mine = assert(c.catalog.list_products()).success
            return mine and grand:wait()
          end)
        end
        return kids[1]:wait() and kids[2]:wait()
      end)
      assert.is_true(top:wait())
      assert.is_true(now() - t0 < 0.9, "nested calls did not overlap") -- one after another: 1 s
      assert.equals(4, peak(log{ method = "GET", path = "/v1/catalog/products" }, 0.2))
    end)

    it("keeps a child running after its parent returned (tasks are not bound to their parent)", function()
      local c = client()
      local child
      local parent = c:spawn(function()
        child = c:spawn(function() c:sleep(0.05); return "child done" end)
        return "parent done"
      end)
      assert.equals("parent done", parent:wait())
      assert.is_false(child:is_done())
      assert.equals("child done", child:wait())
    end)
  end)

  describe("sleeping", function()
    it("sleeps without stopping other tasks, and wakes sleepers in time order", function()
      local c = client()
      local order = {}
      local t0 = now()
      local calls_done
      c:spawn(function() c:sleep(0.4); order[#order + 1] = "0.4" end)
      c:spawn(function() c:sleep(0.3); order[#order + 1] = "0.3" end)
      c:spawn(function() c:sleep(0); order[#order + 1] = "0" end)
      c:spawn(function()
        for _ = 1, 3 do assert(c.catalog.list_products()) end
        order[#order + 1] = "calls"
        calls_done = now() - t0
      end)
      c:run()
      assert.same({ "0", "calls", "0.3", "0.4" }, order)
      assert.is_true(calls_done < 0.3, "the calls waited for the sleepers: " .. calls_done)
      local elapsed = now() - t0
      assert.is_true(elapsed >= 0.4 and elapsed < 1.2, "elapsed " .. elapsed)
    end)

    it("retries with backoff inside tasks without blocking the others", function()
      local c = client()
      assert(c.catalog.list_products())
      s:fault{ method = "GET", path = "/v1/accounts/*", status = 503, count = 1, headers = { ["Retry-After"] = "1" } }
      local done_other
      local t = c:spawn(function() return c.accounts.retrieve("NOPE") end)
      c:spawn(function() assert(c.catalog.list_products()); done_other = now() end)
      local t0 = now()
      local _, err = t:wait()
      assert.equals(404, err.status)
      assert.equals(2, err.attempts)
      assert.is_true(done_other - t0 < 0.7, "the other task waited for the backoff")
      assert.is_true(now() - t0 >= 1)
    end)

    it("waits for a condition, with a timeout", function()
      local c = client()
      local flag = false
      local got
      local waiter = c:spawn(function() got = c.rt:wait_until(function() return flag end, 5) end)
      c:spawn(function() c:sleep(0.05); flag = true end)
      waiter:wait()
      assert.is_true(got)
      local t0 = now()
      assert.is_false(c.rt:wait_until(function() return false end, 0.1))
      assert.is_true(now() - t0 >= 0.1)
      local timed = c:spawn(function() return c.rt:wait_until(function() return false end, 0.05) end)
      assert.is_false(timed:wait())
    end)
  end)

  describe("cancellation", function()
    it("cancels a task waiting for a slow call: the transfer is aborted and its slot freed", function()
      local c = client{ max_concurrency = 1 }
      assert(c.catalog.list_products())
      slow("/v1/catalog/products", 3)
      local t = c:spawn(function() return c.catalog.list_products() end)
      c:spawn(function() end):wait() -- one turn: t is now waiting for its transfer
      local t0 = now()
      c:sleep(0.05)
      assert.is_true(t:cancel())
      local r, err = t:wait()
      assert.is_nil(r)
      assert.equals("cancelled", err.kind)
      assert.is_false(err.retryable)
      assert.equals("zuora.Task<cancelled>", tostring(t))
      assert.equals(0, c.transport:running())
      -- the single slot is free again: a fast call goes through at once
      local acct = c:request("GET", "/v1/accounts/NOPE")
      assert.is_nil(acct)
      assert.is_true(now() - t0 < 1, "the slot was not released")
      assert.is_false(t:cancel()) -- already finished
    end)

    it("cancels a sleeping task and a task waiting for another task", function()
      local c = client()
      local sleeper = c:spawn(function() c:sleep(10); return "woke" end)
      local waiter = c:spawn(function() return sleeper:wait() end)
      c:sleep(0.01)
      local t0 = now()
      waiter:cancel()
      assert.equals("cancelled", select(2, waiter:wait()).kind)
      assert.is_false(sleeper:is_done())
      sleeper:cancel("no longer needed")
      local _, err = sleeper:wait()
      assert.equals("no longer needed", err.message)
      c:run()
      assert.is_true(now() - t0 < 0.5)
    end)

    it("runs to-be-closed variables of a cancelled task (Lua 5.4)", function()
      if not coroutine.close then return pending("coroutine.close needs Lua 5.4") end
      local c = client()
      local closed = false
      local chunk = load([[
        local c, mark = ...
        return function()
          local guard <close> = setmetatable({}, { __close = function() mark() end })
          c:sleep(10)
        end
      ]])
      local fn = chunk(c, function() closed = true end)
      local t = c:spawn(fn)
      c:sleep(0.01)
      t:cancel()
      assert.is_true(closed)
    end)

    it("cancels a task that fetches the token: another task then fetches it", function()
      local c = client()
      s:fault{ method = "POST", path = "/oauth/token", latency = 2, count = 1 }
      local fetcher = c:spawn(function() return c.catalog.list_products() end)
      local other = c:spawn(function() c:sleep(0.1); return c.catalog.list_products() end)
      c:sleep(0.05)
      fetcher:cancel()
      local t0 = now()
      local res, err = other:wait()
      assert.is_nil(err)
      assert.is_true(res.success)
      assert.is_true(now() - t0 < 1.5)
    end)

    it("gather with cancel_on_error: the first failure cancels the slow ones at once", function()
      local c = client()
      assert(c.catalog.list_products())
      slow("/v1/catalog/products", 3)
      local t0 = now()
      local out = c:gather({
        function() return c.catalog.list_products() end,
        function() c:sleep(0.05); return c.accounts.retrieve("NOPE") end,
        function() return c.catalog.list_products() end,
      }, { cancel_on_error = true })
      assert.is_true(now() - t0 < 1, "gather waited for the slow calls")
      assert.equals(404, out[2][2].status)
      assert.equals("cancelled", out[1][2].kind)
      assert.equals("cancelled", out[3][2].kind)
      assert.equals(0, c.transport:running())
    end)

    it("gather without it runs everything and reports each outcome in order", function()
      local c = client()
      local out = c:gather{
        function() return "a", 1 end,
        function() error("b failed") end,
        function() return c.accounts.retrieve("NOPE") end,
      }
      assert.same({ n = 2, "a", 1 }, out[1])
      assert.equals(2, out[2].n)
      assert.is_nil(out[2][1])
      assert.matches("b failed", out[2][2])
      assert.equals(404, out[3][2].status)
    end)

    it("map with cancel_on_error stops at the first error: running items cancelled, the rest skipped",
      function()
        local c = client()
        assert(c.catalog.list_products())
        slow("/v1/catalog/products", 3)
        local items = { "slow", "fail", "slow", "never", "never" }
        local started = {}
        local t0 = now()
        local results, errs = c:map(items, function(kind, i)
          started[#started + 1] = i
          if kind == "fail" then c:sleep(0.05); return nil, "item " .. i .. " failed" end
          return c.catalog.list_products()
        end, { concurrency = 3, cancel_on_error = true })
        assert.is_true(now() - t0 < 1)
        assert.same({ 1, 2, 3 }, started)
        assert.equals("item 2 failed", errs[2])
        for _, i in ipairs({ 1, 3, 4, 5 }) do
          assert.is_nil(results[i])
          assert.equals("cancelled", errs[i].kind)
        end
      end)
  end)

  describe("caps", function()
    it("never has more than max_concurrency requests in flight at the simulator", function()
      s:config{ concurrency_limit = 3 } -- a fourth request in flight would get a 429 and be logged
      local c = client{ max_concurrency = 3, max_retries = 0 }
      assert(c.catalog.list_products())
      s:clear_requests()
      slow("/v1/catalog/products", 0.2)
      local tasks = {}
      for i = 1, 12 do tasks[i] = c:spawn(function() return c.catalog.list_products() end) end
      for i = 1, 12 do assert(tasks[i]:wait()) end
      local calls = log{ method = "GET", path = "/v1/catalog/products" }
      assert.equals(12, #calls)
      for _, e in ipairs(calls) do
        assert.is_nil(e.limited)
        assert.equals(200, sj.tonumber(e.status))
      end
      assert.equals(3, peak(calls, 0.15)) -- the cap is used, not just respected
    end)

    it("caps map's calls at its concurrency, and keeps results and errors in input order", function()
      s:config{ concurrency_limit = 4 }
      local c = client{ max_retries = 0 }
      local acct = s:account()
      assert(c.catalog.list_products())
      slow("/v1/accounts/*", 0.15)
      local keys = {}
      for i = 1, 10 do keys[i] = (i % 3 == 0) and ("MISSING" .. i) or acct.accountNumber end
      local results, errs = c:map(keys, function(key) return c.accounts.retrieve(key) end, { concurrency = 4 })
      for i = 1, 10 do
        if i % 3 == 0 then
          assert.is_nil(results[i])
          assert.equals(404, errs[i].status)
          assert.matches("MISSING" .. i, errs[i].url)
        else
          assert.is_nil(errs[i])
          assert.equals(acct.accountNumber, results[i].basicInfo.accountNumber)
        end
      end
      local calls = log{ method = "GET", path = "/v1/accounts/*" }
      assert.equals(10, #calls)
      for _, e in ipairs(calls) do assert.is_nil(e.limited) end
      assert.equals(4, peak(calls, 0.1))
    end)

    it("counts calls made outside tasks against max_concurrency too", function()
      s:config{ concurrency_limit = 2 }
      local c = client{ max_concurrency = 2, max_retries = 0 }
      assert(c.catalog.list_products())
      s:clear_requests()
      slow("/v1/catalog/products", 0.2)
      local tasks = {}
      for i = 1, 3 do tasks[i] = c:spawn(function() return c.catalog.list_products() end) end
      assert(c.catalog.list_products()) -- blocking, queued behind the tasks for a slot
      for i = 1, 3 do assert(tasks[i]:wait()) end
      for _, e in ipairs(log{ method = "GET", path = "/v1/catalog/products" }) do
        assert.is_nil(e.limited)
      end
    end)

    it("rejects a bad map concurrency and unknown options", function()
      local c = client()
      assert.has_error(function() c:map({ 1 }, print, { concurrency = 0 }) end,
        "map: concurrency must be an integer >= 1")
      assert.has_error(function() c:gather({}, { concurency = 2 }) end, "gather: unknown option 'concurency'")
      assert.has_error(function() c:spawn(42) end, "spawn: expected a function")
    end)
  end)

  describe("single-flight OAuth token", function()
    it("fetches one token when twenty tasks start cold", function()
      local c = client()
      s:fault{ method = "POST", path = "/oauth/token", latency = 0.2 } -- a slow token endpoint
      local tasks = {}
      for i = 1, 20 do tasks[i] = c:spawn(function() return c.catalog.list_products() end) end
      for i = 1, 20 do assert(tasks[i]:wait()) end
      assert.equals(1, #log{ method = "POST", path = "/oauth/token" })
      local calls = log{ method = "GET", path = "/v1/catalog/products" }
      assert.equals(20, #calls)
      for _, e in ipairs(calls) do assert.equals(calls[1].headers.authorization, e.headers.authorization) end
    end)

    it("gives every waiting task the token endpoint's error, from one request", function()
      local c = zuora.new{ base_url = s.url, client_id = s.client_id, client_secret = "wrong" }
      local results, errs = c:map({ 1, 2, 3, 4, 5 }, function() return c.catalog.list_products() end,
        { concurrency = 5 })
      assert.equals(1, #log{ method = "POST", path = "/oauth/token" })
      assert.equals(0, #log{ method = "GET", path = "/v1/catalog/products" })
      assert.same({}, results)
      for i = 1, 5 do
        assert.equals("auth", errs[i].kind)
        assert.equals(401, errs[i].status)
      end
    end)

    it("fetches one token after a revocation, however many tasks meet the 401", function()
      local c = client()
      assert(c.catalog.list_products())
      s:request{ method = "POST", path = "/__sim/tokens/revoke", json = {} }
      local _, errs = c:map({ 1, 2, 3, 4, 5, 6 }, function() return c.catalog.list_products() end,
        { concurrency = 6 })
      assert.same({}, errs)
      assert.equals(2, #log{ method = "POST", path = "/oauth/token" })
    end)
  end)
end)

describe("the pollable loop #luajit", function()
  local s
  lazy_setup(function() s = simh.start() end)
  lazy_teardown(function() if s then s:stop() end end)

  it("exposes pollfd, events and timeout, and step runs the tasks", function()
    local c = zuora.new{ base_url = s.url, client_id = s.client_id, client_secret = s.client_secret }
    local p = c:pollable()
    assert.is_number(p:pollfd())
    assert.equals("r", p:events())
    assert.is_nil(p:timeout()) -- nothing scheduled
    local t = c:spawn(function() return c.catalog.list_products() end)
    assert.equals(0, p:timeout()) -- a task is ready to run
    local steps = 1
    while c:step(0.05) do steps = steps + 1 end
    assert.is_true(steps >= 2) -- a token round trip, then the call: one poll each
    assert.is_true(t:wait().success)
    c:spawn(function() c:sleep(0.2) end)
    c:step(0)
    local to = p:timeout()
    assert.is_true(to > 0.1 and to <= 0.2, tostring(to))
    c:run()
  end)

  it("is driven by cqueues (cqueues.poll on client:pollable())", function()
    local ok, cqueues = pcall(require, "cqueues")
    if not ok then return pending("cqueues is not installed (Debian: lua-cqueues)") end
    local c = zuora.new{ base_url = s.url, client_id = s.client_id, client_secret = s.client_secret }
    local results = {}
    for i = 1, 4 do
      c:spawn(function() results[i] = assert(c.catalog.list_products()).success end)
    end
    local ticks = 0
    local cq = cqueues.new()
    local pollable = c:pollable()
    cq:wrap(function()
      while c:step(0) do cqueues.poll(pollable) end
    end)
    cq:wrap(function() -- a neighbour that keeps running while the client waits
      for _ = 1, 5 do ticks = ticks + 1; cqueues.sleep(0.001) end
    end)
    assert(cq:loop())
    assert.same({ true, true, true, true }, results)
    assert.equals(5, ticks)
  end)
end)

describe("examples driving the client from a foreign event loop #luajit", function()
  local LUA = require "spec.support.lua"
  local s
  lazy_setup(function() s = simh.start() end)
  lazy_teardown(function() if s then s:stop() end end)

  local function run(script, module)
    if not pcall(require, module) then return nil end
    local cmd = ("ZUORA_BASE_URL=%q ZUORA_CLIENT_ID=%q ZUORA_CLIENT_SECRET=%q %s %s 2>&1; echo \"exit=$?\"")
      :format(s.url, s.client_id, s.client_secret, LUA, script)
    local p = assert(io.popen(cmd))
    local out = p:read("a")
    p:close()
    return out, tonumber(out:match("exit=(%d+)%s*$"))
  end

  for _, ex in ipairs({ { "examples/cqueues_loop.lua", "cqueues", "cqueues ticks" },
                        { "examples/luv_loop.lua", "luv", "uv ticks" } }) do
    it(ex[1] .. " runs three calls while the other loop keeps ticking", function()
      local out, code = run(ex[1], ex[2])
      if not out then return pending(ex[2] .. " is not installed") end
      assert.equals(0, code, out)
      for i = 1, 3 do assert.matches("call " .. i .. ": 2 products", out) end
      assert.matches(ex[3] .. " meanwhile: 3", out)
    end)
  end
end)
