--- Row iterators over a local result file (what `client:data_query` returns): JSON lines or
-- CSV/TSV/DSV, plain, gzip or zip, read in 64 KiB chunks and decoded one row at a time, so memory
-- stays flat whatever the file's size.
--
--   local rows = rows.open("/tmp/result.json.gz", { format = "JSON", compression = "GZIP" })
--   for row in rows do print(row.id) end          -- rows is callable; rows:close() ends early
--
-- A row is the decoded JSON object (JSON lines) or a table keyed by the header's column names
-- (CSV: every value a string, empty fields ""). Failures while iterating (corrupt compressed data,
-- a line that is not JSON, a malformed CSV record, a record with too few or too many fields)
-- raise a zuora.Error of kind "decode" naming the row; nothing is skipped silently.
local core = require "zuora.core"
local csv = require "zuora.csv"
local errors = require "zuora.errors"
local progress = require "zuora.progress"

local json, inflate = core.json, core.inflate
local find, sub, byte, concat = string.find, string.sub, string.byte, table.concat

local M = {}

local CHUNK = 65536
--- The most bytes one row may span (a JSON line, a CSV record), unless opts.max_row says otherwise:
-- a result file that inflates to a huge line without a newline (a decompression bomb) ends in a
-- `decode` error once this much is buffered, so memory stays flat.
M.MAX_ROW = 16 * 1024 * 1024
local SEPARATORS = { CSV = ",", TSV = "\t" }

local Rows = {}
Rows.__index = Rows
Rows.__name = "zuora.Rows"

local function decode_error(msg, where)
  return errors.new{ kind = "decode", message = msg .. (where or ""), retryable = false }
end

local function le16(s, i) return byte(s, i) + byte(s, i + 1) * 256 end
local function le32(s, i) return le16(s, i) + le16(s, i + 2) * 65536 end

--- Reads the local header of the first entry of a zip archive and leaves `f` at its data.
-- Returns the entry's compression method (0 stored, 8 deflate) and its compressed size (nil when
-- the archive defers sizes to a data descriptor).
local function zip_entry(f)
  local h = f:read(30)
  if not h or #h < 30 or sub(h, 1, 4) ~= "PK\3\4" then
    error(decode_error("not a zip archive"), 0)
  end
  local flags, method = le16(h, 7), le16(h, 9)
  local csize = le32(h, 19)
  local skip = le16(h, 27) + le16(h, 29)
  if skip > 0 and not f:read(skip) then error(decode_error("truncated zip header"), 0) end
  if flags % 2 == 1 then error(decode_error("encrypted zip entries are not supported"), 0) end
  local deferred = math.floor(flags / 8) % 2 == 1
  if method ~= 0 and method ~= 8 then
    error(decode_error("zip compression method " .. method .. " is not supported"), 0)
  end
  if method == 0 and deferred then
    error(decode_error("stored zip entries without sizes are not supported"), 0)
  end
  return method, (not deferred) and csize or nil
end

--- A chunk source over `f`: returns the next piece of (decompressed) content or nil at its end.
-- `counter(n)` is told how many bytes of the file each read consumed.
local function source(f, compression, counter)
  if compression == "NONE" then
    return function()
      local s = f:read(CHUNK)
      if s then counter(#s) end
      return s
    end
  end
  local z, left
  if compression == "GZIP" then
    z = inflate.new("gzip")
  elseif compression == "ZIP" then
    local method, size = zip_entry(f)
    if method == 0 then
      left = size
      return function()
        if left <= 0 then return nil end
        local s = f:read(math.min(CHUNK, left))
        if not s then error(decode_error("truncated zip entry"), 0) end
        left = left - #s
        counter(#s)
        return s
      end
    end
    z, left = inflate.new("raw"), size
  else
    error("rows: unknown compression " .. tostring(compression), 3)
  end
  local finished = false
  return function()
    if finished then return nil end
    while true do
      local out, err = z:read(CHUNK)
      if not out then error(decode_error(err), 0) end
      if out ~= "" then return out end
      if compression == "ZIP" and z:done() then
        finished = true
        z:close()
        return nil
      end
      local want = CHUNK
      if left then want = math.min(CHUNK, left) end
      local s = (want > 0) and f:read(want) or nil
      if s then
        if left then left = left - #s end
        counter(#s)
        local ok, werr = z:write(s)
        if not ok then error(decode_error(werr), 0) end
      else
        local ok, ferr = z:finish()
        if not ok then error(decode_error(ferr), 0) end
        finished = true
        z:close()
        return nil
      end
    end
  end
end

-- Lines of the source, without their line end (LF or CRLF); linear in the line's length. A line
-- longer than `max` bytes raises a decode error (as soon as that much is buffered).
local function line_reader(src, max)
  local buf, pos, line_no = "", 1, 0
  local function too_long()
    error(decode_error(("line %d is longer than %d bytes (max_row)"):format(line_no + 1, max)), 0)
  end
  return function()
    local e = find(buf, "\n", pos, true)
    if e then
      if e - pos > max then too_long() end
      local line = sub(buf, pos, e - 1)
      pos = e + 1
      line_no = line_no + 1
      return line
    end
    local parts = { sub(buf, pos) }
    local size = #parts[1]
    while true do
      local chunk = src()
      if not chunk then
        buf, pos = "", 1
        local line = concat(parts)
        if line == "" then return nil end
        line_no = line_no + 1
        return line
      end
      local e2 = find(chunk, "\n", 1, true)
      if e2 then
        if size + e2 - 1 > max then too_long() end
        parts[#parts + 1] = sub(chunk, 1, e2 - 1)
        buf, pos = chunk, e2 + 1
        line_no = line_no + 1
        return concat(parts)
      end
      size = size + #chunk
      if size > max then too_long() end
      parts[#parts + 1] = chunk
    end
  end
end

-- json.decode options of rows read with decimals = true.
local DECIMALS = { decimals = true }

local function json_rows(self, src, decimals, max)
  local next_line = line_reader(src, max)
  local line_no = 0
  local decode = json.decode
  local dopts = decimals and DECIMALS or nil
  return function()
    while true do
      local line = next_line()
      if line == nil then return nil end
      line_no = line_no + 1
      if byte(line, -1) == 13 then line = sub(line, 1, -2) end
      if find(line, "%S") then
        local v, err = decode(line, dopts)
        if v == nil then error(decode_error("line " .. line_no .. " is not JSON: " .. err), 0) end
        if type(v) ~= "table" or getmetatable(v) == json.array_mt then
          error(decode_error("line " .. line_no .. " is not a JSON object"), 0)
        end
        return v
      end
      self.blank_lines = (self.blank_lines or 0) + 1
    end
  end
end

-- A CSV cell that is a number with a fraction ("12.50", "-0.5"): such cells become zuora.decimal
-- values with decimals = true. Other cells, digit-only ones (ids, account numbers) included, stay
-- strings.
local function fraction_cell(s)
  return find(s, "^%-?%d+%.%d+$") ~= nil
end

local function csv_rows(self, src, separator, decimals, max)
  local decimal = decimals and core.decimal
  local next_record = csv.reader(src, { separator = separator, max_record = max })
  local header
  local ncol = 0
  local record_no = 0
  local function next_fields()
    local ok2, fields = pcall(next_record)
    if not ok2 then
      if errors.is(fields) then error(fields, 0) end
      error(decode_error(tostring(fields)), 0)
    end
    if fields then record_no = record_no + 1 end
    return fields
  end
  return function()
    if not header then
      header = next_fields()
      if not header then return nil end
      ncol = #header
      local seen = {}
      for _, name in ipairs(header) do
        if seen[name] then
          error(decode_error("duplicate column name '" .. name .. "' in the header (give the columns "
            .. "distinct aliases in the query)"), 0)
        end
        seen[name] = true
      end
      self.columns = header
    end
    while true do
      local fields = next_fields()
      if not fields then return nil end
      if #fields == 1 and fields[1] == "" and ncol > 1 then
        self.blank_lines = (self.blank_lines or 0) + 1 -- an empty line cannot be a row of several columns
      else
        if #fields ~= ncol then
          error(decode_error(("record %d has %d fields, the header has %d"):format(record_no, #fields, ncol)), 0)
        end
        local row = {}
        for i = 1, ncol do row[header[i]] = fields[i] end
        if decimal then
          for i = 1, ncol do
            local s = fields[i]
            if fraction_cell(s) then row[header[i]] = decimal(s) end
          end
        end
        return row
      end
    end
  end
end

--- Opens a result file for row iteration. `file` is a path or an open file handle (read from its
-- current position; rows.open takes ownership and closes it). opts:
--   format       "JSON" (JSON lines, default), "CSV", "TSV" or "DSV"
--   separator    the DSV column separator (one character)
--   compression  "NONE" (default), "GZIP" or "ZIP" (the archive's first entry)
--   size         the file's size in bytes, for progress (default: measured)
--   on_progress  called with a "rows" event after every chunk read from the file and at the end
--   decimals     true: JSON numbers with a fraction or exponent, and CSV cells such as "12.50",
--                become zuora.decimal values (docs/decimal.md)
--   max_row      the most bytes one row may span (default M.MAX_ROW, 16 MiB): a longer one is a
--                decode error, raised once that much is buffered
-- Returns a Rows object: call it (or use it in a generic for) for the next row; `rows.count` rows
-- so far; `rows.columns` (CSV: the header); `rows:close()` releases the file early.
function M.open(file, opts)
  opts = opts or {}
  local format = (opts.format or "JSON"):upper()
  local compression = (opts.compression or "NONE"):upper()
  progress.check(opts.on_progress, 2)
  local max_row = opts.max_row or M.MAX_ROW
  if type(max_row) ~= "number" or max_row < 1 then error("rows.open: max_row must be a number >= 1", 2) end
  local f, err
  if type(file) == "string" then
    f, err = io.open(file, "rb")
    if not f then return nil, errors.new{ kind = "transport", reason = "file", message = err, retryable = false } end
  else
    f = file
  end
  local size = opts.size
  if not size then
    local here = f:seek("cur")
    size = f:seek("end")
    f:seek("set", here)
    size = size and here and (size - here) or nil
  end
  local self = setmetatable({ count = 0, file = f, bytes = 0, size = size }, Rows)
  local fn = opts.on_progress
  local t0 = progress.now()
  local function report(done)
    progress.emit(fn, "rows", t0, { current = self.bytes, total = self.size, unit = "bytes", rows = self.count,
      done = done })
  end
  local counter = function(n)
    self.bytes = self.bytes + n
    if fn then report(false) end
  end
  local ok, src = pcall(source, f, compression, counter)
  if not ok then
    f:close()
    if errors.is(src) then return nil, src end
    error(src, 2)
  end
  local next_row
  if format == "JSON" then
    next_row = json_rows(self, src, opts.decimals, max_row)
  elseif SEPARATORS[format] or format == "DSV" then
    local sep = SEPARATORS[format] or opts.separator
    if type(sep) ~= "string" or #sep ~= 1 then
      f:close()
      error("rows.open: DSV needs a one-character separator", 2)
    end
    next_row = csv_rows(self, src, sep, opts.decimals, max_row)
  else
    f:close()
    error("rows.open: unknown format " .. tostring(opts.format) .. " (JSON, CSV, TSV or DSV)", 2)
  end
  self.next_row = next_row
  self.report = fn and report or nil
  return self
end

--- The next row, or nil at the end (the file is then closed). Raises a zuora.Error on bad data.
function Rows:__call()
  if self.closed then return nil end
  local ok, row = pcall(self.next_row)
  if not ok then
    self:close()
    error(row, 0)
  end
  if row == nil then
    self:close()
    if self.report then self.report(true) end
    if self.expect_rows and self.count ~= self.expect_rows then
      error(decode_error(("the result file held %d rows, the job reported %d"):format(self.count,
        self.expect_rows)), 0)
    end
    return nil
  end
  self.count = self.count + 1
  return row
end

--- Closes the file (also when iteration stops early). Safe to call twice.
function Rows:close()
  if not self.closed then
    self.closed = true
    self.file:close()
  end
end

Rows.__close = Rows.close
-- Tables have no __gc under LuaJIT; the file handle's own finalizer closes the file there.
Rows.__gc = Rows.close

function Rows:__tostring()
  return ("zuora.Rows<%d rows%s>"):format(self.count, self.closed and ", closed" or "")
end

M.Rows = Rows

return M
