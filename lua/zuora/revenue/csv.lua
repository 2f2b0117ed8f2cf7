--- CSV records and upload parts, read as a stream: a file of any size is cut into parts of at most
-- `max_lines` physical lines each (the header line repeated at the top of every part) without ever
-- cutting a record — a quoted field may hold line breaks, and its lines stay in one part.
--
--   local reader = csv.reader(csv.file_source("transactions.csv"))
--   for part in csv.parts(reader, 20000) do
--     -- part.text (header + records), part.lines, part.records, part.first, part.last
--   end
--
-- Records are read by zuora.csv (RFC 4180: a field may be enclosed in double quotes, and a double
-- quote inside it is written twice); this module keeps each record's bytes unchanged. Line breaks
-- are LF or CRLF (a CR stays part of the record). Blank lines between records are dropped. Pure
-- Lua; runs on Lua 5.4 and LuaJIT.
local csv = require "zuora.csv"

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
-- Records are found by zuora.csv's reader, so Billing and Revenue agree on where one ends.
function M.reader(source)
  if type(source) ~= "function" then error("csv.reader: expected a source function", 2) end
  return setmetatable({ read = csv.reader(source, { raw = true, max_record = math.huge }), line = 1 }, Reader)
end

local find = string.find

--- The next record (its bytes, including its line break) and the number of physical lines it
-- spans, and the line it starts on; nil at the end. Blank lines are skipped. Raises on malformed
-- quoting (a quoted field that never ends, a character after a closing quote).
local function read(self)
  local ok, rec = pcall(self.read)
  if ok then return rec end
  if type(rec) == "string" and find(rec, "unterminated quoted field$") then
    rec = ("CSV: the quoted field of the record starting on line %d never ends"):format(self.line)
  end
  error(rec, 0)
end

function Reader:next()
  while true do
    local rec = read(self)
    if not rec then return nil end
    -- zuora.csv ends a record at a bare CR after a closing quote; here only LF ends a line, so the
    -- record goes on (its bytes stay together, and no line break is ever added inside it).
    while rec:byte(-1) == 13 do
      local more = read(self)
      if not more then break end
      rec = rec .. more
    end
    local _, n = rec:gsub("\n", "")
    if rec:byte(-1) ~= 10 then n = n + 1 end -- a last line without its line break
    local first = self.line
    self.line = first + n
    if not find(rec, "^\r?\n?$") then return rec, n, first end
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
