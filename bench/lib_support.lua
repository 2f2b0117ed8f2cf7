--- Shared setup of the single-request benchmarks (bench/transport.lua, bench/request.lua,
-- bench/request_cost.lua): a static nginx on loopback serving one 1 KB account JSON, the raw
-- libcurl peer (build/bench/raw_curl), alternating rounds and medians.
local nginx = require "spec.support.nginx"
local http = require("zuora.core").http

local M = {}

M.RAW = "build/bench/raw_curl"
M.KEY = "A00000001"

--- Runs a shell command; its standard output, or nil when it failed.
function M.sh(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  local ok = p:close()
  return ok and out or nil
end

--- The 1 KB account document every request fetches (what GET /v1/accounts/{key} answers).
function M.account_json()
  local doc = '{"success":true,"basicInfo":{"id":"2c92c0f8' .. ("0"):rep(24) .. '","accountNumber":"A00000001",'
    .. '"name":"Bench Account","balance":1234.56,"currency":"USD","status":"Active","billCycleDay":1,'
    .. '"notes":"'
  doc = doc .. ("x"):rep(1024 - #doc - 3) .. '"}}'
  assert(#doc == 1024)
  return doc
end

--- Starts nginx serving the account at /v1/accounts/A00000001 (keep-alive without a request
-- limit). Returns a server with `url` (the origin), `account_url` (the full URL) and stop().
function M.serve_account()
  assert(io.open(M.RAW, "rb"), M.RAW .. " missing: run `make build/bench/raw_curl` (make bench builds it)")
  local root = assert(M.sh("mktemp -d /tmp/zuora-bench.XXXXXX")):match("%S+")
  local f = assert(io.open(root .. "/" .. M.KEY, "wb"))
  f:write(M.account_json())
  f:close()
  -- BENCH_PIN=1 (with the bench itself under `taskset -c 0`): nginx's worker on the second core,
  -- so the server and the client (or raw_curl) never queue behind each other on one core.
  local main = os.getenv("BENCH_PIN") and "worker_cpu_affinity 10;" or nil
  local srv = nginx.start{ main = main, vars = { docroot = root }, http = [[
    server {
      listen 127.0.0.1:${port1};
      keepalive_requests 1000000;
      location /v1/accounts/ { alias ${docroot}/; default_type application/json; }
    }
  ]] }
  local stop = srv.stop
  return setmetatable({
    url = srv.url,
    account_url = srv.url .. "/v1/accounts/" .. M.KEY,
    stop = function()
      stop(srv)
      os.execute("rm -rf '" .. root .. "'")
    end,
  }, { __index = srv })
end

--- Wall seconds of n sequential `t:perform{url = url}` on the core.http transport `t`, each
-- checked to be the 1 KB document.
function M.perform_round(t, url, n)
  local t0 = http.now()
  for _ = 1, n do
    local r = t:perform{ url = url }
    if r.status ~= 200 or #r.body ~= 1024 then error("transfer failed: " .. tostring(r.error or r.status)) end
  end
  return http.now() - t0
end

--- The command line of the raw libcurl peer doing n sequential GETs of `url` on one reused easy
-- handle. `args`, optional: more arguments for raw_curl ("--encoding", header lines).
function M.raw_cmd(url, n, args)
  local cmd = M.RAW .. " " .. url .. " " .. n
  for _, a in ipairs(args or {}) do cmd = cmd .. " '" .. (a:gsub("'", "'\\''")) .. "'" end
  return cmd
end

--- Wall seconds of n sequential GETs of `url` by the raw libcurl peer (see raw_cmd).
function M.raw_round(url, n, args)
  local out = assert(M.sh(M.raw_cmd(url, n, args)), "raw_curl failed")
  return tonumber(out)
end

--- raw_curl's arguments for putting on the wire exactly what `client` sends for the bench GET:
-- Accept-Encoding, its credentials (a bearer token `token`, which core.auth adds) and the header
-- lines client:prepare gives every request (User-Agent, Accept).
function M.same_request_args(client, token)
  local args = { "--encoding", "Authorization: Bearer " .. token }
  local req = client:prepare("GET", "/v1/accounts/{account-key}", { path = { ["account-key"] = M.KEY } })
  for _, line in ipairs(req.headers) do args[#args + 1] = line end
  return args
end

function M.median(xs)
  local s = {}
  for i, x in ipairs(xs) do s[i] = x end
  table.sort(s)
  return s[(#s + 1) // 2]
end

--- Runs every function in `rounds` once to warm up, then `n` rounds in which they take turns
-- (drifting machine load hits them alike). Returns a table name -> array of round results.
-- `rounds` is an array of { name, fn }.
function M.alternate(rounds, n)
  for _, r in ipairs(rounds) do r[2]() end
  local out = {}
  for _, r in ipairs(rounds) do out[r[1]] = {} end
  for i = 1, n do
    for _, r in ipairs(rounds) do out[r[1]][i] = r[2]() end
  end
  return out
end

return M
