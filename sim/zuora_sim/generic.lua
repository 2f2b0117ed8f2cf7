--- Answers for every catalogue operation the simulator has no hand-written handler for.
--
-- At start-up the operation catalogue (lua/zuora/catalog/, generated from the reference index) is
-- loaded when present; its paths are grouped into resource families (sim/zuora_sim/families.lua)
-- and each operation without a handler gets a stateful route: create, read, update, delete, list,
-- actions. Where the older OpenAPI spec has the operation, the answer is built from its response
-- schema (sim/zuora_sim/shapes.lua, "spec-shaped"); otherwise it follows the reference's conventions
-- (`success`, `id`, the record's fields; "stateful-generic"). Unknown paths then get a Zuora-shaped
-- 404 (or 405 for a known path with another method). Without a catalogue, every request that no
-- handler takes is kept the same way, by its raw path.
local json = require "zuora_sim.json"
local state = require "zuora_sim.state"
local errors = require "zuora_sim.errors"
local families = require "zuora_sim.families"
local shapes = require "zuora_sim.shapes"
local C = require "zuora_sim.api.common"

local M = {}

local served = {}     -- list of { group, name, method, path, served }
local CURSOR_MAX = 99

--- The request body decoded when it is a JSON object; nil for anything else (CSV, multipart, none).
local function body_object(req)
  local b = req.body
  if not b or b:match("^%s*$") then return nil end
  local v = json.decode(b)
  if type(v) == "table" and getmetatable(v) ~= json.array_mt and not json.is_number(v) and v ~= json.null then
    return v
  end
  return nil
end

local function with_success(rec)
  local out = json.object("success", true)
  if rec then
    for k, v in pairs(rec) do out[k] = v end
  end
  return out
end

local function note(req, c, how)
  local entry = req.entry
  if not entry then return end
  local params = json.object()
  for k, v in pairs(req.params or {}) do params[k] = v end
  entry.extra = json.object("operation", c.op.group and (c.op.group .. "." .. c.op.name) or nil,
    "served", how, "kind", c.kind, "path_params", params)
end

--- Lists with the family's pagination: object-query-like cursors where the operation takes
-- `cursor`, v1 page/pageSize with a nextPage URL otherwise.
local function paginate(req, c, records)
  local q = c.op.query or {}
  for _, name in ipairs(q) do
    if name == "cursor" then
      local size = tonumber(req.query.pageSize or "") or 10
      if size < 1 or size > CURSOR_MAX or size % 1 ~= 0 then
        errors.fail("invalid_value", "pageSize must be an integer between 1 and " .. CURSOR_MAX)
      end
      local offset = 0
      if req.query.cursor then
        offset = tonumber(ngx.decode_base64(req.query.cursor) or "")
        if not offset then errors.fail("invalid_value", "Invalid cursor", families.RESOURCE) end
      end
      local out = json.array()
      for i = offset + 1, math.min(#records, offset + size) do out[#out + 1] = records[i] end
      local nxt
      if offset + size < #records then nxt = ngx.encode_base64(tostring(offset + size)) end
      return out, nxt, "cursor"
    end
  end
  local page, next_url = C.page(req, records)
  return page, next_url, "v1"
end

local function answer(req, c, rec, list, next_page)
  local shape = shapes.for_op(c.op)
  if shape then
    return shapes.answer(shape, req, rec, list, next_page, c.family.list_key)
  end
  if list then
    return 200, json.object("success", true, c.family.list_key, list, "nextPage", next_page)
  end
  return 200, with_success(rec)
end

--- The answer of a hand-written handler's GET of the item at `path` (a decoded object), or nil.
local function handwritten_item(req, path)
  local route, params = require("zuora_sim.router").find("GET", path)
  if not route or route.opts.generic then return nil end
  local sub = setmetatable({ method = "GET", path = path, query = {}, query_pairs = {}, params = params,
    headers = req.headers, base_url = req.base_url, raw_query = "" }, getmetatable(req))
  local ok, status, body = pcall(route.handler, sub)
  if ok and type(status) == "number" and status < 300 and type(body) == "table" then return body end
  return nil
end

local function handle(req, c)
  local op, f = c.op, c.family
  note(req, c, shapes.for_op(op) and "spec-shaped" or "stateful-generic")
  local segs = #require("zuora_sim.router").split(op.path)
  local params = req.params or {}
  local what = f.what or f.name
  if c.kind == "create" then
    local coll = families.collection(families.concrete(op.path, params), true)
    local rec = families.new_record(f, coll, body_object(req))
    return answer(req, c, rec)
  elseif c.kind == "item" then
    local coll = families.collection(families.concrete(op.path, params, segs - 1))
    local key_name = op.path:match("{([^}]+)}$")
    local key = params[key_name]
    local rec = families.find(coll, key)
    if not rec then
      -- An object a hand-written handler keeps (a credit memo, a refund) that this operation does
      -- not modify: acknowledged with that object's fields and what was sent, nothing changes.
      local known = handwritten_item(req, req.path)
      if not known then families.not_found(what, key) end
      if c.method ~= "GET" and c.method ~= "DELETE" then families.update(known, body_object(req)) end
      return answer(req, c, known)
    end
    if c.method == "GET" then return answer(req, c, rec) end
    if c.method == "DELETE" then
      families.remove(coll, rec)
      return answer(req, c, rec)
    end
    families.update(rec, body_object(req))
    return answer(req, c, rec)
  elseif c.kind == "loose" then
    -- No catalogue: the last segment is an item of the path above it, else the path is a collection.
    local coll = families.collection(families.concrete(op.path, params, segs - 1))
    local key = params["p" .. segs]
    local rec = families.find(coll, key)
    if rec then
      if c.method == "DELETE" then families.remove(coll, rec)
      elseif c.method ~= "GET" then families.update(rec, body_object(req)) end
      return answer(req, c, rec)
    end
    if c.method ~= "GET" then families.not_found("object", key) end
    local page, nxt = paginate(req, c, families.records(families.collection(families.concrete(op.path, params))))
    return answer(req, c, nil, page, nxt)
  elseif c.kind == "search" then
    local coll = families.collection(families.concrete(op.path, params, segs - 1))
    local page, nxt = paginate(req, c, families.records(coll))
    return answer(req, c, nil, page, nxt)
  elseif c.kind == "preview" then
    local scratch = { order = {}, by_id = {} }
    return answer(req, c, families.new_record(f, scratch, body_object(req)))
  elseif c.kind == "list" then
    local coll = families.collection(families.concrete(op.path, params))
    local page, nxt = paginate(req, c, families.records(coll))
    return answer(req, c, nil, page, nxt)
  elseif c.kind == "singleton" then
    local path = families.concrete(op.path, params)
    local coll = families.collection(path, true)
    local rec = coll.by_id["."]
    if c.method == "DELETE" then
      coll.by_id, coll.order = {}, {}
      return answer(req, c, rec or json.object())
    end
    if not rec then
      rec = json.object()
      coll.by_id["."] = rec
    end
    if c.method ~= "GET" then families.update(rec, body_object(req)) end
    return answer(req, c, rec)
  else -- action on the item above the verb
    local item_path = families.concrete(op.path, params, segs - 1)
    local coll = families.collection(families.concrete(op.path, params, segs - 2))
    local key_name = op.path:match("{([^}]+)}/[^/]+$")
    local key = params[key_name]
    local rec = families.find(coll, key)
    if not rec then
      if f.readonly or handwritten_item(req, item_path) then
        -- The item is one of the modelled objects, or of a family nothing creates: the action is
        -- acknowledged, nothing changes.
        return answer(req, c, json.object("id", key))
      end
      families.not_found(what, key)
    end
    if c.status then
      if rec.status == c.status then
        errors.fail("rule_restriction", ("The %s %s is already %s."):format(what, key, c.status), families.RESOURCE)
      end
      rec.status = c.status
      rec.updatedDate = state.now_stamp()
    end
    families.update(rec, body_object(req))
    return answer(req, c, rec)
  end
end

--- The notifications and events APIs answer errors with string codes
-- ({"success": false, "reasons": [{"code": "ObjectNotFound", "message": …}]}), unlike the rest of v1.
local STRING_CODES = { [40] = "ObjectNotFound", [30] = "InvalidValue", [20] = "InvalidValue" }
local function string_coded(path)
  return path:find("^/notifications/") or path:find("^/events/")
end

local function route_handler(c)
  return function(req)
    if not string_coded(req.path) then return handle(req, c) end
    local ok, status, body, headers = pcall(handle, req, c)
    if ok then return status, body, headers end
    local e = status
    if not errors.is_error(e) then error(e, 0) end
    return e.status, json.object("success", false, "reasons", json.array{ json.object("code",
      STRING_CODES[e.category] or "InvalidValue", "message", e.message) })
  end
end

--- Registers one route per catalogue operation, or catch-alls when there is none.
function M.register(router, settings)
  local count = 0
  local ops = {}
  if settings.catalog ~= "none" then
    local ok, catalog = pcall(require, "zuora.catalog")
    if ok and type(catalog) == "table" and type(catalog.groups) == "table" then
      for _, g in ipairs(catalog.groups) do
        local okg, gops = pcall(require, g.module)
        if okg and type(gops) == "table" then
          for _, op in ipairs(gops) do
            if type(op.method) == "string" and type(op.path) == "string" then
              ops[#ops + 1] = { group = g.name, name = op.name, method = op.method:upper(), path = op.path,
                title = op.title, query = op.query, spec_id = op.spec_id }
            end
          end
        end
      end
    end
  end
  local by_op = {}
  for _, f in pairs(families.derive(ops)) do
    for _, c in ipairs(f.ops) do
      by_op[c.op] = c
      -- The spec's example names the family's record number and its style (JR-00000008).
      local shape = shapes.for_op(c.op)
      if shape and shape.num and (c.kind == "create" or c.kind == "item") then
        f.numbered, f.number_field, f.number_prefix, f.number_digits =
          true, shape.num.field, shape.num.prefix, shape.num.digits
      end
    end
  end
  served = {}
  for _, op in ipairs(ops) do
    -- A hand-written route that takes this template keeps it (routes registered before us).
    local route = router.find(op.method, op.path)
    local how
    if (route and not route.opts.generic) or op.path == "/oauth/token" then
      how = "hand-written"
    else
      how = shapes.for_op(op) and "spec-shaped" or "stateful-generic"
    end
    served[#served + 1] = { group = op.group, name = op.name, method = op.method, path = op.path, served = how }
  end
  for _, op in ipairs(ops) do
    local c = by_op[op]
    router.add(op.method, op.path, route_handler(c), { generic = true, operation = op })
    count = count + 1
  end
  settings.catalog_operations = count
  if count == 0 then
    -- No catalogue: every path up to 12 segments deep is a resource by its raw segments.
    for depth = 1, 12 do
      local segs = {}
      for i = 1, depth do segs[i] = "{p" .. i .. "}" end
      local template = "/" .. table.concat(segs, "/")
      for _, method in ipairs({ "GET", "POST", "PUT", "PATCH", "DELETE" }) do
        local c = { op = { method = method, path = template }, method = method,
          kind = method == "POST" and "create" or "loose" }
        c.family = { name = "object", path = template, list_key = "records", actions = {}, ops = {} }
        router.add(method, template, function(req) return handle(req, c) end, { generic = true })
      end
    end
  end
  return count
end

--- How each catalogue operation is served, and the counts (GET /__sim/served).
function M.served_json()
  local counts = json.object("hand-written", 0, "spec-shaped", 0, "stateful-generic", 0)
  local list = json.array()
  for _, s in ipairs(served) do
    counts[s.served] = counts[s.served] + 1
    list[#list + 1] = json.object("group", s.group, "name", s.name, "method", s.method, "path", s.path,
      "served", s.served)
  end
  return json.object("counts", counts, "total", #served, "operations", list)
end

return M
