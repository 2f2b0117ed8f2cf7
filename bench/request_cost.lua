--- Instructions per request, layer by layer, counted by callgrind (not noisy, unlike wall time on
-- a shared machine). Each layer runs in its own process under `valgrind --tool=callgrind` twice,
-- with N1 and N2 requests against the bench nginx; (total(N2) - total(N1)) / (N2 - N1) is the
-- cost of one request in the client's process, start-up and warm-up cancelled out. nginx's own
-- work is not counted (it is not traced), for the raw peer nor for the client.
--
--   raw       build/bench/raw_curl: curl_easy_perform on one reused easy handle, a bare GET
--   same      raw_curl sending the client's request: its header lines, Authorization, Accept-Encoding
--   perform   core.http t:perform{url = ...}
--   wire      t:perform with what the client sends: its headers, auth, decode, timeouts, header_block
--   request   client:request("GET", "/v1/accounts/{account-key}", {path = ...})
--   retrieve  client.accounts.retrieve(key)
--
-- Usage: make bench BENCH=request_cost   [N1=200 N2=1200 LAYERS="raw perform ..." KEEP=dir]
-- KEEP=dir leaves the callgrind files of the N2 runs there (callgrind_annotate them).
local support = require "bench.lib_support"

local function run_layer(layer, u, n)
  local http = require("zuora.core").http
  if layer == "perform" then
    local t = http.new()
    local req = { url = u }
    for _ = 1, n do
      local r = t:perform(req)
      if r.status ~= 200 then error("transfer failed") end
    end
    return
  end
  local zuora = require "zuora"
  local client = zuora.new{ base_url = u:match("^(https?://[^/]+)"), token = "bench-token" }
  if layer == "wire" then
    local req = client:prepare("GET", "/v1/accounts/{account-key}", { path = { ["account-key"] = support.KEY } })
    req.fresh_connect, req.header_block = false, true -- as client:request sends it
    local t = client.transport
    for _ = 1, n do
      local r = t:perform(req)
      if r.status ~= 200 or r.data.basicInfo.balance ~= 1234.56 then error("transfer failed") end
    end
  elseif layer == "request" then
    local path = { ["account-key"] = support.KEY }
    for _ = 1, n do
      local acct = client:request("GET", "/v1/accounts/{account-key}", { path = path })
      if not acct or acct.basicInfo.balance ~= 1234.56 then error("call failed") end
    end
  elseif layer == "retrieve" then
    local accounts = client.accounts
    for _ = 1, n do
      local acct = accounts.retrieve(support.KEY)
      if not acct or acct.basicInfo.balance ~= 1234.56 then error("call failed") end
    end
  else
    error("unknown layer " .. layer)
  end
  client:close()
end

if arg[1] == "--run" then
  run_layer(arg[2], arg[3], tonumber(arg[4]))
  os.exit(0)
end

local N1 = tonumber(os.getenv("N1")) or 200
local N2 = tonumber(os.getenv("N2")) or 1200
local KEEP = os.getenv("KEEP")
local LAYERS = {}
for l in (os.getenv("LAYERS") or "raw same perform wire request retrieve"):gmatch("%S+") do LAYERS[#LAYERS + 1] = l end

assert(support.sh("command -v valgrind"), "valgrind is needed")
local tmp = assert(support.sh("mktemp -d /tmp/zuora-cost.XXXXXX")):match("%S+")

local function instructions(layer, u, n)
  local out = ("%s/%s.%d.out"):format(KEEP or tmp, layer, n)
  local cmd
  if layer == "raw" then
    cmd = support.raw_cmd(u, n)
  elseif layer == "same" then
    local client = require("zuora").new{ base_url = u:match("^(https?://[^/]+)"), token = "bench-token" }
    cmd = support.raw_cmd(u, n, support.same_request_args(client, "bench-token"))
    client:close()
  else
    cmd = ("lua5.4 bench/request_cost.lua --run %s %s %d"):format(layer, u, n)
  end
  assert(support.sh(("valgrind --tool=callgrind --dump-instr=no --callgrind-out-file=%s %s >/dev/null 2>&1")
    :format(out, cmd)), "valgrind run failed: " .. cmd)
  local f = assert(io.open(out, "rb"))
  local total
  for line in f:lines() do
    total = line:match("^summary:%s*(%d+)") or line:match("^totals:%s*(%d+)") or total
  end
  f:close()
  return assert(tonumber(total), "no totals in " .. out)
end

local srv = support.serve_account()
local ok, err = pcall(function()
  print(("Instructions per request (callgrind, (I(%d) - I(%d)) / %d), client process only"):format(N2, N1, N2 - N1))
  print(("%-10s %12s %10s %10s"):format("layer", "instr/req", "x raw", "x same"))
  local base = {}
  for _, layer in ipairs(LAYERS) do
    local per = (instructions(layer, srv.account_url, N2) - instructions(layer, srv.account_url, N1)) / (N2 - N1)
    if layer == "raw" or layer == "same" then base[layer] = per end
    local function x(b) return b and ("%.2f"):format(per / b) or "-" end
    print(("%-10s %12.0f %10s %10s"):format(layer, per, x(base.raw), x(base.same)))
  end
end)
srv.stop()
os.execute("rm -rf '" .. tmp .. "'")
if not ok then error(err, 0) end
