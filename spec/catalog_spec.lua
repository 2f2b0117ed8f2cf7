-- The generated catalogue against Zuora's reference index: every operation present, names that follow
-- the rules, every operation callable, generated files up to date.
local operations = require "zuora.operations"
local catalog = require "zuora.catalog"
local unpack = table.unpack or unpack -- luacheck: ignore 143

local INDEX_NAME = "002_91bad84248d6d855.txt"
local function index_text()
  local candidates = { "../shared/reference/" .. INDEX_NAME, "../../shared/reference/" .. INDEX_NAME,
    "/work/shared/reference/" .. INDEX_NAME }
  local env = os.getenv("ZUORA_REFERENCE_INDEX")
  if env and env ~= "" then table.insert(candidates, 1, env) end
  for _, p in ipairs(candidates) do
    local f = io.open(p, "rb")
    if f then
      local s = f:read("a")
      f:close()
      return s
    end
  end
  return nil
end

local KEYWORDS = {}
for kw in ([[and break do else elseif end false for function goto if in local nil not or repeat
  return then true until while]]):gmatch("%a+") do KEYWORDS[kw] = true end

-- Methods and fields a client has (DESIGN.md) or is likely to get: no group may shadow them.
local CLIENT_FIELDS = { "request", "query", "data_query", "spawn", "gather", "map", "close", "sleep", "wait",
  "run", "revenue", "new", "from_env", "config", "options", "auth", "transport" }

local function all_entries()
  local out = {}
  for _, g in ipairs(catalog.groups) do
    for _, e in ipairs(require(g.module)) do out[#out + 1] = e end
  end
  return out
end

local function snake_case(s)
  return s:match("^[a-z][a-z0-9_]*$") ~= nil and not s:find("__", 1, true) and not s:match("_$")
    and not KEYWORDS[s]
end

describe("catalogue #luajit", function()
  it("has every method and path of the reference index", function()
    local text = index_text()
    if not text then
      pending("reference index " .. INDEX_NAME .. " not found (set ZUORA_REFERENCE_INDEX)")
      return
    end
    local want, n = {}, 0
    for method, path in text:gmatch("\n%- %[(%u+) (/[^%]]*)%]%(") do
      want[method .. " " .. path] = true
      n = n + 1
    end
    assert.equal(714, n)
    local have = {}
    for _, e in ipairs(all_entries()) do have[e.method .. " " .. e.path] = true end
    local missing = {}
    for k in pairs(want) do
      if not have[k] then missing[#missing + 1] = k end
    end
    table.sort(missing)
    assert.same({}, missing)
  end)

  it("has the index's groups in its order", function()
    local text = index_text()
    if not text then
      pending("reference index not found")
      return
    end
    local headings, current, has_op = {}, nil, {}
    for line in text:gmatch("[^\n]+") do
      local h = line:match("^## (.-)%s*$")
      if h then current = h end
      if current and line:match("^%- %[%u+ /") and not has_op[current] then
        has_op[current] = true
        headings[#headings + 1] = current
      end
    end
    local titles = {}
    for i, g in ipairs(catalog.groups) do titles[i] = g.title end
    assert.same(headings, titles)
  end)

  it("adds the legacy Actions amend, execute, generate and subscribe", function()
    for _, name in ipairs({ "amend", "execute", "generate", "subscribe" }) do
      local e = operations.entry("actions", name)
      assert.is_table(e, name)
      assert.equal("POST", e.method)
      assert.equal("/v1/action/" .. name, e.path)
      assert.is_true(e.legacy)
      assert.truthy(e.doc:find("^https://"))
    end
    for _, name in ipairs({ "create", "delete", "query", "query_more", "update" }) do
      assert.is_table(operations.entry("actions", name), name)
    end
  end)

  it("describes its groups truthfully", function()
    local total, seen = 0, {}
    for _, g in ipairs(catalog.groups) do
      assert.is_true(snake_case(g.name), g.name)
      assert.is_nil(seen[g.name], g.name)
      seen[g.name] = true
      assert.equal("zuora.catalog." .. g.name, g.module)
      local entries = require(g.module)
      assert.equal(g.count, #entries, g.name)
      assert.is_string(g.title)
      total = total + g.count
      for _, e in ipairs(entries) do assert.equal(g.name, e.group) end
    end
    assert.equal(catalog.count, total)
    assert.equal(718, total)
  end)

  it("keeps group names off the client's own fields", function()
    for _, field in ipairs(CLIENT_FIELDS) do
      assert.is_false(operations.is_group(field), field)
    end
  end)

  it("names operations in snake_case, uniquely per group", function()
    for _, g in ipairs(catalog.groups) do
      local seen = {}
      for _, e in ipairs(require(g.module)) do
        assert.is_true(snake_case(e.name), g.name .. "." .. e.name)
        assert.is_nil(seen[e.name], g.name .. "." .. e.name)
        seen[e.name] = true
      end
    end
  end)

  it("follows the naming rule on the examples of DESIGN.md", function()
    assert.equal("/v1/accounts", operations.entry("accounts", "create").path)
    assert.equal("/v1/accounts/{account-key}/summary", operations.entry("accounts", "retrieve_summary").path)
    assert.equal("/v1/accounts/{account-key}/payment-methods",
      operations.entry("accounts", "list_payment_methods").path)
    assert.equal("/v1/credit-memos/{creditMemoKey}", operations.entry("credit_memos", "retrieve").path)
    assert.equal("/object-query/accounts", operations.entry("object_queries", "list_accounts").path)
  end)

  it("lists each path's parameters in path order", function()
    for _, e in ipairs(all_entries()) do
      local want = {}
      for p in e.path:gmatch("{([^}]+)}") do want[#want + 1] = p end
      assert.same(want, e.params, e.group .. "." .. e.name)
    end
  end)

  it("keeps only well-formed facts", function()
    local methods = { GET = true, POST = true, PUT = true, PATCH = true, DELETE = true }
    local function strings(t)
      if t == nil then return true end
      for k, v in pairs(t) do
        if type(k) ~= "number" or type(v) ~= "string" then return false end
      end
      return true
    end
    for _, e in ipairs(all_entries()) do
      local id = e.group .. "." .. e.name
      assert.is_true(methods[e.method], id)
      assert.truthy(e.path:match("^/%S+$"), id)
      assert.truthy(e.doc:match("^https://developer%.zuora%.com/"), id)
      assert.is_true(strings(e.query), id)
      assert.is_true(strings(e.required), id)
      assert.is_true(strings(e.required_query), id)
      if e.path_formats then
        assert.equal(#e.params, #e.path_formats, id)
        for _, f in ipairs(e.path_formats) do
          assert.truthy(f == "" or f == "uuid" or f == "integer" or f:match("^enum:[^,]+"), id)
        end
      end
      if e.no_body then assert.truthy(e.method == "POST" or e.method == "PUT" or e.method == "PATCH", id) end
      if e.min_version then assert.truthy(e.min_version:match("^%d+%.%d$"), id) end
      for _, t in ipairs({ e.fields_since or {}, e.fields_before or {} }) do
        for k, v in pairs(t) do
          assert.is_string(k)
          assert.truthy(v:match("^%d+%.%d$"), id)
        end
      end
    end
  end)

  it("derives facts from the older spec where it has the operation", function()
    local create = operations.entry("accounts", "create")
    assert.equal("POST_Account", create.spec_id)
    assert.same({ "name", "currency", "billToContact" }, create.required)
    local query = operations.entry("actions", "query")
    assert.same({ "queryString" }, query.required)
    local cancel = operations.entry("subscriptions", "cancel")
    assert.equal("211.0", cancel.min_version)
    -- Renamed paths match loosely and keep the old spelling for peers that only know it.
    local cm = operations.entry("credit_memos", "retrieve")
    assert.equal("/v1/creditmemos/{creditMemoId}", cm.spec_path)
    assert.same({ "accountId" }, operations.entry("billing_documents", "list").required_query)
    assert.is_true(operations.entry("payments", "cancel").no_body)
    assert.same({ "uuid" }, operations.entry("custom_event_triggers", "retrieve").path_formats)
    assert.equal("multipart/form-data", operations.entry("usage", "upload_file").content)
  end)

  it("makes every operation callable with its path parameters, params and options", function()
    local client = { calls = {} }
    function client:request(method, path, opts)
      self.calls[#self.calls + 1] = { method = method, path = path, opts = opts }
      return { success = true }
    end
    local n = 0
    for _, g in ipairs(catalog.groups) do
      local group = operations.group(client, g.name)
      for _, e in ipairs(require(g.module)) do
        local args, want_path = {}, {}
        for i, p in ipairs(e.params) do
          args[i] = "v" .. i .. "/" .. p
          want_path[p] = args[i]
        end
        local csv = e.content and e.content ~= "application/x-www-form-urlencoded"
          and e.content ~= "multipart/form-data"
        args[#args + 1] = csv and ("probe," .. e.name) or { probe = e.name }
        args[#args + 1] = { headers = { ["X-Probe"] = "1" } }
        local res = group[e.name](unpack(args))
        assert.same({ success = true }, res)
        local call = client.calls[#client.calls]
        local id = g.name .. "." .. e.name
        assert.equal(e.method, call.method, id)
        assert.equal(e.path, call.path, id)
        assert.same(want_path, call.opts.path, id)
        assert.equal(e, call.opts.op, id)
        assert.same({ ["X-Probe"] = "1", Accept = e.accept }, call.opts.headers, id)
        if e.content == "application/x-www-form-urlencoded" then
          assert.equal("probe=" .. e.name, call.opts.body, id)
        elseif csv then
          assert.equal("probe," .. e.name, call.opts.body, id)
          assert.equal(e.content, call.opts.content_type, id)
        elseif e.content == "multipart/form-data" then
          assert.same({ { name = "probe", data = e.name } }, call.opts.multipart, id)
          assert.is_nil(call.opts.body, id)
        elseif e.method == "POST" or e.method == "PUT" or e.method == "PATCH" then
          assert.same({ probe = e.name }, call.opts.body, id)
          assert.is_nil(call.opts.query, id)
        else
          assert.same({ probe = e.name }, call.opts.query, id)
          assert.is_nil(call.opts.body, id)
        end
        n = n + 1
      end
    end
    assert.equal(catalog.count, n)
  end)

  it("documents every operation in docs/api.md", function()
    local f = assert(io.open("docs/api.md", "rb"))
    local doc = f:read("a")
    f:close()
    assert.truthy(doc:find("^<!%-%- Generated by tools/gen%-catalog%.lua"))
    for _, e in ipairs(all_entries()) do
      assert.truthy(doc:find("`" .. e.group .. "." .. e.name .. "(", 1, true), e.group .. "." .. e.name)
      assert.truthy(doc:find("`" .. e.path .. "`", 1, true), e.path)
    end
  end)

  it("says in each generated file that it is generated and how to regenerate it", function()
    local files = { "lua/zuora/catalog/init.lua" }
    for _, g in ipairs(catalog.groups) do files[#files + 1] = "lua/zuora/catalog/" .. g.name .. ".lua" end
    for _, path in ipairs(files) do
      local f = assert(io.open(path, "rb"))
      local first = f:read("l")
      f:close()
      assert.truthy(first:find("^%-%- Generated by tools/gen%-catalog%.lua"), path)
      assert.truthy(first:find("Regenerate: make catalog", 1, true), path)
    end
  end)

  it("is what the generator makes now (rerunning it changes nothing)", function()
    if not index_text() then
      pending("reference index not found")
      return
    end
    local ok = os.execute("lua5.4 tools/gen-catalog.lua --check")
    assert.truthy(ok == true or ok == 0, "generated files are stale: run make catalog")
  end)
end)
