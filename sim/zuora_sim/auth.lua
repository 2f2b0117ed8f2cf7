--- Credentials: the OAuth token endpoint and the check every API request passes.
-- Accepted: `Authorization: Bearer <token>` (from POST /oauth/token), HTTP basic with the
-- configured user, and the legacy apiAccessKeyId / apiSecretAccessKey headers (same user).
local state = require "zuora_sim.state"
local json = require "zuora_sim.json"
local util = require "zuora_sim.util"

local M = {}

local function random_hex(n)
  local t = {}
  for i = 1, n do t[i] = string.format("%x", math.random(0, 15)) end
  return table.concat(t)
end

--- Issues a token (also used by the control API). Returns the token record.
function M.mint(ttl)
  ttl = ttl or state.config.token_ttl
  local tok = { token = random_hex(32), jti = random_hex(32), issued = ngx.now(),
    expires = ngx.now() + ttl, ttl = ttl, revoked = false }
  state.tokens[tok.token] = tok
  return tok
end

M.random_hex = random_hex

--- Checks a client-credentials token request (also Revenue's /oauth2/token): nil when it is good,
-- else the status and body of the refusal.
function M.refuse_client(req)
  if req.method ~= "POST" then
    return 405, json.object("error", "invalid_request", "error_description", "use POST")
  end
  local form = util.parse_query(req.body or "")
  local s = state.settings
  if form.grant_type ~= "client_credentials" then
    return 400, json.object("error", "unsupported_grant_type",
      "error_description", "grant_type must be client_credentials")
  end
  if form.client_id ~= s.client_id or form.client_secret ~= s.client_secret then
    return 401, json.object("error", "invalid_client", "error_description", "Bad client credentials")
  end
  return nil
end

--- POST /oauth/token (form-encoded client credentials).
function M.token_endpoint(req)
  local status, body = M.refuse_client(req)
  if status then return status, body end
  local tok = M.mint()
  return 200, json.object("access_token", tok.token, "token_type", "bearer", "expires_in", tok.ttl,
    "scope", "entity.00000000-0000-0000-0000-000000000001 platform.write service.usage.delete "
      .. "service.usage.update service.usage.write tenant.9999 user.8ad0sim0user",
    "jti", tok.jti)
end

--- Checks the request's credentials. Returns true, or false and the reason (never shown to clients).
function M.check(headers)
  local s = state.settings
  local authz = headers["authorization"]
  if type(authz) == "table" then return false, "several Authorization headers" end
  if authz then
    local bearer = authz:match("^[Bb]earer%s+(%S+)%s*$")
    if bearer then
      local tok = state.tokens[bearer]
      if not tok then return false, "unknown token" end
      if tok.revoked then return false, "revoked token" end
      if ngx.now() >= tok.expires then return false, "expired token" end
      return true, "bearer"
    end
    local basic = authz:match("^[Bb]asic%s+(%S+)%s*$")
    if basic then
      local decoded = ngx.decode_base64(basic)
      if decoded and decoded == s.username .. ":" .. s.password then return true, "basic" end
      return false, "bad basic credentials"
    end
    return false, "unsupported Authorization scheme"
  end
  local key, secret = headers["apiaccesskeyid"], headers["apisecretaccesskey"]
  if key or secret then
    if key == s.username and secret == s.password then return true, "apikey" end
    return false, "bad api access key"
  end
  return false, "no credentials"
end

return M
