-- The client pipeline against zuora-sim over real HTTP: credentials, headers, errors, retries,
-- idempotency, encoding, redaction and TLS.
local zuora = require "zuora"
local simh = require "spec.support.sim"
local core = require "zuora.core"

local sj = require("spec.support.sim").json

local now = core.http.now

describe("zuora client", function()
  local s

  lazy_setup(function() s = simh.start() end)
  lazy_teardown(function() if s then s:stop() end end)
  before_each(function() s:reset() end)

  -- A client on the simulator with OAuth (unless `creds` says otherwise) and fast backoff.
  local function client(opts, creds)
    local o = { base_url = s.url, retry_base = 0.01, retry_cap = 0.05 }
    creds = creds or { client_id = s.client_id, client_secret = s.client_secret }
    for k, v in pairs(creds) do o[k] = v end
    for k, v in pairs(opts or {}) do o[k] = v end
    return zuora.new(o)
  end

  local function log(method, path)
    return s:requests{ method = method, path = path }
  end

  local function count(method, path)
    return #log(method, path)
  end

  local ACCOUNT = {
    name = "Acme", currency = "USD", billCycleDay = 1, autoPay = false,
    billToContact = { firstName = "Ada", lastName = "Lovelace", country = "United States", state = "CA" },
  }

  describe("credentials", function()
    it("fetches one OAuth token and reuses it across many calls", function()
      local c = client()
      for _ = 1, 25 do assert(c:request("GET", "/v1/catalog/products")) end
      assert.equals(1, count("POST", "/oauth/token"))
      assert.equals(25, count("GET", "/v1/catalog/products"))
      for _, r in ipairs(log("GET", "/v1/catalog/products")) do
        assert.matches("^Bearer ", r.headers.authorization)
      end
    end)

    it("refreshes a short-lived token before it expires, so no call meets a 401", function()
      s:config{ token_ttl = 2 }
      local c = client()
      assert(c:request("GET", "/v1/catalog/products"))
      -- lifetime 2 s: the client treats it as expired after 1 s (half its life), before Zuora does
      c:sleep(1.2)
      assert(c:request("GET", "/v1/catalog/products"))
      assert.equals(2, count("POST", "/oauth/token"))
      for _, r in ipairs(log("GET", "/v1/catalog/products")) do assert.equals(200, sj.tonumber(r.status)) end
    end)

    it("gets a new token once when the current one is revoked, and retries the call", function()
      local c = client()
      assert(c:request("GET", "/v1/catalog/products"))
      s:request{ method = "POST", path = "/__sim/tokens/revoke", json = {} }
      local res, err = c:request("GET", "/v1/catalog/products")
      assert.is_nil(err)
      assert.is_table(res)
      assert.equals(2, count("POST", "/oauth/token"))
      local statuses = {}
      for _, r in ipairs(log("GET", "/v1/catalog/products")) do statuses[#statuses + 1] = sj.tonumber(r.status) end
      assert.same({ 200, 401, 200 }, statuses)
    end)

    it("refreshes only once per call: a second 401 is an auth error", function()
      local c = client()
      s:fault{ method = "GET", path = "/v1/catalog/products", status = 401,
        body = { message = "Authentication error" }, count = 2 }
      local res, err = c:request("GET", "/v1/catalog/products")
      assert.is_nil(res)
      assert.equals("auth", err.kind)
      assert.equals(401, err.status)
      assert.equals("Authentication error", err.message)
      assert.equals(2, count("GET", "/v1/catalog/products"))
      assert.equals(2, count("POST", "/oauth/token"))
    end)

    it("reports rejected client credentials as an auth error without retrying", function()
      local c = client(nil, { client_id = s.client_id, client_secret = "wrong-secret" })
      local res, err = c:request("GET", "/v1/catalog/products")
      assert.is_nil(res)
      assert.equals("auth", err.kind)
      assert.equals(401, err.status)
      assert.is_false(err.retryable)
      assert.equals(1, count("POST", "/oauth/token"))
      assert.equals(0, count("GET", "/v1/catalog/products"))
    end)

    it("retries a token request that meets a 503", function()
      s:fault{ method = "POST", path = "/oauth/token", status = 503, count = 1 }
      local c = client()
      assert(c:request("GET", "/v1/catalog/products"))
      assert.equals(2, count("POST", "/oauth/token"))
    end)

    it("sends HTTP basic credentials", function()
      local c = client(nil, { username = s.username, password = s.password })
      assert(c:request("GET", "/v1/catalog/products"))
      local r = log("GET", "/v1/catalog/products")[1]
      assert.matches("^Basic ", r.headers.authorization)
      assert.equals(0, count("POST", "/oauth/token"))
    end)

    it("sends apiAccessKeyId and apiSecretAccessKey headers", function()
      local c = client(nil, { access_key_id = s.username, secret_access_key = s.password })
      assert(c:request("GET", "/v1/catalog/products"))
      local r = log("GET", "/v1/catalog/products")[1]
      assert.equals(s.username, r.headers.apiaccesskeyid)
      assert.equals(s.password, r.headers.apisecretaccesskey)
      assert.is_nil(r.headers.authorization)
    end)

    it("sends a fixed bearer token", function()
      local minted = s:request{ method = "POST", path = "/__sim/tokens", json = { ttl = 60 } }.json
      local c = client(nil, { token = minted.token })
      assert(c:request("GET", "/v1/catalog/products"))
      assert.equals("Bearer " .. minted.token, log("GET", "/v1/catalog/products")[1].headers.authorization)
    end)
  end)

  describe("requests", function()
    it("percent-encodes hostile path parameters and encodes array queries as repeated keys", function()
      local c = client()
      c:request("GET", "/v1/accounts/{account-key}", { path = { ["account-key"] = "A 1/../x?y#z" },
        query = { ["filter[]"] = { "a=1", "b&2" }, pageSize = 5 } })
      local r = log("GET")[1]
      assert.equals("/v1/accounts/A%201%2F..%2Fx%3Fy%23z", r.path)
      assert.same({ "a=1", "b&2" }, r.args["filter[]"])
      assert.equals("5", r.args.pageSize)
    end)

    it("sends the library's User-Agent, zuora-version, entity ids and track id", function()
      local c = client{ zuora_version = "2025-08-12", entity_ids = "E1", track_id = "trace-1" }
      assert(c:request("GET", "/v1/catalog/products"))
      assert(c:request("GET", "/v1/catalog/products", { zuora_version = "211.0", track_id = "trace-2" }))
      local a, b = log("GET", "/v1/catalog/products")[1], log("GET", "/v1/catalog/products")[2]
      assert.matches("^lua%-zuora/" .. zuora.version:gsub("%.", "%%.") .. " %(Lua", a.headers["user-agent"])
      assert.equals("2025-08-12", a.headers["zuora-version"])
      assert.equals("211.0", b.headers["zuora-version"])
      assert.equals("E1", a.headers["zuora-entity-ids"])
      assert.equals("trace-1", a.headers["zuora-track-id"])
      assert.equals("trace-2", b.headers["zuora-track-id"])
    end)

    it("sends the same request for a one-value catalogue call as for the general call", function()
      -- accounts.retrieve(key) takes the client's short way (client:call_one, no prepare); the
      -- request table, the request on the wire, the hook events, the answer, meta and errors
      -- must be those of client:request with opts.path.
      local events = {}
      local function hook(e) events[#events + 1] = e end
      local c = client{ zuora_version = "2025-08-12", entity_ids = "E1", on_request = hook, on_response = hook }
      local acct = assert(c:request("POST", "/v1/accounts", { body = ACCOUNT }))
      local other = assert(c:request("POST", "/v1/accounts", { body = ACCOUNT }))
      local sent, rt_send = {}, c.rt.send
      c.rt.send = function(rt, req)
        local copy = {}
        for k, v in pairs(req) do copy[k] = v end
        sent[#sent + 1] = copy
        return rt_send(rt, req)
      end
      local prepare, prepared = require("zuora.client").Client.prepare, 0
      local function short(fn, ...)
        debug.sethook(function() if debug.getinfo(2, "f").func == prepare then prepared = prepared + 1 end end, "c")
        local r = table.pack(fn(...))
        debug.sethook()
        return table.unpack(r, 1, r.n)
      end
      local function same_event(a, b)
        assert.equals(b.method, a.method)
        assert.equals(b.url, a.url)
        assert.equals(b.op, a.op)
        assert.equals(b.status, a.status)
        assert.equals(b.attempt, a.attempt)
        if b.headers and b.headers[1] then assert.same(b.headers, a.headers) end -- request lines
      end
      local calls = {
        { "GET", "retrieve", acct.accountNumber }, { "GET", "retrieve", acct.accountId },
        { "GET", "retrieve", "A 1/../x?y#z" }, { "GET", "retrieve", "." }, { "GET", "retrieve", ".." },
        { "GET", "retrieve", "\u{e9}/%2F" }, { "GET", "retrieve_summary", acct.accountNumber },
        { "DELETE", "delete", "nobody" }, { "DELETE", "delete", other.accountNumber },
      }
      local paths = {}
      for i, call in ipairs(calls) do
        local method, name, key = call[1], call[2], call[3]
        local n, ne, ns = #log(), #events, #sent
        local a, aerr, ameta = short(c.accounts[name], key)
        if method == "DELETE" and name == "delete" and key ~= "nobody" then
          -- the account is gone now: the general way meets a 404 that the first way did not
          assert.is_true(a.success)
          assert.equals(0, prepared)
          assert.equals("/v1/accounts/" .. key, log()[n + 1].path)
          break
        end
        local entry = c.accounts[name].entry
        local b, berr, bmeta = c:request(method, entry.path, { path = { ["account-key"] = key }, op = entry })
        assert.equals(0, prepared, "prepare ran for call " .. i)
        assert.equals(n + 2, #log())
        local ra, rb = log()[n + 1], log()[n + 2]
        assert.equals(method, ra.method)
        assert.equals(rb.path, ra.path)
        paths[key] = paths[key] or ra.path
        assert.same(rb.args, ra.args)
        ra.headers["zuora-request-id"], rb.headers["zuora-request-id"] = nil, nil
        assert.same(rb.headers, ra.headers)
        assert.equals(ns + 2, #sent)
        assert.same(sent[ns + 2], sent[ns + 1])
        assert.equals(ne + 4, #events)
        same_event(events[ne + 1], events[ne + 3])
        same_event(events[ne + 2], events[ne + 4])
        if b then
          assert.same(b, a)
          assert.equals(bmeta.status, ameta.status)
          assert.equals(ra.request_id, ameta.request_id)
          assert.equals(1, ameta.attempts)
          assert.is_string(ameta.header_block)
        else
          assert.is_nil(a)
          assert.same({ berr.kind, berr.status, berr.category, berr.code, berr.message, berr.attempts, berr.url },
            { aerr.kind, aerr.status, aerr.category, aerr.code, aerr.message, aerr.attempts, aerr.url })
        end
      end
      assert.equals("/v1/accounts/A%201%2F..%2Fx%3Fy%23z", paths["A 1/../x?y#z"])
      assert.equals("/v1/accounts/%2E%2E", paths[".."])
      assert.equals("/v1/accounts/%C3%A9%2F%252F", paths["\u{e9}/%2F"])
      -- called directly with what the short way cannot take, call_one is client:request
      local retrieve = c.accounts.retrieve.entry
      assert.has_error(function() c:call_one(retrieve, "") end, "path parameter 'account-key' is empty")
      assert.has_error(function() c:call_one(retrieve, {}) end,
        "path parameter 'account-key' must be a string or number, got table")
      assert.equals(acct.accountId, assert(c:call_one(retrieve, acct.accountNumber)).basicInfo.id)
      prepared = 0
      short(c.call_one, c, c.accounts.update.entry, acct.accountNumber)
      assert.is_true(prepared > 0)
      assert.equals("PUT", log()[#log()].method)
      -- a client that adds a track id to every call takes the general way, header included
      local t = client{ track_id = "trace-9" }
      assert(t.accounts.delete(acct.accountNumber))
      local d = log("DELETE", "/v1/accounts/" .. acct.accountNumber)[1]
      assert.equals("trace-9", d.headers["zuora-track-id"])
      local gone, gerr = c.accounts.retrieve(acct.accountNumber)
      assert.is_nil(gone)
      assert.equals("api", gerr.kind)
    end)

    it("refuses CR, LF or NUL in a header before anything is sent", function()
      local c = client()
      assert.has_error(function()
        c:request("GET", "/v1/catalog/products", { headers = { ["X-Note"] = "a\r\nX-Evil: 1" } })
      end, "header 'X-Note' contains CR or LF")
      assert.has_error(function()
        c:request("POST", "/v1/accounts", { body = ACCOUNT, idempotency_key = "k\n" })
      end, "header 'Idempotency-Key' contains CR or LF")
      -- a NUL byte too, in a value or a name, and in entity_ids when the client is made
      local fresh = client()
      assert.has_error(function()
        fresh:request("GET", "/v1/catalog/products", { headers = { ["X-Note"] = "a\0b" } })
      end, "header 'X-Note' contains a NUL byte")
      assert.has_error(function()
        fresh:request("GET", "/v1/catalog/products", { headers = { ["X\0Note"] = "a" } })
      end, "invalid header name 'X?Note'")
      assert.has_error(function() client{ entity_ids = "e1\0" } end)
      -- and in a path written out by the caller (a path parameter is percent-encoded instead)
      for _, path in ipairs{ "/v1/accounts/A 1", "/v1/accounts/A1\r\nX-Evil: 1", "/v1/accounts/{k}/x\ty" } do
        assert.has_error(function() fresh:request("GET", path, { path = { k = "A1" } }) end,
          "request: the path contains a space or a control character (percent-encode it, or pass the value as a "
            .. "path parameter)")
      end
      assert.equals(0, #log())
    end)

    it("raises for missing or mistyped path parameters", function()
      local c = client()
      assert.has_error(function() c:request("GET", "/v1/accounts/{account-key}", {}) end,
        "missing path parameter 'account-key'")
      assert.has_error(function()
        c:request("GET", "/v1/accounts/{account-key}", { path = { ["account-key"] = {} } })
      end, "path parameter 'account-key' must be a string or number, got table")
    end)

    it("refuses an absolute URL on another origin", function()
      local c = client()
      assert.has_error(function() c:request("GET", "https://evil.example.com/v1/accounts") end)
      assert.equals(0, #log())
    end)

    it("returns decoded JSON with exact numbers, and a meta table with the request id", function()
      local c = client()
      local acct, err, meta = c:request("POST", "/v1/accounts", { body = ACCOUNT })
      assert.is_nil(err)
      assert.is_true(acct.success)
      assert.is_string(acct.accountNumber)
      assert.equals(200, meta.status)
      assert.equals(log("POST", "/v1/accounts")[1].request_id, meta.request_id)
      -- meta.headers is made from the raw lines when first read, then stays
      assert.matches("^HTTP/", meta.header_block)
      assert.equals(meta.request_id, meta.headers["zuora-request-id"])
      assert.matches("^application/json", meta.headers["content-type"])
      assert.equals(meta.headers, meta.headers)
      if _VERSION == "Lua 5.4" then -- __pairs: iterating meta shows the headers too
        local _, _, fresh = c:request("GET", "/v1/accounts/{k}", { path = { k = acct.accountNumber } })
        local seen = {}
        for k in pairs(fresh) do seen[k] = true end
        assert.is_true(seen.headers)
      end
      local got = assert(c:request("GET", "/v1/accounts/{k}", { path = { k = acct.accountNumber } }))
      assert.equals(acct.accountId, got.basicInfo.id)
      assert.equals(math.type and "integer" or "number", math.type and math.type(got.billingAndPayment.billCycleDay)
        or type(got.billingAndPayment.billCycleDay))
    end)
  end)

  describe("errors", function()
    it("turns a 200 with success false into an api error with code, category and request id", function()
      local c = client()
      local res, err = c:request("GET", "/v1/accounts/{k}", { path = { k = "NOPE" } })
      assert.is_nil(res)
      assert.equals("api", err.kind)
      assert.equals("not_found", err.category)
      assert.is_number(err.code)
      assert.equals(log("GET")[1].request_id, err.request_id)
      assert.equals("GET", err.method)
      assert.matches("/v1/accounts/NOPE$", err.url)
      assert.matches("^zuora api error %d+ not_found %(%d+%): ", tostring(err))
    end)

    it("reads the CRUD Errors shape", function()
      local c = client()
      s:fault{ method = "POST", path = "/v1/object/account", status = 200,
        body = { Success = false, Errors = { { Code = "INVALID_VALUE", Message = "bad name" } } } }
      local res, err = c:request("POST", "/v1/object/account", { body = { Name = "x" } })
      assert.is_nil(res)
      assert.equals("INVALID_VALUE", err.code)
      assert.equals("invalid_value", err.category)
      assert.equals("bad name", err.message)
    end)

    it("turns a gateway's HTML page into an api error carrying the status and the first bytes", function()
      local c = client{ max_retries = 0 }
      s:fault{ method = "GET", path = "/v1/catalog/products", action = "html", status = 502 }
      local res, err = c:request("GET", "/v1/catalog/products")
      assert.is_nil(res)
      assert.equals("api", err.kind)
      assert.equals(502, err.status)
      assert.matches("<", err.body)
      assert.is_true(err.retryable)
    end)

    it("gives a decode error for a truncated JSON body", function()
      local c = client{ max_retries = 0 }
      s:fault{ method = "GET", path = "/v1/catalog/products", status = 200, body = '{"products": [1, 2' }
      local res, err = c:request("GET", "/v1/catalog/products")
      assert.is_nil(res)
      assert.equals("decode", err.kind)
    end)
  end)

  describe("retries", function()
    local retryable = {
      { name = "429", fault = { status = 429 } },
      { name = "502", fault = { status = 502 } },
      { name = "503", fault = { status = 503 } },
      { name = "504", fault = { status = 504 } },
      { name = "lock contention (category 50)", fault = { status = 200,
        body = { success = false, reasons = { { code = 50000050, message = "locked" } } } } },
      { name = "temporary error (category 61)", fault = { status = 200,
        body = { success = false, reasons = { { code = 50000061, message = "try again" } } } } },
      { name = "rate limited (category 70)", fault = { status = 200,
        body = { success = false, reasons = { { code = 50000070, message = "slow down" } } } } },
      { name = "a connection reset", fault = { action = "reset" } },
      { name = "a truncated body", fault = { action = "truncate", status = 200 } },
    }
    for _, case in ipairs(retryable) do
      it("retries " .. case.name .. " and succeeds", function()
        local c = client()
        local f = { method = "GET", path = "/v1/catalog/products", count = 2 }
        for k, v in pairs(case.fault) do f[k] = v end
        s:fault(f)
        local res, err, meta = c:request("GET", "/v1/catalog/products")
        assert.is_nil(err)
        assert.is_table(res)
        assert.equals(3, count("GET", "/v1/catalog/products"))
        if case.fault.action then
          -- libcurl itself resends once when a reused keep-alive connection dies before any byte
          -- of the answer, so a reset can cost the client one attempt less than the server saw.
          assert.is_true(meta.attempts == 2 or meta.attempts == 3, "attempts " .. meta.attempts)
        else
          assert.equals(3, meta.attempts)
        end
      end)
    end

    it("gives up after max_retries and reports the attempts", function()
      local c = client{ max_retries = 2 }
      s:fault{ method = "GET", path = "/v1/catalog/products", status = 503 }
      local res, err = c:request("GET", "/v1/catalog/products")
      assert.is_nil(res)
      assert.equals(503, err.status)
      assert.equals(3, err.attempts)
      assert.equals(3, count("GET", "/v1/catalog/products"))
    end)

    it("never retries a 400 or a 500 without a retryable category", function()
      local c = client()
      s:fault{ method = "GET", path = "/v1/catalog/products", status = 400, count = 1 }
      local _, err = c:request("GET", "/v1/catalog/products")
      assert.equals(400, err.status)
      assert.equals(1, count("GET", "/v1/catalog/products"))
      s:clear_requests()
      s:fault{ method = "GET", path = "/v1/catalog/products", status = 500, count = 1,
        body = { success = false, reasons = { { code = 50000060, message = "boom" } } } }
      _, err = c:request("GET", "/v1/catalog/products")
      assert.equals(500, err.status)
      assert.equals("internal_error", err.category)
      assert.equals(1, count("GET", "/v1/catalog/products"))
    end)

    it("waits as long as Retry-After says (seconds)", function()
      local c = client()
      s:fault{ method = "GET", path = "/v1/catalog/products", status = 429, headers = { ["Retry-After"] = 1 },
        count = 1 }
      local t0 = now()
      assert(c:request("GET", "/v1/catalog/products"))
      local waited = now() - t0
      assert.is_true(waited >= 1 and waited < 1.8, "waited " .. waited)
    end)

    it("waits as long as Retry-After says (an HTTP date)", function()
      local c = client()
      local at = os.date("!%a, %d %b %Y %H:%M:%S GMT", os.time() + 2)
      s:fault{ method = "GET", path = "/v1/catalog/products", status = 503, headers = { ["Retry-After"] = at },
        count = 1 }
      local t0 = now()
      assert(c:request("GET", "/v1/catalog/products"))
      local waited = now() - t0
      -- the date has one-second resolution: between 1 and 2 seconds from now
      assert.is_true(waited >= 0.9 and waited < 2.6, "waited " .. waited)
    end)

    it("caps Retry-After", function()
      local c = client{ retry_after_cap = 0.3 }
      s:fault{ method = "GET", path = "/v1/catalog/products", status = 429, headers = { ["Retry-After"] = 999999 },
        count = 1 }
      local t0 = now()
      assert(c:request("GET", "/v1/catalog/products"))
      assert.is_true(now() - t0 < 1)
    end)

    it("retries a timed-out call", function()
      local c = client{ timeout = 0.3 }
      s:fault{ method = "GET", path = "/v1/catalog/products", latency = 1, count = 1 }
      local res, err, meta = c:request("GET", "/v1/catalog/products")
      assert.is_nil(err)
      assert.is_table(res)
      assert.equals(2, meta.attempts)
    end)

    it("reports a timeout as a timeout error when retries run out", function()
      local c = client{ timeout = 0.2, max_retries = 0 }
      s:fault{ method = "GET", path = "/v1/catalog/products", latency = 1, count = 1 }
      local t0 = now()
      local _, err = c:request("GET", "/v1/catalog/products")
      local took = now() - t0
      assert.equals("timeout", err.kind)
      assert.is_true(took >= 0.2 and took < 0.5, "took " .. took)
    end)
  end)

  describe("idempotency", function()
    it("creates one account when a POST's response is lost and the call is retried", function()
      local c = client()
      s:fault{ method = "POST", path = "/v1/accounts", phase = "after", status = 502, count = 1 }
      local acct, err, meta = c:request("POST", "/v1/accounts", { body = ACCOUNT })
      assert.is_nil(err)
      assert.equals(2, meta.attempts)
      local posts = log("POST", "/v1/accounts")
      assert.equals(2, #posts)
      assert.equals(posts[1].headers["idempotency-key"], posts[2].headers["idempotency-key"])
      assert.is_true(posts[2].replayed)
      assert.equals(1, sj.tonumber(s:state().accounts))
      assert.is_string(acct.accountId)
    end)

    it("uses the caller's key, and a new key for every call", function()
      local c = client()
      assert(c:request("POST", "/v1/accounts", { body = ACCOUNT, idempotency_key = "my-key-1" }))
      assert(c:request("POST", "/v1/accounts", { body = ACCOUNT }))
      assert(c:request("POST", "/v1/accounts", { body = ACCOUNT }))
      local posts = log("POST", "/v1/accounts")
      assert.equals("my-key-1", posts[1].headers["idempotency-key"])
      assert.matches("^%x+%-%x+%-4%x+%-[89ab]%x+%-%x+$", posts[2].headers["idempotency-key"])
      assert.are_not.equal(posts[2].headers["idempotency-key"], posts[3].headers["idempotency-key"])
      assert.equals(3, sj.tonumber(s:state().accounts))
      assert.is_nil(log("GET")[1])
    end)

    it("sends no Idempotency-Key on GET, PUT and DELETE", function()
      local c = client()
      c:request("GET", "/v1/catalog/products")
      c:request("PUT", "/v1/accounts/{k}", { path = { k = "A1" }, body = {} })
      c:request("DELETE", "/v1/accounts/{k}", { path = { k = "A1" } })
      for _, r in ipairs(log()) do
        if r.method ~= "POST" then assert.is_nil(r.headers["idempotency-key"], r.method) end
      end
    end)

    it("refuses keys over 255 characters", function()
      local c = client()
      assert.has_error(function()
        c:request("POST", "/v1/accounts", { body = ACCOUNT, idempotency_key = string.rep("k", 256) })
      end)
    end)
  end)

  describe("configuration", function()
    it("refuses plain http for hosts other than loopback", function()
      assert.has_error(function()
        zuora.new{ base_url = "http://rest.zuora.com", client_id = "a", client_secret = "b" }
      end, "zuora.new: base_url must use https (plain http is allowed only for loopback hosts)")
      for _, u in ipairs { "http://127.0.0.1:1", "http://localhost:1", "http://[::1]:1", "http://127.9.9.9" } do
        assert.is_table(zuora.new{ base_url = u, client_id = "a", client_secret = "b" })
      end
    end)

    it("raises on unknown options and suggests the likely one", function()
      assert.has_error(function()
        zuora.new{ base_url = s.url, client_id = "a", client_secret = "b", timout = 5 }
      end, "zuora.new: unknown option 'timout' (did you mean 'timeout'?)")
    end)

    it("raises on incomplete or mixed credentials and on unknown environments", function()
      assert.has_error(function() zuora.new{ base_url = s.url, client_id = "a" } end)
      assert.has_error(function()
        zuora.new{ base_url = s.url, client_id = "a", client_secret = "b", token = "t" }
      end)
      assert.has_error(function() zuora.new{ environment = "moon", token = "t" } end)
      assert.equals("https://rest.apisandbox.zuora.com",
        zuora.new{ environment = "us-cloud2-sandbox", token = "t" }.base_url)
    end)

    it("reads ZUORA_* variables in from_env, with overrides winning", function()
      local env = { ZUORA_BASE_URL = s.url, ZUORA_CLIENT_ID = "id", ZUORA_CLIENT_SECRET = "secret",
        ZUORA_MAX_RETRIES = "5", ZUORA_ENTITY_IDS = "E9" }
      local opts = zuora.env_options({ max_retries = 1 }, function(k) return env[k] end)
      assert.same({ base_url = s.url, client_id = "id", client_secret = "secret", max_retries = 1,
        entity_ids = "E9" }, opts)
    end)
  end)

  describe("redaction", function()
    it("keeps secrets and tokens out of tostring, errors and hooks", function()
      local seen = {}
      local function record(e) seen[#seen + 1] = e end
      local c = client{ on_request = record, on_response = record, max_retries = 1 }
      assert(c:request("GET", "/v1/catalog/products"))
      s:fault{ method = "GET", path = "/v1/catalog/products", status = 503, count = 2 }
      local _, err = c:request("GET", "/v1/catalog/products")
      s:request{ method = "POST", path = "/__sim/tokens/revoke", json = {} }
      assert(c:request("GET", "/v1/catalog/products"))

      local tokens = {}
      for _, t in ipairs(s:request{ path = "/__sim/tokens" }.json.tokens) do tokens[#tokens + 1] = t.token end
      assert.is_true(#tokens >= 2)

      local text = { tostring(c), tostring(err), tostring(c.auth) }
      local function dump(v, depth)
        if depth > 6 then return end
        if type(v) == "table" then
          for k, x in pairs(v) do dump(k, depth + 1); dump(x, depth + 1) end
        else
          text[#text + 1] = tostring(v)
        end
      end
      dump(seen, 0)
      dump(err, 0)
      local all = table.concat(text, "\n")
      assert.is_nil(all:find(s.client_secret, 1, true))
      for _, t in ipairs(tokens) do assert.is_nil(all:find(t, 1, true), "token leaked") end
      -- the hooks did see the calls
      assert.is_true(#seen >= 8)
      assert.equals(true, seen[1].token_request)
    end)

    it("wipes the credentials and token when the client is closed, not later", function()
      local c = client()
      assert(c:request("GET", "/v1/catalog/products"))
      local auth = c.auth
      assert.matches("token generation", tostring(auth))
      c:close()
      assert.equals("zuora.auth (closed)", tostring(auth))
      -- nothing the auth object held can be had any more, and a closed client sends nothing
      assert.has_error(function() auth:headers(0) end, "auth object is closed")
      local before = count("GET", "/v1/catalog/products")
      -- a call on a closed client ends with a `closed` error (docs/reliability.md)
      local res, err = c:request("GET", "/v1/catalog/products")
      assert.is_nil(res)
      assert.equals("closed", err.kind)
      assert.equals(before, count("GET", "/v1/catalog/products"))
      res, err = c.accounts.retrieve("A00000001") -- the one-value way too
      assert.is_nil(res)
      assert.equals("closed", err.kind)
      assert.equals(0, count("GET", "/v1/accounts/A00000001"))
      c:close() -- twice is fine
    end)

    it("gives its descriptors back when closed, not when collected", function()
      -- A script that makes and closes many clients must not run out of descriptors (a user's
      -- limit is often 1024) while the collector has not yet run.
      local f = assert(io.open("/proc/self/stat"))
      local pid = f:read("l"):match("^%d+") -- ours, not the `ls` below
      f:close()
      local function open_fds()
        local n = 0
        local p = assert(io.popen("ls /proc/" .. pid .. "/fd"))
        for _ in p:lines() do n = n + 1 end
        p:close()
        return n
      end
      collectgarbage("stop")
      local ok, err = pcall(function()
        local c0 = client(); c0:close() -- the first close may make the shared closed stand-in
        local before = open_fds()
        for _ = 1, 40 do
          local c = client()
          assert(c:request("GET", "/v1/catalog/products"))
          c:close()
        end
        assert.is_true(open_fds() - before <= 2, "descriptors kept after close: " .. (open_fds() - before))
      end)
      collectgarbage("restart")
      assert(ok, err)
    end)

    it("closes at the end of a <close> block (Lua 5.4)", function()
      if _VERSION ~= "Lua 5.4" then pending("to-be-closed variables need Lua 5.4") return end
      -- `local x <close>` is Lua 5.4 syntax, so the block is compiled at run time.
      local run = assert(load([[
        local c, r = ...
        do local _ <close> = c end
        do local _ <close> = r end
      ]]))
      local c = client()
      local r = zuora.revenue.new{ base_url = s.url, token = "t" }
      run(c, r)
      assert.equals("zuora.auth (closed)", tostring(c.auth))
      assert.equals("zuora.auth (closed)", tostring(r.auth))
    end)
  end)
end)

describe("zuora client over TLS", function()
  local s

  lazy_setup(function() s = simh.start{ args = { "--tls" } } end)
  lazy_teardown(function() if s then s:stop() end end)

  it("refuses a server whose certificate it cannot verify, without retrying", function()
    local c = zuora.new{ base_url = s.url, client_id = s.client_id, client_secret = s.client_secret,
      retry_base = 0.01 }
    local res, err = c:request("GET", "/v1/catalog/products")
    assert.is_nil(res)
    assert.equals("transport", err.kind)
    assert.equals("tls", err.reason)
    assert.is_false(err.retryable)
  end)

  it("talks to it when given its CA", function()
    local c = zuora.new{ base_url = s.url, client_id = s.client_id, client_secret = s.client_secret,
      ca_file = s.ca_file }
    assert(c:request("GET", "/v1/catalog/products"))
  end)
end)
