--- `make bench BENCH=catalog`: what the catalogue costs.
-- 1. Loading: CPU time of `require "zuora"` (+ zuora.operations), of a group's first use and of
--    loading every group, each measured inside fresh processes (median of many), so the 5 ms budget
--    for `require "zuora"` is checked without process start-up noise.
-- 2. Calling: an operation object against the same request made by hand (the peer: building the
--    opts table and calling client:request directly), with a client whose request does nothing.
local RUNS = tonumber(os.getenv("RUNS")) or 41
local lua = arg[-1] or "lua5.4"

local function median(t)
  table.sort(t)
  return t[(#t + 1) // 2]
end

local function in_fresh_process(code)
  local script = "local c = os.clock; local t0 = c(); " .. code .. "; io.write(string.format('%.9f', c() - t0))"
  local samples = {}
  for i = 1, RUNS do
    local p = assert(io.popen(lua .. " -e " .. ("%q"):format(script)))
    local out = p:read("a")
    p:close()
    samples[i] = assert(tonumber(out), "no timing from: " .. code .. " -> " .. out)
  end
  return median(samples)
end

print(("loading (CPU time inside a fresh %s process, median of %d)"):format(lua, RUNS))
local rows = {
  { "require 'zuora'", "require 'zuora'" },
  { "require 'zuora' + 'zuora.operations'", "require 'zuora'; require 'zuora.operations'" },
  { "... + first use of client.accounts",
    "require 'zuora'; require 'zuora.operations'.group({}, 'accounts')" },
  { "... + all 94 groups (operations.list())", "require 'zuora'; require 'zuora.operations'.list()" },
}
for _, r in ipairs(rows) do
  print(("  %-45s %8.3f ms"):format(r[1], in_fresh_process(r[2]) * 1000))
end

-- Calling.
local operations = require "zuora.operations"
local client = {}
function client.request(_, _, _, opts) return opts end
local accounts = operations.group(client, "accounts")
local retrieve = accounts.retrieve
local entry = operations.entry("accounts", "retrieve")
local N = tonumber(os.getenv("N")) or 1000000

local function time(fn)
  local best = math.huge
  for _ = 1, 5 do
    local t0 = os.clock()
    fn()
    local dt = os.clock() - t0
    if dt < best then best = dt end
  end
  return best / N * 1e9
end

local by_hand = time(function()
  for i = 1, N do
    client:request(entry.method, entry.path, { path = { ["account-key"] = "A" .. (i % 10) }, op = entry })
  end
end)
local by_op = time(function()
  for i = 1, N do retrieve("A" .. (i % 10)) end
end)
local by_op_q = time(function()
  local q = { fields = "basicInfo" }
  for i = 1, N do retrieve("A" .. (i % 10), q, nil) end
end)
print(("calling (best of 5 x %d calls, request() does nothing)"):format(N))
print(("  %-45s %8.0f ns/call"):format("client:request by hand (peer)", by_hand))
print(("  %-45s %8.0f ns/call  (%.2fx the peer)"):format("accounts.retrieve(key)", by_op, by_op / by_hand))
print(("  %-45s %8.0f ns/call  (%.2fx the peer)"):format("accounts.retrieve(key, query)", by_op_q,
  by_op_q / by_hand))
