--- The Zuora client: configuration, and the one request pipeline every call goes through
-- (URL and headers, credentials, hooks, transport, error classification, retries).
local core = require "zuora.core"
local errors = require "zuora.errors"
local environments = require "zuora.environments"
local options = require "zuora.options"
local redact = require "zuora.redact"
local access = require "zuora.access"

local json, url, crypto = core.json, core.url, core.crypto
local parse_headers, header_value = core.http.parse_headers, core.http.header

local M = {}

local Client = {}
M.Client = Client

local METHODS = { GET = true, POST = true, PUT = true, PATCH = true, DELETE = true, HEAD = true }
local BODY_METHODS = { POST = true, PUT = true, PATCH = true }
local KEYED_METHODS = { POST = true, PATCH = true } -- Zuora honours Idempotency-Key on these
local BODY_ENCODE = { path = "body" } -- encode errors name the offending field: body.items[3].price

local DEFAULTS = {
  timeout = 60, connect_timeout = 10, max_retries = 3,
  retry_base = 0.5, retry_cap = 8, retry_after_cap = 60, refresh_margin = 300,
}

------------------------------------------------------------------------------------------------
-- Small checks.

local function check_header_value(name, value, level)
  if type(value) ~= "string" then
    error("header '" .. name .. "' must be a string", level + 1)
  end
  if value:find("[\r\n]") then
    error("header '" .. name .. "' contains CR or LF", level + 1)
  end
  if name:find("[\r\n:]") or name == "" then
    error("invalid header name '" .. name:gsub("[\r\n]", "?") .. "'", level + 1)
  end
end

local function version_string(v)
  if type(v) == "number" then
    if v == math.floor(v) then return string.format("%.1f", v) end
    return tostring(v)
  end
  return v
end

local function path_value(name, v, level)
  local t = type(v)
  if t == "string" then
    if v == "" then error("path parameter '" .. name .. "' is empty", level + 1) end
    return v
  elseif t == "number" then
    if v == math.floor(v) and v > -2 ^ 53 and v < 2 ^ 53 then return string.format("%.0f", v) end
    return tostring(v)
  end
  if v == nil then error("missing path parameter '" .. name .. "'", level + 1) end
  error("path parameter '" .. name .. "' must be a string or number, got " .. t, level + 1)
end

------------------------------------------------------------------------------------------------
-- Construction.

--- Hook: the runtime a new client runs on (send, sleep, wait_until, spawn, gather, map, run).
-- Inside ngx_lua: cosockets and ngx.thread (zuora.ngx.runtime); elsewhere: libcurl's multi handle
-- under coroutine tasks (zuora.async). The `transport` option ("curl" | "ngx") forces one.
function M.make_runtime(self, opts, level)
  if require("zuora.ngx.detect").wanted(opts.transport, (level or 1) + 1) then
    return require("zuora.ngx.runtime").new(self, opts, (level or 1) + 1)
  end
  local transport = core.http.new{
    ca_file = opts.ca_file, ca_path = opts.ca_path, insecure = opts.insecure,
    max_body = opts.max_body, http2 = opts.http2,
  }
  self.transport = transport
  return require("zuora.async").new(transport, { max_concurrency = opts.max_concurrency })
end

--- The part of construction every client on this pipeline shares (zuora.revenue.client too): a
-- client of metatable `mt` at `base` with credential `mode`, `fields` (the product's own), and the
-- pipeline options of `opts` with their defaults. Give it `auth`, then call M.finish.
function M.construct(mt, opts, mode, base, fields)
  local self = {
    base_url = base,
    origin = url.origin(base),
    mode = mode,
    token_epoch = 0, token_error = false,
  }
  for k, v in pairs(fields) do self[k] = v end
  for k, v in pairs(DEFAULTS) do self[k] = opts[k] or v end
  -- Absent optional fields are false, not nil: reading a nil field would fall through __index
  -- into the group lookup on every call.
  self.on_request, self.on_response = opts.on_request or false, opts.on_response or false
  self.track_id = opts.track_id or false
  -- Safety rails (zuora.access, zuora.dryrun): checked where every request passes, in send.
  self.policy = access.new(opts, rawget(mt, "catalog_module"))
  self.dry_run = opts.dry_run or false
  self.decimals = opts.decimals or false
  -- The methods every call goes through, on the instance: a method missing there costs a call of
  -- __index (which also finds catalogue groups) on each use. `mt` may override them (zuora.revenue).
  self.request, self.prepare, self.classify, self.call_one = mt.request, mt.prepare, mt.classify, mt.call_one
  return setmetatable(self, mt)
end

--- Finishes a client M.construct made: checks track_id, sets the base header lines (User-Agent,
-- naming `product` when given; Accept; then `extra`) and the runtime. Raises (at `level`).
function M.finish(self, opts, level, product, extra)
  level = (level or 1) + 1
  if opts.track_id then M.check_track_id(opts.track_id, level) end
  local info = core.http.info()
  local ua = opts.user_agent and (opts.user_agent .. " ") or ""
  ua = ua .. ("lua-zuora/%s%s (%s; libcurl/%s)"):format(core.version, product and (" " .. product) or "",
    _VERSION, info.version)
  local lines = { "User-Agent: " .. ua, "Accept: application/json" }
  for _, line in ipairs(extra or {}) do lines[#lines + 1] = line end
  self.base_headers = lines
  self.rt = M.make_runtime(self, opts, level)
  return self
end

--- Builds a client; see zuora.new for the options. Raises on any configuration mistake.
function M.new(opts, level)
  level = (level or 1) + 1
  local mode = options.check(opts, level)

  local base = opts.base_url or environments[opts.environment]
  if not base then
    local names = {}
    for name in pairs(environments) do names[#names + 1] = name end
    table.sort(names)
    error("zuora.new: unknown environment '" .. opts.environment .. "' (known: " .. table.concat(names, ", ") .. ")",
      level)
  end
  base = options.base_url("zuora.new", base, level)

  local self = M.construct(Client, opts, mode, base, {
    -- Modes whose credentials are tokens the client fetches (and must refresh) itself.
    uses_tokens = mode == "oauth",
    has_version = opts.zuora_version ~= nil,
  })
  self.auth = core.auth.new{
    mode = mode,
    client_id = opts.client_id, client_secret = opts.client_secret,
    token_url = opts.token_url or (base .. "/oauth/token"),
    refresh_margin = self.refresh_margin,
    username = opts.username, password = opts.password,
    access_key_id = opts.access_key_id, secret_access_key = opts.secret_access_key,
    token = opts.token,
  }

  local lines = {}
  if opts.zuora_version then
    local v = version_string(opts.zuora_version)
    check_header_value("zuora-version", v, level)
    lines[#lines + 1] = "zuora-version: " .. v
  end
  if opts.entity_ids then
    local ids = type(opts.entity_ids) == "table" and table.concat(opts.entity_ids, ",") or opts.entity_ids
    check_header_value("Zuora-Entity-Ids", ids, level)
    lines[#lines + 1] = "Zuora-Entity-Ids: " .. ids
  end
  return M.finish(self, opts, level, nil, lines)
end

--- Zuora-Track-Id: at most 64 printable ASCII characters, none of : ; " '.
function M.check_track_id(id, level)
  if type(id) ~= "string" or #id == 0 or #id > 64 or id:find("[^\32-\126]") or id:find("[:;\"']") then
    error("track_id must be 1-64 printable ASCII characters without : ; \" '", (level or 1) + 1)
  end
end

function Client:__tostring()
  return ("zuora.Client<%s %s>"):format(self.base_url, self.mode)
end

--- A name the client does not hold: a method, a catalogue group (made on first use), nil for a
-- name of zuora.reserved (a field this client lacks), else an error naming the closest group
-- (`client.acounts`), as a typo inside a group does. `catalog` and `methods` serve zuora.revenue.
function M.lookup(self, key, catalog, reserved)
  if type(key) ~= "string" then return nil end
  local operations = require "zuora.operations"
  local group = operations.group(self, key, catalog)
  if group then
    rawset(self, key, group)
    return group
  end
  if reserved[key] then return nil end
  error(("zuora: the client has no method or group '%s'%s (zuora.operations() lists the groups)"):format(key,
    require("zuora.reserved").suggest(key, operations.groups(catalog))), 2) -- 2: __index tail-calls here
end

local RESERVED = require("zuora.reserved").client

function Client:__index(key)
  local method = Client[key]
  if method ~= nil then return method end
  return M.lookup(self, key, nil, RESERVED)
end

------------------------------------------------------------------------------------------------
-- Building a request.

--- The full URL for `path` (a template such as "/v1/accounts/{account-key}", or an absolute URL
-- on the client's own origin), with path parameters filled in and the query appended.
-- Path templates split once into literal text and parameter names: {"/v1/accounts/", "account-key",
-- "/summary"} (odd entries literal, even entries names). Bounded: paths built by callers with the
-- values already inside them have no braces and are never cached.
local templates, ntemplates = {}, 0

local function compile(path)
  local t = templates[path]
  if t then return t end
  t = {}
  local pos = 1
  while true do
    local a, b, name = path:find("{([^}]+)}", pos)
    if not a then break end
    t[#t + 1] = path:sub(pos, a - 1)
    t[#t + 1] = name
    pos = b + 1
  end
  t[#t + 1] = path:sub(pos)
  if ntemplates < 4096 then
    templates[path], ntemplates = t, ntemplates + 1
  end
  return t
end

--- The full URL for `path` (a template such as "/v1/accounts/{account-key}", or an absolute URL
-- on the client's own origin), with path parameters filled in and the query appended.
-- One path parameter, percent-encoded. "." and ".." would be dot segments (libcurl and servers
-- remove them: ".." would climb to the parent resource), so their dots are percent-encoded too.
local function segment(v)
  local seg = url.escape(v)
  if seg == "." or seg == ".." then seg = seg:gsub("%.", "%%2E") end
  return seg
end

local function path_segment(name, params, level)
  local v = params and params[name]
  if type(v) ~= "string" or v == "" then v = path_value(name, v, level + 1) end
  return segment(v)
end

local function url_for(self, path, params, query, level)
  level = (level or 1) + 1
  local u
  -- A cached template first: catalogue operations always come this way, and a template cannot
  -- be an absolute URL (those are checked below, and never compiled).
  local t = templates[path]
  if t and #t == 3 then -- one parameter: a single concatenation, no parts table
    u = self.base_url .. t[1] .. path_segment(t[2], params, level) .. t[3]
  elseif path:find("^https?://") then
    if url.origin(path) ~= self.origin then
      error("refusing to send credentials to another origin: " .. redact.url(path), level)
    end
    u = path
  else
    if path:byte(1) ~= 47 then path = "/" .. path end -- "/"
    if path:find("{", 1, true) then
      t = compile(path)
      local parts = { self.base_url }
      for i = 1, #t, 2 do
        parts[#parts + 1] = t[i]
        local name = t[i + 1]
        if name then parts[#parts + 1] = path_segment(name, params, level) end
      end
      u = table.concat(parts)
    else
      u = self.base_url .. path
    end
  end
  if query ~= nil then
    if type(query) ~= "table" then error("query must be a table", level) end
    if next(query) ~= nil then
      local q = url.encode_query(query)
      if q ~= "" then u = u .. (u:find("?", 1, true) and "&" or "?") .. q end
    end
  end
  return u
end
Client.url_for = url_for

local function add_headers(lines, headers, level)
  if headers == nil then return end
  if type(headers) ~= "table" then error("headers must be a table of name = value", level + 1) end
  for name, value in pairs(headers) do
    if type(name) ~= "string" then error("header names must be strings", level + 1) end
    check_header_value(name, value, level + 1)
    -- The caller's header replaces the client's own (Accept, Content-Type, ...) instead of doubling it.
    local prefix = name:lower() .. ":"
    for i = #lines, 1, -1 do
      if lines[i]:sub(1, #prefix):lower() == prefix then table.remove(lines, i) end
    end
    lines[#lines + 1] = name .. ": " .. value
  end
end

--- Turns request options into the transport request (everything that stays the same across
-- attempts). Raises on bad arguments, before anything is sent.
function Client:prepare(method, path, opts, level)
  level = (level or 1) + 1
  if not METHODS[method] then -- not already an upper-case method name (the catalogue's are)
    if type(method) ~= "string" or not METHODS[method:upper()] then
      error("request: unknown HTTP method " .. tostring(method), level)
    end
    method = method:upper()
  end
  if type(path) ~= "string" then error("request: path must be a string", level) end
  opts = opts or {}
  if type(opts) ~= "table" then error("request: options must be a table", level) end

  local req = {
    method = method,
    url = url_for(self, path, opts.path, opts.query, level),
    timeout = opts.timeout or self.timeout,
    connect_timeout = self.connect_timeout,
    decode = not opts.raw,
    decimals = opts.decimals == nil and self.decimals or opts.decimals,
    output = opts.output,
    multipart = opts.multipart,
    body_file = opts.body_file,
    auth = self.auth,
  }
  if opts.timeout ~= nil and (type(opts.timeout) ~= "number" or opts.timeout <= 0) then
    error("timeout must be a positive number", level)
  end

  -- The transport only reads the header array, so a call that adds nothing shares the client's.
  local lines = self.base_headers
  local track = opts.track_id or self.track_id
  if opts.zuora_version ~= nil or track or opts.headers or BODY_METHODS[method] then
    local copy = {}
    for i = 1, #lines do copy[i] = lines[i] end
    lines = copy
  end
  if opts.zuora_version ~= nil then
    local v = version_string(opts.zuora_version)
    check_header_value("zuora-version", v, level)
    if self.has_version then
      for i, line in ipairs(lines) do
        if line:find("^zuora%-version:") then table.remove(lines, i) break end
      end
    end
    lines[#lines + 1] = "zuora-version: " .. v
  end
  if track then
    M.check_track_id(track, level)
    lines[#lines + 1] = "Zuora-Track-Id: " .. track
  end
  if opts.body ~= nil then
    if not BODY_METHODS[method] then error("request: " .. method .. " takes no body", level) end
    local body = opts.body
    if type(body) ~= "string" then
      local encoded, err = json.encode(body, BODY_ENCODE)
      if not encoded then error("request " .. err, level) end
      body = encoded
      lines[#lines + 1] = "Content-Type: application/json"
    else
      lines[#lines + 1] = "Content-Type: " .. (opts.content_type or "application/json")
    end
    req.body = body
  elseif opts.body_file and opts.content_type then
    lines[#lines + 1] = "Content-Type: " .. opts.content_type
  elseif BODY_METHODS[method] and not opts.multipart and not opts.body_file then
    req.body = ""
  end
  if KEYED_METHODS[method] then
    local key = opts.idempotency_key
    if key == nil then
      key = crypto.uuid4()
    elseif type(key) ~= "string" or #key == 0 or #key > 255 then
      error("idempotency_key must be a string of 1 to 255 characters", level)
    end
    check_header_value("Idempotency-Key", key, level)
    lines[#lines + 1] = "Idempotency-Key: " .. key
    req.idempotency_key = key
  end
  add_headers(lines, opts.headers, level)
  req.headers = lines
  req.op = opts.op
  if opts.dry_run ~= nil then req.dry_run = opts.dry_run end
  if opts.on_progress ~= nil then
    -- transfer progress (docs/bulk.md): the scheduler reports byte counts while the transfer runs
    local progress = require "zuora.progress"
    progress.check(opts.on_progress, level)
    req.on_progress = progress.transfer(opts.on_progress, self:redacted_url(req.url))
  end
  return req
end

------------------------------------------------------------------------------------------------
-- Classifying a transport result.

local function retry_after_seconds(value, cap)
  if not value then return nil end
  local n = tonumber(value)
  if not n then
    -- HTTP-date, e.g. "Wed, 21 Oct 2015 07:28:00 GMT"
    local d, mon, y, h, mi, s = value:match("%a+,%s*(%d+)%s+(%a+)%s+(%d+)%s+(%d+):(%d+):(%d+)%s*GMT")
    local months = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6, Jul = 7, Aug = 8, Sep = 9,
      Oct = 10, Nov = 11, Dec = 12 }
    if not d or not months[mon] then return nil end
    local t = { year = tonumber(y), month = months[mon], day = tonumber(d), hour = tonumber(h),
      min = tonumber(mi), sec = tonumber(s), isdst = false }
    -- os.time reads the table as local time; correct by the local offset from UTC.
    local now = os.time()
    local offset = os.time(os.date("!*t", now)) - now
    n = os.time(t) - offset - now
  end
  if n ~= n then return nil end
  return math.max(0, math.min(n, cap))
end

-- A transport result's response headers. The libcurl transport, asked with `header_block`, gives
-- the raw header lines instead of the table: one header is read straight from them, and the
-- table is built only if something wants all of them (a hook, meta.headers). Also serves a
-- call's `meta` (same two fields), hence rawget: it runs inside meta's __index.
local function res_headers(res)
  local h = rawget(res, "headers")
  if h == nil then
    local block = rawget(res, "header_block")
    if block then
      h = parse_headers(block)
      rawset(res, "headers", h)
    end
  end
  return h
end

local function res_header(res, name)
  local h = res.headers
  if h then return h[name] end
  local block = res.header_block
  if block then return header_value(block, name) end
  return nil
end

-- The metatable of a call's `meta`: `meta.headers` is made from `meta.header_block` when first
-- read (most callers never read it; the table costs more than the rest of the bookkeeping).
local META = {}
function META.__index(meta, k)
  if k == "headers" then return res_headers(meta) end
  return nil
end
function META.__pairs(meta) -- Lua 5.4: pairs(meta) shows headers too
  local _ = meta.headers
  return next, meta, nil
end

local function snippet(s)
  if not s or s == "" then return nil end
  s = s:sub(1, 200):gsub("[%c]", " ")
  return s
end

--- Result or error for a finished transfer: returns value, nil or nil, fields (Error fields).
function Client:classify(req, res)
  if res.kind then
    local kind = res.kind == "timeout" and "timeout" or "transport"
    local fields = {
      kind = kind,
      message = res.error or res.kind,
      reason = res.kind,
      status = res.status ~= 0 and res.status or nil,
    }
    if res.kind == "tls" or res.kind == "too_large" or res.kind == "file" then fields.retryable = false end
    if res.kind == "auth" then fields.kind, fields.retryable = "auth", false end
    return nil, fields
  end
  local status = res.status
  local data = res.data
  if status >= 200 and status < 300 then
    if req.output and res.output then return res.output end
    if data ~= nil then
      -- the usual answer, an object without a failure flag, needs no closer look
      if type(data) == "table" and data.success ~= false and data.Success ~= false and data[1] == nil then
        return data
      end
      local f = errors.parse_body(data, status)
      if f then return nil, f end
      return data
    end
    if res.json_error then
      return nil, { kind = "decode", message = "response is not valid JSON: " .. res.json_error,
        body = snippet(res.body), retryable = false }
    end
    if res.body and res.body ~= "" then
      -- A catalogue operation that answers JSON got a web page (a captive portal, a login proxy):
      -- handing the page back as the result would only fail later, further from the cause.
      local ct = res_header(res, "content-type")
      if req.op and not req.op.accept and ct and ct:lower():find("text/html", 1, true) then
        return nil, { kind = "decode", message = "expected JSON, got " .. ct, body = snippet(res.body),
          retryable = false }
      end
      return res.body
    end
    return true
  end
  local fields = errors.parse_body(data, status)
  if not fields then
    local ct = res_header(res, "content-type") or ""
    fields = {
      message = ("HTTP %d%s"):format(status, ct ~= "" and (" (" .. ct .. ")") or ""),
      body = snippet(res.body),
    }
  end
  if status >= 300 and status < 400 then
    -- Not followed (another origin, or a method other than GET/HEAD): say where it pointed.
    local loc = res_header(res, "location")
    fields.message = ("HTTP %d redirect to %s not followed"):format(status,
      type(loc) == "string" and redact.url(snippet(loc)) or "nowhere")
    fields.retryable = false
  end
  if status == 401 or status == 403 and fields.category == "authentication_failed" then
    fields.kind = "auth"
  end
  return nil, fields
end

------------------------------------------------------------------------------------------------
-- Hooks.

local function run_hook(hook, event)
  local ok, err = pcall(hook, event)
  if not ok then
    -- A failing hook must not turn a completed billing call into an error (the caller might
    -- retry a create that already happened), so it is reported and the call goes on.
    io.stderr:write("zuora: hook failed: ", tostring(err), "\n")
  end
end

function Client:redacted_url(u)
  return self.auth:redact(redact.url(u))
end

------------------------------------------------------------------------------------------------
-- Credentials: make sure the auth object holds a usable token, fetching one if needed. Only one
-- token request is in flight: other callers wait for its outcome instead of sending their own.

function Client:ensure_token()
  local auth, rt = self.auth, self.rt
  while true do
    local state = auth:state(rt.now())
    if state == "ready" then return true end
    if state == "pending" then
      local epoch = self.token_epoch
      -- A token request cannot outlive its timeouts; one pending for longer was abandoned (its
      -- nginx request was aborted): take over instead of waiting forever.
      local settled = rt:wait_until(function() return auth:state(rt.now()) ~= "pending" end,
        self.timeout + self.connect_timeout + 1)
      if not settled then auth:fail("token request abandoned") end
      if settled and auth:state(rt.now()) ~= "ready" and self.token_epoch == epoch and self.token_error then
        return nil, self.token_error
      end
    elseif rt.load_token and rt:load_token(auth) then -- luacheck: ignore 542
      -- a token shared by another nginx worker (zuora.ngx.token_cache)
    else
      local ok, err = self:fetch_token()
      if not ok then return nil, err end
    end
  end
end

function Client:fetch_token()
  local auth, rt = self.auth, self.rt
  self.token_epoch = self.token_epoch + 1
  self.token_error = false
  local attempt = 0
  while true do
    attempt = attempt + 1
    local req = auth:token_request(rt.now())
    req.timeout, req.connect_timeout = self.timeout, self.connect_timeout
    local hook_url = self:redacted_url(req.url)
    if self.on_request then
      run_hook(self.on_request, { method = req.method, url = hook_url, headers = redact.header_lines(req.headers),
        attempt = attempt, token_request = true })
    end
    local t0 = rt.now()
    local res = rt:send(req)
    local _, fields
    if auth:state(rt.now()) ~= "ready" then
      if res.kind and res.kind ~= "auth" then
        _, fields = self:classify(req, res) -- the token request never got an answer
      else
        -- The token endpoint answered but gave no token. Its body stays in C (it may echo
        -- credentials); the status decides: 429 and 5xx are worth another try, the rest is final.
        local status = res.status or 0
        local busy = errors.retryable_statuses[status] or status >= 500
        fields = {
          -- a refusal of the credentials is `auth`; an overloaded or failing endpoint is not
          kind = busy and "api" or "auth", status = status ~= 0 and status or nil,
          message = (res.error and res.error:find("token", 1, true)) and res.error
            or ("token request failed: " .. (res.error or ("HTTP " .. status))),
          retryable = busy and true or false,
        }
      end
      fields.method, fields.url = req.method, hook_url
      fields.request_id = res_header(res, "zuora-request-id")
    end
    local err = fields and errors.new(fields)
    local retry_in
    if err and err.retryable and attempt <= self.max_retries then
      retry_in = self:backoff(attempt, retry_after_seconds(res_header(res, "retry-after"), self.retry_after_cap))
    end
    if self.on_response then
      run_hook(self.on_response, { method = req.method, url = hook_url, status = res.status, attempt = attempt,
        headers = redact.header_map(res_headers(res)), elapsed = rt.now() - t0, token_request = true,
        request_id = res_header(res, "zuora-request-id"), error = err, retry_in = retry_in })
    end
    if not err then return true end
    if not retry_in then
      err.attempts = attempt
      if auth:state(rt.now()) == "pending" then auth:fail(err.message) end
      self.token_error = err
      return nil, err
    end
    if auth:state(rt.now()) == "pending" then auth:fail(err.message) end
    rt:sleep(retry_in)
    if auth:state(rt.now()) == "ready" then return true end
  end
end

------------------------------------------------------------------------------------------------
-- Retries.

--- Seconds to wait before attempt `attempt + 1`: Retry-After when the server gave one, else
-- exponential backoff with full jitter (uniform in [0, min(cap, base * 2^(attempt-1))]).
function Client:backoff(attempt, retry_after)
  if retry_after then return retry_after end
  local ceiling = math.min(self.retry_cap, self.retry_base * 2 ^ (attempt - 1))
  return math.random() * ceiling
end

------------------------------------------------------------------------------------------------
-- The pipeline.

-- Methods whose request must not reach the server twice unless an Idempotency-Key makes a repeat
-- harmless; without a key they travel on a connection of their own, where libcurl never resends.
local UNSAFE_METHODS = { POST = true, PATCH = true }
-- Redirects are followed only for these methods, only on the client's own origin, at most this often.
local FOLLOW_METHODS = { GET = true, HEAD = true }
local MAX_REDIRECTS = 5

--- The absolute URL a Location header points at, resolved against the request's URL, or nil.
local function resolve_location(base, loc)
  if type(loc) ~= "string" or loc == "" or loc:find("[%c ]") then return nil end
  local target
  if loc:find("^%a[%w+.-]*:") then
    target = loc
  elseif loc:sub(1, 2) == "//" then
    target = base:match("^(%a[%w+.-]*:)") .. loc
  elseif loc:sub(1, 1) == "/" then
    target = url.origin(base) .. loc
  else
    target = base:gsub("[?#].*$", ""):gsub("[^/]*$", "") .. loc
  end
  return url.parse(target) and target or nil
end
M.resolve_location = resolve_location

--- Follows same-origin redirects of GET and HEAD requests (credentials go only where they came
-- from). Returns the final result and the requests libcurl put on the wire on the way.
function Client:follow(req, res)
  local sends, hops = 0, 0
  while res.status and res.status >= 300 and res.status < 400 and not res.kind and FOLLOW_METHODS[req.method]
    and hops < MAX_REDIRECTS do
    local target = resolve_location(req.url, res_header(res, "location"))
    if not target or url.origin(target) ~= self.origin then break end
    hops = hops + 1
    local hop = {}
    for k, v in pairs(req) do hop[k] = v end
    hop.url = target
    res = self.rt:send(hop)
    sends = sends + (res.sends or 1)
  end
  return res, sends
end

-- Whether a failed attempt may have done its work on the server without our learning of it: the
-- request went out (or the transport cannot say) and no real answer came back, or a gateway gave
-- up on it (502, 504: the work may go on behind it).
local function outcome_unknown(res)
  if res.kind then
    return res.kind ~= "auth" and res.kind ~= "file" and (res.sends == nil or res.sends > 0)
  end
  return res.status == 502 or res.status == 504
end

--- Sends a prepared request with credentials, hooks and retries. Returns result, nil, meta or
-- nil, err (a zuora.Error).
local function send(self, req)
  local rt = self.rt
  -- The rails, before anything of the call is sent (not even a token request).
  if self.policy then
    local refused = self.policy:check(req.method, access.path_of(req.url, self.base_url), req.op)
    if refused then
      refused.method, refused.url = req.method, self:redacted_url(req.url)
      return nil, errors.new(refused)
    end
  end
  local dry = req.dry_run
  if dry == nil then dry = self.dry_run end
  if dry then return require("zuora.dryrun").describe(self, req) end
  local attempt, refreshed = 0, false
  -- sends: requests put on the wire over all attempts (libcurl may resend one by itself);
  -- unsure: an earlier attempt may have done the work although we never heard the answer.
  local sends, unsure = 0, false
  local op, hook_url
  if req.fresh_connect == nil then
    req.fresh_connect = (UNSAFE_METHODS[req.method] and not req.idempotency_key) or false
  end
  if self.on_request or self.on_response then
    op = req.op and (req.op.group and (req.op.group .. "." .. req.op.name) or req.op.name) or nil
    hook_url = self:redacted_url(req.url)
  end
  while true do
    attempt = attempt + 1
    if self.uses_tokens then
      local ok, aerr = self:ensure_token()
      if not ok then
        aerr.attempts, aerr.sends = attempt, sends
        return nil, aerr
      end
    end
    if self.on_request then
      run_hook(self.on_request, { method = req.method, url = hook_url, headers = redact.header_lines(req.headers),
        attempt = attempt, op = op, idempotency_key = req.idempotency_key })
    end
    local res
    if req.on_progress then res = require("zuora.progress").send(rt, req) else res = rt:send(req) end
    local resent = res.sends and res.sends > 1 -- libcurl repeated it on a new connection
    sends = sends + (res.sends or 1)
    if res.status and res.status >= 300 and res.status < 400 and not res.kind then
      local hop_sends
      res, hop_sends = self:follow(req, res)
      sends = sends + hop_sends
    end
    local elapsed = res.time or 0
    local value, fields = self:classify(req, res)
    local request_id = res_header(res, "zuora-request-id")
    local gone = false
    if value == nil and req.method == "DELETE" and res.status == 404 and (unsure or resent) then
      -- An earlier send of this DELETE may have removed the object: it is gone, as asked.
      value, fields, gone = true, nil, true
    end

    if value ~= nil then
      if self.on_response then
        run_hook(self.on_response, { method = req.method, url = hook_url, status = res.status, attempt = attempt,
          headers = redact.header_map(res_headers(res)), elapsed = elapsed, request_id = request_id, op = op,
          sends = res.sends })
      end
      return value, nil, setmetatable({ status = res.status, headers = res.headers, header_block = res.header_block,
        request_id = request_id, attempts = attempt, sends = sends, elapsed = elapsed, gone = gone or nil }, META)
    end

    fields.status = fields.status or (res.status ~= 0 and res.status or nil)
    fields.method = req.method
    fields.url = self:redacted_url(req.url)
    fields.request_id = request_id
    fields.attempts = attempt
    fields.sends = sends
    if fields.message then fields.message = self.auth:redact(fields.message) end
    if fields.body then fields.body = self.auth:redact(fields.body) end
    local err = errors.new(fields)
    if outcome_unknown(res) then unsure = true end
    -- A write that fails after an attempt whose answer was lost may have been done: say so, and
    -- give back its key, so the caller can repeat it later with the same key (Zuora then answers
    -- with the first attempt's result instead of doing it twice).
    if unsure and not FOLLOW_METHODS[req.method] then err.outcome_unknown = true end
    err.idempotency_key = req.idempotency_key

    local again, retry_in, free = false, nil, false
    if res.status == 401 and self.uses_tokens and not refreshed then
      -- The token was revoked or expired early: get a new one once, without counting an attempt.
      refreshed, again, retry_in, free = true, true, 0, true
      -- the generation whose credentials this attempt carried, so a newer token survives
      self.auth:invalidate(res.auth_generation or self.auth:generation())
    elseif err.retryable and attempt <= self.max_retries then
      again = true
      retry_in = self:backoff(attempt, retry_after_seconds(res_header(res, "retry-after"), self.retry_after_cap))
    end
    if self.on_response then
      run_hook(self.on_response, { method = req.method, url = hook_url, status = res.status, attempt = attempt,
        headers = redact.header_map(res_headers(res)), elapsed = elapsed, request_id = request_id, op = op,
        error = err, retry_in = retry_in, sends = res.sends })
    end
    if not again then return nil, err end
    if free then attempt = attempt - 1 end
    if retry_in > 0 then rt:sleep(retry_in) end
  end
end
Client.send = send

-- Methods a one-value call may send without prepare: no body, never an Idempotency-Key.
local ONE_VALUE_METHODS = { GET = true, DELETE = true }

-- Catalogue entry -> its path template when a call given only its path value may skip prepare
-- (the entry's own part of call_one's test, done once), or false.
local one_value = setmetatable({}, { __mode = "k" })

local function one_value_template(entry)
  local t = compile(entry.path)
  local ok = ONE_VALUE_METHODS[entry.method] and #t == 3 and t[2] == entry.params[1] and t or false
  one_value[entry] = ok
  return ok
end

--- Calls catalogue operation `entry` with `value` as its one path parameter and nothing else:
-- the same as request(entry.method, entry.path, {path = {[entry.params[1]] = value}, op = entry}),
-- which is what it does for anything unusual. zuora.operations comes here for every call given
-- only its path value. For the commonest of them, a GET or DELETE such as
-- `accounts.retrieve("A1")`, it builds the request table prepare would build and hands it to the
-- same send, without the two option tables and the tests of options that are not there (8% of
-- such a call's instructions, docs/benchmarks.md). That short way needs: one path parameter, a
-- non-empty string value, no client track_id (its header line is added per call), and the
-- library's own request and prepare (a client type or a caller that replaces either, as
-- zuora.revenue replaces prepare, keeps its own way). An entry's body type and Accept are not its
-- business: prepare never reads them (request_opts does, which is why zuora.operations sends
-- only calls of entries without them here).
function Client:call_one(entry, value)
  local t = one_value[entry]
  if t == nil then t = one_value_template(entry) end
  if not t or self.track_id or self.request ~= Client.request or self.prepare ~= Client.prepare
    or type(value) ~= "string" or value == "" then
    return self:request(entry.method, entry.path, { path = { [entry.params[1]] = value }, op = entry })
  end
  return send(self, { method = entry.method, url = self.base_url .. t[1] .. segment(value) .. t[3],
    timeout = self.timeout, connect_timeout = self.connect_timeout, decode = true, auth = self.auth,
    decimals = self.decimals or nil, headers = self.base_headers, op = entry, header_block = true })
end

--- Calls any endpoint: `client:request("GET", "/v1/accounts/{key}", {path = {key = "A1"}})`.
-- opts: path, query, body (table -> JSON, or a string with content_type), headers,
-- idempotency_key, zuora_version, track_id, timeout, output (stream a 2xx body to this file and
-- return the path), raw (return the body undecoded), decimals (answer's numbers as zuora.decimal),
-- multipart, body_file (with content_type),
-- on_progress (transfer progress events, docs/bulk.md).
-- Returns result, nil, meta ({status, headers, request_id, attempts, elapsed}) or nil, err.
function Client:request(method, path, opts)
  local req = self:prepare(method, path, opts, 2)
  req.header_block = true -- the response's header table only if it is read (see res_headers)
  return send(self, req)
end

------------------------------------------------------------------------------------------------
-- Concurrency (see zuora.async).

--- Runs fn(...) as a task; calls inside it yield instead of blocking. Returns the task.
function Client:spawn(fn, ...)
  return self.rt:spawn(fn, ...)
end

--- Runs the functions concurrently; returns an array of packed returns in the same order.
-- opts.cancel_on_error: the first failure cancels the others (docs/concurrency.md).
function Client:gather(fns, opts)
  if type(fns) ~= "table" then error("gather: expected an array of functions", 2) end
  return self.rt:gather(fns, opts)
end

--- Calls fn(item, i) for every item, at most opts.concurrency at once (default 8).
-- Returns results, errs indexed like items. opts.cancel_on_error stops at the first error.
function Client:map(items, fn, opts)
  if type(items) ~= "table" then error("map: expected items and a function", 2) end
  return self.rt:map(items, fn, opts)
end

--- Sleeps without blocking other tasks.
function Client:sleep(seconds)
  return self.rt:sleep(seconds)
end

--- Waits for every task to finish; raises if one failed and nobody waited for it.
function Client:run()
  return self.rt:run()
end

------------------------------------------------------------------------------------------------
-- Bulk reads and async work (the logic lives in zuora.query, zuora.data_query, zuora.jobs and
-- zuora.files; docs/bulk.md).

--- Iterates the records of a ZOQL query (query, then queryMore until done); `?` placeholders are
-- bound from the extra arguments. Raises a zuora.Error when a batch fails.
function Client:query(zoql, ...)
  return require("zuora.query").pager(self, 2, zoql, ...):each()
end

--- Runs a Data Query job to completion and returns an iterator over its rows (or, with
-- opts.output, the path of the saved file), nil, job; or nil, err.
function Client:data_query(sql, opts)
  return require("zuora.data_query").run(self, sql, opts)
end

--- Waits for an async job (an id for /v1/async-jobs/{id}, or a status path); returns its final
-- reply or nil, err.
function Client:wait_job(target, opts)
  return require("zuora.jobs").wait(self, target, opts)
end

--- Uploads a usage CSV file (multipart, streamed from disk); with opts.wait, also waits for the
-- import to finish. Returns the reply (or the final import status) or nil, err.
function Client:upload_usage(path, opts)
  return require("zuora.files").upload_usage(self, path, opts)
end

--- Payment Pages 2.0: signature, token, tenant_id, key for a hosted page (zuora.payment_pages).
function Client:payment_page_signature(opts) return require("zuora.payment_pages").signature(self, opts, 2) end
--- The pollable face for foreign event loops (plain Lua runtime): an object with pollfd(),
-- events() and timeout() in the cqueues convention, and step(timeout). Wait until pollfd() is
-- readable or timeout() seconds passed, then call step(). See docs/concurrency.md.
function Client:pollable() return self.rt end

--- Runs ready tasks and finished transfers, waiting at most `timeout` seconds (default 0).
-- Returns true while tasks or transfers remain.
function Client:step(timeout) return self.rt:step(timeout) end

--- Releases the transport (connections, handles) and wipes the credentials and token the C core
-- holds (without waiting for the garbage collector). The client is unusable afterwards.
function Client:close()
  if self.transport then
    self.transport:close()
    self.transport = nil
  end
  if self.auth then self.auth:close() end
end

-- `local client <close> = zuora.new{...}` (Lua 5.4) closes it when the block ends.
Client.__close = Client.close

M.retry_after_seconds = retry_after_seconds
-- For clients of other Zuora products built on this pipeline (zuora.revenue).
M.DEFAULTS = DEFAULTS
M.run_hook = run_hook

return M
