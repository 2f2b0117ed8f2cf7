--- core.http alone against raw libcurl: N sequential GETs of a 1 KB JSON file from a static nginx
-- on loopback, `t:perform` in a loop vs build/bench/raw_curl (one reused easy handle), in the
-- same run. Rounds alternate between the two so drifting machine load hits both alike.
-- Usage (from the checkout): make bench BENCH=transport   [N=2000 ROUNDS=5 in the environment]
local nginx = require "spec.support.nginx"
local http = require "zuora.core".http

local N = tonumber(os.getenv("N")) or 2000
local ROUNDS = tonumber(os.getenv("ROUNDS")) or 5
local RAW = "build/bench/raw_curl"

local function sh(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  local ok = p:close()
  return ok and out or nil
end

assert(io.open(RAW, "rb"), RAW .. " missing: run `make build/bench/raw_curl` (make bench builds it)")

local root = assert(sh("mktemp -d /tmp/zuora-bench.XXXXXX")):match("%S+")
local json = '{"success":true,"basicInfo":{"id":"2c92c0f8' .. ("0"):rep(24) .. '","accountNumber":"A00000001",'
  .. '"name":"Bench Account","balance":1234.56,"currency":"USD","status":"Active","notes":"'
json = json .. ("x"):rep(1024 - #json - 3) .. '"}}'
assert(#json == 1024)
local f = assert(io.open(root .. "/account.json", "wb"))
f:write(json)
f:close()

local srv = nginx.start{ vars = { docroot = root }, http = [[
  server {
    listen 127.0.0.1:${port1};
    keepalive_requests 1000000;
    location / { root ${docroot}; default_type application/json; }
  }
]] }
local url = srv.url .. "/account.json"

local function raw_round()
  local out = assert(sh(RAW .. " " .. url .. " " .. N), "raw_curl failed")
  return tonumber(out)
end

local t = http.new()
local function transport_round()
  local t0 = http.now()
  for _ = 1, N do
    local r = t:perform{ url = url }
    if r.status ~= 200 or #r.body ~= 1024 then error("transfer failed: " .. tostring(r.error or r.status)) end
  end
  return http.now() - t0
end

transport_round() -- warm up both (connection, page cache)
raw_round()
local raw, tr = {}, {}
for i = 1, ROUNDS do
  raw[i] = raw_round()
  tr[i] = transport_round()
end
t:close()
srv:stop()
os.execute("rm -rf '" .. root .. "'")

local function median(xs)
  table.sort(xs)
  return xs[(#xs + 1) // 2]
end
local mr, mt = median(raw), median(tr)
print(("%d sequential GETs of a 1 KB JSON over loopback HTTP/1.1 keep-alive, median of %d rounds")
  :format(N, ROUNDS))
print(("%-24s %10s %12s"):format("", "seconds", "per request"))
print(("%-24s %10.4f %10.1f us"):format("raw libcurl (raw_curl)", mr, mr / N * 1e6))
print(("%-24s %10.4f %10.1f us"):format("core.http t:perform", mt, mt / N * 1e6))
print(("ratio core.http / raw libcurl: %.3f"):format(mt / mr))
