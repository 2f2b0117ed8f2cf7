--- zuora.ngx.http.response: the response head of the cosocket HTTP client. Reads header blocks
-- up to the final response (interim 1xx answers are skipped), checks the status line and the
-- caps (500 lines, 64 KiB), and keeps the final head as raw lines: the same `header_block` the
-- libcurl transport gives, read with core.http.header / core.http.parse_headers (one parser for
-- both transports). Failures come back as nil, kind, message, curl_code.
local core = require "zuora.core"
local conn = require "zuora.ngx.http.connect"

local arm, timed_out = conn.arm, conn.timed_out
local byte, find, sub = string.byte, string.find, string.sub

local M = {}

local MAX_HEADER_BYTES, MAX_HEADER_LINES = 64 * 1024, 500
M.MAX_HEADER_LINES = MAX_HEADER_LINES
-- libcurl's codes for the same failures
local E_UNSUPPORTED, E_WEIRD, E_WRITE, E_GOT_NOTHING, E_RECV = 1, 8, 23, 52, 56

M.header, M.parse_headers = core.http.header, core.http.parse_headers

local WAITING = "waiting for the response"
local PIECE = 65536 -- at most this much a receiveany (the socket's buffer holds less)

-- One header block (up to and including the blank line). The head is read with receiveany, in
-- the pieces the socket has, so the bytes after it (the body, usually in the same piece) stay in
-- c.buf from c.pos on for the body readers (zuora.ngx.http.body). Not receiveuntil: it makes a new
-- C closure on every call, and LuaJIT's traces are specialized to the closure they saw, so each
-- call left the compiled code there and ran the rest of the call in the interpreter. Sets c.got
-- once any byte of the answer arrived.
local function read_block(c)
  local data, from = c.buf, 1 -- bytes left after an interim (1xx) response
  c.buf = nil
  if data and c.pos > 1 then data = sub(data, c.pos) end
  while true do
    if data then
      local _, e = find(data, "\r\n\r\n", from, true)
      if e then
        if e > MAX_HEADER_BYTES then break end
        if e == #data then return data end
        c.buf, c.pos = data, e + 1
        return sub(data, 1, e)
      end
      if #data > MAX_HEADER_BYTES then break end
      from = #data > 3 and #data - 2 or 1 -- the blank line may straddle two pieces
    end
    if not arm(c) then return nil, timed_out(c, WAITING) end
    local piece, err = c.sock:receiveany(PIECE)
    if not piece then
      if err == "timeout" then return nil, timed_out(c, WAITING) end
      if err == "closed" then
        if c.got then return nil, "transport", "connection closed in the response headers", E_RECV end
        return nil, "transport", "connection closed before any response", E_GOT_NOTHING
      end
      return nil, "transport", "receive failed: " .. tostring(err), E_RECV
    end
    if #piece > 0 then c.got = true end
    data = data and (data .. piece) or piece
  end
  return nil, "too_large", "response headers larger than " .. MAX_HEADER_BYTES .. " bytes", E_WRITE
end

-- Whether a block (status line, header lines, blank line) has more than MAX_HEADER_LINES header
-- lines.
local function too_many_lines(block)
  local pos, n = 1, -2 -- the CRLFs of the last header line and of the blank line start none
  while true do
    pos = find(block, "\n", pos, true)
    if not pos then return false end
    n = n + 1
    if n > MAX_HEADER_LINES then return true end -- each line end starts a header line
    pos = pos + 1
  end
end

-- "HTTP/d.d ddd" at the start of the block, the code followed by a space or the line's end: the
-- version ("1.1") and the status; or nil, "code" for a code of more than three digits (libcurl:
-- "Unsupported response code"); or nil. Bytes compared one by one instead of a pattern
-- (string.match is not compiled by LuaJIT).
local function status_line(block)
  if sub(block, 1, 5) ~= "HTTP/" then return nil end
  local v1, dot, v2, sp, s1, s2, s3, after = byte(block, 6, 13)
  if not s3 or dot ~= 46 or sp ~= 32 then return nil end
  v1, v2, s1, s2, s3 = v1 - 48, v2 - 48, s1 - 48, s2 - 48, s3 - 48
  if v1 < 0 or v1 > 9 or v2 < 0 or v2 > 9 or s1 < 0 or s1 > 9 or s2 < 0 or s2 > 9 or s3 < 0 or s3 > 9 then
    return nil
  end
  if after ~= 32 and after ~= 13 then return nil, after and after >= 48 and after <= 57 and "code" or nil end
  return sub(block, 6, 8), s1 * 100 + s2 * 10 + s3
end
M.status_line = status_line

-- What libcurl refuses in header lines, as its message, or nil: a NUL byte, a line without a
-- colon (one that starts with a space or a tab continues the line before it).
local function bad_header_line(block)
  if find(block, "\0", 1, true) then return "Nul byte in header" end
  local pos = find(block, "\r\n", 1, true) + 2 -- past the status line
  local n = #block - 2 -- the blank line's CRLF
  while pos < n do
    local e = find(block, "\r\n", pos, true)
    local c = byte(block, pos)
    if c ~= 32 and c ~= 9 then
      local colon = find(block, ":", pos, true)
      if not colon or colon > e then return "Header without colon" end
    end
    pos = e + 2
  end
  return nil
end

--- Reads the final response head from c's connection. Returns status, block, version (the block:
-- status line first, CRLF line ends, the blank line last), or nil, kind, message, curl_code.
function M.read_head(c)
  while true do
    local block, kind, msg, code = read_block(c)
    if not block then return nil, kind, msg, code end
    local version, status = status_line(block)
    if not version then
      if status == "code" then return nil, "transport", "Unsupported response code in HTTP response", E_UNSUPPORTED end
      local first = block:match("^[^\r\n]*"):sub(1, 60):gsub("%c", "?")
      return nil, "transport", "not an HTTP/1.x response: " .. first, E_WEIRD
    end
    local bad = bad_header_line(block)
    if bad then return nil, "transport", bad, E_WEIRD end
    -- (a block holds more header lines than bytes only if it is longer than that many bytes)
    if #block > MAX_HEADER_LINES and too_many_lines(block) then
      return nil, "too_large", "more than " .. MAX_HEADER_LINES .. " response header lines", E_WRITE
    end
    if status >= 200 or status == 101 then return status, block, version end
  end
end

return M
