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

--- Prism's log as requests in arrival order, each with its violations {severity, location, message}.
function M.parse_log(text)
  local requests = {}
  for line in text:gmatch("[^\n]+") do
    local method, path = line:match("%[HTTP SERVER%] (%a+) (%S+) .-Request received")
    if method then
      requests[#requests + 1] = { method = method:upper(), path = path, violations = {} }
    else
      local sev, loc, msg = line:match("%[VALIDATOR%]%s+%S+%s+(%a+)%s+Violation: (%S+) (.*)$")
      if sev and #requests > 0 then
        local list = requests[#requests].violations
        list[#list + 1] = { severity = sev, location = loc, message = msg }
      end
    end
  end
  return requests
end

--- The value at a violation's body path ("response.body.a.0.b") in a decoded answer, and the path
-- with indices as `*`.
local function at(doc, location)
  local field = location:gsub("^response%.body%.?", "")
  local v, parts = doc, {}
  for step in field:gmatch("[^.]+") do
    local i = tonumber(step)
    parts[#parts + 1] = i and "*" or step
    if type(v) == "table" then v = i and v[i + 1] or v[step] else v = nil end
  end
  return v, table.concat(parts, ".")
end

local function rule_for(rules, v, method, path, field, value_text)
  for _, r in ipairs(rules) do
    if (not r.message or v.message:find(r.message)) and (not r.method or r.method == method)
      and (not r.path or path:find(r.path)) and (not r.field or field:find("^" .. r.field .. "$"))
      and (not r.value or value_text:find(r.value)) then
      return r
    end
  end
end

--- Judges a proxy run: Prism's log text, zuora-sim's request log of the same run (oldest first), the
-- differences module (tools/prism-proxy-differences.lua) and the JSON codec of the sim's log. Each
-- response violation of severity error is matched to its answer (in order, by method and path):
-- a null value, a stateful-generic answer (log `extra.served`: an operation zuora-sim neither models
-- nor shapes from the older spec), a rule, or
-- unexplained. Returns counts, per-rule counts, the unexplained ones (one line per operation,
-- field and kind of value) and the stateful-generic ones (one line each).
function M.judge(log_text, sim_log, differences, json)
  local requests = M.parse_log(log_text)
  local pos = 1
  local function entry_for(r)
    for i = pos, #sim_log do
      local e = sim_log[i]
      if e.method == r.method and e.path == r.path then
        pos = i + 1
        return e
      end
    end
  end
  local counts = { requests = #requests, validated = 0, violations = 0, null = 0, ruled = 0, generic = 0,
    request_side = 0 }
  local per_rule, unexplained, seen, generic_list = {}, {}, {}, {}
  for _, r in ipairs(requests) do
    local e = entry_for(r)
    local doc = e and e.response_body and json.decode(e.response_body)
    -- zuora-sim notes generic answers in its log; stateful-generic ones are operations it does not
    -- model and whose shape the older spec does not give (spec-shaped ones are judged like the rest).
    local generic = e and type(e.extra) == "table" and e.extra.served == "stateful-generic"
    local route_found = true
    for _, v in ipairs(r.violations) do
      if v.location == "request" and v.message:find("route not found") then route_found = false end
    end
    if route_found then counts.validated = counts.validated + 1 end
    for _, v in ipairs(r.violations) do
      if v.location:find("^response") and v.severity == "error" then
        counts.violations = counts.violations + 1
        local value, field = nil, v.location
        if doc then value, field = at(doc, v.location) end
        local text = value == nil and "(absent)" or (json.encode(value) or tostring(value))
        if generic then
          counts.generic = counts.generic + 1
          generic_list[#generic_list + 1] = ("%s %s %s: %s"):format(r.method, r.path, field, v.message)
        elseif value == json.null then
          counts.null = counts.null + 1
        else
          local rule = rule_for(differences.rules, v, r.method, r.path, field, text)
          if rule then
            counts.ruled = counts.ruled + 1
            per_rule[rule] = (per_rule[rule] or 0) + 1
          else
            local op = r.method .. " " .. r.path:gsub("/[%x]+%f[/%z]", "/{id}")
              :gsub("/[A-Z]+%-?[%w]*%d%f[/%z]", "/{key}")
            local message = v.message:gsub(" %S+ must", " must")
            local key = ("%s %s: %s %s"):format(op, field, message,
              text:find("^[%-%d.]+$") and "(a number)" or ("(e.g. " .. text:sub(1, 40) .. ")"))
            if not seen[key] then
              seen[key] = true
              unexplained[#unexplained + 1] = key
            end
          end
        end
      elseif v.location:find("^request") then
        counts.request_side = counts.request_side + 1
      end
    end
  end
  return counts, per_rule, unexplained, generic_list
end

return M
