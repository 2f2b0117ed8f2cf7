--- Revenue outbound: GL transfer batches (listed, paged as JSON, marked transferred, as a file),
-- reports and their signed URLs (on the files origin, like Data Query results).
--
-- A batch is made by the accounting transfer program (zuora_sim.revenue.jobs) from the staged
-- transactions not yet transferred — two lines per transaction, debit Unbilled AR and credit
-- Contract Liability for its EXT_SELL_PRICE, amounts kept as the exact decimal text uploaded — or
-- seeded through POST /__sim/revenue/batches. Each batch has a report (its CSV) with a report_id.
local state = require "zuora_sim.state"
local json = require "zuora_sim.json"
local decimal = require "zuora_sim.decimal"
local store = require "zuora_sim.revenue.store"
local fail = require("zuora_sim.revenue.inbound").fail

local M = {}
local obj, arr = json.object, json.array

M.COLUMNS = { "line_num", "batch_id", "so_num", "so_line_num", "gl_account", "account_type", "dr_amount",
  "cr_amount", "currency", "gl_date", "period_name", "description" }

local function csv_cell(v)
  if v == nil or v == json.null then return "" end
  local s = json.is_number(v) and v[1] or tostring(v)
  if s:find('[,"\r\n]') then s = '"' .. s:gsub('"', '""') .. '"' end
  return s
end

local function batch_csv(b)
  local lines = { table.concat(M.COLUMNS, ",") }
  for _, l in ipairs(b.lines) do
    local cells = {}
    for i, c in ipairs(M.COLUMNS) do cells[i] = csv_cell(l[c]) end
    lines[#lines + 1] = table.concat(cells, ",")
  end
  return table.concat(lines, "\r\n") .. "\r\n"
end

--- Creates a Ready To Transfer batch from `lines` (arrays of fields by M.COLUMNS names, without
-- line_num and batch_id) and its report. Returns the batch.
function M.create_batch(lines, name)
  local r = store.get()
  local id = store.next("batch")
  local today = state.today()
  local period = store.oracle_date(today):sub(4)
  local b = { id = id, name = name or ("GL Transfer " .. period .. " #" .. id), status = "Ready To Transfer",
    created = state.now_iso(), lines = {} }
  for i, l in ipairs(lines) do
    l.line_num, l.batch_id = i, id
    b.lines[i] = l
  end
  local rid = store.next("report")
  local file_name = ("GL_BATCH_%d.csv"):format(id)
  local content = batch_csv(b)
  r.reports[rid] = { id = rid, file_name = file_name, name = "GL Transfer Batch " .. id, content = content,
    created_date = today, crtd_dt = state.now_iso(), batch_id = id }
  r.report_files[file_name] = rid
  b.report_id = rid
  r.batches[id] = b
  r.batch_order[#r.batch_order + 1] = id
  return b
end

-- The amount as uploaded when it is already JSON number text ("1200.50" stays "1200.50"),
-- else its exact decimal value.
local function amount_of(text)
  local t = text:gsub("^%s+", ""):gsub("%s+$", "")
  local int, frac = t:match("^%-?(%d+)(%.?%d*)$")
  if int and (int == "0" or not int:find("^0")) and frac ~= "." then return json.number(t) end
  return decimal.json(decimal.new(t))
end

--- GL lines for staged transactions (two each), marking them transferred.
function M.lines_for(transactions)
  local lines = {}
  local today = state.today()
  local period = store.oracle_date(today):sub(4)
  for _, t in ipairs(transactions) do
    local amount = amount_of(t.EXT_SELL_PRICE)
    local common = { so_num = t.SO_NUM, so_line_num = t.SO_LINE_NUM, currency = t.CURRENCY, gl_date = today,
      period_name = period, description = t.DESCRIPTION ~= "" and t.DESCRIPTION or json.null }
    local dr, cr = {}, {}
    for k, v in pairs(common) do dr[k], cr[k] = v, v end
    dr.gl_account, dr.account_type, dr.dr_amount, dr.cr_amount = "1200", "Unbilled AR", amount, json.null
    cr.gl_account, cr.account_type, cr.dr_amount, cr.cr_amount = "2400", "Contract Liability", json.null, amount
    lines[#lines + 1] = dr
    lines[#lines + 1] = cr
    t.transferred = true
  end
  return lines
end

local function row_json(l)
  local o = obj()
  local order = getmetatable(o).__order
  for _, c in ipairs(M.COLUMNS) do
    local v = l[c]
    if v == nil then v = json.null end
    o[c] = v
    order[#order + 1] = c
  end
  return o
end

local function batch_or_fail(id_text)
  local id = tonumber(id_text)
  local b = id and store.get().batches[id]
  if not b then fail(400, "GL transfer batch " .. tostring(id_text) .. " does not exist") end
  return b
end

-- GET /api/integration/v1/journal/list: batches Ready To Transfer; 204 when there are none.
local function list(_)
  local r = store.get()
  local out = arr()
  for _, id in ipairs(r.batch_order) do
    local b = r.batches[id]
    if b.status == "Ready To Transfer" then
      out[#out + 1] = obj("client_id", 1, "crtd_by", "ZUORA-SIM", "crtd_dt", b.created, "id", b.id, "name", b.name,
        "status", b.status, "updt_by", "ZUORA-SIM", "updt_dt", b.updated or b.created, "report_id", b.report_id)
    end
  end
  if #out == 0 then return 204, "" end
  return 200, obj("result", out, "status", "Success")
end

-- GET /api/integration/v1/journal/batch/{batchid}/{pagenum}?pagesize=N (page size also read from a
-- `pagesize` header, as some clients send it); 204 past the last page.
local function page(req)
  local b = batch_or_fail(req.params.batchid)
  local pagenum = tonumber(req.params.pagenum)
  if not pagenum or pagenum < 1 or pagenum % 1 ~= 0 then fail(400, "pagenum must be a positive integer") end
  local size_text = req.query.pagesize or req.headers["pagesize"]
  local size = tonumber(size_text or 1000)
  if not size or size < 1 or size > 10000 or size % 1 ~= 0 then fail(400, "pagesize must be between 1 and 10000") end
  local total = #b.lines
  local pages = math.max(1, math.ceil(total / size))
  local first = (pagenum - 1) * size + 1
  if first > total then return 204, "" end
  local rows = arr()
  for i = first, math.min(total, first + size - 1) do rows[#rows + 1] = row_json(b.lines[i]) end
  return 200, obj("status", "Success", "batch_id", b.id, "page_num", pagenum, "page_size", size, "total_pages", pages,
    "total_lines", total, "result", rows)
end

-- PUT /api/integration/v1/journal/batch/status/{batch_id}
local function mark_transferred(req)
  local b = batch_or_fail(req.params.batch_id)
  if b.status ~= "Ready To Transfer" then fail(400, "Only batches in Ready To Transfer status can be updated") end
  b.status, b.updated = "Transferred", state.now_iso()
  return 200, obj("status", "Success")
end

-- GET /api/integration/v1/download/transferbatchfile/{batch_id}: the batch's CSV; 204 when none.
local function batch_file(req)
  local id = tonumber(req.params.batch_id)
  local b = id and store.get().batches[id]
  if not b then return 204, "" end
  local rep = store.get().reports[b.report_id]
  return 200, rep.content, { ["Content-Type"] = "text/csv",
    ["Content-Disposition"] = 'attachment; filename="' .. rep.file_name .. '"' }
end

-- GET /api/integration/v1/reports/list?createddate=DD-MON-YYYY (default: today)
local function reports(req)
  local want = req.query.createddate and store.parse_date(req.query.createddate)
  if req.query.createddate and not want then fail(400, "createddate must look like 01-JAN-2024") end
  want = want or state.today()
  local out = arr()
  local r = store.get()
  local ids = {}
  for id in pairs(r.reports) do ids[#ids + 1] = id end
  table.sort(ids)
  for _, id in ipairs(ids) do
    local rep = r.reports[id]
    if rep.created_date == want then
      out[#out + 1] = obj("id", rep.id, "file_name", rep.file_name, "report_name", rep.name, "crtd_dt", rep.crtd_dt,
        "status", "Available")
    end
  end
  return 200, obj("result", out, "status", "Success")
end

-- GET /api/integration/v1/reports/download/{filename}
local function download(req)
  local r = store.get()
  local rid = r.report_files[req.params.filename]
  if not rid then
    return 404, obj("status", "Failure", "message", "The file " .. req.params.filename .. " does not exist")
  end
  return 200, r.reports[rid].content, { ["Content-Type"] = "text/csv" }
end

-- GET /api/integration/v2/reports/signedurl/{report_id}: a URL on the files origin (no credentials).
local function signed_url(req)
  local id = tonumber(req.params.report_id)
  if not id or id % 1 ~= 0 then return 400, obj("success", false, "message", "The report ID is invalid") end
  local rep = store.get().reports[id]
  if not rep then return 404, obj("success", false, "message", "Report " .. id .. " was not found") end
  local u = require("zuora_sim.files").publish(rep.file_name, rep.content, "text/csv")
  return 200, obj("signed_url", u, "success", true)
end

function M.routes(add)
  add("GET", "/api/integration/v1/journal/list", list)
  add("GET", "/api/integration/v1/journal/batch/{batchid}/{pagenum}", page)
  add("PUT", "/api/integration/v1/journal/batch/status/{batch_id}", mark_transferred)
  add("GET", "/api/integration/v1/download/transferbatchfile/{batch_id}", batch_file)
  add("GET", "/api/integration/v1/reports/list", reports)
  add("GET", "/api/integration/v1/reports/download/{filename}", download)
  add("GET", "/api/integration/v2/reports/signedurl/{report_id}", signed_url)
end

return M
