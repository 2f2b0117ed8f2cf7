--- Concurrency against its ideal: N calls to a zuora-sim route that answers after LATENCY seconds
-- (a latency fault), run with client:map at concurrency 1, 8, 32 and 64. The ideal wall time is
-- N x LATENCY / concurrency; the ratio wall / ideal is the cost of everything else (client,
-- scheduler, transport, simulator) and of any serialisation. The peer, measured in the same run
-- against the same simulator, is core.http alone keeping the same number of transfers in flight
-- (no client, no scheduler): client / peer is what the client and its scheduler add. The
-- simulator's request log says how many calls it really had in flight at once, and that none was
-- refused (429).
--
-- ROUTE=canned (default): the latency fault itself answers with a small account-shaped JSON, so
-- the simulator does as little as possible per call besides sleeping (log, fault match, reply);
-- ROUTE=account: the simulator's real GET /v1/accounts/{key} handler answers (credentials, routing,
-- balances recomputed from the ledger), which costs it a few tenths of a millisecond of CPU per
-- call in its single worker and shows at high concurrency.
-- Usage: make bench BENCH=concurrency   [N=1000 LATENCY=0.05 LEVELS="1 8 32 64" ROUTE=canned|account]
local simh = require "spec.support.sim"
local zuora = require "zuora"
local core = require "zuora.core"

local now = core.http.now
local N = tonumber(os.getenv("N")) or 1000
local LATENCY = tonumber(os.getenv("LATENCY")) or 0.05
local LEVELS = {}
for level in (os.getenv("LEVELS") or "1 8 32 64"):gmatch("%d+") do LEVELS[#LEVELS + 1] = tonumber(level) end

local s = simh.start()
-- The simulator caps concurrent requests (40 by default, like a small tenant); lift it above the
-- highest level measured so the cap measured is the client's.
s:config{ concurrency_limit = 1000, log_limit = N * 2 }
local account = s:account().accountNumber

local client = zuora.new{ base_url = s.url, client_id = s.client_id, client_secret = s.client_secret,
  max_retries = 0 }
assert(client.accounts.retrieve(account)) -- token and connection set up before timing
local ROUTE = os.getenv("ROUTE") or "canned"
if ROUTE == "canned" then
  s:fault{ method = "GET", path = "/v1/accounts/*", latency = LATENCY, status = 200, body = {
    success = true, basicInfo = { accountNumber = account, name = "Spec Account", balance = 0, currency = "USD" } } }
else
  s:fault{ method = "GET", path = "/v1/accounts/*", latency = LATENCY }
end

local items = {}
for i = 1, N do items[i] = account end

-- The peer: core.http with `c` transfers in flight, refilled as they finish.
local peer_t = core.http.new{}
local peer_req = { url = s.url .. "/v1/accounts/" .. account, decode = true,
  headers = { "Accept: application/json",
    "Authorization: Basic " .. core.crypto.base64(s.username .. ":" .. s.password) } }
local function peer(c)
  local sent, done, bad = 0, 0, 0
  while done < N do
    while sent < N and sent - done < c do
      peer_t:submit(peer_req)
      sent = sent + 1
    end
    peer_t:poll(1)
    for _, r in ipairs(peer_t:results()) do
      done = done + 1
      if r.status ~= 200 or not r.data then bad = bad + 1 end
    end
  end
  return bad
end

print(("%d calls of accounts.retrieve, %d ms simulated latency each (zuora-sim, one nginx worker, %s answer)")
  :format(N, LATENCY * 1000, ROUTE == "canned" and "canned" or "handler"))
print(("%11s %9s %9s %9s %7s %7s %7s %9s %6s"):format("concurrency", "ideal s", "peer s", "client s",
  "peer/i", "clnt/i", "c/peer", "in-flight", "errors"))
local rows = {}
for _, c in ipairs(LEVELS) do
  s:clear_requests()
  local t0 = now()
  local peer_bad = peer(c)
  local peer_wall = now() - t0
  local peer_log = s:requests{ method = "GET", path = "/v1/accounts/*" }
  s:clear_requests()
  t0 = now()
  local results, errs = client:map(items, function(key) return client.accounts.retrieve(key) end, { concurrency = c })
  local wall = now() - t0
  local failures = peer_bad
  for i = 1, N do
    if errs[i] or not results[i] then failures = failures + 1 end
  end
  local log = s:requests{ method = "GET", path = "/v1/accounts/*" }
  for _, e in ipairs(log) do if e.limited then failures = failures + 1 end end
  for _, e in ipairs(peer_log) do if e.limited then failures = failures + 1 end end
  local ideal = N * LATENCY / c
  rows[#rows + 1] = { c = c, wall = wall, ideal = ideal, peer = peer_wall }
  print(("%11d %9.3f %9.3f %9.3f %7.3f %7.3f %7.3f %9d %6d"):format(c, ideal, peer_wall, wall, peer_wall / ideal,
    wall / ideal, wall / peer_wall, simh.peak(log, LATENCY * 0.9), failures))
end
peer_t:close()
client:close()
s:stop()
for _, r in ipairs(rows) do
  if r.c == 32 then
    print(("client at concurrency 32: %.3f x ideal (target <= 1.2), %.3f x the core.http peer"):format(
      r.wall / r.ideal, r.wall / r.peer))
  end
end
