-- No write done twice (curl runtime, against zuora-sim). Zuora's actions (renew, apply,
-- write-off, ...) are PUTs that act each time they arrive and take no Idempotency-Key. When the
-- answer to one is lost — the server did the work and then reset the connection, or took longer
-- than the client's timeout — the client must neither repeat it itself nor let libcurl resend it:
-- the work is done exactly once, and the call either succeeds or fails with outcome_unknown.
-- Each case runs through the operation object and through client:request("PUT", ...).
local zuora = require "zuora"
local simh = require "spec.support.sim"
local simctl = require "spec.support.simctl"
local core = require "zuora.core"

local json = simh.json
local PLAN_BASIC = "8ad00000000000000000000000000201"

local function n(v) return tonumber(json.number_text(v)) end

describe("no write done twice", function()
  local s, ctl

  lazy_setup(function()
    s = simh.start()
    ctl = simctl.new(s)
  end)
  lazy_teardown(function() if s then s:stop() end end)
  before_each(function()
    s:reset()
    s:config{ today = "2024-01-15", job_polls = 1 }
  end)

  local function client(opts) return s:client(opts) end

  local function subscription(account_number)
    local res = s:post("/v1/orders", { orderDate = "2024-01-01", existingAccountNumber = account_number,
      subscriptions = { { orderActions = { { type = "CreateSubscription",
        triggerDates = { { name = "ContractEffective", triggerDate = "2024-01-01" } },
        createSubscription = { terms = { initialTerm = { termType = "TERMED", period = 12, periodType = "Month" },
          renewalSetting = "RENEW_WITH_SPECIFIC_TERM", autoRenew = true,
          renewalTerms = { { period = 12, periodType = "Month" } } },
          subscribeToRatePlans = { { productRatePlanId = PLAN_BASIC } } } } } } } },
      { headers = { ["zuora-version"] = "2025-08-12" } })
    assert.equals(200, res.status, res.body)
    return res.json.subscriptions[1].subscriptionNumber
  end

  -- A posted invoice of the account (a bill run through 2024-02-15: 99.98).
  local function invoice(acct)
    local br = s:post("/v1/bill-runs", { targetDate = "2024-02-15", autoPost = true,
      billRunFilters = { { filterType = "Account", accountId = acct.accountId } } })
    assert.equals(200, br.status, br.body)
    for _ = 1, 5 do
      local st = s:get("/v1/bill-runs/" .. br.json.id).json.status
      if st == "Posted" or st == "Completed" then break end
    end
    local docs = s:get("/v1/billing-documents?accountId=" .. acct.accountId .. "&documentType=Invoice").json
    assert.equals(1, #docs.documents)
    return docs.documents[1]
  end

  -- The faults of the issue: the answer lost after the work was done, and an answer slower than
  -- the client's timeout.
  local FAULTS = {
    { name = "a reset after the work", rule = { phase = "after", action = "reset", count = 1 } },
    { name = "an answer slower than the timeout", rule = { latency = 1.5, count = 1 }, opts = { timeout = 1 } },
  }

  -- Runs `call(c)` under `fault` on `method` + `glob`; checks the call's outcome and that the
  -- server saw the request exactly once. Returns the call's results.
  local function under_fault(fault, method, glob, call)
    local o = { on_request = function() end }
    for k, v in pairs(fault.opts or {}) do o[k] = v end
    local c = client(o)
    assert(c:ensure_token())
    local rule = { method = method, path = glob }
    for k, v in pairs(fault.rule) do rule[k] = v end
    local since = ctl:requests{ method = method, path = glob }
    ctl:fault(rule)
    local res, err = call(c)
    if fault.rule.latency then
      -- the server finishes the work after the client gave up: wait for it before looking
      local t0 = core.http.now()
      while core.http.now() - t0 < fault.rule.latency + 1 and #ctl:requests{ method = method, path = glob } == #since do
        c:sleep(0.05)
      end
      c:sleep(fault.rule.latency)
    end
    c:close()
    assert.equals(#since + 1, #ctl:requests{ method = method, path = glob }, "the server saw the request once")
    if res == nil then
      assert.is_true(err.outcome_unknown, tostring(err))
      assert.equals(1, err.attempts)
      assert.equals(1, err.sends)
      assert.is_false(err.retryable)
      assert.matches("outcome unknown", tostring(err))
    end
    return res, err
  end

  local WAYS = {
    { name = "the operation", renew = function(c, sub) return c.subscriptions.renew(sub, {}) end,
      apply = function(c, id, body) return c.payments.apply(id, body) end,
      write_off = function(c, id) return c.invoices.write_off(id, {}) end },
    { name = "client:request(\"PUT\", ...)",
      renew = function(c, sub) return c:request("PUT", "/v1/subscriptions/" .. sub .. "/renew", { body = {} }) end,
      apply = function(c, id, body)
        return c:request("PUT", "/v1/payments/{id}/apply", { path = { id = id }, body = body })
      end,
      write_off = function(c, id) return c:request("PUT", "/v1/invoices/" .. id .. "/write-off", { body = {} }) end },
  }

  for _, fault in ipairs(FAULTS) do
    for _, way in ipairs(WAYS) do
      describe("with " .. fault.name .. ", through " .. way.name, function()
        it("renews a subscription once: the term end moves exactly 12 months", function()
          local acct = s:account()
          local sub = subscription(acct.accountNumber)
          assert.equals("2025-01-01", s:get("/v1/subscriptions/" .. sub).json.termEndDate)
          under_fault(fault, "PUT", "/v1/subscriptions/*/renew", function(c) return way.renew(c, sub) end)
          assert.equals("2026-01-01", s:get("/v1/subscriptions/" .. sub).json.termEndDate)
        end)

        it("applies a payment once", function()
          local acct = s:account()
          subscription(acct.accountNumber)
          local inv = invoice(acct)
          assert.equals(99.98, n(inv.balance))
          -- enough unapplied money for two applications: a second one would go through
          local pay = s:post("/v1/payments", { accountId = acct.accountId, amount = 100, currency = "USD",
            type = "External", effectiveDate = "2024-01-15" }).json
          assert.equals("Processed", pay.status)
          under_fault(fault, "PUT", "/v1/payments/*/apply", function(c)
            return way.apply(c, pay.id, { effectiveDate = "2024-01-15",
              invoices = { { invoiceId = inv.id, amount = 10 } } })
          end)
          assert.equals(89.98, n(s:get("/v1/invoices/" .. inv.id).json.balance))
          local p = s:get("/v1/payments/" .. pay.id).json
          assert.equals(10, n(p.appliedAmount))
          assert.equals(90, n(p.unappliedAmount))
        end)

        it("writes an invoice off once", function()
          local acct = s:account()
          subscription(acct.accountNumber)
          local inv = invoice(acct)
          under_fault(fault, "PUT", "/v1/invoices/*/write-off", function(c) return way.write_off(c, inv.id) end)
          assert.equals(0, n(s:get("/v1/invoices/" .. inv.id).json.balance))
          local memos = s:get("/v1/credit-memos?accountId=" .. acct.accountId).json.creditmemos
          assert.equals(1, #memos)
        end)
      end)
    end
  end

  it("still repeats an idempotent PUT whose answer was lost, and a request that never left", function()
    local acct = s:account()
    local c = client()
    ctl:fault{ method = "PUT", path = "/v1/accounts/*", phase = "after", action = "reset", count = 1 }
    local res, err = c.accounts.update(acct.accountNumber, { notes = "twice is fine" })
    assert(res, tostring(err))
    assert.equals("twice is fine", s:get("/v1/accounts/" .. acct.accountNumber).json.basicInfo.notes)
    c:close()
    -- nothing listens on this port: refused before sending, so even a renew may be tried again
    local dead = zuora.new{ base_url = "http://127.0.0.1:9", token = "t", retry_base = 0.01, retry_cap = 0.02,
      max_retries = 2 }
    local r, e = dead.subscriptions.renew("S1", {})
    assert.is_nil(r)
    assert.equals(3, e.attempts)
    assert.equals(0, e.sends)
    assert.is_nil(e.outcome_unknown)
    dead:close()
  end)

  it("treats a PUT or DELETE outside the catalogue as unsafe unless the caller says idempotent = true",
    function()
      local c = client()
      assert(c:ensure_token())
      for _, case in ipairs { { opts = {}, want = 1 }, { opts = { idempotent = true }, want = 2 } } do
        s:clear_requests()
        ctl:fault{ method = "PUT", path = "/v1/not-in-catalogue", phase = "before", action = "reset", count = 1 }
        local o = { body = {} }
        for k, v in pairs(case.opts) do o[k] = v end
        local _, err = c:request("PUT", "/v1/not-in-catalogue", o)
        assert.equals(case.want, #ctl:requests{ method = "PUT", path = "/v1/not-in-catalogue" })
        if case.want == 1 then assert.is_true(err.outcome_unknown) end
      end
      assert.has_error(function() c:request("PUT", "/v1/x", { idempotent = "yes" }) end)
      c:close()
    end)

  it("waits a bounded time, or none, for every hostile Retry-After, and never raises out of a call", function()
    local c = client{ retry_after_cap = 0.2, max_retries = 1 }
    assert(c:ensure_token())
    for _, value in ipairs { "Mon, 01 Jan 99999999999 00:00:00 GMT", "Mon, 45 Jan 2024 00:00:00 GMT",
      "Mon, 01 Jan 2024 25:61:61 GMT", "-5", "nan", "inf", "-inf", "1e999", "-1e999", ("9"):rep(400), "soon" } do
      ctl:fault{ method = "GET", path = "/v1/accounts/*", status = 429, count = 2,
        headers = { ["Retry-After"] = value } }
      local t0 = core.http.now()
      local ok, res, err = pcall(c.accounts.retrieve, "A-NOPE")
      local took = core.http.now() - t0
      assert.is_true(ok, value .. ": " .. tostring(res))
      assert.is_nil(res, value)
      assert.equals(429, err.status, value)
      assert.equals(2, err.attempts, value)
      assert.is_true(took < 1.5, value .. " took " .. took)
      ctl:clear_faults()
    end
    c:close()
  end)

  it("bounds a whole call, retries and waits included, by its deadline", function()
    local acct = s:account()
    for _, case in ipairs { { client = { deadline = 1 } }, { call = { deadline = 1 } } } do
      local c = client(case.client or {})
      assert(c:ensure_token())
      ctl:fault{ method = "GET", path = "/v1/accounts/*", latency = 0.6, count = 10 }
      local t0 = core.http.now()
      local res, err = c.accounts.retrieve(acct.accountNumber, nil, { timeout = 0.4, deadline = case.call and 1 })
      local took = core.http.now() - t0
      assert.is_nil(res)
      assert.equals("timeout", err.kind)
      assert.is_true(took >= 0.8 and took < 1.4, "took " .. took)
      assert.is_true(err.attempts >= 2)
      assert.is_true(err.deadline)
      assert.equals(require("zuora.hints").DEADLINE, err.hint)
      ctl:clear_faults()
      c:close()
    end
    assert.has_error(function() client():request("GET", "/v1/accounts", { deadline = 0 }) end)
  end)

  it("takes token requests and Data Query result files through the same attempt loop (hooks see them)", function()
    s:account()
    local seen = {}
    local c = client{ on_response = function(e)
      seen[#seen + 1] = (e.token_request and "token " or e.download and "file " or "api ") .. e.method .. " "
        .. tostring(e.status) .. (e.retry_in and " retry" or "")
    end }
    ctl:fault{ origin = "files", status = 503, count = 1 }
    local rows = assert(c:data_query("SELECT accountnumber FROM account", { interval = 0.01 }))
    local count = 0
    for _ in rows do count = count + 1 end
    assert.is_true(count >= 1)
    c:close()
    assert.equals("token POST 200", seen[1])
    assert.equals("api POST 200", seen[2]) -- the job's submission
    assert.equals("file GET 503 retry", seen[#seen - 1])
    assert.equals("file GET 200", seen[#seen])
  end)
end)
