--- Spec and bench helper: one process of the shared-budget scenario. Arguments:
--   base_url redis_url|- count concurrency start_at lease ids max_concurrency
-- Waits until wall-clock `start_at`, then client:map over `count` account retrieves at `concurrency`
-- (max_concurrency the same), with shared = {redis, concurrency, tokens = true} unless redis_url
-- is "-". Prints one JSON line: ok, failed, first error, elapsed seconds (from start_at), budget.
local zuora = require "zuora"
local core = require "zuora.core"

local base, redis, count, conc, start_at, lease = arg[1], arg[2], tonumber(arg[3]), tonumber(arg[4]),
  tonumber(arg[5]), tonumber(arg[6])
local ids = {}
for id in (arg[7] or ""):gmatch("[^,]+") do ids[#ids + 1] = id end
local opts = { base_url = base, client_id = "zuora-sim-client", client_secret = "zuora-sim-secret",
  max_concurrency = tonumber(arg[8]) or conc }
if redis ~= "-" then opts.shared = { redis = redis, concurrency = conc, tokens = true, lease = lease } end
local client = zuora.new(opts)
local items = {}
for i = 1, count do items[i] = ids[(i - 1) % #ids + 1] end

local function wall()
  local f = io.popen("date +%s.%N")
  local t = tonumber(f:read("l"))
  f:close()
  return t
end
local now = wall()
if start_at > now then
  local t = core.http.now() + (start_at - now)
  while core.http.now() < t do client:sleep(t - core.http.now()) end
end
local t0 = core.http.now()
local _, errs = client:map(items, function(id) return client.accounts.retrieve(id) end,
  { concurrency = opts.max_concurrency })
local elapsed = core.http.now() - t0 + math.max(0, now - start_at)
local failed, first = 0, nil
for _, e in pairs(errs) do failed = failed + 1; first = first or tostring(e) end
local b = client:budget()
io.write(core.json.encode{ ok = count - failed, failed = failed, first = first or core.json.null, elapsed = elapsed,
  limited = b and b.limited or core.json.null }, "\n")
client:close()
