-- Operation objects: argument checking and placement, tostring, lazy loading. The client here is a
-- small recorder with the one method operation objects use (`request`, plus `spawn` for op:async);
-- what it records is exactly what a real client receives. The conformance against zuora-sim is a
-- separate spec.
local operations = require "zuora.operations"

local function recorder(result, err)
  local client = { calls = {} }
  function client:request(method, path, opts)
    self.calls[#self.calls + 1] = { method = method, path = path, opts = opts }
    if err then return nil, err end
    return result or { success = true }
  end
  function client:spawn(fn, ...)
    self.spawned = { fn = fn, n = select("#", ...), ... }
    return "task"
  end
  return client
end

describe("operation objects #luajit", function()
  local client, accounts

  before_each(function()
    client = recorder()
    accounts = operations.group(client, "accounts")
  end)

  describe("groups", function()
    it("binds a catalogue group to a client, once per client", function()
      assert.is_table(accounts)
      assert.equal(accounts, operations.group(client, "accounts"))
      local other = operations.group(recorder(), "accounts")
      assert.not_equal(accounts, other)
      assert.not_equal(accounts.retrieve, other.retrieve)
    end)

    it("returns nil for a name that is not a group", function()
      assert.is_nil(operations.group(client, "no_such_group"))
      assert.is_nil(operations.group(client, 42))
      assert.is_false(operations.is_group("no_such_group"))
      assert.is_true(operations.is_group("credit_memos"))
    end)

    it("raises with the group's name on an unknown operation", function()
      assert.has_error(function() return accounts.retrive end,
        "zuora: accounts has no operation retrive (print(client.accounts) lists them)")
    end)

    it("has every operation of its catalogue file as a field", function()
      local entries = require "zuora.catalog.accounts"
      local n = 0
      for name, op in pairs(accounts) do
        n = n + 1
        assert.is_true(operations.is_operation(op), name)
      end
      assert.equal(#entries, n)
    end)

    it("lists its operations when printed", function()
      local s = tostring(accounts)
      local entries = require "zuora.catalog.accounts"
      assert.truthy(s:find("^accounts: Accounts, " .. #entries .. " operations\n"))
      local lines = 0
      for _ in s:gmatch("\n") do lines = lines + 1 end
      assert.equal(#entries, lines)
      assert.truthy(s:find("retrieve(account_key, query, options)", 1, true))
      assert.truthy(s:find("GET    /v1/accounts/{account-key} — Retrieve an account", 1, true))
      assert.truthy(s:find("create(body, options)", 1, true))
    end)

    it("names every group in reference order", function()
      local names = operations.groups()
      local cat = require "zuora.catalog"
      assert.equal(#cat.groups, #names)
      for i, g in ipairs(cat.groups) do assert.equal(g.name, names[i]) end
    end)
  end)

  describe("calls", function()
    it("puts path parameters in opts.path and a GET's params in the query", function()
      local res = accounts.retrieve("A00000001", { fields = "basicInfo" })
      assert.same({ success = true }, res)
      assert.equal(1, #client.calls)
      local call = client.calls[1]
      assert.equal("GET", call.method)
      assert.equal("/v1/accounts/{account-key}", call.path)
      assert.same({ ["account-key"] = "A00000001" }, call.opts.path)
      assert.same({ fields = "basicInfo" }, call.opts.query)
      assert.is_nil(call.opts.body)
      assert.equal(require("zuora.catalog.accounts")[3], call.opts.op)
      assert.equal("retrieve", call.opts.op.name)
    end)

    it("sends a POST's params as the body", function()
      local body = { name = "Acme", currency = "USD" }
      accounts.create(body)
      local call = client.calls[1]
      assert.equal("POST", call.method)
      assert.equal("/v1/accounts", call.path)
      assert.same({}, call.opts.path)
      assert.equal(body, call.opts.body)
      assert.is_nil(call.opts.query)
    end)

    it("sends a PUT's params as the body and options.query as the query", function()
      accounts.update("A1", { notes = "x" }, { query = { rejectUnknownFields = true } })
      local call = client.calls[1]
      assert.equal("PUT", call.method)
      assert.same({ notes = "x" }, call.opts.body)
      assert.same({ rejectUnknownFields = true }, call.opts.query)
    end)

    it("sends a DELETE's params as the query", function()
      accounts.delete("A1", { force = true })
      local call = client.calls[1]
      assert.equal("DELETE", call.method)
      assert.same({ force = true }, call.opts.query)
      assert.is_nil(call.opts.body)
    end)

    it("takes several path parameters in path order", function()
      local cm = operations.group(client, "credit_memos")
      cm.list_item_taxation_items("CM-1", "item 2")
      local call = client.calls[1]
      assert.equal("/v1/credit-memos/{creditMemoId}/items/{cmitemid}/taxation-items", call.path)
      assert.same({ creditMemoId = "CM-1", cmitemid = "item 2" }, call.opts.path)
      local payments = operations.group(client, "payments")
      payments.retrieve_part_item("P1", "PART2", "IP3", { pageSize = 5 })
      assert.same({ paymentKey = "P1", partid = "PART2", itempartid = "IP3" }, client.calls[2].opts.path)
      assert.same({ pageSize = 5 }, client.calls[2].opts.query)
    end)

    it("passes path parameters through unencoded: the client percent-encodes them", function()
      accounts.retrieve("a/b c?d")
      assert.same({ ["account-key"] = "a/b c?d" }, client.calls[1].opts.path)
    end)

    it("writes integer path parameters as decimal strings", function()
      local subs = operations.group(client, "subscriptions")
      subs.retrieve_version("S-1", 3)
      assert.same({ ["subscription-key"] = "S-1", version = "3" }, client.calls[1].opts.path)
      subs.retrieve_version("S-1", 4.0)
      assert.same({ ["subscription-key"] = "S-1", version = "4" }, client.calls[2].opts.path)
    end)

    it("copies the options the client understands", function()
      local headers = { ["X-Custom"] = "1" }
      accounts.create({ name = "A" }, {
        idempotency_key = "k-1", zuora_version = "2025-08-12", timeout = 5, headers = headers,
      })
      local opts = client.calls[1].opts
      assert.equal("k-1", opts.idempotency_key)
      assert.equal("2025-08-12", opts.zuora_version)
      assert.equal(5, opts.timeout)
      assert.equal(headers, opts.headers)
      accounts.retrieve("A1", nil, { track_id = "t-1", raw = true })
      assert.equal("t-1", client.calls[2].opts.track_id)
      assert.is_true(client.calls[2].opts.raw)
    end)

    it("passes output, multipart and body_file through", function()
      local files = operations.group(client, "files")
      files.retrieve("F1", nil, { output = "/tmp/out.pdf" })
      assert.equal("/tmp/out.pdf", client.calls[1].opts.output)
      local usage = operations.group(client, "usage")
      local parts = { { name = "file", path = "/tmp/u.csv" } }
      usage.upload_file(nil, { multipart = parts })
      assert.equal(parts, client.calls[2].opts.multipart)
      assert.is_nil(client.calls[2].opts.body)
    end)

    it("sends a form operation's params form-encoded", function()
      local oauth = operations.group(client, "oauth")
      oauth.create_token({ grant_type = "client_credentials", client_id = "a b", client_secret = "s&t" })
      local opts = client.calls[1].opts
      assert.equal("client_id=a%20b&client_secret=s%26t&grant_type=client_credentials", opts.body)
      assert.equal("application/x-www-form-urlencoded", opts.content_type)
    end)

    it("sends a multipart operation's params as form fields before the file parts", function()
      local mass = operations.group(client, "mass_updater")
      local file = { name = "file", path = "/tmp/m.csv" }
      mass.perform({ params = { actionType = "Update" }, note = "n", n = 2, ok = true }, { multipart = { file } })
      local opts = client.calls[1].opts
      assert.is_nil(opts.body)
      assert.same({
        { name = "n", data = "2" }, { name = "note", data = "n" }, { name = "ok", data = "true" },
        { name = "params", data = '{"actionType":"Update"}' }, file,
      }, opts.multipart)
    end)

    it("sends a CSV operation's string as its body, and gives a body_file its content type", function()
      local jobs = operations.group(client, "custom_object_jobs")
      jobs.upload_file("J1", "a,b\n")
      assert.equal("a,b\n", client.calls[1].opts.body)
      assert.equal("text/csv", client.calls[1].opts.content_type)
      jobs.upload_file("J1", nil, { body_file = "/tmp/x.csv" })
      assert.equal("text/csv", client.calls[2].opts.content_type)
      accounts.create(nil, { body_file = "/tmp/a.json" })
      assert.equal("application/json", client.calls[3].opts.content_type)
      accounts.create(nil, { body_file = "/tmp/a.json", headers = { ["content-type"] = "application/json; x=1" } })
      assert.is_nil(client.calls[4].opts.content_type)
      assert.has_error(function() jobs.upload_file("J1", { a = 1 }) end,
        "custom_object_jobs.upload_file: the body is text/csv: give it as a string, or a file with options.body_file")
      assert.has_error(function() accounts.create("{}") end,
        "accounts.create: argument 1 (body) must be a table, got string; expected accounts.create(body, options)")
    end)

    it("asks for a non-JSON answer where the operation gives one, unless the caller says otherwise", function()
      local describe_ = operations.group(client, "describe")
      describe_.object("Account")
      assert.equal("text/xml; charset=utf-8", client.calls[1].opts.headers.Accept)
      describe_.object("Account", nil, { headers = { accept = "application/xml" } })
      assert.same({ accept = "application/xml" }, client.calls[2].opts.headers)
    end)

    it("merges a GET's params with options.query and refuses a key given twice", function()
      accounts.list_payment_methods("A1", { page = 2 }, { query = { pageSize = 40 } })
      assert.same({ page = 2, pageSize = 40 }, client.calls[1].opts.query)
      assert.has_error(function() accounts.list_payment_methods("A1", { page = 2 }, { query = { page = 3 } }) end,
        "accounts.list_payment_methods: query parameter page given both in params and in options.query")
    end)

    it("gives a call with just its path value to the client's call_one, where both allow it", function()
      local short = recorder()
      function short:call_one(entry, value)
        self.calls[#self.calls + 1] = { one = entry, value = value }
        return { one = true }
      end
      local g = operations.group(short, "accounts")
      assert.same({ one = true }, g.retrieve("A 1/.."))
      assert.equal(require("zuora.catalog.accounts")[3], short.calls[1].one)
      assert.equal("A 1/..", short.calls[1].value)
      g.delete("A2")
      assert.equal("delete", short.calls[2].one.name)
      g.update("A3") -- any method: the client decides how (see client:call_one)
      assert.equal("update", short.calls[3].one.name)
      -- anything more than one non-empty string goes the general way, checks included
      g.retrieve("A4", { fields = "basicInfo" })
      g.retrieve(17)
      g.retrieve_summary("A5", nil, { timeout = 5 })
      for i = 4, 6 do assert.is_nil(short.calls[i].one) end
      assert.same({ ["account-key"] = "17" }, short.calls[5].opts.path)
      assert.has_error(function() g.retrieve("") end)
      assert.has_error(function() g:retrieve("A1") end)
      -- an operation that asks for XML, or sends a body of its own type, goes the general way too
      operations.group(short, "describe").object("Account")
      assert.equal("text/xml; charset=utf-8", short.calls[7].opts.headers.Accept)
      pcall(operations.group(short, "invoices").upload_file, "INV1") -- multipart: request_opts shapes it
      for i = 8, #short.calls do assert.is_nil(short.calls[i].one) end
      assert.is_false(rawget(operations.group(short, "invoices").upload_file, "one"))
    end)

    it("returns what the client returns, errors included", function()
      local failing = recorder(nil, "boom")
      local res, err = operations.group(failing, "accounts").retrieve("A1")
      assert.is_nil(res)
      assert.equal("boom", err)
      local ok = recorder({ basicInfo = { id = "x" } })
      assert.same({ basicInfo = { id = "x" } }, operations.group(ok, "accounts").retrieve("A1"))
    end)
  end)

  describe("argument checks", function()
    it("names a missing path parameter", function()
      assert.has_error(function() accounts.retrieve() end,
        "accounts.retrieve: path parameter account-key (argument 1) is missing; "
        .. "expected accounts.retrieve(account_key, query, options)")
      local subs = operations.group(client, "subscriptions")
      assert.has_error(function() subs.retrieve_version("S-1") end,
        "subscriptions.retrieve_version: path parameter version (argument 2) is missing; "
        .. "expected subscriptions.retrieve_version(subscription_key, version, query, options)")
      assert.equal(0, #client.calls)
    end)

    it("names a path parameter of the wrong type", function()
      assert.has_error(function() accounts.retrieve({ id = "A1" }) end,
        "accounts.retrieve: path parameter account-key (argument 1) must be a string or an integer, got table; "
        .. "expected accounts.retrieve(account_key, query, options)")
      assert.has_error(function() accounts.retrieve(true) end)
      assert.has_error(function() accounts.retrieve(1.5) end,
        "accounts.retrieve: path parameter account-key (argument 1) is not an integer (1.5); "
        .. "expected accounts.retrieve(account_key, query, options)")
      assert.has_error(function() accounts.retrieve(0 / 0) end)
      assert.has_error(function() accounts.retrieve(math.huge) end)
      assert.has_error(function() accounts.retrieve("") end,
        "accounts.retrieve: path parameter account-key (argument 1) is an empty string; "
        .. "expected accounts.retrieve(account_key, query, options)")
      assert.equal(0, #client.calls)
    end)

    it("reports the caller's line, not the module's", function()
      local ok, err = pcall(function() accounts.retrieve() end)
      assert.is_false(ok)
      assert.truthy(err:find("operations_spec.lua:%d+: accounts.retrieve"), err)
    end)

    it("refuses params and options that are not tables", function()
      assert.has_error(function() accounts.create("name=Acme") end,
        "accounts.create: argument 1 (body) must be a table, got string; expected accounts.create(body, options)")
      assert.has_error(function() accounts.retrieve("A1", "fields=x") end,
        "accounts.retrieve: argument 2 (query) must be a table, got string; "
        .. "expected accounts.retrieve(account_key, query, options)")
      assert.has_error(function() accounts.retrieve("A1", nil, "fast") end,
        "accounts.retrieve: argument 3 (options) must be a table, got string")
    end)

    it("refuses unknown options and options of the wrong type", function()
      assert.has_error(function() accounts.create({}, { idempotencyKey = "k" }) end)
      local ok, err = pcall(accounts.create, {}, { idempotencyKey = "k" })
      assert.is_false(ok)
      assert.truthy(err:find("accounts.create: unknown option idempotencyKey", 1, true), err)
      assert.has_error(function() accounts.create({}, { timeout = "5" }) end,
        "accounts.create: option timeout must be a number, got string")
      assert.has_error(function() accounts.create({}, { zuora_version = 211.0 }) end,
        "accounts.create: option zuora_version must be a string, got number")
      assert.equal(0, #client.calls)
    end)

    it("refuses too many arguments", function()
      assert.has_error(function() accounts.retrieve("A1", {}, {}, "extra") end,
        "accounts.retrieve: too many arguments (4); expected accounts.retrieve(account_key, query, options)")
    end)

    it("explains a colon call", function()
      assert.has_error(function() accounts:retrieve("A1") end,
        "accounts.retrieve: call it with a dot (accounts.retrieve(account_key, query, options)), not with a colon")
      assert.has_error(function() accounts:create({}) end)
    end)

    it("prepare() returns the request options without calling", function()
      local opts = accounts.retrieve:prepare("A1", { fields = "x" })
      assert.same({ ["account-key"] = "A1" }, opts.path)
      assert.same({ fields = "x" }, opts.query)
      assert.equal(0, #client.calls)
    end)
  end)

  describe("operation objects", function()
    it("expose their catalogue entry's fields", function()
      local op = accounts.retrieve
      assert.equal("retrieve", op.name)
      assert.equal("accounts", op.group)
      assert.equal("GET", op.method)
      assert.equal("/v1/accounts/{account-key}", op.path)
      assert.same({ "account-key" }, op.params)
      assert.equal("Retrieve an account", op.title)
      assert.equal(client, op.client)
    end)

    it("print as method, path, title, documentation link and call shape", function()
      local op = accounts.retrieve
      local lines = {}
      for line in tostring(op):gmatch("[^\n]+") do lines[#lines + 1] = line end
      assert.equal("GET /v1/accounts/{account-key} — Retrieve an account", lines[1])
      assert.equal(op.doc, lines[2])
      assert.truthy(lines[2]:find("^https://developer%.zuora%.com/"))
      assert.equal("accounts.retrieve(account_key, query, options)", lines[3])
    end)

    it("run as a task through client:spawn", function()
      local task = accounts.retrieve:async("A1", { x = 1 })
      assert.equal("task", task)
      assert.equal(accounts.retrieve, client.spawned.fn)
      assert.equal(2, client.spawned.n)
      assert.equal("A1", client.spawned[1])
      assert.same({ x = 1 }, client.spawned[2])
    end)

    it("delegate each, pages and all to zuora.paginate with the operation and its client", function()
      local seen = {}
      local fake = {}
      for _, fn in ipairs({ "each", "pages", "all" }) do
        fake[fn] = function(op, c, ...)
          seen[#seen + 1] = { fn = fn, op = op, client = c, n = select("#", ...), first = (...) }
          return fn
        end
      end
      local saved = package.loaded["zuora.paginate"]
      package.loaded["zuora.paginate"] = fake
      local ok, err = pcall(function()
        local list = operations.group(client, "payments").list
        assert.equal("each", list:each({ pageSize = 40 }))
        assert.equal("pages", list:pages())
        assert.equal("all", list:all({ status = "Processed" }, { timeout = 3 }))
        assert.equal(list, seen[1].op)
        assert.equal(client, seen[1].client)
        assert.same({ pageSize = 40 }, seen[1].first)
        assert.equal(0, seen[2].n)
        assert.equal(2, seen[3].n)
      end)
      package.loaded["zuora.paginate"] = saved
      assert(ok, err)
    end)
  end)

  describe("loading", function()
    local function unload()
      local saved = {}
      for name, mod in pairs(package.loaded) do
        if name == "zuora.operations" or name:match("^zuora%.catalog") then
          saved[name] = mod
          package.loaded[name] = nil
        end
      end
      return saved
    end
    local function restore(saved)
      for name in pairs(package.loaded) do
        if name == "zuora.operations" or name:match("^zuora%.catalog") then package.loaded[name] = nil end
      end
      for name, mod in pairs(saved) do package.loaded[name] = mod end
    end

    it("loads no catalogue data until a group is used, then only that group", function()
      local saved = unload()
      local ok, err = pcall(function()
        local ops = require "zuora.operations"
        assert.is_nil(package.loaded["zuora.catalog"])
        local g = ops.group(recorder(), "contacts")
        assert.is_table(g)
        assert.is_table(package.loaded["zuora.catalog"])
        assert.is_table(package.loaded["zuora.catalog.contacts"])
        local loaded = {}
        for name in pairs(package.loaded) do
          if name:match("^zuora%.catalog%.") then loaded[#loaded + 1] = name end
        end
        assert.same({ "zuora.catalog.contacts" }, loaded)
      end)
      restore(saved)
      assert(ok, err)
    end)
  end)

  describe("operations.list", function()
    it("lists every catalogue operation with group, name, method, path, title, idempotent and reads", function()
      local list = operations.list()
      assert.equal(require("zuora.catalog").count, #list)
      assert.same({ group = "accounts", name = "create", method = "POST", path = "/v1/accounts",
        title = "Create an account", idempotent = false, reads = false }, list[15])
      for _, o in ipairs(list) do
        assert.is_string(o.group)
        assert.is_string(o.name)
        assert.truthy(o.method:match("^%u+$"))
        assert.truthy(o.path:match("^/"))
        assert.is_string(o.title)
      end
      assert.not_equal(list, operations.list())
    end)

    it("finds an entry by group and name", function()
      assert.equal("/v1/action/amend", operations.entry("actions", "amend").path)
      assert.is_nil(operations.entry("actions", "nope"))
      assert.is_nil(operations.entry("nope", "amend"))
    end)
  end)
end)
