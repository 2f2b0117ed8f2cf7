--- Valid-looking request values from an OpenAPI 3.0 document (the older Zuora spec), for the Prism peer
-- check (spec/prism_spec.lua): path and query parameters and request bodies that satisfy their
-- schemas (types, formats, enums, lengths, bounds, required properties). Optional properties and
-- query parameters are filled in as well (near the top of a body), so that more of what the client
-- encodes meets the spec's validation.
--
--   local values = require("tools.prism-values").new(spec, { null = cjson.null, array_mt = json.array_mt })
--   local op = values:operation("POST_Account")              -- {method, path, op, item} or nil
--   local body = values:body(op)                             -- value, content type (or nil)
--   local v = values:param(op, "account-key")                -- a path parameter's value
--   local q = values:parameters(op, "query", true)           -- { name = value }, optional ones too
--
-- Pure Lua; the document must come from a decoder whose null is a distinct value (cjson.null).
local M = {}

local METHODS = { "get", "post", "put", "patch", "delete" }
local MAX_DEPTH = 12
local OPTIONAL_DEPTH = 4 -- objects this deep or deeper get their required properties only

local Values = {}
Values.__index = Values

--- Builds a generator over `spec` (decoded JSON). opts.null: the decoder's null value; opts.array_mt:
--- the metatable that makes a table encode as a JSON array (so an empty one stays `[]`); opts.examples:
--- prefer the spec's own `example` values (spec/prism_corpus_spec.lua).
function M.new(spec, opts)
  opts = opts or {}
  local self = setmetatable({ spec = spec, null = opts.null, array_mt = opts.array_mt, by_id = {},
    examples = opts.examples == true }, Values)
  for path, item in pairs(spec.paths or {}) do
    for _, m in ipairs(METHODS) do
      local op = item[m]
      if type(op) == "table" and op.operationId then
        self.by_id[op.operationId] = { method = m:upper(), path = path, op = op, item = item }
      end
    end
  end
  return self
end

--- The operation with this operationId: { method, path, op, item }, or nil.
function Values:operation(id) return self.by_id[id] end

--- Follows "$ref" pointers inside the document.
function Values:deref(node)
  local hops = 0
  while type(node) == "table" and node["$ref"] do
    local cur = self.spec
    for part in node["$ref"]:gsub("^#/", ""):gmatch("[^/]+") do
      cur = cur[(part:gsub("~1", "/"):gsub("~0", "~"))]
    end
    node = cur
    hops = hops + 1
    assert(hops < 50, "reference loop")
  end
  return node
end

--- One schema from a schema and its allOf parts: properties and required names are united, other
-- keywords come from the first part that has them.
function Values:merged(schema, depth)
  schema = self:deref(schema)
  if type(schema) ~= "table" or type(schema.allOf) ~= "table" then return schema end
  local out = { properties = {}, required = {} }
  local function add(s, d)
    s = self:deref(s)
    if type(s) ~= "table" or d > MAX_DEPTH then return end
    for k, v in pairs(s) do
      if k ~= "allOf" and k ~= "properties" and k ~= "required" and out[k] == nil then out[k] = v end
    end
    if type(s.properties) == "table" then
      for name, p in pairs(s.properties) do
        if out.properties[name] == nil then out.properties[name] = p end
      end
    end
    if type(s.required) == "table" then
      for _, name in ipairs(s.required) do out.required[#out.required + 1] = name end
    end
    if type(s.allOf) == "table" then
      for _, sub in ipairs(s.allOf) do add(sub, d + 1) end
    end
  end
  add(schema, depth or 0)
  return out
end

local function string_value(s)
  local fmt = type(s.format) == "string" and s.format:lower() or nil
  local v
  if fmt == "date" then v = "2024-01-15"
  elseif fmt == "date-time" or fmt == "datetime" then v = "2024-01-15T10:20:30Z"
  elseif fmt == "email" then v = "ada@example.com"
  elseif fmt == "uuid" then v = "8f2c1e5a-4b6d-4e8f-9a1b-2c3d4e5f6a7b"
  elseif fmt == "url" or fmt == "uri" then v = "https://example.com/a"
  elseif fmt == "byte" then v = "QUJD"
  elseif fmt == "binary" then v = "a,b\n1,2\n"
  elseif fmt == "decimal" or fmt == "double" or fmt == "number" or fmt == "float" then v = "10.25"
  elseif fmt == "int32" or fmt == "int64" or fmt == "integer" then v = "7"
  else v = "Z1"
  end
  local min, max = tonumber(s.minLength), tonumber(s.maxLength)
  if min and #v < min then v = v .. ("x"):rep(min - #v) end
  if max and #v > max then v = v:sub(1, math.max(max, min or 0)) end
  return v
end

local function number_value(s, integer)
  local lo, hi = tonumber(s.minimum), tonumber(s.maximum)
  local v = integer and 7 or 10.25
  if lo and v < lo then v = lo end
  if hi and v > hi then v = hi end
  if s.exclusiveMinimum == true and lo and v <= lo then v = lo + 1 end
  if s.exclusiveMaximum == true and hi and v >= hi then v = hi - 1 end
  if integer then v = math.tointeger(v) or math.floor(v) end
  return v
end

--- A value satisfying `schema` with only the required properties of objects.
function Values:value(schema, depth)
  depth = depth or 0
  local s = self:merged(schema, depth)
  if type(s) ~= "table" then return "Z1" end
  -- With opts.examples, a scalar `example` the spec gives for the schema is used as it is.
  if self.examples and s.example ~= nil and type(s.example) ~= "table" and s.example ~= self.null then
    return s.example
  end
  if type(s.enum) == "table" and s.enum[1] ~= nil then
    for _, v in ipairs(s.enum) do
      if v ~= self.null and v ~= "" then return v end
    end
    return s.enum[1]
  end
  local t = s.type
  if t == nil then
    if type(s.properties) == "table" then t = "object"
    elseif s.items then t = "array"
    else t = "string" end
  end
  if t == "string" then return string_value(s)
  elseif t == "integer" then return number_value(s, true)
  elseif t == "number" then return number_value(s, false)
  elseif t == "boolean" then return true
  elseif t == "array" then
    local n = math.max(1, tonumber(s.minItems) or 1)
    if tonumber(s.maxItems) then n = math.min(n, tonumber(s.maxItems)) end
    local out = setmetatable({}, self.array_mt)
    if depth >= MAX_DEPTH then return out end
    for i = 1, n do out[i] = self:value(s.items or {}, depth + 1) end
    return out
  end
  -- object: the required properties only
  local out = {}
  if depth >= MAX_DEPTH then return out end
  local props = type(s.properties) == "table" and s.properties or {}
  for _, name in ipairs(type(s.required) == "table" and s.required or {}) do
    out[name] = self:value(props[name] or {}, depth + 1)
  end
  -- Optional properties too, near the top, so more of the client's encoding meets the schemas.
  if depth < OPTIONAL_DEPTH then
    for name, p in pairs(props) do
      if out[name] == nil then out[name] = self:value(p, depth + 1) end
    end
  end
  return out
end

--- The operation's parameters (path-level ones first, operation ones overriding), dereferenced.
function Values:params(entry)
  local byname, order = {}, {}
  for _, list in ipairs({ entry.item.parameters or {}, entry.op.parameters or {} }) do
    for _, p in ipairs(list) do
      p = self:deref(p)
      local key = p["in"] .. ":" .. p.name:lower()
      if not byname[key] then order[#order + 1] = key end
      byname[key] = p
    end
  end
  local out = {}
  for i, key in ipairs(order) do out[i] = byname[key] end
  return out
end

--- A valid value for the named path parameter (string form).
function Values:param(entry, name)
  for _, p in ipairs(self:params(entry)) do
    if p["in"] == "path" and p.name == name then
      local v = self:value(p.schema or {}, 0)
      return tostring(v)
    end
  end
  return "Z1"
end

--- The path parameter names of the operation's path, in order.
function Values:path_names(entry)
  local out = {}
  for name in entry.path:gmatch("{([^}]+)}") do out[#out + 1] = name end
  return out
end

--- { name = value } for the parameters of one location ("query" or "header"): the required ones, or
--- all of them with `all`.
function Values:parameters(entry, where, all)
  local out = {}
  for _, p in ipairs(self:params(entry)) do
    if p["in"] == where and (all or p.required == true) then
      local v = self:value(p.schema or {}, 0)
      if type(v) == "table" then
        for i, x in ipairs(v) do v[i] = tostring(x) end
        out[p.name] = v
      else
        out[p.name] = tostring(v)
      end
    end
  end
  return out
end

--- The request body: a value and its content type, or nil when the operation takes none.
-- JSON types come first; for multipart/form-data the value is the form's fields.
function Values:body(entry)
  local rb = self:deref(entry.op.requestBody)
  if type(rb) ~= "table" or type(rb.content) ~= "table" then return nil end
  local best
  for ct in pairs(rb.content) do
    if not best or (ct:find("json", 1, true) and not best:find("json", 1, true)) or (ct < best and
        (ct:find("json", 1, true) ~= nil) == (best:find("json", 1, true) ~= nil)) then
      best = ct
    end
  end
  local media = rb.content[best]
  return self:value(type(media) == "table" and media.schema or {}, 0), best, rb.required == true
end

--- True if the body property `name` is a file (format binary), as in multipart uploads.
function Values:is_binary(entry, name)
  local rb = self:deref(entry.op.requestBody)
  for _, media in pairs(type(rb) == "table" and type(rb.content) == "table" and rb.content or {}) do
    local s = self:merged(type(media) == "table" and media.schema or {}, 0)
    local p = type(s) == "table" and type(s.properties) == "table" and self:merged(s.properties[name], 0)
    if type(p) == "table" and p.format == "binary" then return true end
  end
  return false
end

return M
