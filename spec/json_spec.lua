-- zuora.json (core.json): exact, strict JSON. Blocks tagged #luajit also run under OpenResty's
-- LuaJIT (`make test-luajit`), where every number is a double.
local json = require("zuora.core").json
local cjson = require "cjson"

local HAS_INT = math.type ~= nil

local function is_int(v) return HAS_INT and math.type(v) == "integer" end

-- Bit-exact equality of two doubles (distinguishes 0.0 from -0.0).
local function same_double(a, b)
  return a == b and (a ~= 0 or 1 / a == 1 / b)
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local function ls(dir)
  local out = {}
  local p = io.popen("ls -1 " .. dir .. " 2>/dev/null | LC_ALL=C sort")
  for name in p:lines() do out[#out + 1] = dir .. "/" .. name end
  p:close()
  return out
end

-- Deep equality that also checks number subtypes and array marks.
local function deep_same(a, b, path)
  path = path or "value"
  if type(a) ~= type(b) then return false, path .. ": " .. type(a) .. " vs " .. type(b) end
  if type(a) == "number" then
    if is_int(a) ~= is_int(b) then return false, path .. ": integer vs float" end
    if not same_double(a, b) then return false, path .. ": " .. tostring(a) .. " vs " .. tostring(b) end
    return true
  end
  if type(a) ~= "table" then
    if a ~= b then return false, path .. ": " .. tostring(a) .. " vs " .. tostring(b) end
    return true
  end
  if getmetatable(a) ~= getmetatable(b) then return false, path .. ": metatables differ" end
  for k, v in pairs(a) do
    local ok, err = deep_same(v, b[k], path .. "." .. tostring(k))
    if not ok then return false, err end
  end
  for k in pairs(b) do
    if a[k] == nil then return false, path .. "." .. tostring(k) .. ": missing" end
  end
  return true
end

describe("zuora.json module #luajit", function()
  it("is what zuora.json exposes", function()
    assert.equals(json, require("zuora").json)
  end)

  it("has null equal to cjson.null, a NULL light userdata", function()
    assert.equals("userdata", type(json.null))
    assert.equals(cjson.null, json.null)
    assert.is_true(rawequal(cjson.null, json.null))
  end)

  it("has array_mt and an immutable empty_array", function()
    assert.is_table(json.array_mt)
    assert.equals("userdata", type(json.empty_array))
    assert.equals("[]", json.encode(json.empty_array))
    assert.equals('{"items":[]}', json.encode({ items = json.empty_array }))
    assert.has_error(function() json.empty_array[1] = 1 end)
  end)
end)

describe("json.decode #luajit", function()
  local function dec(s) return json.decode(s) end

  it("reads scalars at the top level", function()
    assert.equals("a", dec('"a"'))
    assert.equals(true, dec("true"))
    assert.equals(false, dec(" false "))
    assert.equals(json.null, dec("null"))
    assert.equals(42, dec("42"))
  end)

  it("reads objects as plain tables and arrays with array_mt", function()
    local v = assert(dec('{"a": [1, 2, {"b": null}], "c": {}, "d": []}'))
    assert.is_nil(getmetatable(v))
    assert.equals(json.array_mt, getmetatable(v.a))
    assert.equals(3, #v.a)
    assert.equals(json.null, v.a[3].b)
    assert.is_nil(getmetatable(v.c))
    assert.is_nil(next(v.c))
    assert.equals(json.array_mt, getmetatable(v.d))
    assert.equals('{"a":[1,2,{"b":null}],"c":{},"d":[]}', json.encode(v, { sort_keys = true }))
  end)

  it("keeps null array elements so arrays stay dense", function()
    local v = assert(dec("[null, 1, null]"))
    assert.equals(3, #v)
    assert.equals(json.null, v[1])
    assert.equals("[null,1,null]", json.encode(v))
  end)

  it("lets the last of duplicate keys win", function()
    assert.equals(2, dec('{"a":1,"a":2}').a)
  end)

  it("accepts all JSON whitespace and a leading UTF-8 byte order mark", function()
    assert.same({ 1 }, dec(" \t\r\n[ \t\r\n1 \t\r\n] \t\r\n"))
    assert.equals(1, dec("\239\187\191" .. "1"))
  end)

  it("decodes every escape", function()
    assert.equals('"\\/\b\f\n\r\t', dec([["\"\\\/\b\f\n\r\t"]]))
    assert.equals("a\0b", dec([["a\u0000b"]]))
    assert.equals("é", dec([["\u00e9"]]))
    assert.equals("é", dec([["\u00E9"]]))
    assert.equals("€", dec([["\u20ac"]]))
    assert.equals("\239\191\191", dec([["\uffff"]]))
    assert.equals("😀", dec([["\ud83d\ude00"]]))
    assert.equals("\244\143\191\191", dec([["\udbff\udfff"]]))  -- U+10FFFF
    assert.equals("x😀y", dec([["x\uD83D\uDE00y"]]))
  end)

  it("passes valid UTF-8 through unchanged, short and long", function()
    for _, s in ipairs { "é", "€", "😀", "\244\143\191\191", "\127", string.rep("Grüße, 東京 😀 ", 100) } do
      assert.equals(s, dec('"' .. s .. '"'))
    end
  end)

  it("builds long escaped strings correctly", function()
    local raw = string.rep('a"b\\c\n\1', 1000)
    assert.equals(raw, dec(json.encode(raw)))
    local s = string.rep("\\u00e9", 5000)
    assert.equals(string.rep("é", 5000), dec('"' .. s .. '"'))
  end)

  it("decodes from strings with embedded NUL bytes without reading past them", function()
    assert.equals("a\0b", dec('"a\\u0000b"'))
    local v, err = dec("[1]\0")
    assert.is_nil(v)
    assert.matches("at byte 4", err)
  end)

  it("enforces the depth limit instead of exhausting a stack", function()
    local ok = string.rep("[", 1000) .. string.rep("]", 1000)
    assert.is_table(dec(ok))
    local deep = string.rep("[", 1001) .. string.rep("]", 1001)
    local v, err = dec(deep)
    assert.is_nil(v)
    assert.equals("nesting deeper than the limit of 1000 at byte 1001", err)
    local obj = string.rep('{"a":', 1001) .. "1" .. string.rep("}", 1001)
    v, err = dec(obj)
    assert.is_nil(v)
    assert.matches("nesting deeper", err)
  end)

  it("takes opts.max_depth, small or large", function()
    assert.is_table(json.decode("[[1]]", { max_depth = 2 }))
    local v, err = json.decode("[[1]]", { max_depth = 1 })
    assert.is_nil(v)
    assert.equals("nesting deeper than the limit of 1 at byte 2", err)
    -- LuaJIT lets a C function use at most 8000 stack slots, which bounds its depth.
    local n = HAS_INT and 20000 or 7000
    local deep = string.rep("[", n) .. string.rep("]", n)
    v = assert(json.decode(deep, { max_depth = n }))
    local d = 0
    while v[1] do v, d = v[1], d + 1 end
    assert.equals(n - 1, d)
    local m = 100000
    v, err = json.decode(string.rep("[", m) .. string.rep("]", m), { max_depth = m })
    if v == nil then
      assert.matches("^nesting too deep for the Lua stack at byte %d+$", err)
    end
  end)

  it("raises for wrong argument types", function()
    assert.has_error(function() json.decode() end)
    assert.has_error(function() json.decode(nil) end)
    assert.has_error(function() json.decode(123) end)
    assert.has_error(function() json.decode({}) end)
    assert.has_error(function() json.decode("1", "opts") end)
    assert.has_error(function() json.decode("1", { max_depth = 0 }) end)
    assert.has_error(function() json.decode("1", { max_depth = 1.5 }) end)
    assert.has_error(function() json.decode("1", { max_depth = "x" }) end)
  end)

  it("reads floats exactly, with fraction or exponent", function()
    for _, s in ipairs { "0.1", "99.95", "1234567890123.45", "1e-7", "2.5E-4", "6.02214076E+23",
      "1.7976931348623157e308", "2.2250738585072014e-308", "2.2250738585072011e-308",
      "4.9406564584124654e-324", "5e-324", "0.30000000000000004", "123456789012345678901234567890",
      "9007199254740993.0", "1.00000000000000011102230246251565404236316680908203125",
      "1.000000000000000111022302462515654042363166809082031251",
      "0." .. string.rep("0", 300) .. "1", "1" .. string.rep("0", 300) .. ".5" } do
      local v = dec(s)
      assert.is_true(same_double(tonumber(s), v), s)
    end
  end)

  it("reads zero and underflow with their sign", function()
    assert.is_true(same_double(-0.0, dec("-0.0")))
    assert.is_true(same_double(-0.0, dec("-0e5")))
    assert.is_true(same_double(0.0, dec("1e-400")))
    assert.is_true(same_double(-0.0, dec("-1e-400")))
  end)
end)

describe("json.decode rejects invalid documents #luajit", function()
  -- Each entry: document, expected byte position in the message.
  local bad = {
    { "", 1 }, { " ", 2 }, { "[", 2 }, { "]", 1 }, { "{", 2 }, { "}", 1 }, { "[1,]", 4 },
    { "[,1]", 2 }, { "[1 2]", 4 }, { "{,}", 2 }, { '{"a":1,}', 8 }, { '{"a" 1}', 6 },
    { '{"a":}', 6 }, { "{a:1}", 2 }, { "{'a':1}", 2 }, { "{1:1}", 2 }, { '{"a":1 "b":2}', 8 },
    { "[1]]", 4 }, { "[1] x", 5 }, { "1 2", 3 }, { "{}{}", 3 }, { "nul", 1 }, { "nulL", 1 },
    { "tru", 1 }, { "True", 1 }, { "NaN", 1 }, { "Infinity", 1 }, { "-Infinity", 2 }, { "+1", 1 },
    { "01", 1 }, { "-01", 2 }, { "00", 1 }, { "1.", 3 }, { ".5", 1 }, { "1.e5", 3 }, { "1e", 3 },
    { "1e+", 4 }, { "-", 2 }, { "--1", 2 }, { "1x", 2 }, { "0x10", 2 }, { "1e400", 1 },
    { "-1e400", 1 }, { '"abc', 5 }, { '"', 2 }, { '"\\', 3 }, { '"\\u12', 6 }, { '"\\u12"', 2 }, { '"\\u12g4"', 2 },
    { '"\\x41"', 2 }, { '"\\a"', 2 }, { '"\\U0041"', 2 }, { '"a\nb"', 3 }, { '"a\tb"', 3 },
    { '"\0"', 2 }, { '"\31"', 2 }, { '"\\ud800"', 2 }, { '"\\ud800\\u0041"', 2 },
    { '"\\ud800x"', 2 }, { '"\\udc00"', 2 }, { '"\\udfff\\ud800"', 2 }, { '"\\ud83d\\ud83d"', 2 },
    { '"\128"', 2 }, { '"\191"', 2 }, { '"\192\128"', 2 }, { '"\193\191"', 2 },
    { '"\224\128\128"', 2 }, { '"\224\159\191"', 2 }, { '"\237\160\128"', 2 },
    { '"\237\191\191"', 2 }, { '"\240\128\128\128"', 2 }, { '"\240\143\191\191"', 2 },
    { '"\244\144\128\128"', 2 }, { '"\245\128\128\128"', 2 }, { '"\255"', 2 }, { '"\254"', 2 },
    { '"\195"', 2 }, { '"\226\130"', 2 }, { '"\240\159\152"', 2 }, { '"\195x"', 2 },
    { '["a" "b"]', 6 }, { "[true false]", 7 }, { "[1,,2]", 4 }, { "[\"a\":1]", 5 },
    { '{"a":1:2}', 7 }, { "[1]\0", 4 }, { "\0", 1 }, { "\239\187", 1 }, { "\239\187\191", 4 },
    { "/* c */ 1", 1 }, { "[1] // c", 5 }, { "\v1", 1 }, { "\f1", 1 }, { "\2281", 1 },
  }

  it("returns nil and a message with the byte position, never raising", function()
    for _, case in ipairs(bad) do
      local v, err = json.decode(case[1])
      assert.is_nil(v, ("%q decoded"):format(case[1]))
      assert.is_string(err)
      local pos = tonumber(err:match(" at byte (%d+)$"))
      assert.equals(case[2], pos, ("%q: %s"):format(case[1], err))
    end
  end)

  it("explains what went wrong", function()
    local cases = {
      { "[1,]", "unexpected character ']', expected a value at byte 4" },
      { '{"a" 1}', "unexpected character '1', expected ':' at byte 6" },
      { "[1 2]", "unexpected character '2', expected ',' or ']' at byte 4" },
      { '{"a":1 "b":2}', "unexpected character '\"', expected ',' or '}' at byte 8" },
      { "[", "unexpected end of input, expected a value at byte 2" },
      { "[1] x", "unexpected data after the JSON value at byte 5" },
      { "01", "leading zero in number at byte 1" },
      { "1e400", "number out of range for a double at byte 1" },
      { '"abc', "unterminated string at byte 5" },
      { '"a\nb"', "control character in string (must be escaped) at byte 3" },
      { '"\255"', "invalid UTF-8 in string at byte 2" },
      { '"\\ud800"', "high surrogate not followed by a low surrogate \\u escape at byte 2" },
      { '"\\udc00"', "lone low surrogate in \\u escape at byte 2" },
      { '"\\q"', "invalid escape in string at byte 2" },
      { '"\\u12"', "invalid \\u escape (4 hex digits expected) at byte 2" },
      { "\1", "unexpected byte 0x01, expected a value at byte 1" },
    }
    for _, c in ipairs(cases) do
      local v, err = json.decode(c[1])
      assert.is_nil(v)
      assert.equals(c[2], err)
    end
  end)

  it("rejects every truncation of a valid document", function()
    local doc = read("spec/data/json/subscription.json")
    doc = doc:gsub("%s+$", "")
    assert.is_table(json.decode(doc))
    for i = 0, #doc - 1 do
      local s = doc:sub(1, i)
      local v, err = json.decode(s)
      assert.is_nil(v, s)
      assert.is_string(err)
    end
  end)
end)

describe("json.encode #luajit", function()
  it("writes scalars", function()
    assert.equals("true", json.encode(true))
    assert.equals("false", json.encode(false))
    assert.equals("null", json.encode(json.null))
    assert.equals("null", json.encode(nil))
    assert.equals('"a"', json.encode("a"))
    assert.equals("42", json.encode(42))
  end)

  it("writes floats in the shortest form that reads back", function()
    local cases = {
      [0.1] = "0.1", [99.95] = "99.95", [1234567890123.45] = "1234567890123.45",
      [1 / 3] = "0.3333333333333333", [1e300] = "1e+300", [5e-324] = "5e-324",
      [1.7976931348623157e308] = "1.7976931348623157e+308", [2.5e-4] = "0.00025",
      [1e-5] = "1e-5", [123.456] = "123.456", [-17.5] = "-17.5", [6.02214076e23] = "6.02214076e+23",
      [0.30000000000000004] = "0.30000000000000004", [2 ^ -1074] = "5e-324",
      [2.2250738585072014e-308] = "2.2250738585072014e-308",
    }
    for v, s in pairs(cases) do
      assert.equals(s, json.encode(v))
    end
  end)

  it("writes every other lightuserdata, function, coroutine and userdata as an error", function()
    for _, v in ipairs { print, coroutine.create(print), io.stdout } do
      local s, err = json.encode({ x = v })
      assert.is_nil(s)
      assert.matches("^value%.x: cannot encode a %a+$", err)
    end
  end)

  it("escapes strings per RFC 8259 and leaves / and UTF-8 alone", function()
    assert.equals([["a\"b\\c/d"]], json.encode('a"b\\c/d'))
    assert.equals([["\b\f\n\r\t"]], json.encode("\b\f\n\r\t"))
    assert.equals([["\u0000\u0001\u001f\u000b"]], json.encode("\0\1\31\11"))
    assert.equals('"\127 é € 😀"', json.encode("\127 é € 😀"))
    local long = string.rep("plain text, ", 1000) .. "\n" .. string.rep("ü", 1000)
    assert.equals(long, json.decode(json.encode(long)))
    for b = 0, 127 do
      local c = string.char(b)
      assert.equals(c, json.decode(json.encode(c)))
    end
  end)

  it("refuses strings and keys that are not UTF-8", function()
    for _, s in ipairs { "\255", "a\128", "\192\128", "\237\160\128", "\244\144\128\128", "\195" } do
      local out, err = json.encode({ note = s })
      assert.is_nil(out)
      assert.equals("value.note: invalid UTF-8 in string", err)
    end
    local out, err = json.encode({ ["bad\255"] = 1 })
    assert.is_nil(out)
    assert.equals('value["bad\\xFF"]: invalid UTF-8 in key', err)
  end)

  it("writes arrays from tables with keys 1..n, however they were built", function()
    assert.equals("[1,2,3]", json.encode({ 1, 2, 3 }))
    local t = {}
    t[3] = "c"; t[2] = "b"; t[1] = "a"
    assert.equals('["a","b","c"]', json.encode(t))
    local big = {}
    for i = 1, 1000 do big[i] = i end
    assert.same(big, json.decode(json.encode(big)))
  end)

  it("writes empty tables as {} unless marked as arrays", function()
    assert.equals("{}", json.encode({}))
    assert.equals("[]", json.encode(setmetatable({}, json.array_mt)))
    assert.equals("[]", json.encode(json.empty_array))
    assert.equals("[1]", json.encode(setmetatable({ 1 }, json.array_mt)))
  end)

  it("honours dkjson's __jsontype = 'array' marker", function()
    assert.equals("[]", json.encode(setmetatable({}, { __jsontype = "array" })))
  end)

  it("round-trips an empty array read from JSON", function()
    assert.equals('{"a":[],"b":{}}', json.encode(json.decode('{"a":[],"b":{}}'), { sort_keys = true }))
  end)

  it("names the offending path for numbers it cannot write", function()
    local body = { items = { { price = 1 }, { price = 2 }, { price = 0 / 0 } } }
    local s, err = json.encode(body, { path = "body" })
    assert.is_nil(s)
    assert.equals("body.items[3].price: cannot encode NaN", err)
    s, err = json.encode({ a = { 1, math.huge } })
    assert.is_nil(s)
    assert.equals("value.a[2]: cannot encode inf", err)
    s, err = json.encode(-math.huge)
    assert.is_nil(s)
    assert.equals("value: cannot encode -inf", err)
    s, err = json.encode({ ["odd key"] = { x = 0 / 0 } })
    assert.is_nil(s)
    assert.equals('value["odd key"].x: cannot encode NaN', err)
  end)

  it("refuses cycles", function()
    local t = { a = { b = {} } }
    t.a.b.c = t
    local s, err = json.encode(t)
    assert.is_nil(s)
    assert.equals("value.a.b.c: cycle (the table contains itself)", err)
    local arr = {}
    arr[1] = arr
    s, err = json.encode(arr)
    assert.is_nil(s)
    assert.equals("value[1]: cycle (the table contains itself)", err)
  end)

  it("allows the same table twice when it is not its own ancestor", function()
    local shared = { 1 }
    assert.equals('{"a":[1],"b":[1]}', json.encode({ a = shared, b = shared }, { sort_keys = true }))
  end)

  it("refuses sparse arrays, mixed tables and non-string keys", function()
    local cases = {
      { { 1, 2, nil, 4 }, "value: sparse array (3 values, highest index 4)" },
      { { [2] = "b" }, "value: sparse array (1 values, highest index 2)" },
      { { 1, 2, x = 3 }, "value: mixed table (both string keys and array indices)" },
      { { x = 3, 1 }, "value: mixed table (both string keys and array indices)" },
      { { list = { [0] = "z", "a" } }, "value.list: key 0 is neither a string nor an array index" },
      { { [1.5] = 1 }, "value: key 1.5 is neither a string nor an array index" },
      { { [-1] = 1 }, "value: key -1 is neither a string nor an array index" },
      { { [true] = 1 }, "value: key true is neither a string nor an array index" },
      { { a = 1, [true] = 1 }, nil },
      { setmetatable({ 1, x = 2 }, json.array_mt), "value: array (json.array_mt) with string keys" },
    }
    for _, c in ipairs(cases) do
      local s, err = json.encode(c[1])
      assert.is_nil(s)
      if c[2] then
        assert.equals(c[2], err)
      else
        assert.matches("^value: key true is", err)
      end
    end
  end)

  it("sorts keys bytewise when asked", function()
    local v = { b = 1, a = { z = 1, y = { 2, 1 }, ["Z"] = 0 }, ["a\0"] = 3, [""] = 4, ["é"] = 5 }
    assert.equals('{"":4,"a":{"Z":0,"y":[2,1],"z":1},"a\\u0000":3,"b":1,"é":5}',
      json.encode(v, { sort_keys = true }))
  end)

  it("pretty-prints with an indent string or width", function()
    local v = { name = "x", list = { 1, { a = json.null } }, empty = {}, none = json.empty_array }
    local want = table.concat({
      "{",
      '  "empty": {},',
      '  "list": [',
      "    1,",
      "    {",
      '      "a": null',
      "    }",
      "  ],",
      '  "name": "x",',
      '  "none": []',
      "}",
    }, "\n")
    assert.equals(want, json.encode(v, { sort_keys = true, indent = "  " }))
    assert.equals(want, json.encode(v, { sort_keys = true, indent = 2 }))
    assert.equals(want:gsub("  ", "\t"), json.encode(v, { sort_keys = true, indent = "\t" }))
    assert.same(v.list[1], json.decode(json.encode(v, { indent = "  " })).list[1])
  end)

  it("enforces its depth limit of 1000", function()
    local function nest(n)
      local root = {}
      local t = root
      for _ = 2, n do
        t[1] = {}
        t = t[1]
      end
      return root
    end
    assert.equals(string.rep("[", 999) .. "{}" .. string.rep("]", 999), json.encode(nest(1000)))
    local s, err = json.encode(nest(1001))
    assert.is_nil(s)
    assert.matches(": nesting deeper than the limit of 1000$", err)
    assert.matches("^value%.%.%.%[1%]", err)  -- the path is shortened from the root side
  end)

  it("raises for wrong argument types only", function()
    assert.has_error(function() json.encode() end)
    assert.has_error(function() json.encode(1, "opts") end)
    assert.has_error(function() json.encode(1, { sort_keys = "yes" }) end)
    assert.has_error(function() json.encode(1, { indent = "x" }) end)
    assert.has_error(function() json.encode(1, { indent = -1 }) end)
    assert.has_error(function() json.encode(1, { indent = {} }) end)
    assert.has_error(function() json.encode(1, { path = 1 }) end)
  end)

  it("keeps working after a failed encode", function()
    assert.is_nil(json.encode({ a = { b = 0 / 0 } }))
    assert.equals('{"a":{"b":1}}', json.encode({ a = { b = 1 } }))
    local big = { string.rep("x", 3 * 1024 * 1024) }
    assert.equals(3 * 1024 * 1024 + 4, #json.encode(big))
    assert.equals("[1]", json.encode({ 1 }))
  end)
end)

describe("json doubles round-trip bit-exactly #luajit", function()
  -- Random doubles over the whole range, subnormals and powers of two included.
  local function random_double(i)
    local m = math.random(0, 2 ^ 26 - 1) * 2 ^ 26 + math.random(0, 2 ^ 26 - 1)
    local kind = i % 10
    local v
    if kind == 0 then
      v = m * 2 ^ -1074                              -- subnormal
    elseif kind == 1 then
      v = 2 ^ math.random(-1074, 1023)               -- powers of two
    elseif kind == 2 then
      v = math.random(0, 10 ^ 9) / 10 ^ math.random(0, 9)   -- short decimals
    elseif kind == 3 or kind == 4 then
      v = (2 ^ 52 + (m % 2 ^ 52)) * 2 ^ math.random(-70, -1) -- 4e-6 .. 4.5e15, all 53 bits
    elseif kind == 5 then
      v = math.random(1, 10 ^ 7) / 100 * (math.random(1, 100) / 100)  -- amount * rate
    else
      v = (2 ^ 52 + (m % 2 ^ 52)) * 2 ^ math.random(-1074, 971)
    end
    if i % 2 == 1 then v = -v end
    return v
  end

  -- Significant digits of a number as we print it.
  local function sig_digits(s)
    local mant = s:gsub("^%-", ""):gsub("[eE].*$", ""):gsub("%.", "")
    return #(mant:gsub("^0+", ""):gsub("0+$", ""))
  end

  it("for 100000 random doubles", function()
    math.randomseed(20240229)
    for i = 1, 100000 do
      local v = random_double(i)
      local s = json.encode(v)
      local back = json.decode(s)
      if not same_double(v, back) then
        error(("%.17g encoded as %s read back as %.17g"):format(v, s, back))
      end
    end
  end)

  it("using the fewest significant digits", function()
    math.randomseed(7)
    for i = 1, 30000 do
      local v = math.abs(random_double(i))
      if v ~= 0 then
        local s = json.encode(v)
        local shortest
        for n = 1, 17 do
          if tonumber(("%." .. n .. "g"):format(v)) == v then
            shortest = n
            break
          end
        end
        local mine = sig_digits(s)
        -- printf's nearest n-digit decimal can miss a shorter one above a power of two, where
        -- the gap below the double is half the gap above; there we may be shorter.
        local m, e = math.frexp(v)
        local pow2 = m == 0.5 and e > -1021
        assert(mine == shortest or (mine < shortest and pow2),
          ("%.17g: %s has %d digits, shortest %d"):format(v, s, mine, shortest))
        if mine == shortest and HAS_INT then
          -- and of the decimals that short, the nearest: C printf's correctly rounded digits
          -- (LuaJIT formats numbers itself and breaks exact ties differently)
          local want = ("%." .. (shortest - 1) .. "e"):format(v):gsub("e.*$", ""):gsub("%D", "")
          local got = s:gsub("[eE].*$", ""):gsub("%D", ""):gsub("^0+", "")
          got = got .. string.rep("0", #want - #got)
          assert(got:sub(1, #want) == want, ("%.17g: %s, nearest is %s"):format(v, s, want))
        end
      end
    end
  end)
end)

describe("json integers (Lua 5.3+)", function()
  if not HAS_INT then return end

  it("decodes integers as integers and anything with . or e as floats", function()
    assert.equals("integer", math.type(json.decode("1")))
    assert.equals("integer", math.type(json.decode("-0")))
    assert.equals("float", math.type(json.decode("1.0")))
    assert.equals("float", math.type(json.decode("1e2")))
    assert.equals("float", math.type(json.decode("1E+0")))
    assert.equals("integer", math.type(json.decode("[3]")[1]))
  end)

  it("keeps the full 64-bit integer range exact", function()
    local two53 = math.tointeger(2 ^ 53)
    local cases = { math.maxinteger, math.mininteger, 0, -1, two53 + 1, -(two53 + 1),
      12345678901234567, 9007199254740993, 1000000000000000000 }
    for _, i in ipairs(cases) do
      local s = json.encode(i)
      assert.equals(string.format("%d", i), s)
      local back = json.decode(s)
      assert.equals("integer", math.type(back))
      assert.equals(i, back)
    end
    math.randomseed(99)
    for _ = 1, 20000 do
      -- a random signed integer of 1 to 8 bytes, so every magnitude turns up
      local n = math.random(1, 8)
      local bytes = {}
      for k = 1, n do bytes[k] = string.char(math.random(0, 255)) end
      local i = string.unpack("<i" .. n, table.concat(bytes))
      assert.equals(i, json.decode(json.encode(i)))
      assert.equals(string.format("%d", i), json.encode(i))
    end
  end)

  it("turns integers beyond 64 bits into floats", function()
    local v = json.decode("9223372036854775808")
    assert.equals("float", math.type(v))
    assert.equals(2.0 ^ 63, v)
    v = json.decode("-9223372036854775809")
    assert.equals("float", math.type(v))
    assert.equals(-(2.0 ^ 63), v)
    v = json.decode("98765432109876543210")
    assert.equals(98765432109876543210.0, v)
  end)

  it("writes integral floats with .0 so they read back as floats", function()
    assert.equals("1.0", json.encode(1.0))
    assert.equals("-0.0", json.encode(-0.0))
    assert.equals("0.0", json.encode(0.0))
    assert.equals("100.0", json.encode(100.0))
    assert.equals("1000000000000000.0", json.encode(1e15))
    assert.equals("1e+16", json.encode(1e16))
    assert.equals("9007199254740992.0", json.encode(2.0 ^ 53))
    for _, f in ipairs { 1.0, -0.0, 1e15, 1e16, 2.0 ^ 63, 123.0 } do
      local back = json.decode(json.encode(f))
      assert.equals("float", math.type(back))
      assert.is_true(same_double(f, back))
    end
  end)

  it("reads decimal strings exactly like strtod", function()
    math.randomseed(5)
    local function digits(n)
      local t = {}
      for i = 1, n do t[i] = tostring(math.random(0, 9)) end
      return table.concat(t)
    end
    for _ = 1, 20000 do
      local s = tostring(math.random(1, 9)) .. digits(math.random(0, 24))
      if math.random(2) == 1 then s = s .. "." .. digits(math.random(1, 20)) end
      if math.random(2) == 1 then s = s .. "e" .. math.random(-340, 320) end
      if math.random(3) == 1 then s = "-" .. s end
      local v, err = json.decode(s)
      local want = tonumber(s)
      if want == math.huge or want == -math.huge then
        assert.is_nil(v)
        assert.matches("out of range", err)
      else
        if math.type(want) == "integer" then
          assert.equals(want, v)
        else
          assert.equals(string.pack("<d", want), string.pack("<d", v), s)
        end
      end
    end
  end)

  it("round-trips every random bit pattern of a finite double", function()
    math.randomseed(11)
    for _ = 1, 20000 do
      local bits = string.pack("<i8", math.random(math.mininteger, math.maxinteger))
      local v = string.unpack("<d", bits)
      if v == v and v ~= math.huge and v ~= -math.huge then
        assert.equals(bits, string.pack("<d", json.decode(json.encode(v))))
      end
    end
  end)

  it("reads and writes numbers the same under a locale with a decimal comma", function()
    -- A host program may switch LC_NUMERIC; strtod and printf then expect "1,5". Build a
    -- German locale with localedef (Debian package "locales") and run a child Lua under it.
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. dir))
    finally(function() os.execute("rm -rf " .. dir) end)
    assert(os.execute("localedef -i de_DE -f UTF-8 " .. dir .. "/de_DE.UTF-8 >/dev/null 2>&1"),
      "localedef failed; tools/deps.sh installs the 'locales' package it needs")
    local script = dir .. "/child.lua"
    local f = assert(io.open(script, "w"))
    f:write([[
      assert(os.setlocale("de_DE.UTF-8", "numeric"), "locale not found")
      assert(string.format("%.1f", 1.5) == "1,5", "the locale has no decimal comma")
      local json = require("zuora.core").json
      local function hex(x)
        return (string.pack("<d", x):gsub(".", function(c) return ("%02x"):format(c:byte()) end))
      end
      io.write(json.encode({ 1 / 3, 0.1, 1e300, 2 ^ -1074, 1.5, 1234567890123.45, 0.1 + 0.2 }), "\n")
      local v = json.decode("[1.5, 0.1000000000000000055511151231257827, 1e-300, 2.5e-4, 123456789.987654321]")
      for i = 1, #v do io.write(hex(v[i]), " ") end
      io.write("\n")
    ]])
    f:close()
    -- (glibc's setlocale keeps a block LeakSanitizer would report, so the child does not check leaks)
    local p = assert(io.popen(('LOCPATH=%s ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0" %s %s 2>&1')
      :format(dir, arg[-1], script)))
    local out = p:read("*a")
    p:close()
    local enc, dec = out:match("^(%[.-%])\n(.-)\n$")
    assert(enc, out)
    assert.equals(json.encode({ 1 / 3, 0.1, 1e300, 2 ^ -1074, 1.5, 1234567890123.45, 0.1 + 0.2 }), enc)
    assert.equals("[0.3333333333333333,0.1,1e+300,5e-324,1.5,1234567890123.45,0.30000000000000004]", enc)
    local want = {}
    for _, x in ipairs { 1.5, 0.1, 1e-300, 2.5e-4, 123456789.987654321 } do
      want[#want + 1] = (string.pack("<d", x):gsub(".", function(c) return ("%02x"):format(c:byte()) end))
    end
    assert.equals(table.concat(want, " ") .. " ", dec)
  end)

  it("stays correct when a finalizer encodes in the middle of an encode", function()
    -- Sorting keys allocates (long keys are pushed again), so GC steps and finalizers can run
    -- inside an encode; such a nested encode must not clobber the outer one's buffer. Drive the
    -- collector until finalizers are being called, then encode while more are pending, with a
    -- GC step every kilobyte allocated.
    local during, fired, inside = 0, 0, false
    local doc = {}
    for i = 1, 500 do doc[string.rep("k", 100) .. i] = i end
    local want = json.encode(doc, { sort_keys = true })
    local results = {}
    collectgarbage()
    local mode = collectgarbage("incremental", 100, 100, 10)
    finally(function()
      collectgarbage("incremental", 200, 100, 13)
      collectgarbage(mode)
    end)
    for i = 1, 1000 do
      setmetatable({}, { __gc = function()
        fired = fired + 1
        if inside then during = during + 1 end
        results[#results + 1] = json.encode({ i = i, s = "x" }, { sort_keys = true })
      end })
    end
    for _ = 1, 1e6 do
      if fired > 0 then break end
      collectgarbage("step", 0)
    end
    assert.is_true(fired > 0 and fired < 1000)
    inside = true
    local got = json.encode(doc, { sort_keys = true })
    inside = false
    assert.equals(want, got)
    assert.is_true(during > 0, "no finalizer ran during the encode; the test proves nothing")
    collectgarbage()
    assert.equals(1000, #results)
    for _, r in ipairs(results) do
      assert.matches('^{"i":%d+,"s":"x"}$', r)
    end
  end)
end)

describe("json against lua-cjson on Zuora-shaped documents #luajit", function()
  -- ours must hold exactly what cjson read, except that ours keeps integers as integers
  -- (cjson reads every number as a double).
  local function agree(ours, theirs, path)
    if type(theirs) == "number" then
      assert(type(ours) == "number", path .. ": not a number")
      if is_int(ours) then
        assert(ours + 0.0 == theirs, path .. ": " .. tostring(ours) .. " vs " .. tostring(theirs))
      else
        assert(same_double(ours, theirs), path .. ": " .. tostring(ours) .. " vs " .. tostring(theirs))
      end
    elseif type(theirs) == "table" then
      assert(type(ours) == "table", path .. ": not a table")
      local n1, n2 = 0, 0
      for k, v in pairs(theirs) do
        n1 = n1 + 1
        agree(ours[k], v, path .. "." .. tostring(k))
      end
      for _ in pairs(ours) do n2 = n2 + 1 end
      assert(n1 == n2, path .. ": different number of keys")
    else
      assert(ours == theirs, path .. ": " .. tostring(ours) .. " vs " .. tostring(theirs))
    end
  end

  local docs = {}
  for _, path in ipairs(ls("spec/data/json")) do
    if path:match("%.json$") then docs[#docs + 1] = { path, read(path) } end
  end
  local gen = require "bench.lib_json_data"
  docs[#docs + 1] = { "400 invoices", cjson.encode(gen.invoices(400)) }
  docs[#docs + 1] = { "account", cjson.encode(gen.account()) }

  it("has documents to compare", function()
    assert.is_true(#docs >= 6)
  end)

  for _, d in ipairs(docs) do
    it("decodes " .. d[1] .. " value by value like cjson, and re-encodes it", function()
      local ours = assert(json.decode(d[2]))
      agree(ours, cjson.decode(d[2]), "value")
      local text = assert(json.encode(ours))
      agree(ours, cjson.decode(text), "value")   -- cjson reads our output as the same data
      assert.is_true(deep_same(ours, json.decode(text)))
      local sorted = assert(json.encode(ours, { sort_keys = true, indent = "  " }))
      assert.is_true(deep_same(ours, json.decode(sorted)))
    end)
  end

  it("keeps the exact values cjson loses", function()
    local v = json.decode(read("spec/data/json/queries.json")).usage
    assert.equals(5e-324, v.tiny)
    if HAS_INT then
      assert.equals(9007199254740993, v.size)
      assert.equals(12345678901234567, v.big)
      assert.equals(math.mininteger, v.min)
      assert.equals(math.maxinteger, v.max)
      local out = json.encode(v, { sort_keys = true })
      assert.matches('"big":12345678901234567,', out, 1, true)
      assert.matches('"size":9007199254740993,', out, 1, true)
    end
    local a = json.decode(read("spec/data/json/account.json"))
    assert.matches('"balance":1234567890123.45,', json.encode(a.metrics, { sort_keys = true }), 1, true)
  end)
end)

describe("json fuzz regression corpus #luajit", function()
  local files = ls("fuzz/corpus/json")

  it("exists", function()
    assert.is_true(#files > 0)
  end)

  it("decodes every input to a value or nil and a message, and re-encodes values stably", function()
    for _, path in ipairs(files) do
      local s = read(path)
      local v, err = json.decode(s)
      if v == nil then
        assert(type(err) == "string" and err:match(" at byte %d+$"), path .. ": " .. tostring(err))
      else
        local once = assert(json.encode(v, { sort_keys = true }))
        local twice = assert(json.encode(assert(json.decode(once)), { sort_keys = true }))
        assert(once == twice, path .. ": unstable re-encoding")
      end
    end
  end)
end)
