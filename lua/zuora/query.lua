--- ZOQL queries through the Actions API: `client:query(zoql, ...)` binds `?` placeholders and
-- iterates the records of `/v1/action/query`, then `/v1/action/queryMore` with the queryLocator
-- until Zuora says `done`.
--
--   for acc in client:query("select Id, Name from Account where Name = ? and Balance > ?", name, 0) do
--     print(acc.Id, acc.Name)
--   end
--
-- Binding (DESIGN.md): a string becomes a single-quoted ZOQL literal in which `'` and `\` are
-- escaped with a backslash; a number is written plainly (integers exactly, other numbers in the
-- shortest form that reads back to the same double, never with an exponent), and so is a
-- zuora.decimal (its digits as they are); a boolean is
-- `true`/`false`; anything else (nil, tables, json.null, NaN, infinities) raises. A `?` inside a
-- quoted literal of the template is text, not a placeholder.
local paginate = require "zuora.paginate"

local unpack = table.unpack or unpack -- luacheck: ignore 143

local M = {}

local byte, sub, concat = string.byte, string.sub, table.concat
local QUOTE, BACKSLASH, QMARK = 39, 92, 63

--- A number as ZOQL text, or nil, why.
local function plain_number(v)
  if v ~= v or v == math.huge or v == -math.huge then return nil, "NaN and infinities have no ZOQL form" end
  if math.type and math.type(v) == "integer" then return string.format("%d", v) end
  if v == math.floor(v) and v > -2 ^ 53 and v < 2 ^ 53 then return string.format("%.0f", v) end
  local s
  for digits = 15, 17 do
    s = string.format("%." .. digits .. "g", v)
    if tonumber(s) == v then break end
  end
  -- Expand an exponent: mantissa digits shifted by the exponent, so ZOQL sees a plain decimal.
  local sign, int, frac, exp = s:match("^(%-?)(%d+)%.?(%d*)[eE]([-+]%d+)$")
  if not sign then return s end
  local digits, point = int .. frac, #int + tonumber(exp)
  if point <= 0 then
    s = "0." .. string.rep("0", -point) .. digits
  elseif point >= #digits then
    s = digits .. string.rep("0", point - #digits)
  else
    s = sub(digits, 1, point) .. "." .. sub(digits, point + 1)
  end
  s = s:gsub("^0+(%d)", "%1")
  if s:find("%.") then s = s:gsub("0+$", ""):gsub("%.$", "") end
  return sign .. s
end

--- One value as a ZOQL literal; raises (at `level`) for values that have none.
function M.literal(v, level)
  local t = type(v)
  if t == "string" then
    return "'" .. v:gsub("[\\']", "\\%0") .. "'"
  elseif t == "number" then
    local s, why = plain_number(v)
    if not s then error("zoql: cannot bind " .. tostring(v) .. ": " .. why, (level or 1) + 1) end
    return s
  elseif t == "boolean" then
    return v and "true" or "false"
  elseif t == "userdata" and require("zuora.core").decimal.is(v) then
    return tostring(v) -- a zuora.decimal: its digits, plainly
  end
  error("zoql: cannot bind a " .. t .. " value (strings, numbers, decimals and booleans only)", (level or 1) + 1)
end

--- `zoql` with its `?` placeholders replaced by the literals of the values given. Raises when
-- the number of values differs from the number of placeholders, or a value cannot be bound.
function M.bind(zoql, ...)
  if type(zoql) ~= "string" then error("zoql: the query must be a string", 2) end
  local n = select("#", ...)
  local out, k, start, i, len = {}, 0, 1, 1, #zoql
  local used = 0
  while i <= len do
    local c = byte(zoql, i)
    if c == QUOTE then
      -- Skip a literal: up to the next unescaped quote.
      i = i + 1
      while i <= len do
        local d = byte(zoql, i)
        if d == BACKSLASH then
          i = i + 2
        elseif d == QUOTE then
          break
        else
          i = i + 1
        end
      end
      if i > len then error("zoql: unterminated string literal in the query", 2) end
    elseif c == QMARK then
      used = used + 1
      if used > n then
        error(("zoql: the query has more placeholders than the %d value%s given"):format(n, n == 1 and "" or "s"), 2)
      end
      k = k + 1
      out[k] = sub(zoql, start, i - 1)
      k = k + 1
      out[k] = M.literal((select(used, ...)), 2)
      start = i + 1
    end
    i = i + 1
  end
  if used < n then
    error(("zoql: %d value%s given for %d placeholder%s"):format(n, n == 1 and "" or "s", used,
      used == 1 and "" or "s"), 2)
  end
  k = k + 1
  out[k] = sub(zoql, start)
  return concat(out)
end

local QUERY_OPTIONS = { zoql = "string", args = "table", batch_size = "number", on_progress = "function",
  headers = "table", zuora_version = "string", timeout = "number", max_empty_pages = "number" }

--- The pager behind client:query. `q` is a ZOQL string (with values for its placeholders), or a
-- table {zoql, args = {...}, batch_size, on_progress, headers, zuora_version, timeout,
-- max_empty_pages (zuora.paginate: batches in a row without records before a `loop` error)}.
function M.pager(client, level, q, ...)
  level = (level or 1) + 1
  local spec
  if type(q) == "table" then
    if select("#", ...) > 0 then error("query: give the values in args when the query is a table", level) end
    for k, v in pairs(q) do
      local want = QUERY_OPTIONS[k]
      if not want then error("query: unknown option " .. tostring(k), level) end
      if type(v) ~= want then error(("query: option %s must be a %s, got %s"):format(k, want, type(v)), level) end
    end
    if not q.zoql then error("query: zoql is missing", level) end
    spec = q
  elseif type(q) == "string" then
    spec = { zoql = q }
  else
    error("query: expected a ZOQL string or an options table, got " .. type(q), level)
  end
  local ok, text
  if spec.args then
    ok, text = pcall(M.bind, spec.zoql, unpack(spec.args, 1, spec.args.n or #spec.args))
  else
    ok, text = pcall(M.bind, spec.zoql, ...)
  end
  if not ok then error((tostring(text):gsub("^[^\n]-:%d+: ", "")), level) end
  local body = { queryString = text }
  if spec.batch_size then
    if spec.batch_size < 1 or spec.batch_size > 2000 or spec.batch_size % 1 ~= 0 then
      error("query: batch_size must be an integer from 1 to 2000", level)
    end
    body.conf = { batchSize = math.floor(spec.batch_size) }
  end
  return paginate.request_pages(client, "POST", "/v1/action/query", {
    body = body, headers = spec.headers, zuora_version = spec.zuora_version, timeout = spec.timeout,
    op = { group = "actions", name = "query" },
  }, { items = "records", on_progress = spec.on_progress, kind = "query", name = "query",
    max_empty_pages = spec.max_empty_pages })
end

--- client:query(zoql, ...): iterator over the records; raises a zuora.Error when a batch fails
-- (a malformed query, an expired queryLocator, a transport failure after retries).
function M.iter(client, q, ...)
  return M.pager(client, 2, q, ...):each()
end

M.plain_number = plain_number

return M
