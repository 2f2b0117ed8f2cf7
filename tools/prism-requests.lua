--- Sends one request per catalogue operation that the older OpenAPI spec also has (same method and path
-- up to parameter names: entries with `spec_id` and no `spec_path`) to a Prism mock of that spec, and
-- checks Prism's verdict against the catalogue.
-- Usage: lua5.4 tools/prism-requests.lua http://127.0.0.1:4010 [-v]   (run by tools/prism-check.sh)
--
-- This is the catalogue half of the peer test, built from the catalogue alone and sent with curl:
-- path parameters follow `path_formats`, POST/PUT/PATCH send `{}` unless `no_body`, and no query
-- parameters are sent. Prism must then route every request, and the only violations it may report are
-- the missing required body fields (exactly the catalogue's `required`), missing required query
-- parameters (exactly `required_query`) and the missing body of operations whose body is not JSON
-- (`content`). Anything else is a fault in the catalogue, its facts or the older spec itself.
-- Once the client exists, the same walk goes through client:request with real bodies.
package.path = "lua/?.lua;lua/?/init.lua;tools/?.lua;" .. package.path
local cjson = require "cjson"
local catalog = require "zuora.catalog"

local base = assert(arg[1], "usage: prism-requests.lua BASE_URL [-v]")
local verbose = arg[2] == "-v"

local function shell_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local function escape(s)
  return (s:gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end))
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local s = f:read("a")
  f:close()
  os.remove(path)
  return s
end

--- Sends a request with curl; returns status, body, headers (lower-case names).
local function send(method, url, body)
  local out, hdr = os.tmpname(), os.tmpname()
  local cmd = { "curl -s -o", shell_quote(out), "-D", shell_quote(hdr), "-w '%{http_code}' -X", method,
    "-H 'Authorization: Bearer prism'" }
  if body then
    cmd[#cmd + 1] = "-H 'Content-Type: application/json; charset=utf-8' --data-binary " .. shell_quote(body)
  end
  cmd[#cmd + 1] = shell_quote(url)
  local p = assert(io.popen(table.concat(cmd, " ")))
  local status = tonumber(p:read("a")) or 0
  p:close()
  local headers = {}
  for line in read_file(hdr):gmatch("[^\r\n]+") do
    local k, v = line:match("^([^:]+):%s*(.*)$")
    if k then headers[k:lower()] = v end
  end
  return status, read_file(out), headers
end

local function path_value(fmt, i)
  if fmt == "uuid" then return ("00000000-0000-4000-8000-%012d"):format(i) end
  if fmt == "integer" then return tostring(i) end
  local enum = fmt and fmt:match("^enum:([^,]+)")
  if enum then return enum end
  return "p" .. i
end

local function violations_of(status, body, headers)
  local list
  if headers["sl-violations"] then
    local ok, v = pcall(cjson.decode, headers["sl-violations"])
    if ok and type(v) == "table" then list = v end
  end
  if not list and status == 422 then
    local ok, doc = pcall(cjson.decode, body)
    if ok and type(doc) == "table" and type(doc.validation) == "table" then list = doc.validation end
  end
  return list or {}
end

local function same_set(found, list)
  local want = {}
  for _, v in ipairs(list or {}) do want[v:lower()] = true end
  for k in pairs(found) do if not want[k] then return false end end
  for k in pairs(want) do if not found[k] then return false end end
  return true
end

local function keys(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = k end
  table.sort(out)
  return table.concat(out, ", ")
end

-- Where the older spec contradicts itself, Prism refuses what the spec elsewhere describes; these are
-- reported but do not fail the check.
local KNOWN = {
  ["DELETE /query/jobs/{job-id}"] = "the spec wants a 64-character UUID here (36 for the GET of the same path)",
  ["GET /settings/listing"] = "Prism cannot serialise the spec's application/csv example (HTTP 500)",
}

local counts = { sent = 0, clean = 0, expected = 0, faults = 0, known = 0 }
local faults, known = {}, {}

for _, g in ipairs(catalog.groups) do
  for _, e in ipairs(require(g.module)) do
    if e.spec_id and not e.spec_path then
      counts.sent = counts.sent + 1
      local i = 0
      local path = e.path:gsub("{[^}]+}", function()
        i = i + 1
        return escape(path_value(e.path_formats and e.path_formats[i], i))
      end)
      local has_body = (e.method == "POST" or e.method == "PUT" or e.method == "PATCH") and not e.no_body
        and not e.content
      local status, body, headers = send(e.method, base .. path, has_body and "{}" or nil)
      local id = ("%s.%s (%s %s)"):format(e.group, e.name, e.method, e.path)
      local body_missing, query_missing, others = {}, {}, {}
      for _, v in ipairs(violations_of(status, body, headers)) do
        local loc = table.concat(v.location or {}, "."):gsub("^request%.", "")
        local field = type(v.message) == "string" and v.message:match("must have required property '([^']+)'")
        if field and loc == "body" then
          body_missing[field:lower()] = true
        elseif field and loc == "query" then
          query_missing[field:lower()] = true
        elseif loc:match("^response") then -- luacheck: ignore 542
          -- Prism checking the spec's own response examples against its schemas: not about the request.
        elseif e.content and (v.message == "Body parameter is required" or loc == "header") then
          body_missing["(" .. e.content .. " body)"] = true -- a non-JSON body, which this probe never sends
        elseif v.severity == "Error" then
          others[#others + 1] = loc .. ": " .. tostring(v.message)
        end
      end
      local problem
      if not status or status == 0 then
        io.stderr:write("no answer from ", base, " (is Prism running?)\n")
        os.exit(2)
      elseif status == 404 or status == 405 then
        problem = "not routed (" .. status .. ")"
      elseif #others > 0 then
        problem = table.concat(others, "; ")
      elseif has_body and not same_set(body_missing, e.required) then
        problem = ("required body fields per Prism {%s}, per catalogue {%s}"):format(keys(body_missing),
          table.concat(e.required or {}, ", "))
      elseif not same_set(query_missing, e.required_query) then
        problem = ("required query per Prism {%s}, per catalogue {%s}"):format(keys(query_missing),
          table.concat(e.required_query or {}, ", "))
      elseif not status or status >= 500 or (status >= 400 and next(body_missing) == nil
          and next(query_missing) == nil and status ~= 401) then
        problem = "status " .. tostring(status)
      end
      local why = KNOWN[e.method .. " " .. e.path]
      if problem and why then
        counts.known = counts.known + 1
        known[#known + 1] = id .. ": " .. why .. " [" .. problem .. "]"
      elseif problem then
        counts.faults = counts.faults + 1
        faults[#faults + 1] = id .. ": " .. problem
      elseif next(body_missing) or next(query_missing) then
        counts.expected = counts.expected + 1
      else
        counts.clean = counts.clean + 1
      end
      if verbose then print(status, id) end
    end
  end
end

print(("Prism peer check: %d operations sent; %d accepted, %d refused only for the required fields the"
  .. " catalogue names, %d known faults of the older spec, %d disagreements"):format(counts.sent, counts.clean,
    counts.expected, counts.known, counts.faults))
for _, f in ipairs(known) do print("  known: " .. f) end
for _, f in ipairs(faults) do print("  DISAGREES: " .. f) end
os.exit(counts.faults == 0 and 0 or 1)
