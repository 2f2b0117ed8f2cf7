--- Exact decimal arithmetic for zuora-sim's money.
--
-- LuaJIT numbers are doubles (exact only to 2^53, and 0.1 is not representable), so amounts are
-- kept as decimal values: { neg = bool, digits = "12345", scale = 2 } means -123.45 when neg.
-- Digits are a string of any length (no upper bound), so sums and products never overflow or
-- drift. Inputs: decimal values, strings like "-12.50" or "1.5e2", json.number values, and Lua
-- numbers (converted through "%.15g", exact for the short decimals money uses).
-- Rounding is half-up (away from zero on a tie), the tenant default this simulator assumes.
local M = {}

local json = require "zuora_sim.json"

local D = { __name = "decimal" }
D.__index = D

local sub, rep, format = string.sub, string.rep, string.format
local floor = math.floor

local function strip(digits)
  local s = digits:gsub("^0+", "")
  return s == "" and "0" or s
end

local function make(neg, digits, scale)
  digits = strip(digits)
  if digits == "0" then neg = false end
  return setmetatable({ neg = neg, digits = digits, scale = scale }, D)
end

--- Parses `v` into a decimal. Returns the decimal, or nil and a message for non-numbers.
function M.parse(v)
  if getmetatable(v) == D then return v end
  if type(v) == "number" then
    if v ~= v or v == math.huge or v == -math.huge then return nil, "not a finite number" end
    v = format("%.15g", v)
  elseif json.is_number(v) then
    v = v[1]
  end
  if type(v) ~= "string" then return nil, "not a number" end
  v = v:gsub("^%s+", ""):gsub("%s+$", "")
  local sign, int, frac, exp = v:match("^([-+]?)(%d*)%.?(%d*)[eE]?([-+]?%d*)$")
  if not sign or (int == "" and frac == "") then return nil, "not a number: " .. v end
  if v:find("[eE]$") or v:find("[eE][-+]$") then return nil, "not a number: " .. v end
  local digits, scale = int .. frac, #frac
  local e = tonumber(exp ~= "" and exp or "0")
  if e > 0 then
    if e > scale then digits = digits .. rep("0", e - scale); scale = 0 else scale = scale - e end
  elseif e < 0 then
    scale = scale - e
  end
  return make(sign == "-", digits == "" and "0" or digits, scale)
end

--- Like parse, but raises on bad input (for values the simulator produced itself).
function M.new(v)
  local d, err = M.parse(v)
  if not d then error("decimal: " .. err, 2) end
  return d
end

local function widen(d, scale)
  -- zero stays "0": the digit-string helpers compare by length first, so "000" would outrank "10"
  if d.scale == scale or d.digits == "0" then return d.digits end
  return d.digits .. rep("0", scale - d.scale)
end

-- Unsigned digit-string arithmetic ------------------------------------------------------------

local function ucmp(a, b)
  if #a ~= #b then return #a < #b and -1 or 1 end
  if a == b then return 0 end
  return a < b and -1 or 1
end

local function uadd(a, b)
  local out, carry = {}, 0
  local i, j = #a, #b
  while i > 0 or j > 0 or carry > 0 do
    local s = carry + (i > 0 and (a:byte(i) - 48) or 0) + (j > 0 and (b:byte(j) - 48) or 0)
    out[#out + 1] = s % 10
    carry = s >= 10 and 1 or 0
    i, j = i - 1, j - 1
  end
  return strip(table.concat(out):reverse())
end

local function usub(a, b) -- a >= b
  local out, borrow = {}, 0
  local i, j = #a, #b
  while i > 0 do
    local s = (a:byte(i) - 48) - borrow - (j > 0 and (b:byte(j) - 48) or 0)
    if s < 0 then s = s + 10; borrow = 1 else borrow = 0 end
    out[#out + 1] = s
    i, j = i - 1, j - 1
  end
  return strip(table.concat(out):reverse())
end

-- Multiplication in base 10^7 limbs: a limb product is < 10^14 and a running cell stays
-- below 2^53, so doubles hold every intermediate exactly.
local BASE, WIDTH = 10000000, 7
local function limbs(s)
  local t = {}
  local i = #s
  while i > 0 do
    local j = math.max(1, i - WIDTH + 1)
    t[#t + 1] = tonumber(sub(s, j, i))
    i = j - 1
  end
  return t
end

local function umul(a, b)
  if a == "0" or b == "0" then return "0" end
  local x, y = limbs(a), limbs(b)
  local r = {}
  for k = 1, #x + #y do r[k] = 0 end
  for i = 1, #x do
    local carry, xi = 0, x[i]
    for j = 1, #y do
      local cur = r[i + j - 1] + xi * y[j] + carry
      carry = floor(cur / BASE)
      r[i + j - 1] = cur - carry * BASE
    end
    local k = i + #y
    while carry > 0 do
      local cur = r[k] + carry
      carry = floor(cur / BASE)
      r[k] = cur - carry * BASE
      k = k + 1
    end
  end
  local parts = {}
  for k = #r, 1, -1 do parts[#parts + 1] = format("%07d", r[k]) end
  return strip(table.concat(parts))
end

-- Long division of digit strings: quotient digits and the remainder.
local function udivmod(a, b)
  local q, rem = {}, "0"
  for i = 1, #a do
    rem = strip(rem .. sub(a, i, i))
    local d = 0
    while ucmp(rem, b) >= 0 do rem = usub(rem, b); d = d + 1 end
    q[#q + 1] = d
  end
  return strip(table.concat(q)), rem
end

-- Signed operations ----------------------------------------------------------------------------

local function signed_add(aneg, a, bneg, b, scale)
  if aneg == bneg then return make(aneg, uadd(a, b), scale) end
  local c = ucmp(a, b)
  if c == 0 then return make(false, "0", scale) end
  if c > 0 then return make(aneg, usub(a, b), scale) end
  return make(bneg, usub(b, a), scale)
end

function M.add(a, b)
  a, b = M.new(a), M.new(b)
  local scale = math.max(a.scale, b.scale)
  return signed_add(a.neg, widen(a, scale), b.neg, widen(b, scale), scale)
end

function M.sub(a, b)
  a, b = M.new(a), M.new(b)
  local scale = math.max(a.scale, b.scale)
  return signed_add(a.neg, widen(a, scale), not b.neg, widen(b, scale), scale)
end

function M.mul(a, b)
  a, b = M.new(a), M.new(b)
  return make(a.neg ~= b.neg, umul(a.digits, b.digits), a.scale + b.scale)
end

function M.neg(a)
  a = M.new(a)
  return make(not a.neg, a.digits, a.scale)
end

function M.cmp(a, b)
  local d = M.sub(a, b)
  if d.digits == "0" then return 0 end
  return d.neg and -1 or 1
end

function M.is_zero(a) return M.new(a).digits == "0" end
function M.is_negative(a) return M.new(a).neg end
function M.min(a, b) return M.cmp(a, b) <= 0 and M.new(a) or M.new(b) end
function M.max(a, b) return M.cmp(a, b) >= 0 and M.new(a) or M.new(b) end

--- Rounds to `scale` fractional digits, half-up (ties away from zero).
function M.round(a, scale)
  a = M.new(a)
  if a.scale <= scale then return make(a.neg, widen(a, scale), scale) end
  local drop = a.scale - scale
  local digits = rep("0", drop + 1 - #a.digits > 0 and drop + 1 - #a.digits or 0) .. a.digits
  local keep, first = sub(digits, 1, #digits - drop), digits:byte(#digits - drop + 1) - 48
  if first >= 5 then keep = uadd(keep, "1") end
  return make(a.neg, keep, scale)
end

--- a / b rounded half-up to `scale` digits; nil and a message when b is zero.
function M.div(a, b, scale)
  a, b = M.new(a), M.new(b)
  if b.digits == "0" then return nil, "division by zero" end
  scale = scale or 10
  -- a/b = (A / 10^sa) / (B / 10^sb); compute floor(A * 10^(scale+1+sb-sa) / B) then round.
  local shift = scale + 1 + b.scale - a.scale
  local num, den = a.digits, b.digits
  if shift >= 0 then num = num .. rep("0", shift) else den = den .. rep("0", -shift) end
  local q = udivmod(num, den)
  return M.round(make(a.neg ~= b.neg, q, scale + 1), scale)
end

--- Sum of a list of amounts (empty -> 0).
function M.sum(list)
  local total = M.new("0")
  for _, v in ipairs(list) do total = M.add(total, v) end
  return total
end

--- Plain decimal text with trailing fractional zeros removed ("12.50" -> "12.5", "3.00" -> "3").
function M.tostring(a)
  a = M.new(a)
  local digits, scale = a.digits, a.scale
  while scale > 0 and digits:sub(-1) == "0" and #digits > 1 do
    digits, scale = digits:sub(1, -2), scale - 1
  end
  if scale > 0 and digits == "0" then scale = 0 end
  local s
  if scale == 0 then
    s = digits
  else
    if #digits <= scale then digits = rep("0", scale - #digits + 1) .. digits end
    s = sub(digits, 1, #digits - scale) .. "." .. sub(digits, #digits - scale + 1)
  end
  return (a.neg and "-" or "") .. s
end

--- Text with exactly `scale` fractional digits (rounded half-up), e.g. for documents.
function M.fixed(a, scale)
  local r = M.round(a, scale)
  local digits = r.digits
  if scale == 0 then return (r.neg and "-" or "") .. digits end
  if #digits <= scale then digits = rep("0", scale - #digits + 1) .. digits end
  return (r.neg and "-" or "") .. sub(digits, 1, #digits - scale) .. "." .. sub(digits, #digits - scale + 1)
end

--- The amount as a JSON number (exact text).
function M.json(a) return json.number(M.tostring(a)) end

D.__tostring = M.tostring
D.__eq = function(a, b) return M.cmp(a, b) == 0 end
D.__lt = function(a, b) return M.cmp(a, b) < 0 end
D.__le = function(a, b) return M.cmp(a, b) <= 0 end

return M
