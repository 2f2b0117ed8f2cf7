--- Debit memos: what an account owes besides its invoices (a late fee, an undercharge), made
-- from an invoice or from product rate plan charges; drafts are posted, and payments settle posted
-- ones (payments' `debitMemos` list, as with `invoices`). Their open balances count in the
-- account's balance (ledger.figures).
local state = require "zuora_sim.state"
local json = require "zuora_sim.json"
local decimal = require "zuora_sim.decimal"
local C = require "zuora_sim.api.common"

local M = {}
local obj = json.object

function M.of(key)
  return C.find("debit_memos", key, { "number" }, "debit_memo")
end

local function item_json(dm, it)
  return obj("id", it.id, "amount", it.amount, "amountWithoutTax", it.amount, "balance", it.balance,
    "chargeName", it.chargeName or json.null, "productRatePlanChargeId", it.productRatePlanChargeId or json.null,
    "sourceItemId", it.invoiceItemId or json.null, "sourceItemType", it.invoiceItemId and "InvoiceDetail"
      or "ProductRatePlanCharge",
    "serviceStartDate", it.serviceStartDate or dm.debitMemoDate,
    "serviceEndDate", it.serviceEndDate or dm.debitMemoDate,
    "quantity", json.number("1"), "unitOfMeasure", "", "taxAmount", C.zero, "comment", it.comment or json.null)
end

function M.json(dm)
  return C.with_custom(obj("id", dm.id, "number", dm.number, "accountId", dm.accountId,
    "accountNumber", dm.accountNumber, "currency", dm.currency, "amount", dm.amount, "amountWithoutTax", dm.amount,
    "taxAmount", C.zero, "balance", dm.balance, "beAppliedAmount", dm.paidAmount, "status", dm.status,
    "debitMemoDate", dm.debitMemoDate, "dueDate", dm.dueDate, "referredInvoiceId", dm.invoiceId or json.null,
    "reasonCode", dm.reasonCode, "comment", dm.comment or json.null, "postedOn", dm.postedOn or json.null,
    "autoPay", dm.autoPay == true, "createdDate", dm.createdDate, "updatedDate", dm.updatedDate), dm)
end

local function new_memo(account, items, fields)
  local total = decimal.new("0")
  for _, it in ipairs(items) do
    total = decimal.add(total, it.amount)
    it.id = state.new_id("debit_memo_item")
    it.amount = C.money(it.amount)
    it.balance = it.amount
  end
  if decimal.cmp(total, "0") <= 0 then
    C.fail("invalid_value", "A debit memo must be for more than 0.", "debit_memo")
  end
  local today = state.today()
  local now = state.now_stamp()
  local dm = { id = state.new_id("debit_memo"), number = string.format("DM%08d", state.next("debit_memo")),
    accountId = account.id, accountNumber = account.accountNumber, currency = account.currency,
    amount = C.money(total), balance = C.money(total), paidAmount = C.zero, status = "Draft",
    debitMemoDate = today, dueDate = today, reasonCode = "Correcting invoice error", items = items,
    createdDate = now, updatedDate = now }
  for k, v in pairs(fields) do dm[k] = v end
  C.custom_fields(dm, fields.body or {})
  dm.body = nil
  return state.put("debit_memos", dm)
end

local function post(dm) C.post_draft(dm, "debit memos", "debit_memo") end

local function dates(b, fields)
  if b.debitMemoDate ~= nil then fields.debitMemoDate = C.require_date(b, "debitMemoDate", "debit_memo") end
  if b.dueDate ~= nil then fields.dueDate = C.require_date(b, "dueDate", "debit_memo") end
  return fields
end

-- POST /v1/debit-memos/invoice/{invoiceKey}: the whole invoice again, or the listed items.
local function from_invoice(req)
  local inv = require("zuora_sim.api.billing").invoice_of(req.params.invoiceKey)
  local b = req:json_body()
  local items = {}
  if type(b.items) == "table" and #b.items > 0 then
    for _, e in ipairs(b.items) do
      local amount = C.amount(C.require(e, "amount", "debit_memo"), "amount", "debit_memo")
      local src
      for _, it in ipairs(inv.items) do if it.id == e.invoiceItemId then src = it end end
      items[#items + 1] = { amount = amount, invoiceItemId = e.invoiceItemId,
        chargeName = src and src.chargeName, serviceStartDate = src and src.serviceStartDate,
        serviceEndDate = src and src.serviceEndDate, comment = C.str(e.comment) }
    end
  else
    for _, it in ipairs(inv.items) do
      items[#items + 1] = { amount = decimal.new(it.chargeAmount), invoiceItemId = it.id, chargeName = it.chargeName,
        serviceStartDate = it.serviceStartDate, serviceEndDate = it.serviceEndDate }
    end
  end
  local dm = new_memo(state.data.accounts[inv.accountId], items, dates(b, { invoiceId = inv.id,
    reasonCode = b.reasonCode or "Correcting invoice error", comment = C.str(b.comment), body = b }))
  if b.autoPost == true then post(dm) end
  return 200, C.ok(M.json(dm))
end

-- POST /v1/debit-memos: from product rate plan charges (`charges[]`: productRatePlanChargeId, amount).
local function from_charges(req)
  local b = req:json_body()
  local a = C.account(b.accountId or b.accountNumber, "debit_memo")
  local charges = b.charges
  if type(charges) ~= "table" or #charges == 0 then C.fail("missing_field", "'charges' is required", "debit_memo") end
  local items = {}
  for _, e in ipairs(charges) do
    local id = C.require(e, "productRatePlanChargeId", "debit_memo")
    local pc = state.data.product_rate_plan_charges[id]
    if not pc then C.fail("invalid_value", "Invalid productRatePlanChargeId: " .. tostring(id), "debit_memo") end
    local amount = e.amount ~= nil and C.amount(e.amount, "amount", "debit_memo")
      or decimal.new(require("zuora_sim.api.catalog").price(pc, a.currency))
    items[#items + 1] = { amount = amount, productRatePlanChargeId = id, chargeName = pc.name,
      serviceStartDate = e.serviceStartDate, serviceEndDate = e.serviceEndDate, comment = C.str(e.comment) }
  end
  local dm = new_memo(a, items, dates(b, { reasonCode = b.reasonCode or "Correcting invoice error",
    comment = C.str(b.comment), body = b }))
  if b.autoPost == true then post(dm) end
  return 200, C.ok(M.json(dm))
end

function M.register(r)
  r.add("POST", "/v1/debit-memos/invoice/{invoiceKey}", from_invoice)
  r.add("POST", "/v1/debit-memos", from_charges)
  r.add("GET", "/v1/debit-memos", function(req)
    local q = req.query
    local a = (q.accountId or q.accountNumber) and C.account(q.accountId or q.accountNumber, "debit_memo")
    return C.list(req, "debit_memos", function(dm)
      return (not a or dm.accountId == a.id) and (not q.status or dm.status == q.status)
    end, M.json, "debitmemos")
  end)
  r.add("GET", "/v1/debit-memos/{debitMemoKey}", function(req)
    return 200, C.ok(M.json(M.of(req.params.debitMemoKey)))
  end)
  r.add("GET", "/v1/debit-memos/{debitMemoKey}/items", function(req)
    local dm = M.of(req.params.debitMemoKey)
    local items = {}
    for _, it in ipairs(dm.items) do items[#items + 1] = item_json(dm, it) end
    local page, next_url = C.page(req, items)
    return 200, C.ok(obj("items", page, "nextPage", next_url))
  end)
  r.add("PUT", "/v1/debit-memos/{debitMemoKey}", function(req)
    local dm = M.of(req.params.debitMemoKey)
    local b = req:json_body()
    if b.comment ~= nil then dm.comment = C.str(b.comment) end
    if b.dueDate ~= nil then dm.dueDate = C.require_date(b, "dueDate", "debit_memo") end
    if b.reasonCode ~= nil then dm.reasonCode = C.str(b.reasonCode) end
    C.custom_fields(dm, b)
    dm.updatedDate = state.now_stamp()
    return 200, C.ok(M.json(dm))
  end)
  r.add("PUT", "/v1/debit-memos/{debitMemoKey}/post", function(req)
    local dm = M.of(req.params.debitMemoKey)
    post(dm)
    return 200, C.ok(M.json(dm))
  end)
  r.add("PUT", "/v1/debit-memos/{debitMemoKey}/unpost", function(req)
    local dm = M.of(req.params.debitMemoKey)
    if dm.status ~= "Posted" then
      C.fail("rule_restriction", "Only posted debit memos can be unposted.", "debit_memo")
    end
    if decimal.cmp(dm.paidAmount, "0") ~= 0 then
      C.fail("rule_restriction", "A debit memo with payments applied cannot be unposted.", "debit_memo")
    end
    dm.status, dm.postedOn = "Draft", nil
    return 200, C.ok(M.json(dm))
  end)
  r.add("PUT", "/v1/debit-memos/{debitMemoKey}/cancel", function(req)
    local dm = M.of(req.params.debitMemoKey)
    if dm.status ~= "Draft" then C.fail("rule_restriction", "Only draft debit memos can be canceled.", "debit_memo") end
    dm.status = "Canceled"
    return 200, C.ok(M.json(dm))
  end)
  r.add("DELETE", "/v1/debit-memos/{debitMemoKey}", function(req)
    local dm = M.of(req.params.debitMemoKey)
    if dm.status ~= "Draft" and dm.status ~= "Canceled" then
      C.fail("rule_restriction", "Only draft or canceled debit memos can be deleted.", "debit_memo")
    end
    state.remove("debit_memos", dm.id)
    return 200, C.ok()
  end)
end

return M
