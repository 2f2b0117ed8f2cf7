--- Control endpoints for the Revenue side of zuora-sim (under /__sim/revenue; documented in
-- docs/zuora-sim.md). Settings (revenue_enabled, revenue_token_ttl, revenue_stage_polls,
-- revenue_max_uploads) go through PUT /__sim/config like every other setting.
local json = require "zuora_sim.json"
local store = require "zuora_sim.revenue.store"
local outbound = require "zuora_sim.revenue.outbound"

local M = {}
local obj, arr = json.object, json.array

local function resp(status, body) return require("zuora_sim.server").make_response(status, body) end

local function summary()
  local r = store.get()
  local uploads = arr()
  for _, id in ipairs(r.upload_order) do
    local u = r.uploads[id]
    uploads[#uploads + 1] = obj("id", u.id, "route", u.route, "template", u.template, "file_name", u.filename,
      "status", u.status, "rows_staged", u.staged, "rows_in_error", u.errors)
  end
  local batches = arr()
  for _, id in ipairs(r.batch_order) do
    local b = r.batches[id]
    batches[#batches + 1] = obj("id", b.id, "name", b.name, "status", b.status, "lines", #b.lines,
      "report_id", b.report_id)
  end
  return obj("uploads", uploads, "uploads_in_flight_max", r.uploads_max,
    "staged", obj("transaction", #r.staged.transaction, "event", #r.staged.event),
    "stage_errors", obj("transaction", #r.errors.transaction, "event", #r.errors.event), "batches", batches)
end

-- POST /__sim/revenue/batches {"lines": N, "currency": "USD"}: a Ready To Transfer batch of N
-- synthetic GL lines (for paging tests), amounts 1.01, 1.02, ... in DR/CR pairs.
local function seed_batch(req)
  local body = req.body and req.body:match("%S") and json.decode(req.body) or obj()
  if type(body) ~= "table" then return resp(400, obj("error", "malformed JSON")) end
  local n = json.tonumber(body.lines) or 0
  if n < 0 or n > 200000 or n % 1 ~= 0 then return resp(400, obj("error", "lines must be an integer in 0..200000")) end
  local lines = {}
  local state = require "zuora_sim.state"
  for i = 1, n do
    local pair = math.floor((i - 1) / 2) + 1
    local amount = json.number(("%d.%02d"):format(1 + math.floor(pair / 100), pair % 100))
    local dr = i % 2 == 1
    lines[i] = { so_num = ("SO-%06d"):format(pair), so_line_num = "1", currency = body.currency or "USD",
      gl_date = state.today(), period_name = store.oracle_date(state.today()):sub(4), description = json.null,
      gl_account = dr and "1200" or "2400", account_type = dr and "Unbilled AR" or "Contract Liability",
      dr_amount = dr and amount or json.null, cr_amount = dr and json.null or amount }
  end
  local b = outbound.create_batch(lines, type(body.name) == "string" and body.name or nil)
  return resp(201, obj("id", b.id, "name", b.name, "status", b.status, "lines", #b.lines, "report_id", b.report_id))
end

function M.handle(req, rest)
  if rest == "revenue" and req.method == "GET" then return resp(200, summary()) end
  if rest == "revenue/batches" and req.method == "POST" then return seed_batch(req) end
  return resp(404, obj("error", "no control endpoint " .. req.method .. " /__sim/" .. rest))
end

return M
