--- Uploads: usage CSV files (`client:upload_usage(path, opts)`), sent as multipart/form-data that
-- libcurl streams from disk (the file is never read into memory), optionally followed by waiting
-- for the import. Downloads need no helper: any operation takes `output = path` and streams a
-- successful body to that file (`client.files.retrieve(id, nil, { output = "invoice.pdf" })`).
local jobs = require "zuora.jobs"
local progress = require "zuora.progress"

local M = {}

local OPTION_TYPES = { filename = "string", content_type = "string", wait = "boolean", timeout = "number",
  interval = "number", max_interval = "number", on_progress = "function", headers = "table",
  zuora_version = "string", idempotency_key = "string" }

--- Uploads the usage CSV at `path` (POST /v1/usage). opts: filename (default: the path's base
-- name), content_type ("text/csv"), headers, zuora_version, idempotency_key, on_progress (transfer
-- events, then job events while waiting); wait = true waits for the import (timeout, interval,
-- max_interval as client:wait_job) and returns its final status reply, or nil, err when the import
-- failed (the error's message is Zuora's, naming the bad rows). Without wait: the upload's reply
-- (`checkImportStatus` is the status path).
function M.upload_usage(client, path, opts)
  if type(path) ~= "string" or path == "" then error("upload_usage: expected the path of a CSV file", 3) end
  opts = opts or {}
  if type(opts) ~= "table" then error("upload_usage: options must be a table", 3) end
  for k, v in pairs(opts) do
    local want = OPTION_TYPES[k]
    if not want then error("upload_usage: unknown option " .. tostring(k), 3) end
    if type(v) ~= want then error(("upload_usage: option %s must be a %s"):format(k, want), 3) end
  end
  progress.check(opts.on_progress, 3)
  local reply, err = client:request("POST", "/v1/usage", {
    multipart = { { name = "file", path = path, filename = opts.filename or path:match("([^/]+)$"),
      content_type = opts.content_type or "text/csv" } },
    headers = opts.headers, zuora_version = opts.zuora_version, idempotency_key = opts.idempotency_key,
    on_progress = opts.on_progress, op = { group = "usage", name = "upload_file" },
  })
  if not reply then return nil, err end
  if not opts.wait then return reply end
  local status_path = type(reply) == "table" and reply.checkImportStatus or nil -- (an empty body is `true`)
  if type(status_path) ~= "string" or status_path == "" then
    return nil, require("zuora.errors").new{ kind = "decode", retryable = false,
      message = "usage upload: the reply has no checkImportStatus to wait on" }
  end
  return jobs.wait(client, status_path, { timeout = opts.timeout, interval = opts.interval,
    max_interval = opts.max_interval, on_progress = opts.on_progress, headers = opts.headers,
    zuora_version = opts.zuora_version })
end

return M
