--- Validation of `zuora.revenue.new{...}` options: where the tenant is (base_url, tenant or
-- environment), one set of credentials, and the pipeline options shared with the Billing client.
local options = require "zuora.options"

local M = {}

local WHO = "zuora.revenue.new"

-- Named places of the Revenue API. Legacy tenants have their own host (use `tenant`).
M.environments = {
  one = "https://one.zuora.com/revenue", -- Zuora OneID: OAuth at https://one.zuora.com/oauth2/token
}

local function str(v) return type(v) == "string", "a string" end
local function nonempty(v) return type(v) == "string" and v ~= "", "a non-empty string" end
local function lifetime(v) return type(v) == "number" and v >= 1 and v <= 86400, "a number of seconds in 1..86400" end
local function uploads(v)
  return type(v) == "number" and (v == 1 or v == 2), "1 or 2 (Zuora Revenue runs at most two uploads at once)"
end

-- Pipeline options mean the same as for zuora.new (docs/client.md).
local SHARED = { "timeout", "connect_timeout", "max_retries", "max_concurrency", "retry_base", "retry_cap",
  "retry_after_cap", "refresh_margin", "ca_file", "ca_path", "insecure", "http2", "max_body", "on_request",
  "on_response", "user_agent", "track_id", "token_url", "client_id", "client_secret", "username", "password",
  "token", "base_url", "environment", "read_only", "allow", "deny", "dry_run", "deadline" }

M.spec = {
  tenant = nonempty, role = nonempty, clientname = nonempty, token_lifetime = lifetime, token_header = nonempty,
  max_uploads = uploads,
}
for _, k in ipairs(SHARED) do M.spec[k] = options.spec[k] or str end

local CREDENTIAL_SETS = {
  { mode = "revenue", keys = { "username", "password" } }, -- legacy: POST .../authenticate, `token` header
  { mode = "oauth", keys = { "client_id", "client_secret" } }, -- OneID: bearer token from /oauth2/token
  { mode = "bearer", keys = { "token" } },                     -- a OneID bearer token you manage
}
local LEGACY_ONLY = { "role", "clientname", "token_lifetime", "token_header" }

--- Checks `opts`; returns the credential mode ("revenue", "oauth" or "bearer") and the base URL
-- (without a trailing slash). Raises (at `level`) on any mistake.
function M.check(opts, level)
  level = (level or 1) + 1
  local mode = options.validate(WHO, opts, M.spec, CREDENTIAL_SETS, level)
  if not mode then
    error("zuora.revenue.new: no credentials: give username and password (legacy token), client_id and "
      .. "client_secret (OneID OAuth), or token", level)
  end
  if mode ~= "revenue" then
    for _, k in ipairs(LEGACY_ONLY) do
      if opts[k] ~= nil then error("zuora.revenue.new: option '" .. k .. "' goes with username and password", level) end
    end
  end
  if mode == "bearer" and opts.token_url then
    error("zuora.revenue.new: option 'token_url' needs credentials to trade (not a fixed token)", level)
  end

  local given = (opts.base_url and 1 or 0) + (opts.tenant and 1 or 0) + (opts.environment and 1 or 0)
  if given ~= 1 then
    error("zuora.revenue.new: give one of base_url, tenant (\"acme\" for https://acme.revprooncloud.com) or "
      .. "environment (\"one\")", level)
  end
  local base = opts.base_url
  if opts.tenant then
    if not opts.tenant:match("^[%w][%w%-]*$") or #opts.tenant > 63 then
      error("zuora.revenue.new: tenant must be a host name label such as \"acme-snd01\"", level)
    end
    base = "https://" .. opts.tenant:lower() .. ".revprooncloud.com"
  elseif opts.environment then
    base = M.environments[opts.environment]
    if not base then
      error("zuora.revenue.new: unknown environment '" .. opts.environment .. "' (known: one)", level)
    end
  end
  local parsed
  base, parsed = options.base_url(WHO, base, level)
  return mode, base, parsed
end

return M
