--- zuora.ngx.http.request: the request side of the cosocket HTTP client. Checks the request as
-- core.http does (mistakes raise before anything is sent), builds the head and the body source
-- (a string, a file streamed from disk, or multipart parts with files streamed too), and sends
-- them. Send failures come back as kind, message, curl_code.
local core = require "zuora.core"
local conn = require "zuora.ngx.http.connect"

local crypto = core.crypto
local arm, timed_out = conn.arm, conn.timed_out
local concat = table.concat

local M = {}

local CHUNK = 65536
-- libcurl's codes for the same failures
local E_SEND, E_READ = 55, 26

local TOKEN = "^[!#$%%&'*+%-.^_`|~%w]+$"

--- The caller's header lines checked: returns the lines to send and the set of lower-case names
-- given (a name given as "Name:" maps to "removed": libcurl's rule, it removes a header the
-- client would add itself). Raises at `level` for a malformed line.
function M.check_headers(list, level)
  local out, names = {}, {}
  if list == nil then return out, names end
  if type(list) ~= "table" then error("headers must be an array of \"Name: value\" strings", level) end
  for i, line in ipairs(list) do
    if type(line) ~= "string" then error("header " .. i .. " is not a string", level) end
    if line:find("[\r\n%z]") then error("header " .. i .. " contains CR, LF or NUL", level) end
    local name, value = line:match("^([^:]*):[ \t]*(.-)[ \t]*$")
    if not name then error("header " .. i .. " has no colon", level) end
    if not name:find(TOKEN) then error("header " .. i .. " has an invalid name", level) end
    local lname = name:lower()
    if value == "" then
      names[lname] = "removed"
    else
      names[lname] = true
      out[#out + 1] = name .. ": " .. value
    end
  end
  return out, names
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

local function add(head, names, name, lname, value)
  if value and not names[lname] then head[#head + 1] = name .. ": " .. value .. "\r\n" end
end

local NEEDS_LENGTH = { POST = true, PUT = true, PATCH = true }

--- The request head (request line, headers, blank line) as one string, for the parsed URL `u`.
function M.head(method, u, lines, names, source)
  local target = (u.path ~= nil and u.path ~= "") and u.path or "/"
  if u.query then target = target .. "?" .. u.query end
  local host = u.host:find(":", 1, true) and ("[" .. u.host .. "]") or u.host
  if not ((u.scheme == "http" and u.port == 80) or (u.scheme == "https" and u.port == 443)) then
    host = host .. ":" .. u.port
  end
  local head = { method, " ", target, " HTTP/1.1\r\n" }
  add(head, names, "Host", "host", host)
  add(head, names, "Accept-Encoding", "accept-encoding", "gzip")
  if source then
    -- libcurl's default for a request body given as a string; multipart names its boundary
    add(head, names, "Content-Type", "content-type", source.content_type)
    head[#head + 1] = "Content-Length: " .. source.length .. "\r\n"
  elseif NEEDS_LENGTH[method] then
    head[#head + 1] = "Content-Length: 0\r\n"
  end
  for _, line in ipairs(lines) do
    local lname = line:match("^([^:]+)"):lower()
    if lname ~= "content-length" and lname ~= "transfer-encoding" then head[#head + 1] = line .. "\r\n" end
  end
  head[#head + 1] = "\r\n"
  return concat(head)
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
