--- zuora-sim's request pipeline (the API origin), run by content_by_lua for every request.
--
-- Order for each request: request id -> control API (/__sim/, bypasses the rest) -> request
-- log -> concurrency cap -> faults (phase "before") -> credentials -> Idempotency-Key ->
-- route -> handler -> idempotency record -> faults (phase "after") -> response.
local state = require "zuora_sim.state"
local json = require "zuora_sim.json"
local util = require "zuora_sim.util"
local errors = require "zuora_sim.errors"
local router = require "zuora_sim.router"
local auth = require "zuora_sim.auth"
local faults = require "zuora_sim.faults"
local reqlog = require "zuora_sim.reqlog"
local revenue = require "zuora_sim.revenue.server"

local M = {}

local JSON_TYPE = "application/json; charset=utf-8"

local uuid = util.uuid
M.uuid = uuid

--- Called once from init_worker: settings from the launcher, handler modules, the catalogue.
function M.init(settings)
  state.settings = settings
  math.randomseed(ngx.time() * 1000 + ngx.worker.pid())
  state.reset()
  for _, name in ipairs({ "accounts", "catalog", "orders", "billing", "payments", "debitmemos", "usage",
    "queries", "dataquery", "crud", "payment_pages", "notifications" }) do
    require("zuora_sim.api." .. name).register(router)
  end
  require("zuora_sim.generic").register(router, settings)
  revenue.register(settings)
end

-- Request reading ---------------------------------------------------------------------------------

local function read_body()
  ngx.req.read_body()
  local body = ngx.req.get_body_data()
  if not body then
    local path = ngx.req.get_body_file()
    if path then
      local f = io.open(path, "rb")
      if f then body = f:read("*a"); f:close() end
    end
  end
  return body
end

local Req = {}
Req.__index = Req

--- The decoded JSON body (an empty object when there is none); raises a malformed-request error.
function Req:json_body()
  if self._json ~= nil then return self._json end
  local b = self.body
  if b == nil or b:match("^%s*$") then self._json = json.object(); return self._json end
  local v, err = json.decode(b)
  if v == nil then errors.fail("malformed_request", "Malformed JSON request body: " .. err) end
  if type(v) ~= "table" or json.is_number(v) or v == json.null or getmetatable(v) == json.array_mt then
    errors.fail("malformed_request", "The request body must be a JSON object")
  end
  self._json = v
  return v
end

--- The minor version as a comparable number (date-named versions rank above every number).
function Req:version_number()
  local v = self.headers["zuora-version"] or state.config.default_version
  if type(v) == "table" then v = v[1] end
  if v:match("^%d%d%d%d%-%d%d%-%d%d$") then return 100000 end
  return tonumber(v:match("^(%d+%.?%d*)")) or 186
end

function Req:query_list(key) return util.query_list(self.query, key) end

local function new_req(origin, request_id)
  local raw = ngx.var.request_uri
  local path, raw_query = raw:match("^([^?]*)%??(.*)$")
  local query, query_pairs = util.parse_query(raw_query)
  local host = ngx.var.http_host or (ngx.var.server_addr .. ":" .. ngx.var.server_port)
  return setmetatable({
    origin = origin, method = ngx.req.get_method(), path = path, raw_query = raw_query,
    query = query, query_pairs = query_pairs, headers = ngx.req.get_headers(200),
    request_id = request_id, base_url = ngx.var.scheme .. "://" .. host, params = {},
  }, Req)
end
M.new_req = new_req

-- Responses -------------------------------------------------------------------------------------

--- Normalizes a handler's (status, body, headers) into { status, body = string, headers }.
local function make_response(status, body, headers)
  headers = headers or {}
  if type(body) == "table" then
    body = json.encode(body)
    if not headers["Content-Type"] then headers["Content-Type"] = JSON_TYPE end
  end
  return { status = status or 200, body = body or "", headers = headers }
end
M.make_response = make_response

local function error_response(_, e, family)
  local body
  if family == "crud" then body = errors.crud_body(e) else body = errors.v1_body(e) end
  local status = e.status
  if state.config.errors_as_200 and family ~= "crud" and status ~= 401 and status ~= 429 then status = 200 end
  return make_response(status, body)
end
M.error_response = error_response

local function family_of(path)
  if path:find("^/v1/action/") or path:find("^/v1/object/") then return "crud" end
  return "v1"
end

function M.send(resp)
  ngx.status = resp.status
  for k, v in pairs(resp.headers) do ngx.header[k] = v end
  -- A known length lets gzip_min_length decide (only bodies of 1000 bytes or more are compressed).
  ngx.header["Content-Length"] = #resp.body
  if ngx.req.get_method() ~= "HEAD" then ngx.print(resp.body) end
end

-- The pipeline ----------------------------------------------------------------------------------

local function unauthorized()
  return make_response(401, json.object("message", "Authentication error"))
end

local function dispatch(req)
  if req.path == "/oauth/token" then return make_response(auth.token_endpoint(req)) end
  local route, params = router.find(req.method, req.path)
  local family = family_of(req.path)
  if not route then
    if params then
      return error_response(req, { category = 45, code = 50000045, status = 405,
        message = "The endpoint does not support the " .. req.method .. " method." }, family)
    end
    return error_response(req, { category = 40, code = 50000040, status = 404,
      message = "No operation matches " .. req.method .. " " .. req.path }, family)
  end
  req.params, req.route = params, route
  local ok, status, body, headers = xpcall(route.handler, function(e)
    if errors.is_error(e) then return e end
    return { internal = true, message = tostring(e), trace = debug.traceback(tostring(e), 2) }
  end, req)
  if ok then return make_response(status, body, headers) end
  local e = status
  if e.internal then
    ngx.log(ngx.ERR, "zuora-sim handler failed: ", e.trace)
    e = { category = 60, code = 50000060, status = 500, message = "Internal simulator error: " .. e.message }
  end
  return error_response(req, e, route.opts.family or family)
end

local function idempotency_check(req)
  if req.method ~= "POST" and req.method ~= "PATCH" then return nil end
  local key = req.headers["idempotency-key"]
  if type(key) == "table" then key = key[1] end
  if not key then return nil end
  if #key > 255 then
    return error_response(req, { category = 20, code = 50000020, status = 400,
      message = "Idempotency-Key must be at most 255 characters" }, family_of(req.path))
  end
  local now = ngx.now()
  local url = req.path .. (req.raw_query ~= "" and ("?" .. req.raw_query) or "")
  local rec = state.idem[key]
  if rec and now - rec.time > state.config.idempotency_ttl then rec = nil end
  if rec then
    if rec.method ~= req.method or rec.url ~= url then
      return error_response(req, { category = 30, code = 50000030, status = 422,
        message = "Idempotency-Key was already used for another request" }, family_of(req.path))
    end
    if rec.running then
      return error_response(req, { category = 50, code = 50000050, status = 409,
        message = "A request with this Idempotency-Key is still in progress" }, family_of(req.path))
    end
    req.replayed = true
    local resp = { status = rec.response.status, body = rec.response.body, headers = {} }
    for k, v in pairs(rec.response.headers) do resp.headers[k] = v end
    return resp
  end
  state.idem[key] = { method = req.method, url = url, running = true, time = now }
  req.idem_key = key
  return nil
end

local function idempotency_finish(req, resp)
  local key = req.idem_key
  if not key then return end
  local rec = state.idem[key]
  if not rec then return end
  if resp.status >= 500 then
    state.idem[key] = nil -- not remembered: the caller may retry with the same key
  else
    rec.running = false
    rec.response = { status = resp.status, body = resp.body, headers = resp.headers }
  end
end

local function concurrency_headers(resp)
  local limit = state.config.concurrency_limit
  resp.headers["Concurrency-Limit-Type"] = "Default"
  resp.headers["Concurrency-Limit-Limit"] = tostring(limit)
  resp.headers["Concurrency-Limit-Remaining"] = tostring(math.max(0, limit - state.in_flight))
end

--- Fixed-window rate limit (off unless rate_limit > 0): counts the request and returns a 429
-- response when the window's quota is used up. The RateLimit-* headers go on every response.
function M.rate_check(req, entry)
  local limit = state.config.rate_limit
  if not limit or limit <= 0 then return nil end
  local now, rate, window = ngx.now(), state.rate, state.config.rate_window
  if now - rate.start >= window then rate.start, rate.count = now, 0 end
  rate.count = rate.count + 1
  local reset = math.max(0, math.ceil(rate.start + window - now))
  req.rate_headers = { ["RateLimit-Limit"] = tostring(limit),
    ["RateLimit-Remaining"] = tostring(math.max(0, limit - rate.count)), ["RateLimit-Reset"] = tostring(reset) }
  if rate.count > limit then
    entry.limited = true
    local resp = error_response(req, { category = 70, code = 50000070, status = 429,
      message = "The request rate exceeds the limit of " .. limit .. " per " .. window .. " seconds" },
        family_of(req.path))
    resp.headers["Retry-After"] = tostring(math.max(1, reset))
    return resp
  end
  return nil
end

--- Replaces `resp` when an "after" fault matches the request.
function M.after_faults(req, entry, resp)
  local after = faults.match(req, "after")
  if after then
    entry.fault = after.id
    local r = faults.apply(after, req, resp)
    if r ~= "continue" then return r end
  end
  return resp
end

local function process(req, entry)
  local track = req.headers["zuora-track-id"]
  if track then
    if type(track) == "table" or #track > 64 or track:find("[:;\"']") or track:find("[^\32-\126]") then
      return error_response(req, { category = 20, code = 50000020, status = 400,
        message = "Zuora-Track-Id must be at most 64 ASCII characters without : ; \" '" }, family_of(req.path))
    end
  end

  if state.in_flight > state.config.concurrency_limit then
    local resp = error_response(req, { category = 70, code = 50000070, status = 429,
      message = "The number of concurrent requests exceeds the limit of " .. state.config.concurrency_limit },
      family_of(req.path))
    resp.headers["Retry-After"] = tostring(state.config.retry_after)
    entry.limited = true
    return resp
  end

  -- A fault that answers (status or action) answers before credentials are checked; one that
  -- only adds latency delays the processing itself (after the Idempotency-Key is registered).
  local limited = M.rate_check(req, entry)
  if limited then return limited end

  local fault = faults.match(req, "before")
  local delay
  if fault then
    entry.fault = fault.id
    if fault.status or fault.action then return faults.apply(fault, req) end
    delay = fault.latency
  end

  -- The Revenue API (sim/revenue/) has its own credentials, errors and routes.
  if revenue.claims(req) then return M.after_faults(req, entry, revenue.process(req, entry, delay)) end

  -- /apps/ is the hosted payment page a browser loads (api/payment_pages.lua): no API credentials.
  if req.path ~= "/oauth/token" and not req.path:find("^/apps/") then
    local ok, why = auth.check(req.headers)
    if not ok then
      entry.auth_error = why
      return unauthorized()
    end
  end

  local replay = idempotency_check(req)
  if replay then
    entry.replayed = req.replayed or nil
    return replay
  end

  if delay and delay > 0 then ngx.sleep(delay) end
  local resp = dispatch(req)
  idempotency_finish(req, resp)
  return M.after_faults(req, entry, resp)
end

--- content_by_lua entry for the API origin.
function M.api()
  local request_id = uuid()
  ngx.header["Zuora-Request-Id"] = request_id
  local req = new_req("api", request_id)
  if req.path == "/__sim" or req.path:sub(1, 7) == "/__sim/" then
    req.body = read_body()
    return M.send(require("zuora_sim.control").handle(req))
  end

  local body = read_body()
  local enc = req.headers["content-encoding"]
  if body and type(enc) == "string" and enc:lower() == "gzip" then
    local plain, err = require("zuora_sim.zlib").gunzip(body)
    if not plain then
      return M.send(error_response(req, { category = 90, code = 50000090, status = 400,
        message = "Cannot decompress the gzip request body: " .. tostring(err) }, family_of(req.path)))
    end
    body = plain
  end
  req.body = body

  local entry = reqlog.record(req)
  req.entry = entry
  -- Counted down in the log phase (M.done), which also runs when a fault drops the connection.
  state.in_flight = state.in_flight + 1
  ngx.ctx.sim_counted = true
  local ok, resp = pcall(process, req, entry)
  if not ok then
    ngx.log(ngx.ERR, "zuora-sim pipeline failed: ", tostring(resp))
    resp = error_response(req, { category = 60, code = 50000060, status = 500,
      message = "Internal simulator error" }, "v1")
  end
  if resp.closed then
    entry.status = resp.status
    return
  end
  local track = req.headers["zuora-track-id"]
  if type(track) == "string" then resp.headers["Zuora-Track-Id"] = track end
  concurrency_headers(resp)
  for k, v in pairs(req.rate_headers or {}) do resp.headers[k] = v end
  entry.status = resp.status
  entry.response_body = resp.body
  M.send(resp)
end

--- log_by_lua entry: the request is over, whatever happened to it.
function M.done()
  if ngx.ctx.sim_counted then
    ngx.ctx.sim_counted = nil
    state.in_flight = state.in_flight - 1
  end
end

return M
