--- zuora.prepare: turns the arguments of a call into the transport request table that stays the
-- same across attempts: URL (path parameters percent-encoded, query encoded), header lines
-- (User-Agent, zuora-version, Zuora-Track-Id, Content-Type, Idempotency-Key, the caller's), body,
-- and the request's kind for zuora.retry_policy (idempotent, keyed or unsafe) with its
-- fresh_connect. Raises on bad arguments, before anything is sent. Client:prepare is M.prepare.
local core = require "zuora.core"
local access = require "zuora.access"
local policy = require "zuora.retry_policy"
local redact = require "zuora.redact"

local json, url, crypto = core.json, core.url, core.crypto
local find = string.find

local M = {}

local METHODS = { GET = true, POST = true, PUT = true, PATCH = true, DELETE = true, HEAD = true }
local BODY_METHODS = { POST = true, PUT = true, PATCH = true }
local KEYED_METHODS = policy.KEYED_METHODS -- Zuora honours Idempotency-Key on these
local SAFE_METHODS = policy.SAFE_METHODS
local BODY_ENCODE = { path = "body" } -- encode errors name the offending field: body.items[3].price

------------------------------------------------------------------------------------------------
-- Small checks.

local function check_header_value(name, value, level)
  if type(value) ~= "string" then
    error("header '" .. name .. "' must be a string", level + 1)
  end
  if value:find("[\r\n]") then
    error("header '" .. name .. "' contains CR or LF", level + 1)
  end
  if name:find("[\r\n:]") or name == "" or name:find("\0", 1, true) then
    error("invalid header name '" .. name:gsub("[\r\n%z]", "?") .. "'", level + 1)
  end
  -- (the transport refuses NUL too, but only when it sends: after a token request went out)
  if value:find("\0", 1, true) then
    error("header '" .. name .. "' contains a NUL byte", level + 1)
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

M.check_header_value, M.version_string = check_header_value, version_string

--- Zuora-Track-Id: at most 64 printable ASCII characters, none of : ; " '.
local function check_track_id(id, level)
  if type(id) ~= "string" or #id == 0 or #id > 64 or id:find("[^\32-\126]") or id:find("[:;\"']") then
    error("track_id must be 1-64 printable ASCII characters without : ; \" '", (level or 1) + 1)
  end
end
M.check_track_id = check_track_id

------------------------------------------------------------------------------------------------
-- Write safety of a request (docs/reliability.md).

-- The kind of a prepared request: the caller's `idempotent` option, else the operation's entry
-- (a read is repeatable too), else for PUT and DELETE the verdict of the catalogue operation the
-- URL reaches (zuora.access.lookup; none: not idempotent); whether it carries an Idempotency-Key
-- the server honours.
-- Catalogue verdicts of PUT and DELETE paths sent without an operation: catalogue module ->
-- "METHOD path" -> boolean. The path as the caller gave it (a template or a filled-in path: a
-- value is one segment, unless it holds an encoded slash, below). Bounded like the templates.
local verdicts, nverdicts = {}, 0

-- Whether URL `u` holds an encoded slash or backslash: a path value with one may be read as more
-- than one segment (zuora.access.readings), so the URL's verdict is its own, not its template's.
local function may_split(u) return find(u, "%%[25][FfCc]") ~= nil end

local function catalogue_verdict(client, method, path, u)
  local module = client.catalog_module
  local cache = verdicts[module]
  if not cache then
    cache = {}
    verdicts[module] = cache
  end
  local key = not may_split(u) and (method .. " " .. path) or nil -- (never a template's cached verdict)
  local v = key and cache[key]
  if v == nil then
    -- Idempotent only when every path a server may take it for is (zuora.access.readings, as the
    -- safety rails judge it): "/v1/accounts/..%2Fsubscriptions%2FS1%2Frenew" fits accounts.update
    -- as written, and nginx reads it as subscriptions.renew.
    v = true
    for _, p in ipairs(access.readings(access.path_of(u, client.base_url))) do
      local e = access.lookup(method, p, module)
      if not (e and e.idempotent == true) then
        v = false
        break
      end
    end
    if key and nverdicts < 4096 then
      cache[key], nverdicts = v, nverdicts + 1
    end
  end
  return v
end

local function request_kind(client, method, path, u, opts, keyed, level)
  local idempotent = opts.idempotent
  if idempotent ~= nil and type(idempotent) ~= "boolean" then
    error("request: idempotent must be a boolean", level + 1)
  end
  if idempotent == nil then
    local entry = opts.op
    -- The operation's verdict holds for its own method and path (a caller may hand any entry in
    -- `op`), and for an idempotent one only while its path values stay one segment each.
    if entry and entry.idempotent ~= nil and entry.method == method and entry.path == path
      and not (entry.idempotent and may_split(u)) then
      idempotent = entry.idempotent or entry.reads or false
    elseif method == "PUT" or method == "DELETE" then
      idempotent = catalogue_verdict(client, method, path, u)
    end
  end
  return policy.kind(method, idempotent, keyed)
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
  elseif path:find("[%c ]") then
    -- said here, before anything is sent (the transport would refuse it after the token request)
    error("request: the path contains a space or a control character (percent-encode it, or pass the "
      .. "value as a path parameter)", level)
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
      local ok, q = pcall(url.encode_query, query)
      if not ok then -- the caller's mistake, said at the caller's line without the C function's name
        q = tostring(q):gsub("^[^\n]-url%.encode_query: ", ""):gsub("^value of ", "parameter ")
        error("query: " .. q .. " (a query value is a string, number, boolean, decimal or an array of them)", level)
      end
      if q ~= "" then u = u .. (u:find("?", 1, true) and "&" or "?") .. q end
    end
  end
  return u
end
M.url_for = url_for
M.compile, M.segment = compile, segment

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
function M.prepare(self, method, path, opts, level)
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
  local deadline = opts.deadline or self.deadline
  if deadline then
    if type(deadline) ~= "number" or deadline ~= deadline or deadline <= 0 then
      error("deadline must be a positive number of seconds", level)
    end
    req.deadline = core.http.now() + deadline
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
    check_track_id(track, level)
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
  if KEYED_METHODS[method] and self.idempotency_keys then
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
  if req.idempotency_key and opts.headers then
    -- The caller's own Idempotency-Key header replaced the key line: it is the call's key (the one
    -- errors and dry runs give back), and it must be one (libcurl drops a header with a blank
    -- value, which would leave a request treated as keyed with no key at all).
    for name, value in pairs(opts.headers) do
      if name:lower() == "idempotency-key" then
        if #value > 255 or not value:find("%S") then
          error("header 'Idempotency-Key' must be 1 to 255 characters, not blank", level)
        end
        req.idempotency_key = value
      end
    end
  end
  req.headers = lines
  req.op = opts.op
  if opts.dry_run ~= nil then req.dry_run = opts.dry_run end
  -- the commonest kind without a call: a GET (or HEAD) is idempotent
  local kind = "idempotent"
  if not SAFE_METHODS[method] or opts.idempotent ~= nil then
    kind = request_kind(self, method, path, req.url, opts, req.idempotency_key ~= nil, level)
    -- a connection of its own, where the transport never resends it (absent: false)
    if kind == "unsafe" then req.fresh_connect = true end
  end
  req.kind = kind
  if opts.on_progress ~= nil then
    -- transfer progress (docs/bulk.md): the scheduler reports byte counts while the transfer runs
    local progress = require "zuora.progress"
    progress.check(opts.on_progress, level)
    req.on_progress = progress.transfer(opts.on_progress, self:redacted_url(req.url))
  end
  return req
end


return M
