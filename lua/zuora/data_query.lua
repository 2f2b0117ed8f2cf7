--- Data Query: `client:data_query(sql, opts)` submits a job (`POST /query/jobs`), waits for it
-- (`GET /query/jobs/{id}`, growing intervals, overall timeout), then downloads the result file
-- and returns an iterator over its rows, or saves the file (`opts.output`) and returns its path.
--
--   local rows, err, job = client:data_query("SELECT id, name FROM account WHERE balance > 0")
--   for row in assert(rows) do print(row.id, row.name) end
--
-- The result file lives on another host (a pre-signed storage URL): it is fetched by the C
-- transport directly, with no Zuora credential or header at all, through the client's scheduler
-- (so it yields inside tasks). Plain http is accepted only when the client's own base URL is a
-- loopback one (zuora-sim). The body streams to a temporary file next to nothing else in memory,
-- the file is unlinked as soon as it is open, and rows are decoded from it one at a time
-- (zuora.rows): memory stays flat whatever the result's size. docs/bulk.md explains the choice.
local core = require "zuora.core"
local errors = require "zuora.errors"
local jobs = require "zuora.jobs"
local pipeline = require "zuora.pipeline"
local progress = require "zuora.progress"
local redact = require "zuora.redact"
local rows = require "zuora.rows"

local url, crypto = core.url, core.crypto

local M = {}

local FORMATS = { JSON = "json", CSV = "csv", TSV = "tsv", DSV = "dsv" }
local COMPRESSIONS = { NONE = "", GZIP = ".gz", ZIP = ".zip" }
-- Every final status ends the wait; the final reply is judged afterwards.
local TERMINAL = { completed = true, failed = true, cancelled = true, canceled = true }

-- Result files are as large as the tenant's data: no body cap unless the caller sets one.
M.DEFAULT_MAX_BYTES = 2 ^ 50

local OPTION_TYPES = {
  output_format = "string", compression = "string", column_separator = "string", read_deleted = "boolean",
  source_data = "string", use_index_join = "boolean", output = "string", timeout = "number",
  interval = "number", max_interval = "number", on_progress = "function", tmpdir = "string",
  max_bytes = "number", cancel_on_timeout = "boolean", check_rows = "boolean", headers = "table",
  zuora_version = "string", decimals = "boolean", max_row = "number",
}

local function check_options(opts, level)
  level = level + 1
  if type(opts) ~= "table" then error("data_query: options must be a table", level) end
  for k, v in pairs(opts) do
    local want = OPTION_TYPES[k]
    if not want then error("data_query: unknown option " .. tostring(k), level) end
    if type(v) ~= want then error(("data_query: option %s must be a %s, got %s"):format(k, want, type(v)), level) end
  end
  local fmt = (opts.output_format or "JSON"):upper()
  if not FORMATS[fmt] then error("data_query: output_format must be JSON, CSV, TSV or DSV", level) end
  local comp = (opts.compression or (opts.output and "NONE" or "GZIP")):upper()
  if not COMPRESSIONS[comp] then error("data_query: compression must be NONE, GZIP or ZIP", level) end
  if fmt == "DSV" and (not opts.column_separator or #opts.column_separator ~= 1) then
    error("data_query: DSV output needs a one-character column_separator", level)
  end
  if opts.timeout and opts.timeout <= 0 then error("data_query: timeout must be positive", level) end
  return fmt, comp
end

-- The pipeline's profile of result files: storage's answers (S3-style XML; its Code and Message
-- are kept), hooks marked `download`.
local RESULT_FILE = {
  classify = function(_, _, res)
    local value, fields = pipeline.classify_storage(res, "result file")
    if value and not value.output then
      return nil, { kind = "transport", reason = "file", retryable = false, message = "result file: not saved" }
    end
    return value, fields
  end,
  mark = "download",
}

--- Downloads `file_url` to `dest` without any credential, with the client's retries and hooks;
-- opts.deadline (core.http.now() seconds) bounds every attempt and the waits between them.
-- Returns the transport result, or nil, err.
function M.download(client, file_url, dest, opts)
  opts = opts or {}
  local parsed = url.parse(file_url)
  local shown = redact.text(client.auth, redact.url(file_url)) -- the server's text
  if not parsed or (parsed.scheme ~= "https" and parsed.scheme ~= "http") then
    return nil, errors.new{ kind = "api", retryable = false, message = "result file URL is not http(s): " .. shown }
  end
  if parsed.scheme == "http" then
    local base = url.parse(client.base_url)
    if not (base and url.is_loopback(base.host)) then
      return nil, errors.new{ kind = "api", retryable = false,
        message = "refusing a result file over plain http (allowed only when the client's base URL is loopback): "
          .. shown }
    end
  end
  -- Deliberately no headers and no `auth`: nothing from the Zuora tenant goes to storage.
  return pipeline.run(client, {
    method = "GET", url = file_url, output = dest, timeout = 0, deadline = opts.deadline,
    connect_timeout = client.connect_timeout, max_body = opts.max_bytes or M.DEFAULT_MAX_BYTES,
    on_progress = opts.on_progress and progress.transfer(opts.on_progress, shown) or nil,
  }, RESULT_FILE)
end

local function temp_path(dir, ext)
  dir = dir or os.getenv("TMPDIR") or "/tmp"
  return (dir:gsub("/+$", "")) .. "/zuora-data-query-" .. crypto.hex(crypto.random(12)) .. ext
end

--- client:data_query(sql, opts): see the module comment and docs/bulk.md. Returns rows, nil, job
-- (or path, nil, job with opts.output), or nil, err (a failed or cancelled job: kind "api" with the
-- job's errorMessage and errorCode; the overall timeout: kind "timeout").
function M.run(client, sql, opts)
  -- level 3: the caller of client:data_query
  if type(sql) ~= "string" or sql == "" then error("data_query: expected an SQL string", 3) end
  opts = opts or {}
  local fmt, comp = check_options(opts, 3)
  local t0 = progress.now()
  local timeout = opts.timeout or 3600
  local deadline = t0 + timeout
  local ropts = { headers = opts.headers, zuora_version = opts.zuora_version }

  local body = { query = sql, outputFormat = fmt, compression = comp, output = { target = "S3" },
    readDeleted = opts.read_deleted, sourceData = opts.source_data, useIndexJoin = opts.use_index_join,
    columnSeparator = fmt == "DSV" and opts.column_separator or nil }
  local submitted, err = client:request("POST", "/query/jobs", { body = body, headers = opts.headers,
    zuora_version = opts.zuora_version, op = { group = "data_queries", name = "submit" } })
  if not submitted then return nil, err end
  if require("zuora.dryrun").is(submitted) then return submitted end -- a dry run: what would be submitted
  -- (a reply that is no object, an empty body's `true` too, has no job id: an error, not a raise)
  local job = type(submitted) == "table" and (type(submitted.data) == "table" and submitted.data or submitted) or {}
  local id = job.id
  if type(id) ~= "string" or id == "" then
    return nil, errors.new{ kind = "decode", retryable = false, message = "data query: the submit reply has no job id" }
  end

  local final
  local status = type(job.queryStatus) == "string" and job.queryStatus:lower()
  if status and TERMINAL[status] then
    final = job
  else
    local polled, perr = jobs.poll(client, {
      id = id, timeout = math.max(deadline - progress.now(), 0.001), interval = opts.interval or 0.5,
      max_interval = opts.max_interval or 10,
      on_progress = opts.on_progress, done = TERMINAL, failed = {},
      fetch = function()
        local r, e = client:request("GET", "/query/jobs/{job-id}", { path = { ["job-id"] = id },
          headers = ropts.headers, zuora_version = ropts.zuora_version,
          op = { group = "data_queries", name = "retrieve_job" } })
        return r, e
      end,
      on_timeout = function()
        if opts.cancel_on_timeout ~= false then
          client:request("DELETE", "/query/jobs/{job-id}", { path = { ["job-id"] = id }, headers = ropts.headers })
        end
      end,
    })
    if not polled then return nil, perr end
    final = type(polled.data) == "table" and polled.data or polled
  end
  job = final
  status = tostring(job.queryStatus):lower()
  if status ~= "completed" then
    local code = job.errorCode
    if type(code) ~= "string" and type(code) ~= "number" then code = nil end
    return nil, errors.new(redact.fields(client.auth, { kind = "api", retryable = false, job = job, code = code,
      message = ("data query %s %s: %s"):format(id, tostring(job.queryStatus),
        type(job.errorMessage) == "string" and job.errorMessage or "no reason given") }))
  end
  local file_url = job.dataFile
  if type(file_url) ~= "string" or file_url == "" then
    return nil, errors.new(redact.fields(client.auth, { kind = "decode", retryable = false, job = job,
      message = "data query " .. id .. " completed without a dataFile" }))
  end

  local dl_opts = { deadline = deadline, max_bytes = opts.max_bytes, on_progress = opts.on_progress }
  if opts.output then
    local res, derr = M.download(client, file_url, opts.output, dl_opts)
    if not res then return nil, derr end
    return opts.output, nil, job
  end

  local tmp = temp_path(opts.tmpdir, "." .. FORMATS[fmt] .. COMPRESSIONS[comp])
  local res, derr = M.download(client, file_url, tmp, dl_opts)
  if not res then return nil, derr end
  local f, ferr = io.open(tmp, "rb")
  os.remove(tmp) -- the open handle keeps the data; nothing is left on disk whatever happens next
  if not f then
    return nil, errors.new{ kind = "transport", reason = "file", retryable = false, message = ferr }
  end
  local decimals = opts.decimals
  if decimals == nil then decimals = client.decimals end
  local it, oerr = rows.open(f, { format = fmt, compression = comp, separator = opts.column_separator,
    on_progress = opts.on_progress, decimals = decimals or nil, max_row = opts.max_row })
  if not it then return nil, oerr end
  it.job = job
  if opts.check_rows ~= false and type(job.outputRows) == "number" then it.expect_rows = job.outputRows end
  return it, nil, job
end

return M
