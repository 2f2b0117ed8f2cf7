--- zuora-sim calls back: events of the billing core delivered as callouts (docs/zuora-sim.md,
-- "Callouts").
--
-- The billing handlers call fire(event_type, objects) where an event happens; every active
-- notification definition for that event with an active callout gets one delivery, run in an
-- ngx.timer (the request that caused the event is answered at once, as in Zuora). A delivery is
-- one or more attempts over a cosocket: a new Zuora-Request-Id each time, basic auth or an HMAC
-- header from the callout template, retries after callout_interval_time "minutes" (each
-- callout_interval_scale seconds long) up to callout_retry_number times, success being a 200
-- (and, with callout_confirm_suc_from_res_content, a JSON {"success": true}). Each delivery
-- leaves one callout history record (api/notifications.lua serves them).
local ffi = require "ffi"
local json = require "zuora_sim.json"
local state = require "zuora_sim.state"
local util = require "zuora_sim.util"

local M = {}

M.EVENTS = { AccountCreated = true, InvoicePosted = true, PaymentProcessed = true, BillRunCompleted = true }
M.MAX_CONTENT = 2048 -- bytes of an answer kept in the history

--- The notification store, inside state.data so that a reset empties it.
function M.store()
  local d = state.data
  if not d.callouts then
    d.callouts = { definitions = {}, definition_order = {}, templates = {}, template_order = {}, history = {} }
  end
  return d.callouts
end

M.uuid = util.uuid

local function hex(n)
  local t = {}
  for i = 1, n do t[i] = string.format("%x", math.random(0, 15)) end
  return table.concat(t)
end

-- HMAC through the system libcrypto (as rsa.lua does for RSA).
for _, decl in ipairs {
  "const void *EVP_get_digestbyname(const char *name);",
  "unsigned char *HMAC(const void *evp_md, const void *key, int key_len, const unsigned char *d, size_t n, "
    .. "unsigned char *md, unsigned int *md_len);",
} do
  pcall(ffi.cdef, decl)
end
-- libcrypto.so comes with libssl-dev; the versioned name is there wherever nginx is.
local loaded, crypto = pcall(ffi.load, "crypto")
if not loaded then crypto = ffi.load("libcrypto.so.3") end

local DIGESTS = { sha1 = "SHA1", sha256 = "SHA256", sha384 = "SHA384", sha512 = "SHA512" }

--- Raw HMAC bytes, or nil, err for an unknown algorithm ("SHA-256", "sha256", "HmacSHA256").
function M.hmac(algorithm, key, data)
  local name = DIGESTS[tostring(algorithm):lower():gsub("^hmac", ""):gsub("-", "")]
  if not name then return nil, "unknown HMAC algorithm " .. tostring(algorithm) end
  local md = crypto.EVP_get_digestbyname(name)
  if md == nil then return nil, "digest " .. name .. " not available" end
  local out = ffi.new("unsigned char[64]")
  local len = ffi.new("unsigned int[1]")
  if crypto.HMAC(md, key, #key, data, #data, out, len) == nil then return nil, "HMAC failed" end
  return ffi.string(out, len[0])
end

-- Merge fields --------------------------------------------------------------------------------

local function scalar(v)
  if v == nil or v == json.null then return "" end
  if json.is_number(v) then return json.number_text(v) end
  if type(v) == "table" then return "" end
  return tostring(v)
end

--- The value of a merge field: "Invoice.Id", "DataSource.Invoice.Id", "<parameter>InvoiceId</parameter>",
-- or a flat name (InvoiceId, AccountNumber, EventType ...).
local function field_value(ctx, name)
  name = name:match("^%s*<parameter>%s*(.-)%s*</parameter>%s*$") or name
  name = name:gsub("^DataSource%.", ""):gsub("^Data%.", "")
  if ctx.flat[name] ~= nil then return scalar(ctx.flat[name]) end
  local obj, field = name:match("^(%a+)%.(.+)$")
  local rec = obj and ctx.objects[obj]
  if not rec then return "" end
  local v = rec[field]
  if v == nil then v = rec[util.lower_first(field)] end
  if v == nil and field == "Id" then v = rec.id end
  return scalar(v)
end

--- Replaces {{...}} merge fields in `text`; `extra` names more (Data.HMAC.Signed).
local function render(text, ctx, extra)
  if type(text) ~= "string" then return "" end
  return (text:gsub("{{%s*(.-)%s*}}", function(name)
    if extra and extra[name] ~= nil then return extra[name] end
    return field_value(ctx, name)
  end))
end
M.render = render

local function form_encode(pairs_list)
  local out = {}
  for _, kv in ipairs(pairs_list) do out[#out + 1] = util.escape(kv[1]) .. "=" .. util.escape(kv[2]) end
  return table.concat(out, "&")
end

-- HTTP over a cosocket --------------------------------------------------------------------------

local function parse_url(u)
  local scheme, host, port, path = u:match("^(https?)://([^/:?#]+):?(%d*)([^#]*)$")
  if not scheme then return nil end
  if path == "" then path = "/" end
  if path:sub(1, 1) == "?" then path = "/" .. path end
  return { scheme = scheme, host = host, port = tonumber(port) or (scheme == "https" and 443 or 80), path = path }
end

local function read_body(sock, headers)
  local len = tonumber(headers["content-length"] or "")
  if len then return sock:receive(len) end
  if (headers["transfer-encoding"] or ""):lower():find("chunked", 1, true) then
    local parts = {}
    while true do
      local line, err = sock:receive("*l")
      if not line then return nil, err end
      local n = tonumber(line:match("^%s*(%x+)"), 16)
      if not n then return nil, "bad chunk size" end
      if n == 0 then sock:receive("*l"); break end
      local chunk, cerr = sock:receive(n)
      if not chunk then return nil, cerr end
      parts[#parts + 1] = chunk
      sock:receive("*l")
    end
    return table.concat(parts)
  end
  return sock:receive("*a")
end

--- One HTTP request (Connection: close). Returns { status, headers, body } or nil, err.
function M.http(method, target, headers, body, timeout)
  local u = parse_url(target)
  if not u then return nil, "bad URL" end
  local sock = ngx.socket.tcp()
  sock:settimeout(timeout * 1000)
  local ok, err = sock:connect(u.host, u.port)
  if not ok then return nil, "connect: " .. tostring(err) end
  if u.scheme == "https" then
    ok, err = sock:sslhandshake(nil, u.host, true)
    if not ok then sock:close(); return nil, "TLS: " .. tostring(err) end
  end
  local lines = { method .. " " .. u.path .. " HTTP/1.1", "Host: " .. u.host .. ":" .. u.port, "Connection: close",
    "User-Agent: zuora-sim-callout" }
  for _, h in ipairs(headers) do lines[#lines + 1] = h[1] .. ": " .. h[2] end
  if body then lines[#lines + 1] = "Content-Length: " .. #body end
  ok, err = sock:send(table.concat(lines, "\r\n") .. "\r\n\r\n" .. (body or ""))
  if not ok then sock:close(); return nil, "send: " .. tostring(err) end
  local status_line
  status_line, err = sock:receive("*l")
  if not status_line then sock:close(); return nil, "receive: " .. tostring(err) end
  local status = tonumber(status_line:match("^HTTP/%d%.%d (%d%d%d)"))
  if not status then sock:close(); return nil, "not an HTTP answer" end
  local rh = {}
  while true do
    local line, lerr = sock:receive("*l")
    if not line then sock:close(); return nil, "receive: " .. tostring(lerr) end
    if line == "" then break end
    local k, v = line:match("^([^:]+):%s*(.-)%s*$")
    if k then rh[k:lower()] = v end
  end
  local rbody = ""
  if method ~= "HEAD" and status ~= 204 and status ~= 304 then
    rbody, err = read_body(sock, rh)
    if not rbody then sock:close(); return nil, "receive: " .. tostring(err) end
  end
  sock:close()
  return { status = status, headers = rh, body = rbody }
end

-- Deliveries ------------------------------------------------------------------------------------

--- The callout a definition sends, its template's parts merged in (the template wins where it
-- says something).
local function callout_of(def)
  local c = def.callout or {}
  local t = def.calloutTemplateId and M.store().templates[def.calloutTemplateId]
  local out = {
    method = (t and t.httpMethod) or c.httpMethod or "POST",
    url = (t and t.requestURL) or c.calloutBaseurl,
    params = c.calloutParams,
    retry = c.calloutRetry ~= false and not (t and t.calloutRetry == false),
    auth = (t and t.requiredAuth and t.calloutAuth) or (c.requiredAuth and c.calloutAuth) or nil,
    body = t and t.requestBody,
    headers = t and t.customHeaders,
    hmac = t and t.hmac,
  }
  return out
end

local function success(resp)
  if not resp or resp.status ~= 200 then return false end
  if not state.config.callout_confirm_suc_from_res_content then return true end
  local ctype = (resp.headers["content-type"] or ""):lower()
  if not ctype:find("^application/json") then return false end
  local v = json.decode(resp.body or "")
  return type(v) == "table" and v.success == true
end

--- Builds the request of one attempt (a new Zuora-Request-Id each time).
local function build_request(co, ctx)
  local method = co.method:upper()
  local target = render(co.url, ctx)
  local params = {}
  if type(co.params) == "table" then
    local names = {}
    for k in pairs(co.params) do names[#names + 1] = k end
    table.sort(names)
    for _, k in ipairs(names) do params[#params + 1] = { k, field_value(ctx, tostring(co.params[k])) } end
  end
  local headers, body = {}, nil
  local request_id = hex(32)
  headers[#headers + 1] = { "Zuora-Request-Id", request_id }
  headers[#headers + 1] = { "X-Amzn-Trace-Id", "Root=1-" .. string.format("%08x", ngx.time()) .. "-" .. hex(24) }
  if co.body then
    body = render(co.body, ctx)
    headers[#headers + 1] = { "Content-Type", "application/json" }
    if #params > 0 then target = target .. (target:find("?", 1, true) and "&" or "?") .. form_encode(params) end
  elseif #params > 0 then
    if method == "GET" or method == "DELETE" then
      target = target .. (target:find("?", 1, true) and "&" or "?") .. form_encode(params)
    else
      body = form_encode(params)
      headers[#headers + 1] = { "Content-Type", "application/x-www-form-urlencoded" }
    end
  end
  if type(co.headers) == "table" then
    for _, h in ipairs(co.headers) do
      if type(h) == "table" and h.name then headers[#headers + 1] = { render(h.name, ctx), render(h.value, ctx) } end
    end
  end
  local u = parse_url(target)
  if co.hmac then
    local h = co.hmac
    local data = render(h.data, ctx, { ["Request.Method"] = method, ["Request.Path"] = u and u.path or "",
      ["Request.Body"] = body or "" })
    local mac = M.hmac(h.algorithm or "SHA-256", h.key or "", data)
    local signed = (h.encoding == "hex") and (mac:gsub(".", function(c) return string.format("%02x", c:byte()) end))
      or ngx.encode_base64(mac)
    headers[#headers + 1] = { h.signedHeaderKey or "Authorization",
      render(h.value or "{{Data.HMAC.Signed}}", ctx, { ["Data.HMAC.Signed"] = signed }) }
  end
  return { method = method, url = target, headers = headers, body = body, request_id = request_id }
end

local function attempt(co, ctx)
  local r = build_request(co, ctx)
  local timeout = state.config.callout_timeout
  local auth = co.auth
  local basic = auth and { "Authorization", "Basic " .. ngx.encode_base64((auth.username or "") .. ":"
    .. (auth.password or "")) }
  if basic and auth.preemptive ~= false then r.headers[#r.headers + 1] = basic end
  local resp, err = M.http(r.method, r.url, r.headers, r.body, timeout)
  -- Not preemptive: the credentials go only in answer to a challenge, in the same attempt.
  if resp and basic and auth.preemptive == false and resp.status == 401 then
    r.headers[#r.headers + 1] = basic
    resp, err = M.http(r.method, r.url, r.headers, r.body, timeout)
  end
  return r, resp, err
end

local function deliver(premature, rec, co, ctx, generation)
  if premature then return end
  local retries = co.retry and math.floor(state.config.callout_retry_number) or 0
  for n = 1, retries + 1 do
    if M.store() ~= generation then return end -- the tenant was reset meanwhile
    local r, resp, err = attempt(co, ctx)
    rec.attemptedNum = n
    rec.requestMethod, rec.requestUrl = r.method, r.url
    rec.responseCode = resp and resp.status or nil
    rec.responseContent = resp and resp.body:sub(1, M.MAX_CONTENT) or ("no answer: " .. tostring(err))
    rec.updateTime = state.now_iso()
    rec.attempts[#rec.attempts + 1] = json.object("requestId", r.request_id, "time", rec.updateTime,
      "responseCode", rec.responseCode or json.null, "error", err or json.null)
    if success(resp) then
      rec.status = "Success"
      return
    end
    if n <= retries then
      rec.status = "Retrying"
      ngx.sleep(math.max(0.001, state.config.callout_interval_time * state.config.callout_interval_scale))
    end
  end
  rec.status = "Failed"
end

local function definitions_for(event_type)
  local s, out = M.store(), {}
  for _, id in ipairs(s.definition_order) do
    local d = s.definitions[id]
    if d and d.active ~= false and d.calloutActive ~= false and d.callout and d.eventTypeName == event_type then
      out[#out + 1] = d
    end
  end
  return out
end

--- An event happened: `objects` maps object names (Account, Invoice, Payment, BillRun) to
-- records; `object_id` is the id the history is filed under.
function M.fire(event_type, objects, object_id)
  local defs = definitions_for(event_type)
  if #defs == 0 then return end
  local flat = { EventType = event_type, EventDate = state.today(), TenantId = "9000001" }
  for name, rec in pairs(objects) do
    for k, v in pairs(rec) do
      if type(k) == "string" and (type(v) ~= "table" or json.is_number(v)) then
        flat[name .. util.upper_first(k)] = v
      end
    end
    flat[name .. "Id"] = rec.id
  end
  local ctx = { objects = objects, flat = flat }
  local s = M.store()
  for _, def in ipairs(defs) do
    local co = callout_of(def)
    local rec = { id = M.uuid():gsub("-", ""), eventCategory = event_type, notification = def.name,
      notificationDefinitionId = def.id, objectId = object_id, status = "Pending", attemptedNum = 0,
      createTime = state.now_iso(), attempts = json.array(), co = co, ctx = ctx }
    s.history[#s.history + 1] = rec
    M.start(rec)
  end
end

--- Starts (or restarts) the delivery of a history record; false when no timer could be had.
function M.start(rec)
  local ok, err = ngx.timer.at(0, deliver, rec, rec.co, rec.ctx, M.store())
  if not ok then
    rec.status = "Failed"
    rec.responseContent = "zuora-sim could not start the delivery: " .. tostring(err)
    return false
  end
  return true
end

--- POST /notifications/callout-histories/resend: the same event delivered again (new attempts).
function M.resend(rec)
  if rec.status == "Pending" or rec.status == "Retrying" then return false end
  rec.status = "Pending"
  return M.start(rec)
end

--- fire() that never fails the request which caused the event.
function M.safe_fire(event_type, objects, object_id)
  local ok, err = pcall(M.fire, event_type, objects, object_id)
  if not ok then ngx.log(ngx.ERR, "zuora-sim callouts: ", err) end
end

return M
