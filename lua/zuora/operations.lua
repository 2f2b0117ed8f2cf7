--- Operation objects: every catalogue operation as a callable object bound to a client.
--
--   local accounts = operations.group(client, "accounts")   -- what `client.accounts` returns
--   local acct, err = accounts.retrieve("A00000001", nil, { zuora_version = "2025-08-12" })
--   print(accounts)                 -- the group's operations, one a line
--   print(accounts.retrieve)        -- method, path, title, documentation link, call shape
--
-- Call shape: `op(path_params..., params, options)`. Path parameters come first in the order of the
-- path template, then `params` (the JSON body for POST/PUT/PATCH, the query for GET/DELETE), then
-- `options`. The call becomes `client:request(op.method, op.path, opts)`, or, given only its one
-- path value, `client:call_one(entry, value)`, which sends the same request (see
-- docs/ARCHITECTURE.md, "Operation objects"). Mistakes in the arguments raise at once; failures
-- of the request itself are the client's `nil, err`.
--
-- Loading this module loads no catalogue data: the group index and each group's operations are
-- required on first use, so `require "zuora"` stays fast.
local M = {}

local BODY_METHODS = { POST = true, PUT = true, PATCH = true }

-- The options an operation accepts, with their Lua types. Anything else is a mistake (a misspelt
-- `idempotencyKey` silently ignored could send a payment twice), so unknown keys raise.
local OPTION_TYPES = {
  query = "table", headers = "table", idempotency_key = "string", zuora_version = "string",
  track_id = "string", timeout = "number", output = "string", raw = "boolean", multipart = "table",
  decimals = "boolean", -- non-integer numbers of the answer as zuora.decimal (docs/decimal.md)
  body_file = "string", on_progress = "function", -- on_progress: transfer progress (docs/bulk.md)
  dry_run = "boolean", -- safety rails (docs/client.md)
  deadline = "number", -- seconds the whole call may take, retries included
}
local OPTION_NAMES = {}
for k in pairs(OPTION_TYPES) do OPTION_NAMES[#OPTION_NAMES + 1] = k end
table.sort(OPTION_NAMES)
OPTION_NAMES = table.concat(OPTION_NAMES, ", ")

local FORM = "application/x-www-form-urlencoded"
local MULTIPART = "multipart/form-data"

-- Per catalogue module ("zuora.catalog" for Billing, "zuora.catalog.revenue" for Revenue):
-- { groups = {...}, by_name = {[name] = group info} }, loaded on first use.
local index_cache = {}

local function catalog_index(module)
  module = module or "zuora.catalog"
  local idx = index_cache[module]
  if not idx then
    local cat = require(module)
    local by_name = {}
    for _, g in ipairs(cat.groups) do by_name[g.name] = g end
    idx = { groups = cat.groups, by_name = by_name, version = cat.version }
    index_cache[module] = idx
  end
  return idx
end

-- Group tables hold only their operations as fields; what else a group knows lives here, keyed
-- weakly by the group table (nothing in the values refers back to the key, so LuaJIT's weak tables,
-- which are not ephemerons, still let a group go).
local group_info = setmetatable({}, { __mode = "k" })

---------------------------------------------------------------------------------------------------
-- Operation objects
---------------------------------------------------------------------------------------------------
local Op = {}       -- metatable of operation objects
local methods = {}  -- op:each(), op:pages(), op:all(), op:async()

--- Lua-friendly names of path parameters for messages and signatures: account-key -> account_key.
local function arg_name(p)
  return (p:gsub("(%l)(%u)", "%1_%2"):lower():gsub("[^%w]+", "_"))
end

local function signature(entry)
  local args = {}
  for i, p in ipairs(entry.params) do args[i] = arg_name(p) end
  args[#args + 1] = BODY_METHODS[entry.method] and "body" or "query"
  args[#args + 1] = "options"
  return ("%s.%s(%s)"):format(entry.group, entry.name, table.concat(args, ", "))
end

local function full_name(entry) return entry.group .. "." .. entry.name end

--- A path parameter as the string that goes into the URL (the client percent-encodes it).
local function path_value(v)
  local t = type(v)
  if t == "string" then
    if v == "" then return nil, "is an empty string" end
    return v
  elseif t == "number" then
    if math.type and math.type(v) == "integer" then return tostring(v) end
    if v % 1 == 0 and v > -2 ^ 53 and v < 2 ^ 53 then return string.format("%d", v) end
    return nil, "is not an integer (" .. tostring(v) .. ")"
  elseif t == "nil" then
    return nil, "is missing"
  end
  return nil, "must be a string or an integer, got " .. t
end

local function check_options(entry, options)
  for k, v in pairs(options) do
    local want = OPTION_TYPES[k]
    if not want then
      error(("%s: unknown option %s (known: %s)"):format(full_name(entry), tostring(k), OPTION_NAMES), 4)
    end
    if type(v) ~= want then
      error(("%s: option %s must be a %s, got %s"):format(full_name(entry), k, want, type(v)), 4)
    end
  end
end

local function merge_query(entry, a, b)
  local q = {}
  for k, v in pairs(a) do q[k] = v end
  for k, v in pairs(b) do
    if q[k] ~= nil then
      error(("%s: query parameter %s given both in params and in options.query"):format(full_name(entry),
        tostring(k)), 4)
    end
    q[k] = v
  end
  return q
end

local function has_header(headers, lname)
  for k in pairs(headers or {}) do
    if type(k) == "string" and k:lower() == lname then return true end
  end
  return false
end

--- One multipart form field from a params value: text as is, other values as JSON text.
local function form_field(entry, name, v)
  if type(name) ~= "string" then
    error(("%s: multipart field names must be strings, got %s"):format(full_name(entry), type(name)), 5)
  end
  if type(v) == "string" then return { name = name, data = v } end
  if type(v) == "boolean" then return { name = name, data = tostring(v) } end
  local text, err = require("zuora.core").json.encode(v)
  if not text then error(("%s: multipart field %s: %s"):format(full_name(entry), name, err), 5) end
  return { name = name, data = text }
end

--- Operations whose body is not JSON (the catalogue's `content`) send `params` the way the API takes
--- it: a form-encoded string for application/x-www-form-urlencoded, form fields (before the parts of
--- options.multipart) for multipart/form-data, a string as it is for anything else (text/csv).
local function shape_body(entry, content, opts)
  local params = opts.body
  if content == FORM then
    if type(params) == "table" then
      opts.body = require("zuora.core").url.encode_query(params)
      opts.content_type = FORM
    end
  elseif content == MULTIPART then
    if type(params) == "table" then
      local names, parts = {}, {}
      for k in pairs(params) do names[#names + 1] = k end
      table.sort(names, function(a, b) return tostring(a) < tostring(b) end)
      for i, k in ipairs(names) do parts[i] = form_field(entry, k, params[k]) end
      for _, part in ipairs(opts.multipart or {}) do parts[#parts + 1] = part end
      opts.body, opts.multipart = nil, parts
    end
  elseif type(params) == "string" then
    opts.content_type = content
  elseif params ~= nil then
    error(("%s: the body is %s: give it as a string, or a file with options.body_file"):format(
      full_name(entry), content), 4)
  end
end

--- Checks the arguments and builds the opts table of client:request. Raises on mistakes.
local function request_opts(op, ...)
  local entry = op.entry -- entry and client are the object's own fields: no __index on the way
  local names = entry.params
  local np = #names
  local nargs = select("#", ...)
  if nargs > 0 and group_info[(...)] then
    error(("%s: call it with a dot (%s), not with a colon"):format(full_name(entry), signature(entry)), 3)
  end
  if nargs > np + 2 then
    error(("%s: too many arguments (%d); expected %s"):format(full_name(entry), nargs, signature(entry)), 3)
  end
  local path = {}
  for i = 1, np do
    local s = (select(i, ...))
    if type(s) ~= "string" or s == "" then -- a non-empty string, the usual id, goes in as it is
      local why
      s, why = path_value(s)
      if not s then
        error(("%s: path parameter %s (argument %d) %s; expected %s"):format(full_name(entry), names[i], i, why,
          signature(entry)), 3)
      end
    end
    path[names[i]] = s
  end
  local params, options = select(np + 1, ...)
  local opts = { path = path, op = entry }
  local body = BODY_METHODS[entry.method]
  local content = body and entry.content
  if params ~= nil then
    -- An operation whose body is a document of its own type (text/csv) takes it as a string.
    local raw_body = content and content ~= FORM and content ~= MULTIPART and type(params) == "string"
    if type(params) ~= "table" and not raw_body then
      error(("%s: argument %d (%s) must be a table%s, got %s; expected %s"):format(full_name(entry), np + 1,
        body and "body" or "query", content and content ~= FORM and content ~= MULTIPART
          and (" or a string (" .. content .. ")") or "", type(params), signature(entry)), 3)
    end
    if body then opts.body = params else opts.query = params end
  end
  if options ~= nil then
    if type(options) ~= "table" then
      error(("%s: argument %d (options) must be a table, got %s"):format(full_name(entry), np + 2,
        type(options)), 3)
    end
    check_options(entry, options)
    for k, v in pairs(options) do
      if k == "query" then
        opts.query = opts.query and merge_query(entry, opts.query, v) or v
      else
        opts[k] = v
      end
    end
  end
  if content then shape_body(entry, content, opts) end
  if entry.accept and not has_header(opts.headers, "accept") then
    -- An operation that answers something other than JSON (XML) asks for what it answers.
    local headers = { Accept = entry.accept }
    for k, v in pairs(opts.headers or {}) do headers[k] = v end
    opts.headers = headers
  end
  if opts.body_file and not has_header(opts.headers, "content-type") then
    opts.content_type = (content and content ~= MULTIPART) and content or "application/json"
  end
  return opts
end

function Op.__call(op, ...)
  if op.one and select("#", ...) == 1 then
    local v = ...
    if type(v) == "string" and v ~= "" then return op.client:call_one(op.entry, v) end
  end
  local opts = request_opts(op, ...)
  local entry = opts.op
  return op.client:request(entry.method, entry.path, opts)
end

function Op.__index(op, k)
  local m = methods[k]
  if m ~= nil then return m end
  return rawget(op, "entry")[k]
end

function Op.__tostring(op)
  local e = rawget(op, "entry")
  local lines = { ("%s %s — %s"):format(e.method, e.path, e.title) }
  if e.doc and e.doc ~= "" then lines[#lines + 1] = e.doc end
  lines[#lines + 1] = signature(e)
  return table.concat(lines, "\n")
end

Op.__name = "zuora.operation"

local function paginate() return require "zuora.paginate" end

--- Iterates the items of a paginated list across pages; raises on error.
function methods.each(op, ...) return paginate().each(op, rawget(op, "client"), ...) end
--- Iterates the pages of a paginated list.
function methods.pages(op, ...) return paginate().pages(op, rawget(op, "client"), ...) end
--- Returns every item of a paginated list, or nil, err.
function methods.all(op, ...) return paginate().all(op, rawget(op, "client"), ...) end
--- Runs the call as a task of the client's scheduler; returns the task.
function methods.async(op, ...) return rawget(op, "client"):spawn(op, ...) end

--- Checks the arguments of a call as the operation would, without calling: returns the opts table
--- that would go to client:request (useful for tests, dry runs and request logs).
function methods.prepare(op, ...) return request_opts(op, ...) end

local function new_op(client, entry)
  -- one: a call given just its one path value would get opts = {path = {[name] = value}, op =
  -- entry} from request_opts (no body type or Accept of its own to add), so it can go to the
  -- client's call_one instead, which takes a short way where it can. A client-like table without
  -- call_one (own field, as zuora.new clients have it) gets every call through request.
  local one = #entry.params == 1 and not entry.content and not entry.accept and rawget(client, "call_one") ~= nil
  return setmetatable({ client = client, entry = entry, one = one }, Op)
end

---------------------------------------------------------------------------------------------------
-- Groups
---------------------------------------------------------------------------------------------------
local Group = { __name = "zuora.group" }

function Group.__index(group, k)
  local info = group_info[group]
  error(("zuora: %s has no operation %s (print(client.%s) lists them)"):format(info.name, tostring(k),
    info.name), 2)
end

function Group.__tostring(group)
  local info = group_info[group]
  local rows, width = {}, 0
  for i, entry in ipairs(info.entries) do
    local sig = signature(entry):sub(#info.name + 2)
    rows[i] = { sig, entry }
    if #sig > width then width = #sig end
  end
  local lines = { ("%s: %s, %d operation%s"):format(info.name, info.title, #rows, #rows == 1 and "" or "s") }
  for _, row in ipairs(rows) do
    local sig, e = row[1], row[2]
    lines[#lines + 1] = ("  %s%s  %-6s %s — %s"):format(sig, (" "):rep(width - #sig), e.method, e.path, e.title)
  end
  return table.concat(lines, "\n")
end

local CACHE = {} -- private key under which a client table keeps its groups

local fallback_cache = setmetatable({}, { __mode = "k" }) -- for clients that are not tables

local function cache_of(client)
  if type(client) == "table" then
    local c = rawget(client, CACHE)
    if not c then
      c = {}
      rawset(client, CACHE, c)
    end
    return c
  end
  local c = fallback_cache[client]
  if not c then
    c = {}
    fallback_cache[client] = c
  end
  return c
end

--- The group `name` bound to `client`: a table whose fields are the group's operation objects.
-- Returns nil if the catalogue has no such group. The same client and name give the same table.
-- The cache lives in the client itself, so it goes away with the client. `catalog` names another
-- catalogue module (default "zuora.catalog"; a revenue client passes "zuora.catalog.revenue").
function M.group(client, name, catalog)
  if client == nil then error("operations.group: client expected", 2) end
  if type(name) ~= "string" then return nil end
  local cache = cache_of(client)
  local group = cache[name]
  if group then return group end
  local gi = catalog_index(catalog).by_name[name]
  if not gi then return nil end
  local entries = require(gi.module)
  group = {}
  for _, entry in ipairs(entries) do group[entry.name] = new_op(client, entry) end
  group_info[group] = { name = gi.name, title = gi.title, entries = entries }
  setmetatable(group, Group)
  cache[name] = group
  return group
end

--- The names of every group, in reference order (of `catalog`, default "zuora.catalog").
function M.groups(catalog)
  local out = {}
  for i, g in ipairs(catalog_index(catalog).groups) do out[i] = g.name end
  return out
end

--- True if `name` is a catalogue group (without loading the group).
function M.is_group(name, catalog)
  return type(name) == "string" and catalog_index(catalog).by_name[name] ~= nil
end

--- The catalogue entry of `group.name`, or nil.
function M.entry(group, name, catalog)
  local gi = catalog_index(catalog).by_name[group]
  if not gi then return nil end
  for _, entry in ipairs(require(gi.module)) do
    if entry.name == name then return entry end
  end
  return nil
end

--- Every catalogue operation as `{group, name, method, path, title, idempotent, reads}`, in
-- reference order (a fresh array each call; loads every group). `zuora.operations()` returns this.
-- idempotent: sending it twice leaves the tenant as sending it once; reads: it changes no data
-- (GETs, and queries and previews that travel as POST). docs/reliability.md.
function M.list(catalog)
  local out = {}
  for _, g in ipairs(catalog_index(catalog).groups) do
    for _, e in ipairs(require(g.module)) do
      out[#out + 1] = { group = g.name, name = e.name, method = e.method, path = e.path, title = e.title,
        idempotent = e.idempotent, reads = e.reads }
    end
  end
  return out
end

--- True if `v` is an operation object.
function M.is_operation(v) return getmetatable(v) == Op end

--- `group.name(path_args..., body|query, options)` for a catalogue entry, as print(op) and the
-- argument errors show it (the CLI's help uses it too, so the two never disagree).
M.signature = signature

--- A path parameter's Lua name in signatures: account-key -> account_key.
M.arg_name = arg_name

return M
