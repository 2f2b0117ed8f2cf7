--- CSV records and upload parts, read as a stream: a file of any size is cut into parts of at most
-- `max_lines` physical lines each (the header line repeated at the top of every part) without ever
-- cutting a record — a quoted field may hold line breaks, and its lines stay in one part.
--
--   local reader = csv.reader(csv.file_source("transactions.csv"))
--   for part in csv.parts(reader, 20000) do
--     -- part.text (header + records), part.lines, part.records, part.first, part.last
--   end
--
-- Quoting follows RFC 4180: a field may be enclosed in double quotes, and a double quote inside it
-- is written twice. Line breaks are LF or CRLF (a CR stays part of the record, bytes are never
-- changed). Blank lines between records are dropped. Pure Lua; runs on Lua 5.4 and LuaJIT.
local M = {}

local CHUNK = 64 * 1024

--- A source reading `path` in chunks; raises if the file cannot be opened.
function M.file_source(path)
  local f, err = io.open(path, "rb")
  if not f then error("cannot read " .. tostring(path) .. ": " .. tostring(err), 2) end
  return function()
    if not f then return nil end
    local chunk = f:read(CHUNK)
    if not chunk then
      f:close()
      f = nil
    end
    return chunk
  end
end

--- A source handing out `s` in chunks.
function M.string_source(s)
  local pos = 1
  return function()
    if pos > #s then return nil end
    local chunk = s:sub(pos, pos + CHUNK - 1)
    pos = pos + CHUNK
    return chunk
  end
end

local Reader = {}
Reader.__index = Reader

--- A record reader over `source` (a function returning the next chunk of bytes, or nil at the end).
function M.reader(source)
  if type(source) ~= "function" then error("csv.reader: expected a source function", 2) end
  return setmetatable({ source = source, buf = "", pos = 1, start = 1, quoted = false, lines = 0, line = 1,
    eof = false, q = nil }, Reader)
end

local find = string.find

--- The next record (its bytes, including its line break) and the number of physical lines it
-- spans; nil at the end. Raises on a quoted field that never ends.
function Reader:next()
  while true do
    local buf = self.buf
    -- Plain searches: the next line break, and the quotes before it (each opens or closes a quoted
    -- field; "" toggles twice). `q` caches the next quote's position (false: none in the buffer).
    local i = find(buf, "\n", self.pos, true)
    if i then
      local q = self.q
      if q == nil or (q and q < self.pos) then
        q = find(buf, '"', self.pos, true) or false
      end
      while q and q < i do
        self.quoted = not self.quoted
        q = find(buf, '"', q + 1, true) or false
      end
      self.q = q
      self.lines = self.lines + 1
      self.pos = i + 1
      if not self.quoted then
        local rec, n = buf:sub(self.start, i), self.lines
        self.start, self.lines = i + 1, 0
        local first = self.line
        self.line = self.line + n
        if not (n == 1 and #rec <= 2 and find(rec, "^\r?\n$")) then return rec, n, first end -- skip blank lines
      end
    elseif not self.eof then
      local chunk = self.source()
      if chunk == nil then
        self.eof = true
      elseif type(chunk) ~= "string" then
        error("CSV: the source returned a " .. type(chunk) .. ", not a string", 0)
      else
        -- keep only the unfinished record; positions move with it
        self.buf = buf:sub(self.start) .. chunk
        self.pos = self.pos - self.start + 1
        self.start = 1
        self.q = nil
      end
    else
      local q = find(buf, '"', self.pos, true)
      while q do
        self.quoted = not self.quoted
        q = find(buf, '"', q + 1, true)
      end
      self.pos = #buf + 1
      if self.quoted then
        error(("CSV: the quoted field of the record starting on line %d never ends"):format(self.line), 0)
      end
      if self.start > #buf then return nil end
      local rec = buf:sub(self.start)
      self.start = #buf + 1
      if rec == "\r" then return nil end -- the CR of a last CRLF cut off
      local first = self.line
      self.line = self.line + self.lines + 1
      return rec, self.lines + 1, first
    end
  end
end

--- Upload parts from `reader`: an iterator of parts {text, header, lines, records, first, last,
-- index} where `first` and `last` number the data records (1 = the first record after the
-- header) and `lines` counts physical lines including the repeated header. Every part has at most
-- `max_lines` lines. Raises when the input has no header, or when one record alone cannot fit.
function M.parts(reader, max_lines)
  if type(max_lines) ~= "number" or max_lines < 2 or max_lines % 1 ~= 0 then
    error("csv.parts: max_lines must be an integer >= 2", 2)
  end
  local header, hlines = reader:next()
  if not header then error("CSV: no header line", 0) end
  if not header:find("\n$") then header = header .. "\n" end -- a header alone, without its line break
  if hlines >= max_lines then
    error(("CSV: the header alone spans %d lines, the limit is %d"):format(hlines, max_lines), 0)
  end
  local pending, pending_lines, pending_line -- a record read but not yet placed
  local index, next_record = 0, 1
  return function()
    local recs, lines, count = {}, hlines, 0
    local first = next_record
    while true do
      local rec, n, line
      if pending then
        rec, n, line, pending = pending, pending_lines, pending_line, nil
      else
        rec, n, line = reader:next()
      end
      if not rec then break end
      if hlines + n > max_lines then
        error(("CSV: the record on line %d spans %d lines; with the header it cannot fit in %d lines")
          :format(line, n, max_lines), 0)
      end
      if lines + n > max_lines then
        pending, pending_lines, pending_line = rec, n, line
        break
      end
      if count > 0 and not recs[count]:find("\n$") then recs[count] = recs[count] .. "\n" end
      count = count + 1
      recs[count] = rec
      lines = lines + n
    end
    if count == 0 then return nil end
    index = index + 1
    next_record = first + count
    return { index = index, header = header, text = header .. table.concat(recs), lines = lines, records = count,
      first = first, last = first + count - 1 }
  end
end

--- Convenience: the parts of a whole string, as an array.
function M.split(s, max_lines)
  local out = {}
  for part in M.parts(M.reader(M.string_source(s)), max_lines) do out[#out + 1] = part end
  return out
end

return M
