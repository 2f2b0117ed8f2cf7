--- Resource families derived from the catalogue's paths, so that every operation without a
-- hand-written handler keeps state: a POST to a collection creates a record, the item path reads,
-- updates and deletes it, a GET on the collection lists it, and `…/{key}/verb` paths are actions.
--
-- Each catalogue operation is classified by its path alone (its method and the other operations'
-- paths), at start-up:
--   item       the path ends with a parameter: GET reads, PUT/PATCH/POST update, DELETE removes
--   list       GET on a path ending with a literal that has an item path below it, or a plural name
--   singleton  GET/PUT/PATCH/DELETE on another literal path (settings-like: one object per path), and
--              the items of a family no operation creates (describe, versions, settlement payments);
--              actions on such items are acknowledged
-- Titles decide first: a GET titled "List …"/"Query …" on `…/{param}` lists; a POST titled "Create …"
-- on `…/{param}` creates.
--   create     POST on a literal path (not an action)
--   action     POST/PUT/PATCH on `…/{key}/verb` with no item path and no GET below or on it
--   search     POST on `…/query`, `…/list`, `…/search`: lists the collection above it
--   preview    POST on `…/preview`: the record a create would make, not kept
-- Records live in state.data.generic, keyed by the concrete collection path (parameters decoded),
-- so nested collections (`/v1/x/{id}/items`) are scoped to their parent.
local state = require "zuora_sim.state"
local json = require "zuora_sim.json"
local util = require "zuora_sim.util"
local errors = require "zuora_sim.errors"

local M = {}

-- The resource code of generic records in error codes (the category digits carry the meaning).
M.RESOURCE = 509000

local function split(path)
  local segs = {}
  for seg in path:gmatch("[^/]+") do segs[#segs + 1] = seg end
  return segs
end

local function is_param(seg) return seg:match("^{.+}$") ~= nil end

--- The template with parameter names dropped ("/v1/x/{id}" -> "/v1/x/{}").
local function norm(path) return (path:gsub("{[^}]+}", "{}")) end

local function camel(s)
  s = s:gsub("[-_ ](%w)", function(c) return c:upper() end)
  return (s:gsub("^%u", string.lower))
end

local function singular(s)
  if s:match("ies$") then return s:sub(1, -4) .. "y" end
  if s:match("sses$") or s:match("ches$") or s:match("xes$") then return s:sub(1, -3) end
  if s:match("[^s]s$") then return s:sub(1, -2) end
  return s
end

-- Title verbs that move a record to a status (the reference's titles: "Cancel a journal run").
M.STATUS_OF = {
  cancel = "Cancelled", post = "Posted", unpost = "Draft", activate = "Active", deactivate = "Inactive",
  suspend = "Suspended", resume = "Active", approve = "Approved", reject = "Rejected", close = "Closed",
  reopen = "Open", complete = "Completed", void = "Voided", pause = "Paused", submit = "Submitted",
  archive = "Archived", unarchive = "Active", publish = "Published", unpublish = "Draft", enable = "Active",
  disable = "Inactive", reverse = "Reversed", stop = "Stopped", expire = "Expired", terminate = "Terminated",
  confirm = "Confirmed", settle = "Settled", finalize = "Finalized", revoke = "Revoked", deprecate = "Deprecated",
}
-- Statuses a new record of a family with such actions starts in.
local DRAFT_FIRST = { post = true, submit = true, approve = true, publish = true, finalize = true,
  confirm = true, activate = true }

--- Classifies the catalogue's operations. `ops` is a list of { method, path, title, group, name }.
-- Returns the list of classified operations (each gets `kind`, and for actions `verb`/`status`) and
-- the families by normalized collection path.
function M.derive(ops)
  local methods_at = {} -- normalized path -> set of methods
  for _, op in ipairs(ops) do
    local n = norm(op.path)
    methods_at[n] = methods_at[n] or {}
    methods_at[n][op.method:upper()] = true
  end
  local function has_item_below(n)
    return methods_at[n .. "/{}"] ~= nil
  end
  local families = {}
  local function family(coll_norm, key_param)
    local f = families[coll_norm]
    if not f then
      local segs = split(coll_norm)
      local last = "root"
      for i = #segs, 1, -1 do
        if segs[i] ~= "{}" then last = segs[i]; break end
      end
      f = { path = coll_norm, name = last, list_key = camel(last), actions = {}, ops = {} }
      local sing = camel(singular(last))
      f.what = singular(last):gsub("[-_]", " ")
      f.number_field = sing .. "Number"
      local initials = {}
      for w in last:gmatch("[%a]+") do initials[#initials + 1] = w:sub(1, 1):upper() end
      if #initials < 2 then initials = { last:sub(1, 2):upper() } end
      f.number_prefix = table.concat(initials) .. "-"
      f.number_digits = 8
      families[coll_norm] = f
    end
    -- Families whose item key is a number (or "key": id or number) give their records one.
    if key_param and (key_param:lower():find("number") or key_param:lower():find("key")) then f.numbered = true end
    return f
  end
  for _, op in ipairs(ops) do
    local method = op.method:upper()
    local segs = split(op.path)
    local last = segs[#segs] or ""
    local n = norm(op.path)
    local parent = n:match("^(.*)/[^/]+$") or ""
    local parent_segs = split(parent)
    local parent_is_item = #parent_segs > 0 and parent_segs[#parent_segs] == "{}"
    local c = { op = op, method = method }
    local title = (op.title or ""):lower()
    local parent_posts = methods_at[parent] and methods_at[parent].POST
    if is_param(last) and method == "GET" and (title:find("^list") or title:find("^query")) and not parent_posts then
      -- "List orders of an invoice owner": a list scoped by the parameter, not an item (unless the path
      -- above creates items: "List all results of a mass action" reads the one made by POST /v1/bulk).
      c.kind = "list"
      c.family = family(n)
    elseif is_param(last) and method == "POST" and title:find("^create") then
      -- "Create custom object records" under /objects/records/default/{object}.
      c.kind = "create"
      c.family = family(n)
    elseif is_param(last) then
      c.kind = "item"
      c.family = family(parent, last:sub(2, -2))
    elseif method == "GET" then
      if has_item_below(n) or last:match("s$") then c.kind = "list" else c.kind = "singleton" end
      c.family = family(n)
    elseif method == "DELETE" then
      c.kind = "singleton"
      c.family = family(n)
    else
      local below = has_item_below(n)
      local gettable = methods_at[n].GET
      local lower = last:lower()
      if method == "POST" and (lower == "query" or lower == "list" or lower == "search") and not below then
        -- A list by POST (a filter in the body) over the collection above it.
        c.kind = "search"
        c.family = family(parent)
      elseif method == "POST" and lower == "preview" and not below then
        -- A preview makes the record it would create without keeping it.
        c.kind = "preview"
        c.family = family(parent)
      elseif parent_is_item and not below and not gettable then
        c.kind = "action"
        local verb = ((op.title or ""):match("^(%a+)") or last):lower()
        c.verb = verb
        c.status = M.STATUS_OF[verb] or M.STATUS_OF[last:lower()]
        c.family = family(parent:match("^(.*)/[^/]+$") or "")
        if c.status then c.family.actions[verb] = c.status end
      elseif method == "POST" then
        c.kind = "create"
        c.family = family(n)
      else
        c.kind = "singleton"
        c.family = family(n)
      end
    end
    c.family.ops[#c.family.ops + 1] = c
  end
  for _, f in pairs(families) do
    -- A family nothing in the catalogue creates (describe, versions, periods read by key) is read-only:
    -- its items are answered like settings, one object per path, not refused for want of a record.
    local creatable = false
    for _, c in ipairs(f.ops) do if c.kind == "create" then creatable = true end end
    if not creatable then
      f.readonly = true
      for _, c in ipairs(f.ops) do
        if c.kind == "item" then c.kind = "singleton" end
      end
    end
    for verb in pairs(f.actions) do
      if DRAFT_FIRST[verb] then f.initial_status = "Draft" end
    end
    if not f.initial_status and next(f.actions) then f.initial_status = "Active" end
  end
  return families
end

-- Storage -----------------------------------------------------------------------------------------

local function store()
  local g = state.data.generic
  if not g then
    g = {}
    state.data.generic = g
  end
  return g
end

--- The records of one concrete collection path ({ order = {ids}, by_id = {} }).
function M.collection(path, create)
  local g = store()
  local c = g[path]
  if not c and create then
    c = { order = {}, by_id = {} }
    g[path] = c
  end
  return c
end

--- Concrete path of the first `count` segments of `template` with `params` (decoded) filled in.
function M.concrete(template, params, count)
  local out = {}
  local segs = split(template)
  for i = 1, count or #segs do
    local s = segs[i]
    local name = s:match("^{(.+)}$")
    out[#out + 1] = name and tostring(params[name]) or s
  end
  return "/" .. table.concat(out, "/")
end

--- Finds a record by id, number or another key-like field.
function M.find(coll, key)
  if not coll then return nil end
  local rec = coll.by_id[key]
  if rec then return rec end
  for _, id in ipairs(coll.order) do
    local r = coll.by_id[id]
    if r and M.seq_of[r] and tostring(M.seq_of[r]) == key then return r end
    if r then
      for k, v in pairs(r) do
        if v == key and type(k) == "string" and (k:find("Number$") or k:find("Key$") or k == "number"
          or k == "name" or k == "key" or k == "code") then
          return r
        end
      end
    end
  end
  return nil
end

function M.records(coll)
  local out = {}
  if not coll then return out end
  for _, id in ipairs(coll.order) do
    if coll.by_id[id] then out[#out + 1] = coll.by_id[id] end
  end
  return out
end

--- Counts of records per concrete collection (for /__sim/state).
function M.counts()
  local out = {}
  for path, c in pairs(store()) do
    local n = 0
    for _ in pairs(c.by_id) do n = n + 1 end
    out[path] = n
  end
  return out
end

-- Each record's position in its family (1, 2, …), for schemas that give objects integer ids. Kept
-- beside the record so it never shows among the record's fields.
M.seq_of = setmetatable({}, { __mode = "k" })

--- Makes a record from a decoded JSON body (anything else gives no fields).
function M.new_record(f, coll, body)
  local rec = json.object()
  local id = state.new_id("generic:" .. f.path)
  rec.id = id
  if f.numbered then
    rec[f.number_field] = string.format("%s%0" .. f.number_digits .. "d", f.number_prefix,
      state.next("generic:" .. f.path))
  end
  if f.initial_status then rec.status = f.initial_status end
  if type(body) == "table" and getmetatable(body) ~= json.array_mt and not json.is_number(body) then
    for k, v in pairs(body) do
      if k ~= "id" then rec[k] = util.deep_copy(v) end
    end
  end
  rec.createdDate = rec.createdDate or state.now_stamp()
  rec.updatedDate = state.now_stamp()
  coll.by_id[id] = rec
  coll.order[#coll.order + 1] = id
  M.seq_of[rec] = state.next("generic-seq:" .. f.path)
  return rec
end

function M.update(rec, body)
  if type(body) == "table" and getmetatable(body) ~= json.array_mt and not json.is_number(body) then
    for k, v in pairs(body) do
      if k ~= "id" then rec[k] = util.deep_copy(v) end
    end
  end
  rec.updatedDate = state.now_stamp()
  return rec
end

function M.remove(coll, rec)
  coll.by_id[rec.id] = nil
end

function M.not_found(what, key)
  errors.fail("not_found", "The " .. what .. " " .. tostring(key) .. " does not exist.", M.RESOURCE)
end

return M
