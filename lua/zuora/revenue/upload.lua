--- Uploading CSV data of any size to Zuora Revenue: split into parts under the line limit (never
-- inside a record), at most two uploads in flight (the tenant's limit), each part's status
-- reported as it is received and as it is staged. Also: upload status and stage errors.
local core = require "zuora.core"
local errors = require "zuora.errors"
local csv = require "zuora.revenue.csv"
local rclient = require "zuora.revenue.client"

local json = core.json

local M = {}

-- The two ways in: CSV text in the body (up to 20,000 lines a request) and a multipart file (about
-- 60,000 lines a request). Lines count physical lines, the header line of each part included.
M.ROUTES = {
  text = { path = "/api/integration/v1/csv/upload", max_lines = 20000, op = { "inbound", "create_upload" } },
  file = { path = "/api/integration/v1/upload/file", max_lines = 60000, op = { "file_upload", "upload" } },
}

--- The status call of an upload made through `route` ("text" or "file"); returns the reply.
function M.status(client, id, route)
  if id == nil then error("upload_status: an upload id is required", 2) end
  if (route or "text") == "file" then
    return client:request("GET", "/api/integration/v1/fileupload/status/{file_request_id}",
      { path = { file_request_id = tostring(id) }, op = rclient.entry("file_upload", "retrieve_status") })
  end
  return client:request("GET", "/api/integration/v1/csv/upload/status",
    { query = { id = tostring(id) }, op = rclient.entry("inbound", "retrieve_upload_status") })
end

-- The record describing an upload in a status reply: {"result": {...}} for text uploads,
-- {"Result": [{...}]} for file uploads (assumed to hold one entry per request).
local function status_record(reply)
  if type(reply) ~= "table" then return nil end
  local r = reply.result or reply.Result
  if type(r) == "table" and r[1] ~= nil then r = r[#r] end
  return type(r) == "table" and r or nil
end

-- The upload id in an upload reply: result.id (text uploads); the file route's reply shape is not
-- documented beyond message and status, so its id is looked for in the likely places.
local function upload_id(reply)
  if type(reply) ~= "table" then return nil end
  local r = status_record(reply)
  local id = (r and (r.id or r.request_id or r.file_request_id)) or reply.request_id or reply.file_request_id
    or reply.id
  if id == nil or id == json.null then return nil end
  return tostring(id)
end

--- "staged", "failed" or nil (still running) for an upload status record. Zuora does not publish
-- the list of statuses; these words are what it and zuora-sim use (docs/revenue.md).
function M.stage_state(rec)
  if type(rec) ~= "table" then return nil end
  local s = type(rec.status) == "string" and rec.status:lower() or ""
  if s:find("fail") or s:find("error") or s:find("reject") then return "failed" end
  if s:find("complete") or s:find("staged") or s:find("processed") or s:find("success") then return "staged" end
  return nil
end

local function report_part(on_part, part)
  if on_part then
    local view = {}
    for k, v in pairs(part) do view[k] = v end
    require("zuora.pipeline").run_hook(on_part, view)
  end
end

local function part_name(filename, index)
  local stem, ext = filename:match("^(.-)(%.[%w]+)$")
  if not stem or stem == "" then stem, ext = filename, "" end
  return ("%s-%03d%s"):format(stem, index, ext)
end

local function check_opts(client, o)
  if type(o) ~= "table" then error("upload_csv: expected an options table", 3) end
  local KNOWN = { template = true, filename = true, path = true, data = true, source = true, route = true,
    max_lines = true, concurrency = true, wait = true, poll_interval = true, wait_timeout = true,
    on_part = true, name_part = true, timeout = true, stop_on_error = true }
  for k in pairs(o) do
    if not KNOWN[k] then error("upload_csv: unknown option " .. tostring(k), 3) end
  end
  if type(o.template) ~= "string" or o.template == "" then
    error("upload_csv: template (the upload template's name) is required", 3)
  end
  if type(o.filename) ~= "string" or o.filename == "" or o.filename:find("[\r\n]") then
    error("upload_csv: filename (shown in Zuora Revenue) is required", 3)
  end
  local n = (o.path and 1 or 0) + (o.data and 1 or 0) + (o.source and 1 or 0)
  if n ~= 1 then error("upload_csv: give one of path, data or source", 3) end
  local route = M.ROUTES[o.route or "text"]
  if not route then error("upload_csv: route must be \"text\" or \"file\"", 3) end
  local max_lines = o.max_lines or route.max_lines
  if type(max_lines) ~= "number" or max_lines % 1 ~= 0 or max_lines < 2 or max_lines > route.max_lines then
    error(("upload_csv: max_lines must be an integer in 2..%d for the %s route"):format(route.max_lines,
      o.route or "text"), 3)
  end
  local concurrency = o.concurrency or client.max_uploads or 2
  if concurrency ~= 1 and concurrency ~= 2 then error("upload_csv: concurrency must be 1 or 2", 3) end
  if o.on_part ~= nil and type(o.on_part) ~= "function" then error("upload_csv: on_part must be a function", 3) end
  return route, max_lines, concurrency
end

-- Polls one part's status until it is staged or failed (or the wait runs out).
local function wait_staged(client, part, route_name, o)
  local interval = o.poll_interval or 0.5
  local deadline = client.rt.now() + (o.wait_timeout or 900)
  while true do
    local reply, err = M.status(client, part.id, route_name)
    if not reply then
      part.status, part.err = "failed", err
      return
    end
    local rec = status_record(reply)
    part.result = rec or reply
    part.server_status = rec and rec.status
    part.message = rec and rec.message
    local state = M.stage_state(rec)
    if state then
      part.status = state
      if state == "failed" then
        part.err = errors.new{ kind = "api", message = ("part %d (%s) failed to stage: %s"):format(part.index,
          part.filename, tostring(part.message or part.server_status)), retryable = false }
      end
      return
    end
    if client.rt.now() >= deadline then
      part.status = "uploaded"
      part.err = errors.new{ kind = "timeout", message = ("part %d (%s) was not staged within %gs (status %s)")
        :format(part.index, part.filename, o.wait_timeout or 900, tostring(part.server_status)), retryable = false }
      return
    end
    client:sleep(interval)
    interval = math.min(interval * 1.5, 10)
  end
end

--- Uploads CSV data in parts; see docs/revenue.md. Returns report, or nil, err, report.
-- opts: template, filename, and one of path | data | source (a chunk function); route ("text"
-- default, or "file"), max_lines (default and maximum: 20,000 text, 60,000 file), concurrency (1
-- or 2), wait (poll each part until staged; default true), poll_interval, wait_timeout, on_part
-- (called with a copy of a part's report when it is uploaded and when it is staged or failed),
-- name_part (filename, index) -> the part's file name, timeout (per request), stop_on_error
-- (default true: no new part starts after one fails).
function M.upload_csv(client, opts)
  local route, max_lines, concurrency = check_opts(client, opts)
  local route_name = opts.route or "text"
  local source
  if opts.path then
    local f, ferr = io.open(opts.path, "rb")
    if not f then return nil, errors.new{ kind = "transport", reason = "file", retryable = false,
      message = "cannot read " .. opts.path .. ": " .. tostring(ferr) } end
    f:close()
    source = csv.file_source(opts.path)
  elseif opts.data then
    if type(opts.data) ~= "string" then error("upload_csv: data must be a string", 2) end
    source = csv.string_source(opts.data)
  else
    if type(opts.source) ~= "function" then error("upload_csv: source must be a function", 2) end
    source = opts.source
  end
  local ok, parts = pcall(csv.parts, csv.reader(source), max_lines)
  if not ok then return nil, errors.new{ kind = "api", message = tostring(parts), retryable = false } end

  local report = { parts = {}, records = 0, route = route_name, template = opts.template }
  local name_part = opts.name_part or part_name
  local entry = rclient.entry(route.op[1], route.op[2])
  local wait = opts.wait ~= false
  local stop = opts.stop_on_error ~= false
  local first_err, input_err
  local pollers = {}

  -- Pulls the next part from the reader; runs between yields, so two workers never interleave.
  local function take()
    if input_err or (first_err and stop) then return nil end
    local good, part = pcall(parts)
    if not good then
      input_err = errors.new{ kind = "api", message = tostring(part), retryable = false }
      return nil
    end
    return part
  end

  local function upload_part(part)
    if route_name == "file" then
      return client:request("POST", route.path, { op = entry, timeout = opts.timeout,
        headers = { templatename = opts.template },
        multipart = { { name = "file", data = part.text, filename = part.filename, content_type = "text/csv" } } })
    end
    return client:request("POST", route.path, { op = entry, timeout = opts.timeout, body = part.text,
      content_type = "text/plain", headers = { templatename = opts.template, filename = part.filename } })
  end

  local function worker()
    while true do
      local p = take()
      if not p then return end
      local part = { index = p.index, filename = name_part(opts.filename, p.index), first = p.first, last = p.last,
        records = p.records, lines = p.lines, bytes = #p.text, status = "uploading" }
      report.parts[p.index] = part
      p.filename = part.filename
      local t0 = client.rt.now()
      local reply, err = upload_part(p)
      part.elapsed = client.rt.now() - t0
      if not reply then
        part.status, part.err = "failed", err
        first_err = first_err or err
        report_part(opts.on_part, part)
      else
        part.reply = reply
        part.id = upload_id(reply)
        part.message = type(reply) == "table" and (reply.message or reply.Message) or nil
        part.status = "uploaded"
        report.records = report.records + p.records
        report_part(opts.on_part, part)
        if wait then
          if part.id then
            pollers[#pollers + 1] = client:spawn(function()
              wait_staged(client, part, route_name, opts)
              if part.err then first_err = first_err or part.err end
              report_part(opts.on_part, part)
            end)
          else
            part.status = "failed"
            part.err = errors.new{ kind = "decode", retryable = false,
              message = ("part %d (%s): the upload reply has no id to follow"):format(part.index, part.filename) }
            first_err = first_err or part.err
            report_part(opts.on_part, part)
          end
        end
      end
    end
  end

  local workers = {}
  for i = 1, concurrency do workers[i] = client:spawn(worker) end
  for _, w in ipairs(workers) do
    local _, raised = w:wait()
    if raised ~= nil then error(raised, 0) end
  end
  for _, p in ipairs(pollers) do
    local _, raised = p:wait()
    if raised ~= nil then error(raised, 0) end
  end
  local err = input_err or first_err
  if err then
    err.upload = report
    return nil, err, report
  end
  report.ok = true
  return report
end

--- The staging errors of "transaction" (default) or "event" uploads: an array, empty when Zuora
-- answers 204 (none). Returns rows, nil, meta or nil, err.
function M.stage_errors(client, kind)
  kind = kind or "transaction"
  if kind ~= "transaction" and kind ~= "event" then
    error("stage_errors: kind must be \"transaction\" or \"event\"", 2)
  end
  local reply, err, meta = client:request("GET", "/api/integration/v1/stage/error/{errortype}",
    { path = { errortype = kind }, op = rclient.entry("stage_error", "list") })
  if not reply then return nil, err end
  local rows = type(reply) == "table" and (reply.Result or reply.result) or nil
  if type(rows) ~= "table" then rows = setmetatable({}, json.array_mt) end
  return rows, nil, meta
end

return M
