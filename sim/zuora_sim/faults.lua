--- Fault injection: rules added through POST /__sim/faults, matched by method + path glob.
--
-- A rule: { method = "POST" | "*", path = "/v1/accounts*" (glob: * within a segment, ** across),
--   query = glob over the raw query, origin = "api" | "files", skip = N (let N matches pass first),
--   count = N (fire N times, then the rule is spent; absent = forever),
--   phase = "before" (default: the request is not processed) | "after" (processed, response replaced),
--   latency = seconds (sleep first; alone, the request then proceeds normally),
--   status, body (string or JSON value), headers = { name = value },
--   action = "reset" (close without a response) | "truncate" (promise the whole body, send part,
--            close) | "html" (a gateway's HTML error page; status 502 unless given) }
local state = require "zuora_sim.state"
local json = require "zuora_sim.json"
local util = require "zuora_sim.util"
local errors = require "zuora_sim.errors"

local M = {}

local STATUS_TEXT = { [200] = "OK", [201] = "Created", [400] = "Bad Request", [401] = "Unauthorized",
  [403] = "Forbidden", [404] = "Not Found", [409] = "Conflict", [422] = "Unprocessable Entity",
  [429] = "Too Many Requests", [500] = "Internal Server Error", [502] = "Bad Gateway",
  [503] = "Service Unavailable", [504] = "Gateway Timeout" }

local CATEGORY_FOR_STATUS = { [400] = 20, [401] = 11, [403] = 10, [404] = 40, [405] = 45, [409] = 50,
  [422] = 30, [429] = 70, [500] = 60, [502] = 61, [503] = 61, [504] = 61 }

--- Validates and stores a rule; returns it or nil, message.
function M.add(rule)
  if type(rule) ~= "table" then return nil, "a fault is a JSON object" end
  local r = {}
  r.method = type(rule.method) == "string" and rule.method:upper() or "*"
  r.path = type(rule.path) == "string" and rule.path or "**"
  r.query = type(rule.query) == "string" and rule.query or nil
  r.origin = rule.origin or "api"
  if r.origin ~= "api" and r.origin ~= "files" then return nil, "origin must be api or files" end
  r.phase = rule.phase or "before"
  if r.phase ~= "before" and r.phase ~= "after" then return nil, "phase must be before or after" end
  r.skip = json.tonumber(rule.skip) or 0
  r.count = json.tonumber(rule.count)
  r.latency = json.tonumber(rule.latency)
  r.status = json.tonumber(rule.status)
  r.action = rule.action
  if r.action ~= nil and r.action ~= "reset" and r.action ~= "truncate" and r.action ~= "html" then
    return nil, "action must be reset, truncate or html"
  end
  if rule.body ~= nil then
    r.body = type(rule.body) == "string" and rule.body or json.encode(rule.body)
    r.body_is_json = type(rule.body) ~= "string"
  end
  r.headers = {}
  if type(rule.headers) == "table" then
    for k, v in pairs(rule.headers) do
      v = json.number_text(v) or tostring(v)
      if v:find("[\r\n]") or tostring(k):find("[\r\n:]") then return nil, "bad header " .. tostring(k) end
      r.headers[k] = v
    end
  end
  if not r.status and not r.action and not r.latency then return nil, "a fault needs status, action or latency" end
  state.fault_seq = state.fault_seq + 1
  r.id = state.fault_seq
  r.hits = 0
  state.faults[#state.faults + 1] = r
  return r
end

function M.to_json(r)
  return json.object("id", r.id, "method", r.method, "path", r.path, "query", r.query, "origin", r.origin,
    "phase", r.phase, "skip", r.skip, "count", r.count, "latency", r.latency, "status", r.status,
    "action", r.action, "body", r.body, "headers", r.headers, "hits", r.hits)
end

function M.remove(id)
  for i, r in ipairs(state.faults) do
    if r.id == id then table.remove(state.faults, i); return true end
  end
  return false
end

--- The first live rule matching the request in `phase`, counting the match.
function M.match(req, phase)
  for _, r in ipairs(state.faults) do
    if r.phase == phase and r.origin == req.origin and (r.method == "*" or r.method == req.method)
      and util.glob(r.path, req.path) and (not r.query or util.glob(r.query, req.raw_query))
      and (not r.count or r.count > 0) then
      r.seen = (r.seen or 0) + 1
      if r.seen > r.skip then
        r.hits = r.hits + 1
        if r.count then r.count = r.count - 1 end
        return r
      end
    end
  end
  return nil
end

local function gateway_page(status)
  local text = (status .. " " .. (STATUS_TEXT[status] or "Error"))
  return "<html>\r\n<head><title>" .. text .. "</title></head>\r\n<body>\r\n<center><h1>" .. text
    .. "</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
end

-- Writes a response by hand on the raw connection, announcing the full length but sending only
-- part of the body, then closes it: the client sees a truncated transfer.
local function send_truncated(resp)
  local sock = ngx.req.socket(true)
  if not sock then return ngx.exit(444) end
  local lines = { "HTTP/1.1 " .. resp.status .. " " .. (STATUS_TEXT[resp.status] or "Status") }
  for k, v in pairs(resp.headers) do lines[#lines + 1] = k .. ": " .. v end
  lines[#lines + 1] = "Content-Length: " .. #resp.body
  lines[#lines + 1] = "Connection: close"
  local cut = math.max(1, math.floor(#resp.body / 2))
  sock:send(table.concat(lines, "\r\n") .. "\r\n\r\n" .. resp.body:sub(1, cut))
  return ngx.exit(444)
end

--- Applies a matched rule. Returns a response table, "continue" (latency only), or a response
-- marked `closed` when the connection was dropped or hand-written.
function M.apply(r, req, real)
  if r.latency and r.latency > 0 then ngx.sleep(r.latency) end
  if not r.status and not r.action then return "continue" end
  local server = require "zuora_sim.server"
  local status = r.status or (r.action == "html" and 502) or (real and real.status) or 200
  local resp
  if r.action == "html" then
    resp = server.make_response(status, r.body or gateway_page(status), { ["Content-Type"] = "text/html" })
  elseif r.body then
    resp = server.make_response(status, r.body,
      { ["Content-Type"] = r.body_is_json and "application/json; charset=utf-8" or "text/plain" })
    if r.body:match("^%s*[{%[]") then resp.headers["Content-Type"] = "application/json; charset=utf-8" end
  elseif real and not r.status then
    resp = { status = real.status, body = real.body, headers = util.shallow_copy(real.headers) }
  else
    local cat = CATEGORY_FOR_STATUS[status] or (status >= 500 and 60 or 20)
    resp = server.make_response(status, errors.v1_body({ category = cat, code = 500000 * 100 + cat,
      message = "Injected fault " .. r.id .. " (HTTP " .. status .. ")" }))
  end
  for k, v in pairs(r.headers) do resp.headers[k] = v end
  resp.headers["Zuora-Request-Id"] = req.request_id
  if req.entry then req.entry.status = r.action == "reset" and 0 or resp.status end
  if r.action == "reset" then
    ngx.exit(444)
    return { closed = true, status = 0 }
  end
  if r.action == "truncate" then
    send_truncated(resp)
    return { closed = true, status = resp.status }
  end
  return resp
end

return M
