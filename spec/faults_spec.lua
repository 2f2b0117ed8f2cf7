-- The fault matrix: transport faults (build/faultproxy between the client and zuora-sim) and
-- HTTP-level faults (zuora-sim's control API) × {GET, POST create, PUT, DELETE, the OAuth token
-- request} × {plain Lua, inside a task}. Each cell asserts the outcome the client promises
-- (recovered within the retry budget, or a clear transport/timeout error), the attempts, the
-- requests the server saw (the simulator's log), the requests libcurl put on the wire (`sends`:
-- libcurl resends a request once by itself when a reused keep-alive connection died before any
-- byte of the answer), and for writes the objects created or removed: exactly one when the call
-- succeeds, at most one ever. Cells that time out must do so within 10% of `timeout`.
--
-- With ZUORA_MATRIX_OUT=path the results are also written there as a Markdown table
-- (`make fault-matrix` regenerates docs/fault-matrix.md that way).
local zuora = require "zuora"
local core = require "zuora.core"
local simh = require "spec.support.sim"
local simctl = require "spec.support.simctl"
local fp = require "spec.support.faultproxy"

local now = core.http.now

-- The timeout of every cell: large enough that 10% (100 ms) is meaningful on a loaded 2-core machine.
local T = 1.0

local ACCOUNT = { name = "Matrix Co", currency = "USD", billCycleDay = 1, autoPay = false,
  billToContact = { firstName = "Ada", lastName = "Lovelace", country = "US" } }

-- The operations. `x.acct` is an account number created for the cell.
local OPS = {
  { name = "GET", method = "GET", path = function(x) return "/v1/accounts/" .. x.acct end,
    call = function(c, x) return c.accounts.retrieve(x.acct) end },
  { name = "POST create", method = "POST", path = function() return "/v1/accounts" end, delta = 1,
    call = function(c) return c.accounts.create(ACCOUNT) end },
  { name = "PUT", method = "PUT", path = function(x) return "/v1/accounts/" .. x.acct end,
    call = function(c, x) return c.accounts.update(x.acct, { name = "Renamed Co" }) end },
  { name = "DELETE", method = "DELETE", path = function(x) return "/v1/accounts/" .. x.acct end, delta = -1,
    call = function(c, x) return c.accounts.delete(x.acct) end },
  -- The fault hits the token request the call needs first; the call itself is a GET.
  { name = "OAuth token", method = "POST", path = function() return "/oauth/token" end, token = true,
    call = function(c, x) return c.accounts.retrieve(x.acct) end },
}

local function is_token(op) return op.token == true end

-- Rows. `setup(x)` installs the fault for the cell's method and path; `expect(op)` is what the
-- client promises for that operation. Fields of an expectation:
--   ok | kind, reason, status, retryable   the outcome
--   attempts   the call's attempts (token cells: the call's own, the token retries are inside it)
--   server     requests of the operation the simulator saw (token cells: token requests)
--   sends      requests libcurl put on the wire for the call (meta.sends / err.sends)
--   proxy      requests the proxy saw (all of the cell's, token cells include the GET)
--   timed      attempts that ended in a timeout (each within 10% of T)
--   gone       a DELETE answered 404 after an earlier send may have done it: counted as done
-- Unless a row says `fresh`, the call's request travels on the kept-alive connection the token
-- request opened (the natural flow), so a connection that dies before any answer byte makes
-- libcurl send it once more on a new one; the token request itself is on a fresh connection.
local function rule(fault, count)
  return function(x) x.proxy:rule{ fault = fault, method = x.method, path = x.path, count = count } end
end
local function sim_fault(f)
  return function(x)
    local r = { method = x.method, path = x.path }
    for k, v in pairs(f) do r[k] = v end
    x.ctl:fault(r)
  end
end

local ONCE = {
  { name = "connection refused", why = "no listener until the first failure is reported",
    setup = function(x)
      x.proxy:refuse()
      x.on_error = function() x.proxy:listen() end
    end,
    expect = function(op)
      if is_token(op) then return { ok = true, token_attempts = 2, attempts = 1, server = 1, proxy = 2 } end
      return { ok = true, attempts = 2, server = 1, sends = 1, proxy = 1 }
    end },
  { name = "reset before the request is sent", setup = rule("reset_before", 1),
    expect = function(op)
      if is_token(op) then return { ok = true, token_attempts = 2, attempts = 1, server = 1, proxy = 3 } end
      return { ok = true, attempts = 1, server = 1, sends = 2, proxy = 2 } -- libcurl's own resend
    end },
  { name = "reset after the request is sent", setup = rule("reset_after", 1),
    expect = function(op)
      if is_token(op) then return { ok = true, token_attempts = 2, attempts = 1, server = 2, proxy = 3 } end
      return { ok = true, attempts = 1, server = 2, sends = 2, proxy = 2, gone = op.name == "DELETE" }
    end },
  { name = "reset mid-body", setup = rule("reset_body", 1),
    expect = function(op)
      if is_token(op) then return { ok = true, token_attempts = 2, attempts = 1, server = 2, proxy = 3 } end
      return { ok = true, attempts = 2, server = 2, sends = 2, proxy = 2, gone = op.name == "DELETE" }
    end },
  { name = "stalled server (headers, then silence)", setup = rule("stall", 1), timing = true,
    expect = function(op)
      if is_token(op) then return { ok = true, token_attempts = 2, attempts = 1, server = 2, proxy = 3, timed = 1 } end
      return { ok = true, attempts = 2, server = 2, sends = 2, proxy = 2, timed = 1, gone = op.name == "DELETE" }
    end },
  { name = "trickling server (1 byte/s)", setup = rule("trickle", 1), timing = true,
    expect = function(op)
      if is_token(op) then return { ok = true, token_attempts = 2, attempts = 1, server = 2, proxy = 3, timed = 1 } end
      return { ok = true, attempts = 2, server = 2, sends = 2, proxy = 2, timed = 1, gone = op.name == "DELETE" }
    end },
  { name = "truncated chunked body", setup = rule("truncate_chunked", 1),
    expect = function(op)
      if is_token(op) then return { ok = true, token_attempts = 2, attempts = 1, server = 2, proxy = 3 } end
      return { ok = true, attempts = 2, server = 2, sends = 2, proxy = 2, gone = op.name == "DELETE" }
    end },
  { name = "TLS handshake failure", tls = true, why = "an https URL whose server answers the ClientHello with an alert",
    expect = function(op)
      return { kind = "transport", reason = "tls", retryable = false, attempts = 1, server = 0, sends = 0,
        token_attempts = is_token(op) and 1 or nil }
    end },
  { name = "HTTP 503 (not processed)", setup = sim_fault{ status = 503, count = 1 },
    expect = function(op)
      if is_token(op) then return { ok = true, token_attempts = 2, attempts = 1, server = 2 } end
      return { ok = true, attempts = 2, server = 2, sends = 2 }
    end },
  { name = "HTTP 502 after processing", setup = sim_fault{ status = 502, phase = "after", count = 1 },
    expect = function(op)
      if is_token(op) then return { ok = true, token_attempts = 2, attempts = 1, server = 2 } end
      return { ok = true, attempts = 2, server = 2, sends = 2, gone = op.name == "DELETE" }
    end },
  { name = "HTML gateway page 502", setup = sim_fault{ action = "html", count = 1 },
    expect = function(op)
      if is_token(op) then return { ok = true, token_attempts = 2, attempts = 1, server = 2 } end
      return { ok = true, attempts = 2, server = 2, sends = 2 }
    end },
  { name = "429 with Retry-After: 999999", client = { retry_after_cap = 0.2 },
    why = "Retry-After is capped by retry_after_cap (0.2 s here, 60 s by default)",
    setup = sim_fault{ status = 429, headers = { ["Retry-After"] = 999999 }, count = 1 },
    expect = function(op)
      if is_token(op) then return { ok = true, token_attempts = 2, attempts = 1, server = 2, retry_in = 0.2 } end
      return { ok = true, attempts = 2, server = 2, sends = 2, retry_in = 0.2 }
    end },
  { name = "empty reply after processing", setup = sim_fault{ action = "reset", phase = "after", count = 1 },
    expect = function(op)
      if is_token(op) then return { ok = true, token_attempts = 2, attempts = 1, server = 2 } end
      return { ok = true, attempts = 1, server = 2, sends = 2, gone = op.name == "DELETE" } -- libcurl's resend
    end },
  { name = "truncated body after processing", setup = sim_fault{ action = "truncate", phase = "after", count = 1 },
    expect = function(op)
      if is_token(op) then return { ok = true, token_attempts = 2, attempts = 1, server = 2 } end
      return { ok = true, attempts = 2, server = 2, sends = 2, gone = op.name == "DELETE" }
    end },
  { name = "HTTP 500 (not retryable)", setup = sim_fault{ status = 500, count = 1 },
    expect = function(op)
      -- The token endpoint's 5xx is retried (a token request changes nothing); an API 500 is final.
      if is_token(op) then return { ok = true, token_attempts = 2, attempts = 1, server = 2 } end
      return { kind = "api", status = 500, retryable = false, attempts = 1, server = 1, sends = 1 }
    end },
}

-- The same faults on a fresh connection (HTTP basic, nothing sent before): libcurl cannot resend.
local FRESH = {
  { name = "reset before the request is sent (fresh connection)", fresh = true, setup = rule("reset_before", 1),
    expect = function() return { ok = true, attempts = 2, server = 1, sends = 2, proxy = 2 } end },
  { name = "reset after the request is sent (fresh connection)", fresh = true, setup = rule("reset_after", 1),
    expect = function(op)
      return { ok = true, attempts = 2, server = 2, sends = 2, proxy = 2, gone = op.name == "DELETE" }
    end },
}

-- Faults that do not go away: the retry budget (max_retries = 2) runs out with a clear error, and
-- a write still happened at most once.
local FOREVER = {
  { name = "connection refused (persistent)", client = { max_retries = 2 },
    setup = function(x) x.proxy:refuse() end,
    expect = function(op)
      if is_token(op) then return { kind = "transport", token_attempts = 3, attempts = 1, server = 0, proxy = 0 } end
      return { kind = "transport", retryable = true, attempts = 3, server = 0, sends = 0, proxy = 0 }
    end },
  { name = "reset before the request is sent (persistent)", client = { max_retries = 2 }, setup = rule("reset_before"),
    expect = function(op)
      if is_token(op) then return { kind = "transport", token_attempts = 3, attempts = 1, server = 0, proxy = 3 } end
      -- the first attempt is resent by libcurl (it was on a reused connection), the others are fresh
      return { kind = "transport", attempts = 3, server = 0, sends = 4, proxy = 4 }
    end },
  { name = "reset after the request is sent (persistent)", client = { max_retries = 2 }, setup = rule("reset_after"),
    expect = function(op)
      if is_token(op) then return { kind = "transport", token_attempts = 3, attempts = 1, server = 3, proxy = 3 } end
      return { kind = "transport", attempts = 3, server = 4, sends = 4, proxy = 4 }
    end },
  { name = "stalled server (persistent)", client = { max_retries = 1 }, setup = rule("stall"), timing = true,
    ops = { GET = true, ["POST create"] = true, ["OAuth token"] = true },
    expect = function(op)
      if is_token(op) then
        return { kind = "timeout", token_attempts = 2, attempts = 1, server = 2, proxy = 2, timed = 2 }
      end
      return { kind = "timeout", retryable = true, attempts = 2, server = 2, sends = 2, proxy = 2, timed = 2 }
    end },
  { name = "HTTP 503 (persistent)", client = { max_retries = 2 }, setup = sim_fault{ status = 503 },
    expect = function(op)
      if is_token(op) then
        return { kind = "api", status = 503, retryable = true, token_attempts = 3, attempts = 1, server = 3 }
      end
      return { kind = "api", status = 503, retryable = true, attempts = 3, server = 3, sends = 3 }
    end },
}

local results = {} -- for ZUORA_MATRIX_OUT

describe("fault matrix", function()
  local s, ctl, proxy, tlsproxy

  lazy_setup(function()
    s = simh.start()
    ctl = simctl.new(s)
    proxy = fp.start(s.url)
    tlsproxy = fp.start(s.url)
    tlsproxy:rule{ fault = "tls_alert" }
  end)

  lazy_teardown(function()
    if proxy then proxy:stop() end
    if tlsproxy then tlsproxy:stop() end
    if ctl then ctl:close() end
    if s then s:stop() end
    local out = os.getenv("ZUORA_MATRIX_OUT")
    if out and #results > 0 then
      require("spec.support.matrix_doc").write(out, results)
    end
  end)

  -- Runs one cell; returns what happened (the fields of an expectation) and a label.
  local function run_cell(row, op, mode)
    ctl:reset()
    proxy:clear()
    proxy:listen()
    local x = { ctl = ctl, proxy = proxy, method = op.method }
    x.acct = ctl:account().accountNumber
    x.path = op.path(x)
    local before = ctl:state().accounts

    local events, open = {}, {}
    local opts = { base_url = row.tls and tlsproxy.https_url or proxy.url, timeout = T, connect_timeout = T,
      retry_base = 0.01, retry_cap = 0.02 }
    if (row.fresh or row.tls) and not is_token(op) then
      opts.username, opts.password = s.username, s.password
    else
      opts.client_id, opts.client_secret = s.client_id, s.client_secret
    end
    for k, v in pairs(row.client or {}) do opts[k] = v end
    opts.on_request = function(ev)
      open[ev.token_request and "token" or "call"] = now()
    end
    opts.on_response = function(ev)
      local key = ev.token_request and "token" or "call"
      events[#events + 1] = { token = ev.token_request, attempt = ev.attempt, error = ev.error, retry_in = ev.retry_in,
        took = now() - (open[key] or now()) }
      if ev.error and x.on_error then
        local f = x.on_error
        x.on_error = nil
        f()
      end
    end
    local c = zuora.new(opts)
    if not is_token(op) and not row.fresh and not row.tls then assert(c:ensure_token()) end
    ctl:clear_requests()
    proxy:clear()
    if row.setup then row.setup(x) end

    local res, err, meta
    if mode == "task" then
      res, err, meta = c:spawn(function() return op.call(c, x) end):wait()
    else
      res, err, meta = op.call(c, x)
    end
    c:close()

    local got = {
      ok = res ~= nil or nil,
      kind = err and err.kind, reason = err and err.reason, status = err and err.status,
      retryable = err and err.retryable,
      attempts = (meta or err or {}).attempts,
      sends = (meta or err or {}).sends,
      server = ctl:count(op.method, x.path),
      proxy = proxy:stats().requests,
      objects = ctl:state().accounts - before,
      gone = meta and meta.gone or false,
      timed = 0, took = {}, err = err, res = res, x = x, token_attempts = 0,
    }
    if row.tls then got.proxy = nil end
    for _, ev in ipairs(events) do
      if ev.token then got.token_attempts = got.token_attempts + 1 end
      if ev.error and ev.error.kind == "timeout" then
        got.timed = got.timed + 1
        got.took[#got.took + 1] = ev.took
      end
      if ev.retry_in and ev.retry_in > 0.1 then got.retry_in = ev.retry_in end
    end
    if is_token(op) then got.get = ctl:count("GET", "/v1/accounts/" .. x.acct) end
    return got
  end

  local function check(row, op, mode, got)
    local want = row.expect(op)
    local label = ("[%s | %s | %s]"):format(row.name, op.name, mode)
    local function eq(field, expected)
      assert(got[field] == expected, ("%s %s: expected %s, got %s (%s)"):format(label, field, tostring(expected),
        tostring(got[field]), tostring(got.err)))
    end
    if want.ok then
      eq("ok", true)
    else
      eq("ok", nil)
      eq("kind", want.kind)
      if want.reason then eq("reason", want.reason) end
      if want.status then eq("status", want.status) end
      if want.retryable ~= nil then eq("retryable", want.retryable) end
      assert(not tostring(got.err):find(s.client_secret, 1, true), label .. " error shows the secret")
    end
    eq("attempts", want.attempts)
    eq("server", want.server)
    if want.sends and not is_token(op) then eq("sends", want.sends) end
    if want.proxy then eq("proxy", want.proxy) end
    eq("timed", want.timed or 0)
    for _, took in ipairs(got.took) do
      assert(took >= T * 0.99 and took <= T * 1.1,
        ("%s a timeout fired after %.3f s (timeout %.1f s)"):format(label, took, T))
    end
    if want.retry_in then
      assert(got.retry_in and math.abs(got.retry_in - want.retry_in) < 1e-9,
        label .. " retry_in " .. tostring(got.retry_in))
    end
    -- Objects: exactly the operation's effect when it succeeded, at most one ever.
    local delta = op.delta or 0
    if want.ok then
      eq("objects", delta)
    else
      assert(got.objects == 0 or got.objects == delta, label .. " objects " .. got.objects)
      local processed = got.server > 0 and not (want.status == 503 or want.status == 500)
      if op.delta and processed then eq("objects", delta) end
      if not processed then eq("objects", 0) end
    end
    if op.name == "DELETE" then eq("gone", want.gone or false) end
    if is_token(op) then
      eq("get", want.ok and 1 or 0)
      eq("token_attempts", want.token_attempts)
    end
    if op.name == "POST create" and want.ok then
      -- every answer the server gave (first or replayed) names the one account the call returned
      for _, e in ipairs(ctl:requests{ method = "POST", path = "/v1/accounts" }) do
        local body = e.response_body and core.json.decode(e.response_body)
        if body and body.success then assert.equals(got.res.accountId, body.accountId) end
      end
    end
    results[#results + 1] = { row = row.name, op = op.name, mode = mode, want = want, got = got, timeout = T }
  end

  local function matrix(title, rows)
    describe(title, function()
      for _, row in ipairs(rows) do
        for _, mode in ipairs{ "plain", "task" } do
          local tag = row.timing and " #timing" or ""
          it(row.name .. " (" .. mode .. ")" .. tag, function()
            for _, op in ipairs(OPS) do
              if not row.ops or row.ops[op.name] then
                if not (row.fresh and is_token(op)) then
                  check(row, op, mode, run_cell(row, op, mode))
                end
              end
            end
          end)
        end
      end
    end)
  end

  describe("requests that must not be repeated", function()
    -- Zuora Revenue honours no Idempotency-Key, so an upload that reached the server must not be
    -- sent again: not by the client, and not by libcurl's own resend on a dead reused connection.
    -- Such requests travel on a connection of their own (fresh_connect).
    local CSV = "SO_NUM,SO_LINE_NUM,SO_BOOK_DATE,EXT_SELL_PRICE,CURRENCY\nSO-1,1,2024-01-31,10.00,USD\n"

    for _, mode in ipairs{ "plain", "task" } do
      it("sends a Revenue upload once when the answer is lost (" .. mode .. ")", function()
        ctl:reset()
        proxy:clear()
        local rev = zuora.revenue.new{ base_url = proxy.url, username = s.username, password = s.password,
          retry_base = 0.01, retry_cap = 0.02, timeout = T }
        assert(rev:request("GET", "/api/integration/v1/revenue-orgs")) -- authenticated, connection kept alive
        proxy:clear()
        proxy:rule{ fault = "reset_after", method = "POST", path = "/api/integration/v1/csv/upload", count = 1 }
        local function upload()
          return rev:request("POST", "/api/integration/v1/csv/upload", { body = CSV, content_type = "text/plain",
            headers = { templatename = "SIM Transactions", filename = "f.csv" } })
        end
        local res, err
        if mode == "task" then res, err = rev:spawn(upload):wait() else res, err = upload() end
        rev:close()
        assert.is_nil(res)
        assert.equals("transport", err.kind)
        assert.is_false(err.retryable)
        assert.equals(1, err.sends)
        assert.equals(1, ctl:count("POST", "/api/integration/v1/csv/upload"))
        assert.equals(1, proxy:stats().requests)
      end)
    end

    it("says when a failed create may have been done, and its key gets the first answer later", function()
      ctl:reset()
      proxy:clear()
      local c = zuora.new{ base_url = proxy.url, client_id = s.client_id, client_secret = s.client_secret,
        timeout = T, max_retries = 0 }
      assert(c:ensure_token())
      proxy:clear()
      -- the simulator makes the account and answers; the proxy stalls the answer past the timeout
      proxy:rule{ fault = "stall", method = "POST", path = "/v1/accounts", count = 1 }
      local res, err = c.accounts.create(ACCOUNT)
      assert.is_nil(res)
      assert.equals("timeout", err.kind)
      assert.is_true(err.outcome_unknown)
      assert.matches("outcome unknown", tostring(err), 1, true)
      assert.is_string(err.idempotency_key)
      assert.equals(1, ctl:state().accounts)
      local again = assert(c.accounts.create(ACCOUNT, { idempotency_key = err.idempotency_key }))
      assert.equals(1, ctl:state().accounts) -- answered from the first attempt, not made twice
      assert.equals(ACCOUNT.name, assert(c.accounts.retrieve(again.accountId)).basicInfo.name)
      c:close()
      -- a call that simply fails (the answer came) is not in doubt
      local c2 = zuora.new{ base_url = proxy.url, client_id = s.client_id, client_secret = s.client_secret }
      local _, bad = c2.accounts.create({ name = "No currency" })
      c2:close()
      assert.equals("api", bad.kind)
      assert.is_nil(bad.outcome_unknown)
    end)

    it("lets libcurl resend a Billing create, whose Idempotency-Key makes the repeat harmless", function()
      ctl:reset()
      proxy:clear()
      local c = zuora.new{ base_url = proxy.url, client_id = s.client_id, client_secret = s.client_secret }
      assert(c:ensure_token())
      proxy:clear()
      proxy:rule{ fault = "reset_after", method = "POST", path = "/v1/accounts", count = 1 }
      local res, _, meta = c.accounts.create(ACCOUNT)
      c:close()
      assert.is_table(res)
      assert.equals(2, meta.sends)
      assert.equals(2, ctl:count("POST", "/v1/accounts"))
      assert.equals(1, ctl:state().accounts)
    end)
  end)

  describe("faults in concurrent tasks (client:map)", function()
    -- Four calls at once, each meeting its own fault: each recovers as it does alone, none holds
    -- the others up (the whole map takes about one timeout, not the sum), and the objects come
    -- out right. Attempts may differ from the one-cell runs (which connection a call gets, and so
    -- whether libcurl resends, depends on the others), the requests the server saw do not.
    it("recovers every call, with the same server-side counts", function()
      ctl:reset()
      proxy:clear()
      proxy:listen()
      local get, put, del = ctl:account().accountNumber, ctl:account().accountNumber, ctl:account().accountNumber
      local before = ctl:state().accounts
      local c = zuora.new{ base_url = proxy.url, client_id = s.client_id, client_secret = s.client_secret,
        timeout = T, connect_timeout = T, retry_base = 0.01, retry_cap = 0.02 }
      assert(c:ensure_token())
      ctl:clear_requests()
      proxy:clear()
      proxy:rule{ fault = "stall", method = "GET", path = "/v1/accounts/" .. get, count = 1 }
      proxy:rule{ fault = "reset_after", method = "POST", path = "/v1/accounts", count = 1 }
      proxy:rule{ fault = "reset_body", method = "PUT", path = "/v1/accounts/" .. put, count = 1 }
      proxy:rule{ fault = "truncate_chunked", method = "DELETE", path = "/v1/accounts/" .. del, count = 1 }
      local calls = {
        function() return c.accounts.retrieve(get) end,
        function() return c.accounts.create(ACCOUNT) end,
        function() return c.accounts.update(put, { name = "Renamed Co" }) end,
        function() return c.accounts.delete(del) end,
      }
      local t0 = now()
      local got, errs = c:map(calls, function(fn) return fn() end, { concurrency = 4 })
      local took = now() - t0
      c:close()
      for i = 1, 4 do assert(got[i], "call " .. i .. ": " .. tostring(errs[i])) end
      assert.equals(get, got[1].basicInfo.accountNumber)
      assert.is_true(took < T * 1.5, "the map took " .. took .. " s")
      assert.equals(2, ctl:count("GET", "/v1/accounts/" .. get))
      assert.equals(2, ctl:count("POST", "/v1/accounts"))
      assert.equals(2, ctl:count("PUT", "/v1/accounts/" .. put))
      assert.equals(2, ctl:count("DELETE", "/v1/accounts/" .. del))
      assert.equals(before, ctl:state().accounts) -- one created, one deleted
    end)
  end)

  describe("a server that never completes the TCP handshake", function()
    -- The blackhole port's accept queue is full, so the kernel drops the SYN and connect hangs:
    -- only connect_timeout can end it (timeout is left long to show which one fires). Nothing
    -- reached a server, so the create is tried again like any request that was never sent.
    for _, mode in ipairs{ "plain", "task" } do
      it("gives up after connect_timeout, within 10%, and retries like any unsent request (" .. mode .. ")",
        function()
          local c = zuora.new{ base_url = proxy:blackhole_url(), token = "blackhole-token", connect_timeout = T,
            timeout = 30, max_retries = 1, retry_base = 0.01, retry_cap = 0.02 }
          local function call() return c.accounts.create(ACCOUNT) end
          local t0 = now()
          local res, err
          if mode == "task" then res, err = c:spawn(call):wait() else res, err = call() end
          local took = now() - t0
          c:close()
          assert.is_nil(res)
          assert.equals("timeout", err.kind)
          assert.equals(2, err.attempts)
          assert.equals(0, err.sends)
          -- two attempts of T each, plus a backoff of at most 20 ms
          assert.is_true(took >= 2 * T * 0.99 and took <= 2 * T * 1.1 + 0.02,
            ("two connect timeouts of %.1f s took %.3f s"):format(T, took))
        end)
    end
  end)

  matrix("faults that happen once", ONCE)
  matrix("faults on a fresh connection", FRESH)
  matrix("faults that persist", FOREVER)
end)
