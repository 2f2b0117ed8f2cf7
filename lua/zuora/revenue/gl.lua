--- Outbound: GL transfer batches as one row iterator over their JSON pages, their CSV form through
-- a signed URL, and the revenue programs (jobs) that create them.
local core = require "zuora.core"
local errors = require "zuora.errors"
local rclient = require "zuora.revenue.client"

local json = core.json

local M = {}

M.MAX_PAGESIZE = 10000

local function array(t) return setmetatable(t or {}, json.array_mt) end

-- The rows of a batch page. The reference documents only {"status": "Success"} for this reply;
-- the rows are read from `result` (as in the batch list), else `data` or `Result`, else an array body.
local function page_rows(reply)
  if type(reply) ~= "table" then return array() end
  for _, k in ipairs { "result", "data", "Result", "rows" } do
    local v = reply[k]
    if type(v) == "table" and (v[1] ~= nil or getmetatable(v) == json.array_mt) then return v end
  end
  if reply[1] ~= nil then return reply end
  return array()
end
M.page_rows = page_rows

--- The GL transfer batches ready to transfer: an array (empty when Zuora answers 204). Returns
-- batches, nil, meta or nil, err.
function M.batches(client)
  local reply, err, meta = client:request("GET", "/api/integration/v1/journal/list",
    { op = rclient.entry("transfer_accounting", "list_batches") })
  if not reply then return nil, err end
  return page_rows(reply), nil, meta
end

local function total_pages(reply)
  if type(reply) ~= "table" then return nil end
  local n = tonumber(reply.total_pages or reply.totalPages or reply.total_page)
  return n and n >= 1 and n or nil
end

--- An iterator over every row of GL batch `batch_id`, page after page (pages of `opts.pagesize`
-- rows, default and maximum 10,000). Yields row, page number. Raises the zuora.Error of a failed
-- page (like op:each). opts.on_page(page, rows, reply) sees each page as it arrives. The walk ends
-- at a 204, an empty page, a page shorter than the page size, or the reply's total_pages.
function M.rows(client, batch_id, opts)
  opts = opts or {}
  if batch_id == nil then error("gl_rows: a batch id is required", 2) end
  local pagesize = opts.pagesize or M.MAX_PAGESIZE
  if type(pagesize) ~= "number" or pagesize % 1 ~= 0 or pagesize < 1 or pagesize > M.MAX_PAGESIZE then
    error("gl_rows: pagesize must be an integer in 1..10000", 2)
  end
  local entry = rclient.entry("transfer_accounting", "retrieve_batch")
  local page, rows, i, done = (opts.first_page or 1) - 1, nil, 0, false
  return function()
    while true do
      if rows and i < #rows then
        i = i + 1
        return rows[i], page
      end
      if done then return nil end
      page = page + 1
      local reply, err = client:request("GET", "/api/integration/v1/journal/batch/{batchid}/{pagenum}",
        { path = { batchid = tostring(batch_id), pagenum = tostring(page) }, query = { pagesize = pagesize },
          op = entry })
      if not reply then
        done = true
        error(err, 0)
      end
      rows, i = page_rows(reply), 0
      if opts.on_page then opts.on_page(page, rows, reply) end
      local last = total_pages(reply)
      if reply == true or #rows < pagesize or (last and page >= last) then done = true end
      if #rows == 0 then return nil end
    end
  end
end

--- The CSV of GL batch `batch` (an id, or a record from batches()), fetched through a signed URL
-- without Zuora credentials: the batch's report_id (looked up in the batch list unless given as
-- opts.report_id) gets a signed URL, which is then downloaded. opts.output saves to that path and
-- returns it; otherwise the CSV text is returned. Returns csv_or_path, nil, meta or nil, err.
function M.csv(client, batch, opts)
  opts = opts or {}
  local report_id = opts.report_id or (type(batch) == "table" and batch.report_id) or nil
  local batch_id = type(batch) == "table" and batch.id or batch
  if report_id == nil or report_id == json.null then
    if batch_id == nil then error("gl_csv: a batch id or opts.report_id is required", 2) end
    local list, err = M.batches(client)
    if not list then return nil, err end
    for _, b in ipairs(list) do
      if tostring(b.id) == tostring(batch_id) then report_id = b.report_id end
    end
    if report_id == nil or report_id == json.null then
      return nil, errors.new{ kind = "api", category = "not_found", retryable = false,
        message = "GL batch " .. tostring(batch_id) .. " is not in the batch list or has no report_id" }
    end
  end
  local reply, err = client:request("GET", "/api/integration/v2/reports/signedurl/{report_id}",
    { path = { report_id = tostring(report_id) }, op = rclient.entry("reports", "retrieve_signed_url") })
  if not reply then return nil, err end
  local signed = type(reply) == "table" and (reply.signed_url or reply.signedUrl or reply.url) or nil
  if type(signed) ~= "string" or signed == "" then
    return nil, errors.new{ kind = "api", retryable = false,
      message = "the signed URL reply for report " .. tostring(report_id) .. " has no signed_url" }
  end
  return require("zuora.revenue.download").fetch(client, signed, { output = opts.output, timeout = opts.timeout })
end

local FINAL = { completed = "ok", complete = "ok", success = "ok", succeeded = "ok", error = "failed",
  failed = "failed", cancelled = "failed", canceled = "failed", terminated = "failed" }

--- Submits program `program_id` for organization `org_id` with `parameters` (an array of
-- {parameter_id, sequence, parameter_value}) and waits until the job ends. Returns the job's
-- final record (`data` of the status reply), or nil, err (also when the job ends in error).
-- opts: poll_interval (0.5), wait_timeout (900), wait (false: return the submit reply at once).
function M.run_program(client, org_id, program_id, parameters, opts)
  opts = opts or {}
  local reply, err = client:request("POST", "/api/integration/v1/{orgId}/programs/{programId}/submit",
    { path = { orgId = tostring(org_id), programId = tostring(program_id) },
      body = { parameters = array(parameters or {}) }, op = rclient.entry("revenue_jobs", "submit_program") })
  if not reply then return nil, err end
  if opts.wait == false then return reply end
  local job_id = type(reply) == "table" -- (an empty body is `true`: no job id, an error below)
    and (reply.job_id or (type(reply.data) == "table" and reply.data.id)) or nil
  if job_id == nil or job_id == json.null then
    return nil, errors.new{ kind = "decode", retryable = false, message = "the submit reply has no job_id" }
  end
  local entry = rclient.entry("revenue_jobs", "retrieve_job")
  local interval = opts.poll_interval or 0.5
  local deadline = client.rt.now() + (opts.wait_timeout or 900)
  while true do
    local st, serr = client:request("GET", "/api/integration/v1/{orgId}/jobs/{jobId}",
      { path = { orgId = tostring(org_id), jobId = tostring(job_id) }, op = entry })
    if not st then return nil, serr end
    local data = type(st.data) == "table" and st.data or st
    local final = type(data.status) == "string" and FINAL[data.status:lower()]
    if final == "ok" then return data end
    if final == "failed" then
      return nil, errors.new{ kind = "api", retryable = false, message = ("job %s ended %s: %s"):format(
        tostring(job_id), data.status, tostring(data.error_message ~= json.null and data.error_message or "")) }
    end
    if client.rt.now() >= deadline then
      return nil, errors.new{ kind = "timeout", retryable = false,
        message = ("job %s still %s after %gs"):format(tostring(job_id), tostring(data.status),
          opts.wait_timeout or 900) }
    end
    client:sleep(interval)
    interval = math.min(interval * 1.5, 10)
  end
end

return M
