--- The control API under /__sim/ (no credentials; never logged, limited or faulted).
-- Documented in docs/zuora-sim.md.
local state = require "zuora_sim.state"
local json = require "zuora_sim.json"
local util = require "zuora_sim.util"
local faults = require "zuora_sim.faults"
local reqlog = require "zuora_sim.reqlog"

local M = {}

local function resp(status, body)
  return require("zuora_sim.server").make_response(status, body)
end

local function bad(message) return resp(400, json.object("error", message)) end

local function body_of(req)
  if not req.body or req.body:match("^%s*$") then return json.object() end
  local v, err = json.decode(req.body)
  if v == nil then return nil, "malformed JSON: " .. err end
  return v
end

local function info()
  local s = state.settings
  return json.object("url", s.api_url, "files_url", s.files_url, "control_url", s.api_url .. "/__sim/",
    "tls", s.tls or false, "ca_file", s.ca_file, "state_dir", s.state_dir,
    "client_id", s.client_id, "client_secret", s.client_secret, "username", s.username,
    "password", s.password, "catalog_operations", s.catalog_operations or 0, "pid", ngx.worker.pid())
end

local function config_json()
  local c = json.object()
  local keys = {}
  for k in pairs(state.DEFAULTS) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do c[k] = state.config[k] end
  c.in_flight = state.in_flight
  return c
end

local CONFIG_TYPES = { token_ttl = "number", concurrency_limit = "number", retry_after = "number",
  job_polls = "number", synthetic_rows = "number",
  locator_ttl = "number", rate_limit = "number", rate_window = "number",
  file_url_ttl = "number", idempotency_ttl = "number",
  revenue_enabled = "boolean", revenue_token_ttl = "number", revenue_stage_polls = "number",
  revenue_max_uploads = "number",
  errors_as_200 = "boolean", today = "date", default_version = "string", log_limit = "number",
  callout_retry_number = "number", callout_interval_time = "number", callout_interval_scale = "number",
  callout_confirm_suc_from_res_content = "boolean", callout_timeout = "number" }

local function set_config(body)
  for k, v in pairs(body) do
    local t = CONFIG_TYPES[k]
    if not t then return nil, "unknown setting " .. k end
    if t == "number" then
      v = json.tonumber(v)
      if not v or v < 0 then return nil, k .. " must be a non-negative number" end
    elseif t == "boolean" then
      if type(v) ~= "boolean" then return nil, k .. " must be true or false" end
    elseif t == "date" then
      if v == json.null or v == false then v = false
      elseif not util.valid_date(v) then return nil, k .. " must be YYYY-MM-DD or null" end
    elseif type(v) ~= "string" then
      return nil, k .. " must be a string"
    end
    state.config[k] = v
  end
  return true
end

local function token_json(t)
  return json.object("token", t.token, "expires_in", math.max(0, t.expires - ngx.now()), "ttl", t.ttl,
    "revoked", t.revoked, "expired", ngx.now() >= t.expires)
end

local function select_tokens(body)
  local out = {}
  for tok, t in pairs(state.tokens) do
    if body.token == nil or body.token == tok then out[#out + 1] = t end
  end
  return out
end

local COLLECTIONS = { "accounts", "contacts", "payment_methods", "products", "product_rate_plans",
  "product_rate_plan_charges", "subscriptions", "orders", "invoices", "bill_runs", "payments", "refunds",
  "credit_memos", "usages", "usage_imports", "files", "async_jobs", "query_jobs" }

local handlers = {}

handlers["GET health"] = function() return resp(200, json.object("ok", true)) end
handlers["GET info"] = function() return resp(200, info()) end

handlers["POST reset"] = function(req)
  local body, err = body_of(req)
  if not body then return bad(err) end
  state.reset({ keep_tokens = body.tokens ~= true })
  return resp(200, json.object("reset", true))
end

handlers["GET requests"] = function(req)
  return resp(200, json.object("requests", reqlog.list(req.query), "last_seq", state.log_seq))
end
handlers["DELETE requests"] = function()
  reqlog.clear()
  return resp(200, json.object("cleared", true, "last_seq", state.log_seq))
end

handlers["GET faults"] = function()
  local arr = json.array()
  for i, r in ipairs(state.faults) do arr[i] = faults.to_json(r) end
  return resp(200, json.object("faults", arr))
end
handlers["POST faults"] = function(req)
  local body, err = body_of(req)
  if not body then return bad(err) end
  -- One rule, or {"faults": [rules...]} to add several at once.
  local list = getmetatable(body) == json.array_mt and body or (body.faults or { body })
  local added = json.array()
  for _, rule in ipairs(list) do
    local r, e = faults.add(rule)
    if not r then return bad(e) end
    added[#added + 1] = faults.to_json(r)
  end
  if #added == 1 and not body.faults and getmetatable(body) ~= json.array_mt then return resp(201, added[1]) end
  return resp(201, json.object("faults", added))
end
handlers["DELETE faults"] = function()
  state.faults = {}
  return resp(200, json.object("cleared", true))
end

handlers["GET config"] = function() return resp(200, config_json()) end
local function put_config(req)
  local body, err = body_of(req)
  if not body then return bad(err) end
  local ok, e = set_config(body)
  if not ok then return bad(e) end
  return resp(200, config_json())
end
handlers["PUT config"] = put_config
handlers["PATCH config"] = put_config
handlers["POST config"] = put_config

handlers["GET tokens"] = function()
  local arr = json.array()
  for _, t in pairs(state.tokens) do arr[#arr + 1] = token_json(t) end
  return resp(200, json.object("tokens", arr))
end
handlers["POST tokens"] = function(req)
  local body, err = body_of(req)
  if not body then return bad(err) end
  local t = require("zuora_sim.auth").mint(json.tonumber(body.ttl))
  return resp(201, token_json(t))
end
handlers["POST tokens/revoke"] = function(req)
  local body, err = body_of(req)
  if not body then return bad(err) end
  local n = 0
  for _, t in ipairs(select_tokens(body)) do t.revoked = true; n = n + 1 end
  return resp(200, json.object("revoked", n))
end
handlers["POST tokens/expire"] = function(req)
  local body, err = body_of(req)
  if not body then return bad(err) end
  local n = 0
  for _, t in ipairs(select_tokens(body)) do t.expires = ngx.now() - 1; n = n + 1 end
  return resp(200, json.object("expired", n))
end

handlers["GET state"] = function()
  local counts = json.object()
  for _, name in ipairs(COLLECTIONS) do counts[name] = state.count(name) end
  local objects = json.object()
  for t, coll in pairs(state.data.objects) do
    local n = 0
    for _ in pairs(coll) do n = n + 1 end
    objects[t] = n
  end
  counts.objects = objects
  counts.generic = require("zuora_sim.families").counts()
  counts.idempotency_keys = 0
  for _ in pairs(state.idem) do counts.idempotency_keys = counts.idempotency_keys + 1 end
  return resp(200, counts)
end

-- How each catalogue operation is served (hand-written, spec-shaped, stateful-generic).
handlers["GET served"] = function() return resp(200, require("zuora_sim.generic").served_json()) end

handlers["POST seed"] = function(req)
  local body, err = body_of(req)
  if not body then return bad(err) end
  local n = json.tonumber(body.accounts) or 0
  if n < 0 or n > 100000 then return bad("accounts must be between 0 and 100000") end
  local accounts = require "zuora_sim.api.accounts"
  local prefix = type(body.name_prefix) == "string" and body.name_prefix or "Seed Account"
  for i = 1, n do
    accounts.create_record({ name = string.format("%s %06d", prefix, i), currency = body.currency or "USD" })
  end
  return resp(201, json.object("accounts", n))
end

-- The simulated clock: {"set": "YYYY-MM-DD HH:MM:SS"} freezes the tenant's clock there,
-- {"advance": seconds} moves it on (from the real time when not set), {"real": true} goes back to
-- the real time. Every CreatedDate/UpdatedDate written afterwards takes this clock.
local function clock_json()
  return json.object("now", state.now_stamp(), "simulated", state.clock ~= nil)
end
handlers["GET clock"] = function() return resp(200, clock_json()) end
handlers["POST clock"] = function(req)
  local body, err = body_of(req)
  if not body then return bad(err) end
  if body.real == true then state.clock = nil end
  if body.set ~= nil then
    local y, mo, d, h, mi, sec = tostring(body.set):match("^(%d%d%d%d)%-(%d%d)%-(%d%d)[ T](%d%d):(%d%d):(%d%d)$")
    if not y then return bad("set must be 'YYYY-MM-DD HH:MM:SS' (UTC)") end
    y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
    -- Days since 1970-01-01 of a civil date (proleptic Gregorian), so no local time zone is involved.
    local yy = mo <= 2 and y - 1 or y
    local floor = math.floor
    local era = floor(yy / 400)
    local yoe = yy - era * 400
    local doy = floor((153 * (mo + (mo > 2 and -3 or 9)) + 2) / 5) + d - 1
    local days = era * 146097 + yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy - 719468
    state.clock = days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(sec)
  end
  if body.advance ~= nil then
    local n = json.tonumber(body.advance)
    if not n or n < 0 then return bad("advance must be a non-negative number of seconds") end
    state.clock = (state.clock or os.time()) + math.floor(n)
  end
  return resp(200, clock_json())
end

-- Data Query tables whose rows are the records of one collection (what /__sim/records changes).
local RECORD_COLLECTIONS = { account = "accounts", contact = "contacts", paymentmethod = "payment_methods",
  subscription = "subscriptions", order = "orders", invoice = "invoices", billrun = "bill_runs",
  payment = "payments", refund = "refunds", creditmemo = "credit_memos", debitmemo = "debit_memos",
  usage = "usages", product = "products" }

-- Changes and deletions for specs of incremental reads: {"object": "Account", "id": ...,
-- "set": {recordField: value, ...}} updates fields (UpdatedDate becomes the tenant's now);
-- {"object", "id", "delete": true} deletes the record, which Data Query then returns only with
-- readDeleted (UpdatedDate = the deletion time).
handlers["POST records"] = function(req)
  local body, err = body_of(req)
  if not body then return bad(err) end
  local table_name = type(body.object) == "string" and body.object:lower():gsub("_", "") or ""
  local coll = RECORD_COLLECTIONS[table_name]
  if not coll then return bad("object must be one of the record objects (Account, Invoice, Payment, ...)") end
  local rec = type(body.id) == "string" and state.data[coll][body.id]
  if not rec then return resp(404, json.object("error", "no " .. body.object .. " " .. tostring(body.id))) end
  rec.updatedDate = state.now_stamp()
  if body.delete == true then
    state.remove(coll, body.id)
    local list = state.deleted[table_name] or {}
    state.deleted[table_name] = list
    list[#list + 1] = rec
    return resp(200, json.object("deleted", body.id, "updatedDate", rec.updatedDate))
  end
  if type(body.set) == "table" then
    for k, v in pairs(body.set) do
      if k ~= "id" and k ~= "createdDate" and k ~= "updatedDate" then rec[k] = v end
    end
  end
  return resp(200, json.object("updated", body.id, "updatedDate", rec.updatedDate))
end

handlers["GET query-faults"] = function()
  local arr = json.array()
  for i, f in ipairs(state.query_faults) do
    arr[i] = json.object("kind", f.kind, "match", f.match, "count", f.count, "max_rows", f.max_rows)
  end
  return resp(200, json.object("faults", arr))
end
-- {"kind": "fail" | "stall" | "max_rows", "match": "text in the query", "count": n, "max_rows": n}
handlers["POST query-faults"] = function(req)
  local body, err = body_of(req)
  if not body then return bad(err) end
  local kind = body.kind
  if kind ~= "fail" and kind ~= "stall" and kind ~= "max_rows" then
    return bad("kind must be fail, stall or max_rows")
  end
  local f = { kind = kind, match = type(body.match) == "string" and body.match:lower() or nil,
    count = json.tonumber(body.count), max_rows = json.tonumber(body.max_rows) }
  if kind == "max_rows" and not f.max_rows then return bad("max_rows needs max_rows") end
  state.query_faults[#state.query_faults + 1] = f
  return resp(201, json.object("added", #state.query_faults))
end
handlers["DELETE query-faults"] = function()
  state.query_faults = {}
  return resp(200, json.object("cleared", true))
end

function M.handle(req)
  local rest = req.path:gsub("^/__sim/?", ""):gsub("/$", "")
  local h = handlers[req.method .. " " .. rest]
  if h then return h(req) end
  if rest == "revenue" or rest:sub(1, 8) == "revenue/" then
    return require("zuora_sim.revenue.control").handle(req, rest)
  end
  local fid = rest:match("^faults/(%d+)$")
  if fid and req.method == "DELETE" then
    if faults.remove(tonumber(fid)) then return resp(200, json.object("deleted", tonumber(fid))) end
    return resp(404, json.object("error", "no fault " .. fid))
  end
  local coll = rest:match("^state/([%w_]+)$")
  local hidden = { objects = true, files = true, locators = true }
  if coll and req.method == "GET" and state.data[coll] and not hidden[coll] then
    return resp(200, json.object(coll, json.array(state.list(coll))))
  end
  return resp(404, json.object("error", "no control endpoint " .. req.method .. " /__sim/" .. rest))
end

return M
