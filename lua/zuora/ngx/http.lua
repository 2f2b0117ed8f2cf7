--- zuora.ngx.http: an HTTP/1.1 client over ngx_lua cosockets that implements the runtime
-- contract of docs/transport.md ("Runtime contract") as core.http does: the same request fields
-- and the same result tables (status, headers | header_block, body | data/json_error, output,
-- error, kind, curl_code, time, bytes, http_version, reused, sends), so the client treats both
-- transports alike.
--
--   local res = http.request(req, opts [, headers [, body [, extra]]])
--
-- `req` is a core.http request table; credentials are the runtime's business (it passes the final
-- `headers` and `body`, and its credential lines as `extra`, sent after the headers). opts:
-- insecure, max_body, keepalive_timeout, pool_size, timeout, connect_timeout. TLS is verified
-- against nginx's lua_ssl_trusted_certificate unless opts.insecure. Redirects are never followed.
--
-- This file is one call: checks, then attempts on connections, then the result. Its parts, as
-- lua-resty-http splits them: zuora.ngx.http.connect (connections, pools, TLS, deadlines),
-- .request (checks, head, body, sending), .response (the response head), .body (sinks and the
-- body readers).
local core = require "zuora.core"
local conn = require "zuora.ngx.http.connect"
local request = require "zuora.ngx.http.request"
local response = require "zuora.ngx.http.response"
local body_mod = require "zuora.ngx.http.body"

local json = core.json
local now = require("zuora.ngx.clock").now
local header, parse_headers = response.header, response.parse_headers
local open, release = conn.open, conn.release
local read_small, SMALL = body_mod.read_small, body_mod.SMALL
local check_headers, make_head, target_of = request.check_headers, request.head, request.target
local has_blank_or_control = request.has_blank_or_control
local byte, lower, find, match = string.byte, string.lower, string.find, string.match
local DECIMALS = { decimals = true } -- json.decode options of a request with decimals = true

local M = {}

local NO_OPTS = {}
-- Tables made with their final size: a result table filled field by field would be rehashed
-- four times on the way (garbage and copying on every request). LuaJIT's table.new; plain
-- tables elsewhere (these modules only run inside nginx, but load anywhere).
local new_tab = (function()
  local ok, f = pcall(require, "table.new")
  return ok and f or function() return {} end
end)()
local METHODS = { GET = true, POST = true, PUT = true, PATCH = true, DELETE = true, HEAD = true }

local DEFAULT_MAX_BODY = 256 * 1024 * 1024
-- At most this many sends again of one request on another connection, as libcurl's
-- CONN_MAX_RETRIES: each only after a kept-alive connection died before any byte of the answer.
local MAX_RESENDS = 5
-- libcurl's codes for the same failures
local E_UNSUPPORTED, E_RECV = 1, 56

local next_id = 0

-- Call-state tables (`c`) of finished calls, reused by the next ones instead of made anew (one
-- table fewer for the collector a call). Every field is set again by the next call, but sock, buf
-- and deadline are dropped at once (no socket or body is kept alive by the free list).
local free, nfree, FREE_MAX = {}, 0, 32

-- Bodies only for these: HEAD, 204, 304 and 1xx answers have none.
local function has_body(method, status)
  return method ~= "HEAD" and status ~= 204 and status ~= 304 and status >= 200
end

-- Whether a body of this Content-Type (nil: none given) is decoded as JSON.
local function looks_json(ct)
  return ct == nil or find(lower(ct), "json", 1, true) ~= nil
end

-- The body's length from a Content-Length value (the first of a repeated one), false without one,
-- or nil when it is malformed. A plain decimal is read with tonumber (compiled; the patterns are
-- not) when it reads back the same.
local function content_length(v)
  if v == nil then return false end
  local n = tonumber(v)
  -- (a first digit 1-9: no sign, blank or leading zero; no ".": Lua 5.4 prints floats with one)
  if n and n < 1e15 and byte(v, 1) > 48 and byte(v, 1) <= 57 and not find(v, ".", 1, true) and tostring(n) == v then
    return n
  end
  return tonumber(match(v, "^%s*(%d+)%s*$") or match(v, "^%s*(%d+)%s*,"))
end

-- An in-memory body into the result: decoded into `data` when asked and JSON, else `body`.
local function settle(res, req, ct, body)
  if req.decode and #body > 0 and looks_json(ct) then
    local value, jerr = json.decode(body, req.decimals and DECIMALS or nil)
    if value ~= nil then
      res.data = value
    else
      res.json_error, res.body = jerr, body
    end
  else
    res.body = body
  end
  return res
end

local function fail(res, c, kind, msg, code)
  c.sock:close()
  res.kind, res.error, res.curl_code = kind, msg, code
  return res
end

-- One attempt on one connection: the result table. Leaves in c: sent (the request went to the
-- socket), got (a byte of the answer arrived), reused.
local function exchange(c, req, opts, u, head, source, method)
  c.sent, c.got, c.reused, c.buf = false, false, false, nil
  -- id, status, http_version, reused, header_block, bytes, data | body, time, sends, auth_generation
  local res = new_tab(0, 16)
  local kind, msg, code = open(c, u, opts, req)
  if kind then
    res.kind, res.error, res.curl_code = kind, msg, code
    return res
  end
  kind, msg, code = request.send(c, head, source)
  if kind then return fail(res, c, kind, msg, code) end

  local status, block, version
  status, kind, msg, code = response.read_head(c)
  if not status then return fail(res, c, kind, msg, code) end
  block, version = kind, msg
  res.status, res.http_version, res.reused = status, version, c.reused
  if req.header_block and not req.token_for then res.header_block = block else res.headers = parse_headers(block) end

  -- the headers the framing and the body need, in one pass over the lines
  local te, cl, ce, connection, ct = header(block, "transfer-encoding", "content-length", "content-encoding",
    "connection", "content-type")
  local chunked = te ~= nil and find(lower(te), "chunked", 1, true) ~= nil
  local length = false
  if not chunked then
    length = content_length(cl)
    if length == nil then return fail(res, c, "transport", "invalid Content-Length", E_RECV) end
  end
  local max_body = req.max_body or opts.max_body or DEFAULT_MAX_BODY
  local encoding = ce and lower(match(ce, "^%s*(.-)%s*$")) or ""
  if length and length > max_body and (encoding == "" or encoding == "identity") then
    res.bytes = 0
    return fail(res, c, body_mod.announced_too_large(length, max_body))
  end
  local bodied = has_body(method, status)
  local reusable = version == "1.1" and not (connection and find(lower(connection), "close", 1, true))
  if bodied and length and length > 0 and length <= SMALL and encoding == ""
    and not (req.output and status >= 200 and status < 300) then
    -- The common answer (a JSON document with its length): one receive, no sink.
    local body, bytes
    body, kind, msg, code, bytes = read_small(c, length)
    if not body then
      res.bytes = bytes
      return fail(res, c, kind, msg, code)
    end
    res.bytes = length
    release(c, reusable, opts)
    return settle(res, req, ct, body)
  end
  local sink
  sink, kind, msg, code = body_mod.sink(req, status, max_body, bodied and encoding or "")
  if not sink then return fail(res, c, kind, msg, code) end

  if bodied then
    if chunked then
      kind, msg, code = body_mod.read_chunked(c, sink)
    elseif length then
      kind, msg, code = body_mod.read_length(c, length, sink)
    else
      kind, msg, code = body_mod.read_to_close(c, sink)
      reusable = false
    end
    if not kind then kind, msg, code = sink:done() end
    if kind then
      sink:abort()
      res.bytes = sink.n
      return fail(res, c, kind, msg, code)
    end
  end
  release(c, reusable, opts)
  local body
  body, kind, msg, code = sink:finish()
  res.bytes = sink.n
  if kind then
    res.kind, res.error, res.curl_code = kind, msg, code
  elseif sink.output then
    res.output = sink.output
  else
    settle(res, req, ct, body)
  end
  return res
end

--- Performs one HTTP request over a cosocket (yields; never blocks the worker). `headers` and
-- `body` override req.headers / req.body; `extra` (header lines) goes out after the headers (the
-- runtime's credentials). Returns a result table like core.http's; raises on malformed requests,
-- like core.http's submit.
function M.request(req, opts, headers, body, extra)
  opts = opts or NO_OPTS
  if type(req) ~= "table" then error("request must be a table", 2) end
  next_id = next_id + 1
  local id, t0 = next_id, now()
  local method = req.method or "GET"
  if not METHODS[method] and (type(method) ~= "string" or not find(method, "^[A-Z]+$")) then
    error("method must be an upper-case token", 2)
  end
  local target_url = req.url
  if type(target_url) ~= "string" then error("url must be a string", 2) end
  if has_blank_or_control(target_url) then error("url contains a space or control character", 2) end
  local list = headers or req.headers
  local host_given, ae_given, ct_given = check_headers(list, extra, 3)
  local source, serr = request.body_source(req, body == nil and req.body or body, 3)

  local res
  local u, target
  if not serr then u, target = target_of(target_url) end
  if serr then
    res = { kind = "file", error = serr, curl_code = 26 }
  elseif not u or (u.scheme ~= "http" and u.scheme ~= "https") then
    res = { kind = "transport", error = "unsupported URL (http and https only): " .. target_url:sub(1, 60),
      curl_code = E_UNSUPPORTED }
  else
    local head = make_head(method, u, target, list, extra, host_given, ae_given, ct_given, source)
    local timeout = req.timeout or opts.timeout or 0
    -- t0, deadline, fresh, sock, armed, sent, got, reused, buf, pos
    local c = nfree > 0 and free[nfree] or new_tab(0, 12)
    if nfree > 0 then free[nfree], nfree = nil, nfree - 1 end
    c.t0, c.deadline, c.fresh = t0, timeout > 0 and (t0 + timeout) or nil, req.fresh_connect == true
    local sends = 0
    for _ = 0, MAX_RESENDS do
      res = exchange(c, req, opts, u, head, source, method)
      if c.sent then sends = sends + 1 end
      -- Sent again only where libcurl would: a kept-alive connection (never one of a
      -- fresh_connect call, whose connection is its own) that failed before any byte of the
      -- answer; never after a timeout.
      if not (c.reused and not c.got and res.kind == "transport") then break end
    end
    res.sends = sends
    -- the call state is emptied and kept for the next call (a call that raised or whose light
    -- thread was killed leaves its table to the collector)
    if nfree < FREE_MAX then
      c.sock, c.buf, c.deadline = nil, nil, nil
      nfree = nfree + 1
      free[nfree] = c
    end
  end
  res.id = id
  res.status = res.status or 0
  if res.headers == nil and res.header_block == nil then
    if req.header_block and not req.token_for then res.header_block = "" else res.headers = {} end
  end
  res.time = now() - t0
  res.bytes = res.bytes or 0
  res.sends = res.sends or 0
  return res
end

return M
