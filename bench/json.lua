--- JSON decode/encode speed of zuora.json against lua-cjson and dkjson, measured in one run.
-- Usage: `BENCH=json make bench` (or `lua5.4 bench/json.lua` with LUA_CPATH set by the Makefile).
-- Environment: JSON_BENCH_SAMPLES (default 9) samples per case, JSON_BENCH_SAMPLE_SECONDS (0.1).
-- Each sample times a batch of calls with os.clock (CPU time of this process); libraries take
-- turns sample by sample so machine noise hits all of them alike. Reported: the median time
-- per call and the ratio zuora / peer (below 1.0 means zuora is faster).
package.path = "bench/?.lua;" .. package.path
local data = require "lib_json_data"
local zjson = require("zuora.core").json
local cjson = require "cjson"
local dkjson = require "dkjson"

local SAMPLES = tonumber(os.getenv("JSON_BENCH_SAMPLES")) or 9
local SAMPLE_SECONDS = tonumber(os.getenv("JSON_BENCH_SAMPLE_SECONDS")) or 0.1

local libs = {
  { name = "zuora", encode = zjson.encode, decode = zjson.decode },
  { name = "cjson", encode = cjson.encode, decode = cjson.decode },
  { name = "dkjson", encode = function(v) return dkjson.encode(v) end,
    decode = function(s) return dkjson.decode(s) end },
}

local docs = {
  { name = "invoices x400", value = data.invoices(400) },
  { name = "account", value = data.account() },
  { name = "doubles x10000", value = data.doubles(10000) },
}

-- Same data? (numbers compare by value: cjson reads 1 as 1.0)
local function same(a, b)
  if type(a) ~= "table" or type(b) ~= "table" then return a == b end
  for k, v in pairs(a) do
    if not same(v, b[k]) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end

local function batch(fn, arg, n)
  local t0 = os.clock()
  for _ = 1, n do fn(arg) end
  return os.clock() - t0
end

-- Calls per sample so that one sample lasts about SAMPLE_SECONDS.
local function calibrate(fn, arg)
  local n = 1
  while true do
    local t = batch(fn, arg, n)
    if t >= SAMPLE_SECONDS / 4 then return math.max(1, math.floor(n * SAMPLE_SECONDS / t)) end
    n = n * 4
  end
end

local function median(t)
  table.sort(t)
  local n = #t
  if n % 2 == 1 then return t[(n + 1) / 2] end
  return (t[n / 2] + t[n / 2 + 1]) / 2
end

local function run_case(op, arg)
  local per, times = {}, {}
  for i, lib in ipairs(libs) do
    per[i] = calibrate(lib[op], arg)
    times[i] = {}
  end
  for _ = 1, SAMPLES do
    for i, lib in ipairs(libs) do
      collectgarbage("collect")
      times[i][#times[i] + 1] = batch(lib[op], arg, per[i]) / per[i]
    end
  end
  local med = {}
  for i = 1, #libs do med[i] = median(times[i]) end
  return med
end

print(string.format("%s, %d samples of ~%.2fs each; times are medians per call",
  jit and jit.version or _VERSION, SAMPLES, SAMPLE_SECONDS))
print(string.format("%-14s %-7s %9s %11s %11s %11s %13s %14s", "document", "op", "bytes",
  "zuora", "cjson", "dkjson", "zuora/cjson", "zuora/dkjson"))
local function us(s) return string.format("%9.1fus", s * 1e6) end
for _, doc in ipairs(docs) do
  local text = assert(zjson.encode(doc.value))
  -- Sanity: every library reads the text back to the same document.
  assert(same(zjson.decode(text), cjson.decode(text)) and same(zjson.decode(text), dkjson.decode(text)))
  for _, op in ipairs { "decode", "encode" } do
    local med = run_case(op, op == "decode" and text or doc.value)
    print(string.format("%-14s %-7s %9d %11s %11s %11s %13.2f %14.3f", doc.name, op, #text,
      us(med[1]), us(med[2]), us(med[3]), med[1] / med[2], med[1] / med[3]))
  end
end

-- Decimals (docs/decimal.md): the same decoder asked for zuora.decimal values (target: at most
-- 1.5x the time of doubles), then 10^6 additions of decimals against doubles, in turns.
local D = require("zuora.core").decimal
local DEC = { decimals = true }

local function pair_case(f1, a1, f2, a2)
  local n1, n2 = calibrate(f1, a1), calibrate(f2, a2)
  local t1, t2, ratios = {}, {}, {}
  for _ = 1, SAMPLES do
    collectgarbage("collect")
    local x = batch(f1, a1, n1) / n1
    collectgarbage("collect")
    local y = batch(f2, a2, n2) / n2
    t1[#t1 + 1], t2[#t2 + 1], ratios[#ratios + 1] = x, y, y / x
  end
  return median(t1), median(t2), median(ratios)
end

print()
print(string.format("%-26s %12s %12s %8s", "decimals", "doubles", "decimals", "ratio"))
for _, doc in ipairs(docs) do
  local text = assert(zjson.encode(doc.value))
  local a, b, r = pair_case(zjson.decode, text, function(s) return zjson.decode(s, DEC) end, text)
  print(string.format("%-26s %12s %12s %8.2f", "decode " .. doc.name, us(a), us(b), r))
end

-- 10^6 additions: 1000 amounts with 2 decimals, summed 1000 times over.
local amounts_d, amounts_n = {}, {}
for i = 1, 1000 do
  local cents = (i * 7919) % 100000
  amounts_d[i] = D(string.format("%d.%02d", math.floor(cents / 100), cents % 100))
  amounts_n[i] = cents / 100
end
local function sum(list)
  local s = list == amounts_d and D(0) or 0
  for _ = 1, 1000 do
    for i = 1, 1000 do s = s + list[i] end
  end
  return s
end
local ADD_SAMPLES = 5
local function add_case(label)
  local td, tn, ratios = {}, {}, {}
  for _ = 1, ADD_SAMPLES do
    collectgarbage("collect")
    local t0 = os.clock()
    sum(amounts_n)
    local x = os.clock() - t0
    collectgarbage("collect")
    t0 = os.clock()
    sum(amounts_d)
    local y = os.clock() - t0
    tn[#tn + 1], td[#td + 1], ratios[#ratios + 1] = x, y, y / x
  end
  print(string.format("%-26s %12s %12s %8.1f", label, string.format("%.1fms", median(tn) * 1e3),
    string.format("%.1fms", median(td) * 1e3), median(ratios)))
end
add_case("10^6 additions")
-- What a finalizer on every value would cost (the representation has none): a no-op C function
-- as __gc, set on the shared metatable, marks each new decimal for finalization.
if _VERSION == "Lua 5.4" and not jit then
  local mt = debug.getmetatable(D(0))
  mt.__gc = type
  add_case("10^6 additions, with __gc")
  mt.__gc = nil
end
