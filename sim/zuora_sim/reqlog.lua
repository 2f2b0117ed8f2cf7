--- The request log: every request the API and file origins received (control requests excepted),
-- kept for tests to read back through GET /__sim/requests.
local state = require "zuora_sim.state"
local json = require "zuora_sim.json"
local util = require "zuora_sim.util"

local M = {}

local function header_table(h)
  local t = {}
  for k, v in pairs(h) do
    if type(v) == "table" then t[k] = json.array(util.shallow_copy(v)) else t[k] = v end
  end
  return t
end

--- Appends an entry for `req` and returns it (the server fills in status etc. later).
function M.record(req)
  state.log_seq = state.log_seq + 1
  local entry = {
    seq = state.log_seq, time = json.number(string.format("%.3f", ngx.now())), origin = req.origin,
    method = req.method, path = req.path,
    query = req.raw_query, args = req.query, headers = header_table(req.headers), body = req.body,
    request_id = req.request_id,
  }
  local log = state.log
  log[#log + 1] = entry
  -- Trim in bulk (amortized O(1) per request) once the log is 10% over its limit.
  local limit = state.config.log_limit
  if #log > limit + math.ceil(limit / 10) then
    local keep = {}
    for i = #log - limit + 1, #log do keep[#keep + 1] = log[i] end
    state.log = keep
  end
  return entry
end

local function to_json(e)
  local body, body64 = e.body, nil
  if body and not json.valid_utf8(body) then body, body64 = nil, ngx.encode_base64(e.body) end
  local resp = e.response_body
  if resp and (#resp > 65536 or not json.valid_utf8(resp)) then resp = nil end
  local args = {}
  for k, v in pairs(e.args or {}) do args[k] = type(v) == "table" and json.array(util.shallow_copy(v)) or v end
  return json.object("seq", e.seq, "time", e.time, "origin", e.origin, "method", e.method, "path", e.path,
    "query", e.query, "args", args, "headers", e.headers, "body", body, "body_base64", body64,
    "status", e.status, "request_id", e.request_id, "fault", e.fault, "replayed", e.replayed,
    "limited", e.limited, "auth_error", e.auth_error, "response_body", resp, "extra", e.extra)
end

--- Entries matching the filters: method, path (glob), origin, since (seq), header (name that
-- must be present), limit (newest N).
function M.list(f)
  local out = {}
  local since = tonumber(f.since or 0) or 0
  local method = f.method and f.method:upper()
  local header = f.header and f.header:lower()
  for _, e in ipairs(state.log) do
    if e.seq > since and (not method or e.method == method) and (not f.origin or e.origin == f.origin)
      and (not f.path or util.glob(f.path, e.path)) and (not header or e.headers[header] ~= nil) then
      out[#out + 1] = e
    end
  end
  local limit = tonumber(f.limit or "")
  if limit and #out > limit then
    local trimmed = {}
    for i = #out - limit + 1, #out do trimmed[#trimmed + 1] = out[i] end
    out = trimmed
  end
  local arr = json.array()
  for i, e in ipairs(out) do arr[i] = to_json(e) end
  return arr
end

function M.clear() state.log = {} end

return M
