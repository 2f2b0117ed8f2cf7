--- Callouts (Zuora calling you): a receiver for Zuora's callout notifications (webhooks).
--
--   local receiver = require("zuora.callouts").new{ basic = { username = "u", password = "p" },
--     dedupe = { dict = "zuora_callouts" }, key = function(e) return e.params.InvoiceId end,
--     handle = function(event, client) ... end, client = client }
--   location = /zuora/callouts { content_by_lua_block { receiver:serve() } }     -- inside nginx
--   local status, body, headers, after = receiver:handle(req)                    -- anywhere else
--
-- Each delivery is checked (method, size, basic auth and/or HMAC, parameters), identified by the
-- event's business identity (Zuora's Zuora-Request-Id changes on every retry, so it cannot be),
-- and handed to `handle` at most once per identity within `ttl`: an in-progress marker (with its
-- own expiry) keeps concurrent duplicates out, and "done" is recorded only after `handle`
-- succeeds. The answer is what stops Zuora's retries: 200 with {"success": true} as JSON (what
-- confirmSucFromResContent requires). docs/openresty.md ("Callouts") has the whole story.
local core = require "zuora.core"

local json, url, crypto = core.json, core.url, core.crypto
local equal, sha256 = crypto.equal, crypto.sha256

local M = {}

M.DEFAULT_TTL = 86400        -- seconds an event's identity is remembered as done
M.DEFAULT_LOCK_TTL = 120     -- seconds an in-progress marker lives (a crashed handler frees it)
M.DEFAULT_MAX_BODY = 1048576 -- bytes of request body accepted
M.KEY_PREFIX = "zuora-callout:"

local JSON_TYPE = "application/json"

local function ngx_api()
  local ngx = rawget(_G, "ngx")
  if type(ngx) == "table" and type(ngx.req) == "table" then return ngx end
  return nil
end

-- Stores ------------------------------------------------------------------------------------------
-- Every store has the interface of a lua_shared_dict: add(k, v, ttl) -> ok | false, "exists" |
-- nil, err; get(k) -> v | nil [, err]; set(k, v, ttl) -> ok | nil, err; delete(k).

local Memory = {}
Memory.__index = Memory

local function clock()
  local ngx = ngx_api()
  if ngx then return ngx.now() end
  return os.time()
end

function Memory:get(k)
  local e = self.t[k]
  if e and e.expires and e.expires <= clock() then
    self.t[k] = nil
    e = nil
  end
  return e and e.v
end

function Memory:add(k, v, ttl)
  if self:get(k) ~= nil then return false, "exists" end
  return self:set(k, v, ttl)
end

function Memory:set(k, v, ttl)
  self.t[k] = { v = v, expires = (ttl and ttl > 0) and (clock() + ttl) or nil }
  return true
end

function Memory:delete(k) self.t[k] = nil; return true end

--- A store in this process's memory (the default): right for tests and single-process servers,
-- wrong for nginx with several workers (each has its own).
function M.memory_store() return setmetatable({ t = {} }, Memory) end

local Redis = {}
Redis.__index = Redis

local function parse_redis_url(s, level)
  local r = require("zuora.redis").parse_url(s, "callouts: dedupe.redis", level + 1)
  return r -- not a tail call: the error level counts this frame
end

--- A store in Redis over ngx_lua cosockets (one connection per call, kept alive in nginx's pool).
function M.redis_store(conf, level)
  level = level or 1
  local r = parse_redis_url(conf.redis, level + 1)
  r.timeout = (conf.timeout or 2) * 1000
  r.pool_size = conf.pool_size or 16
  return setmetatable(r, Redis)
end

function Redis:_call(fn)
  local red, err = require("zuora.redis").ngx_connect(self, self.timeout)
  if not red then
    if err:find("^needs") then err = "dedupe.redis " .. err end
    return nil, err
  end
  local res, rerr = fn(red)
  if res == nil and rerr then
    red:close()
    return nil, "redis: " .. tostring(rerr)
  end
  red:set_keepalive(10000, self.pool_size)
  return res
end

local function redis_nil(v) return v == nil or v == rawget(ngx_api() or {}, "null") end

function Redis:add(k, v, ttl)
  local res, err = self:_call(function(red)
    local r, e = red:set(k, v, "NX", "EX", math.max(1, math.ceil(ttl)))
    if r == nil then return nil, e end
    return redis_nil(r) and "exists" or "ok"
  end)
  if res == nil then return nil, err end
  if res == "exists" then return false, "exists" end
  return true
end

function Redis:get(k)
  local res, err = self:_call(function(red)
    local r, e = red:get(k)
    if r == nil then return nil, e end
    return redis_nil(r) and false or r
  end)
  if res == nil then return nil, err end
  return res or nil
end

function Redis:set(k, v, ttl)
  return self:_call(function(red) return red:set(k, v, "EX", math.max(1, math.ceil(ttl))) end)
end

function Redis:delete(k)
  return self:_call(function(red) return red:del(k) end)
end

-- Configuration ---------------------------------------------------------------------------------

local PLACEHOLDERS = { method = true, path = true, uri = true, query = true, body = true, request_id = true }

--- Compiles an HMAC data template: literal text with {{method}}, {{path}}, {{uri}} (path?query),
-- {{query}}, {{body}}, {{request_id}}, {{header.NAME}}, {{param.NAME}} (missing ones are empty).
local function compile_template(t, level)
  local parts = {}
  local pos = 1
  while true do
    local s, e, name = t:find("{{%s*([%w_%.%-]+)%s*}}", pos)
    if not s then break end
    if s > pos then parts[#parts + 1] = t:sub(pos, s - 1) end
    local kind, field = name:match("^(%a+)%.(.+)$")
    if kind == "header" then
      local h = field:lower()
      parts[#parts + 1] = function(ev)
        local v = ev.headers[h]
        return type(v) == "string" and v or ""
      end
    elseif kind == "param" then
      parts[#parts + 1] = function(ev)
        local v = ev.params[field]
        if v == nil or v == json.null then return "" end
        if type(v) == "table" then return json.encode(v, { sort_keys = true }) or "" end
        return tostring(v)
      end
    elseif PLACEHOLDERS[name] then
      parts[#parts + 1] = function(ev)
        if name == "uri" then return ev.path .. (ev.query ~= "" and ("?" .. ev.query) or "") end
        return ev[name] or ""
      end
    else
      error("callouts: hmac.data: unknown placeholder {{" .. name .. "}}", level + 1)
    end
    pos = e + 1
  end
  if pos <= #t then parts[#parts + 1] = t:sub(pos) end
  return function(ev)
    local out = {}
    for i, p in ipairs(parts) do out[i] = type(p) == "string" and p or p(ev) end
    return table.concat(out)
  end
end

local function check_string(v, what, level)
  if type(v) ~= "string" or v == "" then error("callouts: " .. what .. " must be a non-empty string", level + 1) end
end

local Receiver = {}
Receiver.__index = Receiver

--- Builds a receiver; raises on a configuration mistake. See docs/openresty.md for every option.
function M.new(opts)
  if type(opts) ~= "table" then error("callouts.new: options table expected", 2) end
  local level = 2
  local self = setmetatable({}, Receiver)
  if type(opts.handle) ~= "function" then error("callouts: handle must be a function(event, client)", level) end
  self.handle_fn, self.client = opts.handle, opts.client
  self.mode = opts.mode or "inline"
  if self.mode ~= "inline" and self.mode ~= "after" then
    error("callouts: mode must be \"inline\" or \"after\"", level)
  end

  if opts.basic ~= nil then
    if type(opts.basic) ~= "table" then error("callouts: basic must be { username =, password = }", level) end
    check_string(opts.basic.username, "basic.username", level)
    check_string(opts.basic.password, "basic.password", level)
    -- Compared as digests: equal lengths, so the comparison's time says nothing about either.
    self.basic = { user = sha256(opts.basic.username), pass = sha256(opts.basic.password) }
  end
  if opts.hmac ~= nil then
    local h = opts.hmac
    if type(h) ~= "table" then error("callouts: hmac must be a table", level) end
    check_string(h.key, "hmac.key", level)
    check_string(h.header, "hmac.header", level)
    local alg = h.algorithm or "sha256"
    if not pcall(crypto.hmac, alg, "k", "d") then
      error("callouts: hmac.algorithm must be sha1, sha256, sha384 or sha512", level)
    end
    local enc = h.encoding or "base64"
    if enc ~= "base64" and enc ~= "hex" then
      error("callouts: hmac.encoding must be \"base64\" or \"hex\"", level)
    end
    if h.prefix ~= nil and type(h.prefix) ~= "string" then error("callouts: hmac.prefix must be a string", level) end
    local data = h.data
    if type(data) == "string" then data = compile_template(data, level)
    elseif type(data) ~= "function" then
      error("callouts: hmac.data must be a template string or a function(event)", level)
    end
    self.hmac = { key = h.key, header = h.header:lower(), algorithm = alg, encoding = enc,
      prefix = h.prefix or "", data = data }
  end
  if not self.basic and not self.hmac and not opts.insecure_no_auth then
    error("callouts: configure basic and/or hmac (or insecure_no_auth = true, for tests only)", level)
  end

  self.ttl = opts.ttl or M.DEFAULT_TTL
  self.lock_ttl = opts.lock_ttl or M.DEFAULT_LOCK_TTL
  self.max_body = opts.max_body or M.DEFAULT_MAX_BODY
  for _, k in ipairs({ "ttl", "lock_ttl", "max_body" }) do
    if type(self[k]) ~= "number" or self[k] <= 0 then
      error("callouts: " .. k .. " must be a positive number", level)
    end
  end
  self.methods = {}
  for _, m in ipairs(opts.methods or { "POST" }) do
    if type(m) ~= "string" or not m:match("^[A-Z]+$") then
      error("callouts: methods must be upper-case names", level)
    end
    self.methods[m] = true
    self.allow = (self.allow and (self.allow .. ", ") or "") .. m
  end
  if opts.key ~= nil and type(opts.key) ~= "function" then error("callouts: key must be a function(event)", level) end
  self.key_fn = opts.key
  if opts.log ~= nil and type(opts.log) ~= "function" then
    error("callouts: log must be a function(level, message)", level)
  end
  self.log_fn = opts.log

  local d = opts.dedupe
  if d == nil then
    self.store = M.memory_store()
    self.store_kind = "memory"
  elseif type(d) ~= "table" then
    error("callouts: dedupe must be { dict = name }, { redis = url } or { store = object }", level)
  elseif d.dict then
    check_string(d.dict, "dedupe.dict", level)
    self.dict_name = d.dict -- looked up on first use: ngx.shared exists in every phase, the module may load earlier
    self.store_kind = "dict"
  elseif d.redis then
    self.store = M.redis_store(d, level)
    self.store_kind = "redis"
  elseif d.store then
    for _, m in ipairs({ "add", "get", "set", "delete" }) do
      if type(d.store[m]) ~= "function" then error("callouts: dedupe.store must have " .. m .. "()", level) end
    end
    self.store = d.store
    self.store_kind = "custom"
  else
    error("callouts: dedupe must be { dict = name }, { redis = url } or { store = object }", level)
  end
  return self
end

function Receiver:_store()
  if self.store then return self.store end
  local ngx = ngx_api()
  local dict = ngx and ngx.shared[self.dict_name]
  if not dict then return nil, "no lua_shared_dict named " .. self.dict_name end
  self.store = dict
  return dict
end

-- Logging without secrets: only the status, the reason and identifiers. One line each: a reason
-- can quote a parameter name a delivery chose (percent-decoded, before any signature is checked),
-- and a newline in it would forge log lines.
function Receiver:_log(level, msg)
  msg = msg:gsub("%c", " ")
  if self.log_fn then return self.log_fn(level, msg) end
  local ngx = ngx_api()
  if ngx then ngx.log(level == "error" and ngx.ERR or (level == "warn" and ngx.WARN or ngx.INFO), msg) end
end

-- Request checks --------------------------------------------------------------------------------

local function reply(status, body, headers)
  headers = headers or {}
  headers["Content-Type"] = JSON_TYPE
  return status, json.encode(body), headers
end

local SUCCESS = { success = true }

local function decode_pairs(s)
  -- Forms and many query encoders write a space as "+".
  local t, err = url.decode_query((s:gsub("%+", "%%20")))
  if not t then return nil, err end
  for k, v in pairs(t) do
    if type(v) == "table" then return nil, "parameter " .. k .. " is repeated" end
  end
  return t
end

local function header(headers, name)
  local v = headers[name]
  if type(v) == "table" then return nil, "repeated" end
  return v
end

--- Query and body parameters merged; nil, err for malformed ones.
local function parse_params(req)
  local params, err = decode_pairs(req.query or "")
  if not params then return nil, "query: " .. err end
  local body = req.body or ""
  if body:match("^%s*$") then return params end
  local ctype = (header(req.headers, "content-type") or ""):lower()
  local from_body
  if ctype:find("^application/x%-www%-form%-urlencoded") then
    from_body, err = decode_pairs(body)
    if not from_body then return nil, "form body: " .. err end
  elseif ctype:find("^application/json") or ctype:find("+json", 1, true) or (ctype == "" and body:match("^%s*{")) then
    from_body, err = json.decode(body)
    if from_body == nil then return nil, "JSON body: " .. tostring(err) end
    if type(from_body) ~= "table" or getmetatable(from_body) == json.array_mt then
      return nil, "JSON body: an object expected"
    end
  else
    return params -- another body (XML, text): handed over as event.body, no parameters from it
  end
  for k, v in pairs(from_body) do
    local q = params[k]
    if q ~= nil and tostring(q) ~= (type(v) == "table" and "" or tostring(v)) then
      return nil, "parameter " .. tostring(k) .. " differs between query and body"
    end
    params[k] = v
  end
  return params
end

function Receiver:_check_basic(req)
  local auth = header(req.headers, "authorization")
  if type(auth) ~= "string" then return nil, "no basic credentials" end
  local b64 = auth:match("^[Bb][Aa][Ss][Ii][Cc]%s+(%S+)%s*$")
  local plain = b64 and crypto.unbase64(b64)
  local user, pass = (plain or ""):match("^([^:]*):(.*)$")
  if not user then return nil, "malformed basic credentials" end
  -- Both compared, whatever the first says.
  local u, p = equal(sha256(user), self.basic.user), equal(sha256(pass), self.basic.pass)
  if not (u and p) then return nil, "wrong basic credentials" end
  return true
end

function Receiver:_check_hmac(event)
  local h = self.hmac
  local got = header(event.headers, h.header)
  if type(got) ~= "string" then return nil, "no " .. h.header .. " header" end
  local ok, data = pcall(h.data, event)
  if not ok or type(data) ~= "string" then
    return nil, "hmac.data failed: " .. tostring(ok and "not a string" or data), true
  end
  local mac = crypto.hmac(h.algorithm, h.key, data)
  local want = h.prefix .. (h.encoding == "hex" and crypto.hex(mac) or crypto.base64(mac))
  if not equal(sha256(want), sha256(got)) then return nil, "wrong HMAC signature" end
  event.signed = data
  return true
end

--- The default identity: method, path and the sorted parameters. Zuora sends the same parameters
-- on every retry of one event (only the Zuora-Request-Id header changes), and different events
-- differ in their merge fields (the object's id, the event type) as long as the callout carries
-- them: name them in `key` when it matters. With HMAC, the signed data instead of the parameters:
-- a parameter the signature does not cover could be added to a captured delivery to make it a
-- "new" event as often as one likes.
function M.default_key(event)
  if event.signed then return event.method .. " " .. event.path .. " signed " .. event.signed end
  local canon = json.encode(event.params, { sort_keys = true })
  return event.method .. " " .. event.path .. " " .. tostring(canon)
end

-- The receiver ----------------------------------------------------------------------------------

local function normalize_headers(h)
  local out = {}
  for k, v in pairs(h or {}) do
    if type(k) == "string" then out[k:lower()] = v end
  end
  return out
end

--- Runs `handle`; true on success. A handler fails by raising, or by returning false or nil, err.
function Receiver:_run(event)
  local ok, r1, r2 = pcall(self.handle_fn, event, self.client)
  if not ok then return nil, tostring(r1) end
  if r1 == false or (r1 == nil and r2 ~= nil) then return nil, tostring(r2 or "handler returned false") end
  return true
end

function Receiver:_finish(key, ok, err, event)
  local store = self.store
  if ok then
    local sok, serr = store:set(key, "done", self.ttl)
    if not sok then self:_log("error", "zuora.callouts: cannot record event as done: " .. tostring(serr)) end
  else
    store:delete(key)
    self:_log("error", ("zuora.callouts: handler failed (request id %s): %s"):format(
      tostring(event.request_id), tostring(err)))
  end
end

--- The plain-Lua receiver: `req` = { method, path, query (raw string), headers (any case), body,
-- remote (for logs) }. Returns status, body, headers and, in mode "after" when the event is to be
-- handled, a function the server calls once the answer is sent (after() runs the handler and
-- returns true | nil, err; after(false) gives the event up so that Zuora's next retry runs it).
function Receiver:handle(req)
  if type(req) ~= "table" then error("receiver:handle: request table expected", 2) end
  local headers = normalize_headers(req.headers)
  local method = req.method or "GET"
  local rid = header(headers, "zuora-request-id")
  local function refuse(status, msg, extra)
    self:_log("warn", ("zuora.callouts: %d %s (from %s, request id %s)"):format(status, msg,
      tostring(req.remote or "?"), tostring(rid or "-")))
    return reply(status, { success = false, error = msg }, extra)
  end
  if not self.methods[method] then return refuse(405, "method " .. method .. " not allowed", { Allow = self.allow }) end
  local body = req.body or ""
  if #body > self.max_body then return refuse(413, "body larger than " .. self.max_body .. " bytes") end

  if self.basic then
    local ok, why = self:_check_basic({ headers = headers })
    if not ok then return refuse(401, why, { ["WWW-Authenticate"] = 'Basic realm="zuora-callouts"' }) end
  end
  local path, query = req.path or "/", req.query or ""
  local params, perr = parse_params({ query = query, body = body, headers = headers })
  if not params then return refuse(400, "malformed parameters: " .. perr) end
  local event = { method = method, path = path, query = query, params = params, headers = headers,
    body = body, request_id = rid }
  if self.hmac then
    local ok, why, internal = self:_check_hmac(event)
    if internal then return refuse(500, why) end
    if not ok then return refuse(401, why) end
  end

  local kok, key = pcall(self.key_fn or M.default_key, event)
  if not kok then return refuse(500, "key function failed: " .. tostring(key)) end
  if key == nil or key == "" then return refuse(400, "the event has no identity (key returned nothing)") end
  key = M.KEY_PREFIX .. crypto.hex(sha256(tostring(key)))
  event.key = key

  local store, serr = self:_store()
  if not store then return refuse(503, "dedupe store: " .. serr) end
  local added, aerr = store:add(key, "running", self.lock_ttl)
  if not added then
    if aerr ~= "exists" then return refuse(503, "dedupe store: " .. tostring(aerr)) end
    local state = store:get(key)
    if state == "done" then
      self:_log("info", ("zuora.callouts: duplicate delivery answered (request id %s)"):format(tostring(rid)))
      return reply(200, SUCCESS)
    end
    -- Another delivery of this event is being handled: not 200, so Zuora tries again later and
    -- then learns how it ended.
    return refuse(409, "this event is being handled by another delivery")
  end

  if self.mode == "after" then
    -- after(false): the server could not run it (the marker is dropped, so a retry can).
    return 200, json.encode(SUCCESS), { ["Content-Type"] = JSON_TYPE }, function(run)
      if run == false then
        self.store:delete(key)
        return nil, "not run"
      end
      local ok, err = self:_run(event)
      self:_finish(key, ok, err, event)
      return ok, err
    end
  end
  local ok, err = self:_run(event)
  self:_finish(key, ok, err, event)
  if not ok then return reply(500, { success = false, error = "the handler failed; retry later" }) end
  return reply(200, SUCCESS)
end

local function read_ngx_body(ngx, max)
  ngx.req.read_body()
  local body = ngx.req.get_body_data()
  if body then return body end
  local path = ngx.req.get_body_file()
  if not path then return "" end
  local f = io.open(path, "rb")
  if not f then return nil end
  body = f:read(max + 1)
  f:close()
  return body or ""
end

local function send(ngx, status, body, headers)
  ngx.status = status
  for k, v in pairs(headers or {}) do ngx.header[k] = v end
  ngx.header["Content-Length"] = #body
  ngx.print(body)
end

--- The nginx receiver, for content_by_lua: reads the request, answers it, runs the handler
-- (inline, or in mode "after" in a timer once the answer is out).
function Receiver:serve()
  local ngx = ngx_api()
  if not ngx then error("receiver:serve() runs inside nginx (content_by_lua); use receiver:handle(req)", 2) end
  if self.store_kind == "memory" and not self.warned and ngx.worker.count() > 1 then
    self.warned = true
    ngx.log(ngx.WARN, "zuora.callouts: de-duplicating in worker memory with several workers; ",
      "use dedupe = { dict = ... } or { redis = ... }")
  end
  local method = ngx.req.get_method()
  local headers = ngx.req.get_headers(100)
  local raw = ngx.var.request_uri or "/"
  local path, query = raw:match("^([^?]*)%??(.*)$")
  local req = { method = method, path = path, query = query, headers = headers,
    remote = ngx.var.remote_addr }
  local len = tonumber(headers["content-length"] or "")
  local status, body, out_headers, after
  if len and len > self.max_body and self.methods[method] then
    -- Refused before reading: nginx need not take in a body that will be thrown away.
    self:_log("warn", ("zuora.callouts: 413 body of %d bytes (from %s)"):format(len, tostring(req.remote)))
    status, body, out_headers = reply(413,
      { success = false, error = "body larger than " .. self.max_body .. " bytes" })
  else
    req.body = self.methods[method] and read_ngx_body(ngx, self.max_body) or ""
    if req.body == nil then
      status, body, out_headers = reply(500, { success = false, error = "cannot read the request body" })
    else
      status, body, out_headers, after = self:handle(req)
    end
  end
  if after then
    local ok, err = ngx.timer.at(0, function() after() end)
    if not ok then
      after(false)
      ngx.log(ngx.ERR, "zuora.callouts: cannot start the handler's timer: ", err)
      status, body, out_headers = reply(503, { success = false, error = "busy; retry later" })
    end
  end
  send(ngx, status, body, out_headers)
end

return M
