--- Downloading a signed URL (a report's or GL batch's file on cloud storage) without Zuora
-- credentials: no Authorization, no `token` header — the signature in the URL is the credential,
-- and storage refuses a request carrying both. The URL must be https, except when the client's
-- own base URL is a loopback host (zuora-sim serves its files on plain http).
local core = require "zuora.core"
local errors = require "zuora.errors"
local pipeline = require "zuora.pipeline"
local redact = require "zuora.redact"

local url = core.url

local M = {}

-- The pipeline's profile of these downloads: storage's answers, hooks marked `download`.
local DOWNLOAD = {
  classify = function(_, _, res) return pipeline.classify_storage(res, "download") end,
  mark = "download",
}

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
  -- No `auth`: the transport adds no credentials, and no credential header is written here.
  local res, err, meta = pipeline.run(client, { method = "GET", url = signed_url,
    timeout = opts.timeout or client.timeout, connect_timeout = client.connect_timeout, output = opts.output,
    decode = false, headers = { "User-Agent: lua-zuora/" .. core.version .. " download" } }, DOWNLOAD)
  if not res then return nil, err end
  if opts.output then return res.output or opts.output, nil, meta end
  return res.body or "", nil, meta
end

return M
