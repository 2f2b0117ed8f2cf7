--- zuora-sim's Zuora Revenue API, served on the same origin as Billing:
--   /api/integration/...            (legacy hosts, https://<tenant>.revprooncloud.com)
--   /revenue/api/integration/...    (the OneID host, https://one.zuora.com/revenue)
--   /oauth2/token                   (OneID's token endpoint)
-- zuora_sim.server hands such requests here after its common steps (request id, log, concurrency cap,
-- rate limit, "before" faults) and applies "after" faults to what comes back. Here: the API
-- switch (405 for every request when `revenue_enabled` is false, as for a tenant without the API
-- service), Revenue credentials (zuora_sim.revenue.auth), the two-uploads-at-once limit, routing and
-- Revenue's error shape {"status": "Failure", "message": ...}. See docs/zuora-sim.md.
local state = require "zuora_sim.state"
local json = require "zuora_sim.json"
local router = require "zuora_sim.router"
local auth = require "zuora_sim.revenue.auth"
local inbound = require "zuora_sim.revenue.inbound"
local store = require "zuora_sim.revenue.store"

local M = {}
local obj = json.object

local AREA = "revenue"
local uploads_in_flight = 0 -- module-level: survives /__sim/reset while requests are running

local function response(status, body, headers)
  return require("zuora_sim.server").make_response(status, body, headers)
end

local function failure(status, message)
  return response(status, obj("status", "Failure", "message", message))
end

--- The Revenue API path of `req` (without a /revenue prefix), or nil when it is not one.
function M.path_of(req)
  local p = req.path
  if p:sub(1, 9) == "/revenue/" then p = p:sub(9) end
  if p == "/oauth2/token" or p:sub(1, 17) == "/api/integration/" then return p end
  return nil
end

--- True if the request is for the Revenue API.
function M.claims(req)
  return M.path_of(req) ~= nil
end

-- A generic answer for catalogue operations without a handler (BI views and the like).
local function echo(req)
  local op = req.route.opts.operation
  local query = obj()
  for k, v in pairs(req.query) do query[k] = type(v) == "table" and json.array(v) or v end
  return 200, obj("status", "Success", "echo", obj("generic", true, "operation", op and obj("group", op.group,
    "name", op.name, "method", op.method, "path", op.path) or nil, "method", req.method, "path", req.path,
    "pathParams", req.params, "query", query, "body", req.body or json.null))
end

local function dispatch(req, path)
  local route, params = router.find(req.method, path)
  if route and route.opts.area ~= AREA then route = nil end
  if not route then
    if params then return failure(405, "The endpoint does not support the " .. req.method .. " method") end
    return failure(404, "No Revenue API operation matches " .. req.method .. " " .. path)
  end
  req.params, req.route = params, route
  local ok, status, body, headers = xpcall(route.handler, function(e)
    if type(e) == "table" and e.revenue_error then return e end
    if type(e) == "table" and e.sim_error then
      return { revenue_error = true, status = e.status, message = e.message }
    end
    return { internal = true, message = tostring(e), trace = debug.traceback(tostring(e), 2) }
  end, req)
  if ok then return response(status, body, headers) end
  local e = status
  if e.internal then
    ngx.log(ngx.ERR, "zuora-sim revenue handler failed: ", e.trace)
    return failure(500, "Internal simulator error: " .. e.message)
  end
  return failure(e.status or 400, e.message)
end

--- Handles a Revenue request after the server's common steps; `delay` is a latency fault's
-- seconds (slept after the request is counted, so slow uploads overlap as real ones do).
function M.process(req, entry, delay)
  local path = M.path_of(req)
  if not state.config.revenue_enabled then
    entry.auth_error = "revenue API not enabled"
    return failure(405, "The API service is not enabled for this tenant. Contact Zuora Revenue Support.")
  end
  if path == "/oauth2/token" then return response(auth.oauth2_token(req)) end
  if path == "/api/integration/v1/authenticate" then return response(auth.authenticate(req)) end
  local ok, why = auth.check(req.headers)
  if not ok then
    entry.auth_error = why
    return failure(401, "The authentication token is missing, invalid or expired")
  end
  local upload = req.method == "POST" and inbound.UPLOAD_PATHS[path]
  if upload then
    if uploads_in_flight >= state.config.revenue_max_uploads then
      entry.limited = true
      local resp = failure(429, ("At most %d uploads can run at once for a tenant"):format(
        state.config.revenue_max_uploads))
      resp.headers["Retry-After"] = tostring(state.config.retry_after)
      return resp
    end
    uploads_in_flight = uploads_in_flight + 1
    local r = store.get()
    r.uploads_max = math.max(r.uploads_max, uploads_in_flight)
    entry.extra = obj("uploads_in_flight", uploads_in_flight)
  end
  local okp, resp = pcall(function()
    if delay and delay > 0 then ngx.sleep(delay) end
    return dispatch(req, path)
  end)
  if upload then uploads_in_flight = uploads_in_flight - 1 end
  if not okp then error(resp, 0) end
  return resp
end

--- Registers the Revenue routes: handlers, then a generic answer for every other operation of the
-- Revenue catalogue (lua/zuora/catalog/revenue/, when present).
function M.register(settings)
  local function add(method, template, handler, opts)
    opts = opts or {}
    opts.area = AREA
    router.add(method, template, handler, opts)
  end
  inbound.routes(add)
  require("zuora_sim.revenue.outbound").routes(add)
  require("zuora_sim.revenue.jobs").routes(add)
  local handled = {}
  for _, r in ipairs(router.routes()) do
    if r.opts.area == AREA then handled[r.method .. " " .. r.template] = true end
  end
  if settings.catalog ~= "none" then
    local ok, catalog = pcall(require, "zuora.catalog.revenue")
    if ok and type(catalog) == "table" and type(catalog.groups) == "table" then
      for _, g in ipairs(catalog.groups) do
        local okg, ops = pcall(require, g.module)
        for _, op in ipairs(okg and ops or {}) do
          if not handled[op.method .. " " .. op.path] and not op.no_token then
            add(op.method, op.path, echo, { generic = true, operation = { group = g.name, name = op.name,
              method = op.method, path = op.path } })
          end
        end
      end
    end
  end
end

return M
