--- Waiting for Zuora's asynchronous work: order jobs (`/v1/async-jobs/{id}`), usage imports,
-- bill runs, Data Query jobs. Polls with growing intervals until the job reaches a final status
-- or an overall timeout passes. Sleeps go through the client's scheduler, so inside a task other
-- tasks run meanwhile.
--
--   local job, err = client:wait_job(res.jobId)                         -- /v1/async-jobs/{id}
--   local st, err = client:wait_job(upload.checkImportStatus, { timeout = 300 })  -- a status path
local errors = require "zuora.errors"
local progress = require "zuora.progress"
local redact = require "zuora.redact"

local M = {}

-- Final statuses (compared in lower case). Anything else counts as still running.
M.DONE = { completed = true, complete = true, posted = true, success = true, succeeded = true,
  finished = true, done = true, processed = true }
M.FAILED = { failed = true, failure = true, error = true, cancelled = true, canceled = true, aborted = true,
  rejected = true, expired = true }

--- The status string of a job reply: the first string among status, importStatus, queryStatus,
-- jobStatus, and the same under `data`.
function M.status_of(body)
  if type(body) ~= "table" then return nil end
  for _, t in ipairs({ body, type(body.data) == "table" and body.data or nil }) do
    for _, k in ipairs({ "status", "importStatus", "queryStatus", "jobStatus" }) do
      if type(t[k]) == "string" then return t[k] end
    end
  end
  return nil
end

--- A failed job's message: its errors, errorMessage, message or reasons, whichever it has.
function M.message_of(body)
  if type(body) ~= "table" then return nil end
  for _, t in ipairs({ body, type(body.data) == "table" and body.data or nil }) do
    for _, k in ipairs({ "errors", "errorMessage", "message", "statusReason", "reasons" }) do
      local v = t[k]
      if type(v) == "string" and v ~= "" then return v end
      if type(v) == "table" then
        local msgs = {}
        for _, e in ipairs(v) do
          local m = type(e) == "table" and (e.message or e.Message) or e
          if type(m) == "string" then msgs[#msgs + 1] = m end
        end
        if #msgs > 0 then return table.concat(msgs, "; ") end
      end
    end
  end
  return nil
end

local function check(opts, level)
  for _, k in ipairs({ "timeout", "interval", "max_interval", "factor" }) do
    local v = opts[k]
    if v ~= nil and (type(v) ~= "number" or v <= 0 or v ~= v) then
      error("wait: option " .. k .. " must be a positive number", level + 1)
    end
  end
  if opts.factor and opts.factor < 1 then error("wait: option factor must be >= 1", level + 1) end
  progress.check(opts.on_progress, level + 1)
end

--- Polls until a final status. spec:
--   fetch()        -> body | nil, err: one status read (client:request, with its retries)
--   status(body)   -> status string (default M.status_of)
--   done, failed   -> sets of lower-case final statuses (defaults M.DONE, M.FAILED)
--   id             -> what the job is called in messages and progress events
--   timeout        -> overall seconds (default 600); interval (first wait, 0.5), max_interval (8),
--                     factor (1.5): the wait grows by `factor` after each poll up to max_interval
--   on_progress    -> called with a "job" event after each poll
--   on_timeout()   -> called once when the timeout passes (e.g. to cancel the job)
-- Returns the final body when the job succeeded; nil, err when it failed (kind "api", message from
-- the body, `job` = the body), when a status read failed (that error), or at the timeout (kind
-- "timeout").
function M.poll(client, spec)
  check(spec, 2)
  local now = progress.now
  local t0 = now()
  local timeout = spec.timeout or 600
  local deadline = t0 + timeout
  local wait = spec.interval or 0.5
  local max_wait = spec.max_interval or 8
  local factor = spec.factor or 1.5
  local status_of = spec.status or M.status_of
  local done_set, failed_set = spec.done or M.DONE, spec.failed or M.FAILED
  local polls = 0
  while true do
    local body, err = spec.fetch()
    if body == nil then return nil, err end
    polls = polls + 1
    local status = status_of(body)
    local lower = type(status) == "string" and status:lower() or nil
    local finished = lower ~= nil and (done_set[lower] or failed_set[lower]) or false
    if spec.on_progress then
      progress.emit(spec.on_progress, "job", t0, { id = redact.text(client.auth, spec.id),
        status = redact.text(client.auth, status), polls = polls,
        current = math.min(now() - t0, timeout), total = timeout, unit = "seconds", done = finished and true })
    end
    if lower and done_set[lower] then return body end
    if lower and failed_set[lower] then
      -- (the reply is the server's: redacted like every error's server-made fields)
      return nil, errors.new(redact.fields(client.auth, { kind = "api", retryable = false, job = body,
        job_status = status, message = ("job %s %s: %s"):format(tostring(spec.id or "?"), status,
          M.message_of(body) or "no reason given") }))
    end
    local left = deadline - now()
    if left <= 0 then
      if spec.on_timeout then spec.on_timeout() end
      return nil, errors.new(redact.fields(client.auth, { kind = "timeout", retryable = false, job = body,
        message = ("job %s still %s after %.0f s"):format(tostring(spec.id or "?"), tostring(status), timeout)
      }))
    end
    client:sleep(math.min(wait, left))
    wait = math.min(wait * factor, max_wait)
  end
end

local WAIT_OPTIONS = { timeout = true, interval = true, max_interval = true, factor = true, on_progress = true,
  status = true, done = true, failed = true, headers = true, zuora_version = true, id = true }

--- client:wait_job(target, opts): waits for an async job. `target` is a job id (polled at
-- /v1/async-jobs/{id}) or a status path on the API ("/v1/usage/{id}/status", a bill run,
-- "/query/jobs/{id}"). opts: as M.poll (timeout, interval, max_interval, factor, on_progress,
-- status, done, failed) plus headers and zuora_version for the status reads.
function M.wait(client, target, opts)
  opts = opts or {}
  -- level 3: the caller of client:wait_job
  if type(target) ~= "string" or target == "" then error("wait_job: expected a job id or a status path", 3) end
  if type(opts) ~= "table" then error("wait_job: options must be a table", 3) end
  for k in pairs(opts) do
    if not WAIT_OPTIONS[k] then error("wait_job: unknown option " .. tostring(k), 3) end
  end
  check(opts, 3)
  local path, params
  if target:find("^/") or target:find("^https?://") then
    path = target
  else
    path, params = "/v1/async-jobs/{jobId}", { jobId = target }
  end
  local ropts = { path = params, headers = opts.headers, zuora_version = opts.zuora_version }
  local spec = {}
  for k, v in pairs(opts) do spec[k] = v end
  spec.id = spec.id or target
  spec.fetch = function() return client:request("GET", path, ropts) end
  return M.poll(client, spec)
end

return M
