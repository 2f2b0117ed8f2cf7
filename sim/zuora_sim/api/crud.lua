--- Legacy object APIs: Actions (create, update, delete) and /v1/object/{type} CRUD.
-- Accounts and contacts go to the billing core; every other type is kept as a plain record with
-- the PascalCase fields it was given (queryable through ZOQL by its type name). Results use the
-- CRUD shapes ({"Success": true, "Id": ...} and {"Success": false, "Errors": [...]}).
local state = require "zuora_sim.state"
local json = require "zuora_sim.json"
local errors = require "zuora_sim.errors"
local objects = require "zuora_sim.objects"
local C = require "zuora_sim.api.common"

local M = {}
local obj, arr = json.object, json.array

local function type_key(t) return tostring(t):lower():gsub("[-_]", "") end

local COLLECTION_FOR = { account = "accounts", contact = "contacts", paymentmethod = "payment_methods",
  subscription = "subscriptions", invoice = "invoices", payment = "payments", refund = "refunds",
  product = "products", productrateplan = "product_rate_plans", productrateplancharge = "product_rate_plan_charges",
  creditmemo = "credit_memos", order = "orders" }

-- Object API field names of the catalogue's records that an update may change.
local CATALOG_FIELDS = {
  product = { Name = "name", SKU = "sku", Description = "description", Category = "category",
    EffectiveStartDate = "effectiveStartDate", EffectiveEndDate = "effectiveEndDate" },
  productrateplan = { Name = "name", Description = "description", EffectiveStartDate = "effectiveStartDate",
    EffectiveEndDate = "effectiveEndDate" },
  productrateplancharge = { Name = "name", BillingPeriod = "billingPeriod", UOM = "uom",
    DefaultQuantity = "defaultQuantity", TriggerEvent = "triggerEvent", BillingTiming = "billingTiming" },
}

local function create_one(otype, fields)
  local key = type_key(otype)
  if key == "account" then
    local a = require("zuora_sim.api.accounts").create_record({ name = fields.Name, currency = fields.Currency,
      billCycleDay = fields.BillCycleDay or 1, accountNumber = fields.AccountNumber, notes = fields.Notes,
      crmId = fields.CrmId, batch = fields.Batch, paymentTerm = fields.PaymentTerm, _seed = true })
    return a.id
  elseif key == "contact" then
    local a = C.account(fields.AccountId, "contact")
    local c = require("zuora_sim.api.accounts").create_contact(a.id, { firstName = fields.FirstName,
      lastName = fields.LastName, workEmail = fields.WorkEmail, country = fields.Country, city = fields.City,
      state = fields.State, address1 = fields.Address1, zipCode = fields.PostalCode, workPhone = fields.WorkPhone })
    return c.id
  end
  if COLLECTION_FOR[key] then
    C.fail("unsupported_request", "Creating " .. otype .. " through this interface is not supported by zuora-sim",
      "unknown", 400, "INVALID_TYPE")
  end
  local coll = state.data.objects[key]
  if not coll then coll = {}; state.data.objects[key] = coll end
  local rec = {}
  for k, v in pairs(fields) do rec[k] = v end
  rec.Id = state.new_id("object_" .. key)
  rec.CreatedDate = state.now_stamp()
  rec.UpdatedDate = rec.CreatedDate
  coll[rec.Id] = rec
  return rec.Id
end

local function generic_record(otype, id)
  local coll = state.data.objects[type_key(otype)]
  return coll and coll[id]
end

local function update_one(otype, fields)
  local id = fields.Id
  if type(id) ~= "string" then C.fail("missing_field", "Id is required", "unknown") end
  local key = type_key(otype)
  if key == "account" then
    local a = C.account(id)
    if fields.Name ~= nil then a.name = fields.Name end
    if fields.Notes ~= nil then a.notes = C.str(fields.Notes) end
    if fields.Status ~= nil then a.status = fields.Status end
    if fields.AutoPay ~= nil then a.autoPay = fields.AutoPay == true end
    C.custom_fields(a, fields)
    return a.id
  end
  if CATALOG_FIELDS[key] then
    -- The catalogue's records: the object API's PascalCase names onto the catalogue's fields.
    local rec = state.data[COLLECTION_FOR[key]][id]
    if not rec then C.fail("not_found", "invalid id: " .. id, "unknown", 400, "INVALID_ID") end
    for from, to in pairs(CATALOG_FIELDS[key]) do
      if fields[from] ~= nil then rec[to] = json.number_text(fields[from]) or fields[from] end
    end
    if key == "productrateplancharge" then
      local catalog = require "zuora_sim.api.catalog"
      if fields.ChargeModel ~= nil then
        rec.model = catalog.model_enum(fields.ChargeModel) or C.fail("invalid_value", "Invalid value for ChargeModel: "
          .. tostring(fields.ChargeModel), "product", nil, "INVALID_VALUE")
      end
      local data = type(fields.ProductRatePlanChargeTierData) == "table" and fields.ProductRatePlanChargeTierData
      if data and type(data.ProductRatePlanChargeTier) == "table" and #data.ProductRatePlanChargeTier > 0 then
        rec.pricing = catalog.pricing_from_tiers(data.ProductRatePlanChargeTier, rec.model, "product")
      end
    end
    C.custom_fields(rec, fields)
    return id
  end
  local rec = generic_record(otype, id)
  if not rec then C.fail("not_found", "invalid id: " .. id, "unknown", 400, "INVALID_ID") end
  for k, v in pairs(fields) do if k ~= "Id" then rec[k] = v end end
  rec.UpdatedDate = state.now_stamp()
  return id
end

local function delete_one(otype, id)
  local key = type_key(otype)
  local coll_name = COLLECTION_FOR[key]
  if coll_name then
    if not state.data[coll_name][id] then C.fail("not_found", "invalid id: " .. tostring(id), "unknown", 400,
      "INVALID_ID") end
    state.remove(coll_name, id)
    return
  end
  if not generic_record(otype, id) then C.fail("not_found", "invalid id: " .. tostring(id), "unknown", 400,
    "INVALID_ID") end
  state.data.objects[key][id] = nil
end

local function result_of(f, otype, fields)
  if type(fields) ~= "table" or json.is_number(fields) or getmetatable(fields) == json.array_mt then
    return errors.crud_body({ category = 20, message = "each object must be a JSON object" })
  end
  local ok, res = pcall(f, otype, fields)
  if ok then return obj("Success", true, "Id", res) end
  if not errors.is_error(res) then error(res, 0) end
  return errors.crud_body(res)
end

local function action(kind)
  return function(req)
    local b = req:json_body()
    local otype = C.require(b, "type", "unknown")
    local out = arr()
    if kind == "delete" then
      local ids = b.ids
      if type(ids) ~= "table" then C.fail("missing_field", "'ids' is required", "unknown") end
      for _, id in ipairs(ids) do
        local ok, err = pcall(delete_one, otype, id)
        if ok then out[#out + 1] = obj("id", id, "success", true)
        else
          if not errors.is_error(err) then error(err, 0) end
          local body = errors.crud_body(err)
          out[#out + 1] = obj("id", id, "success", false, "errors", body.Errors)
        end
      end
      return 200, out
    end
    local list = b.objects
    if type(list) ~= "table" or #list == 0 then C.fail("missing_field", "'objects' is required", "unknown") end
    if #list > 50 then C.fail("rule_restriction", "At most 50 objects can be sent in one call", "unknown") end
    for _, fields in ipairs(list) do
      out[#out + 1] = result_of(kind == "create" and create_one or update_one, otype, fields)
    end
    return 200, out
  end
end

local function crud_get(req)
  local otype, id = req.params.type, req.params.id
  local def = objects.find(type_key(otype))
  local coll_name = COLLECTION_FOR[type_key(otype)]
  if def and coll_name then
    for _, row in ipairs(def.rows()) do
      if objects.get(def, row, "Id") == id then
        return 200, objects.view(def, row, objects.all_fields(def), "pascal")
      end
    end
  else
    local rec = generic_record(otype, id)
    if rec then return 200, rec end
  end
  C.fail("not_found", "No " .. otype .. " with id " .. id, "unknown", 404, "INVALID_ID")
end

function M.register(r)
  r.add("POST", "/v1/action/create", action("create"), { family = "crud" })
  r.add("POST", "/v1/action/update", action("update"), { family = "crud" })
  r.add("POST", "/v1/action/delete", action("delete"), { family = "crud" })
  r.add("POST", "/v1/object/{type}", function(req)
    return 200, obj("Success", true, "Id", create_one(req.params.type, req:json_body()))
  end, { family = "crud" })
  r.add("GET", "/v1/object/{type}/{id}", crud_get, { family = "crud" })
  r.add("PUT", "/v1/object/{type}/{id}", function(req)
    local fields = req:json_body()
    fields.Id = req.params.id
    return 200, obj("Success", true, "Id", update_one(req.params.type, fields))
  end, { family = "crud" })
  r.add("DELETE", "/v1/object/{type}/{id}", function(req)
    delete_one(req.params.type, req.params.id)
    return 200, obj("success", true, "id", req.params.id)
  end, { family = "crud" })
end

return M
