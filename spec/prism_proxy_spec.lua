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
    local log_text = proxy:log()
    proxy:stop()
    local counts, per_rule, unexplained = prism.judge(log_text, s:requests{ limit = 100000 }, differences, sj)

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
