--- A streaming CSV reader (RFC 4180, as Data Query writes CSV, TSV and DSV files): quoted fields
-- with embedded separators, doubled quotes and line breaks; LF or CRLF line ends; one record at a
-- time from a source of chunks, so memory holds one record and one chunk, never the file.
--
--   local next_record = csv.reader(function() return f:read(65536) end, { separator = "," })
--   for fields in next_record do ... end          -- fields: array of strings
--
-- The reader raises on malformed input (an unterminated quote, a stray character after a closing
-- quote) with the record number; a field is never dropped or altered silently.
local M = {}

local byte, find, sub, gsub, concat = string.byte, string.find, string.sub, string.gsub, table.concat

local QUOTE, CR, LF = 34, 13, 10
local CHUNK = 65536

--- A function returning the next record (an array of field strings) or nil at the end.
-- `read()` returns the next chunk of text, or nil at the end of the input. opts.separator: a
-- one-character string (default ","). opts.max_record: bytes one record may span (default 64 MiB).
-- opts.raw: return the record's bytes exactly as read (with its line break, if any) before its
-- fields, for callers that pass records on unchanged (zuora.revenue.csv cuts uploads so).
function M.reader(read, opts)
  opts = opts or {}
  local raw = opts.raw
  local sep = opts.separator or ","
  if type(sep) ~= "string" or #sep ~= 1 or sep == '"' or sep == "\r" or sep == "\n" then
    error("csv: separator must be one character other than a quote or a line break", 2)
  end
  local max_record = opts.max_record or 64 * 1024 * 1024
  local SEP = byte(sep)
  local buf, pos, eof, records = "", 1, false, 0

  local function fail(msg)
    error(("csv: record %d: %s"):format(records + 1, msg), 0)
  end

  -- Parses one record starting at `pos`. Returns the fields and the position after the record,
  -- or nil when the buffer ends before the record does (and more input may come). Plain searches
  -- only (the line end once, then separators and quotes): patterns cost more per field.
  local function parse()
    local n = #buf
    local i = pos
    local fields, nf = {}, 0
    local eol = find(buf, "\n", i, true)
    while true do
      local c = byte(buf, i)
      if c == QUOTE then
        local j, doubled = i + 1, false
        local q
        while true do
          q = find(buf, '"', j, true)
          if not q then
            if eof then fail("unterminated quoted field") end
            return nil
          end
          local nx = byte(buf, q + 1)
          if nx == QUOTE then
            doubled = true
            j = q + 2
          elseif nx == nil and not eof then
            return nil -- a doubled quote may straddle the chunk boundary
          else
            break
          end
        end
        local v = sub(buf, i + 1, q - 1)
        if doubled then v = gsub(v, '""', '"') end
        nf = nf + 1
        fields[nf] = v
        i = q + 1
        if eol and eol < i then eol = find(buf, "\n", i, true) end
        local d = byte(buf, i)
        if d == SEP then
          i = i + 1
        elseif d == LF then
          return fields, i + 1
        elseif d == CR then
          local nx = byte(buf, i + 1)
          if nx == LF then return fields, i + 2 end
          if nx == nil and not eof then return nil end
          return fields, i + 1
        elseif d == nil then
          if not eof then return nil end
          return fields, i
        else
          fail("unexpected character after a closing quote")
        end
      else
        -- Unquoted: up to the next separator on this line, or the line's end.
        local s = find(buf, sep, i, true)
        if s and (not eol or s < eol) then
          nf = nf + 1
          fields[nf] = sub(buf, i, s - 1)
          i = s + 1
        elseif eol then
          local e = eol - 1
          if e >= i and byte(buf, e) == CR then e = e - 1 end
          nf = nf + 1
          fields[nf] = sub(buf, i, e)
          return fields, eol + 1
        else
          if not eof then return nil end
          local e = n
          if e >= i and byte(buf, e) == CR then e = e - 1 end
          nf = nf + 1
          fields[nf] = sub(buf, i, e)
          return fields, n + 1
        end
      end
      if i > n then -- the line ended right after a separator
        if not eof then return nil end
        nf = nf + 1
        fields[nf] = ""
        return fields, i
      end
    end
  end

  -- Appends at least `want` bytes (or whatever is left) to the unparsed part of the buffer.
  local function refill(want)
    local parts, got = { sub(buf, pos) }, 0
    while got < want do
      local chunk = read()
      if chunk == nil then
        eof = true
        break
      end
      if type(chunk) ~= "string" then error("csv: the source returned a " .. type(chunk) .. ", not a string", 0) end
      parts[#parts + 1] = chunk
      got = got + #chunk
    end
    buf, pos = concat(parts), 1
  end

  return function()
    while true do
      if pos <= #buf then
        local fields, npos = parse()
        if fields then
          local start = pos
          pos = npos
          records = records + 1
          if raw then return sub(buf, start, npos - 1), fields end
          return fields
        end
        local pending = #buf - pos + 1
        if pending > max_record then fail("longer than " .. max_record .. " bytes") end
        -- Read at least as much again as is pending, so a huge record costs linear time.
        refill(pending > CHUNK and pending or CHUNK)
      elseif eof then
        return nil
      else
        refill(CHUNK)
      end
    end
  end
end

return M
