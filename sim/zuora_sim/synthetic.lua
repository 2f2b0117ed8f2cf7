--- A synthetic Data Query table for benchmarks: `SELECT * FROM sim_synthetic LIMIT n` completes at
-- once with n generated rows, and the result file is generated while it is served (streamed in
-- chunks, gzip-compressed on the fly when asked), so a result of millions of rows costs the
-- simulator no memory. Rows are fixed-width, so an uncompressed file's length is known up front.
--
-- Columns: id (32 hex digits), account (A + 8 digits), amount (a decimal with 2 places, a JSON
-- number), note (text with a comma and double quotes, so CSV quoting and JSON escapes are used).
-- A JSON line is 107 bytes, a CSV line 72: a million rows make about 107 MB of JSON lines.
local M = {}

M.MAX_ROWS = 50000000
M.COLUMNS = { "id", "account", "amount", "note" }
-- The characters each column can hold: a column needs CSV quoting only if the separator is one.
local CHARSETS = { "[0-9a-f]", "[A0-9]", "[0-9.]" }

local ROWS_PER_CHUNK = 2048

--- The row count of a synthetic query, or nil when `query` is not one.
function M.rows_of(query)
  local n = query:lower():match("^%s*select%s+%*%s+from%s+sim_synthetic%s+limit%s+(%d+)%s*;?%s*$")
  return n and tonumber(n) or nil
end

local function values(i)
  return string.format("8ad0b000%024d", i), string.format("A%08d", i),
    string.format("%d.%02d", 1000 + (i * 37) % 9000, i % 100), string.format('r %08d, "q"', i)
end

local function json_row(i)
  local id, acct, amount, note = values(i)
  return string.format('{"id":"%s","account":"%s","amount":%s,"note":"%s"}\n', id, acct, amount,
    (note:gsub('"', '\\"')))
end

-- Which columns need quoting with this separator (the note always does: it holds quotes).
local function quoting(sep)
  local q = {}
  for k, set in ipairs(CHARSETS) do q[k] = sep:find(set) ~= nil end
  q[4] = true
  return q
end

local function cell(v, quoted)
  if quoted then return '"' .. v:gsub('"', '""') .. '"' end
  return v
end

local function delimited_row(i, sep, q)
  local a, b, c, d = values(i)
  return cell(a, q[1]) .. sep .. cell(b, q[2]) .. sep .. cell(c, q[3]) .. sep .. cell(d, q[4]) .. "\n"
end

local function header(spec)
  if spec.format == "JSON" then return "" end
  return table.concat(M.COLUMNS, spec.sep) .. "\n"
end

local function row(spec, i)
  if spec.format == "JSON" then return json_row(i) end
  spec.quoting = spec.quoting or quoting(spec.sep)
  return delimited_row(i, spec.sep, spec.quoting)
end

--- The byte length of the uncompressed file (every row has the same width).
function M.length(spec)
  if spec.rows == 0 then return #header(spec) end
  return #header(spec) + spec.rows * #row(spec, 1)
end

--- Calls emit(text) with consecutive pieces of the uncompressed file.
function M.generate(spec, emit)
  local h = header(spec)
  if h ~= "" then emit(h) end
  local i = 1
  while i <= spec.rows do
    local last = math.min(spec.rows, i + ROWS_PER_CHUNK - 1)
    local parts = {}
    for k = i, last do parts[#parts + 1] = row(spec, k) end
    emit(table.concat(parts))
    i = last + 1
  end
end

return M
