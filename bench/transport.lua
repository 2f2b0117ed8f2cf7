--- core.http alone against raw libcurl: N sequential GETs of a 1 KB JSON file from a static nginx
-- on loopback, `t:perform` in a loop vs build/bench/raw_curl (one reused easy handle), in the
-- same run. Rounds alternate between the two so drifting machine load hits both alike.
-- Usage (from the checkout): make bench BENCH=transport   [N=2000 ROUNDS=5 in the environment]
local support = require "bench.lib_support"
local http = require "zuora.core".http

local N = tonumber(os.getenv("N")) or 2000
local ROUNDS = tonumber(os.getenv("ROUNDS")) or 5

local srv = support.serve_account()
local url = srv.account_url

local t = http.new()
local function transport_round() return support.perform_round(t, url, N) end

local ok, runs = pcall(support.alternate, {
  { "raw", function() return support.raw_round(url, N) end },
  { "transport", transport_round },
}, ROUNDS)
t:close()
srv.stop()
if not ok then error(runs, 0) end

local mr, mt = support.median(runs.raw), support.median(runs.transport)
print(("%d sequential GETs of a 1 KB JSON over loopback HTTP/1.1 keep-alive, median of %d rounds")
  :format(N, ROUNDS))
print(("%-24s %10s %12s"):format("", "seconds", "per request"))
print(("%-24s %10.4f %10.1f us"):format("raw libcurl (raw_curl)", mr, mr / N * 1e6))
print(("%-24s %10.4f %10.1f us"):format("core.http t:perform", mt, mt / N * 1e6))
print(("ratio core.http / raw libcurl: %.3f"):format(mt / mr))
