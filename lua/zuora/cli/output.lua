--- Record writers for query results: a JSON array (one compact object a line, so it streams and
-- greps), JSON lines, or CSV (RFC 4180 quoting). Numbers go through the library's codec, so an
-- amount is written with the digits it arrived with; nested values become compact JSON in CSV.
local json = require("zuora.core").json

local M = {}

M.FORMATS = { json = true, jsonl = true, csv = true }

local function encode(v)
  local s, err = json.encode(v, { sort_keys = true })
  if not s then error("cannot write a record as JSON: " .. tostring(err), 0) end
  return s
end

-- Characters that make a spreadsheet read a cell as a formula (OWASP, "CSV Injection"): = + - @,
-- and tab and CR, which some spreadsheets skip before looking.
local FORMULA_START = "^[=+%-@\t\r]"

--- A text value made safe for spreadsheets: one that starts like a formula gets a leading `'`
-- (shown by spreadsheets as text, the convention of spreadsheet-safe exporters); a plain number
-- written as text ("-12.50") is left alone, as it cannot run anything.
function M.csv_safe(s)
  if s:find(FORMULA_START) and not s:find("^[+-]%d+%.?%d*$") then return "'" .. s end
  return s
end

local function csv_cell(v, safe)
  if v == nil or v == json.null then return "" end
  local s
  if type(v) == "string" then
    s = safe and M.csv_safe(v) or v
  elseif type(v) == "boolean" then
    s = tostring(v)
  else
    s = encode(v)
  end
  if s:find('[",\r\n]') or s:match("^%s") or s:match("%s$") then s = '"' .. s:gsub('"', '""') .. '"' end
  return s
end

--- The field list of a `select a, b from ...` statement, or nil.
function M.select_fields(query)
  local list = query:match("^%s*[Ss][Ee][Ll][Ee][Cc][Tt]%s+(.-)%s+[Ff][Rr][Oo][Mm]%s")
  if not list or list:find("%*") then return nil end
  local out = {}
  for f in list:gmatch("[^,]+") do
    f = f:match("^%s*(.-)%s*$")
    if f == "" or f:find("[%s%(]") then return nil end -- expressions: let the data decide
    out[#out + 1] = f
  end
  return #out > 0 and out or nil
end

local Writer = {}
Writer.__index = Writer

--- A writer of `format` ("json", "jsonl", "csv") to the file handle `fh`. `opts.columns`: CSV
-- columns in order (matched to record keys ignoring case); otherwise the first record's keys, sorted.
-- `opts.csv_safe`: text cells starting like a spreadsheet formula are neutralised (M.csv_safe).
function M.new(format, fh, opts)
  if not M.FORMATS[format] then error("unknown format " .. tostring(format), 2) end
  return setmetatable({ format = format, fh = fh, rows = 0, bytes = 0, columns = opts and opts.columns,
    alias = {}, safe = opts and opts.csv_safe or false },
    Writer)
end

function Writer:emit(s)
  local ok, err = self.fh:write(s)
  if not ok then error("write failed: " .. tostring(err), 0) end
  self.bytes = self.bytes + #s
end

-- The value of `column` in `rec`: ZOQL answers with the object's own casing of a field (and leaves
-- null fields out), so a column spelled differently is matched ignoring case, once.
function Writer:cell(rec, column)
  local v = rec[column]
  if v ~= nil then return v end
  local alias = self.alias[column]
  if alias then return rec[alias] end
  local want = column:lower()
  for k, val in pairs(rec) do
    if type(k) == "string" and k:lower() == want then
      self.alias[column] = k
      return val
    end
  end
  return nil
end

--- Writes one record (a table).
function Writer:write(rec)
  local f = self.format
  if f == "json" then
    self:emit((self.rows == 0 and "[\n" or ",\n") .. encode(rec))
  elseif f == "jsonl" then
    self:emit(encode(rec) .. "\n")
  else
    if not self.header then
      local cols = self.columns
      if not cols then
        cols = {}
        for k in pairs(rec) do if type(k) == "string" then cols[#cols + 1] = k end end
        table.sort(cols)
      end
      self.header = cols
      local cells = {}
      for i, c in ipairs(cols) do cells[i] = csv_cell(c, self.safe) end
      self:emit(table.concat(cells, ",") .. "\r\n")
    end
    local cells = {}
    for i, c in ipairs(self.header) do cells[i] = csv_cell(self:cell(rec, c), self.safe) end
    self:emit(table.concat(cells, ",") .. "\r\n")
  end
  self.rows = self.rows + 1
end

--- Finishes the output (closes the JSON array; a CSV with no rows still gets its header when the
-- columns are known).
function Writer:close()
  if self.format == "json" then
    self:emit(self.rows == 0 and "[]\n" or "\n]\n")
  elseif self.format == "csv" and not self.header and self.columns then
    local cells = {}
    for i, c in ipairs(self.columns) do cells[i] = csv_cell(c, self.safe) end
    self:emit(table.concat(cells, ",") .. "\r\n")
  end
  local ok, err = self.fh:flush() -- a small output meets a full disk only here
  if ok == nil and err ~= nil then error("write failed: " .. tostring(err), 0) end
end

local function shell_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local Atomic = {}
Atomic.__index = Atomic

--- A file written whole or not at all, as `call -o` writes one: `path`'s folder gets a temporary
-- file (mode 0600, from mktemp) that `commit()` renames over `path`; `abort()` removes it, leaving
-- what was at `path` untouched. Returns `{ fh =, tmp =, path = }` or nil, message.
function M.atomic(path)
  local probe = io.open(path, "rb")
  if probe then
    local _, rerr = probe:read(0)
    probe:close()
    if rerr then return nil, rerr end -- a directory, say
  end
  local dir, base = path:match("^(.*)/([^/]+)$")
  if not dir then dir, base = ".", path end
  if dir == "" then dir = "/" end
  local p = io.popen("mktemp " .. shell_quote(dir .. "/." .. base .. ".XXXXXX") .. " 2>&1")
  local tmp = p and p:read("a") or ""
  local ok = p and p:close()
  tmp = tmp:gsub("%s+$", "")
  if not ok then
    local why = tmp:match(": ([^:]+)$")
    return nil, "cannot create a file in " .. dir .. (why and (": " .. why) or "")
  end
  local fh, err = io.open(tmp, "wb")
  if not fh then
    os.remove(tmp)
    return nil, err
  end
  return setmetatable({ fh = fh, tmp = tmp, path = path }, Atomic)
end

--- Closes the temporary file and renames it to the target; true or nil, message (then removed).
function Atomic:commit()
  local ok, err = self.fh:close()
  if ok then ok, err = os.rename(self.tmp, self.path) end
  if not ok then
    os.remove(self.tmp)
    return nil, "cannot write " .. self.path .. ": " .. tostring(err)
  end
  return true
end

--- Drops the temporary file; the target keeps what it held.
function Atomic:abort()
  pcall(self.fh.close, self.fh)
  os.remove(self.tmp)
end

M.csv_cell = csv_cell
return M
