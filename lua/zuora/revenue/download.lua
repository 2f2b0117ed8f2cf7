--- Downloading a signed URL (a report's or GL batch's file on cloud storage) without Zuora
-- credentials: no Authorization, no `token` header — the signature in the URL is the credential,
-- and storage refuses a request carrying both. The URL must be https, except when the client's
-- own base URL is a loopback host (zuora-sim serves its files on plain http).
local core = require "zuora.core"
local errors = require "zuora.errors"
local client_mod = require "zuora.client"
local redact = require "zuora.redact"

local url = core.url

local M = {}

-- An object-storage error body: <Error><Code>..</Code><Message>..</Message></Error>.
local function storage_error(body)
  if type(body) ~= "string" then return nil end
  local code = body:match("<Code>([^<]*)</Code>")
  local msg = body:match("<Message>([^<]*)</Message>")
  return code, msg
end

--- Fetches `signed_url` with the client's transport, hooks and retries but none of its
-- credentials. opts.output: save the body to this path and return the path; otherwise the body
-- is returned as a string. opts.timeout: seconds. Returns body_or_path, nil, meta or nil, err.
function M.fetch(client, signed_url, opts)
  opts = opts or {}
  if type(signed_url) ~= "string" then error("download: expected a URL string", 2) end
  local shown = redact.url(signed_url)
  local parsed = url.parse(signed_url)
  if not parsed or (parsed.scheme ~= "https" and parsed.scheme ~= "http") or signed_url:find("[%c ]") then
    return nil, errors.new{ kind = "transport", reason = "url", retryable = false,
      message = "not a downloadable URL: " .. shown }
  end
  if parsed.scheme == "http" then
    local base = url.parse(client.base_url)
    if not (base and url.is_loopback(base.host)) then
      return nil, errors.new{ kind = "transport", reason = "url", retryable = false, url = shown,
        message = "refusing to download over plain http (only allowed when the client's base URL is loopback)" }
    end
  end
  local rt = client.rt
  -- No `auth`: the transport adds no credentials, and no credential header is written here.
  local req = { method = "GET", url = signed_url, timeout = opts.timeout or client.timeout,
    connect_timeout = client.connect_timeout, output = opts.output, decode = false,
    headers = { "User-Agent: lua-zuora/" .. core.version .. " download" } }
  local attempt = 0
  while true do
    attempt = attempt + 1
    if client.on_request then
      client_mod.run_hook(client.on_request, { method = "GET", url = shown, attempt = attempt, download = true,
        headers = redact.header_lines(req.headers) })
    end
    local t0 = rt.now()
    local res = rt:send(req)
    local elapsed = rt.now() - t0
    local status = res.status or 0
    local fields
    if res.kind then
      fields = { kind = res.kind == "timeout" and "timeout" or "transport", reason = res.kind, message = res.error,
        retryable = not (res.kind == "tls" or res.kind == "too_large" or res.kind == "file") }
    elseif status < 200 or status > 299 then
      local code, msg = storage_error(res.body)
      fields = { kind = "api", status = status, code = code,
        message = (msg and msg ~= "") and msg or ("HTTP " .. status .. " from the download URL") }
    end
    local err, retry_in
    if fields then
      fields.method, fields.url, fields.attempts = "GET", shown, attempt
      fields.status = fields.status or (status ~= 0 and status or nil)
      err = errors.new(fields)
      if err.retryable and attempt <= client.max_retries then
        retry_in = client:backoff(attempt, client_mod.retry_after_seconds(res.headers and res.headers["retry-after"],
          client.retry_after_cap))
      end
    end
    if client.on_response then
      client_mod.run_hook(client.on_response, { method = "GET", url = shown, status = status, attempt = attempt,
        download = true, headers = redact.header_map(res.headers), elapsed = elapsed, error = err,
        retry_in = retry_in })
    end
    if not err then
      local meta = { status = status, headers = res.headers, attempts = attempt, elapsed = elapsed }
      if opts.output then return res.output or opts.output, nil, meta end
      return res.body or "", nil, meta
    end
    if not retry_in then return nil, err end
    if retry_in > 0 then rt:sleep(retry_in) end
  end
end

return M
