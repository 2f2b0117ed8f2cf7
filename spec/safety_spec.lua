-- Safety rails of the library against zuora-sim: read-only clients, allow/deny policies, dry runs
-- and hints (docs/client.md, "Safety rails"). What a refused call did not send is read back from
-- the simulator's request log.
local zuora = require "zuora"
local simh = require "spec.support.sim"

describe("safety rails #luajit", function()
  local s

  lazy_setup(function() s = simh.start() end)
  lazy_teardown(function() if s then s:stop() end end)
  before_each(function() s:reset() end)

  local function client(opts) return s:client(opts) end

  local ACCOUNT = {
    name = "Rails Co", currency = "USD", billCycleDay = 1, autoPay = false,
    billToContact = { firstName = "Ada", lastName = "Lovelace", country = "United States", state = "CA" },
  }

  -- The catalogue's own word on whether an operation only reads.
  local function reads(op)
    local e = require("zuora.operations").entry(op.group, op.name)
    if e.reads ~= nil then return e.reads end
    return op.method == "GET" or op.method == "HEAD"
  end

  local function concrete(path)
    return (path:gsub("{[^}]+}", "X1"))
  end

  describe("read_only", function()
    it("refuses every catalogue operation that can change data, and sends nothing at all", function()
      local c = client{ read_only = true }
      local writes = 0
      for _, op in ipairs(zuora.operations()) do
        if not reads(op) then
          writes = writes + 1
          local params = require("zuora.operations").entry(op.group, op.name).params
          local args = {}
          for i = 1, #params do args[i] = "X" .. i end
          local res, err = c[op.group][op.name](table.unpack(args, 1, #params))
          assert.is_nil(res, op.group .. "." .. op.name)
          assert.equals("policy", err.kind, op.group .. "." .. op.name)
          assert.equals("read_only", err.rule)
          assert.equals(op.group .. "." .. op.name, err.operation)
          assert.is_false(err.retryable)
          assert.matches(op.group .. "." .. op.name, tostring(err), 1, true)
          -- the same request through client:request, named by method and path only
          res, err = c:request(op.method, concrete(op.path))
          assert.is_nil(res)
          assert.equals("policy", err.kind, op.method .. " " .. op.path)
          assert.equals("read_only", err.rule, op.method .. " " .. op.path)
        end
      end
      assert.is_true(writes > 300, "writes in the catalogue: " .. writes)
      -- not one request reached the simulator, not even a token request
      assert.same({}, s:requests{})
    end)

    it("still runs GETs, ZOQL queries, Data Query jobs, object queries and previews", function()
      local acct = s:account{ name = "Reader Co" }
      local c = client{ read_only = true }
      assert(c.accounts.retrieve(acct.accountNumber))
      local n = 0
      for rec in c:query("select Id, Name from Account where Name = ?", "Reader Co") do
        n = n + 1
        assert.equals("Reader Co", rec.Name)
      end
      assert.equals(1, n)
      local rows, err = c:data_query("SELECT id, name FROM account")
      assert.is_nil(err)
      local seen = 0
      for _ in rows do seen = seen + 1 end
      assert.is_true(seen >= 1)
      assert(c.object_queries.list_accounts())
      local preview, perr = c.orders.preview{
        orderDate = "2024-01-15", existingAccountNumber = acct.accountNumber,
        previewOptions = { previewThruType = "NumberOfPeriods", previewNumberOfPeriods = 1,
          previewTypes = { "BillingDocs" } },
        subscriptions = {},
      }
      assert.is_nil(perr and perr.kind == "policy" and perr or nil, perr and tostring(perr))
      assert.is_true(preview ~= nil or perr.kind == "api")
      assert.equals(1, #s:requests{ method = "POST", path = "/v1/orders/preview" })
      assert.equals(1, #s:requests{ method = "POST", path = "/query/jobs" })
      assert.is_true(#s:requests{ method = "POST", path = "/v1/action/query" } >= 1)
    end)

    it("docs/client.md lists exactly the catalogue's reads that are not GETs", function()
      local f = assert(io.open("docs/client.md", "rb"))
      local text = f:read("a")
      f:close()
      local block = text:match("<!%-%- reads%-as%-post.-%-%->(.-)<!%-%- /reads%-as%-post %-%->")
      assert.is_string(block)
      local listed = {}
      for name in block:gmatch("`([%w_]+%.[%w_]+)`") do listed[name] = true end
      local want = {}
      for _, op in ipairs(zuora.operations()) do
        if op.reads and op.method ~= "GET" then want[op.group .. "." .. op.name] = true end
      end
      assert.same(want, listed)
    end)

    it("covers the helpers: pagination, uploads, jobs and the Revenue client", function()
      local c = client{ read_only = true }
      local tmp = os.tmpname()
      local f = assert(io.open(tmp, "w"))
      f:write("ACCOUNT_ID,UOM,QTY,STARTDATE\nA1,Each,1,01/01/2024\n")
      f:close()
      local res, err = c:upload_usage(tmp)
      os.remove(tmp)
      assert.is_nil(res)
      assert.equals("policy", err.kind)
      assert.equals("usage.upload_file", err.operation)
      -- a deny on a GET stops pagination at its first page
      local d = client{ deny = { "accounts.*", "GET /v1/catalog/**" } }
      local items, perr = d.catalog.list_products:all()
      assert.is_nil(items)
      assert.equals("policy", perr.kind)
      assert.equals("deny", perr.rule)
      assert.equals("GET /v1/catalog/**", perr.pattern)
      local rc = zuora.revenue.new{ base_url = s.url .. "/revenue", client_id = "x", client_secret = "y",
        read_only = true }
      res, err = rc:request("POST", "/api/integration/v1/{orgId}/programs/{programId}/submit",
        { path = { orgId = "1", programId = "2" } })
      assert.is_nil(res)
      assert.equals("policy", err.kind)
      assert.equals("read_only", err.rule)
      assert.same({}, s:requests{})
    end)
  end)

  describe("allow and deny", function()
    it("deny wins over allow; allow alone admits only what it names", function()
      local acct = s:account{ name = "Policy Co" }
      local c = client{ allow = { "accounts.*", "GET /v1/catalog/**" }, deny = { "accounts.delete" } }
      assert(c.accounts.retrieve(acct.accountNumber))
      assert(c:request("GET", "/v1/catalog/products"))
      local res, err = c.accounts.delete(acct.accountNumber)
      assert.is_nil(res)
      assert.equals("deny", err.rule)
      assert.equals("accounts.delete", err.pattern)
      assert.equals("accounts.delete", err.operation)
      res, err = c.payments.create{ accountId = "x", amount = 1 }
      assert.is_nil(res)
      assert.equals("allow", err.rule)
      -- a path outside the catalogue is judged by method and path
      res, err = c:request("GET", "/v1/not-in-the-catalogue")
      assert.is_nil(res)
      assert.equals("allow", err.rule)
      assert.equals(0, #s:requests{ method = "DELETE" })
      assert.equals(0, #s:requests{ path = "/v1/not-in-the-catalogue" })
    end)

    it("read_only is not widened by allow; METHOD patterns match templates and globs", function()
      local c = client{ read_only = true, allow = { "accounts.create" } }
      local res, err = c.accounts.create(ACCOUNT)
      assert.is_nil(res)
      assert.equals("read_only", err.rule)
      local d = client{ deny = { "DELETE /v1/accounts/{account-key}", "* /v1/custom/*/x" } }
      res, err = d:request("DELETE", "/v1/accounts/A0001")
      assert.is_nil(res)
      assert.equals("deny", err.rule)
      assert.equals("accounts.delete", err.operation)
      res, err = d:request("POST", "/v1/custom/a/x", { body = {} })
      assert.is_nil(res)
      assert.equals("deny", err.rule)
      -- "*" stays within one segment: not denied, so the simulator answers (404: no such path)
      res, err = d:request("GET", "/v1/custom/a/b/x")
      assert.is_nil(res)
      assert.equals("api", err.kind)
      assert.equals(1, #s:requests{ method = "GET", path = "/v1/custom/a/b/x" })
      assert.equals(0, #s:requests{ method = "DELETE" })
    end)

    it("judges the path a server reaches: dot segments, encoded letters, // and a trailing slash", function()
      local acct = s:account{ name = "Detour Co" }
      local n = acct.accountNumber
      local detours = { "/v1/x/../accounts/" .. n, "/v1/./accounts/" .. n, "/v1//accounts/" .. n,
        "/v1/accounts/" .. n .. "/", "/v1/%61ccounts/" .. n, "/v1/x/%2e%2e/accounts/" .. n,
        "/v1/x%2F..%2Faccounts/" .. n }
      local d = client{ deny = { "DELETE /v1/accounts/*" } }
      local g = client{ deny = { "accounts.delete" } }
      local a = client{ allow = { "GET /v1/catalog/**" } }
      local ro = client{ read_only = true }
      for _, p in ipairs(detours) do
        for _, c in ipairs{ d, g } do
          local res, err = c:request("DELETE", p)
          assert.is_nil(res, p)
          assert.equals("deny", err.rule, p)
          assert.equals("accounts.delete", err.operation, p)
        end
      end
      local res, err = a:request("GET", "/v1/catalog/../accounts/" .. n)
      assert.is_nil(res)
      assert.equals("allow", err.rule)
      res, err = a:request("GET", "/v1/catalog/%2E%2E/accounts/" .. n)
      assert.is_nil(res)
      assert.equals("allow", err.rule)
      -- a read that travels as POST does not lend its flag to the write a detour reaches
      res, err = ro:request("POST", "/v1/action/query/../../accounts", { body = ACCOUNT })
      assert.is_nil(res)
      assert.equals("read_only", err.rule)
      assert.equals(0, #s:requests{ method = "DELETE" })
      assert.equals(0, #s:requests{ path = "/v1/accounts/" .. n })
      -- the detour is real: without a policy it reaches the account (libcurl removes dot segments)
      assert(client{}:request("DELETE", "/v1/x/../accounts/" .. n))
      assert.equals(1, #s:requests{ method = "DELETE", path = "/v1/accounts/" .. n })
      -- and the policy still admits what it should
      assert(a:request("GET", "/v1/catalog//products/"))
    end)

    it("an op option naming another operation lends the call neither its reads flag nor its name", function()
      local acct = s:account{ name = "Borrowed Co" }
      local path = "/v1/accounts/" .. acct.accountNumber
      local retrieve = require("zuora.operations").entry("accounts", "retrieve")
      local query = require("zuora.operations").entry("actions", "query")
      for _, op in ipairs{ { group = "accounts", name = "retrieve" }, retrieve, query } do
        local res, err = client{ read_only = true }:request("DELETE", path, { op = op })
        assert.is_nil(res)
        assert.equals("read_only", err.rule)
        assert.equals("accounts.delete", err.operation)
        res, err = client{ deny = { "accounts.delete" } }:request("DELETE", path, { op = op })
        assert.is_nil(res)
        assert.equals("deny", err.rule)
      end
      assert.equals(0, #s:requests{ method = "DELETE" })
      -- the op of the call itself still counts (a read that travels as POST)
      assert(client{ read_only = true }:request("POST", "/v1/action/query",
        { op = query, body = { queryString = "select Id from Account" } }))
    end)

    it("raises at construction on a malformed pattern", function()
      assert.has_error(function() client{ deny = { "accounts" } } end)
      assert.has_error(function() client{ allow = { "get /v1/x" } } end)
      assert.has_error(function() client{ read_only = "yes" } end)
    end)
  end)

  describe("dry runs", function()
    -- Header lines libcurl adds by itself when it sends (not part of the request the client builds).
    local TRANSPORT_HEADERS = { host = true, ["content-length"] = true, ["accept-encoding"] = true }

    -- The dry run `d` and the simulator's log entry `e` of the same call sent for real agree byte
    -- for byte: method, URL, every header line (credentials aside, masked in the dry run) and body.
    local function same_request(d, e)
      assert.equals(d.method, e.method)
      assert.equals(d.url, s.url .. e.path .. (e.query and e.query ~= "" and ("?" .. e.query) or ""))
      assert.equals(d.body, e.body)
      local named = {}
      for _, line in ipairs(d.headers) do
        local name, value = line:match("^([^:]+): (.*)$")
        named[name:lower()] = true
        if name:lower() == "authorization" then
          assert.equals("Bearer [redacted]", value)
          assert.matches("^Bearer %x+$", e.headers.authorization)
        else
          assert.equals(value, e.headers[name:lower()], name)
        end
      end
      for name in pairs(e.headers) do
        assert.is_true(named[name] or TRANSPORT_HEADERS[name] or false, "sent but not in the dry run: " .. name)
      end
    end

    it("returns the exact request instead of sending it; the same call sent for real matches it", function()
      local c = client{ zuora_version = "2025-08-12", track_id = "dry-run-spec" }
      local opts = { dry_run = true, idempotency_key = "dry-key-1", query = { rejectUnknownFields = "true" },
        headers = { ["X-Extra"] = "1" } }
      local d, err = c.accounts.create(ACCOUNT, opts)
      assert.is_nil(err)
      assert.is_true(d.dry_run)
      assert.equals("accounts.create", d.operation)
      assert.equals("dry-key-1", d.idempotency_key)
      assert.same({}, s:requests{}) -- nothing sent, not even a token request
      local text = tostring(d)
      assert.matches("^POST " .. s.url:gsub("%p", "%%%0") .. "/v1/accounts%?rejectUnknownFields=true\n", text)
      assert.matches("\nIdempotency%-Key: dry%-key%-1\n", text)
      assert.matches("\nAuthorization: Bearer %[redacted%]\n", text)
      assert.is_true(text:sub(-#d.body) == d.body)
      opts.dry_run = nil
      assert(c.accounts.create(ACCOUNT, opts))
      local sent = s:requests{ method = "POST", path = "/v1/accounts" }
      assert.equals(1, #sent)
      same_request(d, sent[1])
    end)

    it("masks a credential of the client's own that a caller put into a body or a header", function()
      local c = client{ dry_run = true }
      local secret = s.client_secret
      for _, d in ipairs {
        c:request("POST", "/v1/x", { body = { note = "copied " .. secret } }),
        c:request("POST", "/v1/x",
          { body = "client_secret=" .. secret, content_type = "application/x-www-form-urlencoded" }),
        c:request("POST", "/v1/x", { multipart = { { name = "f", data = "s=" .. secret } } }),
        c:request("POST", "/v1/x", { body = {}, headers = { ["X-Copy"] = "copied " .. secret } }),
      } do
        assert.is_true(d.dry_run)
        assert.is_nil(tostring(d):find(secret, 1, true), tostring(d))
        assert.is_nil((d.body or d.multipart[1].data):find(secret, 1, true))
        assert.is_nil(table.concat(d.headers, "\n"):find(secret, 1, true))
      end
      assert.same({}, s:requests{})
    end)

    it("a dry-run client describes GETs, one-value calls, client:request and query pages", function()
      local acct = s:account{ name = "Dry Co" }
      s:clear_requests()
      local c = client{ dry_run = true }
      local d = c.accounts.retrieve(acct.accountNumber)
      assert.is_true(d.dry_run)
      assert.equals("GET", d.method)
      assert.equals(s.url .. "/v1/accounts/" .. acct.accountNumber, d.url)
      assert.is_nil(d.idempotency_key)
      d = c:request("DELETE", "/v1/accounts/{key}", { path = { key = "A 1" } })
      assert.equals(s.url .. "/v1/accounts/A%201", d.url)
      assert.equals("accounts.delete", d.operation == nil and "accounts.delete" or d.operation)
      assert.same({}, s:requests{})
      -- the same GET sent for real by a client without dry_run, and a call option that overrides it
      local live = client{}
      local d2 = live.accounts.retrieve(acct.accountNumber, nil, { dry_run = true })
      assert.same(d.headers and d2.headers, d2.headers)
      assert(c.accounts.retrieve(acct.accountNumber, nil, { dry_run = false }))
      assert(live.accounts.retrieve(acct.accountNumber))
      local sent = s:requests{ method = "GET", path = "/v1/accounts/" .. acct.accountNumber }
      assert.equals(2, #sent)
      same_request(d2, sent[2])
    end)

    it("pagers and data_query on a dry-run client describe their first request", function()
      local c = client{ dry_run = true }
      local items = assert(c.accounts.list_payment_methods:all("A1"))
      assert.equals(1, #items)
      assert.equals("GET", items[1].method)
      local recs = {}
      for rec in c:query("select Id from Account where Name = ?", "Dry") do recs[#recs + 1] = rec end
      assert.equals(1, #recs)
      assert.equals("actions.query", recs[1].operation)
      assert.matches([["queryString":"select Id from Account where Name = 'Dry'"]], recs[1].body, 1, true)
      local d = assert(c:data_query("SELECT id FROM account"))
      assert.equals("POST", d.method)
      assert.equals(s.url .. "/query/jobs", d.url)
      assert.same({}, s:requests{})
    end)

    it("a policy refusal comes first: a dry run of a refused call says so", function()
      local c = client{ read_only = true }
      local d, err = c.accounts.create(ACCOUNT, { dry_run = true })
      assert.is_nil(d)
      assert.equals("policy", err.kind)
    end)
  end)

  describe("hints", function()
    it("err.hint says what to do; tostring(err) stays one line", function()
      local c = zuora.new{ base_url = s.url, client_id = s.client_id, client_secret = "wrong", max_retries = 0 }
      local _, err = c.accounts.retrieve("A1")
      assert.equals("auth", err.kind)
      assert.matches("client id and secret", err.hint)
      assert.is_nil(tostring(err):find("\n"))
      local v1 = zuora.new{ base_url = s.url .. "/v1", username = s.username, password = s.password }
      _, err = v1.accounts.retrieve("A1")
      assert.equals(404, err.status)
      assert.matches("ends in /v1: drop it", err.hint)
      _, err = client{}.accounts.retrieve("NOPE-404")
      assert.equals("not_found", err.category)
      assert.is_string(err.hint)
      _, err = client{ read_only = true }.accounts.create(ACCOUNT)
      assert.matches("nothing was sent", err.hint)
    end)
  end)

  describe("deadlines", function()
    local now = require("zuora.core").http.now

    local function timed(fn)
      local t0 = now()
      local a, b, c = fn()
      return now() - t0, a, b, c
    end

    it("a 1 s deadline against 429 with Retry-After: 30 returns within 1.1 s, kind timeout", function()
      local c = client{ deadline = 1 }
      assert(c:request("GET", "/v1/catalog/products")) -- the token first, so only the 429 counts
      s:fault{ method = "GET", path = "/v1/catalog/products", status = 429, headers = { ["Retry-After"] = 30 } }
      local elapsed, res, err = timed(function() return c:request("GET", "/v1/catalog/products") end)
      assert.is_nil(res)
      assert.is_true(elapsed < 1.1, "took " .. elapsed)
      assert.equals("timeout", err.kind)
      assert.is_true(err.deadline)
      assert.is_false(err.retryable)
      assert.matches("deadline", err.message)
      -- and from cold, the token fetch included
      local cold = client{ deadline = 1 }
      elapsed, res, err = timed(function() return cold.catalog.list_products() end)
      assert.is_nil(res)
      assert.is_true(elapsed < 1.1, "took " .. elapsed)
      assert.is_true(err.deadline)
    end)

    it("bounds a slow answer, a slow token endpoint, and takes a call option over the client's", function()
      s:fault{ method = "GET", path = "/v1/catalog/products", latency = 3, count = 1 }
      local c = client{ deadline = 1, timeout = 30 }
      local elapsed, res, err = timed(function() return c:request("GET", "/v1/catalog/products") end)
      assert.is_nil(res)
      assert.is_true(elapsed >= 0.9 and elapsed < 1.1, "took " .. elapsed)
      assert.equals("timeout", err.kind)
      assert.is_true(err.deadline)

      s:fault{ method = "POST", path = "/oauth/token", latency = 3, count = 1 }
      elapsed, res, err = timed(function() return client{ deadline = 1 }.catalog.list_products() end)
      assert.is_nil(res)
      assert.is_true(elapsed < 1.1, "took " .. elapsed)
      assert.is_true(err.deadline)

      s:fault{ method = "GET", path = "/v1/catalog/products", latency = 2, count = 1 }
      elapsed, res, err = timed(function() return c.catalog.list_products(nil, { deadline = 0.5 }) end)
      assert.is_nil(res)
      assert.is_true(elapsed < 0.6, "took " .. elapsed)
      assert.is_true(err.deadline)
    end)

    it("lets retries that fit in the deadline happen", function()
      local c = client{ deadline = 5 }
      s:fault{ method = "GET", path = "/v1/catalog/products", status = 503, headers = { ["Retry-After"] = 1 },
        count = 1 }
      local elapsed, res, _, meta = timed(function() return c:request("GET", "/v1/catalog/products") end)
      assert.is_table(res)
      assert.equals(2, meta.attempts)
      assert.is_true(elapsed >= 0.9 and elapsed < 2, "took " .. elapsed)
    end)
  end)
end)
