--- The storage origin: serves Data Query result files at pre-signed URLs, as object storage does.
-- A request carrying an Authorization header is refused (400), an expired or wrongly signed URL
-- gets 403, an unknown one 404 — with S3-style XML bodies. Requests are logged (origin "files")
-- and faults with origin "files" apply.
local state = require "zuora_sim.state"
local reqlog = require "zuora_sim.reqlog"
local faults = require "zuora_sim.faults"

local M = {}

local function xml_error(status, code, message, request_id)
  ngx.status = status
  ngx.header["Content-Type"] = "application/xml"
  ngx.print('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>' .. code .. "</Code><Message>" .. message
    .. "</Message><RequestId>" .. request_id .. "</RequestId></Error>")
  return status
end

--- Stores `content` and returns its pre-signed URL on the files origin.
function M.publish(name, content, content_type)
  local t = {}
  for i = 1, 32 do t[i] = string.format("%x", math.random(0, 15)) end
  local key = table.concat(t, "", 1, 16)
  local sig = table.concat(t, "", 17, 32)
  local ttl = state.config.file_url_ttl
  state.data.files[key] = { key = key, name = name, content = content, content_type = content_type,
    signature = sig, expires = ngx.now() + ttl }
  return string.format("%s/results/%s/%s?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=%d&X-Amz-Signature=%s",
    state.settings.files_url, key, name, ttl, sig)
end

--- Like publish, for a file generated while it is served (sim/synthetic.lua): `spec` is
-- {rows, format, sep, compression} ("NONE" or "GZIP"; "ZIP" is not generated).
function M.publish_generated(name, spec)
  if spec.compression == "GZIP" then name = name .. ".gz" end
  local url = M.publish(name, nil, "application/octet-stream")
  local key = url:match("/results/(%x+)/")
  state.data.files[key].generate = spec
  return url
end

-- Streams a generated file: fixed Content-Length when uncompressed, chunked when gzipped.
local function serve_generated(file, method)
  local synthetic = require "zuora_sim.synthetic"
  local spec = file.generate
  ngx.header["Content-Type"] = file.content_type
  local gz
  if spec.compression == "GZIP" then
    gz = require("zuora_sim.zlib").gzip_stream(1)
  else
    ngx.header["Content-Length"] = synthetic.length(spec)
  end
  if method == "HEAD" then return end
  local pending, size = {}, 0
  local function flush(force)
    if size == 0 or (size < 262144 and not force) then return end
    local out = table.concat(pending)
    pending, size = {}, 0
    if gz then out = gz:write(out) end
    if out ~= "" then
      ngx.print(out)
      ngx.flush(true) -- wait until it is sent, so memory stays at one chunk
    end
  end
  synthetic.generate(spec, function(text)
    pending[#pending + 1] = text
    size = size + #text
    flush(false)
  end)
  flush(true)
  if gz then ngx.print(gz:finish()) end
end

function M.serve()
  local request_id = string.format("%016X", math.random(0, 2 ^ 52))
  ngx.header["x-amz-request-id"] = request_id
  local server = require "zuora_sim.server"
  local req = server.new_req("files", request_id)
  ngx.req.read_body()
  req.body = ngx.req.get_body_data()
  local entry = reqlog.record(req)
  req.entry = entry
  local fault = faults.match(req, "before")
  if fault then
    entry.fault = fault.id
    local resp = faults.apply(fault, req)
    if resp ~= "continue" then
      if resp.closed then return end
      entry.status = resp.status
      return server.send(resp)
    end
  end
  if req.headers["authorization"] or req.headers["token"] then
    entry.status = xml_error(400, "InvalidArgument", "Only one auth mechanism allowed; the X-Amz-Algorithm "
      .. "query parameter and the Authorization header must not both be given", request_id)
    return
  end
  if req.method ~= "GET" and req.method ~= "HEAD" then
    entry.status = xml_error(405, "MethodNotAllowed", "The specified method is not allowed against this resource.",
      request_id)
    return
  end
  local key = req.path:match("^/results/(%x+)/[^/]+$")
  local file = key and state.data.files[key]
  if not file then
    entry.status = xml_error(404, "NoSuchKey", "The specified key does not exist.", request_id)
    return
  end
  if req.query["X-Amz-Signature"] ~= file.signature then
    entry.status = xml_error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match "
      .. "the signature you provided.", request_id)
    return
  end
  if ngx.now() > file.expires then
    entry.status = xml_error(403, "AccessDenied", "Request has expired", request_id)
    return
  end
  entry.status = 200
  if file.generate then return serve_generated(file, req.method) end
  ngx.header["Content-Type"] = file.content_type
  ngx.header["Content-Length"] = #file.content
  if req.method == "GET" then ngx.print(file.content) end
end

return M
