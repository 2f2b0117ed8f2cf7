--- zuora-sim's JSON codec: exact with numbers.
--
-- The simulator must never round a money amount or an id, and OpenResty's cjson decodes every
-- number into a double. This codec keeps each number as its decimal text:
--   decode('{"amount": 10.10}').amount  --> a json.number whose text is "10.10"
--   encode{amount = json.number("10.10")} --> '{"amount":10.10}'
-- Other values: objects are tables that remember their key order (encode writes keys in that
-- order, then any others sorted); arrays carry json.array_mt so an empty one encodes as `[]`;
-- `json.null` stands for null. Plain Lua numbers encode as integers when integral (and exact),
-- otherwise with 17 significant digits. Works on Lua 5.1 (LuaJIT) and 5.4.
local M = {}

local concat, sort, byte, char, sub, find, format =
  table.concat, table.sort, string.byte, string.char, string.sub, string.find, string.format
local floor = math.floor

local NUM = { __name = "json.number" }
NUM.__index = NUM
NUM.__tostring = function(n) return n[1] end
NUM.__eq = function(a, b) return a[1] == b[1] end

M.null = setmetatable({}, { __tostring = function() return "null" end, __name = "json.null" })
M.array_mt = { __name = "json.array" }

--- A JSON number written exactly as `text` (a string of JSON number syntax, or a Lua number).
function M.number(text)
  if type(text) == "number" then text = M.format_number(text) end
  assert(type(text) == "string" and find(text, "^%-?%d+%.?%d*[eE]?[-+]?%d*$"), "json.number: bad number text")
  return setmetatable({ text }, NUM)
end

function M.is_number(v) return getmetatable(v) == NUM end

--- The decimal text of a json.number, a Lua number or a numeric string; nil for anything else.
function M.number_text(v)
  if getmetatable(v) == NUM then return v[1] end
  if type(v) == "number" then return M.format_number(v) end
  if type(v) == "string" and find(v, "^%s*%-?%d+%.?%d*%s*$") then return (v:gsub("%s", "")) end
  return nil
end

--- A Lua value for a json.number (or pass-through for plain numbers); lossy for huge values.
function M.tonumber(v)
  if getmetatable(v) == NUM then return tonumber(v[1]) end
  return tonumber(v)
end

--- Marks `t` as an array (so an empty one encodes as []).
function M.array(t) return setmetatable(t or {}, M.array_mt) end

--- An object whose keys encode in the given order: json.object("a", 1, "b", 2).
-- A nil value is skipped; use json.null for an explicit null.
function M.object(...)
  local t, order = {}, {}
  local n = select("#", ...)
  for i = 1, n, 2 do
    local k, v = select(i, ...)
    if v ~= nil then
      t[k] = v
      order[#order + 1] = k
    end
  end
  return setmetatable(t, { __order = order })
end

function M.format_number(x)
  if x ~= x or x == math.huge or x == -math.huge then error("json: cannot encode NaN or infinity", 0) end
  if floor(x) == x and x >= -9007199254740992 and x <= 9007199254740992 then
    return format("%.0f", x)
  end
  return format("%.17g", x)
end

-- Encoding ------------------------------------------------------------------------------------

local escapes = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f", ["\n"] = "\\n",
  ["\r"] = "\\r", ["\t"] = "\\t" }
local function escape_char(c) return escapes[c] or format("\\u%04x", byte(c)) end
local function quote(s) return '"' .. s:gsub('[%c"\\]', escape_char) .. '"' end
M.quote = quote

local function is_array(t)
  local mt = getmetatable(t)
  if mt == M.array_mt then return true end
  if mt and mt.__order then return false end
  if t[1] ~= nil then return true end
  return false
end

local encode_value

local function encode_table(t, out, depth)
  if depth > 200 then error("json: nesting too deep (cycle?)", 0) end
  if is_array(t) then
    local n = #t
    out[#out + 1] = "["
    for i = 1, n do
      if i > 1 then out[#out + 1] = "," end
      encode_value(t[i], out, depth + 1)
    end
    out[#out + 1] = "]"
    return
  end
  local mt = getmetatable(t)
  local keys, seen = {}, {}
  if mt and mt.__order then
    for _, k in ipairs(mt.__order) do
      if t[k] ~= nil and not seen[k] then keys[#keys + 1] = k; seen[k] = true end
    end
  end
  local rest = {}
  for k in pairs(t) do
    if not seen[k] then
      if type(k) ~= "string" then error("json: object key is not a string: " .. tostring(k), 0) end
      rest[#rest + 1] = k
    end
  end
  sort(rest)
  for _, k in ipairs(rest) do keys[#keys + 1] = k end
  out[#out + 1] = "{"
  for i, k in ipairs(keys) do
    if i > 1 then out[#out + 1] = "," end
    out[#out + 1] = quote(k)
    out[#out + 1] = ":"
    encode_value(t[k], out, depth + 1)
  end
  out[#out + 1] = "}"
end

encode_value = function(v, out, depth)
  local tv = type(v)
  if tv == "string" then
    out[#out + 1] = quote(v)
  elseif tv == "number" then
    out[#out + 1] = M.format_number(v)
  elseif tv == "boolean" then
    out[#out + 1] = v and "true" or "false"
  elseif v == nil or v == M.null then
    out[#out + 1] = "null"
  elseif tv == "table" then
    if getmetatable(v) == NUM then out[#out + 1] = v[1] else encode_table(v, out, depth) end
  elseif tv == "userdata" and tostring(v):find("^userdata: NULL") then
    out[#out + 1] = "null" -- ngx.null / cjson.null
  else
    error("json: cannot encode a " .. tv, 0)
  end
end

--- Encodes a Lua value; raises on values JSON cannot hold.
function M.encode(v)
  local out = {}
  encode_value(v, out, 0)
  return concat(out)
end

-- Decoding ------------------------------------------------------------------------------------

local function decode_error(s, pos, msg)
  local line = 1
  for _ in sub(s, 1, pos):gmatch("\n") do line = line + 1 end
  error({ json_error = format("%s at line %d (byte %d)", msg, line, pos) }, 0)
end

local function skip(s, pos)
  local _, e = find(s, "^[ \t\r\n]*", pos)
  return e + 1
end

local function utf8_char(cp)
  if cp < 0x80 then return char(cp) end
  if cp < 0x800 then return char(0xC0 + floor(cp / 64), 0x80 + cp % 64) end
  if cp < 0x10000 then
    return char(0xE0 + floor(cp / 4096), 0x80 + floor(cp / 64) % 64, 0x80 + cp % 64)
  end
  return char(0xF0 + floor(cp / 262144), 0x80 + floor(cp / 4096) % 64, 0x80 + floor(cp / 64) % 64, 0x80 + cp % 64)
end

local decode_value

local function decode_string(s, pos)
  -- pos is at the opening quote
  local parts, i = {}, pos + 1
  while true do
    local a, b = find(s, '^[^"\\%c]+', i)
    if a then parts[#parts + 1] = sub(s, a, b); i = b + 1 end
    local c = sub(s, i, i)
    if c == '"' then return concat(parts), i + 1 end
    if c == "" then decode_error(s, i, "unterminated string") end
    if c == "\\" then
      local e = sub(s, i + 1, i + 1)
      local simple = ({ ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" })[e]
      if simple then
        parts[#parts + 1] = simple
        i = i + 2
      elseif e == "u" then
        local hex = sub(s, i + 2, i + 5)
        if not find(hex, "^%x%x%x%x$") then decode_error(s, i, "bad \\u escape") end
        local cp = tonumber(hex, 16)
        i = i + 6
        if cp >= 0xD800 and cp <= 0xDBFF then
          local lo = sub(s, i, i + 5)
          if find(lo, "^\\u[dD][c-fC-F]%x%x$") then
            cp = 0x10000 + (cp - 0xD800) * 1024 + (tonumber(sub(lo, 3), 16) - 0xDC00)
            i = i + 6
          else
            decode_error(s, i, "lone surrogate")
          end
        elseif cp >= 0xDC00 and cp <= 0xDFFF then
          decode_error(s, i, "lone surrogate")
        end
        parts[#parts + 1] = utf8_char(cp)
      else
        decode_error(s, i, "bad escape")
      end
    else
      decode_error(s, i, "control character in string")
    end
  end
end

local function decode_array(s, pos, depth)
  local arr, n = setmetatable({}, M.array_mt), 0
  pos = skip(s, pos + 1)
  if sub(s, pos, pos) == "]" then return arr, pos + 1 end
  while true do
    local v
    v, pos = decode_value(s, pos, depth + 1)
    n = n + 1
    arr[n] = v
    pos = skip(s, pos)
    local c = sub(s, pos, pos)
    if c == "]" then return arr, pos + 1 end
    if c ~= "," then decode_error(s, pos, "expected ',' or ']'") end
    pos = skip(s, pos + 1)
  end
end

local function decode_object(s, pos, depth)
  local order = {}
  local obj = setmetatable({}, { __order = order })
  pos = skip(s, pos + 1)
  if sub(s, pos, pos) == "}" then return obj, pos + 1 end
  while true do
    if sub(s, pos, pos) ~= '"' then decode_error(s, pos, "expected a string key") end
    local k
    k, pos = decode_string(s, pos)
    pos = skip(s, pos)
    if sub(s, pos, pos) ~= ":" then decode_error(s, pos, "expected ':'") end
    local v
    v, pos = decode_value(s, skip(s, pos + 1), depth + 1)
    if obj[k] == nil then order[#order + 1] = k end
    obj[k] = v
    pos = skip(s, pos)
    local c = sub(s, pos, pos)
    if c == "}" then return obj, pos + 1 end
    if c ~= "," then decode_error(s, pos, "expected ',' or '}'") end
    pos = skip(s, pos + 1)
  end
end

decode_value = function(s, pos, depth)
  if depth > 512 then decode_error(s, pos, "nesting too deep") end
  local c = sub(s, pos, pos)
  if c == "{" then return decode_object(s, pos, depth) end
  if c == "[" then return decode_array(s, pos, depth) end
  if c == '"' then return decode_string(s, pos) end
  if c == "t" and sub(s, pos, pos + 3) == "true" then return true, pos + 4 end
  if c == "f" and sub(s, pos, pos + 4) == "false" then return false, pos + 5 end
  if c == "n" and sub(s, pos, pos + 3) == "null" then return M.null, pos + 4 end
  local a, b = find(s, "^%-?%d+%.?%d*[eE]?[-+]?%d*", pos)
  if a then
    local text = sub(s, a, b)
    if not find(text, "^%-?0$") and not find(text, "^%-?0[%.eE]") and find(text, "^%-?0") then
      decode_error(s, pos, "leading zero in number")
    end
    if find(text, "%.$") or find(text, "%.[eE]") or find(text, "[eE][-+]?$") then
      decode_error(s, pos, "malformed number")
    end
    return setmetatable({ text }, NUM), b + 1
  end
  decode_error(s, pos, c == "" and "unexpected end of input" or ("unexpected character '" .. c .. "'"))
end

--- Decodes JSON text. Returns the value, or nil and a message.
function M.decode(s)
  if type(s) ~= "string" then return nil, "json: expected a string" end
  local ok, v, pos = pcall(function()
    local v, pos = decode_value(s, skip(s, 1), 0)
    return v, skip(s, pos)
  end)
  if not ok then
    if type(v) == "table" and v.json_error then return nil, v.json_error end
    error(v, 0)
  end
  if pos <= #s then return nil, format("trailing garbage at byte %d", pos) end
  return v
end

--- A plain-Lua copy of a decoded value for display: numbers become Lua numbers (lossy!).
function M.plain(v)
  if type(v) ~= "table" then return v end
  if getmetatable(v) == NUM then return tonumber(v[1]) end
  local t = {}
  for k, x in pairs(v) do t[k] = M.plain(x) end
  return t
end

--- True if `s` is valid UTF-8.
function M.valid_utf8(s)
  local i, n = 1, #s
  while i <= n do
    local c = byte(s, i)
    local len
    if c < 0x80 then len = 1
    elseif c >= 0xC2 and c <= 0xDF then len = 2
    elseif c >= 0xE0 and c <= 0xEF then len = 3
    elseif c >= 0xF0 and c <= 0xF4 then len = 4
    else return false end
    for j = i + 1, i + len - 1 do
      local d = byte(s, j)
      if not d or d < 0x80 or d > 0xBF then return false end
    end
    i = i + len
  end
  return true
end

return M
