--- zuora.ngx.http: an HTTP/1.1 client over ngx_lua cosockets, answering with the same result
-- tables as core.http (status, headers with lower-case names, body | data/json_error, output,
-- error, kind, time, bytes, http_version, reused), so Client:classify works unchanged.
--
--   local res = http.request(req, opts [, headers [, body]])
--
-- `req` is a core.http request table (method, url, headers, body | body_file | multipart, output,
-- timeout, connect_timeout, max_body, decode); credentials are the runtime's business (it passes
-- the final `headers` and `body`). opts: insecure, max_body, keepalive_timeout, pool_size.
-- TLS is verified against nginx's lua_ssl_trusted_certificate unless opts.insecure. Connections
-- are kept alive in per-origin cosocket pools; a pooled connection that turns out dead before any
-- byte of the answer arrived is replaced and the request sent again, as libcurl does. Bodies in
-- gzip or deflate are inflated (zuora.ngx.zlib). Redirects are never followed.
local core = require "zuora.core"
local zlib = require "zuora.ngx.zlib"

local json, url, crypto = core.json, core.url, core.crypto
local now = core.http.now

local M = {}

local ngx = rawget(_G, "ngx")

local DEFAULT_MAX_BODY = 256 * 1024 * 1024
local MAX_HEADER_BYTES, MAX_HEADER_LINES = 64 * 1024, 500
local CHUNK = 65536
local FOREVER_MS = 2 ^ 31 - 1 -- cosockets always need a timeout; "no limit" is about 24 days
local MAX_STALE_RETRIES = 3

local next_id = 0

------------------------------------------------------------------------------------------------
-- Checking the request (the same rules as core.http: mistakes raise before anything is sent).

local TOKEN = "^[!#$%%&'*+%-.^_`|~%w]+$"

local function check_headers(list)
  local out, names = {}, {}
  if list == nil then return out, names end
  if type(list) ~= "table" then error("headers must be an array of \"Name: value\" strings", 4) end
  for i, line in ipairs(list) do
    if type(line) ~= "string" then error("header " .. i .. " is not a string", 4) end
    if line:find("[\r\n%z]") then error("header " .. i .. " contains CR, LF or NUL", 4) end
    local name, value = line:match("^([^:]*):[ \t]*(.-)[ \t]*$")
    if not name then error("header " .. i .. " has no colon", 4) end
    if not name:find(TOKEN) then error("header " .. i .. " has an invalid name", 4) end
    local lname = name:lower()
    if value == "" then
      names[lname] = "removed" -- libcurl's rule: "Name:" removes a header the client adds itself
    else
      names[lname] = true
      out[#out + 1] = name .. ": " .. value
    end
  end
  return out, names
end

local function result(id, t0, fields)
  fields.id = id
  fields.status = fields.status or 0
  fields.headers = fields.headers or {}
  fields.time = now() - t0
  fields.bytes = fields.bytes or 0
  return fields
end

local function fail(id, t0, kind, msg, extra)
  local r = extra or {}
  r.kind, r.error = kind, msg
  return result(id, t0, r)
end

------------------------------------------------------------------------------------------------
-- Request bodies: a string, a file streamed from disk, or multipart parts (files streamed too).

local function file_size(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local size = f:seek("end")
  f:close()
  return size
end

local function quote_param(s)
  return (s:gsub('"', "%%22"))
end

-- A body source: { length = n, pieces = { string | { path = p } } } or nil, message.
local function body_source(req, body)
  local n = 0
  local given = (body ~= nil and 1 or 0) + (req.body_file ~= nil and 1 or 0) + (req.multipart ~= nil and 1 or 0)
  if given > 1 then
    error("give at most one of body, body_file and multipart", 3)
  end
  if body ~= nil then
    if type(body) ~= "string" then error("body must be a string", 3) end
    -- libcurl's default type for a body given as a string (callers normally set their own)
    return { length = #body, pieces = { body }, content_type = "application/x-www-form-urlencoded" }
  end
  if req.body_file ~= nil then
    if type(req.body_file) ~= "string" then error("body_file must be a path", 3) end
    local size, err = file_size(req.body_file)
    if not size then return nil, "cannot read " .. req.body_file .. ": " .. tostring(err) end
    return { length = size, pieces = { { path = req.body_file, size = size } } }
  end
  if req.multipart ~= nil then
    if type(req.multipart) ~= "table" then error("multipart must be an array of parts", 3) end
    local boundary = "------------------------zuora" .. crypto.hex(crypto.random(12))
    local pieces = {}
    for i, part in ipairs(req.multipart) do
      if type(part) ~= "table" or type(part.name) ~= "string" then
        error("multipart part " .. i .. " needs a name", 3)
      end
      if (part.data == nil) == (part.path == nil) then
        error("multipart part " .. i .. " needs data or path (one of them)", 3)
      end
      for _, k in ipairs({ "name", "filename", "content_type" }) do
        if part[k] ~= nil and (type(part[k]) ~= "string" or part[k]:find("[\r\n%z]")) then
          error("multipart part " .. i .. ": " .. k .. " must be a string without CR/LF", 3)
        end
      end
      local filename = part.filename
      if filename == nil and part.path then filename = part.path:match("[^/]*$") end
      local head = "--" .. boundary .. "\r\nContent-Disposition: form-data; name=\"" .. quote_param(part.name) .. "\""
      if filename then head = head .. "; filename=\"" .. quote_param(filename) .. "\"" end
      if part.content_type then
        head = head .. "\r\nContent-Type: " .. part.content_type
      elseif filename then
        head = head .. "\r\nContent-Type: application/octet-stream"
      end
      head = head .. "\r\n\r\n"
      pieces[#pieces + 1] = head
      n = n + #head
      if part.data ~= nil then
        if type(part.data) ~= "string" then error("multipart part " .. i .. ": data must be a string", 3) end
        pieces[#pieces + 1] = part.data
        n = n + #part.data
      else
        local size, err = file_size(part.path)
        if not size then return nil, "cannot read " .. tostring(part.path) .. ": " .. tostring(err) end
        pieces[#pieces + 1] = { path = part.path, size = size }
        n = n + size
      end
      pieces[#pieces + 1] = "\r\n"
      n = n + 2
    end
    local tail = "--" .. boundary .. "--\r\n"
    pieces[#pieces + 1] = tail
    return { length = n + #tail, pieces = pieces, content_type = "multipart/form-data; boundary=" .. boundary }
  end
  return nil
end

------------------------------------------------------------------------------------------------
-- One exchange on one connection.

-- Sets the socket timeout to what is left of the call's time (and at most `cap` ms).
local function arm(c, cap_ms)
  local ms = FOREVER_MS
  if c.deadline then
    ms = math.floor((c.deadline - now()) * 1000)
    if ms < 1 then return false end
  end
  if cap_ms and cap_ms < ms then ms = cap_ms end
  c.sock:settimeout(ms)
  return true
end

local function timed_out(c, what)
  return "timeout", ("timed out after %d ms %s"):format(math.floor((now() - c.t0) * 1000 + 0.5), what)
end

local function is_ip(host)
  return host:find("^%d+%.%d+%.%d+%.%d+$") ~= nil or host:find(":", 1, true) ~= nil
end

local function connect(c, u, opts, req)
  local sock = ngx.socket.tcp()
  c.sock = sock
  local host = u.host
  -- A loopback name needs no resolver: nginx resolves names only through its `resolver`.
  local addr = host == "localhost" and "127.0.0.1" or host
  if addr:find(":", 1, true) then addr = "[" .. addr .. "]" end
  -- connect_timeout covers connecting and the TLS handshake together, as in libcurl
  local cto = req.connect_timeout or opts.connect_timeout or 10
  local cto_end = cto > 0 and (now() + cto) or nil
  local function connect_cap()
    return cto_end and math.max(1, math.floor((cto_end - now()) * 1000)) or nil
  end
  if not arm(c, connect_cap()) then return timed_out(c, "before connecting") end
  local pool = ("zuora:%s:%s:%d:%s"):format(u.scheme, host, u.port, opts.insecure and "insecure" or "verified")
  local ok, err = sock:connect(addr, u.port, { pool = pool, pool_size = opts.pool_size or 64 })
  if not ok then
    if err == "timeout" then return timed_out(c, "connecting to " .. host) end
    local hint = err:find("no resolver", 1, true) and " (add a `resolver` directive to nginx.conf)" or ""
    return "transport", ("cannot connect to %s port %d: %s%s"):format(host, u.port, err, hint)
  end
  c.reused = (sock:getreusedtimes() or 0) > 0
  if u.scheme == "https" and not c.reused then
    local verify = not opts.insecure
    if verify and is_ip(host) then
      sock:close()
      return "tls", "cannot verify a certificate for an IP address under OpenResty (ngx_lua checks host "
        .. "names only): use the server's host name in the URL"
    end
    if not arm(c, connect_cap()) then return timed_out(c, "in the TLS handshake") end
    local session
    session, err = sock:sslhandshake(nil, not is_ip(host) and host or nil, verify)
    if not session then
      sock:close()
      if err == "timeout" then return timed_out(c, "in the TLS handshake") end
      return "tls", ("TLS handshake with %s failed: %s"):format(host, tostring(err))
    end
  end
  return nil
end

local function send_all(c, data)
  if not arm(c) then return timed_out(c, "sending the request") end
  local ok, err = c.sock:send(data)
  if not ok then
    if err == "timeout" then return timed_out(c, "sending the request") end
    return "transport", "send failed: " .. tostring(err)
  end
  return nil
end

local function send_request(c, head, source)
  if not source then return send_all(c, head) end
  local first = { head }
  local rest = 1
  -- The head and the leading in-memory pieces go out in one send.
  while source.pieces[rest] and type(source.pieces[rest]) == "string" do
    first[#first + 1] = source.pieces[rest]
    rest = rest + 1
  end
  local kind, msg = send_all(c, first)
  if kind then return kind, msg end
  for i = rest, #source.pieces do
    local piece = source.pieces[i]
    if type(piece) == "string" then
      kind, msg = send_all(c, piece)
      if kind then return kind, msg end
    else
      local f, err = io.open(piece.path, "rb")
      if not f then return "file", "cannot read " .. piece.path .. ": " .. tostring(err) end
      local sent = 0
      while true do
        local block = f:read(CHUNK)
        if not block then break end
        sent = sent + #block
        if sent > piece.size then break end
        kind, msg = send_all(c, block)
        if kind then f:close() return kind, msg end
      end
      f:close()
      if sent ~= piece.size then return "file", piece.path .. " changed size while it was sent" end
    end
  end
  return nil
end

-- Reads one header block (up to the blank line). Returns the raw text or nil, kind, msg; `c.got`
-- tells whether any byte of the answer arrived.
local function read_block(c)
  local reader = c.sock:receiveuntil("\r\n\r\n")
  local parts, total = {}, 0
  while true do
    if not arm(c) then return nil, timed_out(c, "waiting for the response") end
    local data, err, partial = reader(4096)
    if data then
      if #data > 0 then c.got = true end
      total = total + #data
      parts[#parts + 1] = data
    elseif err then
      if partial and #partial > 0 then c.got = true end
      if err == "timeout" then return nil, timed_out(c, "waiting for the response") end
      if err == "closed" then
        return nil, "transport", c.got and "connection closed in the response headers"
          or "connection closed before any response"
      end
      return nil, "transport", "receive failed: " .. tostring(err)
    else
      return table.concat(parts)
    end
    if total > MAX_HEADER_BYTES then
      return nil, "too_large", "response headers larger than " .. MAX_HEADER_BYTES .. " bytes"
    end
  end
end

local function parse_head(block)
  local first, rest = block:match("^([^\r\n]*)\r?\n?(.*)$")
  local version, status = first:match("^HTTP/(%d%.%d) (%d%d%d)")
  if not version then return nil, "transport", "not an HTTP/1.x response: " .. first:sub(1, 60):gsub("%c", "?") end
  local headers, count, last = {}, 0, nil
  for line in rest:gmatch("([^\r\n]+)") do
    count = count + 1
    if count > MAX_HEADER_LINES then
      return nil, "too_large", "more than " .. MAX_HEADER_LINES .. " response header lines"
    end
    if line:find("^[ \t]") and last then -- obsolete line folding
      headers[last] = headers[last] .. " " .. line:match("^%s*(.-)%s*$")
    else
      local name, value = line:match("^([^:]+):[ \t]*(.-)[ \t]*$")
      if name then
        name = name:lower()
        if headers[name] then headers[name] = headers[name] .. ", " .. value else headers[name] = value end
        last = name
      end
    end
  end
  return tonumber(status), headers, version
end

-- Where the body goes: memory, or (2xx with req.output) a temporary file renamed at the end.
local function make_sink(req, status, max_body)
  local sink = { n = 0, max = max_body }
  if req.output and status >= 200 and status < 300 then
    local tmp = req.output .. ".part-" .. crypto.hex(crypto.random(6))
    local f, err = io.open(tmp, "wb")
    if not f then return nil, "file", "cannot write " .. req.output .. ": " .. tostring(err) end
    sink.f, sink.tmp = f, tmp
  else
    sink.parts = {}
  end
  function sink.write(data)
    if #data == 0 then return nil end
    sink.n = sink.n + #data
    if sink.n > sink.max then return "too_large", "response body larger than " .. sink.max .. " bytes" end
    if sink.f then
      local ok, err = sink.f:write(data)
      if not ok then return "file", "cannot write " .. req.output .. ": " .. tostring(err) end
    else
      sink.parts[#sink.parts + 1] = data
    end
    return nil
  end
  function sink.abort()
    if sink.f then sink.f:close(); os.remove(sink.tmp); sink.f = nil end
  end
  function sink.finish()
    if sink.f then
      local ok, err = sink.f:close()
      sink.f = nil
      if not ok then os.remove(sink.tmp) return "file", "cannot write " .. req.output .. ": " .. tostring(err) end
      ok, err = os.rename(sink.tmp, req.output)
      if not ok then os.remove(sink.tmp) return "file", "cannot rename into " .. req.output .. ": " .. tostring(err) end
    end
    return nil
  end
  return sink
end

-- Passes raw body bytes through the decoder (if any) into the sink.
local function feeder(sink, decoder)
  if not decoder then return sink.write end
  return function(data)
    local out, err = decoder:feed(data)
    if not out then
      if err == "too_large" then return "too_large", "response body larger than " .. sink.max .. " bytes" end
      return "transport", err
    end
    return sink.write(out)
  end
end

local function receive_exact(c, n, feed, what)
  while n > 0 do
    if not arm(c) then return timed_out(c, what) end
    local want = n < CHUNK and n or CHUNK
    local data, err, partial = c.sock:receive(want)
    if not data then
      if partial and #partial > 0 then
        local kind, msg = feed(partial)
        if kind then return kind, msg end
      end
      if err == "timeout" then return timed_out(c, what) end
      if err == "closed" then return "transport", "connection closed before the response body was complete" end
      return "transport", "receive failed: " .. tostring(err)
    end
    n = n - #data
    local kind, msg = feed(data)
    if kind then return kind, msg end
  end
  return nil
end

local function read_line(c, what)
  local reader = c.sock:receiveuntil("\r\n")
  if not arm(c) then return nil, timed_out(c, what) end
  local line, err = reader(1024)
  if not line then
    if err == "timeout" then return nil, timed_out(c, what) end
    return nil, "transport", "connection closed in a chunked body"
  end
  -- A well-formed line ends within 1024 bytes: the next read must report the delimiter.
  local more = reader(1)
  if more ~= nil then return nil, "transport", "chunked body: line too long" end
  return line
end

local function read_chunked(c, feed)
  local what = "reading the response body"
  while true do
    local line, kind, msg = read_line(c, what)
    if not line then return kind, msg end
    local size = tonumber(line:match("^%s*(%x+)"), 16)
    if not size then return "transport", "chunked body: bad chunk size" end
    if size == 0 then
      -- trailers, up to the blank line
      for _ = 1, MAX_HEADER_LINES do
        line, kind, msg = read_line(c, what)
        if not line then return kind, msg end
        if line == "" then return nil end
      end
      return "too_large", "too many trailer lines"
    end
    kind, msg = receive_exact(c, size, feed, what)
    if kind then return kind, msg end
    line, kind, msg = read_line(c, what)
    if not line then return kind, msg end
    if line ~= "" then return "transport", "chunked body: missing CRLF after a chunk" end
  end
end

local function read_until_close(c, feed)
  while true do
    if not arm(c) then return timed_out(c, "reading the response body") end
    local data, err, partial = c.sock:receive(CHUNK)
    local piece = data or partial
    if piece and #piece > 0 then
      local kind, msg = feed(piece)
      if kind then return kind, msg end
    end
    if not data then
      if err == "closed" then return nil end
      if err == "timeout" then return timed_out(c, "reading the response body") end
      return "transport", "receive failed: " .. tostring(err)
    end
  end
end

local function looks_json(headers)
  local ct = headers["content-type"]
  return ct == nil or ct:lower():find("json", 1, true) ~= nil
end

-- One attempt on one connection. Returns a result table, or nil, "stale" when a reused
-- connection died before any byte of the answer came back (the caller tries again).
local function exchange(c, req, opts, u, head, source)
  local kind, msg = connect(c, u, opts, req)
  if kind then return { kind = kind, error = msg } end
  kind, msg = send_request(c, head, source)
  if kind then
    c.sock:close()
    if c.reused and kind == "transport" then return nil, "stale" end
    return { kind = kind, error = msg }
  end

  local status, headers, version
  repeat
    local block
    block, kind, msg = read_block(c)
    if not block then
      c.sock:close()
      if c.reused and not c.got and kind == "transport" then return nil, "stale" end
      return { kind = kind, error = msg }
    end
    status, headers, version = parse_head(block)
    if not status then
      c.sock:close()
      return { kind = headers, error = version }
    end
  until status >= 200 or status == 101

  local res = { status = status, headers = headers, http_version = version, reused = c.reused }
  local method = req.method or "GET"
  local te = headers["transfer-encoding"]
  local chunked = te ~= nil and te:lower():find("chunked", 1, true) ~= nil
  local length
  if not chunked and headers["content-length"] then
    local first = headers["content-length"]:match("^%s*(%d+)%s*$") or headers["content-length"]:match("^%s*(%d+)%s*,")
    length = tonumber(first)
    if not length then
      c.sock:close()
      res.kind, res.error = "transport", "invalid Content-Length"
      return res
    end
  end
  local no_body = method == "HEAD" or status == 204 or status == 304 or status < 200
  local max_body = req.max_body or opts.max_body or DEFAULT_MAX_BODY

  local enc = (headers["content-encoding"] or ""):lower():match("^%s*(.-)%s*$")
  local decoder
  if not no_body and enc ~= "" and enc ~= "identity" then
    if enc ~= "gzip" and enc ~= "x-gzip" and enc ~= "deflate" then
      c.sock:close()
      res.kind, res.error = "transport", "unsupported Content-Encoding: " .. enc
      return res
    end
    local derr
    decoder, derr = zlib.inflater(max_body)
    if not decoder then
      c.sock:close()
      res.kind, res.error = "transport", derr
      return res
    end
  elseif length and length > max_body then
    c.sock:close()
    res.kind, res.error = "too_large", ("response body of %d bytes is larger than %d"):format(length, max_body)
    return res
  end

  local sink, skind, smsg = make_sink(req, status, max_body)
  if not sink then
    c.sock:close()
    res.kind, res.error = skind, smsg
    return res
  end
  local feed = feeder(sink, decoder)
  local reusable = version == "1.1" and not (headers.connection or ""):lower():find("close", 1, true)
  if not no_body then
    if chunked then
      kind, msg = read_chunked(c, feed)
    elseif length then
      kind, msg = receive_exact(c, length, feed, "reading the response body")
    else
      kind, msg = read_until_close(c, feed)
      reusable = false
    end
    if not kind and decoder then
      local ok, derr = decoder:finish()
      if not ok then kind, msg = "transport", derr end
    end
  end
  if kind then
    sink.abort()
    c.sock:close()
    res.kind, res.error, res.bytes = kind, msg, sink.n
    return res
  end
  if reusable then
    c.sock:setkeepalive((opts.keepalive_timeout or 60) * 1000, opts.pool_size or 64)
  else
    c.sock:close()
  end
  kind, msg = sink.finish()
  res.bytes = sink.n
  if kind then
    res.kind, res.error = kind, msg
    return res
  end
  if sink.tmp then
    res.output = req.output
  else
    local body = table.concat(sink.parts)
    if req.decode and #body > 0 and looks_json(headers) then
      local value, jerr = json.decode(body)
      if value ~= nil then
        res.data = value
      else
        res.json_error, res.body = jerr, body
      end
    else
      res.body = body
    end
  end
  return res
end

--- Performs one HTTP request over a cosocket (yields; never blocks the worker). `headers` and
-- `body` override req.headers / req.body (the runtime adds credentials there). Returns a result
-- table like core.http's; raises on malformed requests, like core.http's submit.
function M.request(req, opts, headers, body)
  opts = opts or {}
  if type(req) ~= "table" then error("request must be a table", 2) end
  next_id = next_id + 1
  local id, t0 = next_id, now()
  local method = req.method or "GET"
  if type(method) ~= "string" or not method:find("^[A-Z]+$") then error("method must be an upper-case token", 2) end
  local target_url = req.url
  if type(target_url) ~= "string" then error("url must be a string", 2) end
  if target_url:find("[%s%c]") then error("url contains a space or control character", 2) end
  local lines, names = check_headers(headers or req.headers)
  local source, serr = body_source(req, body == nil and req.body or body)
  if serr then return fail(id, t0, "file", serr) end

  local u = url.parse(target_url)
  if not u or (u.scheme ~= "http" and u.scheme ~= "https") then
    return fail(id, t0, "transport", "unsupported URL (http and https only): " .. target_url:sub(1, 60))
  end
  local target = (u.path ~= nil and u.path ~= "") and u.path or "/"
  if u.query then target = target .. "?" .. u.query end
  local host_header = u.host:find(":", 1, true) and ("[" .. u.host .. "]") or u.host
  if not ((u.scheme == "http" and u.port == 80) or (u.scheme == "https" and u.port == 443)) then
    host_header = host_header .. ":" .. u.port
  end

  local head = { method, " ", target, " HTTP/1.1\r\n" }
  local function add(name, lname, value)
    if value and not names[lname] then head[#head + 1] = name .. ": " .. value .. "\r\n" end
  end
  add("Host", "host", host_header)
  add("Accept-Encoding", "accept-encoding", "gzip")
  if source then
    -- libcurl's default for a request body given as a string; multipart names its boundary
    add("Content-Type", "content-type", source.content_type)
    head[#head + 1] = "Content-Length: " .. source.length .. "\r\n"
  elseif method == "POST" or method == "PUT" or method == "PATCH" then
    head[#head + 1] = "Content-Length: 0\r\n"
  end
  for _, line in ipairs(lines) do
    local lname = line:match("^([^:]+)"):lower()
    if lname ~= "content-length" and lname ~= "transfer-encoding" then head[#head + 1] = line .. "\r\n" end
  end
  head[#head + 1] = "\r\n"
  head = table.concat(head)

  local timeout = req.timeout or opts.timeout or 0
  local c = { t0 = t0, deadline = timeout > 0 and (t0 + timeout) or nil }
  for _ = 0, MAX_STALE_RETRIES do
    c.got, c.reused = false, false
    local res, stale = exchange(c, req, opts, u, head, source)
    if res then return result(id, t0, res) end
    assert(stale == "stale")
  end
  return fail(id, t0, "transport", "every pooled connection was closed by the server")
end

return M
