--- zuora.ngx.http.connect: the connection side of the cosocket HTTP client. Opens a connection
-- (from the origin's keep-alive pool, or a new one when the request says `fresh_connect`), does
-- the TLS handshake, holds every socket operation to the call's deadline, and gives the
-- connection back (to the pool, or closed).
--
-- The state of one call is a plain table `c` made by zuora.ngx.http: t0, deadline, fresh, and
-- per attempt sock, armed, reused, sent, got, buf, pos. Failures come back as kind, message, curl_code (the
-- libcurl code of the same failure; docs/transport.md, "Runtime contract").
local now = require("zuora.ngx.clock").now
local floor = math.floor

local ngx = rawget(_G, "ngx")

local M = {}

local FOREVER_MS = 2 ^ 31 - 1 -- cosockets always need a timeout; "no limit" is about 24 days
local DEFAULT_POOL_SIZE, DEFAULT_KEEPALIVE = 64, 60

-- libcurl's codes for the same failures
local E_RESOLVE, E_CONNECT, E_TIMEOUT, E_TLS, E_VERIFY = 6, 7, 28, 35, 60

--- Sets the socket timeout to what is left of the call's time (and at most `cap_ms`). Returns
-- false when no time is left. The socket is told only when the figure changed (c.armed: what it
-- was last set to; a call on loopback arms its reads within the millisecond it armed its send).
function M.arm(c, cap_ms)
  local ms = FOREVER_MS
  if c.deadline then
    ms = floor((c.deadline - now()) * 1000)
    if ms < 1 then return false end
  end
  if cap_ms and cap_ms < ms then ms = cap_ms end
  if ms ~= c.armed then
    c.sock:settimeout(ms)
    c.armed = ms
  end
  return true
end

-- Before connecting: connecting gets what is left of the call's time and at most `cap_ms`, sending
-- and reading what is left (one settimeouts, so the send after a connect needs no second call).
local function arm_connect(c, cap_ms)
  local ms = FOREVER_MS
  if c.deadline then
    ms = floor((c.deadline - now()) * 1000)
    if ms < 1 then return false end
  end
  c.sock:settimeouts(cap_ms and cap_ms < ms and cap_ms or ms, ms, ms)
  c.armed = ms
  return true
end

--- kind, message, curl_code of a timeout `what` ("connecting to x", "waiting for the response").
function M.timed_out(c, what)
  return "timeout", ("timed out after %d ms %s"):format(floor((now() - c.t0) * 1000 + 0.5), what), E_TIMEOUT
end
local timed_out = M.timed_out

local function is_ip(host)
  return host:find("^%d+%.%d+%.%d+%.%d+$") ~= nil or host:find(":", 1, true) ~= nil
end

-- Milliseconds left of connect_timeout (which covers connecting and the TLS handshake together,
-- as in libcurl), or nil without one.
local function connect_cap(cto_end)
  if not cto_end then return nil end
  local ms = floor((cto_end - now()) * 1000)
  return ms > 1 and ms or 1
end

local function close(c, kind, msg, code)
  c.sock:close()
  return kind, msg, code
end

-- The options of sock:connect for an origin (its pool's name and size), made once per origin,
-- kind of pool and opts: pools[opts][key] (weak in opts, a runtime's http_opts).
local pools = setmetatable({}, { __mode = "k" })

local function pool_options(fresh, scheme, host, port, opts)
  local by_opts = pools[opts]
  if not by_opts then
    by_opts = {}
    pools[opts] = by_opts
  end
  local by_host = by_opts[host]
  if not by_host then
    by_host = {}
    by_opts[host] = by_host
  end
  local key = fresh and -port or port
  local o = by_host[key]
  if not o or o.scheme ~= scheme then
    o = { scheme = scheme, pool_size = opts.pool_size or DEFAULT_POOL_SIZE,
      pool = ("zuora%s:%s:%s:%d:%s"):format(fresh and "-fresh" or "", scheme, host, port,
        opts.insecure and "insecure" or "verified") }
    by_host[key] = o
  end
  return o
end

--- Connects `c` to the origin of the parsed URL `u`. A `fresh_connect` call gets a connection of
-- its own: it looks in a pool nothing is ever put into, and release closes it afterwards (a
-- cosocket stays in the pool it was opened with, so it cannot join the shared one). Sets c.sock
-- and c.reused; returns nil, or kind, message, curl_code (the socket is closed then).
function M.open(c, u, opts, req)
  local sock = ngx.socket.tcp()
  c.sock, c.armed = sock, nil
  local host = u.host
  -- A loopback name needs no resolver: nginx resolves names only through its `resolver`.
  local addr = host == "localhost" and "127.0.0.1" or host
  if addr:find(":", 1, true) then addr = "[" .. addr .. "]" end
  local cto = req.connect_timeout or opts.connect_timeout or 10
  local cto_end = cto > 0 and (now() + cto) or nil
  if not arm_connect(c, connect_cap(cto_end)) then return timed_out(c, "before connecting") end
  local ok, err = sock:connect(addr, u.port, pool_options(c.fresh, u.scheme, host, u.port, opts))
  if not ok then
    if err == "timeout" then return timed_out(c, "connecting to " .. host) end
    if err:find("resolve", 1, true) or err:find("resolver", 1, true) then
      local hint = err:find("no resolver", 1, true) and " (add a `resolver` directive to nginx.conf)" or ""
      return "transport", ("cannot resolve %s: %s%s"):format(host, err, hint), E_RESOLVE
    end
    return "transport", ("cannot connect to %s port %d: %s"):format(host, u.port, err), E_CONNECT
  end
  c.reused = not c.fresh and (sock:getreusedtimes() or 0) > 0
  if u.scheme == "https" and not c.reused then
    local verify = not opts.insecure
    if verify and is_ip(host) then
      return close(c, "tls", "cannot verify a certificate for an IP address under OpenResty (ngx_lua checks "
        .. "host names only): use the server's host name in the URL", E_VERIFY)
    end
    if not M.arm(c, connect_cap(cto_end)) then return close(c, timed_out(c, "in the TLS handshake")) end
    local session
    session, err = sock:sslhandshake(nil, not is_ip(host) and host or nil, verify)
    if not session then
      if err == "timeout" then return close(c, timed_out(c, "in the TLS handshake")) end
      err = tostring(err)
      -- "18: self signed certificate", "certificate host mismatch": the peer failed verification
      local code = (err:find("^%d+:") or err:find("certificate", 1, true)) and E_VERIFY or E_TLS
      return close(c, "tls", ("TLS handshake with %s failed: %s"):format(host, err), code)
    end
  end
  return nil
end

--- Gives the connection back after an exchange: into the pool when the answer allows it, the
-- call did not ask for a connection of its own and no byte arrived past the answer (c.buf: see
-- zuora.ngx.http.body), else closed.
function M.release(c, reusable, opts)
  if reusable and not c.fresh and c.buf == nil then
    c.sock:setkeepalive((opts.keepalive_timeout or DEFAULT_KEEPALIVE) * 1000, opts.pool_size or DEFAULT_POOL_SIZE)
  else
    c.sock:close()
  end
end

return M
