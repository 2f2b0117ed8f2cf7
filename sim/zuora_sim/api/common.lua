--- Helpers shared by the billing handlers: lookups, validation, money, v1 pagination.
local state = require "zuora_sim.state"
local json = require "zuora_sim.json"
local decimal = require "zuora_sim.decimal"
local errors = require "zuora_sim.errors"
local util = require "zuora_sim.util"

local M = {}

M.fail = errors.fail
M.null = json.null

--- Posts a draft document (a credit or debit memo; `what` names it in the refusal); posting a
-- posted one changes nothing.
function M.post_draft(doc, what, resource)
  if doc.status == "Posted" then return end
  if doc.status ~= "Draft" then M.fail("rule_restriction", "Only draft " .. what .. " can be posted.", resource) end
  doc.status = "Posted"
  doc.postedOn = state.now_stamp()
  doc.updatedDate = doc.postedOn
end

--- A v1 success body: the given object with "success": true first.
function M.ok(obj)
  obj = obj or json.object()
  local mt = getmetatable(obj)
  if mt and mt.__order then table.insert(mt.__order, 1, "success") end
  obj.success = true
  return obj
end

function M.money(x) return decimal.json(x) end
M.zero = json.number("0")

--- Parses a money/quantity field; raises invalid_value naming the field.
function M.amount(v, field, resource)
  local d = decimal.parse(v)
  if not d then M.fail("invalid_value", "'" .. field .. "' must be a number", resource) end
  return d
end

function M.str(v) return type(v) == "string" and v or nil end

--- Raises missing_field unless body[field] is present (and not null or "").
function M.require(body, field, resource)
  local v = body[field]
  if v == nil or v == json.null or v == "" then
    M.fail("missing_field", "'" .. field .. "' is required", resource)
  end
  return v
end

function M.require_date(body, field, resource, default)
  local v = body[field]
  if v == nil or v == json.null then
    if default then return default end
    M.fail("missing_field", "'" .. field .. "' is required", resource)
  end
  if not util.valid_date(v) then
    M.fail("invalid_value", "'" .. field .. "' must be a date as yyyy-mm-dd", resource)
  end
  return v:sub(1, 10)
end

--- Finds an account by id or number; raises not_found.
function M.account(key, resource)
  if key == nil or key == json.null then M.fail("missing_field", "an account is required", resource or "account") end
  local a = state.data.accounts[key]
  if a then return a end
  for _, acc in pairs(state.data.accounts) do
    if acc.accountNumber == key then return acc end
  end
  M.fail("not_found", "Cannot find entity by key: '" .. tostring(key) .. "'.", resource or "account")
end

--- Finds a record in a collection by id or by one of the number fields; raises not_found.
function M.find(coll, key, number_fields, resource)
  local r = state.data[coll][key]
  if r then return r end
  for _, rec in pairs(state.data[coll]) do
    for _, f in ipairs(number_fields or {}) do
      if rec[f] == key then return rec end
    end
  end
  M.fail("not_found", "Cannot find entity by key: '" .. tostring(key) .. "'.", resource)
end

--- Copies custom fields (names ending in __c) from `src` into `dst`.
function M.custom_fields(dst, src)
  for k, v in pairs(src) do
    if type(k) == "string" and k:find("__c$") then dst[k] = v end
  end
end

--- Adds the record's custom fields to a response object.
function M.with_custom(obj, rec)
  for k, v in pairs(rec) do
    if type(k) == "string" and k:find("__c$") then obj[k] = v end
  end
  return obj
end

--- A v1 list answer: the records of collection `coll` that `keep` accepts, each through `render`,
-- paged (M.page) under `field` with nextPage.
function M.list(req, coll, keep, render, field)
  local items = {}
  for _, rec in ipairs(state.list(coll, keep)) do items[#items + 1] = render(rec) end
  local page, next_url = M.page(req, items)
  return 200, M.ok(json.object(field, page, "nextPage", next_url))
end

--- v1 page/pageSize pagination: returns the page of `items` and the nextPage URL (or nil).
function M.page(req, items, opts)
  opts = opts or {}
  local max = opts.max or 40
  local size = tonumber(req.query.pageSize or "") or opts.default or 20
  local page = tonumber(req.query.page or "") or 1
  if size < 1 or size > max or size % 1 ~= 0 then
    M.fail("invalid_value", "pageSize must be an integer between 1 and " .. max)
  end
  if page < 1 or page % 1 ~= 0 then M.fail("invalid_value", "page must be a positive integer") end
  local first = (page - 1) * size + 1
  local out = json.array()
  for i = first, math.min(#items, first + size - 1) do out[#out + 1] = items[i] end
  local next_url
  if first + size - 1 < #items then
    local parts = {}
    for _, kv in ipairs(req.query_pairs) do
      if kv[1] ~= "page" and kv[1] ~= "pageSize" then
        parts[#parts + 1] = util.escape(kv[1]) .. "=" .. util.escape(kv[2])
      end
    end
    parts[#parts + 1] = "page=" .. (page + 1)
    parts[#parts + 1] = "pageSize=" .. size
    next_url = req.base_url .. req.path .. "?" .. table.concat(parts, "&")
  end
  return out, next_url
end

--- Masks a card number the way Zuora shows it.
function M.mask(number)
  number = tostring(number or "")
  if #number <= 4 then return number end
  return string.rep("*", #number - 4) .. number:sub(-4)
end

return M
