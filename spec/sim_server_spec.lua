-- zuora-sim over real HTTP: start-up, credentials, headers, generic answers, the control API.
local simh = require "spec.support.sim"
local json = simh.json

describe("zuora-sim server", function()
  local s
  lazy_setup(function() s = simh.start() end)
  lazy_teardown(function() if s then s:stop() end end)
  before_each(function() s:reset() end)

  describe("start-up", function()
    it("prints the base URL first, then the files origin, state dir and pid", function()
      assert.matches("^http://127%.0%.0%.1:%d+$", s.url)
      assert.matches("^http://127%.0%.0%.1:%d+$", s.files_url)
      assert.are_not.equal(s.url, s.files_url)
      assert.is_number(s.pid)
      local info = s:control("GET", "info")
      assert.equals(s.url, info.url)
      assert.equals("zuora-sim-client", info.client_id)
    end)

    it("rejects more than one worker and bad options", function()
      local p = io.popen(simh.ROOT .. "/bin/zuora-sim --workers 2 2>&1; echo rc=$?")
      local out = p:read("a")
      p:close()
      assert.matches("only %-%-workers 1", out)
      assert.matches("rc=2", out)
      p = io.popen(simh.ROOT .. "/bin/zuora-sim --bogus 2>&1; echo rc=$?")
      out = p:read("a")
      p:close()
      assert.matches("unknown option", out)
    end)
  end)

  describe("authentication", function()
    it("issues OAuth tokens for the configured client and accepts them", function()
      local res = s:request{ method = "POST", path = "/oauth/token", auth = "none",
        headers = { ["Content-Type"] = "application/x-www-form-urlencoded" },
        body = "grant_type=client_credentials&client_id=zuora-sim-client&client_secret=zuora-sim-secret" }
      assert.equals(200, res.status)
      assert.equals("bearer", res.json.token_type)
      assert.equals("3599", json.number_text(res.json.expires_in))
      assert.is_string(res.json.jti)
      assert.equals(200, s:get("/v1/catalog/products", { auth = res.json.access_token }).status)
    end)

    it("refuses a wrong client secret and a wrong grant type", function()
      local bad = s:request{ method = "POST", path = "/oauth/token", auth = "none",
        body = "grant_type=client_credentials&client_id=zuora-sim-client&client_secret=nope" }
      assert.equals(401, bad.status)
      local grant = s:request{ method = "POST", path = "/oauth/token", auth = "none",
        body = "grant_type=password&client_id=zuora-sim-client&client_secret=zuora-sim-secret" }
      assert.equals(400, grant.status)
    end)

    it("answers 401 {message} for missing, unknown, expired and revoked tokens", function()
      for _, auth in ipairs({ "none", "not-a-token" }) do
        local res = s:get("/v1/catalog/products", { auth = auth })
        assert.equals(401, res.status)
        assert.equals('{"message":"Authentication error"}', res.body)
        assert.is_string(res.headers["zuora-request-id"])
      end
      local tok = s:token(true)
      s:control("POST", "tokens/expire", { token = tok })
      assert.equals(401, s:get("/v1/catalog/products", { auth = tok }).status)
      tok = s:token(true)
      assert.equals(200, s:get("/v1/catalog/products", { auth = tok }).status)
      assert.equals(1, json.tonumber(s:control("POST", "tokens/revoke", { token = tok }).revoked))
      assert.equals(401, s:get("/v1/catalog/products", { auth = tok }).status)
      local log = s:requests{ path = "/v1/catalog/products", limit = 1 }
      assert.equals("revoked token", log[1].auth_error)
    end)

    it("lets tokens expire after the TTL set through the control API", function()
      s:config{ token_ttl = 1 }
      local tok = s:token(true)
      assert.equals(200, s:get("/v1/catalog/products", { auth = tok }).status)
      os.execute("sleep 1.2")
      assert.equals(401, s:get("/v1/catalog/products", { auth = tok }).status)
      local res = s:request{ method = "POST", path = "/oauth/token", auth = "none",
        body = "grant_type=client_credentials&client_id=zuora-sim-client&client_secret=zuora-sim-secret" }
      assert.equals("1", json.number_text(res.json.expires_in))
    end)

    it("accepts HTTP basic and apiAccessKeyId/apiSecretAccessKey", function()
      assert.equals(200, s:get("/v1/catalog/products", { auth = "basic" }).status)
      local res = s:get("/v1/catalog/products", { auth = "none", headers = {
        apiAccessKeyId = "zuora-sim-user", apiSecretAccessKey = "zuora-sim-password" } })
      assert.equals(200, res.status)
      res = s:get("/v1/catalog/products", { auth = "none", headers = {
        apiAccessKeyId = "zuora-sim-user", apiSecretAccessKey = "wrong" } })
      assert.equals(401, res.status)
    end)
  end)

  describe("headers", function()
    it("puts a distinct Zuora-Request-Id on every response and echoes Zuora-Track-Id", function()
      local a = s:get("/v1/catalog/products", { headers = { ["Zuora-Track-Id"] = "job-42" } })
      local b = s:get("/v1/accounts/nope")
      assert.matches("^%x+%-%x+%-%x+%-%x+%-%x+$", a.headers["zuora-request-id"])
      assert.are_not.equal(a.headers["zuora-request-id"], b.headers["zuora-request-id"])
      assert.equals("job-42", a.headers["zuora-track-id"])
      assert.equals(400, s:get("/v1/catalog/products", { headers = { ["Zuora-Track-Id"] = "a:b" } }).status)
    end)

    it("gzips large bodies for clients that accept it and reads gzip request bodies", function()
      local res = s:get("/v1/catalog/products?pageSize=10", { compressed = true })
      assert.equals(200, res.status)
      assert.equals("gzip", res.headers["content-encoding"])
      assert.is_true(res.json.success)
      local small = s:get("/__sim/health", { compressed = true, auth = "none" })
      assert.is_nil(small.headers["content-encoding"])
      local f = assert(io.open(s.dir .. "/gz.json", "wb"))
      f:write('{"name":"Zipped","currency":"USD"}')
      f:close()
      os.execute("gzip -f " .. s.dir .. "/gz.json")
      f = assert(io.open(s.dir .. "/gz.json.gz", "rb"))
      local gz = f:read("a")
      f:close()
      local created = s:request{ method = "POST", path = "/v1/accounts", body = gz,
        headers = { ["Content-Type"] = "application/json", ["Content-Encoding"] = "gzip" } }
      assert.equals(200, created.status)
      assert.equals("Zipped", s:get("/v1/accounts/" .. created.json.accountId).json.basicInfo.name)
    end)
  end)

  describe("generic answers", function()
    it("keeps what operations without a handler create, with exact decimals", function()
      -- E-invoicing service providers follow the reference's conventions (the older spec lacks them).
      local res = s:post("/v1/einvoice/service-providers?dry=1", { name = "Set", amount = json.number("1.10") })
      assert.equals(200, res.status)
      assert.is_true(res.json.success)
      assert.is_nil(res.json.echo)
      local got = s:get("/v1/einvoice/service-providers/" .. res.json.id)
      assert.equals(200, got.status)
      assert.equals("1.10", json.number_text(got.json.amount))
      assert.equals("Set", got.json.name)
      assert.is_string(s:post("/v1/journal-runs", { journalEntryDate = "2024-01-31" }).json.journalRunNumber)
    end)

    it("never answers with an HTML page for unknown routes", function()
      for _, path in ipairs({ "/v1", "/object-query/ramps", "/query/jobs/unknown-job", "/workflows/1/run" }) do
        local res = s:get(path)
        assert.matches("json", res.headers["content-type"], path)
        assert.is_table(res.json, path)
      end
    end)
  end)

  describe("control API", function()
    it("logs requests with method, path, query, headers and body, filterable and clearable", function()
      s:clear_requests()
      s:post("/v1/accounts?x=1", { name = "Logged", currency = "USD" }, { headers = { ["X-Probe"] = "yes" } })
      s:get("/v1/catalog/products")
      local all = s:requests()
      assert.equals(2, #all)
      local posts = s:requests{ method = "POST", path = "/v1/accounts" }
      assert.equals(1, #posts)
      local e = posts[1]
      assert.equals("x=1", e.query)
      assert.equals("yes", e.headers["x-probe"])
      assert.matches("^Basic ", e.headers.authorization)
      assert.equals("Logged", json.decode(e.body).name)
      assert.equals(200, json.tonumber(e.status))
      assert.equals(1, #s:requests{ path = "/v1/catalog/*" })
      assert.equals(1, #s:requests{ limit = 1 })
      assert.equals(1, #s:requests{ since = all[1].seq })
      s:clear_requests()
      assert.equals(0, #s:requests())
    end)

    it("resets the tenant and reports counts", function()
      s:post("/v1/accounts", { name = "Gone soon", currency = "USD" })
      assert.equals(1, json.tonumber(s:state().accounts))
      s:reset()
      assert.equals(0, json.tonumber(s:state().accounts))
      assert.equals(5, json.tonumber(s:state().product_rate_plan_charges))
    end)

    it("validates settings", function()
      local res = s:request{ method = "PUT", path = "/__sim/config", auth = "none", json = { nope = 1 } }
      assert.equals(400, res.status)
      res = s:request{ method = "PUT", path = "/__sim/config", auth = "none", json = { today = "2024-13-01" } }
      assert.equals(400, res.status)
      assert.equals("2024-02-29", s:config{ today = "2024-02-29" }.today)
    end)
  end)
end)
