--- zuora-sim from the CLI: `zuora sim` runs it in the foreground, `--sim` starts one for the
-- session (on a free port, stopped when the command ends) and returns its URL and credentials.
local M = {}

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function readable(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

--- The zuora-sim launcher: next to this command (a checkout's bin/ or the installed bin
-- directory), else the one on PATH.
function M.launcher(bindir)
  if bindir and readable(bindir .. "/zuora-sim") then return bindir .. "/zuora-sim" end
  return "zuora-sim"
end

local function my_pid()
  local f = io.open("/proc/self/stat", "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s:match("^(%d+)")
end

local Sim = {}
Sim.__index = Sim

--- Starts a simulator; returns `{url, client_id, client_secret, pid, stop = fn}` or nil, message.
-- `--exit-with` ties it to this process, so it goes away even if we are killed.
function M.start(bindir, extra)
  local tmp = os.tmpname()
  local parent = my_pid()
  -- setsid: its own session, so a Ctrl-C at the terminal (sent to our whole process group) does
  -- not stop the simulator and lose the session's tenant; --exit-with still ends it with us.
  local setsid = os.execute("command -v setsid >/dev/null 2>&1") and "setsid " or ""
  local cmd = ("%s%s --port 0 %s%s 2>%s </dev/null"):format(setsid, q(M.launcher(bindir)),
    parent and ("--exit-with " .. parent .. " ") or "", extra or "", q(tmp))
  local p = io.popen(cmd, "r")
  if not p then return nil, "cannot start zuora-sim" end
  local lines = {}
  for line in p:lines() do
    if line == "ready" then break end
    lines[#lines + 1] = line
  end
  local info = {}
  for i = 2, #lines do
    local k, v = lines[i]:match("^(%S+) (.+)$")
    if k then info[k] = v end
  end
  local s = setmetatable({ pipe = p, url = lines[1], info = info, pid = tonumber(info.pid), errfile = tmp,
    client_id = "zuora-sim-client", client_secret = "zuora-sim-secret" }, Sim)
  if not s.url or not s.url:match("^https?://") or not s.pid then
    p:close()
    local ef = io.open(tmp, "rb")
    local err = ef and ef:read("a") or ""
    if ef then ef:close() end
    os.remove(tmp)
    return nil, "zuora-sim did not start" .. (err ~= "" and (": " .. err:gsub("%s+$", "")) or "")
  end
  return s
end

-- One request to the simulator with its basic credentials (the seed below); the decoded answer or
-- nil, message.
function Sim:post(path, body)
  local core = require "zuora.core"
  local t = self.http or core.http.new{ timeout = 30 }
  self.http = t
  local r = t:perform{ method = "POST", url = self.url .. path, body = assert(core.json.encode(body)),
    headers = { "Content-Type: application/json", "Accept: application/json",
      "Authorization: Basic " .. core.crypto.base64("zuora-sim-user:zuora-sim-password") }, decode = true }
  if r.kind or r.status ~= 200 or type(r.data) ~= "table" or r.data.success == false then
    return nil, ("%s: %s %s"):format(path, tostring(r.status), tostring(r.error or r.body))
  end
  return r.data
end

--- A small tenant, so the REPL's help() examples have something to show: account A00000001 (with
-- a contact and a card) subscribed to a seeded plan, invoiced and paid today. Returns the account
-- number or nil, message.
function Sim:seed()
  local today = os.date("!%Y-%m-%d")
  local acct, err = self:post("/v1/accounts", { name = "Acme Corp", currency = "USD", billCycleDay = 1,
    autoPay = true, billToContact = { firstName = "Ada", lastName = "Lovelace", country = "US", state = "CA",
      workEmail = "ada@example.com" },
    paymentMethod = { type = "CreditCard", cardType = "Visa", cardNumber = "4111111111111111",
      expirationMonth = 12, expirationYear = tonumber(os.date("!%Y")) + 3,
      cardHolderInfo = { cardHolderName = "Ada Lovelace" } } })
  if not acct then return nil, err end
  local function trigger(name) return { name = name, triggerDate = today } end
  local ok
  ok, err = self:post("/v1/orders", { orderDate = today, existingAccountNumber = acct.accountNumber,
    subscriptions = { { orderActions = { { type = "CreateSubscription",
      triggerDates = { trigger "ContractEffective", trigger "ServiceActivation", trigger "CustomerAcceptance" },
      createSubscription = { terms = { initialTerm = { termType = "EVERGREEN", startDate = today } },
        subscribeToRatePlans = { { productRatePlanId = "8ad00000000000000000000000000201" } } } } } } } })
  if not ok then return nil, err end
  ok, err = self:post("/v1/operations/invoice-collect", { accountKey = acct.accountNumber, targetDate = today })
  if not ok then return nil, err end
  return acct.accountNumber
end

--- Stops the simulator and waits for it to clean up.
function Sim:stop()
  if self.stopped then return end
  self.stopped = true
  if self.http then self.http:close() end
  os.execute(("kill -TERM %d 2>/dev/null"):format(self.pid))
  self.pipe:close()
  os.remove(self.errfile)
end

--- Runs zuora-sim in the foreground with `args` (an array of strings); returns 0 or 1.
function M.run(bindir, args)
  local parts = { q(M.launcher(bindir)) }
  -- Tied to this process, so a kill of `zuora sim` does not leave the simulator behind.
  local parent = my_pid()
  if parent then parts[#parts + 1] = "--exit-with " .. parent end
  for _, a in ipairs(args or {}) do parts[#parts + 1] = q(a) end
  local ok = os.execute(table.concat(parts, " "))
  return ok and 0 or 1
end

return M
