-- lua-zuora inside nginx (ngx_lua, the project's LuaJIT build of the C core): the example callout
-- handler (examples/openresty), the cosocket runtime's task semantics, caps and single-flight
-- token measured at zuora-sim, the refusal of phases without cosockets, and the token shared
-- between workers. libcurl is stubbed out in the test server: nothing may use it inside nginx.
local simh = require "spec.support.sim"
local openresty = require "spec.support.openresty"
local json = require("zuora.core").json

local peak = simh.peak

local function post_json(url, body)
  local out = openresty.parallel{ { method = "POST", url = url, body = json.encode(body),
    headers = { ["Content-Type"] = "application/json" } } }
  local r = out[1]
  r.json = r.body ~= "" and json.decode(r.body) or nil
  return r
end

-- An account with a subscription of 12-month terms; returns the account and the subscription number.
local function subscribe(s)
  local acct = s:account()
  local today = os.date("!%Y-%m-%d")
  local function trigger(name) return { name = name, triggerDate = today } end
  local r = s:post("/v1/orders", { orderDate = today, existingAccountNumber = acct.accountNumber,
    subscriptions = { { orderActions = { { type = "CreateSubscription",
      triggerDates = { trigger "ContractEffective", trigger "ServiceActivation", trigger "CustomerAcceptance" },
      createSubscription = {
        terms = { initialTerm = { termType = "TERMED", period = 12, periodType = "Month", startDate = today },
          renewalSetting = "RENEW_WITH_SPECIFIC_TERM", autoRenew = true,
          renewalTerms = { { period = 12, periodType = "Month" } } },
        subscribeToRatePlans = { { productRatePlanId = "8ad00000000000000000000000000201" } } } } } } } },
    { headers = { ["zuora-version"] = "2025-08-12" } })
  assert(r.status == 200, r.body)
  return acct, r.json.subscriptions[1].subscriptionNumber
end

-- An account with a subscription and a posted, unpaid invoice; returns account number, invoice id
-- and number.
local function seed(s)
  local acct = subscribe(s)
  local today = os.date("!%Y-%m-%d")
  local r = s:post("/v1/operations/invoice-collect",
    { accountKey = acct.accountNumber, targetDate = today, collect = false })
  assert(r.status == 200 and r.json.invoiceId, r.body)
  return acct.accountNumber, r.json.invoiceId, r.json.invoiceNumber
end

describe("the OpenResty example (examples/openresty)", function()
  local s, srv, account, invoice, invoice_number
  local AUTH = { Authorization = "Basic " .. require("zuora.core").crypto.base64("zuora-callout:callout-secret"),
    ["Content-Type"] = "application/x-www-form-urlencoded" }

  lazy_setup(function()
    s = simh.start()
    account, invoice, invoice_number = seed(s)
    srv = openresty.start_conf{ conf = "examples/openresty/nginx.conf", vars = { workers = 1 },
      env = { ZUORA_BASE_URL = s.url, ZUORA_CLIENT_ID = s.client_id, ZUORA_CLIENT_SECRET = s.client_secret,
        ZUORA_CALLOUT_USERNAME = "zuora-callout", ZUORA_CALLOUT_PASSWORD = "callout-secret" } }
  end)
  lazy_teardown(function()
    if srv then srv:stop() end
    if s then s:stop() end
  end)
  before_each(function()
    s:clear_faults()
    s:clear_requests()
  end)

  -- A callout as Zuora sends it for this example's notification definition (form parameters).
  local function callout_request(acct, inv, headers)
    return { method = "POST", url = srv.url .. "/zuora/callouts", headers = headers or AUTH,
      body = "InvoiceId=" .. inv .. "&AccountNumber=" .. acct }
  end
  local function callout(inv, headers)
    local r = openresty.parallel{ callout_request(account, inv or invoice, headers) }[1]
    r.json = r.body ~= "" and json.decode(r.body) or nil
    return r
  end
  local function digest(inv)
    local r = openresty.parallel{ { url = srv.url .. "/invoices/" .. inv .. "/digest" } }[1]
    return r.status, r.body ~= "" and json.decode(r.body) or nil
  end

  it("answers an invoice-posted callout with success and files a digest of four Zuora calls, once", function()
    local r = callout()
    assert.equals(200, r.status, r.body)
    assert.same({ success = true }, r.json)
    local status, d = digest(invoice)
    assert.equals(200, status)
    assert.equals(account, d.account)
    assert.equals("Spec Account", d.name)
    assert.equals(invoice_number, d.invoice.number)
    assert.equals(49.99, d.invoice.amount)
    assert.equals(49.99, d.invoice.balance)
    assert.equals(1, d.invoice.items)
    assert.equals("CreditCard", d.payment_method)
    local gets = s:requests{ method = "GET" }
    assert.equals(4, #gets)
    for _, e in ipairs(gets) do assert.matches("^Bearer ", e.headers.authorization) end
    assert.is_true(#s:requests{ method = "POST", path = "/oauth/token" } <= 1)
    -- Zuora's retry of the same event: answered, not handled again.
    r = callout()
    assert.equals(200, r.status, r.body)
    assert.equals(4, #s:requests{ method = "GET" })
  end)

  it("handles two concurrent callouts on one worker, each making four 200 ms calls, well under 1.6 s", function()
    local account2, invoice2 = seed(s)
    local account3, invoice3 = seed(s)
    s:clear_requests()
    s:fault{ method = "GET", path = "/v1/**", latency = 0.2 }
    local t0 = os.time()
    local out = openresty.parallel{ callout_request(account2, invoice2), callout_request(account3, invoice3) }
    assert.is_true(os.time() - t0 <= 2)
    for _, r in ipairs(out) do
      assert.equals(200, r.status, r.body)
      -- a blocking client would need 8 x 200 ms = 1.6 s for the pair; each took about 200 ms
      assert.is_true(r.time < 0.8, ("a callout took %.3f s"):format(r.time))
    end
    for _, inv in ipairs({ invoice2, invoice3 }) do
      local _, d = digest(inv)
      assert.is_true(d.zuora_ms >= 190 and d.zuora_ms < 700, tostring(d.zuora_ms))
    end
    local gets = s:requests{ method = "GET" }
    assert.equals(8, #gets)
    assert.equals(8, peak(gets, 0.15)) -- all eight were in flight together at the simulator
  end)

  it("answers 500 for an unknown invoice (Zuora retries), 400 for a malformed callout, 401 without credentials",
    function()
      local r = callout("8ad0ffffffffffffffffffffffffffff")
      assert.equals(500, r.status, r.body)
      assert.is_false(r.json.success)
      assert.equals(404, (digest("8ad0ffffffffffffffffffffffffffff")))
      r = callout("%zz")
      assert.equals(400, r.status)
      r = callout(invoice, { ["Content-Type"] = "application/x-www-form-urlencoded" })
      assert.equals(401, r.status)
    end)

  it("logs refusals and failures without credentials, and nothing else", function()
    callout()
    local log = srv:errlog():gsub("[^\n]*%[notice%][^\n]*\n?", "")
    for line in log:gmatch("[^\n]+") do assert.matches("zuora.callouts: ", line, 1, true) end
    assert.is_nil(log:find("callout-secret", 1, true))
  end)
end)

describe("the cosocket runtime", function()
  local s, srv

  lazy_setup(function()
    s = simh.start()
    srv = openresty.start{ vars = { sim = s.url }, init = [[
      -- Inside nginx the client must never touch libcurl: make any attempt fail loudly.
      require("zuora.core").http.new = function() error("libcurl transport created inside nginx") end
    ]], http = [[
      lua_shared_dict zuora_tokens 1m;
      lua_shared_dict phase_errors 1m;
      lua_socket_log_errors off;
      init_worker_by_lua_block {
        local c = require("zuora").new{ base_url = "${sim}", client_id = "x", client_secret = "y" }
        local ok, err = pcall(c.request, c, "GET", "/v1/catalog/products")
        ngx.shared.phase_errors:set("init_worker", ok and "no error" or tostring(err))
      }
      server {
        listen 127.0.0.1:${port1};
        location /case/ {
          content_by_lua_block {
            local json = require("zuora.core").json
            ngx.req.read_body()
            local args = json.decode(ngx.req.get_body_data() or "{}")
            local name = ngx.var.uri:match("^/case/([%w_]+)$")
            local ok, res = pcall(require("spec.support.openresty_cases")[name], args)
            if not ok then ngx.status = 500; res = { raised = tostring(res) } end
            ngx.say(json.encode(res))
          }
        }
        location = /phase/header_filter {
          content_by_lua_block { ngx.say("body") }
          header_filter_by_lua_block {
            local c = require("zuora").new{ base_url = "${sim}", token = "t" }
            local ok, err = pcall(c.request, c, "GET", "/v1/catalog/products")
            ngx.header["X-Zuora-Error"] = (ok and "no error" or tostring(err)):gsub("%c", " ")
          }
        }
        location = /phase/log {
          content_by_lua_block { ngx.say("ok") }
          log_by_lua_block {
            local c = require("zuora").new{ base_url = "${sim}", token = "t" }
            local ok, err = pcall(c.spawn, c, function() end)
            ngx.shared.phase_errors:set("log", ok and "no error" or tostring(err))
          }
        }
        location = /phase/results {
          content_by_lua_block {
            ngx.say(require("zuora.core").json.encode{ init_worker = ngx.shared.phase_errors:get("init_worker"),
              log = ngx.shared.phase_errors:get("log") })
          }
        }
      }
    ]] }
  end)
  lazy_teardown(function()
    if srv then srv:stop() end
    if s then s:stop() end
  end)
  before_each(function() s:reset() end)

  local function case(name, args)
    args = args or {}
    args.base_url, args.client_id, args.client_secret = s.url, s.client_id, s.client_secret
    local r = post_json(srv.url .. "/case/" .. name, args)
    assert.equals(200, r.status, r.body)
    return r.json
  end

  it("runs on ngx.thread and cosockets: spawn returns first, tasks start in spawn order", function()
    local r = case("order")
    assert.is_true(r.runtime)
    local pos = {}
    for i, v in ipairs(r.order) do pos[v] = i end
    assert.equals(6, #r.order)
    for _, name in ipairs({ "a", "b", "c" }) do
      assert.is_true(pos["spawned " .. name] < pos[name], table.concat(r.order, ","))
    end
    assert.is_true(pos.a < pos.b and pos.b < pos.c)
    assert.equals("B", r.up)
    assert.equals("done", r.status)
  end)

  it("runs calls concurrently: six 300 ms calls overlap at the simulator", function()
    s:fault{ method = "GET", path = "/v1/catalog/products", latency = 0.3, skip = 1 }
    local r = case("concurrent", { n = 6 })
    assert.equals(6, r.ok)
    assert.is_true(r.elapsed < 0.9, "elapsed " .. r.elapsed)
    local calls = s:requests{ method = "GET", path = "/v1/catalog/products" }
    table.remove(calls, 1)
    assert.equals(6, peak(calls, 0.25))
  end)

  it("never has more than max_concurrency requests in flight", function()
    s:config{ concurrency_limit = 3 }
    s:fault{ method = "GET", path = "/v1/catalog/products", latency = 0.2, skip = 1 }
    local r = case("concurrent", { n = 12, max_concurrency = 3 })
    assert.equals(12, r.ok)
    local calls = s:requests{ method = "GET", path = "/v1/catalog/products" }
    assert.equals(13, #calls)
    for _, e in ipairs(calls) do assert.is_nil(e.limited) end
    table.remove(calls, 1)
    assert.equals(3, peak(calls, 0.15))
  end)

  it("caps map at its concurrency and returns results and errors in input order", function()
    s:config{ concurrency_limit = 4 }
    local acct = s:account().accountNumber
    s:clear_requests()
    s:fault{ method = "GET", path = "/v1/accounts/*", latency = 0.15 }
    local keys = {}
    for i = 1, 10 do keys[i] = (i % 3 == 0) and ("MISSING" .. i) or acct end
    local r = case("map", { keys = keys, concurrency = 4 })
    for i = 1, 10 do
      if i % 3 == 0 then
        assert.is_false(r.items[i].number)
        assert.equals(404, r.items[i].status)
      else
        assert.equals(acct, r.items[i].number)
        assert.is_false(r.items[i].status)
      end
    end
    local calls = s:requests{ method = "GET", path = "/v1/accounts/*" }
    assert.equals(10, #calls)
    for _, e in ipairs(calls) do assert.is_nil(e.limited) end
    assert.equals(4, peak(calls, 0.1))
  end)

  it("fetches one OAuth token when twenty tasks start cold", function()
    s:fault{ method = "POST", path = "/oauth/token", latency = 0.2 }
    local r = case("cold")
    assert.equals(0, r.errors)
    assert.equals(1, #s:requests{ method = "POST", path = "/oauth/token" })
    local calls = s:requests{ method = "GET", path = "/v1/catalog/products" }
    assert.equals(20, #calls)
    for _, e in ipairs(calls) do assert.equals(calls[1].headers.authorization, e.headers.authorization) end
  end)

  it("returns errors from wait and makes run() raise for a failure nobody waited for", function()
    local r = case("errors")
    assert.is_true(r.same)
    assert.matches("plain message", r.msg)
    assert.is_true(r.traceback)
    assert.is_true(r.r3)
    assert.equals("api", r.kind3)
    assert.equals(404, r.status3)
    assert.is_false(r.run_ok)
    assert.matches("1 task%(s%) failed and nobody waited for them", r.run_err)
    assert.matches("lost in the background", r.run_err)
    assert.is_true(r.run_again)
  end)

  it("runs nested spawns concurrently", function()
    s:fault{ method = "GET", path = "/v1/catalog/products", latency = 0.25, skip = 1 }
    local r = case("nested")
    assert.is_true(r.ok)
    assert.is_true(r.elapsed < 0.9, "elapsed " .. r.elapsed) -- one after another: 1 s
  end)

  it("sleeps without holding up other tasks", function()
    local r = case("sleep")
    assert.same({ "calls", "0.3", "0.4" }, r.order)
    assert.is_true(r.calls_done < 0.3, "the calls waited for the sleepers: " .. r.calls_done)
    assert.is_true(r.elapsed >= 0.39 and r.elapsed < 1.2, "elapsed " .. r.elapsed) -- ngx.now() has ms steps
  end)

  it("cancels a slow call, a sleeper and the rest of a failing gather at once", function()
    s:fault{ method = "GET", path = "/v1/catalog/products", latency = 3, skip = 1 }
    local r = case("cancel")
    assert.equals("cancelled", r.kind)
    assert.equals(404, r.status404)
    assert.is_true(r.cancel_elapsed < 1, "the slot was not released: " .. r.cancel_elapsed)
    assert.equals("no longer needed", r.sleeper)
    assert.is_true(r.gather_elapsed < 1, "gather waited for the slow calls")
    assert.equals("cancelled", r.g1)
    assert.equals(404, r.g2)
    assert.equals("cancelled", r.g3)
  end)

  it("cancels from a coroutine that is not the parent: reported at once, stopped when its wait ends", function()
    local r = case("foreign_cancel")
    assert.is_true(r.cancelled)
    assert.equals("cancelled", r.kind)
    assert.is_true(r.waited < 0.4, "wait() was not told at once: " .. r.waited) -- the sleep lasts 0.5 s
    assert.same({ "start" }, r.steps)
  end)

  it("drops a revoked token from the shared cache and fetches one new token", function()
    local r = case("revoked")
    assert.is_true(r.first)
    assert.is_true(r.revoked)
    assert.is_true(r.second, r.err)
    assert.equals(2, #s:requests{ method = "POST", path = "/oauth/token" })
  end)

  -- Zuora's actions (PUTs that are not idempotent) where the answer is lost or late: done once, and
  -- the call succeeds or says outcome_unknown (issue 20).
  local function months(from, to)
    local y1, m1, d1 = from:match("^(%d+)-(%d+)-(%d+)")
    local y2, m2, d2 = to:match("^(%d+)-(%d+)-(%d+)")
    assert.equals(d1, d2)
    return (tonumber(y2) - tonumber(y1)) * 12 + tonumber(m2) - tonumber(m1)
  end

  -- The actions: what to make before, the call, and what must have changed exactly once after.
  local actions = {
    { group = "subscriptions", name = "renew", path = "/v1/subscriptions/%s/renew",
      make = function() return select(2, subscribe(s)) end,
      state = function(sub) return s:get("/v1/subscriptions/" .. sub).json.termEndDate end,
      check = function(before, after) assert.equals(12, months(before, after)) end },
    { group = "invoices", name = "write_off", path = "/v1/invoices/%s/write-off",
      make = function() return select(2, seed(s)) end,
      state = function(inv)
        local r = s:get("/v1/invoices/" .. inv).json
        -- the simulator's JSON keeps numbers as exact decimals
        return { balance = tonumber(tostring(r.balance)), memos = #s:get("/v1/credit-memos").json.creditmemos }
      end,
      check = function(before, after)
        assert.equals(0, after.balance)
        assert.equals(before.memos + 1, after.memos)
      end },
  }

  for _, act in ipairs(actions) do
    for _, fault in ipairs({
      { name = "the answer is lost (processed, then the connection reset)",
        rule = { method = "PUT", phase = "after", action = "reset", count = 1 } },
      { name = "the answer is late (1.5 s, timeout = 1)", rule = { method = "PUT", latency = 1.5, count = 1 },
        timeout = 1 },
    }) do
      for _, via in ipairs({ "op", "request" }) do
        local how = via == "op" and ("client." .. act.group .. "." .. act.name) or 'client:request("PUT", ...)'
        it(act.name .. " happens once through " .. how .. " when " .. fault.name, function()
          local key = act.make()
          local path = act.path:format(key)
          local before = act.state(key)
          local rule = { path = path }
          for k, v in pairs(fault.rule) do rule[k] = v end
          s:fault(rule)
          local r = case("action", { group = act.group, name = act.name, key = key, path = path, via = via,
            timeout = fault.timeout })
          if fault.timeout then os.execute("sleep 1") end -- the late one lands meanwhile
          act.check(before, act.state(key))
          assert.is_true(r.ok or r.outcome_unknown, r.err)
          assert.equals(1, #s:requests{ method = "PUT", path = path })
          assert.equals(1, r.sends)
        end)
      end
    end
  end

  it("keeps the safety rails: read_only, deny and dry_run refuse or describe before anything is sent", function()
    local r = case("rails")
    assert.is_false(r.created)
    assert.equals("policy", r.kind)
    assert.equals("read_only", r.rule)
    assert.is_true(r.dry)
    assert.equals(s.url .. "/v1/accounts/A1", r.dry_url)
    assert.is_false(r.listed)
    assert.equals("deny", r.deny)
    assert.is_true(r.read)
    assert.equals(0, #s:requests{ method = "POST", path = "/v1/accounts" })
    assert.equals(0, #s:requests{ path = "/v1/accounts/A1" })
    assert.equals(1, #s:requests{ method = "GET", path = "/v1/catalog/products" })
  end)

  it("hands out exact decimals with decimals = true (cosocket transport)", function()
    local r = case("decimals", { amount = "1234567890123456.78" })
    assert.is_true(r.is_decimal)
    assert.equals("1234567890123456.78", r.amount)
    assert.equals("1234567890123456.79", r.sum)
    assert.equals("number", r.plain_type)
  end)

  it("refuses configuration that cannot work inside nginx", function()
    local r = case("config_errors")
    assert.matches("lua_ssl_trusted_certificate", r.ca_file)
    assert.matches("transport 'curl' is refused inside nginx", r.curl)
    assert.matches("no lua_shared_dict named 'no_such_dict'", r.dict)
    assert.equals("no error", r.ngx)
  end)

  it("refuses phases without cosockets with an error naming the phase", function()
    local out = openresty.parallel{ { url = srv.url .. "/phase/header_filter" }, { url = srv.url .. "/phase/log" } }
    assert.equals(200, out[1].status)
    local p = io.popen("curl -s -D - -o /dev/null " .. srv.url .. "/phase/header_filter")
    local head = p:read("a")
    p:close()
    assert.matches("x%-zuora%-error: [^\r\n]*'header_filter' phase", head:lower())
    assert.matches("no cosockets", head)
    local res = json.decode(openresty.parallel{ { url = srv.url .. "/phase/results" } }[1].body)
    assert.matches("'init_worker' phase", res.init_worker)
    assert.matches("'log' phase", res.log)
    assert.equals(0, #s:requests{}) -- nothing reached the simulator from those phases
  end)
end)

describe("the shared token cache (lua_shared_dict)", function()
  local s
  lazy_setup(function() s = simh.start() end)
  lazy_teardown(function() if s then s:stop() end end)

  -- Two workers; each calls Zuora from a timer as soon as it starts, so both need a token at once.
  local function run_workers(cache)
    s:reset()
    local srv = openresty.start{ workers = 2, vars = { sim = s.url, id = s.client_id, secret = s.client_secret,
      cache = cache and 'token_cache = "zuora_tokens",' or "" }, http = [[
      lua_shared_dict zuora_tokens 1m;
      lua_shared_dict results 1m;
      init_worker_by_lua_block {
        local ok, err = ngx.timer.at(0, function()
          local c = require("zuora").new{ base_url = "${sim}", client_id = "${id}", client_secret = "${secret}",
            ${cache} }
          local res, cerr = c.catalog.list_products()
          ngx.shared.results:set("worker " .. ngx.worker.pid(), res and "ok" or tostring(cerr))
        end)
        if not ok then ngx.log(ngx.ERR, err) end
      }
      server {
        listen 127.0.0.1:${port1};
        location = /results {
          content_by_lua_block {
            local out = {}
            for _, k in ipairs(ngx.shared.results:get_keys()) do out[#out + 1] = ngx.shared.results:get(k) end
            ngx.say(#out, " ", table.concat(out, ","))
          }
        }
      }
    ]] }
    local body
    for _ = 1, 300 do
      body = openresty.parallel{ { url = srv.url .. "/results" } }[1].body
      if body:match("^2 ") then break end
      os.execute("sleep 0.02")
    end
    srv:stop()
    return body
  end

  it("lets all workers share one token: one token request for two workers", function()
    local body = run_workers(true)
    assert.equals("2 ok,ok", body:match("^(.-)%s*$"))
    assert.equals(1, #s:requests{ method = "POST", path = "/oauth/token" })
    assert.equals(2, #s:requests{ method = "GET", path = "/v1/catalog/products" })
  end)

  it("without it, each worker fetches its own", function()
    local body = run_workers(false)
    assert.equals("2 ok,ok", body:match("^(.-)%s*$"))
    assert.equals(2, #s:requests{ method = "POST", path = "/oauth/token" })
  end)
end)
