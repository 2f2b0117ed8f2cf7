--- Spec helper: runs one zuora-sim (bin/zuora-sim) per spec file and talks to it with curl.
--
--   local sim = require "spec.support.sim"
--   local s = sim.start()                      -- or sim.start{ args = { "--tls" } }
--   local res = s:post("/v1/accounts", { name = "Acme", currency = "USD" })   -- basic auth
--   res.status, res.headers["zuora-request-id"], res.json.accountId, res.body
--   s:fault{ method = "GET", path = "/v1/accounts/*", status = 503, count = 1 }
--   s:requests{ method = "POST", path = "/v1/accounts" }  -- the request log, oldest first
--   local c = s:client{ max_retries = 0 }                -- a zuora client on it (OAuth, fast backoff)
--   s:reset(); s:stop()
--
-- Requests go through the curl command line so the simulator is tested over real HTTP without
-- the project's C core. JSON is decoded with the simulator's own codec, zuora_sim.json (numbers
-- stay exact json.number values); library specs reach it as `require("spec.support.sim").json`
-- and never require the simulator's modules themselves.
local ROOT = os.getenv("PWD") or "."
-- zuora_sim.* lives under sim/, outside the library's LUA_PATH: the simulator is its own part.
if not package.path:find(ROOT .. "/sim/?.lua", 1, true) then
  package.path = ROOT .. "/sim/?.lua;" .. package.path
end

local json = require "zuora_sim.json"
local fs = require "spec.support.fs"

local M = {}

local q, read, write, sh, sleep, my_pid = fs.q, fs.read, fs.write, fs.sh, fs.sleep, fs.my_pid

local Sim = {}
Sim.__index = Sim

--- Starts bin/zuora-sim. opts.args: extra command-line arguments (array of strings).
function M.start(opts)
  opts = opts or {}
  local dir = fs.tmpdir("sim-spec")
  local args = {}
  for _, a in ipairs(opts.args or {}) do args[#args + 1] = q(a) end
  local parent = my_pid()
  local cmd = ("%s --port 0 %s %s >%s 2>%s </dev/null &"):format(q(ROOT .. "/bin/zuora-sim"),
    parent and ("--exit-with " .. parent) or "", table.concat(args, " "), q(dir .. "/out"), q(dir .. "/err"))
  sh(cmd)
  local out
  for _ = 1, 1000 do
    out = read(dir .. "/out") or ""
    if out:find("\nready\n", 1, true) then break end
    if (read(dir .. "/err") or "") ~= "" and not out:find("ready") then
      sleep(0.1)
      out = read(dir .. "/out") or ""
      if not out:find("ready") then break end
    end
    sleep(0.01)
  end
  if not out:find("\nready\n", 1, true) then
    error("zuora-sim did not start: " .. (read(dir .. "/err") or "") .. out, 2)
  end
  local s = setmetatable({ dir = dir, info = {}, seq = 0 }, Sim)
  local lines = {}
  for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
  s.url = lines[1]
  for i = 2, #lines do
    local k, v = lines[i]:match("^(%S+) (.+)$")
    if k then s.info[k] = v end
  end
  s.files_url, s.ca_file, s.state_dir = s.info.files_url, s.info.ca_file, s.info.state_dir
  s.pid = tonumber(s.info.pid)
  s.client_id, s.client_secret = "zuora-sim-client", "zuora-sim-secret"
  s.username, s.password = "zuora-sim-user", "zuora-sim-password"
  return s
end

--- Stops the simulator and waits until it has cleaned up after itself.
function Sim:stop()
  if self.stopped then return end
  self.stopped = true
  if self.pid then sh(("kill -TERM %d 2>/dev/null"):format(self.pid)) end
  for _ = 1, 500 do
    if not sh(("test -e %s"):format(q(self.state_dir .. "/nginx.pid"))) then break end
    sleep(0.01)
  end
  sh(("rm -rf %s"):format(q(self.dir)))
end

local function parse_headers(raw)
  local headers, status_line = {}, nil
  -- With several responses (100 Continue), keep the last block.
  for block in (raw or ""):gmatch("HTTP/[^\r\n]*\r?\n.-\r?\n\r?\n") do
    headers, status_line = {}, block:match("^(HTTP/[^\r\n]*)")
    for k, v in block:gmatch("\n([^:\r\n]+):%s*([^\r\n]*)") do
      k = k:lower()
      if headers[k] then headers[k] = headers[k] .. ", " .. v else headers[k] = v end
    end
  end
  return headers, status_line
end

--- Builds the curl argument list for a request (shared by request and parallel).
function Sim:curl_args(o)
  self.seq = self.seq + 1
  local n = self.seq
  local url = o.url or (self.url .. o.path)
  if o.query then
    local parts = {}
    for _, kv in ipairs(o.query) do parts[#parts + 1] = kv[1] .. "=" .. kv[2] end
    url = url .. (url:find("?", 1, true) and "&" or "?") .. table.concat(parts, "&")
  end
  local args = { "curl", "-s", "-S", "-g", "--max-time", tostring(o.timeout or 30), "-X", o.method or "GET",
    "-D", self.dir .. "/h" .. n, "-o", self.dir .. "/b" .. n, "-w", "%{http_code}", "-H", "Expect:" }
  if self.ca_file then args[#args + 1] = "--cacert"; args[#args + 1] = self.ca_file end
  if o.compressed then args[#args + 1] = "--compressed" end
  local auth = o.auth
  if auth == nil then auth = "basic" end
  if auth == "basic" then
    args[#args + 1] = "-u"; args[#args + 1] = self.username .. ":" .. self.password
  elseif auth == "oauth" then
    args[#args + 1] = "-H"; args[#args + 1] = "Authorization: Bearer " .. self:token()
  elseif type(auth) == "string" and auth ~= "none" then
    args[#args + 1] = "-H"; args[#args + 1] = "Authorization: Bearer " .. auth
  end
  for k, v in pairs(o.headers or {}) do args[#args + 1] = "-H"; args[#args + 1] = k .. ": " .. v end
  local body = o.body
  if o.json ~= nil then
    body = json.encode(o.json)
    args[#args + 1] = "-H"; args[#args + 1] = "Content-Type: application/json"
  end
  if body then
    write(self.dir .. "/req" .. n, body)
    args[#args + 1] = "--data-binary"; args[#args + 1] = "@" .. self.dir .. "/req" .. n
  end
  for _, part in ipairs(o.multipart or {}) do args[#args + 1] = "-F"; args[#args + 1] = part end
  args[#args + 1] = url
  local quoted = {}
  for i, a in ipairs(args) do quoted[i] = i == 1 and a or q(a) end
  return table.concat(quoted, " "), n
end

function Sim:collect(n, code_text, exit_code)
  local raw_headers = read(self.dir .. "/h" .. n)
  local headers = parse_headers(raw_headers)
  local body = read(self.dir .. "/b" .. n) or ""
  os.remove(self.dir .. "/h" .. n)
  os.remove(self.dir .. "/b" .. n)
  os.remove(self.dir .. "/req" .. n)
  local res = { status = tonumber(code_text) or 0, headers = headers, body = body, curl_exit = exit_code }
  if body ~= "" and (headers["content-type"] or ""):find("json") then res.json = json.decode(body) end
  return res
end

--- One request. o: method, path | url, query (array of {k, v}, sent as given), headers,
-- json (value to encode) | body (string), multipart (curl -F specs), auth ("basic" default,
-- "oauth", "none", or a bearer token), compressed, timeout. Returns { status, headers, body, json,
-- curl_exit } (status 0 when no response arrived).
function Sim:request(o)
  local cmd, n = self:curl_args(o)
  local p = io.popen(cmd .. " 2>" .. q(self.dir .. "/e" .. n) .. "; echo \" $?\"")
  local out = p:read("a")
  p:close()
  local code, exit_code = out:match("^(%d*) (%d+)%s*$")
  return self:collect(n, code, tonumber(exit_code))
end

--- Runs requests concurrently (curl processes in parallel); returns their results in order.
-- Each request may carry `delay` (seconds to wait before it starts).
function Sim:parallel(list)
  local cmds, ns = {}, {}
  for i, o in ipairs(list) do
    local cmd, n = self:curl_args(o)
    ns[i] = n
    local delay = o.delay and ("sleep " .. tonumber(o.delay) .. "; ") or ""
    cmds[#cmds + 1] = "(" .. delay .. cmd .. " > " .. q(self.dir .. "/code" .. n) .. " 2>/dev/null; echo \" $?\" >> "
      .. q(self.dir .. "/code" .. n) .. ") &"
  end
  sh(table.concat(cmds, " ") .. " wait")
  local results = {}
  for i, n in ipairs(ns) do
    local out = read(self.dir .. "/code" .. n) or ""
    os.remove(self.dir .. "/code" .. n)
    local code, exit_code = out:match("^(%d*) (%d+)%s*$")
    results[i] = self:collect(n, code, tonumber(exit_code))
  end
  return results
end

function Sim:get(path, o) o = o or {}; o.method, o.path = "GET", path; return self:request(o) end
function Sim:delete(path, o) o = o or {}; o.method, o.path = "DELETE", path; return self:request(o) end
function Sim:post(path, body, o) o = o or {}; o.method, o.path, o.json = "POST", path, body; return self:request(o) end
function Sim:put(path, body, o) o = o or {}; o.method, o.path, o.json = "PUT", path, body; return self:request(o) end

--- A fresh OAuth token (cached for this simulator until `fresh`).
function Sim:token(fresh)
  if self._token and not fresh then return self._token end
  local res = self:request{ method = "POST", path = "/oauth/token", auth = "none",
    headers = { ["Content-Type"] = "application/x-www-form-urlencoded" },
    body = "grant_type=client_credentials&client_id=" .. self.client_id .. "&client_secret=" .. self.client_secret }
  assert(res.status == 200, "token request failed: " .. res.status .. " " .. res.body)
  self._token = res.json.access_token
  return self._token
end

--- A control API call; returns the decoded JSON (raises on a non-2xx answer).
function Sim:control(method, path, body)
  local res = self:request{ method = method, path = "/__sim/" .. path, json = body, auth = "none" }
  assert(res.status >= 200 and res.status < 300,
    "control " .. method .. " " .. path .. ": " .. res.status .. " " .. res.body)
  return res.json
end

function Sim:fault(rule) return json.tonumber(self:control("POST", "faults", rule).id) end
function Sim:clear_faults() return self:control("DELETE", "faults") end
function Sim:config(t) return self:control("PUT", "config", t) end
function Sim:reset(t) self._token = nil; return self:control("POST", "reset", t or { tokens = true }) end
function Sim:state() return self:control("GET", "state") end
function Sim:clear_requests() return self:control("DELETE", "requests") end

--- The request log, filtered: { method=, path= (glob), origin=, since=, limit=, header= }.
function Sim:requests(filter)
  local parts = {}
  for k, v in pairs(filter or {}) do parts[#parts + 1] = k .. "=" .. tostring(v):gsub("[^%w%-%._~/*]", function(c)
    return ("%%%02X"):format(c:byte()) end) end
  table.sort(parts)
  return self:control("GET", "requests" .. (#parts > 0 and ("?" .. table.concat(parts, "&")) or "")).requests
end

--- A zuora client on this simulator: its OAuth client, a fast backoff (0.01 s, at most 0.05 s),
-- then `opts` over them.
function Sim:client(opts)
  local o = { base_url = self.url, client_id = self.client_id, client_secret = self.client_secret,
    retry_base = 0.01, retry_cap = 0.05 }
  for k, v in pairs(opts or {}) do o[k] = v end
  return require("zuora").new(o)
end

--- A ready-made account (with contact and card) for specs; returns the create response JSON.
function Sim:account(fields)
  local body = json.object("name", "Spec Account", "currency", "USD", "billCycleDay", 1,
    "billToContact", json.object("firstName", "Ada", "lastName", "Lovelace", "country", "US"),
    "paymentMethod", json.object("type", "CreditCard", "cardType", "Visa", "cardNumber", "4111111111111111",
      "expirationMonth", 12, "expirationYear", 2030, "cardHolderInfo", json.object("cardHolderName", "Ada")))
  for k, v in pairs(fields or {}) do body[k] = v end
  local res = self:post("/v1/accounts", body)
  assert(res.status == 200 and res.json.success == true, "account create failed: " .. res.body)
  return res.json
end

--- An account (Sim:account's, with `fields`) subscribed on `date` (YYYY-MM-DD) to the seeded
-- 49.99 plan and billed through `target` (invoice-collect: one posted invoice, paid by its card).
-- Returns the account's create response JSON.
function Sim:billed_account(fields, date, target)
  local acct = self:account(fields)
  local function trigger(name) return { name = name, triggerDate = date } end
  local res = self:post("/v1/orders", { orderDate = date, existingAccountNumber = acct.accountNumber,
    subscriptions = { { orderActions = { { type = "CreateSubscription",
      triggerDates = { trigger "ContractEffective", trigger "ServiceActivation", trigger "CustomerAcceptance" },
      createSubscription = { terms = { initialTerm = { termType = "EVERGREEN", startDate = date } },
        subscribeToRatePlans = { { productRatePlanId = "8ad00000000000000000000000000201" } } } } } } } })
  assert(res.status == 200, res.body)
  res = self:post("/v1/operations/invoice-collect", { accountKey = acct.accountNumber, targetDate = target })
  assert(res.status == 200, res.body)
  return acct
end

--- The largest number of request-log `entries` that arrived within `window` seconds of each
-- other. With a latency fault longer than `window` they were all in flight at once: a lower bound
-- of the concurrency the simulator saw.
function M.peak(entries, window)
  local times = {}
  for i, e in ipairs(entries) do times[i] = json.tonumber(e.time) end
  table.sort(times)
  local best, j = 0, 1
  for i = 1, #times do
    while times[i] - times[j] >= window do j = j + 1 end
    best = math.max(best, i - j + 1)
  end
  return best
end

M.json = json
M.ROOT = ROOT
return M
