--- Zuora objects as the query interfaces see them: ZOQL (Actions query) with PascalCase fields,
-- object queries (/object-query/...) with camelCase fields, and Data Query tables in lower case.
-- Each definition lists its fields and how to read them from the simulator's records.
local state = require "zuora_sim.state"
local json = require "zuora_sim.json"
local ledger = require "zuora_sim.ledger"
local util = require "zuora_sim.util"

local M = {}

local function f(key) return function(r) return r[key] end end
local function num(key) return function(r) local v = r[key]; return v ~= nil and json.number(tostring(v)) or nil end end

local function flatten_plans()
  local out = {}
  for _, s in ipairs(state.list("subscriptions")) do
    for _, rp in ipairs(s.ratePlans) do out[#out + 1] = { sub = s, rp = rp } end
  end
  return out
end

local function flatten_charges()
  local out = {}
  for _, x in ipairs(flatten_plans()) do
    for _, c in ipairs(x.rp.ratePlanCharges) do out[#out + 1] = { sub = x.sub, rp = x.rp, c = c } end
  end
  return out
end

-- Charge models in the object layer's spelling ("Per Unit Pricing"); records keep the enum name.
local function model(r) return r and r.model and require("zuora_sim.api.catalog").model_display(r.model) end

-- Every price of a product rate plan charge as tier rows: a tiered model's tiers, otherwise one
-- tier per currency holding the price (as Zuora stores them).
local function flatten_tiers()
  local out = {}
  for _, c in ipairs(state.list("product_rate_plan_charges")) do
    for _, p in ipairs(c.pricing) do
      if p.tiers then
        for _, t in ipairs(p.tiers) do out[#out + 1] = { c = c, p = p, t = t } end
      else
        out[#out + 1] = { c = c, p = p, t = p }
      end
    end
  end
  return out
end

local function tier_id(x)
  x.t.id = x.t.id or state.new_id("product_rate_plan_charge_tier")
  return x.t.id
end

local function flatten_items()
  local out = {}
  for _, inv in ipairs(state.list("invoices")) do
    for _, it in ipairs(inv.items) do out[#out + 1] = { inv = inv, it = it } end
  end
  return out
end

-- Lazily numbered parts (applications, memo items, order actions, tiers): the object queries name
-- each by an id of its own.
local function part_id(part, kind)
  part.id = part.id or state.new_id(kind)
  return part.id
end

-- Payments' and credit memos' applications, one row for each apply (or unapply: a negative amount).
local function applications(coll)
  return function()
    local out = {}
    for _, doc in ipairs(state.list(coll)) do
      for _, ap in ipairs(doc.applied or {}) do out[#out + 1] = { doc = doc, ap = ap } end
    end
    return out
  end
end

local function apply_type(x) return tostring(x.ap.amount):sub(1, 1) == "-" and "Unapply" or "Apply" end

local function memo_items(coll)
  return function()
    local out = {}
    for _, doc in ipairs(state.list(coll)) do
      for _, it in ipairs(doc.items or {}) do out[#out + 1] = { doc = doc, it = it } end
    end
    return out
  end
end

local function charge_tiers()
  local out = {}
  for _, x in ipairs(flatten_charges()) do
    local c = x.c
    if c.tiers and #c.tiers > 0 then
      for _, t in ipairs(c.tiers) do out[#out + 1] = { c = c, t = t } end
    else
      c.priceTier = c.priceTier or { tier = 1, startingUnit = "0" }
      c.priceTier.price = c.price
      out[#out + 1] = { c = c, t = c.priceTier }
    end
  end
  return out
end

local function order_actions()
  local out = {}
  for _, o in ipairs(state.list("orders")) do
    local seq = 0
    for _, entry in ipairs(type(o.actions) == "table" and o.actions or {}) do
      for _, action in ipairs(type(entry.orderActions) == "table" and entry.orderActions or {}) do
        seq = seq + 1
        out[#out + 1] = { o = o, entry = entry, a = action, seq = seq }
      end
    end
  end
  return out
end

local DEFS = {
  { name = "Account", oq = "accounts", rows = function() return state.list("accounts") end, fields = {
    { "Id", f "id" }, { "AccountNumber", f "accountNumber" }, { "Name", f "name" }, { "Status", f "status" },
    { "Currency", f "currency" }, { "BillCycleDay", num "billCycleDay" }, { "AutoPay", f "autoPay" },
    { "Batch", f "batch" }, { "PaymentTerm", f "paymentTerm" }, { "CrmId", f "crmId" }, { "Notes", f "notes" },
    { "BillToId", f "billToContactId" }, { "SoldToId", f "soldToContactId" },
    { "DefaultPaymentMethodId", f "defaultPaymentMethodId" },
    { "Balance", function(r) return require("zuora_sim.decimal").json(ledger.figures(r).balance) end },
    { "CreatedDate", f "createdDate" }, { "UpdatedDate", f "updatedDate" } },
    expand = { billto = { "Contact", "contacts", "billToContactId" },
      soldto = { "Contact", "contacts", "soldToContactId" },
      defaultpaymentmethod = { "PaymentMethod", "payment_methods", "defaultPaymentMethodId" } } },
  { name = "Contact", oq = "contacts", rows = function() return state.list("contacts") end, fields = {
    { "Id", f "id" }, { "AccountId", f "accountId" }, { "FirstName", f "firstName" }, { "LastName", f "lastName" },
    { "WorkEmail", f "workEmail" }, { "WorkPhone", f "workPhone" }, { "Address1", f "address1" },
    { "City", f "city" }, { "State", f "state" }, { "PostalCode", f "zipCode" }, { "Country", f "country" },
    { "CreatedDate", f "createdDate" } } },
  { name = "PaymentMethod", oq = "payment-methods", rows = function() return state.list("payment_methods") end,
    fields = {
    { "Id", f "id" }, { "AccountId", f "accountId" }, { "Type", f "type" }, { "CreditCardType", f "cardType" },
    { "CreditCardMaskNumber", f "cardNumber" }, { "CreditCardExpirationMonth", num "expirationMonth" },
    { "CreditCardExpirationYear", num "expirationYear" }, { "CreditCardHolderName", f "cardHolderName" },
    { "PaymentMethodStatus", f "status" }, { "CreatedDate", f "createdDate" } } },
  { name = "Product", oq = "products", rows = function() return state.list("products") end, fields = {
    { "Id", f "id" }, { "Name", f "name" }, { "SKU", f "sku" }, { "Description", f "description" },
    { "Category", f "category" }, { "EffectiveStartDate", f "effectiveStartDate" },
    { "EffectiveEndDate", f "effectiveEndDate" } },
    expand = { productrateplans = { "ProductRatePlan", many = function(r)
      return state.list("product_rate_plans", function(p) return p.productId == r.id end)
    end } } },
  { name = "ProductRatePlan", oq = "product-rate-plans", rows = function() return state.list("product_rate_plans") end,
    fields = { { "Id", f "id" }, { "ProductId", f "productId" }, { "Name", f "name" },
      { "ProductRatePlanNumber", f "number" }, { "Status", f "status" },
      { "Description", f "description" }, { "EffectiveStartDate", f "effectiveStartDate" },
      { "EffectiveEndDate", f "effectiveEndDate" } },
    expand = { product = { "Product", "products", "productId" },
      productrateplancharges = { "ProductRatePlanCharge", many = function(r)
        return state.list("product_rate_plan_charges", function(c) return c.productRatePlanId == r.id end)
      end } } },
  { name = "ProductRatePlanCharge", oq = "product-rate-plan-charges",
    rows = function() return state.list("product_rate_plan_charges") end, fields = {
      { "Id", f "id" }, { "ProductRatePlanId", f "productRatePlanId" }, { "Name", f "name" },
      { "ChargeType", f "type" }, { "ChargeModel", model }, { "BillingPeriod", f "billingPeriod" },
      { "BillingTiming", f "billingTiming" }, { "TriggerEvent", f "triggerEvent" },
      { "EndDateCondition", f "endDateCondition" }, { "ListPriceBase", f "listPriceBase" },
      { "ProductRatePlanChargeNumber", f "number" },
      { "UOM", f "uom" }, { "DefaultQuantity",
        function(r) return r.defaultQuantity and json.number(r.defaultQuantity) end } },
    expand = { productrateplan = { "ProductRatePlan", "product_rate_plans", "productRatePlanId" },
      productrateplanchargetiers = { "ProductRatePlanChargeTier", many = function(r)
        local out = {}
        for _, x in ipairs(flatten_tiers()) do if x.c == r then out[#out + 1] = x end end
        return out
      end } } },
  { name = "ProductRatePlanChargeTier", oq = "product-rate-plan-charge-tiers", rows = flatten_tiers, fields = {
      { "Id", tier_id }, { "ProductRatePlanChargeId", function(x) return x.c.id end },
      { "Currency", function(x) return x.p.currency end },
      { "Tier", function(x) return json.number(tostring(x.t.tier or 1)) end },
      { "StartingUnit", function(x) return json.number(x.t.startingUnit or "0") end },
      { "EndingUnit", function(x) return x.t.endingUnit and json.number(x.t.endingUnit) end },
      { "Price", function(x) return x.t.price and json.number(x.t.price) end },
      { "PriceFormat", function(x) return x.t.priceFormat or "Per Unit" end },
      { "Active", function() return true end } } },
  { name = "Subscription", oq = "subscriptions", rows = function() return state.list("subscriptions") end, fields = {
    { "Id", f "id" }, { "Name", f "subscriptionNumber" }, { "AccountId", f "accountId" },
    { "InvoiceOwnerId", f "invoiceOwnerAccountId" }, { "Status", f "status" }, { "Version", num "version" },
    { "TermType", f "termType" }, { "InitialTerm",
      function(r) return r.initialTerm ~= json.null and r.initialTerm or nil end },
    { "RenewalTerm", num "renewalTerm" }, { "AutoRenew", f "autoRenew" },
    { "ContractEffectiveDate", f "contractEffectiveDate" }, { "SubscriptionStartDate", f "subscriptionStartDate" },
    { "SubscriptionEndDate", f "subscriptionEndDate" }, { "TermStartDate", f "termStartDate" },
    { "TermEndDate", f "termEndDate" }, { "CancelledDate", f "cancelledDate" }, { "Notes", f "notes" },
    { "CreatedDate", f "createdDate" } },
    expand = { account = { "Account", "accounts", "accountId" },
      invoiceowner = { "Account", "accounts", "invoiceOwnerAccountId" },
      rateplans = { "RatePlan", many = function(r)
        local out = {}
        for _, rp in ipairs(r.ratePlans) do out[#out + 1] = { sub = r, rp = rp } end
        return out
      end } } },
  { name = "RatePlan", oq = "rate-plans", rows = flatten_plans, fields = {
    { "Id", function(x) return x.rp.id end }, { "Name", function(x) return x.rp.ratePlanName end },
    { "SubscriptionId", function(x) return x.sub.id end },
    { "ProductRatePlanId", function(x) return x.rp.productRatePlanId end } },
    expand = { rateplancharges = { "RatePlanCharge", many = function(x)
      local out = {}
      for _, c in ipairs(x.rp.ratePlanCharges) do out[#out + 1] = { sub = x.sub, rp = x.rp, c = c } end
      return out
    end } } },
  { name = "RatePlanCharge", oq = "rate-plan-charges", rows = flatten_charges, fields = {
    { "Id", function(x) return x.c.id end }, { "ChargeNumber", function(x) return x.c.number end },
    { "Name", function(x) return x.c.name end }, { "ChargeType", function(x) return x.c.type end },
    { "ChargeModel", function(x) return model(x.c) end }, { "RatePlanId", function(x) return x.rp.id end },
    { "ProductRatePlanChargeId", function(x) return x.c.productRatePlanChargeId end },
    { "Price", function(x) return json.number(x.c.price) end },
    { "Quantity", function(x) return json.number(x.c.quantity) end },
    { "BillingPeriod", function(x) return x.c.billingPeriod end }, { "UOM", function(x) return x.c.uom end },
    { "EffectiveStartDate", function(x) return x.c.effectiveStartDate end },
    { "EffectiveEndDate", function(x) return x.c.effectiveEndDate end },
    { "ChargedThroughDate", function(x) return x.c.chargedThroughDate end } } },
  { name = "Invoice", oq = "invoices", rows = function() return state.list("invoices") end, fields = {
    { "Id", f "id" }, { "InvoiceNumber", f "invoiceNumber" }, { "AccountId", f "accountId" },
    { "InvoiceDate", f "invoiceDate" }, { "DueDate", f "dueDate" }, { "TargetDate", f "targetDate" },
    { "Status", f "status" }, { "Amount", f "amount" }, { "AmountWithoutTax", f "amountWithoutTax" },
    { "TaxAmount", f "taxAmount" }, { "Balance", f "balance" }, { "PaymentAmount", f "paymentAmount" },
    { "Currency", f "currency" }, { "PostedDate", f "postedDate" }, { "CreatedDate", f "createdDate" } },
    expand = { invoiceitems = { "InvoiceItem", many = function(r)
      local out = {}
      for _, it in ipairs(r.items) do out[#out + 1] = { inv = r, it = it } end
      return out
    end }, account = { "Account", "accounts", "accountId" } } },
  { name = "InvoiceItem", oq = "invoice-items", rows = flatten_items, fields = {
    { "Id", function(x) return x.it.id end }, { "InvoiceId", function(x) return x.inv.id end },
    { "AccountId", function(x) return x.inv.accountId end },
    { "SubscriptionId", function(x) return x.it.subscriptionId end },
    { "RatePlanChargeId", function(x) return x.it.chargeId end },
    { "ChargeName", function(x) return x.it.chargeName end },
    { "ChargeAmount", function(x) return x.it.chargeAmount end },
    { "Quantity", function(x) return json.number(tostring(x.it.quantity)) end },
    { "UnitPrice", function(x) return json.number(x.it.unitPrice) end },
    { "ServiceStartDate", function(x) return x.it.serviceStartDate end },
    { "ServiceEndDate", function(x) return x.it.serviceEndDate end } } },
  { name = "Payment", oq = "payments", rows = function() return state.list("payments") end, fields = {
    { "Id", f "id" }, { "PaymentNumber", f "number" }, { "AccountId", f "accountId" }, { "Amount", f "amount" },
    { "AppliedAmount", f "appliedAmount" }, { "UnappliedAmount", f "unappliedAmount" },
    { "RefundAmount", f "refundAmount" }, { "Status", f "status" }, { "Type", f "type" },
    { "EffectiveDate", f "effectiveDate" }, { "PaymentMethodId", f "paymentMethodId" }, { "Currency", f "currency" },
    { "CreatedDate", f "createdDate" } },
    expand = { account = { "Account", "accounts", "accountId" } } },
  { name = "Refund", oq = "refunds", rows = function() return state.list("refunds") end, fields = {
    { "Id", f "id" }, { "RefundNumber", f "number" }, { "AccountId", f "accountId" }, { "Amount", f "amount" },
    { "Status", f "status" }, { "Type", f "type" }, { "RefundDate", f "refundDate" } } },
  { name = "CreditMemo", oq = "credit-memos", rows = function() return state.list("credit_memos") end, fields = {
    { "Id", f "id" }, { "MemoNumber", f "number" }, { "AccountId", f "accountId" }, { "Amount", f "amount" },
    { "AppliedAmount", f "appliedAmount" }, { "UnappliedAmount", f "unappliedAmount" }, { "Status", f "status" },
    { "MemoDate", f "memoDate" }, { "ReasonCode", f "reasonCode" } } },
  { name = "DebitMemo", oq = "debit-memos", rows = function() return state.list("debit_memos") end, fields = {
    { "Id", f "id" }, { "MemoNumber", f "number" }, { "AccountId", f "accountId" }, { "Amount", f "amount" },
    { "Balance", f "balance" }, { "Status", f "status" }, { "MemoDate", f "debitMemoDate" },
    { "DueDate", f "dueDate" }, { "ReasonCode", f "reasonCode" }, { "ReferredInvoiceId", f "invoiceId" },
    { "CreatedDate", f "createdDate" } },
    expand = { account = { "Account", "accounts", "accountId" } } },
  { name = "RatePlanChargeTier", oq = "rate-plan-charge-tiers", rows = charge_tiers, fields = {
    { "Id", function(x) return part_id(x.t, "rate_plan_charge_tier") end },
    { "RatePlanChargeId", function(x) return x.c.id end }, { "Currency", function(x) return x.c.currency end },
    { "Tier", function(x) return json.number(tostring(x.t.tier or 1)) end },
    { "StartingUnit", function(x) return json.number(x.t.startingUnit or "0") end },
    { "EndingUnit", function(x) return x.t.endingUnit and json.number(x.t.endingUnit) end },
    { "Price", function(x) return x.t.price and json.number(x.t.price) end },
    { "PriceFormat", function(x) return x.t.priceFormat or "Per Unit" end } } },
  { name = "PaymentApplication", oq = "payment-applications", rows = applications("payments"), fields = {
    { "Id", function(x) return part_id(x.ap, "payment_application") end },
    { "PaymentId", function(x) return x.doc.id end }, { "InvoiceId", function(x) return x.ap.invoiceId end },
    { "DebitMemoId", function(x) return x.ap.debitMemoId end },
    { "AppliedAmount", function(x) return x.ap.amount end }, { "ApplyType", apply_type },
    { "EffectiveDate", function(x) return x.doc.effectiveDate end } } },
  { name = "CreditMemoApplication", oq = "credit-memo-applications", rows = applications("credit_memos"), fields = {
    { "Id", function(x) return part_id(x.ap, "credit_memo_application") end },
    { "CreditMemoId", function(x) return x.doc.id end }, { "InvoiceId", function(x) return x.ap.invoiceId end },
    { "DebitMemoId", function(x) return x.ap.debitMemoId end },
    { "AppliedAmount", function(x) return x.ap.amount end }, { "ApplyType", apply_type },
    { "EffectiveDate", function(x) return x.doc.memoDate end } } },
  { name = "CreditMemoItem", oq = "credit-memo-items", rows = memo_items("credit_memos"), fields = {
    { "Id", function(x) return part_id(x.it, "credit_memo_item") end },
    { "CreditMemoId", function(x) return x.doc.id end }, { "Amount", function(x) return x.it.amount end },
    { "SourceItemId", function(x) return x.it.invoiceItemId end },
    { "ProductRatePlanChargeId", function(x) return x.it.productRatePlanChargeId end } } },
  { name = "DebitMemoItem", oq = "debit-memo-items", rows = memo_items("debit_memos"), fields = {
    { "Id", function(x) return x.it.id end }, { "DebitMemoId", function(x) return x.doc.id end },
    { "Amount", function(x) return x.it.amount end }, { "Balance", function(x) return x.it.balance end },
    { "ChargeName", function(x) return x.it.chargeName end },
    { "SourceItemId", function(x) return x.it.invoiceItemId end },
    { "ProductRatePlanChargeId", function(x) return x.it.productRatePlanChargeId end } } },
  { name = "OrderAction", oq = "order-actions", rows = order_actions, fields = {
    { "Id", function(x) return part_id(x.a, "order_action") end }, { "OrderId", function(x) return x.o.id end },
    { "Type", function(x) return x.a.type end }, { "Sequence", function(x) return json.number(tostring(x.seq)) end },
    { "SubscriptionNumber", function(x) return x.entry.subscriptionNumber end },
    { "CreatedDate", function(x) return x.o.createdDate end } } },
  { name = "Usage", oq = "usages", rows = function() return state.list("usages") end, fields = {
    { "Id", f "id" }, { "AccountId", f "accountId" }, { "AccountNumber", f "accountNumber" },
    { "SubscriptionNumber", f "subscriptionNumber" }, { "ChargeNumber", f "chargeNumber" },
    { "Quantity", function(r) return json.number(r.quantity) end }, { "UOM", f "uom" },
    { "StartDateTime", f "startDateTime" }, { "EndDateTime", f "endDateTime" },
    { "Description", f "description" }, { "ImportId", f "importId" }, { "Status", f "status" } } },
  { name = "Order", oq = "orders", rows = function() return state.list("orders") end, fields = {
    { "Id", f "id" }, { "OrderNumber", f "orderNumber" }, { "AccountId", f "accountId" },
    { "OrderDate", f "orderDate" }, { "Status", f "status" }, { "Description", f "description" },
    { "CreatedDate", f "createdDate" } } },
  { name = "BillRun", oq = "bill-runs", rows = function() return state.list("bill_runs") end, fields = {
    { "Id", f "id" }, { "BillRunNumber", f "billRunNumber" }, { "Status", f "status" },
    { "TargetDate", f "targetDate" }, { "InvoiceDate", f "invoiceDate" } } },
}

-- Every object has CreatedDate and UpdatedDate (what incremental syncs window on). A part (an
-- invoice item, a charge, an application) takes its own dates when it has them, else its parent's.
local function dated(x, key)
  if type(x) ~= "table" then return nil end
  if x.id ~= nil and (x.createdDate or x.updatedDate) then
    return x[key] or x.createdDate
  end
  local part = x.it or x.ap or x.a or x.t or x.c or x.rp
  if part and (part.createdDate or part.updatedDate) then return part[key] or part.createdDate end
  local parent = x.inv or x.doc or x.o or x.sub or x.c
  if parent then return parent[key] or parent.createdDate end
  return x[key] or x.createdDate
end

local function has_field(d, name)
  for _, fd in ipairs(d.fields) do if fd[1] == name then return true end end
  return false
end

for _, d in ipairs(DEFS) do
  if not has_field(d, "CreatedDate") then
    d.fields[#d.fields + 1] = { "CreatedDate", function(x) return dated(x, "createdDate") end }
  end
  if not has_field(d, "UpdatedDate") then
    d.fields[#d.fields + 1] = { "UpdatedDate", function(x) return dated(x, "updatedDate") end }
  end
end

local BY_NAME, BY_OQ = {}, {}
for _, d in ipairs(DEFS) do
  d.lower = {}
  for i, fd in ipairs(d.fields) do d.lower[fd[1]:lower()] = i end
  BY_NAME[d.name:lower()] = d
  BY_OQ[d.oq] = d
end

--- The camelCase name object queries use for a PascalCase field.
function M.camel(name)
  if name:match("^%u+$") then return name:lower() end
  return util.lower_first(name)
end

--- The definition for a ZOQL or Data Query object name (case-insensitive; "invoice_item" works).
function M.find(name)
  local key = name:lower():gsub("_", "")
  local d = BY_NAME[key]
  if d then return d end
  -- Generic CRUD objects created through /v1/object/{type} or Actions are queryable too.
  local coll = state.data.objects[key]
  if coll then
    local fields, seen = {}, {}
    for _, rec in pairs(coll) do
      for k in pairs(rec) do
        if not seen[k] then seen[k] = true; fields[#fields + 1] = k end
      end
    end
    table.sort(fields)
    local def = { name = name, generic = true, lower = {}, fields = {} }
    for i, k in ipairs(fields) do def.fields[i] = { k, f(k) }; def.lower[k:lower()] = i end
    def.rows = function()
      local out = {}
      for _, rec in pairs(coll) do out[#out + 1] = rec end
      table.sort(out, function(a, b) return tostring(a.Id) < tostring(b.Id) end)
      return out
    end
    return def
  end
  return nil
end

-- The reference names the bill runs' object query billing-runs; bill-runs stays as an alias.
BY_OQ["billing-runs"] = BY_OQ["bill-runs"]

function M.find_oq(plural) return BY_OQ[plural] end

-- The key an expanded relation takes in an object query's answer (expand[]=billto -> "billTo").
local EXPAND_AS = { billto = "billTo", soldto = "soldTo", defaultpaymentmethod = "defaultPaymentMethod",
  productrateplans = "productRatePlans", productrateplancharges = "productRatePlanCharges",
  productrateplan = "productRatePlan", productrateplanchargetiers = "productRatePlanChargeTiers",
  invoiceowner = "invoiceOwner", rateplans = "ratePlans", rateplancharges = "ratePlanCharges",
  invoiceitems = "invoiceItems" }
function M.expand_name(_, key) return EXPAND_AS[key] or key end

--- Value of `field` (any case) for a source row; second result false if the field is unknown.
function M.get(def, row, field)
  local i = def.lower[field:lower()]
  if not i then return nil, false end
  local v = def.fields[i][2](row)
  if v == json.null then v = nil end
  return v, true
end

--- The canonical spelling of a field, or nil when the object has no such field.
function M.field_name(def, field)
  local i = def.lower[field:lower()]
  return i and def.fields[i][1]
end

--- A view of a row: an ordered JSON object of the requested fields (nil values skipped).
-- `style` "pascal" (ZOQL), "camel" (object query) or "lower" (Data Query).
function M.view(def, row, fields, style)
  local o = json.object()
  local order = getmetatable(o).__order
  for _, name in ipairs(fields) do
    local v = M.get(def, row, name)
    if v ~= nil then
      local key = M.field_name(def, name)
      if style == "camel" then key = M.camel(key) elseif style == "lower" then key = name:lower() end
      o[key] = v
      order[#order + 1] = key
    end
  end
  return o
end

function M.all_fields(def)
  local out = {}
  for i, fd in ipairs(def.fields) do out[i] = fd[1] end
  return out
end

M.DEFS = DEFS

return M
