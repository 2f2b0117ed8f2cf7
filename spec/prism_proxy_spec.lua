-- The Prism proxy check: Stoplight Prism as a validating proxy (`prism proxy <older spec> <zuora-sim>`)
-- in front of zuora-sim while examples/quickstart.lua and every flow in examples/flows/ run through
-- it. Prism checks every answer of an operation the older OpenAPI spec has against that spec's
-- response schema and logs each violation; the check reads Prism's log, finds each violating answer
-- in zuora-sim's request log (in order, by method and path) and requires every violation to be
-- explained: the value is null (tools/prism-proxy-differences.lua NULL_REASON) or a rule there
-- covers it. Counts go to build/prism-proxy-report.txt.
--
-- The spec is the copy tools/prism-normalize.js writes (schemas moved onto `application/json`, where
-- Prism looks; the original keeps them under `application/json; charset=utf-8` and Prism would
-- validate nothing). Prism runs without --errors here: with it, Prism answers 404 for every path
-- the older spec lacks (object queries, bill runs, debit memos), 422 for every request shaped for
-- the newer API, and 500 in place of any answer with a violation, even a documented one (a null),
-- so a flow would stop at its first such answer and the rest would go unchecked. The validator and
-- its verdicts are the same with and without --errors; here every verdict is collected.
--
-- Tagged #prism and excluded from `make test`; `make prism-check` runs it after spec/prism_spec.lua.
local simh = require "spec.support.sim"
local prism = require "spec.support.prism"
local fs = require "spec.support.fs"
local LUA = require "spec.support.lua"
local differences = require "tools.prism-proxy-differences"

local sj = simh.json
local ROOT = os.getenv("PWD") or "."
local PROXY_SPEC = os.getenv("ZUORA_OPENAPI_PROXY_SPEC") or (ROOT .. "/build/openapi/zuora.proxy.json")
local REPORT = ROOT .. "/build/prism-proxy-report.txt"

local q, read, write, sh = fs.q, fs.read, fs.write, fs.sh

local function scripts()
  local list = { "examples/quickstart.lua" }
  local p = io.popen("ls " .. q(ROOT .. "/examples/flows") .. "/*.lua")
  for path in p:lines() do
    if not path:find("/flow%.lua$") then list[#list + 1] = path:gsub("^" .. ROOT:gsub("%p", "%%%0") .. "/", "") end
  end
  p:close()
  return list
end

local function run(script, url, s)
  local cmd = ("cd %s && ZUORA_BASE_URL=%s ZUORA_CLIENT_ID=%s ZUORA_CLIENT_SECRET=%s ZUORA_ENVIRONMENT= %s %s 2>&1; "
    .. "echo \"exit=$?\""):format(q(ROOT), q(url), q(s.client_id), q(s.client_secret), LUA, q(script))
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  return out, tonumber(out:match("exit=(%d+)%s*$"))
end

--- Prism's log as requests in arrival order, each with its violations {severity, location, message}.
local function parse_log(text)
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

local function rule_for(v, method, path, field, value_text)
  for _, r in ipairs(differences.rules) do
    if (not r.message or v.message:find(r.message)) and (not r.method or r.method == method)
      and (not r.path or path:find(r.path)) and (not r.field or field:find("^" .. r.field .. "$"))
      and (not r.value or value_text:find(r.value)) then
      return r
    end
  end
end

describe("Prism proxy check #prism", function()
  local s, dir, why_not
  local report = {}

  lazy_setup(function()
    if not (read(prism.BIN) and read(PROXY_SPEC)) then
      why_not = "Prism or the normalized spec is missing (`make prism-check` installs and writes both)"
      return
    end
    s = simh.start()
    s:config{ log_limit = 100000 }
    dir = fs.tmpdir("prism-proxy")
  end)
  lazy_teardown(function()
    if s then s:stop() end
    if dir then sh("rm -rf " .. q(dir)) end
    if #report > 0 then write(REPORT, table.concat(report, "\n") .. "\n") end
  end)

  it("finds no unexplained response violation while the quickstart and the flows run", function()
    if why_not then return pending(why_not) end
    local proxy = assert(prism.start(dir, { "proxy", PROXY_SPEC, s.url }))
    s:clear_requests()
    local ran = {}
    for _, script in ipairs(scripts()) do
      local out, code = run(script, proxy.url, s)
      assert.equals(0, code, script .. ":\n" .. out)
      ran[#ran + 1] = script
    end
    local requests = parse_log(proxy:log())
    proxy:stop()

    -- zuora-sim's log, to read each violating answer.
    local log = s:requests{ limit = 100000 }
    local pos = 1
    local function entry_for(r)
      for i = pos, #log do
        local e = log[i]
        if e.method == r.method and e.path == r.path then
          pos = i + 1
          return e
        end
      end
    end

    local counts = { requests = #requests, validated = 0, violations = 0, null = 0, ruled = 0, request_side = 0 }
    local per_rule, unexplained, seen = {}, {}, {}
    for _, r in ipairs(requests) do
      local e = entry_for(r)
      local doc = e and e.response_body and sj.decode(e.response_body)
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
          local text = value == nil and "(absent)" or (sj.encode(value) or tostring(value))
          local op = r.method .. " " .. r.path:gsub("/[%x]+%f[/%z]", "/{id}"):gsub("/[A-Z]+%-?[%w]*%d%f[/%z]", "/{key}")
          if value == sj.null then
            counts.null = counts.null + 1
          else
            local rule = rule_for(v, r.method, r.path, field, text)
            if rule then
              counts.ruled = counts.ruled + 1
              per_rule[rule] = (per_rule[rule] or 0) + 1
            else
              -- One line per operation, field and kind of value, however many answers had it.
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

    report[#report + 1] = ("Prism proxy check: %d scripts, %d requests through Prism, %d on routes the older spec "
      .. "has; %d response violations: %d null values, %d covered by rules, %d unexplained; %d request-side "
      .. "notes (the newer API's requests against the older spec, not checked)"):format(#ran, counts.requests,
      counts.validated, counts.violations, counts.null, counts.ruled, #unexplained, counts.request_side)
    for i, rule in ipairs(differences.rules) do
      report[#report + 1] = ("  rule %d: %d  %s"):format(i, per_rule[rule] or 0, rule.reason)
    end
    for _, u in ipairs(unexplained) do report[#report + 1] = "  UNEXPLAINED " .. u end
    print(table.concat(report, "\n"))
    assert.is_true(counts.validated > 0, "Prism validated no answer")
    assert.same({}, unexplained)
  end)
end)
