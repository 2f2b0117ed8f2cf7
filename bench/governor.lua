--- The shared budget (zuora.governor) against no sharing, in the same run: 4 processes, each
-- `client:map` over COUNT account retrieves at concurrency 40 (max_concurrency = 40), against one
-- zuora-sim with concurrency_limit = 40 and LATENCY seconds a call. Ideal wall time:
-- 4 x COUNT x LATENCY / 40. Also measured: one process doing all 4 x COUNT calls with the whole
-- cap (what the machine allows, no coordination). For each: the slowest process's wall time from
-- the common start, calls served, calls failed, 429s the simulator answered, token requests.
-- Usage: make bench BENCH=governor   [COUNT=100 LATENCY=0.1 PROCS=4]
local simh = require "spec.support.sim"
local budget = require "spec.support.budget"

local COUNT = tonumber(os.getenv("COUNT")) or 100
local LATENCY = tonumber(os.getenv("LATENCY")) or 0.1
local PROCS = tonumber(os.getenv("PROCS")) or 4

local s = simh.start()
local ctl = require("spec.support.simctl").new(s)
local redis = require("spec.support.redis").start()
ctl:config{ concurrency_limit = 40, log_limit = PROCS * COUNT * 20 }
local ids = {}
for i = 1, 5 do ids[i] = ctl:account{ name = "Bench " .. i }.accountId end
ctl:fault{ method = "GET", path = "/v1/accounts/*", latency = LATENCY }

local function run(label, o)
  ctl:clear_requests()
  ctl:control("POST", "tokens/revoke", {})
  redis:call("FLUSHALL")
  local h = budget.launch(o)
  local res = h:wait(120)
  h:cleanup()
  local worst, ok, failed = 0, 0, 0
  for p = 1, o.procs do
    local r = res[p]
    if r then
      worst = math.max(worst, r.elapsed)
      ok, failed = ok + r.ok, failed + r.failed
    else
      failed = failed + o.count
    end
  end
  local limited = 0
  for _, e in ipairs(ctl:requests{ method = "GET" }) do if e.limited then limited = limited + 1 end end
  local ideal = PROCS * COUNT * LATENCY / 40
  print(("| %-34s | %6.2f s | %5.2fx | %4d | %4d | %5d | %3d |"):format(label, worst, worst / ideal, ok, failed,
    limited, ctl:count("POST", "/oauth/token")))
end

print(("%d processes x %d retrieves, concurrency 40, simulator cap 40, %g s a call; ideal %.2f s"):format(PROCS,
  COUNT, LATENCY, PROCS * COUNT * LATENCY / 40))
print("| run                                | wall     | /ideal | ok   | fail | 429s  | tok |")
print("|------------------------------------|----------|--------|------|------|-------|-----|")
run("1 process, all calls, no sharing", { url = s.url, procs = 1, count = PROCS * COUNT, concurrency = 40, ids = ids })
run(PROCS .. " processes, no sharing", { url = s.url, procs = PROCS, count = COUNT, concurrency = 40, ids = ids })
run(PROCS .. " processes, shared (Redis)", { url = s.url, redis = redis.url, procs = PROCS, count = COUNT,
  concurrency = 40, ids = ids })
redis:stop()
ctl:close()
s:stop()
