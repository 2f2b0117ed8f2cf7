--- Data Query jobs: submitted SQL runs over the simulator's objects; the result file (JSON lines,
-- CSV, TSV or DSV; optionally gzip or zip) is published on the files origin at a pre-signed URL.
-- A job moves accepted -> in_progress -> completed (or failed) over `job_polls` status reads.
local state = require "zuora_sim.state"
local json = require "zuora_sim.json"
local zoql = require "zuora_sim.zoql"
local objects = require "zuora_sim.objects"
local C = require "zuora_sim.api.common"

local M = {}
local obj, arr = json.object, json.array

local FORMATS = { JSON = true, CSV = true, TSV = true, DSV = true }
local COMPRESSIONS = { NONE = true, GZIP = true, ZIP = true }

local function cell(v)
  if v == nil then return "" end
  if json.is_number(v) then return v[1] end
  return tostring(v)
end

local function delimited(columns, rows, sep)
  local function quote(s)
    if s:find('[' .. (sep == "\t" and "\t" or sep) .. '"\r\n]') then return '"' .. s:gsub('"', '""') .. '"' end
    return s
  end
  local lines = {}
  local head = {}
  for i, c in ipairs(columns) do head[i] = quote(c) end
  lines[1] = table.concat(head, sep)
  for _, row in ipairs(rows) do
    local t = {}
    for i, c in ipairs(columns) do t[i] = quote(cell(row[c])) end
    lines[#lines + 1] = table.concat(t, sep)
  end
  return table.concat(lines, "\n") .. "\n"
end

-- `SELECT * FROM sim_synthetic LIMIT n`: a generated result for benchmarks (sim/synthetic.lua).
local function execute_synthetic(job, n, first)
  local synthetic = require "zuora_sim.synthetic"
  if n > synthetic.MAX_ROWS or job.compression == "ZIP" then
    job.queryStatus, job.errorCode = "failed", "QUERY_ERROR"
    job.errorMessage = "sim_synthetic: at most " .. synthetic.MAX_ROWS .. " rows, compression NONE or GZIP"
    return
  end
  local ext = ({ JSON = "json", CSV = "csv", TSV = "tsv", DSV = "dsv" })[job.outputFormat]
  local sep = ({ CSV = ",", TSV = "\t" })[job.outputFormat] or job.columnSeparator
  job.dataFile = require("zuora_sim.files").publish_generated(job.id .. "." .. ext,
    { rows = n, format = job.outputFormat, sep = sep, compression = job.compression, first = first,
      dated = first ~= nil })
  job.outputRows = n
  job.queryStatus = "completed"
  job.processingTime = 1
end

local function execute(job)
  local synthetic_rows = require("zuora_sim.synthetic").rows_of(job.query)
  if synthetic_rows then return execute_synthetic(job, synthetic_rows) end
  local q, err = zoql.parse(job.query, "sql")
  if not q then
    job.queryStatus, job.errorCode, job.errorMessage = "failed", "QUERY_SYNTAX_ERROR", err
    return
  end
  local dok, first, count = pcall(require("zuora_sim.synthetic").dated_range, q, state.config.synthetic_rows)
  if not dok then
    job.queryStatus, job.errorCode, job.errorMessage = "failed", "QUERY_ERROR", tostring(first)
    return
  end
  if first then return execute_synthetic(job, job.readDeleted and 0 or count, first) end
  local ok, def, rows, fields = pcall(require("zuora_sim.api.queries").run, q, "sql",
    { deleted = job.readDeleted })
  if not ok then
    job.queryStatus, job.errorCode = "failed", "QUERY_ERROR"
    job.errorMessage = type(def) == "table" and def.message or tostring(def)
    return
  end
  if job.fault == "max_rows" and #rows > job.fault_rows then
    -- What a too-large window does on a real tenant: the job runs into Data Query's time limit.
    job.queryStatus, job.errorCode = "failed", "QUERY_ERROR"
    job.errorMessage = "Query exceeded the maximum time limit of 3600.00s"
    return
  end
  local columns, views = {}, {}
  for i, name in ipairs(fields) do columns[i] = name:lower() end
  for i, row in ipairs(rows) do
    local v = {}
    for j, name in ipairs(fields) do v[columns[j]] = (objects.get(def, row, name)) end
    views[i] = v
  end
  if job.readDeleted then
    -- Deleted rows come marked: a `deleted` column, true (Data Query's READ DELETED).
    columns[#columns + 1] = "deleted"
    for _, v in ipairs(views) do v.deleted = true end
  end
  local content, ext, ctype
  if job.outputFormat == "JSON" then
    local lines = {}
    for i, v in ipairs(views) do
      local o = json.object()
      local order = getmetatable(o).__order
      for _, c in ipairs(columns) do o[c] = v[c] == nil and json.null or v[c]; order[#order + 1] = c end
      lines[i] = json.encode(o)
    end
    content, ext, ctype = table.concat(lines, "\n") .. (#lines > 0 and "\n" or ""), "json", "application/json"
  elseif job.outputFormat == "CSV" then
    content, ext, ctype = delimited(columns, views, ","), "csv", "text/csv"
  elseif job.outputFormat == "TSV" then
    content, ext, ctype = delimited(columns, views, "\t"), "tsv", "text/tab-separated-values"
  else
    content, ext, ctype = delimited(columns, views, job.columnSeparator or ","), "dsv", "text/plain"
  end
  local name = job.id .. "." .. ext
  if job.compression == "GZIP" then
    content, name, ctype = assert(require("zuora_sim.zlib").gzip(content)), name .. ".gz", "application/gzip"
  elseif job.compression == "ZIP" then
    content, name, ctype = require("zuora_sim.zlib").zip(name, content), job.id .. ".zip", "application/zip"
  end
  job.dataFile = require("zuora_sim.files").publish(name, content, ctype)
  job.outputRows = #views
  job.queryStatus = "completed"
  job.processingTime = 5
end

-- Data Query names jobs and users by UUID (8-4-4-4-12), not by the 32-digit ids of the v1 objects.
local function uuid(hex)
  return ("%s-%s-%s-%s-%s"):format(hex:sub(1, 8), hex:sub(9, 12), hex:sub(13, 16), hex:sub(17, 20), hex:sub(21, 32))
end
local SIM_USER = "8ad05e4d-0000-4000-8000-0000000a5e12" -- the simulator's API user

local function job_json(job)
  return obj("id", job.id, "query", job.query, "queryStatus", job.queryStatus, "outputFormat", job.outputFormat,
    "compression", job.compression, "columnSeparator", job.columnSeparator or json.null,
    "readDeleted", job.readDeleted, "sourceData", job.sourceData, "useIndexJoin", false,
    "createdBy", SIM_USER, "createdOn", job.createdOn, "updatedOn", job.updatedOn,
    "outputRows", job.outputRows or json.null, "processingTime", job.processingTime or json.null,
    "dataFile", job.dataFile or json.null, "errorCode", job.errorCode or json.null,
    "errorMessage", job.errorMessage or json.null)
end

-- Faults for Data Query jobs (POST /__sim/query-faults): the next `count` jobs whose query holds
-- `match` (any, when absent) fail, stall (stay in_progress for ever) or, with max_rows, fail when
-- their result would exceed that many rows (count absent: every such job).
local function take_fault(job)
  local q = job.query:lower()
  for _, f in ipairs(state.query_faults) do
    if (not f.match or q:find(f.match, 1, true)) and (f.count == nil or f.count > 0) then
      if f.count then f.count = f.count - 1 end
      job.fault, job.fault_rows = f.kind, f.max_rows
      return
    end
  end
end

local function advance(job)
  if job.queryStatus ~= "accepted" and job.queryStatus ~= "in_progress" then return end
  job.polls = job.polls + 1
  if job.fault == "stall" then
    job.queryStatus = "in_progress"
  elseif job.fault == "fail" and job.polls >= state.config.job_polls then
    job.queryStatus, job.errorCode = "failed", "QUERY_ERROR"
    job.errorMessage = "Query failed (simulated fault)"
  elseif job.polls >= state.config.job_polls then execute(job) else job.queryStatus = "in_progress" end
  job.updatedOn = state.now_iso()
end

local function job_of(id)
  local job = state.data.query_jobs[id]
  if not job then C.fail("not_found", "Query job " .. tostring(id) .. " not found", "query") end
  return job
end

local function submit(req)
  local b = req:json_body()
  local query = C.require(b, "query", "query")
  local format = C.require(b, "outputFormat", "query")
  local compression = C.require(b, "compression", "query")
  if not FORMATS[format] then C.fail("invalid_value", "outputFormat must be JSON, CSV, TSV or DSV", "query") end
  if not COMPRESSIONS[compression] then C.fail("invalid_value", "compression must be NONE, GZIP or ZIP", "query") end
  if format == "DSV" and (type(b.columnSeparator) ~= "string" or #b.columnSeparator ~= 1) then
    C.fail("invalid_value", "DSV output needs a one-character columnSeparator", "query")
  end
  local now = state.now_iso()
  local job = { id = uuid(state.new_id("query_job")), query = query, outputFormat = format, compression = compression,
    columnSeparator = b.columnSeparator, readDeleted = b.readDeleted == true, sourceData = b.sourceData or "LIVE",
    queryStatus = "accepted", polls = 0, createdOn = now, updatedOn = now }
  state.put("query_jobs", job)
  take_fault(job)
  if state.config.job_polls <= 0 and not job.fault then execute(job)
  elseif state.config.job_polls <= 0 and job.fault ~= "stall" then advance(job) end
  return 200, obj("data", job_json(job))
end

function M.register(r)
  r.add("POST", "/query/jobs", submit)
  r.add("GET", "/query/jobs", function(req)
    local status = req.query.queryStatus
    local list = arr()
    for _, job in ipairs(state.list("query_jobs", function(j) return not status or j.queryStatus == status end)) do
      list[#list + 1] = job_json(job)
    end
    return 200, obj("data", list)
  end)
  r.add("GET", "/query/jobs/{job-id}", function(req)
    local job = job_of(req.params["job-id"])
    advance(job)
    return 200, obj("data", job_json(job))
  end)
  r.add("DELETE", "/query/jobs/{job-id}", function(req)
    local job = job_of(req.params["job-id"])
    if job.queryStatus ~= "accepted" and job.queryStatus ~= "in_progress" then
      C.fail("rule_restriction", "Only accepted or in-progress jobs can be cancelled", "query")
    end
    job.queryStatus = "cancelled"
    job.updatedOn = state.now_iso()
    return 200, obj("data", job_json(job))
  end)
end

return M
