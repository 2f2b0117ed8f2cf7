--- Redaction of what the client shows to hooks, errors and logs: credential headers, signed-URL
-- signatures and secret query parameters. Secrets held by the auth object are scrubbed by
-- `auth:redact` on top of this.
local M = {}

M.MASK = "[redacted]"

local SECRET_HEADERS = {
  ["authorization"] = true, ["proxy-authorization"] = true, ["cookie"] = true, ["set-cookie"] = true,
  ["apiaccesskeyid"] = true, ["apisecretaccesskey"] = true, ["token"] = true, ["revpro-token"] = true,
  ["x-api-key"] = true, ["password"] = true, ["x-amz-security-token"] = true,
}

local SECRET_PARAMS = {
  client_secret = true, client_id = true, password = true, token = true, access_token = true,
  refresh_token = true, signature = true, sig = true, ["x-amz-signature"] = true,
  ["x-amz-credential"] = true, ["x-amz-security-token"] = true, ["x-goog-signature"] = true,
}

--- True if a header of this name carries a credential.
function M.is_secret_header(name)
  return SECRET_HEADERS[name:lower()] == true
end

--- `url` with the values of secret query parameters masked.
function M.url(u)
  local base, query = u:match("^([^?#]*)%?([^#]*)")
  if not base then return u end
  local parts = {}
  for pair in query:gmatch("[^&]+") do
    local k = pair:match("^([^=]*)")
    if SECRET_PARAMS[k:lower()] then
      parts[#parts + 1] = k .. "=" .. M.MASK
    else
      parts[#parts + 1] = pair
    end
  end
  return base .. "?" .. table.concat(parts, "&")
end

--- A name -> value map of header lines ("Name: value"), secret values masked.
function M.header_lines(lines)
  local out = {}
  for _, line in ipairs(lines) do
    local name, value = line:match("^([^:]+):%s*(.*)$")
    if name then out[name] = M.is_secret_header(name) and M.MASK or value end
  end
  return out
end

--- A copy of a name -> value header map with secret values masked.
function M.header_map(map)
  local out = {}
  for name, value in pairs(map or {}) do
    out[name] = M.is_secret_header(name) and M.MASK or value
  end
  return out
end

return M
