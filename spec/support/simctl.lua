--- Spec helper: zuora-sim's control API over an in-process core.http transport, for specs that
-- make hundreds of control calls (the fault matrix, the soak run): much faster than the curl
-- processes of spec.support.sim, whose simulator it drives.
--
--   local ctl = require("spec.support.simctl").new(s)    -- s from spec.support.sim.start()
--   ctl:reset(); ctl:fault{ ... }; ctl:count("POST", "/v1/accounts"); ctl:state().accounts
local core = require "zuora.core"

local json, http = core.json, core.http

local M = {}

local Ctl = {}
Ctl.__index = Ctl

function M.new(sim)
  return setmetatable({ sim = sim, url = sim.url, t = http.new{ timeout = 30 },
    basic = "Authorization: Basic " .. core.crypto.base64(sim.username .. ":" .. sim.password) }, Ctl)
end

local function check(r, what)
  if r.kind or r.status < 200 or r.status > 299 then
    error(what .. ": " .. tostring(r.status) .. " " .. tostring(r.error or r.body), 3)
  end
  if not r.body or r.body == "" then return true end
  return assert(json.decode(r.body))
end

--- A control call: method, path under /__sim/, optional JSON body. Returns the decoded answer.
function Ctl:control(method, path, body)
  local req = { method = method, url = self.url .. "/__sim/" .. path, headers = { "Accept: application/json" } }
  if body ~= nil then
    req.body = assert(json.encode(body))
    req.headers[2] = "Content-Type: application/json"
  elseif method == "POST" or method == "PUT" then
    req.body = "{}"
    req.headers[2] = "Content-Type: application/json"
  end
  return check(self.t:perform(req), method .. " /__sim/" .. path)
end

function Ctl:reset(t) return self:control("POST", "reset", t or { tokens = true }) end
function Ctl:config(t) return self:control("PUT", "config", t) end
function Ctl:fault(rule) return self:control("POST", "faults", rule).id end
function Ctl:clear_faults() return self:control("DELETE", "faults") end
function Ctl:clear_requests() return self:control("DELETE", "requests") end
function Ctl:state() return self:control("GET", "state") end
function Ctl:tokens() return self:control("GET", "tokens").tokens end

--- The request log, filtered like GET /__sim/requests (method, path glob, origin, since, header).
function Ctl:requests(filter)
  local parts = {}
  for k, v in pairs(filter or {}) do parts[#parts + 1] = k .. "=" .. core.url.escape(tostring(v)) end
  table.sort(parts)
  return self:control("GET", "requests" .. (#parts > 0 and ("?" .. table.concat(parts, "&")) or "")).requests
end

function Ctl:count(method, path)
  return #self:requests{ method = method, path = path }
end

--- Creates an account through the API with HTTP basic credentials; returns the reply.
function Ctl:account(fields)
  local body = { name = "Fault Matrix Co", currency = "USD", billCycleDay = 1,
    billToContact = { firstName = "Ada", lastName = "Lovelace", country = "US" } }
  for k, v in pairs(fields or {}) do body[k] = v end
  local r = self.t:perform{ method = "POST", url = self.url .. "/v1/accounts", body = assert(json.encode(body)),
    headers = { "Content-Type: application/json", self.basic } }
  local data = check(r, "create account")
  assert(data.success == true, "account create failed: " .. tostring(r.body))
  return data
end

function Ctl:close() self.t:close() end

return M
