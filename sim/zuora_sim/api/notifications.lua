--- Notifications in zuora-sim (docs/zuora-sim.md, "Callouts"): notification definitions and callout
-- templates (CRUD through their API routes), the callout history, and resending callouts. The
-- deliveries themselves are zuora_sim.callouts. Secrets (basic auth password, HMAC key) are kept
-- but never echoed back.
local C = require "zuora_sim.api.common"
local callouts = require "zuora_sim.callouts"
local json = require "zuora_sim.json"
local state = require "zuora_sim.state"

local M = {}

local obj = json.object
local METHODS = { GET = true, PUT = true, POST = true, DELETE = true }

-- The notifications API answers errors as {"success": false, "reasons": [{"code": "<name>",
-- "message": ...}]} (string codes, unlike the rest of v1; the same shape as zuora_sim.generic's):
-- fail() raises one, guarded() turns it into the answer.
local function fail(msg, status)
  error({ notifications_error = true, status = status or 400,
    code = status == 404 and "ObjectNotFound" or "InvalidValue", message = msg }, 0)
end

local function guarded(handler)
  return function(req)
    local ok, status, body, headers = pcall(handler, req)
    if ok then return status, body, headers end
    local e = status
    if type(e) == "table" and e.notifications_error then
      return e.status, obj("success", false,
        "reasons", json.array{ obj("code", e.code, "message", e.message) })
    end
    error(e, 0)
  end
end

local function str(v) return type(v) == "string" and v or nil end

--- A callout URL: https://, or http:// to a loopback host (a simulator allowance: Zuora requires https).
local function check_url(u, field)
  if type(u) ~= "string" or u == "" then fail("'" .. field .. "' is required") end
  -- A host of letters, digits, dots and hyphens (or a bracketed IPv6 address), no spaces; merge
  -- fields ({{...}}) may stand anywhere after the host.
  local scheme, host = u:match("^(https?)://([%w%.%-]+)")
  if not host then scheme, host = u:match("^(https?)://%[([%x:]+)%]") end
  if host and not u:find("%s") then
    if scheme == "https" then return u end
    if host == "localhost" or host:find("^127%.") or host == "::1" then return u end
  end
  fail("'" .. field .. "' must be an https:// URL (zuora-sim also takes http:// to a loopback host)")
end

local function check_method(m, field)
  m = m or "POST"
  if not METHODS[m] then fail("'" .. field .. "' must be GET, PUT, POST or DELETE") end
  return m
end

local function check_auth(a, field)
  if a == nil or a == json.null then return nil end
  if type(a) ~= "table" then fail("'" .. field .. "' must be an object") end
  return { username = str(a.username) or "", password = str(a.password) or "", domain = str(a.domain),
    preemptive = a.preemptive ~= false }
end

local function auth_json(a)
  if not a then return json.null end
  return obj("username", a.username, "domain", a.domain or json.null, "preemptive", a.preemptive)
end

-- Notification definitions ------------------------------------------------------------------------

local function callout_from(b, old)
  local c = b.callout
  if c == nil then return old end
  if c == json.null then return nil end
  if type(c) ~= "table" then fail("'callout' must be an object") end
  return {
    active = c.active ~= false,
    calloutBaseurl = check_url(c.calloutBaseurl, "callout.calloutBaseurl"),
    httpMethod = check_method(c.httpMethod, "callout.httpMethod"),
    calloutParams = type(c.calloutParams) == "table" and c.calloutParams or nil,
    calloutRetry = c.calloutRetry ~= false,
    requiredAuth = c.requiredAuth == true,
    calloutAuth = check_auth(c.calloutAuth, "callout.calloutAuth"),
    name = str(c.name),
    description = str(c.description),
  }
end

local function definition_json(d)
  local c = d.callout
  local cj = json.null
  if c then
    cj = obj("active", c.active, "calloutBaseurl", c.calloutBaseurl, "httpMethod", c.httpMethod,
      "calloutParams", c.calloutParams or obj(), "calloutRetry", c.calloutRetry, "requiredAuth", c.requiredAuth,
      "calloutAuth", auth_json(c.calloutAuth), "name", c.name or json.null)
  end
  return obj("id", d.id, "name", d.name, "description", d.description or json.null,
    "eventTypeName", d.eventTypeName, "active", d.active, "calloutActive", d.calloutActive,
    "emailActive", false, "callout", cj, "calloutTemplateId", d.calloutTemplateId or json.null,
    "createdOn", d.createdOn, "updatedOn", d.updatedOn)
end

local function apply_definition(d, b, creating)
  if creating or b.name ~= nil then
    d.name = str(b.name) or fail("'name' is required")
  end
  if creating or b.eventTypeName ~= nil then
    d.eventTypeName = str(b.eventTypeName) or str(b.eventCategory) or fail("'eventTypeName' is required")
  end
  if b.description ~= nil then d.description = str(b.description) end
  if b.active ~= nil then d.active = b.active ~= false end
  if b.calloutActive ~= nil then d.calloutActive = b.calloutActive ~= false end
  d.callout = callout_from(b, d.callout)
  local tid = b.calloutTemplateId
  if tid == nil and type(b.callout) == "table" then tid = b.callout.calloutTemplateId end
  if tid ~= nil then
    if tid == json.null then d.calloutTemplateId = nil
    elseif not callouts.store().templates[tid] then
      fail("Callout template with id " .. tostring(tid) .. " does not exist", 404)
    else d.calloutTemplateId = tid end
  end
  if d.calloutTemplateId and not d.callout then
    -- A template alone is a callout: the definition takes its URL and method from it.
    d.callout = { active = true, calloutRetry = true }
  end
  if d.callout and not d.callout.calloutBaseurl and not d.calloutTemplateId then
    fail("'callout.calloutBaseurl' is required")
  end
  d.updatedOn = state.now_iso()
end

--- The record {id} of a store collection, or a 404 naming `what`.
local function finder(coll, what)
  return function(req)
    local rec = callouts.store()[coll][req.params.id]
    if not rec then fail(what .. " with id " .. tostring(req.params.id) .. " does not exist", 404) end
    return rec
  end
end

--- A POST handler: a new record from `defaults` and the body, stored in `coll` (and its order).
local function creator(coll, order, defaults, apply, to_json)
  return function(req)
    local s = callouts.store()
    local rec = { id = callouts.uuid(), createdOn = state.now_iso() }
    for k, v in pairs(defaults) do rec[k] = v end
    apply(rec, req:json_body(), true)
    s[coll][rec.id] = rec
    s[order][#s[order] + 1] = rec.id
    return 200, to_json(rec)
  end
end

local definition_of = finder("definitions", "Notification definition")
local create_definition = creator("definitions", "definition_order", { active = true, calloutActive = true },
  apply_definition, definition_json)

local function list_of(order, coll, to_json, pred)
  local out = json.array()
  for _, id in ipairs(order) do
    local r = coll[id]
    if r and (not pred or pred(r)) then out[#out + 1] = to_json(r) end
  end
  return out
end

local function list_definitions(req)
  local s = callouts.store()
  local ev = req.query.eventTypeName
  return 200, obj("data", list_of(s.definition_order, s.definitions, definition_json,
    function(d) return ev == nil or d.eventTypeName == ev end), "next", json.null)
end

-- Callout templates ------------------------------------------------------------------------------

local function check_hmac(h)
  if h == nil or h == json.null then return nil end
  if type(h) ~= "table" then fail("'hmac' must be an object") end
  local alg = str(h.algorithm) or "SHA-256"
  if not callouts.hmac(alg, "k", "d") then fail("'hmac.algorithm' must be SHA-1, SHA-256, SHA-384 or SHA-512") end
  if not str(h.key) then fail("'hmac.key' is required") end
  if h.encoding ~= nil and h.encoding ~= "base64" and h.encoding ~= "hex" then
    fail("'hmac.encoding' must be base64 or hex")
  end
  return { algorithm = alg, key = h.key, data = str(h.data) or "", signedHeaderKey = str(h.signedHeaderKey)
    or "Authorization", value = str(h.value) or "{{Data.HMAC.Signed}}", encoding = h.encoding or "base64" }
end

local function template_json(t)
  local h = t.hmac and obj("algorithm", t.hmac.algorithm, "data", t.hmac.data, "signedHeaderKey",
    t.hmac.signedHeaderKey, "value", t.hmac.value, "encoding", t.hmac.encoding) or json.null
  return obj("id", t.id, "name", t.name, "description", t.description or json.null,
    "eventTypeName", t.eventTypeName or json.null, "eventCategory", t.eventCategory or json.null,
    "active", t.active, "httpMethod", t.httpMethod, "requestURL", t.requestURL,
    "requestBody", t.requestBody or json.null, "customHeaders", t.customHeaders or json.array(),
    "calloutRetry", t.calloutRetry, "requiredAuth", t.requiredAuth, "calloutAuth", auth_json(t.calloutAuth),
    "hmac", h, "createdOn", t.createdOn, "updatedOn", t.updatedOn)
end

local function apply_template(t, b, creating)
  if creating or b.name ~= nil then t.name = str(b.name) or fail("'name' is required") end
  if creating then
    t.eventTypeName, t.eventCategory = str(b.eventTypeName), str(b.eventCategory)
    if not t.eventTypeName and not t.eventCategory then fail("'eventTypeName' or 'eventCategory' is required") end
  end
  if b.description ~= nil then t.description = str(b.description) end
  if b.active ~= nil then t.active = b.active ~= false end
  if creating or b.requestURL ~= nil then t.requestURL = check_url(b.requestURL, "requestURL") end
  if creating or b.httpMethod ~= nil then t.httpMethod = check_method(b.httpMethod, "httpMethod") end
  if b.requestBody ~= nil then
    if b.requestBody ~= json.null and type(b.requestBody) ~= "string" then fail("'requestBody' must be a string") end
    t.requestBody = str(b.requestBody)
  end
  if b.customHeaders ~= nil then
    local hs = json.array()
    for _, h in ipairs(type(b.customHeaders) == "table" and b.customHeaders or {}) do
      if type(h) ~= "table" or not str(h.name) or (h.value ~= nil and type(h.value) ~= "string")
        or (h.name .. (h.value or "")):find("[\r\n]") then
        fail("'customHeaders' must be a list of { name, value } without CR or LF")
      end
      hs[#hs + 1] = obj("name", h.name, "value", h.value or "")
    end
    t.customHeaders = hs
  end
  if b.calloutRetry ~= nil then t.calloutRetry = b.calloutRetry ~= false end
  if b.requiredAuth ~= nil then t.requiredAuth = b.requiredAuth == true end
  if b.calloutAuth ~= nil then t.calloutAuth = check_auth(b.calloutAuth, "calloutAuth") end
  if b.hmac ~= nil then t.hmac = check_hmac(b.hmac) end
  t.updatedOn = state.now_iso()
end

local template_of = finder("templates", "Callout template")
local create_template = creator("templates", "template_order", { active = true, calloutRetry = true,
  requiredAuth = false }, apply_template, template_json)

-- Callout history --------------------------------------------------------------------------------

local function history_json(rec, with_content)
  return obj("calloutId", rec.id, "eventCategory", rec.eventCategory, "notification", rec.notification,
    "notificationDefinitionId", rec.notificationDefinitionId, "objectId", rec.objectId or json.null,
    "status", rec.status, "attemptedNum", rec.attemptedNum, "requestMethod", rec.requestMethod or json.null,
    "requestUrl", rec.requestUrl or json.null, "responseCode", rec.responseCode or json.null,
    "responseContent", with_content and (rec.responseContent or json.null) or nil,
    "createTime", rec.createTime, "updateTime", rec.updateTime or json.null,
    -- zuora-sim extension: each attempt's Zuora-Request-Id and answer.
    "attempts", rec.attempts)
end

local function list_history(req)
  local q = req.query
  local failed_only = q.failedOnly == "true"
  local with_content = q.includeResponseContent == "true"
  local out = json.array()
  for _, rec in ipairs(callouts.store().history) do
    if (not q.objectId or rec.objectId == q.objectId) and (not q.eventCategory or rec.eventCategory == q.eventCategory)
      and (not failed_only or rec.status == "Failed") then
      out[#out + 1] = history_json(rec, with_content)
    end
  end
  local size = tonumber(q.pageSize or "") or 100
  while #out > size do table.remove(out) end
  return 200, C.ok(obj("calloutHistories", out, "nextPage", json.null))
end

local function resend(req)
  local b = req:json_body()
  local ids = b.calloutIds or b.ids
  if type(ids) ~= "table" then fail("'calloutIds' must be a list") end
  local by_id = {}
  for _, rec in ipairs(callouts.store().history) do by_id[rec.id] = rec end
  local out = json.array()
  for _, id in ipairs(ids) do
    local rec = by_id[id]
    if not rec then fail("Callout with id " .. tostring(id) .. " does not exist", 404) end
    out[#out + 1] = obj("calloutId", id, "resent", callouts.resend(rec))
  end
  return 200, C.ok(obj("callouts", out))
end

--- GET/PUT/DELETE {base}/{id} over one collection of the store (definitions, templates).
local function item_routes(add, base, coll, of, to_json, apply)
  add("GET", base .. "/{id}", function(req) return 200, to_json(of(req)) end)
  add("PUT", base .. "/{id}", function(req)
    local rec = of(req)
    apply(rec, req:json_body(), false)
    return 200, to_json(rec)
  end)
  add("DELETE", base .. "/{id}", function(req)
    callouts.store()[coll][of(req).id] = nil
    return 200, C.ok()
  end)
end

function M.register(r)
  local function add(method, path, handler) r.add(method, path, guarded(handler)) end
  add("POST", "/notifications/notification-definitions", create_definition)
  add("GET", "/notifications/notification-definitions", list_definitions)
  item_routes(add, "/notifications/notification-definitions", "definitions", definition_of, definition_json,
    apply_definition)
  add("POST", "/notifications/callout-templates", create_template)
  add("GET", "/notifications/callout-templates", function()
    local s = callouts.store()
    return 200, obj("data", list_of(s.template_order, s.templates, template_json), "next", json.null)
  end)
  item_routes(add, "/notifications/callout-templates", "templates", template_of, template_json, apply_template)
  add("GET", "/v1/notification-history/callout", list_history)
  add("POST", "/notifications/callout-histories/resend", resend)
end

return M
