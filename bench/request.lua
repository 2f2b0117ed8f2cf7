--- The whole client against raw libcurl: N sequential GETs of a 1 KB account JSON from a static
-- nginx on loopback. The client side is `client.accounts.retrieve(key)`: operation object, URL and
-- headers, credentials (a fixed bearer token), scheduler, transport, JSON decoding, error checks and
-- retries logic. The peer is build/bench/raw_curl, a C loop doing only the transfer on one reused
-- easy handle, run twice: as a bare GET (libcurl's defaults: Host and Accept */*), and sending the
-- very request the client sends (its User-Agent, Accept and Authorization lines, Accept-Encoding),
-- so that the second peer differs from the client only in what happens around the transfer.
-- core.http's `t:perform{url = ...}` alone (what bench/transport.lua measures) runs in the same
-- rounds, so the table also shows how the client's cost splits between transport and pipeline.
-- Rounds alternate so drifting machine load hits all four alike; medians are compared, and so are
-- the round-by-round ratios (each client round against the peer rounds beside it). Many short
-- rounds (500 requests, a quarter second each) follow the load of a shared machine more closely
-- than a few long ones: with 2,000 x 9 the two statistics disagreed by up to 0.08 within one run.
-- Instruction counts per request, which do not depend on the machine's load: bench/request_cost.lua.
-- Usage: make bench BENCH=request   [N=500 ROUNDS=41 in the environment]
local support = require "bench.lib_support"
local zuora = require "zuora"
local http = require("zuora.core").http

local N = tonumber(os.getenv("N")) or 500
local ROUNDS = tonumber(os.getenv("ROUNDS")) or 41

local srv = support.serve_account()
local url = srv.account_url

local t = http.new()
local function perform_round() return support.perform_round(t, url, N) end

local client = zuora.new{ base_url = srv.url, token = "bench-token" }
local accounts = client.accounts
local same = support.same_request_args(client, "bench-token")
local function client_round()
  local t0 = http.now()
  for _ = 1, N do
    local acct = accounts.retrieve(support.KEY)
    if not acct or acct.basicInfo.balance ~= 1234.56 then error("call failed") end
  end
  return http.now() - t0
end

local ok, runs = pcall(support.alternate, {
  { "raw", function() return support.raw_round(url, N) end },
  { "same", function() return support.raw_round(url, N, same) end },
  { "perform", perform_round },
  { "client", client_round },
}, ROUNDS)
client:close()
t:close()
srv.stop()
if not ok then error(runs, 0) end

local mr, ms = support.median(runs.raw), support.median(runs.same)
local mp, mc = support.median(runs.perform), support.median(runs.client)
print(("%d sequential GETs of a 1 KB account JSON over loopback HTTP/1.1 keep-alive, median of %d rounds")
  :format(N, ROUNDS))
print(("%-32s %10s %12s"):format("", "seconds", "per request"))
print(("%-32s %10.4f %10.1f us"):format("raw libcurl, bare GET", mr, mr / N * 1e6))
print(("%-32s %10.4f %10.1f us"):format("raw libcurl, same request", ms, ms / N * 1e6))
print(("%-32s %10.4f %10.1f us"):format("core.http t:perform", mp, mp / N * 1e6))
print(("%-32s %10.4f %10.1f us"):format("client.accounts.retrieve", mc, mc / N * 1e6))
print(("ratio t:perform / raw libcurl: %.3f"):format(mp / mr))
print(("ratio client / raw libcurl, bare GET: %.3f"):format(mc / mr))
print(("ratio client / raw libcurl, same request: %.3f (target <= 1.15)"):format(mc / ms))
-- The same ratios taken round by round (each client round against the peer rounds next to it in
-- time), then their median: load that comes and goes on a shared machine cancels within a round.
local function paired(peer)
  local rs = {}
  for i = 1, ROUNDS do rs[i] = runs.client[i] / runs[peer][i] end
  return support.median(rs)
end
print(("paired ratio client / raw libcurl, bare GET: %.3f; same request: %.3f"):format(paired("raw"), paired("same")))
