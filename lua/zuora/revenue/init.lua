--- zuora.revenue: a client for the Zuora Revenue API (a separate product from Billing, with its
-- own hosts and authentication, CSV uploads in and GL batches out). See docs/revenue.md.
--
--   local zuora = require "zuora"
--   local rev = zuora.revenue.new{ tenant = "acme-snd01", username = ..., password = ... }
--   local report = assert(rev:upload_csv{ template = "Transactions", filename = "jan.csv", path = "jan.csv" })
--   for row in rev:gl_rows(batch_id) do ... end
local rclient = require "zuora.revenue.client"
local options = require "zuora.options"
local roptions = require "zuora.revenue.options"

local M = {
  environments = roptions.environments,
  csv = require "zuora.revenue.csv",
}

--- A new revenue client. Where: base_url | tenant ("acme" -> https://acme.revprooncloud.com) |
-- environment ("one" -> https://one.zuora.com/revenue). Credentials: username + password (legacy
-- token; with role "API Role", clientname "Default", token_lifetime 1800, token_header
-- "Revpro-Token"), client_id + client_secret (OneID OAuth; token_url defaults to the origin's
-- /oauth2/token), or token (a OneID bearer token). Pipeline options as for zuora.new: timeout,
-- connect_timeout, max_retries, max_concurrency, retry_base, retry_cap, retry_after_cap,
-- refresh_margin, ca_file, ca_path, insecure, http2, max_body, on_request, on_response,
-- user_agent, track_id; max_uploads (1 or 2, default 2).
function M.new(opts)
  return rclient.new(opts, 2)
end

-- Environment variables read by zuora.revenue.from_env, and the option each one sets.
M.ENV = {
  ZUORA_REVENUE_BASE_URL = "base_url", ZUORA_REVENUE_TENANT = "tenant", ZUORA_REVENUE_ENVIRONMENT = "environment",
  ZUORA_REVENUE_USERNAME = "username", ZUORA_REVENUE_PASSWORD = "password", ZUORA_REVENUE_ROLE = "role",
  ZUORA_REVENUE_CLIENTNAME = "clientname", ZUORA_REVENUE_CLIENT_ID = "client_id",
  ZUORA_REVENUE_CLIENT_SECRET = "client_secret", ZUORA_REVENUE_TOKEN_URL = "token_url",
  ZUORA_REVENUE_TOKEN = "token", ZUORA_REVENUE_CA_FILE = "ca_file", ZUORA_REVENUE_CA_PATH = "ca_path",
  ZUORA_REVENUE_TIMEOUT = "timeout", ZUORA_REVENUE_CONNECT_TIMEOUT = "connect_timeout",
  ZUORA_REVENUE_MAX_RETRIES = "max_retries", ZUORA_REVENUE_MAX_CONCURRENCY = "max_concurrency",
  ZUORA_REVENUE_TRACK_ID = "track_id",
}

-- Where the tenant is: one of these wins, in this order, when several are set.
local PLACES = { "base_url", "tenant", "environment" }

--- The options zuora.revenue.from_env would use: ZUORA_REVENUE_* variables (see M.ENV), then
-- `overrides`. `getenv` defaults to os.getenv.
function M.env_options(overrides, getenv)
  local opts = options.from_env(M.ENV, getenv, 3)
  local seen = false
  for _, k in ipairs(PLACES) do
    if opts[k] ~= nil then
      if seen then opts[k] = nil end
      seen = true
    end
  end
  overrides = overrides or {}
  for _, k in ipairs(PLACES) do
    if overrides[k] ~= nil then
      for _, p in ipairs(PLACES) do opts[p] = nil end
    end
  end
  for k, v in pairs(overrides) do opts[k] = v end
  return opts
end

--- A revenue client configured from ZUORA_REVENUE_* variables (see M.ENV); `overrides` win.
function M.from_env(overrides)
  return rclient.new(M.env_options(overrides), 2)
end

--- Every Revenue catalogue operation as {group, name, method, path, title}.
function M.operations()
  return require("zuora.operations").list(rclient.CATALOG)
end

return M
