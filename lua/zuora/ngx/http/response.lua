--- zuora.ngx.http.response: the response head of the cosocket HTTP client. Reads header blocks
-- up to the final response (interim 1xx answers are skipped), checks the status line and the
-- caps (500 lines, 64 KiB), and keeps the final head as raw lines: the same `header_block` the
-- libcurl transport gives, read with core.http.header / core.http.parse_headers (one parser for
-- both transports). Failures come back as nil, kind, message, curl_code.
local core = require "zuora.core"
local conn = require "zuora.ngx.http.connect"

local arm, timed_out = conn.arm, conn.timed_out
local concat, find = table.concat, string.find

local M = {}

local MAX_HEADER_BYTES, MAX_HEADER_LINES = 64 * 1024, 500
M.MAX_HEADER_LINES = MAX_HEADER_LINES
-- libcurl's codes for the same failures
local E_WEIRD, E_WRITE, E_GOT_NOTHING, E_RECV = 8, 23, 52, 56

M.header, M.parse_headers = core.http.header, core.http.parse_headers

local WAITING = "waiting for the response"

local INCLUSIVE = { inclusive = true } -- the blank line ends the block as header_block wants it

-- One header block (up to and including the blank line). Sets c.got once any byte of
-- the answer arrived.
local function read_block(c)
  local reader = c.sock:receiveuntil("\r\n\r\n", INCLUSIVE)
  -- first: the first piece; parts only when there are more (a head over 4 KiB)
  local first, parts, total = nil, nil, 0
  while true do
    if not arm(c) then return nil, timed_out(c, WAITING) end
    local data, err, partial = reader(4096)
    if data then
      if #data > 0 then c.got = true end
      total = total + #data
      if not first then
        -- a first piece ending in the blank line is the whole head (an earlier blank line would
        -- have ended it earlier): no second call to hear that it ended
        if find(data, "\r\n\r\n", -4, true) then return data end
        first = data
      elseif not parts then
        parts = { first, data }
      else
        parts[#parts + 1] = data
      end
    elseif err then
      if partial and #partial > 0 then c.got = true end
      if err == "timeout" then return nil, timed_out(c, WAITING) end
      if err == "closed" then
        if c.got then return nil, "transport", "connection closed in the response headers", E_RECV end
        return nil, "transport", "connection closed before any response", E_GOT_NOTHING
      end
      return nil, "transport", "receive failed: " .. tostring(err), E_RECV
    else
      return parts and concat(parts) or first or ""
    end
    if total > MAX_HEADER_BYTES then
      return nil, "too_large", "response headers larger than " .. MAX_HEADER_BYTES .. " bytes", E_WRITE
    end
  end
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

--- Reads the final response head from c's connection. Returns status, block, version (the block:
-- status line first, CRLF line ends, the blank line last), or nil, kind, message, curl_code.
function M.read_head(c)
  while true do
    local block, kind, msg, code = read_block(c)
    if not block then return nil, kind, msg, code end
    local version, status = block:match("^HTTP/(%d%.%d) (%d%d%d)")
    if not version then
      local first = block:match("^[^\r\n]*"):sub(1, 60):gsub("%c", "?")
      return nil, "transport", "not an HTTP/1.x response: " .. first, E_WEIRD
    end
    if too_many_lines(block) then
      return nil, "too_large", "more than " .. MAX_HEADER_LINES .. " response header lines", E_WRITE
    end
    status = tonumber(status)
    if status >= 200 or status == 101 then return status, block, version end
  end
end

return M
