--- Query interfaces: Actions query/queryMore (ZOQL, 2000 records a batch, queryLocator) and
-- object queries (/object-query/{objects}: pageSize up to 99, cursor tokens, filter[], fields[],
-- expand[], sort[]).
local state = require "zuora_sim.state"
local json = require "zuora_sim.json"
local decimal = require "zuora_sim.decimal"
local zoql = require "zuora_sim.zoql"
local objects = require "zuora_sim.objects"
local C = require "zuora_sim.api.common"

local M = {}
local obj, arr = json.object, json.array

local BATCH = 2000

--- Runs a parsed query: the matching rows (source rows) of its object definition.
function M.run(q, dialect, opts)
  local def = objects.find(q.object)
  if not def then
    C.fail("invalid_value", "invalid object type: " .. q.object, "query", 400, "INVALID_TYPE")
  end
  if opts and opts.deleted then
    -- Data Query's readDeleted: the records deleted from this table (state.deleted), nothing else.
    local gone = state.deleted[def.name:lower()] or {}
    def = setmetatable({ rows = function() return gone end }, { __index = def })
  end
  local fields = q.fields == "*" and objects.all_fields(def) or q.fields
  for _, name in ipairs(fields) do
    if not objects.field_name(def, name) and not def.generic then
      C.fail("unknown_field", "invalid field for query: " .. def.name .. "." .. name, "query", 400, "INVALID_FIELD")
    end
  end
  for _, name in ipairs(zoql.fields_of(q.where)) do
    if not objects.field_name(def, name) and not def.generic then
      C.fail("unknown_field", "invalid field for query: " .. def.name .. "." .. name, "query", 400, "INVALID_FIELD")
    end
  end
  local rows = {}
  local get = function(row, field) return (objects.get(def, row, field)) end
  for _, row in ipairs(def.rows()) do
    if zoql.eval(q.where, row, get) then rows[#rows + 1] = row end
  end
  if dialect == "sql" and q.order_by then
    if not objects.field_name(def, q.order_by) then
      C.fail("unknown_field", "unknown column " .. q.order_by, "query")
    end
    table.sort(rows, function(a, b)
      local x, y = get(a, q.order_by), get(b, q.order_by)
      if x == nil or y == nil then return y ~= nil and not q.desc end
      local dx, dy = decimal.parse(x), decimal.parse(y)
      local lt
      if dx and dy then lt = decimal.cmp(dx, dy) < 0 else lt = tostring(x) < tostring(y) end
      if q.desc then return not lt and tostring(x) ~= tostring(y) end
      return lt
    end)
  end
  if q.limit and #rows > q.limit then
    for i = #rows, q.limit + 1, -1 do rows[i] = nil end
  end
  return def, rows, fields
end

local function batch_response(loc)
  local records = arr()
  local last = math.min(#loc.views, loc.pos + loc.batch - 1)
  for i = loc.pos, last do records[#records + 1] = loc.views[i] end
  loc.pos = last + 1
  local done = loc.pos > #loc.views
  local resp = obj("records", records, "size", #loc.views, "done", done)
  if not done then
    resp.queryLocator = loc.id
    loc.expires = ngx.now() + state.config.locator_ttl
    state.data.locators[loc.id] = loc
  else
    state.data.locators[loc.id] = nil
  end
  return resp
end

local function action_query(req)
  local b = req:json_body()
  local text = b.queryString
  if type(text) ~= "string" then C.fail("missing_field", "'queryString' is required", "query", 400,
    "MALFORMED_QUERY") end
  local q, err = zoql.parse(text, "zoql")
  if not q then C.fail("malformed_request", "You have an error in your ZOQL syntax: " .. err, "query", 400) end
  local def, rows, fields = M.run(q, "zoql")
  local views = {}
  for i, row in ipairs(rows) do views[i] = objects.view(def, row, fields, "pascal") end
  local batch = BATCH
  if type(b.conf) == "table" and b.conf.batchSize ~= nil then
    batch = json.tonumber(b.conf.batchSize)
    if not batch or batch < 1 or batch > BATCH then
      C.fail("invalid_value", "batchSize must be between 1 and 2000", "query", 400)
    end
  end
  local loc = { id = state.new_id("query_locator") .. "-" .. BATCH, views = views, pos = 1, batch = batch }
  return 200, batch_response(loc)
end

local function action_query_more(req)
  local b = req:json_body()
  local id = b.queryLocator
  local loc = type(id) == "string" and state.data.locators[id]
  if not loc or ngx.now() > loc.expires then
    state.data.locators[id or ""] = nil
    C.fail("invalid_value", "invalid query locator: " .. tostring(id), "query", 400, "INVALID_QUERY_LOCATOR")
  end
  return 200, batch_response(loc)
end

-- Object queries ---------------------------------------------------------------------------------

local OPS = { EQ = "=", NE = "!=", LT = "<", GT = ">", LE = "<=", GE = ">=" }

local function literal(text)
  if text == "null" then return { kind = "null" } end
  if text == "true" or text == "false" then return { kind = "boolean", value = text == "true" } end
  if text:match("^%-?%d+%.?%d*$") then return { kind = "number", value = text, text = text } end
  return { kind = "string", value = text }
end

-- filter[]=field.OP:value -> a zoql condition.
local function parse_filter(def, text)
  local field, op, value = text:match("^([%w_]+)%.(%u%u):(.*)$")
  if not field then C.fail("invalid_value", "Invalid filter '" .. text .. "': use field.OP:value", "query") end
  if not objects.field_name(def, field) then C.fail("unknown_field", "Unknown filter field '" .. field .. "'",
    "query") end
  if op == "SW" then
    local pattern = value:gsub("[%%_]", "")
    return { op = "like", field = field, lit = { kind = "string", value = pattern .. "%" } }
  end
  if op == "IN" then
    local list = value:match("^%[(.*)%]$") or value
    local alts
    for item in list:gmatch("[^,]+") do
      local cond = { op = "=", field = field, lit = literal(item) }
      alts = alts and { op = "or", alts, cond } or cond
    end
    return alts or { op = "isnull", field = "__none__" }
  end
  local zop = OPS[op]
  if not zop then C.fail("invalid_value", "Unknown filter operator '" .. op .. "'", "query") end
  local lit = literal(value)
  if lit.kind == "number" then
    -- A numeric-looking value also matches text fields holding the same characters.
    return { op = "or", { op = zop, field = field, lit = lit }, { op = zop, field = field, lit = { kind = "string",
      value = value } } }
  end
  return { op = zop, field = field, lit = lit }
end

local function query_values(req, suffix)
  local out = {}
  for _, kv in ipairs(req.query_pairs) do
    if kv[1] == suffix or kv[1]:sub(-#suffix - 1) == "." .. suffix then out[#out + 1] = kv[2] end
  end
  return out
end

local function oq_fields(def, req)
  local list = query_values(req, "fields[]")
  if #list == 0 then return objects.all_fields(def) end
  local fields = {}
  for _, v in ipairs(list) do
    for name in v:gmatch("[^,%s]+") do
      if not objects.field_name(def, name) then C.fail("unknown_field", "Unknown field '" .. name .. "'", "query") end
      fields[#fields + 1] = name
    end
  end
  return fields
end

-- expand[] values: comma-separated names, each a path of related objects ("a.b" expands b on
-- every a). Grouped by first step so "productrateplancharges,productrateplancharges.tiers" expands
-- the charges once and the tiers on each of them.
local function expand_tree(values)
  local tree = {}
  for _, v in ipairs(values) do
    for item in v:gmatch("[^,%s]+") do
      local node = tree
      for step in item:gmatch("[^.]+") do
        local key = step:lower()
        if not node[key] then
          node[key] = { name = step, children = {} }
          node[#node + 1] = key
        end
        node = node[key].children
      end
    end
  end
  return tree
end

local function expand(def, row, out, tree)
  for _, key in ipairs(tree) do
    local node = tree[key]
    local spec = def.expand and def.expand[key]
    if not spec then C.fail("invalid_value", "Cannot expand '" .. node.name .. "' on " .. def.oq, "query") end
    local target = objects.find(spec[1])
    local field = objects.expand_name(def, key)
    if spec.many then
      local list = arr()
      for _, r in ipairs(spec.many(row)) do
        local v = objects.view(target, r, objects.all_fields(target), "camel")
        expand(target, r, v, node.children)
        list[#list + 1] = v
      end
      out[field] = list
    else
      local id = row[spec[3]]
      local rec = id and state.data[spec[2]][id]
      if rec then
        local v = objects.view(target, rec, objects.all_fields(target), "camel")
        expand(target, rec, v, node.children)
        out[field] = v
      else
        out[field] = json.null
      end
    end
  end
end

local function object_query_list(req)
  local def = objects.find_oq(req.params.object)
  if not def then return 200, obj("data", arr()) end
  local size = tonumber(req.query.pageSize or "10")
  if not size or size < 1 or size > 99 or size % 1 ~= 0 then
    C.fail("invalid_value", "pageSize must be an integer between 1 and 99", "query")
  end
  local where
  for _, text in ipairs(query_values(req, "filter[]")) do
    local cond = parse_filter(def, text)
    where = where and { op = "and", where, cond } or cond
  end
  local rows = {}
  local get = function(row, field) return (objects.get(def, row, field)) end
  for _, row in ipairs(def.rows()) do
    if zoql.eval(where, row, get) then rows[#rows + 1] = row end
  end
  for _, s in ipairs(query_values(req, "sort[]")) do
    local field, dir = s:match("^([%w_]+)%.?(%u*)$")
    if not field or not objects.field_name(def, field) then C.fail("invalid_value", "Invalid sort '" .. s .. "'",
      "query") end
    local desc = dir == "DESC"
    table.sort(rows, function(a, b)
      local x, y = get(a, field), get(b, field)
      if x == nil or y == nil then return y ~= nil end
      local dx, dy = decimal.parse(x), decimal.parse(y)
      local c
      if dx and dy then c = decimal.cmp(dx, dy) else x, y = tostring(x),
        tostring(y); c = x == y and 0 or (x < y and -1 or 1) end
      if desc then return c > 0 end
      return c < 0
    end)
  end
  local offset = 0
  if req.query.cursor then
    local decoded = ngx.decode_base64(req.query.cursor)
    offset = decoded and tonumber(decoded:match("^offset:(%d+)$"))
    if not offset then C.fail("invalid_value", "Invalid cursor", "query") end
  end
  local fields = oq_fields(def, req)
  local expands = expand_tree(query_values(req, "expand[]"))
  local data = arr()
  for i = offset + 1, math.min(#rows, offset + size) do
    local v = objects.view(def, rows[i], fields, "camel")
    expand(def, rows[i], v, expands)
    data[#data + 1] = v
  end
  local resp = obj("data", data)
  if offset + size < #rows then resp.nextPage = ngx.encode_base64("offset:" .. (offset + size)) end
  return 200, resp
end

local function object_query_one(req)
  local def = objects.find_oq(req.params.object)
  local key = req.params.key
  if def then
    local number_field
    for _, fd in ipairs(def.fields) do
      if fd[1]:find("Number$") then number_field = fd[1] end
    end
    for _, row in ipairs(def.rows()) do
      if objects.get(def, row, "Id") == key or (number_field and objects.get(def, row, number_field) == key) then
        local v = objects.view(def, row, oq_fields(def, req), "camel")
        expand(def, row, v, expand_tree(query_values(req, "expand[]")))
        return 200, v
      end
    end
  end
  C.fail("not_found", "Cannot find " .. req.params.object .. " '" .. key .. "'", "query")
end

function M.register(r)
  r.add("POST", "/v1/action/query", action_query, { family = "crud" })
  r.add("POST", "/v1/action/queryMore", action_query_more, { family = "crud" })
  r.add("GET", "/object-query/{object}", object_query_list)
  r.add("GET", "/object-query/{object}/{key}", object_query_one)
end

return M
