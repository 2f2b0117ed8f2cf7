--- Small helpers shared by zuora-sim's handlers: dates, globs, percent-decoding, copies.
-- Pure Lua (5.1 and 5.4), so specs can load it outside nginx.
local M = {}

local floor = math.floor

-- Dates: civil <-> day numbers (days since 1970-01-01), no time zones involved.
local function days_from_civil(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = floor(y / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

local function civil_from_days(z)
  z = z + 719468
  local era = floor(z / 146097)
  local doe = z - era * 146097
  local yoe = floor((doe - floor(doe / 1460) + floor(doe / 36524) - floor(doe / 146096)) / 365)
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + floor(yoe / 4) - floor(yoe / 100))
  local mp = floor((5 * doy + 2) / 153)
  local d = doy - floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  return m <= 2 and y + 1 or y, m, d
end

local function is_leap(y) return (y % 4 == 0 and y % 100 ~= 0) or y % 400 == 0 end
local MDAYS = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }
local function month_days(y, m) return (m == 2 and is_leap(y)) and 29 or MDAYS[m] end

--- Parses "YYYY-MM-DD" (a time part after it is ignored); nil for anything else.
function M.parse_date(s)
  if type(s) ~= "string" then return nil end
  local y, m, d = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)")
  y, m, d = tonumber(y), tonumber(m), tonumber(d)
  if not y or m < 1 or m > 12 or d < 1 or d > month_days(y, m) then return nil end
  return y, m, d
end

function M.valid_date(s) return M.parse_date(s) ~= nil end

local function fmt(y, m, d) return string.format("%04d-%02d-%02d", y, m, d) end

function M.add_days(s, n)
  local y, m, d = M.parse_date(s)
  return fmt(civil_from_days(days_from_civil(y, m, d) + n))
end

--- Adds months, clamping the day to the month's end (Jan 31 + 1 month = Feb 28/29).
-- `anchor_day` keeps the original day across short months (Jan 31 -> Feb 29 -> Mar 31).
function M.add_months(s, n, anchor_day)
  local y, m, d = M.parse_date(s)
  d = anchor_day or d
  local total = y * 12 + (m - 1) + n
  local ny, nm = floor(total / 12), total % 12 + 1
  return fmt(ny, nm, math.min(d, month_days(ny, nm)))
end

function M.days_between(a, b)
  local ay, am, ad = M.parse_date(a)
  local by, bm, bd = M.parse_date(b)
  return days_from_civil(by, bm, bd) - days_from_civil(ay, am, ad)
end

--- Months in a billing period name; nil for week-based periods.
M.PERIOD_MONTHS = { Month = 1, Quarter = 3, Semi_Annual = 6, ["Semi-Annual"] = 6, Annual = 12,
  Eighteen_Months = 18, Two_Years = 24, Three_Years = 36, Five_Years = 60 }

--- The end (exclusive) of a period starting at `start`.
function M.period_end(start, period, anchor_day)
  if period == "Week" then return M.add_days(start, 7) end
  return M.add_months(start, M.PERIOD_MONTHS[period] or 1, anchor_day)
end

--- Adds a term (`n` of "Month", "Year", "Day", "Week") to a date.
function M.add_term(s, n, period_type)
  if period_type == "Year" then return M.add_months(s, 12 * n) end
  if period_type == "Day" then return M.add_days(s, n) end
  if period_type == "Week" then return M.add_days(s, 7 * n) end
  return M.add_months(s, n)
end

--- Glob match over a whole string: `*` matches within a path segment, `**` across segments.
function M.glob(pattern, s)
  if pattern == nil or pattern == "" or pattern == "**" then return true end
  local p = pattern:gsub("[%^%$%(%)%%%.%[%]%+%-%?]", "%%%0")
  p = p:gsub("%*%*", "\1"):gsub("%*", "[^/]*"):gsub("\1", ".*")
  return s:find("^" .. p .. "$") ~= nil
end

--- A random version-4 UUID (request ids, record ids).
function M.uuid()
  local t = {}
  for i = 1, 32 do t[i] = string.format("%x", math.random(0, 15)) end
  local s = table.concat(t)
  return s:sub(1, 8) .. "-" .. s:sub(9, 12) .. "-4" .. s:sub(14, 16) .. "-a" .. s:sub(18, 20) .. "-" .. s:sub(21, 32)
end

function M.unescape(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

function M.escape(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

--- Parses a raw query string into { name = value | {values...} } and an ordered list of pairs.
function M.parse_query(q)
  local t, pairs_list = {}, {}
  if not q or q == "" then return t, pairs_list end
  for part in q:gmatch("[^&]+") do
    local k, v = part:match("^([^=]*)=?(.*)$")
    k = M.unescape((k:gsub("%+", " ")))
    v = M.unescape((v:gsub("%+", " ")))
    pairs_list[#pairs_list + 1] = { k, v }
    local old = t[k]
    if old == nil then t[k] = v
    elseif type(old) == "table" then old[#old + 1] = v
    else t[k] = { old, v } end
  end
  return t, pairs_list
end

--- All values of a query key as a list (for repeated keys such as filter[]).
function M.query_list(q, key)
  local v = q[key]
  if v == nil then return {} end
  if type(v) == "table" then return v end
  return { v }
end

function M.shallow_copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return setmetatable(c, getmetatable(t))
end

function M.deep_copy(t)
  if type(t) ~= "table" then return t end
  local c = {}
  for k, v in pairs(t) do c[k] = M.deep_copy(v) end
  return setmetatable(c, getmetatable(t))
end

--- Case-insensitive key lookup in a table: returns the value and the key as stored.
function M.iget(t, name)
  if t[name] ~= nil then return t[name], name end
  local lname = name:lower()
  for k, v in pairs(t) do
    if type(k) == "string" and k:lower() == lname then return v, k end
  end
  return nil
end

function M.upper_first(s) return (s:gsub("^%l", string.upper)) end
function M.lower_first(s) return (s:gsub("^%u", string.lower)) end

return M
