--- A synthetic Data Query table for benchmarks: `SELECT * FROM sim_synthetic LIMIT n` completes at
-- once with n generated rows, and the result file is generated while it is served (streamed in
-- chunks, gzip-compressed on the fly when asked), so a result of millions of rows costs the
-- simulator no memory. Rows are fixed-width, so an uncompressed file's length is known up front.
--
-- Columns: id (32 hex digits), account (A + 8 digits), amount (a decimal with 2 places, a JSON
-- number), note (text with a comma and double quotes, so CSV quoting and JSON escapes are used).
-- A JSON line is 107 bytes, a CSV line 72: a million rows make about 107 MB of JSON lines.
--
-- `sim_synthetic_dated` is the same rows with an `updateddate` column, for incremental syncs:
-- the table holds `synthetic_rows` rows (a setting, PUT /__sim/config), row i updated at
-- DATED_BASE + (i - 1) seconds, and `WHERE updateddate >= timestamp '...' AND updateddate <
-- timestamp '...'` selects the rows of that window (generated, like the plain table).
local M = {}

M.DATED_BASE = "2020-01-01 00:00:00"
local DATED_EPOCH = 1577836800 -- DATED_BASE in seconds since 1970

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

-- The row's updateddate; os.date once a minute (it is the slow part of a generated row).
local minute_of, minute_text = nil, nil
local function dated(i)
  local t = DATED_EPOCH + i - 1
  local m = math.floor(t / 60)
  if m ~= minute_of then minute_of, minute_text = m, os.date("!%Y-%m-%d %H:%M:", m * 60) end
  return string.format("%s%02d", minute_text, t % 60)
end

local function json_row(i, with_date)
  local id, acct, amount, note = values(i)
  if with_date then
    return string.format('{"id":"%s","account":"%s","amount":%s,"note":"%s","updateddate":"%s"}\n', id, acct,
      amount, (note:gsub('"', '\\"')), dated(i))
  end
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

local function delimited_row(i, sep, q, with_date)
  local a, b, c, d = values(i)
  return cell(a, q[1]) .. sep .. cell(b, q[2]) .. sep .. cell(c, q[3]) .. sep .. cell(d, q[4])
    .. (with_date and (sep .. dated(i)) or "") .. "\n"
end

local function header(spec)
  if spec.format == "JSON" then return "" end
  return table.concat(M.COLUMNS, spec.sep) .. (spec.dated and (spec.sep .. "updateddate") or "") .. "\n"
end

local function row(spec, i)
  if spec.format == "JSON" then return json_row(i, spec.dated) end
  spec.quoting = spec.quoting or quoting(spec.sep)
  return delimited_row(i, spec.sep, spec.quoting, spec.dated)
end

--- The byte length of the uncompressed file (every row has the same width).
function M.length(spec)
  if spec.rows == 0 then return #header(spec) end
  return #header(spec) + spec.rows * #row(spec, 1)
end

--- For a parsed query on sim_synthetic_dated holding `total` rows: the first row index and the
-- number of rows its updateddate window selects; nil when the table is another.
function M.dated_range(q, total)
  if q.object:lower() ~= "sim_synthetic_dated" then return nil end
  local lo, hi = 1, total
  local function bound(e)
    if not e then return end
    if e.op == "and" then bound(e[1]); bound(e[2]); return end
    if not (e.field and e.field:lower() == "updateddate" and e.lit and e.lit.kind == "string") then
      error("sim_synthetic_dated: only updateddate >=, >, <, <= conditions joined by AND", 0)
    end
    local y, mo, d, h, mi, s = e.lit.value:match("^(%d+)%-(%d+)%-(%d+) (%d+):(%d+):(%d+)$")
    if not y then error("sim_synthetic_dated: bad timestamp " .. e.lit.value, 0) end
    local t = os.time{ year = y, month = mo, day = d, hour = h, min = mi, sec = s, isdst = false }
      - os.time{ year = 2020, month = 1, day = 1, hour = 0, isdst = false }
    local i = t + 1 -- the row updated at that second
    if e.op == ">=" then lo = math.max(lo, i) elseif e.op == ">" then lo = math.max(lo, i + 1)
    elseif e.op == "<" then hi = math.min(hi, i - 1) elseif e.op == "<=" then hi = math.min(hi, i)
    else error("sim_synthetic_dated: only updateddate >=, >, <, <=", 0) end
  end
  bound(q.where)
  return lo, math.max(0, hi - lo + 1)
end

--- Calls emit(text) with consecutive pieces of the uncompressed file.
function M.generate(spec, emit)
  local h = header(spec)
  if h ~= "" then emit(h) end
  local first = spec.first or 1
  local i = first
  local stop = first + spec.rows - 1
  while i <= stop do
    local last = math.min(stop, i + ROWS_PER_CHUNK - 1)
    local parts = {}
    for k = i, last do parts[#parts + 1] = row(spec, k) end
    emit(table.concat(parts))
    i = last + 1
  end
end

return M
