-- zuora.decimal: exact decimals. Blocks tagged #luajit also run under OpenResty's LuaJIT.
-- The property blocks check + - * round and div against a reference written here on digit
-- strings and Lua integers (7-digit chunks, exact on LuaJIT's doubles too); the General Decimal
-- Arithmetic cases come from spec/data/dectest.txt (tools/gen-dectest.lua).
local D = require("zuora.core").decimal
local json = require("zuora.core").json

local HAS_INT = math.type ~= nil
local MODES = { "half_even", "half_up", "half_down", "up", "down", "ceiling", "floor" }

---------------------------------------------------------------------------------------------
-- The reference: magnitudes are digit strings without leading zeros ("" is zero).

local function strip(s) return (s:gsub("^0+", "")) end

local function chunks(s, w) -- least significant chunk first
  local out = {}
  for i = #s, 1, -w do out[#out + 1] = tonumber(s:sub(math.max(1, i - w + 1), i)) end
  return out
end

local function unchunk(t, w)
  local parts = {}
  for i = #t, 1, -1 do parts[#parts + 1] = string.format("%0" .. w .. "d", t[i]) end
  return strip(table.concat(parts))
end

local function mag_cmp(a, b)
  if #a ~= #b then return #a < #b and -1 or 1 end
  if a == b then return 0 end
  return a < b and -1 or 1
end

local function mag_add(a, b)
  local x, y, out, carry = chunks(a, 7), chunks(b, 7), {}, 0
  for i = 1, math.max(#x, #y) do
    local s = (x[i] or 0) + (y[i] or 0) + carry
    carry = s >= 1e7 and 1 or 0
    out[i] = s - carry * 1e7
  end
  out[#out + 1] = carry
  return unchunk(out, 7)
end

local function mag_sub(a, b) -- a >= b
  local x, y, out, borrow = chunks(a, 7), chunks(b, 7), {}, 0
  for i = 1, #x do
    local s = x[i] - (y[i] or 0) - borrow
    borrow = s < 0 and 1 or 0
    out[i] = s + borrow * 1e7
  end
  return unchunk(out, 7)
end

local function mag_mul(a, b)
  if a == "" or b == "" then return "" end
  local x, y, out = chunks(a, 7), chunks(b, 7), {}
  for i = 1, #x + #y do out[i] = 0 end
  for i = 1, #x do
    local carry = 0
    for j = 1, #y do
      local t = out[i + j - 1] + x[i] * y[j] + carry
      carry = math.floor(t / 1e7)
      out[i + j - 1] = t - carry * 1e7
    end
    local k = i + #y
    while carry > 0 do
      local t = out[k] + carry
      carry = math.floor(t / 1e7)
      out[k] = t - carry * 1e7
      k = k + 1
    end
  end
  return unchunk(out, 7)
end

-- A reference value: { neg = bool, mag = digits, scale = n }, zero never negative.
local function ref(neg, mag, scale)
  mag = strip(mag)
  return { neg = neg and mag ~= "", mag = mag, scale = scale }
end

local function ref_str(r)
  local m = r.mag
  if #m < r.scale + 1 then m = string.rep("0", r.scale + 1 - #m) .. m end
  if r.scale > 0 then m = m:sub(1, #m - r.scale) .. "." .. m:sub(#m - r.scale + 1) end
  return (r.neg and "-" or "") .. m
end

local function rescaled(r, s) return r.mag == "" and "" or r.mag .. string.rep("0", s - r.scale) end

local function ref_add(a, b, negate_b)
  local s = math.max(a.scale, b.scale)
  local x, y, bneg = rescaled(a, s), rescaled(b, s), b.neg
  if negate_b then bneg = not bneg end
  if a.neg == bneg then return ref(a.neg, mag_add(x, y), s) end
  if mag_cmp(x, y) >= 0 then return ref(a.neg, mag_sub(x, y), s) end
  return ref(bneg, mag_sub(y, x), s)
end

local function ref_mul(a, b)
  return ref(a.neg ~= b.neg, mag_mul(a.mag, b.mag), a.scale + b.scale)
end

-- Does the truncated magnitude grow by one? rel: -1/0/1 = dropped part below/at/above half.
local function bump(mode, neg, rel, inexact, odd)
  if not inexact then return false end
  if mode == "half_even" then return rel > 0 or (rel == 0 and odd) end
  if mode == "half_up" then return rel >= 0 end
  if mode == "half_down" then return rel > 0 end
  if mode == "up" then return true end
  if mode == "down" then return false end
  if mode == "ceiling" then return not neg end
  return neg -- floor
end

local function ref_round(a, s, mode)
  if s >= a.scale then return ref(a.neg, rescaled(a, s), s) end
  local k = a.scale - s
  local m = string.rep("0", k) .. a.mag
  local q, dropped = strip(m:sub(1, #m - k)), m:sub(#m - k + 1)
  local first, rest = tonumber(dropped:sub(1, 1)), dropped:sub(2):find("[1-9]") ~= nil
  local rel = (first > 5 or (first == 5 and rest)) and 1 or (first == 5 and 0 or -1)
  local odd = q ~= "" and tonumber(q:sub(-1)) % 2 == 1
  if bump(mode, a.neg, rel, first > 0 or rest, odd) then q = mag_add(q, "1") end
  return ref(a.neg, q, s)
end

-- Random values: coefficients of 1 to 45 digits (across the 9-digit limbs and past 38 digits),
-- often with zeros in the middle or at the end, scales 0..30, both signs.
local function random_digits(n)
  local t = {}
  local zeros = math.random() < 0.3
  for i = 1, n do
    t[i] = (zeros and math.random() < 0.5) and "0" or tostring(math.random(0, 9))
  end
  return table.concat(t)
end

local function random_value()
  local n = math.random() < 0.5 and math.random(1, 18) or math.random(1, 45)
  local r = ref(math.random() < 0.5, random_digits(n), math.random(0, 30))
  return r, D(ref_str(r))
end

---------------------------------------------------------------------------------------------

describe("zuora.decimal #luajit", function()
  it("keeps the scale and adds exactly", function()
    local sum = D("0")
    for _ = 1, 10 do sum = sum + D("0.1") end
    assert.equal("1.0", tostring(sum))
    assert.equal("0.00", tostring(D("-0.50") + D("0.5")))
    assert.equal("0.3", tostring(D("0.1") + D("0.2")))
    assert.equal("3703703670370370.34", tostring(D("1234567890123456.78") * 3))
    assert.equal("-3.10", tostring(-D("3.10")))
    assert.equal("3", tostring(D("-3"):abs()))
  end)

  it("compares ignoring trailing zeros", function()
    assert.is_true(D("2.50") == D("2.5"))
    assert.is_true(D("2.50") ~= D("2.51"))
    assert.is_true(D("-1") < D("0"))
    assert.is_true(D("1.0") <= D(1))
    assert.is_false(D("1.01") <= D(1))
    assert.equal(0, D("0.000"):cmp(D(0)))
    assert.equal(-1, D("2"):cmp(3))
    assert.equal(1, D("2"):cmp("1.999999999999999999999999"))
  end)

  it("takes integers on either side", function()
    assert.equal("2.5", tostring(D("1.5") + 1))
    assert.equal("2.5", tostring(1 + D("1.5")))
    assert.equal("-0.5", tostring(1 - D("1.5")))
    assert.equal("4.5", tostring(3 * D("1.5")))
  end)

  it("refuses floats, telling the user to pass a string", function()
    local ok, err = pcall(D, 0.1)
    assert.is_false(ok)
    assert.matches("float.*pass the amount as a string", err)
    ok, err = pcall(function() return D("1") + 0.5 end)
    assert.is_false(ok)
    assert.matches("float", err)
  end)

  it("reads text strictly", function()
    for _, bad in ipairs{ "12abc", "", "1e", "nan", "NaN", "inf", "-", ".", "1..2", " 1", "1 ", "0x10", "1e+",
      "1e10000", "--1", "1,5" } do
      local ok, err = pcall(D, bad)
      assert.is_false(ok, bad)
      assert.matches("zuora.decimal", err)
    end
    local _, err = pcall(D, "1e10000")
    assert.matches("exponent out of range", err)
    assert.equal("1500", tostring(D("1.5e3")))
    assert.equal("0.0000001", tostring(D("1e-7")))
    assert.equal("0.5", tostring(D(".5")))
    assert.equal("5", tostring(D("5.")))
    assert.equal("12", tostring(D("+12")))
    assert.equal("0.00", tostring(D("-0.00")))
    assert.equal(D.max_exponent, 9999)
  end)

  it("rounds with the seven modes", function()
    local cases = { -- value, scale, then results for half_even half_up half_down up down ceiling floor
      { "2.5", 0, "2", "3", "2", "3", "2", "3", "2" },
      { "-2.5", 0, "-2", "-3", "-2", "-3", "-2", "-2", "-3" },
      { "1.005", 2, "1.00", "1.01", "1.00", "1.01", "1.00", "1.01", "1.00" },
      { "1.0051", 2, "1.01", "1.01", "1.01", "1.01", "1.00", "1.01", "1.00" },
      { "-0.001", 2, "0.00", "0.00", "0.00", "-0.01", "0.00", "0.00", "-0.01" },
      { "9.999", 2, "10.00", "10.00", "10.00", "10.00", "9.99", "10.00", "9.99" },
      { "125", -1, "120", "130", "120", "130", "120", "130", "120" },
    }
    for _, c in ipairs(cases) do
      for i, mode in ipairs(MODES) do
        assert.equal(c[i + 2], tostring(D(c[1]):round(c[2], mode)), c[1] .. " " .. mode)
      end
    end
    assert.equal("2.50", tostring(D("2.5"):round(2)))
    assert.equal("2", tostring(D("2.5"):round()))        -- half_even to 0 by default
    assert.has_error(function() D("1"):round(0, "nearest") end)
  end)

  it("divides to a scale", function()
    assert.equal("3.33333", tostring(D(10):div(3, 5)))
    assert.equal("0.142857142857142857142857142857", tostring(D(1):div(7, 30)))
    assert.equal("3.34", tostring(D(10):div(3, 2, "up")))
    assert.equal("-3.33", tostring(D(-10):div(3, 2)))
    assert.equal("33.33", tostring(D("100.00"):div(3)))   -- default: the dividend's scale
    assert.has_error(function() D(1):div(0, 2) end, "zuora.decimal: division by zero")
    local ok, err = pcall(function() return D(1) / D(2) end)
    assert.is_false(ok)
    assert.matches("d:div", err)
  end)

  it("answers scale, sign, is_integer, tonumber and concatenation", function()
    assert.equal(2, D("7.10"):scale())
    assert.equal(0, D("0.00"):sign())
    assert.equal(-1, D("-0.01"):sign())
    assert.is_true(D("12.000"):is_integer())
    assert.is_false(D("12.001"):is_integer())
    assert.equal(1.25, D("1.25"):tonumber())
    assert.equal(0.1, D("0.1"):tonumber())
    assert.equal("total 1.50", "total " .. D("1.50"))
    assert.is_true(D.is(D(1)))
    assert.is_false(D.is(1))
    assert.equal("zuora.decimal", getmetatable(D(1)))   -- shared metatable is protected
  end)

  it("goes into query strings with its digits, however long", function()
    local url = require("zuora.core").url
    local long = "-123456789012345678901234567890123456789012345.6789"
    assert.equals("a=1.50&b=" .. long .. "&b=x&c=1",
      url.encode_query{ a = D("1.50"), b = { D(long), "x" }, c = 1 })
    assert.has_error(function() url.encode_query{ a = io.stdout } end) -- a userdata that is no decimal
  end)

  it("takes 64-bit integers at the edges", function()
    if not HAS_INT then return end
    assert.equal("-9223372036854775808", tostring(D(math.mininteger)))
    assert.equal("9223372036854775808", tostring(D(math.maxinteger) + 1))
  end)
end)

describe("zuora.decimal against a reference on Lua integers #luajit", function()
  local N = 4000

  it("+ - * agree, as text, on random values", function()
    math.randomseed(20261207)
    for _ = 1, N do
      local ra, a = random_value()
      local rb, b = random_value()
      local sum, diff, prod = tostring(a + b), tostring(a - b), tostring(a * b)
      if sum ~= ref_str(ref_add(ra, rb)) or diff ~= ref_str(ref_add(ra, rb, true))
        or prod ~= ref_str(ref_mul(ra, rb)) then
        error(("%s and %s: + %s (want %s), - %s (want %s), * %s (want %s)"):format(ref_str(ra), ref_str(rb), sum,
          ref_str(ref_add(ra, rb)), diff, ref_str(ref_add(ra, rb, true)), prod, ref_str(ref_mul(ra, rb))))
      end
      local want_cmp = mag_cmp("", "") -- 0
      local d = ref_add(ra, rb, true)
      if d.mag ~= "" then want_cmp = d.neg and -1 or 1 end
      assert.equal(want_cmp, a:cmp(b))
      assert.equal(want_cmp == 0, a == b)
      assert.equal(want_cmp < 0, a < b)
    end
  end)

  it("round agrees in all seven modes, scales 0..30", function()
    math.randomseed(7)
    for i = 1, N do
      local ra, a = random_value()
      local mode = MODES[i % 7 + 1]
      local s = math.random(0, 30)
      local got, want = tostring(a:round(s, mode)), ref_str(ref_round(ra, s, mode))
      if got ~= want then error(("%s:round(%d, %s) = %s, want %s"):format(ref_str(ra), s, mode, got, want)) end
    end
  end)

  it("div agrees in all seven modes", function()
    math.randomseed(11)
    local function int(x) return math.floor(x + 0.5) end
    for i = 1, N do
      local ac, bc = math.random(0, 999999), math.random(1, 99999)
      local sa, sb, s = math.random(0, 4), math.random(0, 4), math.random(0, 5)
      local an, bn = math.random() < 0.5, math.random() < 0.5
      local mode = MODES[i % 7 + 1]
      local e = s + sb - sa
      local num, den = ac * int(10 ^ math.max(e, 0)), bc * int(10 ^ math.max(-e, 0))
      local q = math.floor(num / den)
      local r = num - q * den
      local rel = 2 * r > den and 1 or (2 * r == den and 0 or -1)
      local neg = an ~= bn
      if bump(mode, neg, rel, r ~= 0, q % 2 == 1) then q = q + 1 end
      local ra, rb = ref(an, string.format("%d", ac), sa), ref(bn, string.format("%d", bc), sb)
      local want = ref_str(ref(neg, string.format("%d", q), s))
      local got = tostring(D(ref_str(ra)):div(D(ref_str(rb)), s, mode))
      if got ~= want then
        error(("%s:div(%s, %d, %s) = %s, want %s"):format(ref_str(ra), ref_str(rb), s, mode, got, want))
      end
    end
  end)

  it("div of long numbers: (a * b) / b gives a back, and q * b + r == a", function()
    math.randomseed(13)
    for _ = 1, N / 4 do
      local ra, a = random_value()
      local _, b = random_value()
      if b:sign() ~= 0 then
        assert.equal(tostring(a), tostring((a * b):div(b, ra.scale)))
        local q = a:div(b, 0, "down")
        local r = a - q * b
        -- |r| < |b| and r has a's sign (or is zero)
        assert.is_true(r:abs() < b:abs(), tostring(a) .. " / " .. tostring(b))
        assert.is_true(r:sign() == 0 or r:sign() == a:sign())
      end
    end
  end)
end)

describe("zuora.decimal and the General Decimal Arithmetic testcases #luajit", function()
  it("passes every selected case of spec/data/dectest.txt", function()
    local f = assert(io.open("spec/data/dectest.txt"))
    local n, failures, ops = 0, {}, {}
    for line in f:lines() do
      if not line:find("^#") then
        local id, op, mode, a, b, expected, target, how = line:match(
          "^(%S+) (%S+) (%S+) (%S+) (%S+) (%S+) (%S+) (%S+)$")
        assert(id, "bad line: " .. line)
        local x, y = D(a), D(b)
        local got
        if op == "cmp" then
          got = x:cmp(y)
        elseif op == "round" then
          got = x:round(tonumber(target), mode)
        elseif op == "div" then
          got = x:div(y, tonumber(target), mode)
        else
          got = op == "add" and x + y or op == "sub" and x - y or x * y
          if target ~= "-" then got = got:round(tonumber(target), mode) end
        end
        local ok
        if op == "cmp" then
          ok = got == tonumber(expected)
        else
          local want = D(expected)
          ok = got == want and (how == "v" or got:scale() == want:scale())
        end
        if not ok then failures[#failures + 1] = line .. " => " .. tostring(got) end
        n = n + 1
        ops[op] = true
      end
    end
    f:close()
    assert.is_true(n > 3000, "cases: " .. n)
    for _, op in ipairs{ "add", "sub", "mul", "cmp", "round", "div" } do assert.is_true(ops[op], op) end
    assert.same({}, failures)
  end)
end)

describe("json with decimals #luajit", function()
  it("hands out decimals for fractions and exponents, integers stay integers", function()
    local v = assert(json.decode('{"a": 1234567890123456.78, "n": 3, "e": 1.5E3, "z": -0.50}', { decimals = true }))
    assert.is_true(D.is(v.a))
    assert.equal("1234567890123456.78", tostring(v.a))
    assert.equal("number", type(v.n))
    if HAS_INT then assert.equal("integer", math.type(v.n)) end
    assert.equal("1500", tostring(v.e))
    assert.equal("-0.50", tostring(v.z))
    -- without the option: doubles, as before
    assert.equal("number", type(json.decode("1.5")))
  end)

  it("turns integers beyond 64 bits into decimals", function()
    local v = assert(json.decode("[123456789012345678901234567890, -9223372036854775809]", { decimals = true }))
    assert.equal("123456789012345678901234567890", tostring(v[1]))
    assert.equal("-9223372036854775809", tostring(v[2]))
  end)

  it("refuses an exponent out of range instead of allocating", function()
    local v, err = json.decode('{"x": 1e99999}', { decimals = true })
    assert.is_nil(v)
    assert.matches("exponent out of range .* at byte 7", err)
  end)

  it("bounds the zeros exponents add: a body of 1e9999 does not take 650 times its size", function()
    -- 350 KB of "1e9999," would be 50,000 coefficients of 10,000 digits (~216 MB of limbs)
    local bomb = "[" .. ("1e9999,"):rep(50000) .. "1]"
    collectgarbage()
    local before = collectgarbage("count")
    collectgarbage("stop")
    local v, err = json.decode(bomb, { decimals = true })
    local grew = collectgarbage("count") - before
    collectgarbage("restart")
    assert.is_true(v == nil, "the bomb decoded") -- (not is_nil: printing v would take minutes)
    assert.matches("numbers with exponents expand beyond the decimal budget at byte %d+", err)
    assert.is_true(grew < 8 * 1024, ("the decode took %.0f KB"):format(grew))
    -- a few large exponents, and any number of small ones, still decode digit for digit
    v = assert(json.decode("[" .. ("1e9999,"):rep(10) .. ("1.25e3,"):rep(100000) .. "2.5e-9999]", { decimals = true }))
    assert.equal("1" .. ("0"):rep(9999), tostring(v[1]))
    assert.equal("1250", tostring(v[100010]))
    assert.equal(9999 + 1, v[100011]:scale())
  end)

  it("round-trips documents with 30-digit amounts, digit for digit", function()
    math.randomseed(30)
    for _ = 1, 200 do
      local items, total = {}, ref(false, "", 2)
      for i = 1, math.random(1, 20) do
        local r = ref(math.random() < 0.2, random_digits(28), 2)
        items[i] = ('{"amount":%s,"id":%d}'):format(ref_str(r), i)
        total = ref_add(total, r)
      end
      local text = '{"items":[' .. table.concat(items, ",") .. ']}'
      local v = assert(json.decode(text, { decimals = true }))
      assert.equal(text, json.encode(v, { sort_keys = true }))
      local sum = D(0)
      for _, item in ipairs(v.items) do sum = sum + item.amount end
      assert.equal(ref_str(total), tostring(sum:round(2)))
    end
  end)

  it("encodes decimals verbatim inside any document", function()
    assert.equal('{"amount":0.10,"n":[1.0,-0.001]}',
      json.encode({ amount = D("0.10"), n = { D("1.0"), D("-0.001") } }, { sort_keys = true }))
  end)
end)
