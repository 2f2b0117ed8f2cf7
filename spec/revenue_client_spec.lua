-- The Zuora Revenue client against zuora-sim over real HTTP: both ways to authenticate, token
-- expiry and re-authentication, the 405 of a tenant without the API, retries without idempotency,
-- redaction, the Revenue catalogue, configuration.
local zuora = require "zuora"
local simh = require "spec.support.sim"
local sj = require("spec.support.sim").json

describe("zuora.revenue client #luajit", function()
  local s

  lazy_setup(function() s = simh.start() end)
  lazy_teardown(function() if s then s:stop() end end)
  before_each(function() s:reset() end)

  local function legacy(opts)
    local o = { base_url = s.url, username = s.username, password = s.password, retry_base = 0.01, retry_cap = 0.05 }
    for k, v in pairs(opts or {}) do o[k] = v end
    return zuora.revenue.new(o)
  end

  local function oneid(opts)
    local o = { base_url = s.url .. "/revenue", client_id = s.client_id, client_secret = s.client_secret,
      retry_base = 0.01, retry_cap = 0.05 }
    for k, v in pairs(opts or {}) do o[k] = v end
    return zuora.revenue.new(o)
  end

  local function log(method, path) return s:requests{ method = method, path = path } end
  local function statuses(entries)
    local out = {}
    for i, e in ipairs(entries) do out[i] = sj.tonumber(e.status) end
    return out
  end

  -- Every token the simulator issued for Revenue.
  local function revenue_tokens()
    local out = {}
    for _, t in ipairs(s:control("GET", "tokens").tokens) do out[#out + 1] = t.token end
    return out
  end

  describe("legacy authentication", function()
    it("authenticates with basic credentials, role and clientname, then sends the token as `token`", function()
      local c = legacy()
      for _ = 1, 5 do
        local batches = assert(c:batches())
        assert.equals(0, #batches) -- 204: no batch ready
      end
      local auth = log("POST", "/api/integration/v1/authenticate")
      assert.equals(1, #auth)
      assert.equals("Basic " .. require("zuora.core").crypto.base64(s.username .. ":" .. s.password),
        auth[1].headers.authorization)
      assert.equals("API Role", auth[1].headers.role)
      assert.equals("Default", auth[1].headers.clientname)
      local calls = log("GET", "/api/integration/v1/journal/list")
      assert.equals(5, #calls)
      local tokens = revenue_tokens()
      assert.equals(1, #tokens)
      for _, r in ipairs(calls) do
        assert.equals(tokens[1], r.headers.token)
        assert.is_nil(r.headers.authorization)
        assert.equals(204, sj.tonumber(r.status))
      end
      assert.matches("^eyJ", tokens[1]) -- a JWT, as Zuora's
    end)

    it("takes role and clientname from its options", function()
      local c = legacy{ role = "Close Role", clientname = "EMEA" }
      assert(c:batches())
      local auth = log("POST", "/api/integration/v1/authenticate")[1]
      assert.equals("Close Role", auth.headers.role)
      assert.equals("EMEA", auth.headers.clientname)
    end)

    it("re-authenticates before the token expires (its lifetime read from the token), so no call meets a 401",
      function()
        s:config{ revenue_token_ttl = 2 }
        local c = legacy()
        assert(c:batches())
        c:sleep(1.2) -- a 2 s token counts as expired after half its life
        assert(c:batches())
        assert.equals(2, #log("POST", "/api/integration/v1/authenticate"))
        assert.same({ 204, 204 }, statuses(log("GET", "/api/integration/v1/journal/list")))
      end)

    it("gets a new token once when Revenue says the token expired, and repeats the call", function()
      local c = legacy()
      assert(c:batches())
      s:request{ method = "POST", path = "/__sim/tokens/expire", json = {}, auth = "none" }
      local batches, err = c:batches()
      assert.is_nil(err)
      assert.equals(0, #batches)
      assert.equals(2, #log("POST", "/api/integration/v1/authenticate"))
      assert.same({ 204, 401, 204 }, statuses(log("GET", "/api/integration/v1/journal/list")))
    end)

    it("gives up after a second 401 in one call", function()
      local c = legacy()
      s:fault{ method = "GET", path = "/api/integration/v1/journal/list", status = 401,
        body = '{"status":"Failure","message":"The authentication token is missing, invalid or expired"}', count = 2 }
      local res, err = c:batches()
      assert.is_nil(res)
      assert.equals("auth", err.kind)
      assert.equals(401, err.status)
      assert.matches("token is missing, invalid or expired", err.message)
    end)

    it("reports refused credentials as an auth error that shows no secret", function()
      local c = legacy{ password = "wrong-Pa55word" }
      local res, err = c:batches()
      assert.is_nil(res)
      assert.equals("auth", err.kind)
      assert.equals(401, err.status)
      assert.matches("Invalid user name or password", err.message)
      assert.is_nil(tostring(err):find("wrong-Pa55word", 1, true))
      assert.equals(0, #log("GET", "/api/integration/v1/journal/list"))
    end)
  end)

  describe("OneID OAuth", function()
    it("gets a bearer token at the origin's /oauth2/token and calls under /revenue", function()
      local c = oneid()
      assert.equals("oauth", c.mode)
      for _ = 1, 3 do assert(c:batches()) end
      local tok = log("POST", "/oauth2/token")
      assert.equals(1, #tok)
      assert.matches("grant_type=client_credentials", tok[1].body)
      local calls = log("GET", "/revenue/api/integration/v1/journal/list")
      assert.equals(3, #calls)
      for _, r in ipairs(calls) do
        assert.matches("^Bearer %x+$", r.headers.authorization)
        assert.is_nil(r.headers.token)
      end
      assert.equals(0, #log("POST", "/oauth/token")) -- Billing's token endpoint is not Revenue's
    end)

    it("refreshes and repeats after a 401 as the legacy mode does", function()
      local c = oneid()
      assert(c:batches())
      s:request{ method = "POST", path = "/__sim/tokens/revoke", json = {}, auth = "none" }
      assert(c:batches())
      assert.equals(2, #log("POST", "/oauth2/token"))
    end)

    it("keeps Billing and Revenue tokens apart", function()
      local r = s:get("/api/integration/v1/journal/list", { auth = "oauth" }) -- a Billing bearer token
      assert.equals(401, r.status)
      local c = oneid()
      assert(c:batches())
      local bearer = log("GET", "/revenue/api/integration/v1/journal/list")[1].headers.authorization
      local b = s:get("/v1/catalog/products", { headers = { Authorization = bearer }, auth = "none" })
      assert.equals(401, b.status)
    end)
  end)

  describe("a tenant without the API service", function()
    local function check(err)
      assert.equals("api", err.kind)
      assert.equals(405, err.status)
      assert.equals("API_DISABLED", err.code)
      assert.equals("permission_denied", err.category)
      assert.is_false(err.retryable)
      assert.matches("Revenue API is not enabled for this tenant", err.message)
      assert.matches("Zuora Revenue Support", tostring(err))
    end

    it("gets a clear error at authentication, in both modes, without retrying", function()
      s:config{ revenue_enabled = false }
      for _, c in ipairs { legacy(), oneid() } do
        local res, err = c:batches()
        assert.is_nil(res)
        check(err)
      end
      assert.equals(1, #log("POST", "/api/integration/v1/authenticate"))
      assert.equals(1, #log("POST", "/oauth2/token"))
    end)

    it("gets the same error on a call when the API is switched off after authentication", function()
      local c = legacy()
      assert(c:batches())
      s:config{ revenue_enabled = false }
      local res, err = c.transfer_accounting.list_batches()
      assert.is_nil(res)
      check(err)
      assert.equals(1, err.attempts)
    end)
  end)

  describe("the pipeline", function()
    it("sends the same request for a one-value catalogue call as for client:request", function()
      local c = legacy()
      local path = "/api/integration/v1/fileupload/status/{file_request_id}"
      for _, id in ipairs{ "R 1/..", "404" } do
        local n = #log()
        local a, aerr = c.file_upload.retrieve_status(id)
        local b, berr = c:request("GET", path, { path = { file_request_id = id } })
        local ra, rb = log()[#log() - 1], log()[#log()]
        assert.equals("GET", ra.method)
        assert.equals(rb.path, ra.path)
        assert.matches("/fileupload/status/", ra.path)
        assert.truthy(#log() >= n + 2)
        assert.is_string(ra.headers.token) -- legacy mode: the session token header
        assert.is_nil(ra.headers["idempotency-key"])
        assert.same(rb.headers, ra.headers)
        assert.same(b, a)
        local function said(e) return e and { e.kind, e.status, e.category, e.message, e.attempts, e.url } end
        assert.same(said(berr), said(aerr))
      end
    end)

    it("sends no Idempotency-Key and does not repeat a POST that may have been received", function()
      local c = legacy()
      -- the upload is processed, then the answer is lost to a 502: sending it again would upload twice
      s:fault{ method = "POST", path = "/api/integration/v1/csv/upload", phase = "after", status = 502, count = 1 }
      local csv = "SO_NUM,SO_LINE_NUM,SO_BOOK_DATE,ITEM_NUM,CUSTOMER_NUM,QUANTITY,UNIT_SELL_PRICE,EXT_SELL_PRICE,"
        .. "CURRENCY,REV_START_DATE,REV_END_DATE,DESCRIPTION\nSO-1,1,2024-01-31,I,C,1,10.00,10.00,USD,,,\n"
      local res, err = c:request("POST", "/api/integration/v1/csv/upload", { body = csv, content_type = "text/plain",
        headers = { templatename = "SIM Transactions", filename = "once.csv" } })
      assert.is_nil(res)
      assert.equals(502, err.status)
      assert.is_false(err.retryable)
      assert.equals(1, err.attempts)
      local posts = log("POST", "/api/integration/v1/csv/upload")
      assert.equals(1, #posts)
      assert.is_nil(posts[1].headers["idempotency-key"])
      assert.equals(1, #s:control("GET", "revenue").uploads) -- received once, not twice
    end)

    it("repeats a POST that Revenue refused with 429, and GETs after 5xx", function()
      local c = legacy()
      s:fault{ method = "POST", path = "/api/integration/v1/1/programs/149/submit", status = 429, count = 1,
        headers = { ["Retry-After"] = "0" } }
      s:fault{ method = "GET", path = "/api/integration/v1/programs", status = 503, count = 1 }
      local submitted = assert(c.revenue_jobs.submit_program(1, 149, { parameters = zuora.json.empty_array }))
      assert.is_true(submitted.success)
      assert(c.revenue_jobs.list_programs())
      assert.same({ 429, 200 }, statuses(log("POST", "/api/integration/v1/1/programs/149/submit")))
      assert.same({ 503, 200 }, statuses(log("GET", "/api/integration/v1/programs")))
    end)

    it("turns Revenue's error bodies into zuora.Errors", function()
      local c = legacy()
      local res, err = c.revenue_jobs.submit_program(7, 149, { parameters = zuora.json.empty_array })
      assert.is_nil(res)
      assert.equals(400, err.status)
      assert.equals("OrgId does not match the Org assigned to the role", err.message)
      res, err = c.transfer_accounting.update_batch_status(424242)
      assert.is_nil(res)
      assert.matches("GL transfer batch 424242 does not exist", err.message)
      -- a 2xx whose body says Failure is an error too
      s:fault{ method = "GET", path = "/api/integration/v1/programs", status = 200,
        body = '{"status":"Failure","message":"Program catalogue unavailable"}', count = 1 }
      res, err = c.revenue_jobs.list_programs()
      assert.is_nil(res)
      assert.equals("Program catalogue unavailable", err.message)
    end)

    it("shows no token or password in hooks, errors or tostring", function()
      local seen = {}
      local function keep(v)
        if type(v) == "string" then seen[#seen + 1] = v
        elseif type(v) == "table" then for k, x in pairs(v) do keep(k); keep(x) end end
      end
      local c = legacy{ password = s.password, on_request = keep, on_response = keep }
      assert(c:batches())
      s:request{ method = "POST", path = "/__sim/tokens/expire", json = {}, auth = "none" }
      assert(c:batches())
      local _, err = c.transfer_accounting.update_batch_status(1)
      keep(tostring(err))
      keep(tostring(c))
      keep(tostring(c.auth))
      local all = table.concat(seen, "\n")
      assert.truthy(all:find("journal/list", 1, true))
      for _, tok in ipairs(revenue_tokens()) do assert.is_nil(all:find(tok, 1, true)) end
      assert.is_nil(all:find(s.password, 1, true))
      assert.is_nil(all:find(require("zuora.core").crypto.base64(s.username .. ":" .. s.password), 1, true))
      assert.is_nil(all:find("token: ", 1, true)) -- credentials are added in C, after the hooks ran
    end)

    it("runs calls concurrently in tasks with one token", function()
      local c = legacy()
      local results = c:gather{
        function() return c.revenue_jobs.list_orgs() end,
        function() return c.revenue_jobs.list_programs() end,
        function() return c:batches() end,
        function() return c.reports.list() end,
      }
      for _, r in ipairs(results) do assert.is_table(r[1], tostring(r[2])) end
      assert.equals(1, #log("POST", "/api/integration/v1/authenticate"))
      assert.equals(1, sj.tonumber(results[1][1].data[1].org_id))
    end)
  end)

  describe("the Revenue catalogue", function()
    it("gives a revenue client the Revenue groups only, and leaves Billing's catalogue alone", function()
      local c = legacy()
      assert.is_table(c.transfer_accounting)
      -- a group of the other product is no group here: a mistake that raises, like a typo
      assert.has_error(function() return c.accounts end)
      local billing = zuora.new{ base_url = s.url, token = "x" }
      assert.has_error(function() return billing.transfer_accounting end)
      assert.equals(28, #zuora.revenue.operations())
      for _, op in ipairs(zuora.operations()) do assert.is_nil(op.path:find("^/api/integration/")) end
      assert.matches("GET /api/integration/v1/journal/batch/{batchid}/{pagenum}",
        tostring(c.transfer_accounting.retrieve_batch))
    end)

    it("reaches every operation (handlers or the simulator's generic answers)", function()
      local c = legacy()
      local path_args = { file_request_id = 1, errortype = "event", batchid = 1, pagenum = 1, batch_id = 1,
        filename = "none.csv", report_id = 1, orgId = 1, programId = 149, jobId = 1, job_id = 1, view_name = "BI3_X",
        task_id = "t-1", tmpl_name = "BI3_X" }
      local reached = 0
      for _, op in ipairs(zuora.revenue.operations()) do
        if op.name ~= "authenticate" then
          local entry = require("zuora.operations").entry(op.group, op.name, "zuora.catalog.revenue")
          local args = {}
          for i, p in ipairs(entry.params) do args[i] = path_args[p] end
          local _, err = c[op.group][op.name]((table.unpack or unpack)(args)) -- luacheck: ignore 143
          -- the call reached its route unless the simulator found none for it
          local missed = err and (err.message:find("No Revenue API operation matches", 1, true)
            or err.message:find("does not support the", 1, true))
          assert.is_falsy(missed, op.group .. "." .. op.name .. " " .. tostring(err))
          reached = reached + 1
        end
      end
      assert.equals(27, reached)
    end)
  end)

  describe("configuration", function()
    it("reads ZUORA_REVENUE_* variables", function()
      local env = { ZUORA_REVENUE_TENANT = "acme-snd01", ZUORA_REVENUE_USERNAME = "api", ZUORA_REVENUE_PASSWORD = "pw",
        ZUORA_REVENUE_ROLE = "Close Role", ZUORA_REVENUE_TIMEOUT = "30" }
      local o = zuora.revenue.env_options(nil, function(k) return env[k] end)
      assert.same({ tenant = "acme-snd01", username = "api", password = "pw", role = "Close Role", timeout = 30 }, o)
      env.ZUORA_REVENUE_BASE_URL = "https://rev.example.com"
      o = zuora.revenue.env_options({ tenant = "other" }, function(k) return env[k] end)
      assert.equals("other", o.tenant)
      assert.is_nil(o.base_url)
      local c = zuora.revenue.new(zuora.revenue.env_options(nil, function(k) return env[k] end))
      assert.equals("https://rev.example.com", c.base_url) -- base_url wins over tenant
      assert.equals("https://acme-snd01.revprooncloud.com", zuora.revenue.new{ tenant = "ACME-snd01", username = "u",
        password = "p" }.base_url)
      assert.equals("https://one.zuora.com/revenue", zuora.revenue.new{ environment = "one", client_id = "a",
        client_secret = "b" }.base_url)
    end)

    it("refuses configuration mistakes at once", function()
      local bad = {
        { username = "u", password = "p" },                                       -- where?
        { base_url = "https://x.example.com" },                                   -- no credentials
        { base_url = "https://x.example.com", username = "u" },                   -- half a set
        { base_url = "https://x.example.com", username = "u", password = "p", client_id = "a", client_secret = "b" },
        { base_url = "http://x.example.com", username = "u", password = "p" },    -- plain http off loopback
        { base_url = "https://x.example.com", client_id = "a", client_secret = "b", role = "API Role" },
        { base_url = "https://x.example.com", username = "u", password = "p", max_uploads = 3 },
        { tenant = "acme.evil.com", username = "u", password = "p" },
        { environment = "moon", username = "u", password = "p" },
        { base_url = "https://x.example.com", tenant = "acme", username = "u", password = "p" },
      }
      for i, o in ipairs(bad) do
        assert.has_error(function() zuora.revenue.new(o) end, nil, "case " .. i)
      end
      local ok, msg = pcall(zuora.revenue.new, { base_url = "https://x.example.com", username = "u", password = "p",
        timout = 5 })
      assert.is_false(ok)
      assert.matches("did you mean 'timeout'", msg)
    end)
  end)
end)
