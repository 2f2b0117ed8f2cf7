--- Usage: multipart CSV upload with an import status, CRUD usage records, usage by account.
-- CSV columns (header names case-insensitive): ACCOUNT_ID (account number), UOM, QTY,
-- STARTDATE, ENDDATE (MM/DD/YYYY or YYYY-MM-DD), SUBSCRIPTION_ID (subscription number),
-- CHARGE_ID (charge number), DESCRIPTION. One bad row fails the whole import.
local state = require "zuora_sim.state"
local json = require "zuora_sim.json"
local decimal = require "zuora_sim.decimal"
local util = require "zuora_sim.util"
local C = require "zuora_sim.api.common"

local M = {}
local obj = json.object

--- The parts of a multipart/form-data body: { {name, filename, content_type, data}, ... }.
function M.multipart(body, content_type)
  local boundary = content_type and content_type:match('boundary="?([^";]+)"?')
  if not boundary or not body then return nil, "not a multipart/form-data body" end
  local parts = {}
  local delim = "--" .. boundary
  local pos = body:find(delim, 1, true)
  if not pos then return nil, "multipart boundary not found" end
  while true do
    local start = pos + #delim
    if body:sub(start, start + 1) == "--" then break end
    local next_pos = body:find("\r\n" .. delim, start, true)
    if not next_pos then return nil, "multipart body is truncated" end
    local part = body:sub(start + 2, next_pos - 1)
    local head_end = part:find("\r\n\r\n", 1, true)
    if not head_end then return nil, "multipart part without headers" end
    local head, data = part:sub(1, head_end - 1), part:sub(head_end + 4)
    local disp = head:match("[Cc]ontent%-[Dd]isposition:%s*([^\r\n]+)") or ""
    parts[#parts + 1] = { name = disp:match('name="([^"]*)"'), filename = disp:match('filename="([^"]*)"'),
      content_type = head:match("[Cc]ontent%-[Tt]ype:%s*([^\r\n]+)"), data = data }
    pos = next_pos + 2
  end
  return parts
end

local function csv_rows(text)
  local rows, row, field, i, n, quoted = {}, {}, {}, 1, #text, false
  while i <= n do
    local c = text:sub(i, i)
    if quoted then
      if c == '"' then
        if text:sub(i + 1, i + 1) == '"' then field[#field + 1] = '"'; i = i + 1 else quoted = false end
      else
        field[#field + 1] = c
      end
    elseif c == '"' then quoted = true
    elseif c == "," then row[#row + 1] = table.concat(field); field = {}
    elseif c == "\n" or c == "\r" then
      if c == "\r" and text:sub(i + 1, i + 1) == "\n" then i = i + 1 end
      row[#row + 1] = table.concat(field); field = {}
      if not (#row == 1 and row[1] == "") then rows[#rows + 1] = row end
      row = {}
    else field[#field + 1] = c end
    i = i + 1
  end
  if #field > 0 or #row > 0 then row[#row + 1] = table.concat(field); rows[#rows + 1] = row end
  return rows
end

local function usage_date(s)
  if not s or s == "" then return nil end
  local m, d, y = s:match("^(%d%d?)/(%d%d?)/(%d%d%d%d)")
  if m then s = string.format("%04d-%02d-%02d", tonumber(y), tonumber(m), tonumber(d)) end
  if not util.valid_date(s) then return nil end
  return s:sub(1, 10)
end

--- Validates one usage and returns the record (not stored).
local function make_usage(fields, import_id)
  local a = C.account(fields.accountNumber or fields.accountId, "usage")
  local qty = decimal.parse(fields.quantity)
  if not qty then C.fail("invalid_value", "QTY must be a number", "usage") end
  if not fields.uom or fields.uom == "" then C.fail("missing_field", "UOM is required", "usage") end
  local start = usage_date(fields.startDate)
  if not start then C.fail("invalid_value", "STARTDATE must be MM/DD/YYYY or YYYY-MM-DD", "usage") end
  if fields.subscriptionNumber and fields.subscriptionNumber ~= "" then
    require("zuora_sim.api.orders").sub_of(fields.subscriptionNumber)
  else
    fields.subscriptionNumber = nil
  end
  return { id = state.new_id("usage"), accountId = a.id, accountNumber = a.accountNumber,
    subscriptionNumber = fields.subscriptionNumber,
    chargeNumber = fields.chargeNumber ~= "" and fields.chargeNumber or nil, quantity = decimal.tostring(qty),
    -- Date-times carry the tenant's offset (zuora-sim's tenant runs on UTC), as RFC 3339 wants.
    uom = fields.uom, startDate = start, startDateTime = start .. "T00:00:00.000+00:00",
    endDateTime = usage_date(fields.endDate) and (usage_date(fields.endDate) .. "T00:00:00.000+00:00") or nil,
    description = fields.description, importId = import_id, status = "Pending", createdDate = state.now_stamp() }
end

local COLUMNS = { ACCOUNT_ID = "accountNumber", UOM = "uom", QTY = "quantity", STARTDATE = "startDate",
  ENDDATE = "endDate", SUBSCRIPTION_ID = "subscriptionNumber", CHARGE_ID = "chargeNumber",
  DESCRIPTION = "description" }

--- Imports the usage rows of a CSV file part; returns the import record.
local function import_file(file, name)
  local import = { id = state.new_id("usage_import"), status = "Pending", polls = 0, size = #file.data,
    fileName = name or file.filename, createdDate = state.now_stamp(), total = 0, failed = 0 }
  local rows = csv_rows(file.data)
  local header = rows[1] or {}
  local map = {}
  for i, h in ipairs(header) do map[i] = COLUMNS[h:upper():gsub("%s", "")] end
  local records, errors = {}, {}
  for r = 2, #rows do
    local fields = {}
    for i, v in ipairs(rows[r]) do if map[i] then fields[map[i]] = v end end
    local ok, rec = pcall(make_usage, fields, import.id)
    if ok then records[#records + 1] = rec
    else errors[#errors + 1] = "row " .. (r - 1) .. ": " .. (type(rec) == "table" and rec.message or tostring(rec)) end
  end
  import.total = #rows - 1
  if #errors > 0 or import.total == 0 then
    import.outcome = "Failed"
    import.message = #errors > 0 and table.concat(errors, "; ") or "The file has no usage rows"
    import.failed = #errors
  else
    import.outcome = "Completed"
    import.message = ""
    for _, rec in ipairs(records) do state.put("usages", rec) end
  end
  state.put("usage_imports", import)
  return import
end

local function upload(req)
  local parts, err = M.multipart(req.body, req.headers["content-type"])
  if not parts then C.fail("malformed_request", "Usage upload must be multipart/form-data with a CSV file: " .. err,
    "usage") end
  local file
  for _, p in ipairs(parts) do if p.name == "file" or p.filename then file = p end end
  if not file then C.fail("missing_field", "The upload has no file part", "usage") end
  local import = import_file(file)
  return 200, C.ok(obj("size", import.size, "checkImportStatus", "/v1/usage/" .. import.id .. "/status"))
end

--- The CRUD import (POST /v1/object/import): multipart fields ImportType (only Usage is simulated),
-- Name and File; the status is read with GET /v1/object/import/{id}.
local function crud_import(req)
  local parts, err = M.multipart(req.body, req.headers["content-type"])
  if not parts then C.fail("malformed_request", "An import must be multipart/form-data: " .. err, "usage") end
  local fields, file = {}, nil
  for _, p in ipairs(parts) do
    if p.filename or p.name == "File" then file = p elseif p.name then fields[p.name] = p.data end
  end
  if fields.ImportType == nil then C.fail("missing_field", "'ImportType' is required", "usage") end
  if fields.ImportType ~= "Usage" then
    C.fail("invalid_value", "ImportType " .. fields.ImportType .. " is not simulated (only Usage)", "usage")
  end
  if not file then C.fail("missing_field", "The import has no File part", "usage") end
  local import = import_file(file, fields.Name)
  return 200, obj("Success", true, "Id", import.id)
end

local function import_of(id)
  return C.find("usage_imports", id, nil, "usage")
end

local function advance(import)
  if import.status ~= "Pending" and import.status ~= "Processing" then return end
  import.polls = import.polls + 1
  if import.polls >= state.config.job_polls then import.status = import.outcome else import.status = "Processing" end
end

local function usage_json(u)
  return obj("id", u.id, "accountId", u.accountId, "accountNumber", u.accountNumber,
    "subscriptionNumber", u.subscriptionNumber or json.null, "chargeNumber", u.chargeNumber or json.null,
    "quantity", json.number(u.quantity), "unitOfMeasure", u.uom, "startDateTime", u.startDateTime,
    "endDateTime", u.endDateTime or json.null, "description", u.description or json.null, "status", u.status,
    "importId", u.importId or json.null)
end

local function crud_usage(u)
  return obj("Id", u.id, "AccountId", u.accountId, "AccountNumber", u.accountNumber,
    "SubscriptionNumber", u.subscriptionNumber, "ChargeNumber", u.chargeNumber, "Quantity", json.number(u.quantity),
    "UOM", u.uom, "StartDateTime", u.startDateTime, "EndDateTime", u.endDateTime, "Description", u.description,
    "ImportId", u.importId)
end

function M.register(r)
  r.add("POST", "/v1/usage", upload)
  r.add("POST", "/v1/object/import", crud_import, { family = "crud" })
  r.add("GET", "/v1/usage/{import-id}/status", function(req)
    local import = import_of(req.params["import-id"])
    advance(import)
    return 200, C.ok(obj("importStatus", import.status, "message",
      import.status == import.outcome and import.message or "",
      "totalCount", import.total, "failedCount", import.status == "Failed" and import.failed or 0))
  end)
  r.add("GET", "/v1/object/import/{id}", function(req)
    local import = import_of(req.params.id)
    advance(import)
    return 200, obj("Id", import.id, "Name", import.fileName or json.null, "ImportType", "Usage",
      "Status", import.status, "StatusReason", import.message or json.null, "TotalCount", import.total,
      "CreatedDate", import.createdDate)
  end, { family = "crud" })
  r.add("GET", "/v1/usage/accounts/{account-key}", function(req)
    local a = C.account(req.params["account-key"], "usage")
    local items = {}
    for _, u in ipairs(state.list("usages",
      function(u) return u.accountId == a.id end)) do items[#items + 1] = usage_json(u) end
    local page, next_url = C.page(req, items)
    return 200, C.ok(obj("usage", page, "nextPage", next_url))
  end)
  r.add("POST", "/v1/object/usage", function(req)
    local b = req:json_body()
    local u = make_usage({ accountId = b.AccountId, accountNumber = b.AccountNumber,
      quantity = b.Quantity, uom = b.UOM, startDate = b.StartDateTime, endDate = b.EndDateTime,
      subscriptionNumber = b.SubscriptionNumber, chargeNumber = b.ChargeNumber, description = b.Description })
    state.put("usages", u)
    return 200, obj("Success", true, "Id", u.id)
  end, { family = "crud" })
  r.add("GET", "/v1/object/usage/{id}", function(req)
    return 200, crud_usage(C.find("usages", req.params.id, nil, "usage"))
  end, { family = "crud" })
  r.add("PUT", "/v1/object/usage/{id}", function(req)
    local u = C.find("usages", req.params.id, nil, "usage")
    local b = req:json_body()
    if u.invoiced then C.fail("rule_restriction", "Billed usage cannot be changed.", "usage") end
    if b.Quantity ~= nil then u.quantity = decimal.tostring(C.amount(b.Quantity, "Quantity", "usage")) end
    if b.Description ~= nil then u.description = C.str(b.Description) end
    return 200, obj("Success", true, "Id", u.id)
  end, { family = "crud" })
  r.add("DELETE", "/v1/object/usage/{id}", function(req)
    local u = C.find("usages", req.params.id, nil, "usage")
    if u.invoiced then C.fail("rule_restriction", "Billed usage cannot be deleted.", "usage") end
    state.remove("usages", u.id)
    return 200, obj("success", true, "id", u.id)
  end, { family = "crud" })
end

return M
