--- Dry runs: what a call would send, instead of sending it (docs/client.md, "Safety rails").
-- The pipeline hands over the request table the request builder made (the same one the transport
-- would get); this module only describes it. Credentials are not in that table (the C transport
-- adds them from the auth object when it sends), so their header lines are written here with
-- the value masked, in the place the transport puts them (after every other header).
local redact = require "zuora.redact"

local M = {}

-- The credential header lines each mode sends (src/auth.c, zz_auth_add_headers).
local CREDENTIAL_LINES = {
  oauth = { "Authorization: Bearer " }, bearer = { "Authorization: Bearer " },
  basic = { "Authorization: Basic " }, apikey = { "apiAccessKeyId: ", "apiSecretAccessKey: " },
  revenue = { "token: " },
}

local Request = {}
Request.__index = Request
Request.__name = "zuora.DryRun"

--- The request as text: request line, header lines, a blank line and the body (as an HTTP/1.1
-- message would carry it, without the lines libcurl adds: Host, Content-Length, Accept-Encoding).
function Request:__tostring()
  local lines = { self.method .. " " .. self.url }
  for _, h in ipairs(self.headers) do lines[#lines + 1] = h end
  local text = table.concat(lines, "\n") .. "\n"
  if self.body then
    text = text .. "\n" .. self.body
  elseif self.body_file then
    text = text .. "\n<the contents of " .. self.body_file .. ">"
  elseif self.multipart then
    local parts = {}
    for _, p in ipairs(self.multipart) do
      parts[#parts + 1] = ("part %s%s"):format(tostring(p.name), p.path and (" <- file " .. p.path)
        or (" (" .. #tostring(p.data or "") .. " bytes)"))
    end
    text = text .. "\n<multipart/form-data: " .. table.concat(parts, ", ") .. ">"
  end
  return text
end

--- True if `x` is a dry-run description.
function M.is(x) return getmetatable(x) == Request end

--- Describes request table `req` of `client`: { dry_run = true, method, url, headers (array of
-- "Name: value", credentials masked), body (exact bytes, or nil; the client's own credentials
-- masked where a caller put them in), body_file, multipart,
-- idempotency_key, operation ("group.op" when known) }.
function M.describe(client, req)
  local headers = {}
  for i, line in ipairs(req.headers or {}) do
    local name = line:match("^([^:]+):")
    -- (any other line without the client's own credentials, as the body: a caller may copy one in)
    headers[i] = (name and redact.is_secret_header(name)) and (name .. ": " .. redact.MASK)
      or redact.text(client.auth, line)
  end
  if req.auth then
    for _, prefix in ipairs(CREDENTIAL_LINES[client.mode] or {}) do headers[#headers + 1] = prefix .. redact.MASK end
  end
  local op = req.op
  local parts
  if req.multipart then
    parts = {}
    for i, p in ipairs(req.multipart) do
      parts[i] = { name = p.name, path = p.path, filename = p.filename, content_type = p.content_type,
        data = redact.text(client.auth, p.data) }
    end
  end
  return setmetatable({
    dry_run = true, method = req.method, url = client:redacted_url(req.url), headers = headers,
    -- the body as it would be sent, except a credential of the client's own (a caller that copied
    -- its client secret or token into a body): no string the library hands out holds one
    body = redact.text(client.auth, req.body),
    body_file = req.body_file, multipart = parts, idempotency_key = req.idempotency_key,
    operation = type(op) == "table" and op.group and op.name and (op.group .. "." .. op.name) or nil,
  }, Request)
end

return M
