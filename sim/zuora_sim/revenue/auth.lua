--- Revenue credentials. Two ways in, as in Zuora Revenue:
--   legacy  POST /api/integration/v1/authenticate with HTTP basic and the `role` and `clientname`
--           headers; the token (a JWT) comes back in the Revpro-Token header and is sent as `token`;
--   OneID   POST /oauth2/token (form client credentials); the token is sent as a bearer token.
-- Tokens live in state.tokens under "revenue <token>" (a key no bearer value can be, so Billing's
-- credential check never accepts them, and Billing tokens are never accepted here); the control
-- API's token operations (/__sim/tokens/expire, revoke) reach them too.
local state = require "zuora_sim.state"
local json = require "zuora_sim.json"
local billing_auth = require "zuora_sim.auth"

local M = {}

local random_hex = billing_auth.random_hex

local function b64url(s) return (ngx.encode_base64(s, true):gsub("+", "-"):gsub("/", "_")) end

local function ttl() return state.config.revenue_token_ttl end

local function store(token, kind, extra)
  local t = { token = token, jti = random_hex(32), issued = ngx.now(), expires = ngx.now() + ttl(), ttl = ttl(),
    revoked = false, product = "revenue", kind = kind }
  for k, v in pairs(extra or {}) do t[k] = v end
  state.tokens["revenue " .. token] = t
  return t
end

local function failure(status, message)
  return status, json.object("Message", message, "status", "failure")
end

--- POST /api/integration/v1/authenticate. Returns status, body, headers.
function M.authenticate(req)
  if req.method ~= "POST" then return failure(405, "Use POST to authenticate") end
  local s = state.settings
  local authz = req.headers["authorization"]
  local basic = type(authz) == "string" and authz:match("^[Bb]asic%s+(%S+)%s*$")
  local decoded = basic and ngx.decode_base64(basic)
  if not decoded or decoded ~= s.username .. ":" .. s.password then
    req.entry.auth_error = basic and "bad basic credentials" or "no basic credentials"
    return failure(401, "Invalid user name or password")
  end
  local role, clientname = req.headers["role"], req.headers["clientname"]
  if type(role) ~= "string" or role == "" or type(clientname) ~= "string" or clientname == "" then
    return failure(400, "The role and clientname headers are required")
  end
  local now = math.floor(ngx.now())
  local payload = json.encode(json.object("username", s.username, "iss", "zuora-sim Revenue", "role", role,
    "clientname", clientname, "exp", now + ttl(), "iat", now, "nbf", now))
  local token = b64url('{"alg":"HS256","typ":"JWT"}') .. "." .. b64url(payload) .. "." .. b64url(random_hex(32))
  store(token, "legacy", { role = role, clientname = clientname })
  return 200, json.object("Message", "Token Generated", "status", "success"), { ["Revpro-Token"] = token }
end

--- POST /oauth2/token (Zuora OneID, client credentials).
function M.oauth2_token(req)
  local status, body = billing_auth.refuse_client(req)
  if status then
    if status == 401 then req.entry.auth_error = "bad client credentials" end
    return status, body
  end
  local token = random_hex(48)
  local t = store(token, "oneid")
  return 200, json.object("access_token", token, "token_type", "bearer", "expires_in", t.ttl, "scope",
    "revenue.integration", "jti", t.jti)
end

--- Checks a Revenue API request's token. Returns true, or false and the reason (logged only).
function M.check(headers)
  local legacy, authz = headers["token"], headers["authorization"]
  if type(legacy) == "table" or type(authz) == "table" then return false, "repeated credential headers" end
  local tok, kind
  if legacy then
    tok, kind = legacy, "legacy"
  elseif authz then
    tok = authz:match("^[Bb]earer%s+(%S+)%s*$")
    if not tok then return false, "unsupported Authorization scheme" end
    kind = "oneid"
  else
    return false, "no token"
  end
  local t = state.tokens["revenue " .. tok]
  if not t then return false, "unknown token" end
  if t.kind ~= kind then return false, "a " .. t.kind .. " token sent as " .. kind end
  if t.revoked then return false, "revoked token" end
  if ngx.now() >= t.expires then return false, "expired token" end
  return true, kind
end

return M
