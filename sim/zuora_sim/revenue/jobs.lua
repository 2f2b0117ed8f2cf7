--- Revenue jobs: organizations, programs, program submission and job status, and data collection
-- jobs. A job moves Pending -> Running -> Completed over `revenue_stage_polls` status reads (0:
-- done at submission); the accounting transfer program (149) then turns the staged transactions
-- not yet transferred into a GL transfer batch (zuora_sim.revenue.outbound). At most two data
-- collection jobs may be unfinished at once.
local state = require "zuora_sim.state"
local json = require "zuora_sim.json"
local store = require "zuora_sim.revenue.store"
local outbound = require "zuora_sim.revenue.outbound"

local M = {}
local obj, arr = json.object, json.array

local function program(id)
  for _, p in ipairs(store.PROGRAMS) do
    if p.program_id == id then return p end
  end
  return nil
end

local function finish(job)
  job.status, job.updated = "Completed", state.now_iso()
  local p = program(job.program_id)
  if p and p.transfers then
    local pending = {}
    for _, t in ipairs(store.get().staged.transaction) do
      if not t.transferred then pending[#pending + 1] = t end
    end
    if #pending > 0 then
      job.batch_id = outbound.create_batch(outbound.lines_for(pending)).id
    end
  end
end

local function advance(job)
  if job.status == "Completed" or job.status == "Error" then return end
  job.reads = job.reads + 1
  if job.reads >= state.config.revenue_stage_polls then
    finish(job)
  else
    job.status = "Running"
    job.actual_start = job.actual_start or state.now_iso()
  end
end

local function job_json(job)
  return obj("actual_start_date", job.actual_start or json.null, "crtd_by", "ZUORA-SIM", "crtd_dt", job.created,
    "error_message", job.error or json.null, "id", job.id, "sec_atr_val", job.org_id, "status", job.status,
    "updt_dt", job.updated or job.created, "batch_id", job.batch_id)
end

local function orgs()
  return 200, obj("data", arr{ obj("org_id", store.ORG.org_id, "org_name", store.ORG.org_name) })
end

local function programs()
  local out = arr()
  for i, p in ipairs(store.PROGRAMS) do
    local params = arr()
    for j, q in ipairs(p.parameters) do
      params[j] = obj("id", q.id, "mandatory", q.mandatory, "name", q.name, "sequence", q.sequence, "type", q.type)
    end
    out[i] = obj("program_id", p.program_id, "program_name", p.program_name, "parameters", params)
  end
  return 200, obj("data", out)
end

-- POST /api/integration/v1/{orgId}/programs/{programId}/submit {"parameters": [...]}
local function submit(req)
  if tonumber(req.params.orgId) ~= store.ORG.org_id then
    return 400, obj("error", "OrgId does not match the Org assigned to the role", "success", false)
  end
  local p = program(tonumber(req.params.programId))
  if not p then return 400, obj("error", "This Program is not supported at the moment", "success", false) end
  local body = req:json_body()
  if body.parameters ~= nil and getmetatable(body.parameters) ~= json.array_mt then
    return 400, obj("error", "parameters must be an array", "success", false)
  end
  local id = store.next("job")
  local job = { id = id, org_id = store.ORG.org_id, program_id = p.program_id, status = "Pending", reads = 0,
    created = state.now_iso() }
  store.get().jobs[id] = job
  if state.config.revenue_stage_polls <= 0 then finish(job) end
  return 200, obj("job_id", tostring(id), "message", "Request ID: " .. id .. " submitted successfully", "success", true)
end

-- GET /api/integration/v1/{orgId}/jobs/{jobId}
local function job_status(req)
  local job = store.get().jobs[tonumber(req.params.jobId) or -1]
  if not job or tonumber(req.params.orgId) ~= job.org_id then
    return 400, obj("error", "No job " .. tostring(req.params.jobId) .. " for organization "
      .. tostring(req.params.orgId), "success", false)
  end
  advance(job)
  return 200, obj("data", job_json(job), "success", true)
end

-- POST /api/integration/v1/job/collection/template {"rc_template_name", "org_id"}
local function collect(req)
  local body = req:json_body()
  if type(body.rc_template_name) ~= "string" or body.rc_template_name == "" then
    return 400, obj("message", "rc_template_name is required", "success", false)
  end
  local open = 0
  for _, j in pairs(store.get().collections) do
    if j.status ~= "Completed" then open = open + 1 end
  end
  if open >= 2 then
    return 400, obj("message", "More than 2 data collection jobs are running or pending for this organization",
      "success", false)
  end
  local id = store.next("collection")
  local job = { id = id, org_id = store.ORG.org_id, status = "Pending", reads = 0, created = state.now_iso(),
    template = body.rc_template_name }
  store.get().collections[id] = job
  if state.config.revenue_stage_polls <= 0 then finish(job) end
  return 200, obj("message", "Data collection job " .. id .. " submitted", "success", true, "job_id", id)
end

-- GET /api/integration/v1/job/collection/template/{job_id}
local function collection(req)
  local job = store.get().collections[tonumber(req.params.job_id) or -1]
  if not job then
    return 400, obj("message", "No data collection job " .. tostring(req.params.job_id), "success", false)
  end
  advance(job)
  return 200, obj("data", job_json(job), "success", true)
end

function M.routes(add)
  add("GET", "/api/integration/v1/revenue-orgs", orgs)
  add("GET", "/api/integration/v1/programs", programs)
  add("POST", "/api/integration/v1/{orgId}/programs/{programId}/submit", submit)
  add("GET", "/api/integration/v1/{orgId}/jobs/{jobId}", job_status)
  add("POST", "/api/integration/v1/job/collection/template", collect)
  add("GET", "/api/integration/v1/job/collection/template/{job_id}", collection)
end

return M
