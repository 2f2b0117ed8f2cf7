--- zuora.ngx.http.request: the request side of the cosocket HTTP client. Checks the request as
-- core.http does (mistakes raise before anything is sent), builds the head and the body source
-- (a string, a file streamed from disk, or multipart parts with files streamed too), and sends
-- them. Send failures come back as kind, message, curl_code.
local core = require "zuora.core"
local conn = require "zuora.ngx.http.connect"

local crypto, url = core.crypto, core.url
local arm, timed_out = conn.arm, conn.timed_out
local concat, byte, find, sub = table.concat, string.byte, string.find, string.sub

local M = {}

local CHUNK = 65536
-- libcurl's codes for the same failures
local E_SEND, E_READ = 55, 26

local TOKEN = "^[!#$%%&'*+%-.^_`|~%w]+$"

-- Lines already checked, by their text (strings are immutable, so a line seen before needs no
-- second look): NAME[line] its lower-case name, OUT[line] the line as sent ("Name: value",
-- trimmed) or false for "Name:" (libcurl's rule: it removes a header the client would add
-- itself). A client sends the same few lines on every call; the cache is emptied when it fills up
-- (per-call lines such as an Idempotency-Key must not grow it without bound).
local NAME, OUT, cached = {}, {}, 0
local CACHE_MAX = 1024

local function check_line(line, i, level)
  if type(line) ~= "string" then error("header " .. i .. " is not a string", level) end
  if line:find("[\r\n%z]") then error("header " .. i .. " contains CR, LF or NUL", level) end
  local name, value = line:match("^([^:]*):[ \t]*(.-)[ \t]*$")
  if not name then error("header " .. i .. " has no colon", level) end
  if not name:find(TOKEN) then error("header " .. i .. " has an invalid name", level) end
  local lname = name:lower()
  if cached >= CACHE_MAX then NAME, OUT, cached = {}, {}, 0 end
  NAME[line], OUT[line], cached = lname, value ~= "" and (name .. ": " .. value), cached + 1
  return lname
end

-- Checks one list; returns whether it names Host, Accept-Encoding, Content-Type (given or removed).
local function check_list(list, host, ae, ct, base, level)
  if type(list) ~= "table" then error("headers must be an array of \"Name: value\" strings", level) end
  for i = 1, #list do
    local line = list[i]
    local lname = NAME[line] or check_line(line, base + i, level + 1)
    if lname == "host" then
      host = true
    elseif lname == "accept-encoding" then
      ae = true
    elseif lname == "content-type" then
      ct = true
    end
  end
  return host, ae, ct
end

--- Checks the caller's header lines (`list`, then `extra`, the runtime's credential lines; either
-- may be nil). Raises at `level` for a malformed line. Returns whether Host, Accept-Encoding and
-- Content-Type were named (given, or removed with "Name:"), which the head then does not add.
function M.check_headers(list, extra, level)
  local host, ae, ct = false, false, false
  if list ~= nil then host, ae, ct = check_list(list, host, ae, ct, 0, level + 1) end
  if extra ~= nil then host, ae, ct = check_list(extra, host, ae, ct, list and #list or 0, level + 1) end
  return host, ae, ct
end

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

local PART_FIELDS = { "name", "filename", "content_type" }

local function multipart_source(parts, level)
  if type(parts) ~= "table" then error("multipart must be an array of parts", level) end
  local boundary = "------------------------zuora" .. crypto.hex(crypto.random(12))
  local pieces, n = {}, 0
  for i, part in ipairs(parts) do
    if type(part) ~= "table" or type(part.name) ~= "string" then
      error("multipart part " .. i .. " needs a name", level)
    end
    if (part.data == nil) == (part.path == nil) then
      error("multipart part " .. i .. " needs data or path (one of them)", level)
    end
    for _, k in ipairs(PART_FIELDS) do
      if part[k] ~= nil and (type(part[k]) ~= "string" or part[k]:find("[\r\n%z]")) then
        error("multipart part " .. i .. ": " .. k .. " must be a string without CR/LF", level)
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
      if type(part.data) ~= "string" then error("multipart part " .. i .. ": data must be a string", level) end
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

--- The request body as a source { length, pieces = { string | {path, size} }, content_type },
-- nil without a body, or nil, message when a file cannot be read. Raises at `level` for a
-- malformed request.
function M.body_source(req, body, level)
  local given = (body ~= nil and 1 or 0) + (req.body_file ~= nil and 1 or 0) + (req.multipart ~= nil and 1 or 0)
  if given > 1 then error("give at most one of body, body_file and multipart", level) end
  if body ~= nil then
    if type(body) ~= "string" then error("body must be a string", level) end
    -- libcurl's default type for a body given as a string (callers normally set their own)
    return { length = #body, pieces = { body }, content_type = "application/x-www-form-urlencoded" }
  end
  if req.body_file ~= nil then
    if type(req.body_file) ~= "string" then error("body_file must be a path", level) end
    local size, err = file_size(req.body_file)
    if not size then return nil, "cannot read " .. req.body_file .. ": " .. tostring(err) end
    return { length = size, pieces = { { path = req.body_file, size = size } } }
  end
  if req.multipart ~= nil then return multipart_source(req.multipart, level + 1) end
  return nil
end

local NEEDS_LENGTH = { POST = true, PUT = true, PATCH = true }
local BARE = { ["content-length"] = true, ["transfer-encoding"] = true } -- framing is ours

-- The head is built in this table (no yield can happen while it is, so one serves every call).
local buf = {}

local function add_lines(n, list)
  if list == nil then return n end
  for i = 1, #list do
    local line = list[i]
    local out = OUT[line]
    if out == nil then -- checked, then dropped when the cache filled up meanwhile
      check_line(line, i, 2)
      out = OUT[line]
    end
    if out and not BARE[NAME[line]] then
      buf[n + 1], buf[n + 2], n = out, "\r\n", n + 2
    end
  end
  return n
end

-- Parsed origins ("https://host:port" -> url.parse's table), so that a URL on an origin seen
-- before needs no call into libcurl's URL parser (a handle and six allocations in C) when its path
-- is plain. Bounded like the line cache.
local ORIGINS, norigins = {}, 0
local ORIGINS_MAX = 64
-- A path libcurl would hand back unchanged: "/" and then none but these bytes (no dot: dot
-- segments are removed; none of "?#"); a query: anything but "#" (an empty one is dropped by
-- libcurl, so it is not plain either). Checked byte by byte with a table (LuaJIT compiles that;
-- string.find with a pattern it does not).
local PLAIN = {}
for ch in ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_~%/!$&'()*+,;=:@"):gmatch(".") do
  PLAIN[byte(ch)] = true
end
local function plain_path(path)
  if byte(path, 1) ~= 47 then return false end -- "/"
  for i = 2, #path do
    if not PLAIN[byte(path, i)] then return false end
  end
  return true
end

-- The end of "http(s)://origin" at the start of a URL (the origin: one byte or more up to the
-- first "/", "?" or "#"), or nil. Plain finds: what the pattern "^https?://[^/?#]+" finds.
local function origin_end(u)
  local s
  if sub(u, 1, 8) == "https://" then
    s = 9
  elseif sub(u, 1, 7) == "http://" then
    s = 8
  else
    return nil
  end
  local stop = #u + 1
  local p = find(u, "/", s, true)
  if p and p < stop then stop = p end
  p = find(u, "?", s, true)
  if p and p < stop then stop = p end
  p = find(u, "#", s, true)
  if p and p < stop then stop = p end
  if stop > s then return stop - 1 end
  return nil
end

--- The URL split for the request: the parsed URL (scheme, host, port: read only, it may be
-- shared) and the request target (path and query), or nil when url.parse refuses the URL.
function M.target(target_url)
  local e = origin_end(target_url)
  if e then
    local origin = ORIGINS[sub(target_url, 1, e)]
    if origin then
      local rest = sub(target_url, e + 1)
      if rest == "" then return origin, "/" end
      local q = find(rest, "?", 1, true)
      local path = q and sub(rest, 1, q - 1) or rest
      if plain_path(path) and (not q or (q < #rest and not find(rest, "#", q, true))) then
        return origin, rest
      end
    end
  end
  local u = url.parse(target_url)
  if not u then return nil end
  local target = u.path
  if target == nil or target == "" then target = "/" end
  if u.query then target = target .. "?" .. u.query end
  if e and u.fragment == nil and (u.scheme == "http" or u.scheme == "https") then
    local key = sub(target_url, 1, e)
    if not ORIGINS[key] then
      if norigins >= ORIGINS_MAX then ORIGINS, norigins = {}, 0 end
      local o = url.parse(key)
      if o then ORIGINS[key], norigins = { scheme = o.scheme, host = o.host, port = o.port }, norigins + 1 end
    end
  end
  return u, target
end

--- Whether a string has a blank or a control character (what the pattern "[%s%c]" finds).
function M.has_blank_or_control(str)
  for i = 1, #str do
    local b = byte(str, i)
    if b <= 32 or b == 127 then return true end
  end
  return false
end

--- The request head (request line, headers, blank line) as one string, for the parsed URL `u`
-- and the request `target` (M.target); `list` and `extra` were checked by M.check_headers, which
-- returned host, ae, ct.
function M.head(method, u, target, list, extra, host_given, ae_given, ct_given, source)
  buf[1], buf[2], buf[3], buf[4] = method, " ", target, " HTTP/1.1\r\n"
  local n = 4
  if not host_given then
    local host = u.host
    if find(host, ":", 1, true) then host = "[" .. host .. "]" end
    local port, scheme = u.port, u.scheme
    if (scheme == "http" and port == 80) or (scheme == "https" and port == 443) then
      buf[5], buf[6], buf[7], n = "Host: ", host, "\r\n", 7
    else
      buf[5], buf[6], buf[7], buf[8], buf[9], n = "Host: ", host, ":", port, "\r\n", 9
    end
  end
  if not ae_given then buf[n + 1], n = "Accept-Encoding: gzip\r\n", n + 1 end
  if source then
    -- libcurl's default for a request body given as a string; multipart names its boundary
    if source.content_type and not ct_given then
      buf[n + 1], buf[n + 2], buf[n + 3], n = "Content-Type: ", source.content_type, "\r\n", n + 3
    end
    buf[n + 1], buf[n + 2], buf[n + 3], n = "Content-Length: ", source.length, "\r\n", n + 3
  elseif NEEDS_LENGTH[method] then
    buf[n + 1], n = "Content-Length: 0\r\n", n + 1
  end
  n = add_lines(add_lines(n, list), extra)
  buf[n + 1] = "\r\n"
  return concat(buf, "", 1, n + 1)
end

local function send_all(c, data)
  if not arm(c) then return timed_out(c, "sending the request") end
  local ok, err = c.sock:send(data)
  if not ok then
    if err == "timeout" then return timed_out(c, "sending the request") end
    return "transport", "send failed: " .. tostring(err), E_SEND
  end
  return nil
end

local function send_file(c, piece)
  local f, err = io.open(piece.path, "rb")
  if not f then return "file", "cannot read " .. piece.path .. ": " .. tostring(err), E_READ end
  local sent = 0
  while true do
    local block = f:read(CHUNK)
    if not block then break end
    sent = sent + #block
    if sent > piece.size then break end
    local kind, msg, code = send_all(c, block)
    if kind then
      f:close()
      return kind, msg, code
    end
  end
  f:close()
  if sent ~= piece.size then return "file", piece.path .. " changed size while it was sent", E_READ end
  return nil
end

--- Sends the head and the body on c's connection. Marks c.sent first: from here on the server
-- may see the request (libcurl counts a send at the same point). Returns nil or kind, message,
-- curl_code.
function M.send(c, head, source)
  c.sent = true
  if not source then return send_all(c, head) end
  local pieces = source.pieces
  -- The head and the leading in-memory pieces go out in one send.
  local first, rest = { head }, 1
  while type(pieces[rest]) == "string" do
    first[#first + 1] = pieces[rest]
    rest = rest + 1
  end
  local kind, msg, code = send_all(c, first)
  if kind then return kind, msg, code end
  for i = rest, #pieces do
    local piece = pieces[i]
    if type(piece) == "string" then
      kind, msg, code = send_all(c, piece)
    else
      kind, msg, code = send_file(c, piece)
    end
    if kind then return kind, msg, code end
  end
  return nil
end

return M
