--- Zuora-shaped errors. Handlers raise them with `errors.fail(...)`; the server turns them into
-- responses in the shape the endpoint family uses:
--   v1 REST:       {"success": false, "processId": ..., "reasons": [{"code": 50000040, "message": ...}]}
--   Actions/CRUD:  {"Success": false, "Errors": [{"Code": "INVALID_VALUE", "Message": ...}]}
--   auth (401):    {"message": "Authentication error"}
-- A code is a 6-digit resource code followed by the 2-digit category.
local json = require "zuora_sim.json"

local M = {}

M.CATEGORY = {
  permission_denied = 10, authentication_failed = 11, invalid_value = 20, unknown_field = 21,
  missing_field = 22, missing_parameter = 23, rule_restriction = 30, not_found = 40,
  unsupported_request = 45, lock_contention = 50, internal_error = 60, temporary_error = 61,
  rate_limited = 70, malformed_request = 90, integration_error = 99,
}

-- Resource codes the simulator uses (the first six digits). 500000 is Zuora's "unknown object".
M.RESOURCE = {
  unknown = 500000, account = 520010, contact = 520020, payment_method = 521010,
  subscription = 531000, order = 533000, invoice = 580000, bill_run = 581000, payment = 590000,
  refund = 591000, credit_memo = 592000, debit_memo = 593000, usage = 570000, product = 510000, query = 560000,
  file = 550000,
}

-- Default HTTP status per category (unless errors_as_200 is on).
local STATUS = { [10] = 403, [11] = 401, [20] = 400, [21] = 400, [22] = 400, [23] = 400, [30] = 400,
  [40] = 404, [45] = 405, [50] = 409, [60] = 500, [61] = 503, [70] = 429, [90] = 400, [99] = 400 }

-- CRUD/Actions error codes per category.
local CRUD_CODE = { [10] = "API_DISABLED", [11] = "INVALID_SESSION", [20] = "INVALID_VALUE",
  [21] = "INVALID_FIELD", [22] = "MISSING_REQUIRED_VALUE", [23] = "MISSING_REQUIRED_VALUE",
  [30] = "INVALID_VALUE", [40] = "INVALID_ID", [45] = "INVALID_TYPE", [50] = "LOCK_COMPETITION",
  [60] = "UNKNOWN_ERROR", [61] = "TEMPORARY_ERROR", [70] = "REQUEST_EXCEEDED_LIMIT",
  [90] = "MALFORMED_QUERY", [99] = "TRANSACTION_FAILED" }

--- Raises a Zuora error. `category` is a name from CATEGORY or a number; `resource` a name from
-- RESOURCE or a number; `status` overrides the HTTP status.
function M.fail(category, message, resource, status, crud_code)
  local cat = type(category) == "number" and category or M.CATEGORY[category]
  assert(cat, "unknown error category " .. tostring(category))
  local res = type(resource) == "number" and resource or M.RESOURCE[resource or "unknown"] or 500000
  error({ sim_error = true, category = cat, code = res * 100 + cat, message = message,
    status = status or STATUS[cat] or 400, crud_code = crud_code }, 0)
end

function M.is_error(e) return type(e) == "table" and e.sim_error end

function M.process_id()
  local t = {}
  for i = 1, 16 do t[i] = string.format("%X", math.random(0, 15)) end
  return table.concat(t)
end

--- The v1 body for an error value.
function M.v1_body(e)
  return json.object("success", false, "processId", M.process_id(),
    "reasons", json.array{ json.object("code", e.code, "message", e.message) })
end

--- The Actions/CRUD body for an error value (one object, not the array Actions wrap it in).
function M.crud_body(e)
  return json.object("Success", false,
    "Errors", json.array{ json.object("Code", e.crud_code or CRUD_CODE[e.category] or "INVALID_VALUE", "Message",
      e.message) })
end

M.CRUD_CODE = CRUD_CODE

return M
