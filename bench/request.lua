--- The whole client against raw libcurl: N sequential GETs of a 1 KB account JSON from a static
-- nginx on loopback. The client side is `client.accounts.retrieve(key)`: operation object, URL and
-- headers, credentials (a fixed bearer token), scheduler, transport, JSON decoding, error checks and
-- retries logic; the peer is build/bench/raw_curl, a C loop doing only the transfer on one reused
-- easy handle. Rounds alternate so drifting machine load hits both alike; medians are compared.
-- Usage: make bench BENCH=request   [N=2000 ROUNDS=7 in the environment]
local nginx = require "spec.support.nginx"
local zuora = require "zuora"
local http = require("zuora.core").http

local N = tonumber(os.getenv("N")) or 2000
local ROUNDS = tonumber(os.getenv("ROUNDS")) or 7
local RAW = "build/bench/raw_curl"

local function sh(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  local ok = p:close()
  return ok and out or nil
end

assert(io.open(RAW, "rb"), RAW .. " missing: run `make build/bench/raw_curl` (make bench builds it)")

local root = assert(sh("mktemp -d /tmp/zuora-bench.XXXXXX")):match("%S+")
local doc = '{"success":true,"basicInfo":{"id":"2c92c0f8' .. ("0"):rep(24) .. '","accountNumber":"A00000001",'
  .. '"name":"Bench Account","balance":1234.56,"currency":"USD","status":"Active","billCycleDay":1,'
  .. '"notes":"'
doc = doc .. ("x"):rep(1024 - #doc - 3) .. '"}}'
assert(#doc == 1024)
local f = assert(io.open(root .. "/A00000001", "wb"))
f:write(doc)
f:close()

local srv = nginx.start{ vars = { docroot = root }, http = [[
  server {
    listen 127.0.0.1:${port1};
    keepalive_requests 1000000;
    location /v1/accounts/ { alias ${docroot}/; default_type application/json; }
  }
]] }
local url = srv.url .. "/v1/accounts/A00000001"

local function raw_round()
  local out = assert(sh(RAW .. " " .. url .. " " .. N), "raw_curl failed")
  return tonumber(out)
end

local client = zuora.new{ base_url = srv.url, token = "bench-token" }
local accounts = client.accounts
local function client_round()
  local t0 = http.now()
  for _ = 1, N do
    local acct = accounts.retrieve("A00000001")
    if not acct or acct.basicInfo.balance ~= 1234.56 then error("call failed") end
  end
  return http.now() - t0
end

client_round() -- warm up both (connection, page cache, JIT-free Lua caches)
raw_round()
local raw, cl = {}, {}
for i = 1, ROUNDS do
  raw[i] = raw_round()
  cl[i] = client_round()
end
client:close()
srv:stop()
os.execute("rm -rf '" .. root .. "'")

local function median(xs)
  table.sort(xs)
  return xs[math.floor((#xs + 1) / 2)]
end
local mr, mc = median(raw), median(cl)
print(("%d sequential GETs of a 1 KB account JSON over loopback HTTP/1.1 keep-alive, median of %d rounds")
  :format(N, ROUNDS))
print(("%-32s %10s %12s"):format("", "seconds", "per request"))
print(("%-32s %10.4f %10.1f us"):format("raw libcurl (raw_curl)", mr, mr / N * 1e6))
print(("%-32s %10.4f %10.1f us"):format("client.accounts.retrieve", mc, mc / N * 1e6))
print(("ratio client / raw libcurl: %.3f (target <= 1.15)"):format(mc / mr))
