--- Spec helper: Stoplight Prism (installed into build/prism by tools/prism-check.sh) on a free
-- loopback port, as a mock of the older OpenAPI spec (spec/prism_spec.lua) or as a validating proxy
-- in front of zuora-sim (spec/prism_proxy_spec.lua).
--
--   local prism = require "spec.support.prism"
--   local p = prism.start(dir, { "mock", spec })                  -- or { "proxy", spec, sim_url }
--   p.url, p.pid, p:log(); p:stop()
local fs = require "spec.support.fs"
local nginx = require "spec.support.nginx"

local M = {}

local ROOT = os.getenv("PWD") or "."
M.BIN = os.getenv("ZUORA_PRISM") or (ROOT .. "/build/prism/node_modules/.bin/prism")
M.SPEC = os.getenv("ZUORA_OPENAPI_SPEC") or (ROOT .. "/build/openapi/package/api/zuora.com.json")

local q, read, sh, my_pid = fs.q, fs.read, fs.sh, fs.my_pid

local Prism = {}
Prism.__index = Prism

function Prism:log() return read(self.log_file) or "" end

function Prism:stop()
  if self.pid then sh("kill " .. self.pid .. " 2>/dev/null") end
  self.pid = nil
end

--- Starts `prism <args...>` (e.g. {"mock", spec} or {"proxy", spec, upstream, "--errors"}) in `dir`;
-- returns the running Prism or nil, why. Prism takes a few seconds to read the 5 MB spec.
function M.start(dir, args)
  local log = dir .. "/prism.log"
  local quoted = {}
  for i, a in ipairs(args) do quoted[i] = q(a) end
  for _ = 1, 3 do
    local port = nginx.free_port()
    local cmd = table.concat(quoted, " ", 1, 1) .. " -h 127.0.0.1 -p " .. port .. " "
      .. table.concat(quoted, " ", 2)
    -- The watchdog stops Prism when this busted process goes away, however it ends.
    local p = io.popen(("%s %s > %s 2>&1 < /dev/null & pid=$!; "
      .. "(while kill -0 %s 2>/dev/null && kill -0 $pid 2>/dev/null; do sleep 1; done; kill $pid 2>/dev/null) "
      .. "> /dev/null 2>&1 & echo $pid"):format(q(M.BIN), cmd, q(log), my_pid() or "$$"))
    local pid = tonumber(p:read("a"):match("%d+"))
    p:close()
    for _ = 1, 1200 do
      local text = read(log) or ""
      if text:find("Prism is listening", 1, true) then
        return setmetatable({ url = "http://127.0.0.1:" .. port, pid = pid, log_file = log }, Prism)
      end
      if text:find("EADDRINUSE", 1, true) or not sh("kill -0 " .. pid .. " 2>/dev/null") then break end
      sh("sleep 0.1")
    end
    sh("kill " .. pid .. " 2>/dev/null")
  end
  return nil, "prism did not start: " .. (read(log) or "")
end

return M
