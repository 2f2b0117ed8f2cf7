--- Revenue inbound: CSV uploads (text body or multipart file), their status, and staging.
--
-- An upload is checked whole when it arrives (line limit, template, CSV syntax, the header against
-- the template): any problem refuses all of it (400), as loading into Zuora Revenue's pre-stage
-- tables is all or nothing. Accepted rows are staged when the upload's status has been read
-- `revenue_stage_polls` times (0: at once); a row with a bad value becomes a stage error of its
-- kind (transaction or event) instead of a staged row.
local state = require "zuora_sim.state"
local json = require "zuora_sim.json"
local decimal = require "zuora_sim.decimal"
local store = require "zuora_sim.revenue.store"
local rcsv = require "zuora_sim.revenue.csv"

local M = {}
local obj, arr = json.object, json.array

M.LIMITS = { text = 20000, file = 60000 }

local function fail(status, message) error({ revenue_error = true, status = status, message = message }, 0) end
M.fail = fail

local function header_value(req, name)
  local v = req.headers[name]
  if type(v) == "table" then fail(400, "The " .. name .. " header is given more than once") end
  return v
end

-- Checks the CSV against the template; returns {template, rows (as name -> value maps)}.
local function check_csv(text, template_name, limit)
  local lines = rcsv.count_lines(text)
  if lines > limit then
    fail(400, ("The upload has %d lines; at most %d are accepted per request"):format(lines, limit))
  end
  local tpl = store.TEMPLATES[template_name]
  if not tpl then fail(400, "Upload template '" .. tostring(template_name) .. "' does not exist") end
  local rows, err = rcsv.parse(text)
  if not rows then fail(400, "The file is not valid CSV: " .. err) end
  if #rows == 0 then fail(400, "The file is empty") end
  local head = rows[1]
  local index, seen = {}, {}
  for i, name in ipairs(head) do
    local key = name:gsub("^\239\187\191", ""):gsub("^%s+", ""):gsub("%s+$", ""):upper()
    if seen[key] then fail(400, "Column " .. key .. " appears twice") end
    seen[key], index[i] = true, key
  end
  for _, col in ipairs(tpl.columns) do
    if not seen[col] then fail(400, "Column " .. col .. " of template '" .. template_name .. "' is missing") end
  end
  local known = {}
  for _, col in ipairs(tpl.columns) do known[col] = true end
  for _, key in ipairs(index) do
    if not known[key] then fail(400, "Column " .. key .. " is not in template '" .. template_name .. "'") end
  end
  local out = {}
  for r = 2, #rows do
    local row = rows[r]
    if #row ~= #head then
      fail(400, ("Line %d has %d fields; the header has %d"):format(row.line, #row, #head))
    end
    local rec = { line = row.line }
    for i, key in ipairs(index) do rec[key] = row[i] end
    out[#out + 1] = rec
  end
  return tpl, out
end

local function new_upload(route, template_name, filename, tpl, rows)
  local r = store.get()
  if r.filenames[filename] then
    fail(400, "File name '" .. filename .. "' was already used; file names must be unique")
  end
  local id = store.next("upload")
  local up = { id = id, route = route, template = template_name, kind = tpl.kind, filename = filename, rows = rows,
    status = "In Progress", message = "Data Received", reads = 0, staged = 0, errors = 0, created = state.now_iso() }
  r.uploads[id], r.filenames[filename] = up, true
  r.upload_order[#r.upload_order + 1] = id
  if state.config.revenue_stage_polls <= 0 then M.stage(up) end
  return up
end

-- Why a row cannot be staged, or nil.
local function row_problem(tpl, rec)
  for _, col in ipairs(tpl.required) do
    if (rec[col] or ""):match("^%s*$") then return col .. " is required" end
  end
  for _, col in ipairs(tpl.numbers) do
    local v = rec[col] or ""
    if v ~= "" and not decimal.parse(v) then return col .. " is not a number: " .. v end
  end
  for _, col in ipairs(tpl.dates) do
    local v = rec[col] or ""
    if v ~= "" and not store.parse_date(v) then return col .. " is not a date: " .. v end
  end
  if rec.CURRENCY and rec.CURRENCY ~= "" and not rec.CURRENCY:match("^%u%u%u$") then
    return "CURRENCY must be a 3-letter code: " .. rec.CURRENCY
  end
  return nil
end

--- Moves an upload's rows into staging (or the stage errors) and completes it.
function M.stage(up)
  local r = store.get()
  local tpl = store.TEMPLATES[up.template]
  for _, rec in ipairs(up.rows) do
    local why = row_problem(tpl, rec)
    if why then
      up.errors = up.errors + 1
      local e = { id = store.next("error"), upload_id = up.id, file_name = up.filename, line = rec.line,
        so_num = rec.SO_NUM, so_line_num = rec.SO_LINE_NUM, error_message = why }
      table.insert(r.errors[tpl.kind], e)
    else
      up.staged = up.staged + 1
      rec.upload_id = up.id
      table.insert(r.staged[tpl.kind], rec)
    end
  end
  up.rows = nil
  up.status = "Completed"
  up.message = ("%d rows staged, %d rows in error"):format(up.staged, up.errors)
  up.completed = state.now_iso()
end

local function status_json(up)
  return obj("client_id", 1, "id", up.id, "file_name", up.filename, "template_name", up.template,
    "status", up.status, "message", up.message, "rows_staged", up.staged, "rows_in_error", up.errors,
    "crtd_dt", up.created)
end

local function advance(up)
  if up.status ~= "In Progress" then return end
  up.reads = up.reads + 1
  if up.reads >= state.config.revenue_stage_polls then M.stage(up) end
end

-- POST /api/integration/v1/csv/upload (text/plain body; headers templatename, filename)
local function csv_upload(req)
  local template_name = header_value(req, "templatename")
  local filename = header_value(req, "filename")
  if not template_name or template_name == "" then fail(400, "The templatename header is required") end
  if not filename or filename == "" then fail(400, "The filename header is required") end
  local tpl, rows = check_csv(req.body or "", template_name, M.LIMITS.text)
  local up = new_upload("text", template_name, filename, tpl, rows)
  return 200, obj("message", "Data Received", "result", status_json(up), "status", "Success")
end

-- GET /api/integration/v1/csv/upload/status?id=N
local function csv_status(req)
  local id = tonumber(req.query.id)
  local up = id and store.get().uploads[id]
  if not up or up.route ~= "text" then fail(400, "No upload with id " .. tostring(req.query.id)) end
  advance(up)
  return 200, obj("result", status_json(up), "status", "Success")
end

-- The "file" part of a multipart/form-data body: content, filename; or nil and why.
local function multipart_file(req)
  local ctype = req.headers["content-type"]
  local boundary = type(ctype) == "string" and (ctype:match('boundary="([^"]+)"') or ctype:match("boundary=([^;%s]+)"))
  if not ctype or not ctype:lower():find("^multipart/form%-data") or not boundary then
    return nil, "The request must be multipart/form-data"
  end
  local body, delim = req.body or "", "--" .. boundary
  local pos = 1
  while true do
    local s, e = body:find(delim, pos, true)
    if not s then return nil, "The multipart body has no part named file" end
    local after = e + 1
    if body:sub(after, after + 1) == "--" then return nil, "The multipart body has no part named file" end
    local hs, he = body:find("\r\n\r\n", after, true)
    if not hs then return nil, "A multipart part has no headers" end
    local head = body:sub(after, hs - 1)
    local ns = body:find("\r\n" .. delim, he + 1, true)
    if not ns then return nil, "A multipart part never ends" end
    local name = head:match('[Nn]ame="([^"]*)"')
    if name == "file" then
      return body:sub(he + 1, ns - 1), head:match('filename="([^"]*)"')
    end
    pos = ns + 2
  end
end

-- POST /api/integration/v1/upload/file (multipart; header templatename)
local function file_upload(req)
  local template_name = header_value(req, "templatename")
  if not template_name or template_name == "" then fail(400, "The templatename header is required") end
  local content, filename = multipart_file(req)
  if not content then fail(400, filename) end
  if not filename or filename == "" then fail(400, "The file part needs a filename") end
  local tpl, rows = check_csv(content, template_name, M.LIMITS.file)
  local up = new_upload("file", template_name, filename, tpl, rows)
  return 200, obj("message", "File received successfully", "status", "Success", "request_id", up.id)
end

-- GET /api/integration/v1/fileupload/status/{file_request_id}
local function file_status(req)
  local id = tonumber(req.params.file_request_id)
  local up = id and store.get().uploads[id]
  if not up or up.route ~= "file" then
    fail(400, "No file upload with request id " .. tostring(req.params.file_request_id))
  end
  advance(up)
  return 200, obj("Result", arr{ status_json(up) }, "message", up.message, "status", "Success")
end

-- GET /api/integration/v1/stage/error/{errortype}
local function stage_errors(req)
  local kind = req.params.errortype
  if kind ~= "transaction" and kind ~= "event" then fail(400, "errortype must be transaction or event") end
  local list = store.get().errors[kind]
  if #list == 0 then return 204, "" end
  local out = arr()
  for i, e in ipairs(list) do
    out[i] = obj("id", e.id, "upload_id", e.upload_id, "file_name", e.file_name, "line_num", e.line,
      "so_num", e.so_num, "so_line_num", e.so_line_num, "error_message", e.error_message)
  end
  return 200, obj("Result", out, "status", "Success")
end

-- GET /api/integration/v1/upload/mapping?templatename=...
local function mapping(req)
  local tpl = store.TEMPLATES[req.query.templatename or ""]
  if not tpl then fail(400, "Upload template '" .. tostring(req.query.templatename) .. "' does not exist") end
  local cols = arr()
  for i, c in ipairs(tpl.columns) do cols[i] = obj("field_name", c, "sequence", i) end
  return 200, obj("result", cols, "status", "Success")
end

M.UPLOAD_PATHS = { ["/api/integration/v1/csv/upload"] = true, ["/api/integration/v1/upload/file"] = true }

function M.routes(add)
  add("POST", "/api/integration/v1/csv/upload", csv_upload)
  add("GET", "/api/integration/v1/csv/upload/status", csv_status)
  add("POST", "/api/integration/v1/upload/file", file_upload)
  add("GET", "/api/integration/v1/fileupload/status/{file_request_id}", file_status)
  add("GET", "/api/integration/v1/stage/error/{errortype}", stage_errors)
  add("GET", "/api/integration/v1/upload/mapping", mapping)
end

return M
