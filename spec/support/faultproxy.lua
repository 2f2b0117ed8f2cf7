--- Spec helper: starts build/faultproxy (spec/support/faultproxy.c, built by `make test`) between
-- a client and zuora-sim, and drives its control port.
--
--   local fp = require "spec.support.faultproxy"
--   local p = fp.start(sim.url)             -- p.url: "http://127.0.0.1:<port>" (talks to the sim)
--   p:rule{ fault = "reset_after", method = "POST", path = "/v1/accounts", count = 1 }
--   p:stats()   --> { connections, requests, forwarded, faults, open, listening }
--   p:refuse(); p:listen(); p:drop(); p:clear(); p:stop()
--
-- Faults: reset_before (the server never sees the request), reset_after (it does; the answer is
-- replaced by a reset), reset_body (headers and half the body, then a reset), stall (headers, then
-- silence), trickle (one byte per `interval` seconds), truncate_chunked (re-framed as chunked,
-- half the body, no last chunk, then a clean close), tls_alert (per connection: a TLS
-- handshake_failure alert answers the ClientHello).
local core = require "zuora.core"
local fs = require "spec.support.fs"

local M = {}

local ROOT = os.getenv("PWD") or "."
M.BIN = ROOT .. "/build/faultproxy"

local q, read, my_pid = fs.q, fs.read, fs.my_pid

local Proxy = {}
Proxy.__index = Proxy

--- Starts a proxy in front of `upstream` ("http://127.0.0.1:PORT" or "127.0.0.1:PORT").
function M.start(upstream)
  local f = io.open(M.BIN, "rb")
  if not f then error("faultproxy is not built: run `make build/faultproxy` (make test builds it)", 2) end
  f:close()
  local hostport = upstream:match("^%a+://([^/]+)") or upstream
  local p = assert(io.popen("mktemp /tmp/zuora-faultproxy.XXXXXX"))
  local out = p:read("l")
  p:close()
  local parent = my_pid()
  os.execute(("%s --upstream %s %s > %s 2>&1 &"):format(q(M.BIN), q(hostport),
    parent and ("--exit-with " .. parent) or "", q(out)))
  local text
  for _ = 1, 500 do
    text = read(out) or ""
    if text:find("\nready\n", 1, true) then break end
    os.execute("sleep 0.01")
  end
  os.remove(out)
  if not text:find("\nready\n", 1, true) then error("faultproxy did not start: " .. text, 2) end
  local self = setmetatable({
    port = tonumber(text:match("port (%d+)")),
    control_port = tonumber(text:match("control (%d+)")),
    pid = tonumber(text:match("pid (%d+)")),
    t = core.http.new{},
  }, Proxy)
  self.url = "http://127.0.0.1:" .. self.port
  self.https_url = "https://127.0.0.1:" .. self.port
  return self
end

--- One control command; returns the decoded JSON answer (raises on failure).
function Proxy:ctl(cmd, params)
  local parts = {}
  for k, v in pairs(params or {}) do parts[#parts + 1] = k .. "=" .. core.url.escape(tostring(v)) end
  table.sort(parts)
  local query = #parts > 0 and ("?" .. table.concat(parts, "&")) or ""
  local u = ("http://127.0.0.1:%d/%s%s"):format(self.control_port, cmd, query)
  local r = self.t:perform{ url = u, timeout = 5 }
  if r.status ~= 200 then
    error("faultproxy " .. cmd .. ": " .. tostring(r.status) .. " " .. tostring(r.body or r.error), 2)
  end
  return assert(core.json.decode(r.body))
end

--- Adds a rule: { fault =, method =, path = (glob over path and query), skip =, count =, interval = }.
function Proxy:rule(r) return self:ctl("rule", r).id end
function Proxy:clear() return self:ctl("clear") end
function Proxy:stats() return self:ctl("stats") end
function Proxy:refuse() return self:ctl("refuse") end
function Proxy:listen() return self:ctl("listen") end
function Proxy:drop() return self:ctl("drop") end
--- A loopback URL whose connections never complete (a full accept queue): connect timeouts.
function Proxy:blackhole_url() return "http://127.0.0.1:" .. self:ctl("blackhole").port end

function Proxy:stop()
  if self.stopped then return end
  self.stopped = true
  os.execute(("kill %d 2>/dev/null"):format(self.pid))
  self.t:close()
end

return M
