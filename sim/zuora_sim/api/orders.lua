--- Orders and subscriptions: orders create and change subscriptions; subscriptions can also be
-- created, cancelled, renewed, suspended and resumed directly.
local state = require "zuora_sim.state"
local json = require "zuora_sim.json"
local decimal = require "zuora_sim.decimal"
local util = require "zuora_sim.util"
local C = require "zuora_sim.api.common"
local catalog = require "zuora_sim.api.catalog"

local M = {}
local obj, arr = json.object, json.array

-- Subscriptions -----------------------------------------------------------------------------------

local function sub_of(key)
  local s = state.data.subscriptions[key]
  if s then return s end
  for _, x in pairs(state.data.subscriptions) do
    if x.subscriptionNumber == key then return x end
  end
  C.fail("not_found", "Cannot find subscription by key: '" .. tostring(key) .. "'.", "subscription")
end
M.sub_of = sub_of

local function monthly(charge)
  if charge.type ~= "Recurring" then return decimal.new("0") end
  local amount = catalog.amount(charge, charge.quantity or "1")
  local months = util.PERIOD_MONTHS[charge.billingPeriod or "Month"]
  if not months then return amount end
  return decimal.round(decimal.div(amount, months, 9), 6)
end

local function refresh_mrr(sub)
  local total = decimal.new("0")
  for _, rp in ipairs(sub.ratePlans) do
    for _, c in ipairs(rp.ratePlanCharges) do
      if not c.removed then total = decimal.add(total, monthly(c)) end
    end
  end
  sub.mrr = C.money(total)
end

-- Builds a subscription rate plan from a productRatePlanId and optional charge overrides.
local function make_rate_plan(sub, spec, start_date, currency)
  if type(spec) ~= "table" then C.fail("invalid_value", "a rate plan must be an object", "subscription") end
  local prp_id = spec.productRatePlanId
  if prp_id == nil and spec.productRatePlanNumber ~= nil then prp_id = spec.productRatePlanNumber end
  if prp_id == nil then C.require(spec, "productRatePlanId", "subscription") end
  local prp = state.data.product_rate_plans[prp_id]
  if not prp then
    for _, p in pairs(state.data.product_rate_plans) do
      if p.name == prp_id or p.number == prp_id then prp = p end
    end
  end
  if not prp then C.fail("invalid_value", "Invalid productRatePlanId: " .. tostring(prp_id), "subscription") end
  local product = state.data.products[prp.productId]
  local overrides = {}
  for _, o in ipairs(type(spec.chargeOverrides) == "table" and spec.chargeOverrides or {}) do
    overrides[o.productRatePlanChargeId or ""] = o
  end
  local rp = { id = state.new_id("rate_plan"), productRatePlanId = prp.id, productId = product.id,
    productName = product.name, productSku = product.sku, ratePlanName = prp.name, ratePlanCharges = {},
    lastChangeType = "Add" }
  for _, cid in ipairs(prp.chargeIds) do
    local pc = state.data.product_rate_plan_charges[cid]
    local o = overrides[cid] or {}
    local price = catalog.price(pc, currency)
    local tiers = catalog.price_entry(pc, currency).tiers
    local per_unit = pc.model == "PerUnit" or catalog.TIERED[pc.model]
    local quantity = per_unit and (pc.defaultQuantity or "1") or "1"
    local pricing = type(o.pricing) == "table" and o.pricing or {}
    for _, kind in ipairs({ "recurringFlatFee", "recurringPerUnit", "recurringTiered", "recurringVolume",
      "usagePerUnit", "usageTiered", "usageVolume", "oneTimeFlatFee", "oneTimePerUnit", "oneTimeTiered",
      "oneTimeVolume" }) do
      local p = pricing[kind]
      if type(p) == "table" then
        if p.listPrice ~= nil then price = C.amount(p.listPrice, "listPrice", "subscription") end
        if p.quantity ~= nil then quantity = C.amount(p.quantity, "quantity", "subscription") end
        if type(p.tiers) == "table" and #p.tiers > 0 then
          tiers = catalog.pricing_from_tiers(p.tiers, pc.model, "subscription")[1].tiers
        end
      end
    end
    if o.quantity ~= nil then quantity = C.amount(o.quantity, "quantity", "subscription") end
    local n = state.next("charge")
    rp.ratePlanCharges[#rp.ratePlanCharges + 1] = {
      id = state.new_id("rate_plan_charge"), number = string.format("C-%08d", n), productRatePlanChargeId = pc.id,
      name = pc.name, type = pc.type, model = pc.model, billingPeriod = pc.billingPeriod, uom = pc.uom,
      billingTiming = pc.billingTiming, price = decimal.tostring(price), quantity = decimal.tostring(quantity),
      tiers = tiers and util.deep_copy(tiers) or nil,
      currency = currency, effectiveStartDate = start_date, effectiveEndDate = sub.subscriptionEndDate,
      segment = 1, version = 1,
    }
  end
  return rp
end

local function charge_json(c)
  return obj("id", c.id, "number", c.number, "originalChargeId", c.id, "productRatePlanChargeId",
    c.productRatePlanChargeId,
    "name", c.name, "type", c.type, "model", c.model, "uom", c.uom or json.null,
    "price", json.number(c.price), "quantity", json.number(c.quantity), "currency", c.currency,
    "billingPeriod", c.billingPeriod or json.null, "billingTiming", c.billingTiming,
    "effectiveStartDate", c.effectiveStartDate, "effectiveEndDate", c.effectiveEndDate or json.null,
    "chargedThroughDate", c.chargedThroughDate or json.null, "processedThroughDate", c.chargedThroughDate or json.null,
    "mrr", C.money(monthly(c)), "pricingSummary", c.currency .. c.price, "segment", c.segment, "done",
      c.removed == true)
end

function M.sub_json(s)
  local a = state.data.accounts[s.accountId]
  local owner = state.data.accounts[s.invoiceOwnerAccountId] or a
  local plans = arr()
  for _, rp in ipairs(s.ratePlans) do
    local charges = arr()
    for _, c in ipairs(rp.ratePlanCharges) do charges[#charges + 1] = charge_json(c) end
    plans[#plans + 1] = obj("id", rp.id, "productId", rp.productId, "productName", rp.productName,
      "productSku", rp.productSku, "productRatePlanId", rp.productRatePlanId, "ratePlanName", rp.ratePlanName,
      "lastChangeType", rp.lastChangeType, "ratePlanCharges", charges)
  end
  return C.with_custom(obj("id", s.id, "subscriptionNumber", s.subscriptionNumber, "version", s.version,
    "accountId", s.accountId, "accountNumber", a and a.accountNumber or json.null, "accountName",
      a and a.name or json.null,
    "invoiceOwnerAccountId", owner and owner.id or json.null,
    "invoiceOwnerAccountNumber", owner and owner.accountNumber or json.null,
    "status", s.status, "termType", s.termType, "initialTerm", s.initialTerm, "initialTermPeriodType",
      s.initialTermPeriodType,
    "currentTerm", s.currentTerm, "currentTermPeriodType", s.currentTermPeriodType,
    "renewalTerm", s.renewalTerm, "renewalTermPeriodType", s.renewalTermPeriodType, "autoRenew", s.autoRenew,
    "renewalSetting", s.renewalSetting, "contractEffectiveDate", s.contractEffectiveDate,
    "serviceActivationDate", s.serviceActivationDate, "customerAcceptanceDate", s.customerAcceptanceDate,
    "subscriptionStartDate", s.subscriptionStartDate, "subscriptionEndDate", s.subscriptionEndDate or json.null,
    "termStartDate", s.termStartDate, "termEndDate", s.termEndDate or json.null,
    "cancelledDate", s.cancelledDate or json.null, "orderNumber", s.orderNumber or json.null, "notes",
      s.notes or json.null,
    "contractedMrr", s.mrr, "totalContractedValue", s.tcv or json.null, "currency", s.currency,
    "ratePlans", plans), s)
end

local function tcv(s)
  if s.termType ~= "TERMED" then return json.null end
  local total = decimal.new("0")
  for _, rp in ipairs(s.ratePlans) do
    for _, c in ipairs(rp.ratePlanCharges) do
      if c.type == "Recurring" then
        local months = util.PERIOD_MONTHS[c.billingPeriod or "Month"] or 1
        local term_months = s.currentTermPeriodType == "Year" and s.currentTerm * 12 or s.currentTerm
        local periods = decimal.div(term_months, months, 6)
        total = decimal.add(total, decimal.mul(catalog.amount(c, c.quantity), periods))
      elseif c.type == "OneTime" then
        total = decimal.add(total, catalog.amount(c, c.quantity))
      end
    end
  end
  return C.money(decimal.round(total, 2))
end

--- Creates a subscription. `spec` is a createSubscription order action (terms,
-- subscribeToRatePlans, ...); `dates` the contract effective date and friends.
function M.create_subscription(account, spec, ced, order_number)
  local terms = type(spec.terms) == "table" and spec.terms or {}
  local initial = type(terms.initialTerm) == "table" and terms.initialTerm or {}
  local term_type = initial.termType or spec.termType or "TERMED"
  if term_type ~= "TERMED" and term_type ~= "EVERGREEN" then
    C.fail("invalid_value", "'termType' value should be one of: TERMED, EVERGREEN", 531003)
  end
  local start = initial.startDate and C.require_date(initial, "startDate", "subscription") or ced
  local period = json.tonumber(initial.period or spec.initialTerm or 12)
  local period_type = initial.periodType or spec.initialTermPeriodType or "Month"
  local renewal = type(terms.renewalTerms) == "table" and terms.renewalTerms[1] or {}
  local number = C.str(spec.subscriptionNumber)
  if number then
    for _, s in pairs(state.data.subscriptions) do
      if s.subscriptionNumber == number then C.fail("rule_restriction", "Subscription number " .. number
        .. " already exists.", "subscription") end
    end
  else
    number = string.format("A-S%08d", state.next("subscription"))
  end
  local owner = account
  if spec.invoiceOwnerAccountNumber then owner = C.account(spec.invoiceOwnerAccountNumber, "subscription") end
  local s = { id = state.new_id("subscription"), subscriptionNumber = number, version = 1, accountId = account.id,
    invoiceOwnerAccountId = owner.id, status = "Active", termType = term_type,
    initialTerm = term_type == "TERMED" and period or json.null, initialTermPeriodType = period_type,
    currentTerm = term_type == "TERMED" and period or json.null, currentTermPeriodType = period_type,
    renewalTerm = json.tonumber(renewal.period or spec.renewalTerm or period) or period,
    renewalTermPeriodType = renewal.periodType or period_type,
    autoRenew = (terms.autoRenew ~= nil and terms.autoRenew) or spec.autoRenew == true,
    renewalSetting = terms.renewalSetting or "RENEW_WITH_SPECIFIC_TERM",
    contractEffectiveDate = ced, serviceActivationDate = ced, customerAcceptanceDate = ced,
    subscriptionStartDate = start, termStartDate = start, orderNumber = order_number, notes = C.str(spec.notes),
    currency = account.currency, ratePlans = {}, createdDate = state.now_stamp() }
  if term_type == "TERMED" then
    s.termEndDate = util.add_term(start, period, period_type)
    s.subscriptionEndDate = s.termEndDate
  end
  C.custom_fields(s, spec)
  if type(spec.customFields) == "table" then C.custom_fields(s, spec.customFields) end
  local plans = spec.subscribeToRatePlans or spec.subscribeToProducts
  if type(plans) ~= "table" or #plans == 0 then
    C.fail("missing_field", "'subscribeToRatePlans' must list at least one rate plan", "subscription")
  end
  for _, p in ipairs(plans) do s.ratePlans[#s.ratePlans + 1] = make_rate_plan(s, p, start, account.currency) end
  refresh_mrr(s)
  s.tcv = tcv(s)
  return state.put("subscriptions", s)
end

local function end_charges(s, date)
  for _, rp in ipairs(s.ratePlans) do
    for _, c in ipairs(rp.ratePlanCharges) do
      if not c.effectiveEndDate or c.effectiveEndDate > date then c.effectiveEndDate = date end
    end
  end
end

function M.cancel(s, body)
  if s.status == "Cancelled" then C.fail("rule_restriction", "The subscription is already cancelled.",
    "subscription") end
  local policy = body.cancellationPolicy or "SpecificDate"
  local date
  if policy == "EndOfCurrentTerm" then
    date = s.termEndDate or C.fail("rule_restriction", "An evergreen subscription has no term end.", "subscription")
  elseif policy == "EndOfLastInvoicePeriod" then
    date = state.today()
    for _, rp in ipairs(s.ratePlans) do
      for _, c in ipairs(rp.ratePlanCharges) do
        if c.chargedThroughDate and c.chargedThroughDate > date then date = c.chargedThroughDate end
      end
    end
  elseif policy == "SpecificDate" then
    date = C.require_date(body, "cancellationEffectiveDate", "subscription")
  else
    C.fail("invalid_value", "'cancellationPolicy' must be EndOfCurrentTerm, EndOfLastInvoicePeriod or SpecificDate",
      "subscription")
  end
  local old_mrr = s.mrr
  s.status = "Cancelled"
  s.cancelledDate = date
  s.subscriptionEndDate = date
  s.termEndDate = date
  s.version = s.version + 1
  end_charges(s, date)
  return date, decimal.neg(old_mrr)
end

function M.renew(s)
  if s.termType ~= "TERMED" then C.fail("rule_restriction", "Only termed subscriptions can be renewed.",
    "subscription") end
  if s.status == "Cancelled" then C.fail("rule_restriction", "A cancelled subscription cannot be renewed.",
    "subscription") end
  s.termStartDate = s.termEndDate
  s.termEndDate = util.add_term(s.termStartDate, s.renewalTerm, s.renewalTermPeriodType)
  s.subscriptionEndDate = s.termEndDate
  s.currentTerm, s.currentTermPeriodType = s.renewalTerm, s.renewalTermPeriodType
  s.version = s.version + 1
  for _, rp in ipairs(s.ratePlans) do
    for _, c in ipairs(rp.ratePlanCharges) do
      if not c.removed then c.effectiveEndDate = s.termEndDate end
    end
  end
end

-- Orders ---------------------------------------------------------------------------------------

local function trigger_date(action, order_date)
  for _, t in ipairs(type(action.triggerDates) == "table" and action.triggerDates or {}) do
    if t.name == "ContractEffective" and t.triggerDate then return C.require_date(t, "triggerDate", "order") end
  end
  return order_date
end

local function find_rate_plan(s, id)
  for _, rp in ipairs(s.ratePlans) do
    if rp.id == id or (rp.productRatePlanId == id and rp.lastChangeType ~= "Remove") then return rp end
  end
  C.fail("invalid_value", "The subscription has no rate plan " .. tostring(id), "order")
end

local ACTIONS = {}

ACTIONS.CreateSubscription = function(ctx, action, sub_entry)
  local spec = action.createSubscription
  if type(spec) ~= "table" then C.fail("missing_field", "'createSubscription' is required", "order") end
  if sub_entry.subscriptionNumber and not spec.subscriptionNumber then
    spec.subscriptionNumber = sub_entry.subscriptionNumber
  end
  local s = M.create_subscription(ctx.account, spec, trigger_date(action, ctx.order_date), ctx.number)
  ctx.subs[#ctx.subs + 1] = s
  return s
end

local function existing(ctx, sub_entry)
  local s = sub_of(C.require(sub_entry, "subscriptionNumber", "order"))
  for _, x in ipairs(ctx.subs) do if x == s then return s end end
  ctx.subs[#ctx.subs + 1] = s
  return s
end

ACTIONS.AddProduct = function(ctx, action, sub_entry)
  local s = existing(ctx, sub_entry)
  local spec = action.addProduct
  if type(spec) ~= "table" then C.fail("missing_field", "'addProduct' is required", "order") end
  s.ratePlans[#s.ratePlans + 1] = make_rate_plan(s, spec, trigger_date(action, ctx.order_date), s.currency)
  s.version = s.version + 1
  return s
end

ACTIONS.RemoveProduct = function(ctx, action, sub_entry)
  local s = existing(ctx, sub_entry)
  local spec = action.removeProduct
  if type(spec) ~= "table" then C.fail("missing_field", "'removeProduct' is required", "order") end
  local rp = find_rate_plan(s, spec.ratePlanId or spec.productRatePlanId)
  local date = trigger_date(action, ctx.order_date)
  rp.lastChangeType = "Remove"
  for _, c in ipairs(rp.ratePlanCharges) do c.effectiveEndDate = date; c.removed = true end
  s.version = s.version + 1
  return s
end

-- ChangePlan: one rate plan replaced by another (upgrade, downgrade, cross-grade) on the trigger
-- date: the old plan's charges end there and the new plan's start.
ACTIONS.ChangePlan = function(ctx, action, sub_entry)
  local s = existing(ctx, sub_entry)
  local spec = action.changePlan
  if type(spec) ~= "table" then C.fail("missing_field", "'changePlan' is required", "order") end
  local rp = find_rate_plan(s, spec.ratePlanId or spec.productRatePlanId)
  local new = spec.newProductRatePlan
  if type(new) ~= "table" then C.fail("missing_field", "'changePlan.newProductRatePlan' is required", "order") end
  local date = trigger_date(action, ctx.order_date)
  rp.lastChangeType = "Remove"
  for _, c in ipairs(rp.ratePlanCharges) do c.effectiveEndDate = date; c.removed = true end
  local added = make_rate_plan(s, new, date, s.currency)
  s.ratePlans[#s.ratePlans + 1] = added
  s.version = s.version + 1
  return s
end

ACTIONS.UpdateProduct = function(ctx, action, sub_entry)
  local s = existing(ctx, sub_entry)
  local spec = action.updateProduct
  if type(spec) ~= "table" then C.fail("missing_field", "'updateProduct' is required", "order") end
  local rp = find_rate_plan(s, spec.ratePlanId or spec.productRatePlanId)
  rp.lastChangeType = "Update"
  for _, u in ipairs(type(spec.chargeUpdates) == "table" and spec.chargeUpdates or {}) do
    for _, c in ipairs(rp.ratePlanCharges) do
      if c.number == u.chargeNumber or c.productRatePlanChargeId == u.productRatePlanChargeId then
        local pricing = type(u.pricing) == "table" and u.pricing or {}
        for _, p in pairs(pricing) do
          if type(p) == "table" then
            if p.quantity ~= nil then c.quantity = decimal.tostring(C.amount(p.quantity, "quantity", "order")) end
            if p.listPrice ~= nil then c.price = decimal.tostring(C.amount(p.listPrice, "listPrice", "order")) end
          end
        end
      end
    end
  end
  s.version = s.version + 1
  return s
end

ACTIONS.CancelSubscription = function(ctx, action, sub_entry)
  local s = existing(ctx, sub_entry)
  local spec = type(action.cancelSubscription) == "table" and action.cancelSubscription or {}
  if spec.cancellationPolicy == "SpecificDate" and not spec.cancellationEffectiveDate then
    spec.cancellationEffectiveDate = trigger_date(action, ctx.order_date)
  end
  M.cancel(s, spec)
  return s
end

ACTIONS.RenewSubscription = function(ctx, _, sub_entry)
  local s = existing(ctx, sub_entry)
  M.renew(s)
  return s
end

ACTIONS.TermsAndConditions = function(ctx, action, sub_entry)
  local s = existing(ctx, sub_entry)
  local spec = type(action.termsAndConditions) == "table" and action.termsAndConditions or {}
  local terms = type(spec.lastTerm) == "table" and spec or (type(spec.terms) == "table" and spec.terms or spec)
  if terms.autoRenew ~= nil then s.autoRenew = terms.autoRenew == true end
  if terms.renewalSetting then s.renewalSetting = terms.renewalSetting end
  local rt = type(terms.renewalTerms) == "table" and terms.renewalTerms[1]
  if rt then
    s.renewalTerm = json.tonumber(rt.period) or s.renewalTerm
    s.renewalTermPeriodType = rt.periodType or s.renewalTermPeriodType
  end
  s.version = s.version + 1
  return s
end

-- An order action that moves a subscription from status `from` to `to` (a new version), refused
-- with `refusal` from any other status.
local function status_change(from, to, refusal)
  return function(ctx, _, sub_entry)
    local s = existing(ctx, sub_entry)
    if s.status ~= from then C.fail("rule_restriction", refusal, "subscription") end
    s.status = to
    s.version = s.version + 1
    return s
  end
end

ACTIONS.Suspend = status_change("Active", "Suspended", "Only active subscriptions can be suspended.")
ACTIONS.Resume = status_change("Suspended", "Active", "Only suspended subscriptions can be resumed.")

local function snapshot(list)
  local copies = {}
  for i, s in ipairs(list) do copies[i] = util.deep_copy(s) end
  return copies
end

--- Runs an order body. Returns the stored order and its response object (`version` picks the
-- subscription list shape). Everything is undone if any action fails.
function M.run_order(body, version, preview)
  local order_date = C.require_date(body, "orderDate", "order")
  local account
  local created_account
  if type(body.newAccount) == "table" then
    account = require("zuora_sim.api.accounts").create_record(body.newAccount)
    created_account = account
  elseif preview and type(body.previewAccountInfo) == "table"
    and body.existingAccountNumber == nil and body.existingAccountId == nil then
    -- A preview for someone who is not a customer yet: an account made of previewAccountInfo
    -- (currency and billCycleDay required, soldToContact optional) that lives only in the
    -- preview's copy of the tenant.
    local info = body.previewAccountInfo
    C.require(info, "currency", "order")
    C.require(info, "billCycleDay", "order")
    local sold = type(info.soldToContact) == "table" and info.soldToContact or nil
    account = require("zuora_sim.api.accounts").create_record({ name = "Preview Account", currency = info.currency,
      billCycleDay = info.billCycleDay, billToContact = sold, soldToContact = sold,
      customFields = info.customFields })
    created_account = account
  else
    account = C.account(body.existingAccountNumber or body.existingAccountId, "order")
  end
  local number = C.str(body.orderNumber) or string.format("O-%08d", state.next("order"))
  local ctx = { account = account, order_date = order_date, number = number, subs = {} }
  local before = snapshot(state.list("subscriptions", function(s) return s.accountId == account.id end))
  local ok, err = pcall(function()
    local entries = body.subscriptions
    if type(entries) ~= "table" or #entries == 0 then
      C.fail("missing_field", "'subscriptions' must list at least one subscription with orderActions", "order")
    end
    for _, entry in ipairs(entries) do
      for _, action in ipairs(type(entry.orderActions) == "table" and entry.orderActions or {}) do
        local f = ACTIONS[action.type or ""]
        if not f then C.fail("invalid_value", "Unsupported order action type: " .. tostring(action.type), "order") end
        local s = f(ctx, action, entry)
        refresh_mrr(s)
        s.tcv = tcv(s)
      end
    end
  end)
  if not ok then
    -- Undo: drop created subscriptions and restore changed ones.
    for _, s in ipairs(ctx.subs) do
      if s.orderNumber == number then state.remove("subscriptions", s.id) end
    end
    for _, s in ipairs(before) do state.data.subscriptions[s.id] = s end
    if created_account then state.remove("accounts", created_account.id) end
    error(err, 0)
  end
  local order = { id = state.new_id("order"), orderNumber = number, orderDate = order_date,
    accountId = account.id, accountNumber = account.accountNumber, status = "Completed",
    description = C.str(body.description), createdDate = state.now_stamp(), subscriptionNumbers = {},
    actions = body.subscriptions }
  for _, s in ipairs(ctx.subs) do order.subscriptionNumbers[#order.subscriptionNumbers + 1] = s.subscriptionNumber end
  C.custom_fields(order, body)
  state.put("orders", order)

  local resp = obj("orderNumber", number, "accountNumber", account.accountNumber, "accountId", account.id,
    "status", order.status)
  if version >= 223 then
    local list = arr()
    for _, s in ipairs(ctx.subs) do
      list[#list + 1] = obj("subscriptionNumber", s.subscriptionNumber, "subscriptionId", s.id, "status", s.status)
    end
    resp.subscriptions = list
  else
    resp.subscriptionNumbers = arr(util.shallow_copy(order.subscriptionNumbers))
  end
  local po = type(body.processingOptions) == "table" and body.processingOptions or {}
  if po.runBilling == true then
    local billing = require "zuora_sim.api.billing"
    local bo = type(po.billingOptions) == "table" and po.billingOptions or {}
    local target = bo.targetDate and C.require_date(bo, "targetDate", "order") or order_date
    local invoice = billing.bill_account(account, target, { autoPost = true, subscriptions = ctx.subs })
    resp.invoiceNumbers = arr()
    resp.invoiceIds = arr()
    if invoice then
      resp.invoiceNumbers[1] = invoice.invoiceNumber
      resp.invoiceIds[1] = invoice.id
      if po.collectPayment == true and decimal.cmp(invoice.balance, "0") > 0 then
        local p = require("zuora_sim.api.payments").collect(account, { invoice })
        resp.paymentNumber = p.number
        resp.paymentId = p.id
        resp.paidAmount = p.amount
      end
    end
  end
  return order, C.ok(resp)
end

-- Per-charge figures of a subscription charge: monthly recurring revenue and total contract value
-- over the subscription's current term (recurring: amount x periods in the term; one-time: once).
local function charge_figures(s, c)
  if c.removed then return decimal.new("0"), decimal.new("0") end
  local mrr = monthly(c)
  local value = decimal.new("0")
  if c.type == "Recurring" and s.termType == "TERMED" then
    local months = util.PERIOD_MONTHS[c.billingPeriod or "Month"] or 1
    local term_months = s.currentTermPeriodType == "Year" and s.currentTerm * 12 or s.currentTerm
    value = decimal.mul(catalog.amount(c, c.quantity), decimal.div(term_months, months, 6))
  elseif c.type == "OneTime" then
    value = catalog.amount(c, c.quantity)
  end
  return mrr, decimal.round(value, 2)
end

local function figures_by_charge(subs)
  local out = {}
  for _, s in ipairs(subs) do
    for _, rp in ipairs(s.ratePlans) do
      for _, c in ipairs(rp.ratePlanCharges) do
        local mrr, tcv_ = charge_figures(s, c)
        out[c.id] = { mrr = mrr, tcv = tcv_ }
      end
    end
  end
  return out
end

-- The date through which a preview bills: previewThruType SpecificDate (specificPreviewThruDate),
-- TermEnd (the day before the first subscription's term end), NumberOfPeriods (the start of the
-- n-th billing period of the first recurring charge, so n periods are billed in advance), or
-- the order date.
local function preview_target(po, order_date, subs)
  local thru = po.previewThruType
  if po.specificPreviewThruDate and (thru == nil or thru == "SpecificDate") then
    return C.require_date(po, "specificPreviewThruDate", "order")
  elseif thru == "SpecificDate" then
    C.require(po, "specificPreviewThruDate", "order")
  elseif thru == "TermEnd" then
    for _, s in ipairs(subs) do
      if s.termType ~= "TERMED" then
        C.fail("invalid_value", "The 'TermEnd' preview is invalid for an evergreen subscription.", "order")
      end
    end
    if subs[1] and subs[1].termEndDate then return util.add_days(subs[1].termEndDate, -1) end
  elseif thru == "NumberOfPeriods" then
    local n = json.tonumber(po.previewNumberOfPeriods)
    if not n or n < 1 or n % 1 ~= 0 then
      C.fail("invalid_value", "'previewNumberOfPeriods' must be a positive integer with NumberOfPeriods", "order")
    end
    local first
    for _, s in ipairs(subs) do
      for _, rp in ipairs(s.ratePlans) do
        for _, c in ipairs(rp.ratePlanCharges) do
          if not first and c.type == "Recurring" and not c.removed then first = c end
        end
      end
    end
    if not first then return order_date end
    local d = first.chargedThroughDate or first.effectiveStartDate
    local anchor = tonumber(first.effectiveStartDate:sub(9, 10))
    for _ = 2, n do d = util.period_end(d, first.billingPeriod or "Month", anchor) end
    return d
  elseif thru ~= nil then
    C.fail("invalid_value", "'previewThruType' must be SpecificDate, TermEnd or NumberOfPeriods", "order")
  end
  return order_date
end

local PREVIEW_TYPES = { BillingDocs = true, ChargeMetrics = true, OrderDeltaMetrics = true, OrderMetrics = true,
  RampMetrics = true }

--- Previews an order: runs it on a copy of the tenant (with previewAccountInfo, for an account that
-- does not exist yet), bills the subscriptions it touched through the preview date
-- (preview_target) and throws the copy away. previewTypes picks the parts of previewResult:
-- BillingDocs (invoices), ChargeMetrics (cmrr/tcv/tcb/tax per charge), OrderDeltaMetrics
-- (orderDeltaMrr/Tcv/Tcb per changed charge); without previewTypes, invoices and chargeMetrics.
function M.preview(body, version)
  local po = type(body.previewOptions) == "table" and body.previewOptions or {}
  local types = {}
  if type(po.previewTypes) == "table" and #po.previewTypes > 0 then
    for _, t in ipairs(po.previewTypes) do
      if not PREVIEW_TYPES[t] then
        C.fail("invalid_value", "Invalid previewTypes value: " .. tostring(t), "order")
      end
      types[t] = true
    end
  else
    types.BillingDocs, types.ChargeMetrics = true, true
  end
  local saved = { data = state.data, order = state.order, seq = state.seq, id_seq = state.id_seq }
  state.data, state.order, state.seq = util.deep_copy(state.data), util.deep_copy(state.order),
    util.deep_copy(state.seq)
  local ok, result = pcall(function()
    local touched = {}
    for _, entry in ipairs(type(body.subscriptions) == "table" and body.subscriptions or {}) do
      if type(entry) == "table" and entry.subscriptionNumber then
        local okf, sub = pcall(sub_of, entry.subscriptionNumber)
        if okf then touched[#touched + 1] = sub end
      end
    end
    local before = figures_by_charge(touched)
    local order = M.run_order(body, version, true)
    local account = state.data.accounts[order.accountId]
    local subs = {}
    for _, number in ipairs(order.subscriptionNumbers) do subs[#subs + 1] = sub_of(number) end
    local target = preview_target(po, order.orderDate, subs)
    local result = obj()
    if types.BillingDocs then
      local billing = require("zuora_sim.api.billing")
      local _, items = billing.bill_account(account, target, { preview = true, subscriptions = subs })
      local total, list = decimal.new("0"), arr()
      for _, it in ipairs(items) do
        total = decimal.add(total, it.chargeAmount)
        list[#list + 1] = obj("subscriptionNumber", it.subscriptionNumber, "chargeNumber", it.chargeNumber,
          "chargeName", it.chargeName, "chargeDescription", "", "productName", it.productName,
          "productRatePlanChargeId", it.productRatePlanChargeId or json.null,
          "serviceStartDate", it.serviceStartDate, "serviceEndDate", it.serviceEndDate,
          "quantity", json.number(decimal.tostring(it.quantity)), "unitPrice", json.number(it.unitPrice),
          "additionalInfo", obj("quantity", json.number(decimal.tostring(it.quantity)),
            "unitOfMeasure", it.uom or ""),
          "amountWithoutTax", C.money(it.chargeAmount), "taxAmount", C.zero, "processingType", it.processingType)
      end
      local invoices = arr()
      if #list > 0 then
        invoices[1] = obj("amount", C.money(total), "amountWithoutTax", C.money(total), "taxAmount", C.zero,
          "targetDate", target, "invoiceItems", list)
      end
      result.invoices = invoices
    end
    local after = figures_by_charge(subs)
    local function pair(now, was)
      return obj("regular", C.money(now), "regularDelta", C.money(decimal.sub(now, was)),
        "discount", C.zero, "discountDelta", C.zero)
    end
    if types.ChargeMetrics then
      local metrics = arr()
      for _, s in ipairs(subs) do
        local charges = arr()
        for _, rp in ipairs(s.ratePlans) do
          for _, c in ipairs(rp.ratePlanCharges) do
            local now, was = after[c.id], before[c.id] or { mrr = decimal.new("0"), tcv = decimal.new("0") }
            charges[#charges + 1] = obj("chargeNumber", c.number, "productRatePlanChargeId",
              c.productRatePlanChargeId, "productRatePlanId", rp.productRatePlanId, "originRatePlanId", rp.id,
              "cmrr", pair(now.mrr, was.mrr), "tcv", pair(now.tcv, was.tcv), "tcb", pair(now.tcv, was.tcv),
              "tax", pair(decimal.new("0"), decimal.new("0")))
          end
        end
        metrics[#metrics + 1] = obj("subscriptionNumber", s.subscriptionNumber, "charges", charges)
      end
      result.chargeMetrics = metrics
    end
    if types.OrderDeltaMetrics then
      local mrr, tcv_, tcb = arr(), arr(), arr()
      for _, s in ipairs(subs) do
        for _, rp in ipairs(s.ratePlans) do
          for _, c in ipairs(rp.ratePlanCharges) do
            local now, was = after[c.id], before[c.id] or { mrr = decimal.new("0"), tcv = decimal.new("0") }
            local function metric(delta)
              return obj("subscriptionNumber", s.subscriptionNumber, "chargeNumber", c.number,
                "productRatePlanChargeId", c.productRatePlanChargeId, "ratePlanChargeId", c.id,
                "orderActionType", rp.lastChangeType == "Remove" and "RemoveProduct"
                  or (before[c.id] and "UpdateProduct" or "CreateSubscription"),
                "startDate", c.effectiveStartDate, "endDate", c.effectiveEndDate or json.null,
                "currency", c.currency, "grossAmount", C.money(delta), "netAmount", C.money(delta))
            end
            local dm, dt = decimal.sub(now.mrr, was.mrr), decimal.sub(now.tcv, was.tcv)
            if decimal.cmp(dm, "0") ~= 0 then mrr[#mrr + 1] = metric(dm) end
            if decimal.cmp(dt, "0") ~= 0 then
              tcv_[#tcv_ + 1] = metric(dt)
              tcb[#tcb + 1] = metric(dt)
            end
          end
        end
      end
      result.orderDeltaMetrics = obj("orderDeltaMrr", mrr, "orderDeltaTcv", tcv_, "orderDeltaTcb", tcb)
    end
    return C.ok(obj("previewResult", result))
  end)
  state.data, state.order, state.seq, state.id_seq = saved.data, saved.order, saved.seq, saved.id_seq
  if not ok then error(result, 0) end
  return result
end

function M.order_json(o)
  local subs = arr()
  for _, n in ipairs(o.subscriptionNumbers) do subs[#subs + 1] = obj("subscriptionNumber", n) end
  return C.with_custom(obj("orderNumber", o.orderNumber, "orderDate", o.orderDate, "status", o.status,
    "existingAccountNumber", o.accountNumber, "description", o.description or json.null,
    "createdDate", o.createdDate, "subscriptions", subs), o)
end

local function list_orders(req, pred)
  local items = {}
  for _, o in ipairs(state.list("orders", pred)) do items[#items + 1] = M.order_json(o) end
  local page, next_url = C.page(req, items)
  return 200, C.ok(obj("orders", page, "nextPage", next_url))
end

local function order_of(key)
  return C.find("orders", key, { "orderNumber" }, "order")
end

function M.register(r)
  r.add("POST", "/v1/orders", function(req)
    local _, resp = M.run_order(req:json_body(), req:version_number())
    return 200, resp
  end)
  r.add("POST", "/v1/orders/preview", function(req) return 200, M.preview(req:json_body(), req:version_number()) end)
  r.add("POST", "/v1/async/orders", function(req)
    local body = req:json_body()
    local version = req:version_number()
    local job = { id = state.new_id("async_job"), kind = "order", polls = 0, status = "Pending",
      createdDate = state.now_stamp() }
    local ok, order_or_err, resp = pcall(M.run_order, body, version)
    if ok then job.result = resp; job.order = order_or_err
    else
      if type(order_or_err) ~= "table" or not order_or_err.sim_error then error(order_or_err, 0) end
      job.error = order_or_err.message
    end
    state.put("async_jobs", job)
    return 202, C.ok(obj("jobId", job.id))
  end)
  r.add("GET", "/v1/async-jobs/{jobId}", function(req)
    local job = C.find("async_jobs", req.params.jobId, nil, "order")
    job.polls = job.polls + 1
    if job.polls >= state.config.job_polls then
      job.status = job.error and "Failed" or "Completed"
    else
      job.status = "Processing"
    end
    local result = json.null
    if job.status == "Completed" then result = job.result end
    return 200, C.ok(obj("status", job.status, "result", result,
      "errors", job.status == "Failed" and job.error or json.null))
  end)
  r.add("GET", "/v1/orders", function(req) return list_orders(req) end)
  r.add("GET", "/v1/orders/{orderNumber}", function(req)
    return 200, C.ok(obj("order", M.order_json(order_of(req.params.orderNumber))))
  end)
  r.add("DELETE", "/v1/orders/{orderNumber}", function(req)
    local o = order_of(req.params.orderNumber)
    state.remove("orders", o.orderNumber == o.id and o.id or o.id)
    return 200, C.ok()
  end)
  r.add("GET", "/v1/orders/subscriptionOwner/{accountNumber}", function(req)
    local a = C.account(req.params.accountNumber, "order")
    return list_orders(req, function(o) return o.accountId == a.id end)
  end)
  r.add("GET", "/v1/orders/subscription/{subscriptionNumber}", function(req)
    local n = req.params.subscriptionNumber
    return list_orders(req, function(o)
      for _, x in ipairs(o.subscriptionNumbers) do if x == n then return true end end
      return false
    end)
  end)

  r.add("POST", "/v1/subscriptions", function(req)
    local body = req:json_body()
    local a = C.account(body.accountKey, "subscription")
    local ced = C.require_date(body, "contractEffectiveDate", "subscription")
    local s = M.create_subscription(a, {
      termType = body.termType, initialTerm = body.initialTerm, renewalTerm = body.renewalTerm,
      autoRenew = body.autoRenew, subscribeToRatePlans = body.subscribeToRatePlans, notes = body.notes,
      subscriptionNumber = body.subscriptionNumber,
      terms = { initialTerm = { termType = body.termType, period = body.initialTerm,
        periodType = body.initialTermPeriodType or "Month", startDate = body.termStartDate } },
    }, ced)
    return 200, C.ok(obj("subscriptionId", s.id, "subscriptionNumber", s.subscriptionNumber,
      "contractedMrr", s.mrr, "totalContractedValue", s.tcv))
  end)
  r.add("GET", "/v1/subscriptions/{subscription-key}", function(req)
    return 200, C.ok(M.sub_json(sub_of(req.params["subscription-key"])))
  end)
  r.add("GET", "/v1/subscriptions/accounts/{account-key}", function(req)
    local a = C.account(req.params["account-key"], "subscription")
    local items = {}
    for _, s in ipairs(state.list("subscriptions", function(s) return s.accountId == a.id end)) do
      items[#items + 1] = M.sub_json(s)
    end
    local page, next_url = C.page(req, items)
    return 200, C.ok(obj("subscriptions", page, "nextPage", next_url))
  end)
  r.add("PUT", "/v1/subscriptions/{subscription-key}", function(req)
    local s = sub_of(req.params["subscription-key"])
    local body = req:json_body()
    if body.notes ~= nil then s.notes = C.str(body.notes) end
    if body.autoRenew ~= nil then s.autoRenew = body.autoRenew == true end
    C.custom_fields(s, body)
    s.version = s.version + 1
    return 200, C.ok(obj("subscriptionId", s.id))
  end)
  r.add("PUT", "/v1/subscriptions/{subscription-key}/cancel", function(req)
    local s = sub_of(req.params["subscription-key"])
    local date, delta = M.cancel(s, req:json_body())
    return 200, C.ok(obj("subscriptionId", s.id, "cancelledDate", date, "totalDeltaMrr", C.money(delta),
      "totalDeltaTcv", C.zero))
  end)
  r.add("PUT", "/v1/subscriptions/{subscription-key}/renew", function(req)
    local s = sub_of(req.params["subscription-key"])
    M.renew(s)
    s.tcv = tcv(s)
    return 200, C.ok(obj("subscriptionId", s.id, "termStartDate", s.termStartDate, "termEndDate", s.termEndDate,
      "totalDeltaMrr", C.zero, "totalDeltaTcv", s.tcv))
  end)
  r.add("PUT", "/v1/subscriptions/{subscription-key}/suspend", function(req)
    local s = sub_of(req.params["subscription-key"])
    ACTIONS.Suspend({ subs = { s } }, {}, { subscriptionNumber = s.subscriptionNumber })
    return 200, C.ok(obj("subscriptionId", s.id, "suspendDate", state.today()))
  end)
  r.add("PUT", "/v1/subscriptions/{subscription-key}/resume", function(req)
    local s = sub_of(req.params["subscription-key"])
    ACTIONS.Resume({ subs = { s } }, {}, { subscriptionNumber = s.subscriptionNumber })
    return 200, C.ok(obj("subscriptionId", s.id, "resumeDate", state.today()))
  end)
end

return M
