--- lua-zuora: a Zuora client for Lua.
--
--   local zuora = require "zuora"
--   local client = zuora.new{ environment = "us-cloud2-sandbox", client_id = ..., client_secret = ... }
--   local account = assert(client.accounts.retrieve("A00000001"))
--
-- See README.md and docs/ for the whole interface.
local core = require "zuora.core"
local client = require "zuora.client"
local errors = require "zuora.errors"
local options = require "zuora.options"

local zuora = {
  version = core.version,
  json = core.json,
  decimal = core.decimal,
  Error = errors.Error,
  errors = errors,
  environments = require "zuora.environments",
}

--- A new client. Options (all optional except a base URL and one set of credentials):
-- environment | base_url; client_id + client_secret (OAuth) | username + password |
-- access_key_id + secret_access_key | token; entity_ids, zuora_version, track_id, timeout (60),
-- connect_timeout (10), max_retries (3), max_concurrency, retry_base (0.5), retry_cap (8),
-- retry_after_cap (60), refresh_margin (300), ca_file, ca_path, insecure (false), http2 (true),
-- max_body (256 MiB), on_request, on_response, user_agent, token_url, decimals (false: non-integer
-- numbers of answers as zuora.decimal values, docs/decimal.md); the safety rails read_only,
-- allow, deny and dry_run (docs/client.md, "Safety rails").
function zuora.new(opts)
  return client.new(opts, 2)
end

-- Environment variables read by zuora.from_env, and the option each one sets.
zuora.ENV = {
  ZUORA_BASE_URL = "base_url", ZUORA_ENVIRONMENT = "environment",
  ZUORA_CLIENT_ID = "client_id", ZUORA_CLIENT_SECRET = "client_secret",
  ZUORA_USERNAME = "username", ZUORA_PASSWORD = "password",
  ZUORA_ACCESS_KEY_ID = "access_key_id", ZUORA_SECRET_ACCESS_KEY = "secret_access_key",
  ZUORA_TOKEN = "token", ZUORA_ENTITY_IDS = "entity_ids", ZUORA_VERSION = "zuora_version",
  ZUORA_TRACK_ID = "track_id", ZUORA_CA_FILE = "ca_file", ZUORA_CA_PATH = "ca_path",
  ZUORA_TIMEOUT = "timeout", ZUORA_CONNECT_TIMEOUT = "connect_timeout",
  ZUORA_MAX_RETRIES = "max_retries", ZUORA_MAX_CONCURRENCY = "max_concurrency",
  ZUORA_DECIMALS = "decimals",
}

--- The options zuora.from_env would use: ZUORA_* variables (see zuora.ENV), then `overrides`.
-- `getenv` defaults to os.getenv.
function zuora.env_options(overrides, getenv)
  local opts = options.from_env(zuora.ENV, getenv, 3)
  if opts.base_url and opts.environment then opts.environment = nil end
  for k, v in pairs(overrides or {}) do opts[k] = v end
  return opts
end

--- A client configured from ZUORA_* environment variables (see zuora.ENV); `overrides` win.
function zuora.from_env(overrides)
  return client.new(zuora.env_options(overrides), 2)
end

-- The Zuora Revenue API client (a separate product): zuora.revenue.new{...}, docs/revenue.md.
zuora.revenue = require "zuora.revenue"

-- Payment Pages 2.0: verify_callback (and the client's payment_page_signature), docs/openresty.md.
zuora.payment_pages = require "zuora.payment_pages"

--- Every catalogue operation as an array of {group, name, method, path, title, idempotent, reads}.
function zuora.operations()
  return require("zuora.operations").list()
end

return zuora
