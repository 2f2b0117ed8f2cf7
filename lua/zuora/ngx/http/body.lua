--- zuora.ngx.http.body: the response body of the cosocket HTTP client. A sink takes the bytes
-- (through a gzip/deflate inflater when the body is compressed) into memory or, for a 2xx with
-- `output`, into a temporary file renamed at the end; readers take a body framed by
-- Content-Length, chunked, or the end of the connection. Failures come back as kind, message,
-- curl_code.
local core = require "zuora.core"
local conn = require "zuora.ngx.http.connect"
local zlib = require "zuora.ngx.zlib"

local crypto = core.crypto
local arm, timed_out = conn.arm, conn.timed_out
local concat, find, sub = table.concat, string.find, string.sub

local M = {}

local CHUNK = 65536
local MAX_TRAILER_LINES = 500
local MAX_LINE = 1024 -- bytes of one line of chunked framing
local READING = "reading the response body"
-- libcurl's codes for the same failures
local E_PARTIAL, E_WRITE, E_RECV, E_ENCODING, E_TOO_BIG = 18, 23, 56, 61, 63

------------------------------------------------------------------------------------------------
-- Sinks.

local Sink = {}
Sink.__index = Sink

--- A sink for a response of `status` to `req`, holding at most `max_body` decoded bytes;
-- `encoding` is the Content-Encoding (lower case, trimmed; "" for none). Returns the sink or
-- nil, kind, message, curl_code.
function M.sink(req, status, max_body, encoding)
  local s = setmetatable({ n = 0, max = max_body }, Sink)
  if encoding ~= "" and encoding ~= "identity" then
    if encoding ~= "gzip" and encoding ~= "x-gzip" and encoding ~= "deflate" then
      return nil, "transport", "unsupported Content-Encoding: " .. encoding, E_ENCODING
    end
    local decoder, err = zlib.inflater(max_body)
    if not decoder then return nil, "transport", err, E_ENCODING end
    s.decoder = decoder
  end
  if req.output and status >= 200 and status < 300 then
    local tmp = req.output .. ".part-" .. crypto.hex(crypto.random(6))
    local f, err = io.open(tmp, "wb")
    if not f then return nil, "file", "cannot write " .. req.output .. ": " .. tostring(err), E_WRITE end
    s.f, s.tmp, s.output = f, tmp, req.output
  else
    s.parts = {}
  end
  return s
end

local function too_large(s)
  return "too_large", "response body larger than " .. s.max .. " bytes", E_WRITE
end

--- Takes raw body bytes (decoded first when compressed). Returns nil or kind, message, curl_code.
function Sink:feed(data)
  local decoder = self.decoder
  if decoder then
    local out, err = decoder:feed(data)
    if not out then
      if err == "too_large" then return too_large(self) end
      return "transport", err, E_ENCODING
    end
    data = out
  end
  if #data == 0 then return nil end
  self.n = self.n + #data
  if self.n > self.max then return too_large(self) end
  if self.f then
    local ok, err = self.f:write(data)
    if not ok then return "file", "cannot write " .. self.output .. ": " .. tostring(err), E_WRITE end
  else
    self.parts[#self.parts + 1] = data
  end
  return nil
end

--- The body ended: checks a compressed stream ended cleanly. Returns nil or kind, message, code.
function Sink:done()
  if not self.decoder then return nil end
  local ok, err = self.decoder:finish()
  if not ok then return "transport", err, E_ENCODING end
  return nil
end

--- Drops what was received (and the temporary file).
function Sink:abort()
  if self.f then
    self.f:close()
    os.remove(self.tmp)
    self.f = nil
  end
end

--- Settles the body: renames the temporary file onto `output`, or returns the body in memory.
-- Returns body (nil for a file), or nil, kind, message, curl_code.
function Sink:finish()
  local f = self.f
  if not f then return concat(self.parts) end
  self.f = nil
  local ok, err = f:close()
  if ok then ok, err = os.rename(self.tmp, self.output) end
  if not ok then
    os.remove(self.tmp)
    return nil, "file", "cannot write " .. self.output .. ": " .. tostring(err), E_WRITE
  end
  return nil
end

------------------------------------------------------------------------------------------------
-- Readers. Reading the head (zuora.ngx.http.response) may have received bytes past it: they are
-- c.buf from c.pos on, and every reader takes them first. Bytes still there when the body ended
-- were sent past the response: connect.release does not pool such a connection.

--- Up to n of the bytes received past the head (fewer when fewer are left), or nil when none are.
local function take(c, n)
  local buf = c.buf
  if not buf then return nil end
  local pos = c.pos
  local last = pos + n - 1
  if last >= #buf then
    c.buf = nil
    return pos == 1 and buf or sub(buf, pos)
  end
  c.pos = last + 1
  return sub(buf, pos, last)
end
M.take = take

--- Reads exactly n bytes into the sink.
function M.read_length(c, n, sink)
  local early = take(c, n)
  if early then
    n = n - #early
    local kind, msg, code = sink:feed(early)
    if kind then return kind, msg, code end
  end
  local sock = c.sock
  while n > 0 do
    if not arm(c) then return timed_out(c, READING) end
    local data, err, partial = sock:receive(n < CHUNK and n or CHUNK)
    if not data then
      if partial and #partial > 0 then
        local kind, msg, code = sink:feed(partial)
        if kind then return kind, msg, code end
      end
      if err == "timeout" then return timed_out(c, READING) end
      if err == "closed" then
        return "transport", "connection closed before the response body was complete", E_PARTIAL
      end
      return "transport", "receive failed: " .. tostring(err), E_RECV
    end
    n = n - #data
    local kind, msg, code = sink:feed(data)
    if kind then return kind, msg, code end
  end
  return nil
end
local read_length = M.read_length

--- A whole body of n bytes (0 < n <= 64 KiB, no Content-Encoding, kept in memory) in one
-- receive, without a sink: the common answer. Returns the body, or nil, kind, message,
-- curl_code, bytes received.
function M.read_small(c, n)
  local early = take(c, n)
  if early then
    if #early == n then return early end
    n = n - #early
  end
  if not arm(c) then return nil, timed_out(c, READING) end
  local data, err, partial = c.sock:receive(n)
  if data then return early and (early .. data) or data end
  local got = (early and #early or 0) + (partial and #partial or 0)
  if err == "timeout" then
    local kind, msg, code = timed_out(c, READING)
    return nil, kind, msg, code, got
  end
  if err == "closed" then
    return nil, "transport", "connection closed before the response body was complete", E_PARTIAL, got
  end
  return nil, "transport", "receive failed: " .. tostring(err), E_RECV, got
end
M.SMALL = CHUNK

-- One line of chunked framing (without its CRLF), at most MAX_LINE bytes: from the bytes received
-- past the head first, then from receiveany (the same C function every call, unlike receiveuntil's
-- iterators); what follows the line stays in c.buf.
local function read_line(c)
  local buf, pos = c.buf, c.pos
  local from = pos
  while true do
    if buf then
      local s = find(buf, "\r\n", from, true)
      if s then
        if s - pos > MAX_LINE then break end
        if s + 1 >= #buf then c.buf = nil else c.buf, c.pos = buf, s + 2 end
        return sub(buf, pos, s - 1)
      end
      if #buf - pos > MAX_LINE then break end -- more than MAX_LINE bytes and a CR, no line end
      from = #buf -- a CR at the end may be followed by the LF in the next piece
    end
    if not arm(c) then return nil, timed_out(c, READING) end
    local piece, err = c.sock:receiveany(CHUNK)
    if not piece then
      c.buf = nil
      if err == "timeout" then return nil, timed_out(c, READING) end
      return nil, "transport", "connection closed in a chunked body", E_PARTIAL
    end
    if buf then
      buf, from = sub(buf, pos) .. piece, from - pos + 1
    else
      buf, from = piece, 1
    end
    pos = 1
    c.buf, c.pos = buf, 1
  end
  c.buf = nil
  return nil, "transport", "chunked body: line too long", E_RECV
end

--- Reads a chunked body (and its trailers, which are dropped) into the sink.
function M.read_chunked(c, sink)
  while true do
    local line, kind, msg, code = read_line(c)
    if not line then return kind, msg, code end
    local size = tonumber(line:match("^%s*(%x+)"), 16)
    if not size then return "transport", "chunked body: bad chunk size", E_RECV end
    if size == 0 then
      for _ = 1, MAX_TRAILER_LINES do
        line, kind, msg, code = read_line(c)
        if not line then return kind, msg, code end
        if line == "" then return nil end
      end
      return "too_large", "too many trailer lines", E_WRITE
    end
    kind, msg, code = read_length(c, size, sink)
    if kind then return kind, msg, code end
    line, kind, msg, code = read_line(c)
    if not line then return kind, msg, code end
    if line ~= "" then return "transport", "chunked body: missing CRLF after a chunk", E_RECV end
  end
end

--- Reads until the server closes the connection.
function M.read_to_close(c, sink)
  local early = take(c, math.huge)
  if early then
    local kind, msg, code = sink:feed(early)
    if kind then return kind, msg, code end
  end
  local sock = c.sock
  while true do
    if not arm(c) then return timed_out(c, READING) end
    local data, err, partial = sock:receive(CHUNK)
    local piece = data or partial
    if piece and #piece > 0 then
      local kind, msg, code = sink:feed(piece)
      if kind then return kind, msg, code end
    end
    if not data then
      if err == "closed" then return nil end
      if err == "timeout" then return timed_out(c, READING) end
      return "transport", "receive failed: " .. tostring(err), E_RECV
    end
  end
end

--- kind, message, curl_code for an announced body over the cap.
function M.announced_too_large(length, max_body)
  return "too_large", ("response body of %d bytes is larger than %d"):format(length, max_body), E_TOO_BIG
end

return M
