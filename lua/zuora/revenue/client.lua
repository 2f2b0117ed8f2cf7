--- The Zuora Revenue client: the Billing client's pipeline (transport, retries, hooks, redaction,
-- tasks) with what differs for Revenue — where the tenant is, its two ways to authenticate, its
-- error shapes, no idempotency keys — and the Revenue catalogue as its groups.
--
-- A revenue client is a zuora.client Client underneath: its metatable inherits every Client method
-- and overrides classify and fetch_token; the helpers for the real jobs live in
-- zuora.revenue.upload, zuora.revenue.gl and zuora.revenue.download.
local core = require "zuora.core"
local client = require "zuora.client"
local operations = require "zuora.operations"
local roptions = require "zuora.revenue.options"

local Client = client.Client
local RESERVED = require("zuora.reserved").revenue

local M = {}

M.CATALOG = "zuora.catalog.revenue"
M.AUTHENTICATE_PATH = "/api/integration/v1/authenticate"

local RevenueClient = setmetatable({}, { __index = Client })
RevenueClient.__name = "zuora.revenue.Client"
RevenueClient.catalog_module = M.CATALOG -- what zuora.access looks requests up in
M.RevenueClient = RevenueClient

-- Methods contributed by the helper modules (each takes the client first).
local HELPERS = {
  upload_csv = { "zuora.revenue.upload", "upload_csv" },
  upload_status = { "zuora.revenue.upload", "status" },
  stage_errors = { "zuora.revenue.upload", "stage_errors" },
  batches = { "zuora.revenue.gl", "batches" },
  gl_rows = { "zuora.revenue.gl", "rows" },
  gl_csv = { "zuora.revenue.gl", "csv" },
  run_program = { "zuora.revenue.gl", "run_program" },
  download = { "zuora.revenue.download", "fetch" },
}
M.HELPERS = HELPERS

function RevenueClient:__index(key)
  local method = RevenueClient[key]
  if method ~= nil then return method end
  local helper = HELPERS[key]
  if helper then
    local fn = require(helper[1])[helper[2]]
    RevenueClient[key] = fn
    return fn
  end
  return client.lookup(self, key, M.CATALOG, RESERVED)
end

function RevenueClient:__tostring()
  return ("zuora.revenue.Client<%s %s>"):format(self.base_url, self.mode)
end

-- Metamethods are not inherited through __index: `<close>` needs its own entry.
RevenueClient.__close = Client.close

------------------------------------------------------------------------------------------------
-- Construction.

--- A revenue client; see zuora.revenue.new for the options. Raises on configuration mistakes.
function M.new(opts, level)
  level = (level or 1) + 1
  local mode, base = roptions.check(opts, level)
  local self = client.construct(RevenueClient, opts, mode, base, {
    product = "revenue",
    -- tokens the client trades credentials for (and must refresh; a 401 means "get a new one
    -- and repeat the call once")
    uses_tokens = mode ~= "bearer",
    has_version = false,
    max_uploads = opts.max_uploads or 2,
    catalog_module = M.CATALOG,
    -- Revenue does not honour an Idempotency-Key: none is sent (it would suggest a guarantee that
    -- does not exist), so its POSTs are unsafe to repeat (zuora.retry_policy) and never repeated
    -- once they may have arrived.
    idempotency_keys = false,
  })
  if mode == "revenue" then
    self.auth = core.auth.new{
      mode = "revenue", username = opts.username, password = opts.password,
      token_url = opts.token_url or (base .. M.AUTHENTICATE_PATH),
      role = opts.role, clientname = opts.clientname, token_lifetime = opts.token_lifetime,
      token_header = opts.token_header, refresh_margin = self.refresh_margin,
    }
  elseif mode == "oauth" then
    -- OneID issues tokens at the origin's /oauth2/token (https://one.zuora.com/oauth2/token).
    self.auth = core.auth.new{
      mode = "oauth", client_id = opts.client_id, client_secret = opts.client_secret,
      token_url = opts.token_url or (self.origin .. "/oauth2/token"), refresh_margin = self.refresh_margin,
    }
  else
    self.auth = core.auth.new{ mode = "bearer", token = opts.token }
  end

  return client.finish(self, opts, level, "revenue")
end

------------------------------------------------------------------------------------------------
-- What differs from Billing in the pipeline.

local DISABLED = "the Zuora Revenue API is not enabled for this tenant (HTTP 405); Zuora Revenue Support "
  .. "enables the API service"

-- Turns the fields of a 405 into the error a user can act on.
local function disabled(f)
  f.kind, f.code, f.category, f.retryable = "api", "API_DISABLED", "permission_denied", false
  local said = f.message
  f.message = DISABLED
  if type(said) == "string" and said ~= "" and not said:find("^HTTP 405") and not said:find("^token request") then
    f.message = DISABLED .. ": " .. said
  end
  return f
end
M.disabled = disabled

local FAILED = { failure = true, failed = true, error = true }

-- Revenue's own ways of saying no in a 2xx body: {"status": "Failure", "message": ...} and
-- {"success": false, "error": ...}. Returns Error fields or nil.
local function failure_in(data)
  if type(data) ~= "table" then return nil end
  local status = data.status or data.Status
  if type(status) == "string" and FAILED[status:lower()] then
    local msg = data.message or data.Message or data.error
    return { message = type(msg) == "string" and msg or ("Revenue reported " .. status) }
  end
  return nil
end

--- As Client:classify, plus Revenue's error bodies and the 405 of a tenant without the API.
-- (Whether a failed POST may be sent again is zuora.retry_policy's business: an upload that may
-- have been received is never repeated.)
function RevenueClient:classify(req, res)
  local value, fields = Client.classify(self, req, res)
  if value ~= nil then
    local f = failure_in(value)
    if not f then return value end
    fields = f
  end
  local data = res.data
  if type(data) == "table" then
    if fields.message == "request failed" and type(data.error) == "string" then fields.message = data.error end
    if type(data.Message) == "string" and (fields.message or ""):find("^HTTP %d") then fields.message = data.Message end
  end
  if res.status == 405 then disabled(fields) end
  return nil, fields
end

--- As Client:fetch_token, with the 405 of a tenant without the API turned into a clear error.
function RevenueClient:fetch_token(deadline)
  local ok, err = Client.fetch_token(self, deadline)
  if not ok and err and err.status == 405 then
    disabled(err)
  end
  return ok, err
end

--- The catalogue entry of `group.name` (for helpers that call operations by path).
function M.entry(group, name)
  return operations.entry(group, name, M.CATALOG)
end

return M
