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
