-- Zuora calling you, end to end: zuora-sim posts an invoice and calls back an nginx receiver built
-- on zuora.callouts; the handler fetches the invoice with the client. Each event is processed
-- exactly once, also when the first delivery fails (500 once, or a timeout) and the retry comes
-- with a new Zuora-Request-Id; with basic auth, HMAC, confirmSucFromResContent on and off, a Redis
-- de-duplication store and mode "after"; wrong credentials are refused until the simulator gives up.
local simh = require "spec.support.sim"
local openresty = require "spec.support.openresty"
local nginx = require "spec.support.nginx"
local fs = require "spec.support.fs"
local json = simh.json

local function today() return os.date("!%Y-%m-%d") end

-- An account with a subscription; invoice-collect then posts one invoice for it (the event).
local function subscribed_account(s)
  local acct = s:account()
  local function trigger(name) return { name = name, triggerDate = today() } end
  local r = s:post("/v1/orders", { orderDate = today(), existingAccountNumber = acct.accountNumber,
    subscriptions = { { orderActions = { { type = "CreateSubscription",
      triggerDates = { trigger "ContractEffective", trigger "ServiceActivation", trigger "CustomerAcceptance" },
      createSubscription = {
        terms = { initialTerm = { termType = "TERMED", period = 12, periodType = "Month", startDate = today() },
          renewalSetting = "RENEW_WITH_SPECIFIC_TERM", autoRenew = true,
          renewalTerms = { { period = 12, periodType = "Month" } } },
        subscribeToRatePlans = { { productRatePlanId = "8ad00000000000000000000000000201" } } } } } } } },
    { headers = { ["zuora-version"] = "2025-08-12" } })
  assert(r.status == 200, r.body)
  return acct.accountNumber
end

local function post_invoice(s)
  local account = subscribed_account(s)
  local r = s:post("/v1/operations/invoice-collect", { accountKey = account, targetDate = today(), collect = false })
  assert(r.status == 200 and r.json.invoiceId, r.body)
  return r.json.invoiceId, r.json.invoiceNumber
end

--- Polls the callout history of `object_id` until its delivery has ended (Success or Failed).
local function delivery(s, object_id, timeout)
  local rec
  for _ = 1, (timeout or 15) * 20 do
    local r = s:get("/v1/notification-history/callout?includeResponseContent=true&objectId=" .. object_id)
    assert(r.status == 200, r.body)
    rec = r.json.calloutHistories[1]
    if rec and (rec.status == "Success" or rec.status == "Failed") then return rec end
    fs.sleep(0.05)
  end
  error("the callout of " .. object_id .. " did not end: " .. json.encode(rec or {}))
end

local function distinct(list)
  local seen = {}
  for _, v in ipairs(list) do
    if seen[v] then return false end
    seen[v] = true
  end
  return true
end

describe("zuora-sim callouts to an nginx receiver (zuora.callouts)", function()
  local s, srv, redis_dir, redis_port, redis_pid

  local function start_redis()
    redis_dir = fs.tmpdir("redis")
    redis_port = nginx.free_port()
    fs.sh(("redis-server --port %d --bind 127.0.0.1 --save '' --appendonly no --dir %s --daemonize yes "
      .. "--pidfile %s/redis.pid --logfile %s/redis.log"):format(redis_port, fs.q(redis_dir), fs.q(redis_dir),
      fs.q(redis_dir)))
    for _ = 1, 200 do
      if nginx.listening(redis_port) then break end
      fs.sleep(0.02)
    end
    assert(nginx.listening(redis_port), "redis-server did not start: " .. (fs.read(redis_dir .. "/redis.log") or ""))
    redis_pid = tonumber((fs.read(redis_dir .. "/redis.pid") or ""):match("%d+"))
  end

  lazy_setup(function()
    start_redis()
    s = simh.start()
    srv = openresty.start{ workers = 2,
      vars = { sim = s.url, id = s.client_id, secret = s.client_secret, redis = redis_port },
      http = [==[
      lua_shared_dict zuora_tokens 1m;
      lua_shared_dict callouts 1m;
      lua_shared_dict seen 1m;
      lua_socket_log_errors off;
      init_worker_by_lua_block {
        local zuora = require "zuora"
        local callouts = require "zuora.callouts"
        local client = zuora.new{ base_url = "${sim}", client_id = "${id}", client_secret = "${secret}",
          token_cache = "zuora_tokens" }
        local seen = ngx.shared.seen
        -- The handler: fetches the invoice, then counts it as processed. "fail_next" makes its next
        -- runs fail (that many), "sleep_next" makes its next run that many seconds slow.
        local function handle(event, c)
          local id = event.params.InvoiceId
          seen:incr("runs:" .. id, 1, 0)
          local rids = (seen:get("rids:" .. id) or "") .. (event.request_id or "-") .. " "
          seen:set("rids:" .. id, rids)
          local slow = seen:get("sleep_next")
          if slow then seen:delete("sleep_next"); ngx.sleep(slow) end
          local inv, err = c.invoices.retrieve(id)
          if not inv then return nil, err end
          if (seen:get("fail_next") or 0) > 0 then
            seen:incr("fail_next", -1)
            error("simulated failure")
          end
          seen:incr("processed:" .. id, 1, 0)
          seen:set("number:" .. id, inv.invoiceNumber)
          return true
        end
        local key = function(e) return e.params.InvoiceId end
        local basic = { username = "zuora", password = "s3cret" }
        package.loaded.spec_receivers = {
          basic = callouts.new{ basic = basic, dedupe = { dict = "callouts" }, key = key, handle = handle,
            client = client },
          hmac = callouts.new{ hmac = { key = "hmac-key", header = "X-Zuora-Signature", algorithm = "sha256",
            data = "{{method}}\n{{path}}\n{{param.InvoiceId}}\n", prefix = "v1=", encoding = "base64" },
            dedupe = { dict = "callouts" }, key = key, handle = handle, client = client },
          after = callouts.new{ basic = basic, dedupe = { dict = "callouts" }, key = key, handle = handle,
            client = client, mode = "after" },
          redis = callouts.new{ basic = basic, dedupe = { redis = "redis://127.0.0.1:${redis}/3" }, key = key,
            handle = handle, client = client },
          -- An in-progress marker that expires after 1 s (a handler slower than lock_ttl).
          short = callouts.new{ basic = basic, dedupe = { dict = "callouts" }, key = key, handle = handle,
            client = client, lock_ttl = 1 },
          small = callouts.new{ basic = basic, dedupe = { dict = "callouts" }, key = key, handle = handle,
            client = client, max_body = 64 },
        }
      }
      server {
        listen 127.0.0.1:${port1};
        location ~ ^/callouts/(basic|hmac|after|redis|small|short)$ {
          content_by_lua_block { package.loaded.spec_receivers[ngx.var[1]]:serve() }
        }
        # Not a zuora.callouts receiver: 200 with a plain body (not what confirmSucFromResContent wants).
        location = /plain { return 200 "ok"; }
        location = /seen {
          content_by_lua_block {
            local id = ngx.var.arg_id
            local d = ngx.shared.seen
            ngx.say(require("zuora").json.encode{ runs = d:get("runs:" .. id) or 0,
              processed = d:get("processed:" .. id) or 0, number = d:get("number:" .. id),
              rids = d:get("rids:" .. id) or "" })
          }
        }
        location = /control {
          content_by_lua_block {
            ngx.shared.seen:set(ngx.var.arg_what, tonumber(ngx.var.arg_n))
          }
        }
      }
    ]==] }
  end)

  lazy_teardown(function()
    -- Everything is stopped first, so that a finding below leaves no process behind.
    local log = srv and srv:errlog() or ""
    if srv then srv:stop() end
    if s then s:stop() end
    if redis_pid then fs.sh("kill " .. redis_pid) end
    if redis_dir then fs.sh("sleep 0.2; rm -rf " .. fs.q(redis_dir)) end
    -- Nothing unexpected in the error log: only the refusals and handler failures the cases cause
    -- (and a start attempt on a port taken meanwhile, which the helper retries on another port).
    for line in log:gmatch("[^\n]+") do
      if not line:find("zuora.callouts: ", 1, true)
        and not line:find("%[emerg%].*bind%(%) to .* Address already in use") then
        error("unexpected in the error log: " .. line)
      end
    end
  end)

  local defs = {}
  before_each(function()
    s:config{ callout_retry_number = 4, callout_interval_time = 1, callout_interval_scale = 0.2,
      callout_timeout = 5, callout_confirm_suc_from_res_content = false }
  end)
  after_each(function()
    for _, id in ipairs(defs) do s:delete("/notifications/notification-definitions/" .. id) end
    defs = {}
  end)

  local function define(path, callout, extra)
    local body = { name = "Invoice posted to " .. path, eventTypeName = "InvoicePosted",
      callout = callout or { calloutBaseurl = srv.url .. path, httpMethod = "POST",
        calloutParams = { InvoiceId = "<parameter>InvoiceId</parameter>", AccountNumber = "Account.AccountNumber" },
        requiredAuth = true, calloutAuth = { username = "zuora", password = "s3cret" } } }
    for k, v in pairs(extra or {}) do body[k] = v end
    local r = s:post("/notifications/notification-definitions", body)
    assert(r.status == 200, r.body)
    defs[#defs + 1] = r.json.id
    return r.json
  end

  local function seen(id)
    local out = openresty.parallel{ { url = srv.url .. "/seen?id=" .. id } }
    local t = json.decode(out[1].body)
    t.runs, t.processed = json.tonumber(t.runs), json.tonumber(t.processed)
    return t
  end
  local function control(what, n)
    openresty.parallel{ { url = ("%s/control?what=%s&n=%s"):format(srv.url, what, n) } }
  end
  local function request_ids(rec)
    local out = {}
    for _, a in ipairs(rec.attempts) do out[#out + 1] = a.requestId end
    return out
  end

  it("posts an invoice, calls back with basic auth, and the handler fetches it: processed once", function()
    define("/callouts/basic")
    local id, number = post_invoice(s)
    local rec = delivery(s, id)
    assert.equals("Success", rec.status)
    assert.equals(1, json.tonumber(rec.attemptedNum))
    assert.equals(200, json.tonumber(rec.responseCode))
    assert.equals('{"success":true}', rec.responseContent)
    local got = seen(id)
    assert.equals(1, got.processed)
    assert.equals(number, got.number)
    assert.matches("^" .. rec.attempts[1].requestId .. " $", got.rids)
  end)

  it("answers 500 once: the retry comes with a new request id and the invoice is processed once", function()
    define("/callouts/basic")
    control("fail_next", 1)
    local id = post_invoice(s)
    local rec = delivery(s, id)
    local got = seen(id)
    assert.equals("Success", rec.status)
    assert.equals(2, json.tonumber(rec.attemptedNum))
    assert.equals(500, json.tonumber(rec.attempts[1].responseCode))
    assert.equals(200, json.tonumber(rec.attempts[2].responseCode))
    assert.is_true(distinct(request_ids(rec)))
    assert.equals(1, got.processed)
    assert.equals(2, got.runs)
  end)

  -- Posts an invoice; its callout must succeed at the first attempt and be processed once.
  local function delivered_once()
    local id = post_invoice(s)
    local rec = delivery(s, id)
    assert.equals("Success", rec.status)
    assert.equals(1, json.tonumber(rec.attemptedNum))
    assert.equals(1, seen(id).processed)
    return id, rec
  end

  -- A delivery whose first attempt times out (the handler's first run sleeps longer than the
  -- simulator waits); returns the invoice id and the ended delivery.
  local function slow_first(path, timeout, sleep)
    s:config{ callout_timeout = timeout, callout_retry_number = 20 }
    define(path)
    control("sleep_next", sleep)
    local id = post_invoice(s)
    return id, delivery(s, id)
  end

  it("times out on the first delivery: the retry finds it in progress, then done; processed once", function()
    local id, rec = slow_first("/callouts/basic", 0.5, 1.2)
    assert.equals("Success", rec.status)
    assert.is_true(json.tonumber(rec.attemptedNum) >= 2)
    assert.equals(json.null, rec.attempts[1].responseCode) -- no answer: timed out
    assert.matches("timeout", rec.attempts[1].error)
    -- While the first run was busy, retries were answered 409 (not 200: Zuora tries again).
    for i = 2, #rec.attempts - 1 do assert.equals(409, json.tonumber(rec.attempts[i].responseCode)) end
    assert.equals(200, json.tonumber(rec.attempts[#rec.attempts].responseCode))
    assert.is_true(distinct(request_ids(rec)))
    local got = seen(id)
    assert.equals(1, got.processed)
    assert.equals(1, got.runs)
  end)

  it("signs with HMAC from a callout template; the receiver checks it", function()
    local t = s:post("/notifications/callout-templates", { name = "Signed invoice callout",
      eventTypeName = "InvoicePosted", httpMethod = "POST", requestURL = srv.url .. "/callouts/hmac",
      requestBody = '{"InvoiceId": "{{DataSource.Invoice.Id}}", "InvoiceNumber": "{{Invoice.InvoiceNumber}}"}',
      hmac = { algorithm = "SHA-256", key = "hmac-key",
        data = "{{Request.Method}}\n{{Request.Path}}\n{{DataSource.Invoice.Id}}\n",
        signedHeaderKey = "X-Zuora-Signature", value = "v1={{Data.HMAC.Signed}}" } })
    assert.equals(200, t.status, t.body)
    assert.is_nil(t.json.hmac.key) -- the key is never echoed
    define("/callouts/hmac", nil, { calloutTemplateId = t.json.id, callout = json.null })
    local id, number = post_invoice(s)
    local rec = delivery(s, id)
    assert.equals("Success", rec.status)
    assert.equals(1, json.tonumber(rec.attemptedNum))
    local got = seen(id)
    assert.equals(1, got.processed)
    assert.equals(number, got.number)

    -- The same template with another key: every attempt refused with 401, nothing processed.
    local u = s:put("/notifications/callout-templates/" .. t.json.id, { hmac = { algorithm = "SHA-256",
      key = "not-the-key", data = "{{Request.Method}}\n{{Request.Path}}\n{{DataSource.Invoice.Id}}\n",
      signedHeaderKey = "X-Zuora-Signature", value = "v1={{Data.HMAC.Signed}}" } })
    assert.equals(200, u.status, u.body)
    id = post_invoice(s)
    rec = delivery(s, id)
    assert.equals("Failed", rec.status)
    assert.equals(5, json.tonumber(rec.attemptedNum))
    assert.equals(401, json.tonumber(rec.responseCode))
    assert.equals(0, seen(id).runs)
  end)

  it("with confirmSucFromResContent on: the receiver's JSON answer ends the callout at once", function()
    s:config{ callout_confirm_suc_from_res_content = true }
    define("/callouts/basic")
    delivered_once()
  end)

  it("a plain 200 ends the callout only while confirmSucFromResContent is off", function()
    define("/plain", { calloutBaseurl = srv.url .. "/plain", httpMethod = "POST",
      calloutParams = { InvoiceId = "Invoice.Id" } })
    local id = post_invoice(s)
    local rec = delivery(s, id)
    assert.equals("Success", rec.status)
    assert.equals(1, json.tonumber(rec.attemptedNum))

    s:config{ callout_confirm_suc_from_res_content = true }
    id = post_invoice(s)
    rec = delivery(s, id)
    assert.equals("Failed", rec.status)
    assert.equals(5, json.tonumber(rec.attemptedNum)) -- the first attempt and 4 retries
    assert.equals(200, json.tonumber(rec.responseCode))
  end)

  it("wrong credentials: 401 on every attempt until the simulator gives up, nothing processed", function()
    define("/callouts/basic", { calloutBaseurl = srv.url .. "/callouts/basic", httpMethod = "POST",
      calloutParams = { InvoiceId = "Invoice.Id" }, requiredAuth = true,
      calloutAuth = { username = "zuora", password = "hunter2" } })
    local id = post_invoice(s)
    local rec = delivery(s, id)
    assert.equals("Failed", rec.status)
    assert.equals(5, json.tonumber(rec.attemptedNum))
    for _, a in ipairs(rec.attempts) do assert.equals(401, json.tonumber(a.responseCode)) end
    assert.is_true(distinct(request_ids(rec)))
    assert.equals(0, seen(id).runs)
    -- Logged with the request id, without the password tried (plain or in the Authorization header).
    local log = srv:errlog()
    assert.truthy(log:find("401 wrong basic credentials (from 127.0.0.1, request id " .. rec.attempts[5].requestId,
      1, true))
    assert.is_nil(log:find("hunter2", 1, true))
    assert.is_nil(log:find("aHVudGVyMg", 1, true))
    assert.is_nil(log:find("zuora:hunter2", 1, true))
  end)

  it("de-duplicates through Redis: a resent callout is answered 200 without running the handler", function()
    define("/callouts/redis")
    local id = post_invoice(s)
    local rec = delivery(s, id)
    assert.equals("Success", rec.status)
    local r = s:post("/notifications/callout-histories/resend", { calloutIds = { rec.calloutId } })
    assert.equals(200, r.status, r.body)
    for _ = 1, 100 do
      rec = delivery(s, id)
      if #rec.attempts == 2 then break end
      fs.sleep(0.05)
    end
    assert.equals(2, #rec.attempts)
    assert.equals(200, json.tonumber(rec.attempts[2].responseCode))
    assert.are_not.equal(rec.attempts[1].requestId, rec.attempts[2].requestId)
    local got = seen(id)
    assert.equals(1, got.processed)
    assert.equals(1, got.runs)
    local keys = io.popen(("redis-cli -p %d -n 3 --scan --pattern 'zuora-callout:*'"):format(redis_port)):read("a")
    assert.matches("^zuora%-callout:%x+\n$", keys)
  end)

  it("mode \"after\": answers first, then the handler runs in a timer with the client", function()
    define("/callouts/after")
    local id, number = post_invoice(s)
    local rec = delivery(s, id)
    assert.equals("Success", rec.status)
    local got
    for _ = 1, 100 do
      got = seen(id)
      if got.processed == 1 then break end
      fs.sleep(0.05)
    end
    assert.equals(1, got.processed)
    assert.equals(number, got.number)
  end)

  it("fires on account created, payment processed and bill run completed too, with merge fields", function()
    s:config{ job_polls = 0 }
    local function plain(event, params)
      define("/plain", { calloutBaseurl = srv.url .. "/plain", httpMethod = "GET", calloutParams = params },
        { eventTypeName = event, name = event .. " to /plain" })
    end
    plain("AccountCreated", { AccountNumber = "Account.AccountNumber", Name = "Account.Name" })
    plain("PaymentProcessed", { PaymentNumber = "<parameter>PaymentNumber</parameter>", Amount = "Payment.Amount" })
    plain("BillRunCompleted", { BillRunNumber = "BillRun.BillRunNumber", Event = "EventType" })
    local acct = s:account{ name = "Callout & Co" }
    local rec = delivery(s, acct.accountId)
    assert.equals("Success", rec.status)
    assert.equals("AccountCreated", rec.eventCategory)
    assert.equals(srv.url .. "/plain?AccountNumber=" .. acct.accountNumber .. "&Name=Callout%20%26%20Co",
      rec.requestUrl)

    local p = s:post("/v1/payments", { accountId = acct.accountId, amount = 12.5, type = "External",
      effectiveDate = today() })
    assert.equals(200, p.status, p.body)
    rec = delivery(s, p.json.id)
    assert.equals("PaymentProcessed", rec.eventCategory)
    assert.equals(srv.url .. "/plain?Amount=12.5&PaymentNumber=" .. p.json.number, rec.requestUrl)

    local br = s:post("/v1/bill-runs", { targetDate = today(), autoPost = false })
    assert.equals(200, br.status, br.body)
    rec = delivery(s, br.json.id)
    assert.equals("BillRunCompleted", rec.eventCategory)
    assert.equals(srv.url .. "/plain?BillRunNumber=" .. br.json.billRunNumber .. "&Event=BillRunCompleted",
      rec.requestUrl)
    s:config{ job_polls = 2 }
  end)

  it("refuses definitions and templates that cannot call out", function()
    local r = s:post("/notifications/notification-definitions", { name = "x", eventTypeName = "InvoicePosted",
      callout = { calloutBaseurl = "http://example.com/hook" } })
    assert.equals(400, r.status)
    assert.matches("https://", r.body, 1, true)
    assert.equals("InvalidValue", r.json.reasons[1].code) -- the notifications API's string codes
    r = s:post("/notifications/notification-definitions", { name = "x", eventTypeName = "InvoicePosted",
      callout = { calloutBaseurl = "https://***" } })
    assert.equals(400, r.status)
    r = s:get("/notifications/notification-definitions/8f2c1e5a4b6d4e8f9a1b2c3d4e5f6a7b")
    assert.equals(404, r.status)
    assert.equals("ObjectNotFound", r.json.reasons[1].code)
    r = s:post("/notifications/notification-definitions", { eventTypeName = "InvoicePosted",
      callout = { calloutBaseurl = "https://example.com/hook" } })
    assert.equals(400, r.status)
    r = s:post("/notifications/callout-templates", { name = "t", eventTypeName = "InvoicePosted",
      requestURL = "https://example.com/hook", customHeaders = { { name = "X-A", value = "a\r\nB: b" } } })
    assert.equals(400, r.status)
    r = s:post("/notifications/callout-templates", { name = "t", eventTypeName = "InvoicePosted",
      requestURL = "https://example.com/hook", hmac = { algorithm = "MD5", key = "k" } })
    assert.equals(400, r.status)
    local d = define("/callouts/basic")
    assert.is_nil(d.callout.calloutAuth.password) -- stored, never echoed
    r = s:get("/notifications/notification-definitions/" .. d.id)
    assert.equals(200, r.status)
    assert.equals(srv.url .. "/callouts/basic", r.json.callout.calloutBaseurl)
  end)

  it("runs the handler once for concurrent deliveries of one event on two workers: one 200, the others 409",
    function()
      local id = post_invoice(s) -- no definition: the deliveries below are the only ones
      control("sleep_next", 1)
      local auth = "Basic " .. require("zuora.core").crypto.base64("zuora:s3cret")
      local reqs = {}
      for i = 1, 4 do
        reqs[i] = { method = "POST", url = srv.url .. "/callouts/basic", body = "InvoiceId=" .. id,
          headers = { Authorization = auth, ["Content-Type"] = "application/x-www-form-urlencoded",
            ["Zuora-Request-Id"] = "r" .. i } }
      end
      local codes = {}
      for _, r in ipairs(openresty.parallel(reqs)) do codes[#codes + 1] = r.status end
      table.sort(codes)
      assert.same({ 200, 409, 409, 409 }, codes)
      local got = seen(id)
      assert.equals(1, got.runs)
      assert.equals(1, got.processed)
      -- Afterwards every delivery is answered 200 without running it.
      local again = openresty.parallel{ reqs[1], reqs[2] }
      assert.equals(200, again[1].status)
      assert.equals(200, again[2].status)
      assert.equals(1, seen(id).runs)
    end)

  it("refuses a wrong method (405) and a body over max_body (413, from Content-Length) inside nginx", function()
    local auth = "Basic " .. require("zuora.core").crypto.base64("zuora:s3cret")
    local out = openresty.parallel{
      { method = "GET", url = srv.url .. "/callouts/basic?InvoiceId=x", headers = { Authorization = auth } },
      { method = "POST", url = srv.url .. "/callouts/small", body = "InvoiceId=" .. ("x"):rep(100),
        headers = { Authorization = auth, ["Content-Type"] = "application/x-www-form-urlencoded" } },
    }
    assert.equals(405, out[1].status)
    assert.equals(413, out[2].status)
    assert.matches("larger than 64 bytes", out[2].body, 1, true)
    assert.equals(0, seen(("x"):rep(100)).runs)
  end)

  it("sends basic credentials only when challenged when preemptive is false (one attempt)", function()
    define("/callouts/basic", { calloutBaseurl = srv.url .. "/callouts/basic", httpMethod = "POST",
      calloutParams = { InvoiceId = "Invoice.Id" }, requiredAuth = true,
      calloutAuth = { username = "zuora", password = "s3cret", preemptive = false } })
    delivered_once()
  end)

  it("lets a retry run the handler again once the in-progress marker has expired (lock_ttl)", function()
    local id, rec = slow_first("/callouts/short", 0.3, 2)
    assert.equals("Success", rec.status)
    local got = seen(id)
    -- The first run was still asleep when its marker expired: a retry ran the handler again.
    assert.equals(2, got.runs)
    local codes = {}
    for _, a in ipairs(rec.attempts) do codes[#codes + 1] = json.tonumber(a.responseCode) or 0 end
    assert.equals(0, codes[1]) -- timed out
    assert.equals(200, codes[#codes])
  end)
end)
