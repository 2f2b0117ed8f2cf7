--- Payments (create, apply, unapply, cancel, refund), refunds and credit memos.
-- Electronic payments charge the account's (or the given) payment method through a test
-- gateway: card number 4000000000000002 is declined; every other valid card is approved.
local state = require "zuora_sim.state"
local json = require "zuora_sim.json"
local decimal = require "zuora_sim.decimal"
local C = require "zuora_sim.api.common"

local M = {}
local obj, arr = json.object, json.array
local billing -- loaded lazily (billing requires this module)

local function invoice_of(key)
  billing = billing or require "zuora_sim.api.billing"
  return billing.invoice_of(key)
end

function M.payment_of(key)
  return C.find("payments", key, { "number" }, "payment")
end

function M.payment_json(p)
  local applied = arr()
  for _, ap in ipairs(p.applied) do
    local inv = ap.invoiceId and state.data.invoices[ap.invoiceId]
    if inv then
      applied[#applied + 1] = obj("invoiceId", ap.invoiceId, "invoiceNumber", inv.invoiceNumber,
        "appliedAmount", ap.amount)
    end
  end
  return C.with_custom(obj("id", p.id, "number", p.number, "accountId", p.accountId, "accountNumber", p.accountNumber,
    "amount", p.amount, "appliedAmount", p.appliedAmount, "unappliedAmount", p.unappliedAmount,
    "refundAmount", p.refundAmount, "creditBalanceAmount", C.zero, "currency", p.currency, "status", p.status,
    "type", p.type, "effectiveDate", p.effectiveDate, "paymentMethodId", p.paymentMethodId or json.null,
    "gatewayState", p.gatewayState, "gatewayResponse", p.gatewayResponse or json.null,
    "gatewayResponseCode", p.gatewayResponseCode or json.null, "referenceId", p.referenceId or json.null,
    "comment", p.comment or json.null, "createdDate", p.createdDate, "updatedDate", p.updatedDate,
    "cancelledOn", p.cancelledOn or json.null, "paidInvoices", applied), p)
end

-- Applies `list` ({ {invoiceId, amount} }) and `dms` ({ {debitMemoId, amount} }, payments and
-- credit memos alike) from payment or memo `doc` (fields appliedAmount, unappliedAmount, applied).
-- Validates everything before changing anything.
local function apply_to_invoices(doc, list, resource, dms)
  local plan, total = {}, decimal.new("0")
  local function add(target, number, amount)
    if decimal.cmp(amount, "0") <= 0 then C.fail("invalid_value", "An applied amount must be positive.", resource) end
    if target.accountId ~= doc.accountId then
      C.fail("rule_restriction", number .. " belongs to another account.", resource)
    end
    if target.status ~= "Posted" then C.fail("rule_restriction", number .. " is not posted.", resource) end
    if decimal.cmp(amount, target.balance) > 0 then
      C.fail("rule_restriction", "The applied amount " .. decimal.tostring(amount) .. " exceeds the balance "
        .. tostring(target.balance) .. " of " .. number .. ".", resource)
    end
    total = decimal.add(total, amount)
  end
  for _, e in ipairs(list) do
    local inv = invoice_of(C.require(e, "invoiceId", resource))
    local amount = C.amount(C.require(e, "amount", resource), "amount", resource)
    add(inv, "Invoice " .. inv.invoiceNumber, amount)
    plan[#plan + 1] = { inv = inv, amount = amount }
  end
  for _, e in ipairs(type(dms) == "table" and dms or {}) do
    local dm = require("zuora_sim.api.debitmemos").of(C.require(e, "debitMemoId", resource))
    local amount = C.amount(C.require(e, "amount", resource), "amount", resource)
    add(dm, "Debit memo " .. dm.number, amount)
    plan[#plan + 1] = { dm = dm, amount = amount }
  end
  if decimal.cmp(total, doc.unappliedAmount) > 0 then
    C.fail("rule_restriction", "The total applied amount exceeds the unapplied amount "
      .. tostring(doc.unappliedAmount) .. ".", resource)
  end
  for _, p in ipairs(plan) do
    if p.dm then
      p.dm.balance = C.money(decimal.sub(p.dm.balance, p.amount))
      p.dm.paidAmount = C.money(decimal.add(p.dm.paidAmount, p.amount))
      doc.applied[#doc.applied + 1] = { debitMemoId = p.dm.id, amount = C.money(p.amount) }
    else
      p.inv.balance = C.money(decimal.sub(p.inv.balance, p.amount))
      if resource == "credit_memo" then
        p.inv.creditMemoAmount = C.money(decimal.add(p.inv.creditMemoAmount, p.amount))
      else
        p.inv.paymentAmount = C.money(decimal.add(p.inv.paymentAmount, p.amount))
      end
      doc.applied[#doc.applied + 1] = { invoiceId = p.inv.id, amount = C.money(p.amount) }
    end
  end
  doc.appliedAmount = C.money(decimal.add(doc.appliedAmount, total))
  doc.unappliedAmount = C.money(decimal.sub(doc.unappliedAmount, total))
end

local function unapply_from_invoices(doc, list, resource)
  for _, e in ipairs(list) do
    local inv = invoice_of(C.require(e, "invoiceId", resource))
    local amount = C.amount(C.require(e, "amount", resource), "amount", resource)
    local applied = decimal.new("0")
    for _, ap in ipairs(doc.applied) do
      if ap.invoiceId == inv.id then applied = decimal.add(applied, ap.amount) end
    end
    if decimal.cmp(amount, applied) > 0 then
      C.fail("rule_restriction", "Cannot unapply more than was applied to " .. inv.invoiceNumber .. ".", resource)
    end
    inv.balance = C.money(decimal.add(inv.balance, amount))
    local field = resource == "credit_memo" and "creditMemoAmount" or "paymentAmount"
    inv[field] = C.money(decimal.sub(inv[field], amount))
    doc.applied[#doc.applied + 1] = { invoiceId = inv.id, amount = C.money(decimal.neg(amount)) }
    doc.appliedAmount = C.money(decimal.sub(doc.appliedAmount, amount))
    doc.unappliedAmount = C.money(decimal.add(doc.unappliedAmount, amount))
  end
end

--- Creates (and applies) a payment from a POST /v1/payments-style body.
function M.create_payment(body)
  local a = C.account(body.accountId or body.accountNumber or body.accountKey, "payment")
  local amount = C.amount(C.require(body, "amount", "payment"), "amount", "payment")
  if decimal.cmp(amount, "0") <= 0 then C.fail("invalid_value", "'amount' must be greater than 0", "payment") end
  local ptype = body.type or "Electronic"
  if ptype ~= "Electronic" and ptype ~= "External" then
    C.fail("invalid_value", "'type' must be Electronic or External", "payment")
  end
  local currency = body.currency or a.currency
  if currency ~= a.currency then C.fail("invalid_value", "'currency' must be the account currency " .. a.currency,
    "payment") end
  local pm
  if ptype == "Electronic" then
    local pm_id = body.paymentMethodId or a.defaultPaymentMethodId
    pm = pm_id and state.data.payment_methods[pm_id]
    if not pm then C.fail("rule_restriction", "An electronic payment needs a payment method.", "payment") end
    if pm.declines then
      C.fail("integration_error", "Transaction declined. 402 - [card_declined/generic_decline]", "payment", 400)
    end
  end
  local now = state.now_stamp()
  local p = { id = state.new_id("payment"), number = string.format("P-%08d", state.next("payment")),
    accountId = a.id, accountNumber = a.accountNumber, amount = C.money(amount), appliedAmount = C.zero,
    unappliedAmount = C.money(amount), refundAmount = C.zero, currency = currency, status = "Processed", type = ptype,
    effectiveDate = body.effectiveDate and C.require_date(body, "effectiveDate", "payment") or state.today(),
    paymentMethodId = pm and pm.id, gatewayState = ptype == "Electronic" and "Submitted" or "NotSubmitted",
    gatewayResponse = ptype == "Electronic" and "Approved" or nil,
      gatewayResponseCode = ptype == "Electronic" and "00" or nil,
    referenceId = C.str(body.referenceId), comment = C.str(body.comment), applied = {}, createdDate = now,
      updatedDate = now }
  C.custom_fields(p, body)
  local invoices = type(body.invoices) == "table" and body.invoices or {}
  if #invoices > 0 or type(body.debitMemos) == "table" then
    apply_to_invoices(p, invoices, "payment", body.debitMemos)
  end
  state.put("payments", p)
  require("zuora_sim.callouts").safe_fire("PaymentProcessed", { Payment = p, Account = a }, p.id)
  return p
end

--- Pays `invoices` in full from the account's default payment method.
function M.collect(account, invoices)
  local list, total = {}, decimal.new("0")
  for _, inv in ipairs(invoices) do
    list[#list + 1] = { invoiceId = inv.id, amount = inv.balance }
    total = decimal.add(total, inv.balance)
  end
  return M.create_payment({ accountId = account.id, amount = C.money(total), invoices = list,
    type = account.defaultPaymentMethodId and "Electronic" or "External" })
end

-- Refunds ----------------------------------------------------------------------------------------

local function refund_json(r)
  return obj("id", r.id, "number", r.number, "accountId", r.accountId, "paymentId", r.paymentId or json.null,
    "creditMemoId", r.creditMemoId or json.null, "amount", r.amount, "status", r.status, "type", r.type,
    "methodType", r.methodType or json.null, "refundDate", r.refundDate, "comment", r.comment or json.null,
    "createdDate", r.createdDate)
end

local function create_refund(source, body, kind)
  local amount = C.amount(C.require(body, "totalAmount", "refund"), "totalAmount", "refund")
  if decimal.cmp(amount, "0") <= 0 then C.fail("invalid_value", "'totalAmount' must be greater than 0", "refund") end
  if decimal.cmp(amount, source.unappliedAmount) > 0 then
    C.fail("rule_restriction",
      "The refund amount exceeds the unapplied amount " .. tostring(source.unappliedAmount) .. ".",
      "refund")
  end
  source.unappliedAmount = C.money(decimal.sub(source.unappliedAmount, amount))
  source.refundAmount = C.money(decimal.add(source.refundAmount, amount))
  local r = { id = state.new_id("refund"), number = string.format("R-%08d", state.next("refund")),
    accountId = source.accountId, amount = C.money(amount), status = "Processed", type = body.type or "External",
    methodType = C.str(body.methodType), refundDate = body.refundDate and C.require_date(body, "refundDate", "refund")
      or state.today(), comment = C.str(body.comment), createdDate = state.now_stamp() }
  if kind == "payment" then r.paymentId = source.id else r.creditMemoId = source.id end
  return state.put("refunds", r)
end

-- Credit memos -------------------------------------------------------------------------------------

local function memo_of(key)
  return C.find("credit_memos", key, { "number" }, "credit_memo")
end

function M.memo_json(cm)
  return C.with_custom(obj("id", cm.id, "number", cm.number, "accountId", cm.accountId, "currency", cm.currency,
    "amount", cm.amount, "appliedAmount", cm.appliedAmount, "unappliedAmount", cm.unappliedAmount,
    "refundAmount", cm.refundAmount, "balance", cm.unappliedAmount, "status", cm.status, "memoDate", cm.memoDate,
    "reasonCode", cm.reasonCode, "referredInvoiceId", cm.invoiceId or json.null, "comment", cm.comment or json.null,
    "postedOn", cm.postedOn or json.null, "createdDate", cm.createdDate), cm)
end

local function new_memo(account, amount, items, fields)
  local cm = { id = state.new_id("credit_memo"), number = string.format("CM%08d", state.next("credit_memo")),
    accountId = account.id, currency = account.currency, amount = C.money(amount), appliedAmount = C.zero,
    unappliedAmount = C.money(amount), refundAmount = C.zero, status = "Draft", memoDate = state.today(),
    reasonCode = "Correcting invoice error", items = items, applied = {}, createdDate = state.now_stamp() }
  for k, v in pairs(fields or {}) do cm[k] = v end
  return state.put("credit_memos", cm)
end

local function post_memo(cm) C.post_draft(cm, "credit memos", "credit_memo") end

--- Credits `amount` of an invoice: a posted memo, applied to the invoice when `apply`.
function M.credit_invoice(inv, amount, reason, apply)
  local account = state.data.accounts[inv.accountId]
  local cm = new_memo(account, amount, {}, { invoiceId = inv.id, reasonCode = reason })
  post_memo(cm)
  if apply and decimal.cmp(amount, "0") > 0 then
    apply_to_invoices(cm, { { invoiceId = inv.id, amount = C.money(amount) } }, "credit_memo")
  end
  return cm
end

local function memo_from_invoice(req)
  local inv = invoice_of(req.params.invoiceKey)
  local b = req:json_body()
  local total, items = decimal.new("0"), {}
  if type(b.items) == "table" and #b.items > 0 then
    for _, e in ipairs(b.items) do
      local amount = C.amount(C.require(e, "amount", "credit_memo"), "amount", "credit_memo")
      total = decimal.add(total, amount)
      items[#items + 1] = { invoiceItemId = e.invoiceItemId, amount = C.money(amount) }
    end
  else
    total = decimal.new(inv.amount)
  end
  if decimal.cmp(total, inv.amount) > 0 then
    C.fail("rule_restriction", "The credit memo amount exceeds the invoice amount.", "credit_memo")
  end
  local cm = new_memo(state.data.accounts[inv.accountId], total, items,
    { invoiceId = inv.id, reasonCode = b.reasonCode or "Correcting invoice error", comment = C.str(b.comment) })
  if b.autoPost == true or b.autoApply == true then post_memo(cm) end
  if b.autoApply == true then
    apply_to_invoices(cm, { { invoiceId = inv.id, amount = C.money(decimal.min(total, inv.balance)) } }, "credit_memo")
  end
  return 200, C.ok(M.memo_json(cm))
end

local function memo_from_charges(req)
  local b = req:json_body()
  local a = C.account(b.accountId or b.accountNumber, "credit_memo")
  local total, items = decimal.new("0"), {}
  local charges = b.charges
  if type(charges) ~= "table" or #charges == 0 then C.fail("missing_field", "'charges' is required", "credit_memo") end
  for _, e in ipairs(charges) do
    local amount = C.amount(C.require(e, "amount", "credit_memo"), "amount", "credit_memo")
    total = decimal.add(total, amount)
    items[#items + 1] = { productRatePlanChargeId = e.productRatePlanChargeId or e.chargeId, amount = C.money(amount) }
  end
  local cm = new_memo(a, total, items, { reasonCode = b.reasonCode or "Correcting invoice error",
    comment = C.str(b.comment) })
  if b.autoPost == true then post_memo(cm) end
  return 200, C.ok(M.memo_json(cm))
end

function M.register(r)
  r.add("POST", "/v1/payments", function(req)
    return 200, C.ok(M.payment_json(M.create_payment(req:json_body())))
  end)
  r.add("GET", "/v1/payments", function(req)
    local q = req.query
    return C.list(req, "payments", function(p)
      return (not q.accountId or p.accountId == q.accountId) and (not q.status or p.status == q.status)
    end, M.payment_json, "payments")
  end)
  r.add("GET", "/v1/payments/{paymentKey}", function(req)
    return 200, C.ok(M.payment_json(M.payment_of(req.params.paymentKey)))
  end)
  r.add("PUT", "/v1/payments/{paymentKey}", function(req)
    local p = M.payment_of(req.params.paymentKey)
    local b = req:json_body()
    if b.comment ~= nil then p.comment = C.str(b.comment) end
    if b.referenceId ~= nil then p.referenceId = C.str(b.referenceId) end
    C.custom_fields(p, b)
    p.updatedDate = state.now_stamp()
    return 200, C.ok(M.payment_json(p))
  end)
  r.add("PUT", "/v1/payments/{paymentKey}/apply", function(req)
    local p = M.payment_of(req.params.paymentKey)
    if p.status ~= "Processed" then C.fail("rule_restriction", "Only processed payments can be applied.", "payment") end
    local b = req:json_body()
    apply_to_invoices(p, type(b.invoices) == "table" and b.invoices or {}, "payment", b.debitMemos)
    return 200, C.ok(M.payment_json(p))
  end)
  r.add("PUT", "/v1/payments/{paymentKey}/unapply", function(req)
    local p = M.payment_of(req.params.paymentKey)
    local b = req:json_body()
    unapply_from_invoices(p, type(b.invoices) == "table" and b.invoices or {}, "payment")
    return 200, C.ok(M.payment_json(p))
  end)
  r.add("PUT", "/v1/payments/{paymentKey}/cancel", function(req)
    local p = M.payment_of(req.params.paymentKey)
    if decimal.cmp(p.appliedAmount, "0") ~= 0 then
      C.fail("rule_restriction", "Unapply the payment before canceling it.", "payment")
    end
    p.status = "Canceled"
    p.cancelledOn = state.now_stamp()
    return 200, C.ok(M.payment_json(p))
  end)
  r.add("DELETE", "/v1/payments/{paymentKey}", function(req)
    local p = M.payment_of(req.params.paymentKey)
    if p.status ~= "Canceled" then C.fail("rule_restriction", "Only canceled payments can be deleted.", "payment") end
    state.remove("payments", p.id)
    return 200, C.ok()
  end)
  r.add("POST", "/v1/payments/{paymentKey}/refunds", function(req)
    local p = M.payment_of(req.params.paymentKey)
    return 200, C.ok(refund_json(create_refund(p, req:json_body(), "payment")))
  end)

  r.add("GET", "/v1/refunds", function(req)
    local q = req.query
    return C.list(req, "refunds", function(x) return not q.accountId or x.accountId == q.accountId end,
      refund_json, "refunds")
  end)
  r.add("GET", "/v1/refunds/{refundKey}", function(req)
    return 200, C.ok(refund_json(C.find("refunds", req.params.refundKey, { "number" }, "refund")))
  end)
  r.add("PUT", "/v1/refunds/{refundKey}/cancel", function(req)
    local x = C.find("refunds", req.params.refundKey, { "number" }, "refund")
    if x.status == "Canceled" then C.fail("rule_restriction", "The refund is already canceled.", "refund") end
    x.status = "Canceled"
    local src = x.paymentId and state.data.payments[x.paymentId] or state.data.credit_memos[x.creditMemoId]
    if src then
      src.unappliedAmount = C.money(decimal.add(src.unappliedAmount, x.amount))
      src.refundAmount = C.money(decimal.sub(src.refundAmount, x.amount))
    end
    return 200, C.ok(refund_json(x))
  end)

  r.add("POST", "/v1/credit-memos/invoice/{invoiceKey}", memo_from_invoice)
  r.add("POST", "/v1/credit-memos", memo_from_charges)
  r.add("GET", "/v1/credit-memos", function(req)
    local q = req.query
    return C.list(req, "credit_memos", function(c)
      return (not q.accountId or c.accountId == q.accountId) and (not q.status or c.status == q.status)
    end, M.memo_json, "creditmemos")
  end)
  r.add("GET", "/v1/credit-memos/{creditMemoKey}", function(req)
    return 200, C.ok(M.memo_json(memo_of(req.params.creditMemoKey)))
  end)
  r.add("GET", "/v1/credit-memos/{creditMemoKey}/items", function(req)
    local cm = memo_of(req.params.creditMemoKey)
    local items = arr()
    for _, it in ipairs(cm.items) do
      items[#items + 1] = obj("amount", it.amount, "sourceItemId", it.invoiceItemId or json.null,
        "productRatePlanChargeId", it.productRatePlanChargeId or json.null)
    end
    return 200, C.ok(obj("items", items))
  end)
  r.add("PUT", "/v1/credit-memos/{creditMemoKey}/post", function(req)
    local cm = memo_of(req.params.creditMemoKey)
    post_memo(cm)
    return 200, C.ok(M.memo_json(cm))
  end)
  r.add("PUT", "/v1/credit-memos/{creditMemoKey}/unpost", function(req)
    local cm = memo_of(req.params.creditMemoKey)
    if decimal.cmp(cm.appliedAmount, "0") ~= 0 then
      C.fail("rule_restriction", "An applied credit memo cannot be unposted.", "credit_memo")
    end
    cm.status = "Draft"
    return 200, C.ok(M.memo_json(cm))
  end)
  r.add("PUT", "/v1/credit-memos/{creditMemoKey}/cancel", function(req)
    local cm = memo_of(req.params.creditMemoKey)
    if cm.status ~= "Draft" then C.fail("rule_restriction", "Only draft credit memos can be canceled.",
      "credit_memo") end
    cm.status = "Canceled"
    return 200, C.ok(M.memo_json(cm))
  end)
  r.add("PUT", "/v1/credit-memos/{creditMemoKey}/apply", function(req)
    local cm = memo_of(req.params.creditMemoKey)
    if cm.status ~= "Posted" then C.fail("rule_restriction", "Only posted credit memos can be applied.",
      "credit_memo") end
    local b = req:json_body()
    apply_to_invoices(cm, type(b.invoices) == "table" and b.invoices or {}, "credit_memo", b.debitMemos)
    return 200, C.ok(M.memo_json(cm))
  end)
  r.add("PUT", "/v1/credit-memos/{creditMemoKey}/unapply", function(req)
    local cm = memo_of(req.params.creditMemoKey)
    local b = req:json_body()
    unapply_from_invoices(cm, type(b.invoices) == "table" and b.invoices or {}, "credit_memo")
    return 200, C.ok(M.memo_json(cm))
  end)
  r.add("POST", "/v1/credit-memos/{creditMemoKey}/refund", function(req)
    local cm = memo_of(req.params.creditMemoKey)
    if cm.status ~= "Posted" then C.fail("rule_restriction", "Only posted credit memos can be refunded.",
      "credit_memo") end
    return 200, C.ok(refund_json(create_refund(cm, req:json_body(), "credit_memo")))
  end)
  r.add("DELETE", "/v1/credit-memos/{creditMemoKey}", function(req)
    local cm = memo_of(req.params.creditMemoKey)
    if cm.status == "Posted" then C.fail("rule_restriction", "A posted credit memo cannot be deleted.",
      "credit_memo") end
    state.remove("credit_memos", cm.id)
    return 200, C.ok()
  end)
end

return M
