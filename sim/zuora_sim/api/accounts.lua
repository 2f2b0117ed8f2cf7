--- Accounts, contacts and payment methods.
local state = require "zuora_sim.state"
local json = require "zuora_sim.json"
local ledger = require "zuora_sim.ledger"
local C = require "zuora_sim.api.common"

local M = {}
local obj, arr, money = json.object, json.array, C.money

-- Contacts --------------------------------------------------------------------------------------

local CONTACT_FIELDS = { "firstName", "lastName", "nickname", "address1", "address2", "city", "county", "state",
  "zipCode", "country", "workEmail", "personalEmail", "workPhone", "homePhone", "mobilePhone", "otherPhone",
  "otherPhoneType", "fax", "taxRegion", "description" }

function M.create_contact(account_id, src)
  if type(src) ~= "table" then C.fail("missing_field", "a contact is required", "contact") end
  C.require(src, "firstName", "contact")
  C.require(src, "lastName", "contact")
  local c = { id = state.new_id("contact"), accountId = account_id, createdDate = state.now_stamp() }
  for _, f in ipairs(CONTACT_FIELDS) do
    if type(src[f]) == "string" then c[f] = src[f] end
  end
  C.custom_fields(c, src)
  c.updatedDate = c.createdDate
  return state.put("contacts", c)
end

function M.contact_json(c)
  if not c then return json.null end
  local o = obj("id", c.id, "accountId", c.accountId)
  for _, f in ipairs(CONTACT_FIELDS) do o[f] = c[f] or json.null end
  C.with_custom(o, c)
  return o
end

local function update_contact(c, src)
  for _, f in ipairs(CONTACT_FIELDS) do
    if src[f] ~= nil then c[f] = src[f] ~= json.null and src[f] or nil end
  end
  C.custom_fields(c, src)
  c.updatedDate = state.now_stamp()
end

-- Payment methods ------------------------------------------------------------------------------

-- Test cards: any Luhn-valid number is accepted; 4000000000000002 is declined on payment.
M.DECLINED_CARD = "4000000000000002"
local PM_TYPES = { CreditCard = true, ACH = true, BankTransfer = true, PayPal = true, Check = true,
  CreditCardReferenceTransaction = true, ApplePay = true, GooglePay = true }

local function luhn(number)
  local sum, alt = 0, false
  for i = #number, 1, -1 do
    local d = number:byte(i) - 48
    if alt then d = d * 2; if d > 9 then d = d - 9 end end
    sum, alt = sum + d, not alt
  end
  return sum % 10 == 0
end

function M.create_payment_method(account, src)
  if type(src) ~= "table" then C.fail("missing_field", "a payment method is required", "payment_method") end
  local pmtype = src.type or "CreditCard"
  if not PM_TYPES[pmtype] then
    C.fail("invalid_value", "'type' must be one of CreditCard, ACH, BankTransfer, PayPal, ...", "payment_method")
  end
  local pm = { id = state.new_id("payment_method"), accountId = account and account.id, type = pmtype,
    status = "Active", createdDate = state.now_stamp(), isDefault = false }
  if pmtype == "CreditCard" then
    local number = tostring(C.require(src, "cardNumber", "payment_method")):gsub("[%s-]", "")
    if not number:match("^%d+$") or #number < 12 or #number > 19 or not luhn(number) then
      C.fail("invalid_value", "Invalid credit card number.", "payment_method")
    end
    local month = json.tonumber(C.require(src, "expirationMonth", "payment_method"))
    local year = json.tonumber(C.require(src, "expirationYear", "payment_method"))
    if not month or month < 1 or month > 12 or not year then
      C.fail("invalid_value", "Invalid card expiration date.", "payment_method")
    end
    local holder = type(src.cardHolderInfo) == "table" and src.cardHolderInfo or {}
    pm.cardType = src.cardType or "Visa"
    pm.cardNumber = C.mask(number)
    pm.expirationMonth, pm.expirationYear = month, year
    pm.cardHolderName = holder.cardHolderName or src.cardHolderName
    pm.declines = number == M.DECLINED_CARD
  elseif pmtype == "ACH" then
    pm.bankABACode = src.bankABACode
    pm.bankAccountNumber = C.mask(src.bankAccountNumber)
    pm.bankAccountName = src.bankAccountName
    pm.bankAccountType = src.bankAccountType
  end
  C.custom_fields(pm, src)
  state.put("payment_methods", pm)
  if account and (src.makeDefault == true or not account.defaultPaymentMethodId) then
    M.set_default_pm(account, pm)
  end
  return pm
end

function M.set_default_pm(account, pm)
  for _, other in ipairs(state.list("payment_methods", function(p) return p.accountId == account.id end)) do
    other.isDefault = false
  end
  pm.isDefault = true
  account.defaultPaymentMethodId = pm.id
end

function M.pm_json(pm)
  local o = obj("id", pm.id, "accountKey", pm.accountId, "type", pm.type, "status", pm.status,
    "isDefault", pm.isDefault, "createdDate", pm.createdDate)
  if pm.type == "CreditCard" then
    o.cardNumber = pm.cardNumber
    o.cardType = pm.cardType
    o.expirationMonth = pm.expirationMonth
    o.expirationYear = pm.expirationYear
    o.cardHolderInfo = obj("cardHolderName", pm.cardHolderName or json.null)
  elseif pm.type == "ACH" then
    o.bankABACode = pm.bankABACode
    o.bankAccountNumber = pm.bankAccountNumber
    o.bankAccountName = pm.bankAccountName
    o.bankAccountType = pm.bankAccountType
  end
  return C.with_custom(o, pm)
end

-- Accounts -------------------------------------------------------------------------------------

--- Creates an account from a POST /v1/accounts-style body (also used by orders and the seeder).
function M.create_record(body)
  local name = C.require(body, "name", "account")
  local currency = C.require(body, "currency", "account")
  if type(currency) ~= "string" or not currency:match("^%u%u%u$") then
    C.fail("invalid_value", "'currency' must be an ISO currency code", "account")
  end
  local bcd = json.tonumber(body.billCycleDay or 1)
  if not bcd or bcd < 0 or bcd > 31 or bcd % 1 ~= 0 then
    C.fail("invalid_value", "'billCycleDay' must be between 1 and 31", "account")
  end
  local number = C.str(body.accountNumber)
  if number then
    for _, a in pairs(state.data.accounts) do
      if a.accountNumber == number then C.fail("rule_restriction", "The account number " .. number
        .. " is invalid or already in use.", "account") end
    end
  else
    number = string.format("A%08d", state.next("account"))
  end
  local now = state.now_stamp()
  local a = { id = state.new_id("account"), accountNumber = number, name = name, currency = currency,
    billCycleDay = bcd, status = "Active", autoPay = body.autoPay == true,
    paymentTerm = body.paymentTerm or "Due Upon Receipt", batch = body.batch or "Batch1",
    notes = C.str(body.notes), crmId = C.str(body.crmId),
      invoiceDeliveryPrefsEmail = body.invoiceDeliveryPrefsEmail == true,
    invoiceDeliveryPrefsPrint = body.invoiceDeliveryPrefsPrint == true,
    additionalEmailAddresses = body.additionalEmailAddresses, createdDate = now, updatedDate = now }
  C.custom_fields(a, body)
  if type(body.customFields) == "table" then C.custom_fields(a, body.customFields) end
  -- Contacts: billToContact is required unless the seeder makes one up.
  local bill_src = body.billToContact
  if bill_src == nil and body._seed then bill_src = { firstName = "Seed", lastName = name } end
  if bill_src == nil then bill_src = { firstName = "Billing", lastName = name } end
  local pm_src = body.paymentMethod or body.creditCard
  if pm_src ~= nil and type(pm_src) ~= "table" then C.fail("invalid_value", "'paymentMethod' must be an object",
    "account") end
  -- Validate everything before storing anything, so a failed create leaves no trace.
  local bill = M.create_contact(a.id, bill_src)
  local sold = bill
  if type(body.soldToContact) == "table" then
    local ok, res = pcall(M.create_contact, a.id, body.soldToContact)
    if not ok then state.remove("contacts", bill.id); error(res, 0) end
    sold = res
  end
  a.billToContactId, a.soldToContactId = bill.id, sold.id
  state.put("accounts", a)
  if pm_src then
    if body.creditCard and not pm_src.type then pm_src.type = "CreditCard" end
    local ok, res = pcall(M.create_payment_method, a, pm_src)
    if not ok then
      state.remove("accounts", a.id)
      state.remove("contacts", bill.id)
      state.remove("contacts", sold.id)
      error(res, 0)
    end
  end
  require("zuora_sim.callouts").safe_fire("AccountCreated", { Account = a }, a.id)
  return a
end

local function basic_info(a)
  return C.with_custom(obj("id", a.id, "accountNumber", a.accountNumber, "name", a.name, "status", a.status,
    "batch", a.batch, "crmId", a.crmId or json.null, "notes", a.notes or json.null,
    "invoiceTemplateId", json.null, "communicationProfileId", json.null), a)
end

local function account_get(req)
  local a = C.account(req.params["account-key"])
  local f = ledger.figures(a)
  local pm = a.defaultPaymentMethodId and state.data.payment_methods[a.defaultPaymentMethodId]
  return 200, C.ok(obj(
    "basicInfo", basic_info(a),
    "billingAndPayment", obj("billCycleDay", a.billCycleDay, "currency", a.currency, "paymentTerm", a.paymentTerm,
      "paymentGateway", "Sim Test Gateway", "invoiceDeliveryPrefsEmail", a.invoiceDeliveryPrefsEmail,
      "invoiceDeliveryPrefsPrint", a.invoiceDeliveryPrefsPrint, "autoPay", a.autoPay,
      "defaultPaymentMethodId", pm and pm.id or json.null,
      "additionalEmailAddresses", a.additionalEmailAddresses or arr()),
    "metrics", obj("balance", money(f.balance), "totalInvoiceBalance", money(f.totalInvoiceBalance),
      "creditBalance", money(f.creditBalance), "unappliedCreditMemoAmount", money(f.unappliedCreditMemoAmount),
      "unappliedPaymentAmount", money(f.unappliedPaymentAmount),
      "totalDebitMemoBalance", money(f.totalDebitMemoBalance),
      "contractedMrr", money(ledger.mrr(a.id)), "currency", a.currency),
    "billToContact", M.contact_json(state.data.contacts[a.billToContactId]),
    "soldToContact", M.contact_json(state.data.contacts[a.soldToContactId])))
end

local function account_create(req)
  local body = req:json_body()
  local a = M.create_record(body)
  return 200, C.ok(obj("accountId", a.id, "accountNumber", a.accountNumber, "billToContactId", a.billToContactId,
    "soldToContactId", a.soldToContactId, "paymentMethodId", a.defaultPaymentMethodId))
end

local UPDATABLE = { "name", "notes", "crmId", "batch", "paymentTerm", "autoPay", "billCycleDay",
  "invoiceDeliveryPrefsEmail", "invoiceDeliveryPrefsPrint", "additionalEmailAddresses", "status" }

local function account_update(req)
  local a = C.account(req.params["account-key"])
  local body = req:json_body()
  if body.billCycleDay ~= nil then
    local bcd = json.tonumber(body.billCycleDay)
    if not bcd or bcd < 1 or bcd > 31 then C.fail("invalid_value", "'billCycleDay' must be between 1 and 31",
      "account") end
    body.billCycleDay = bcd
  end
  if body.name == "" or body.name == json.null then C.fail("invalid_value", "'name' cannot be empty", "account") end
  for _, f in ipairs(UPDATABLE) do
    if body[f] ~= nil then a[f] = body[f] ~= json.null and body[f] or nil end
  end
  if type(body.billToContact) == "table" then update_contact(state.data.contacts[a.billToContactId],
    body.billToContact) end
  if type(body.soldToContact) == "table" then
    if a.soldToContactId == a.billToContactId then
      local c = M.create_contact(a.id, body.soldToContact)
      a.soldToContactId = c.id
    else
      update_contact(state.data.contacts[a.soldToContactId], body.soldToContact)
    end
  end
  if type(body.defaultPaymentMethodId) == "string" then
    local pm = state.data.payment_methods[body.defaultPaymentMethodId]
    if not pm or pm.accountId ~= a.id then C.fail("invalid_value", "Invalid payment method id.", "account") end
    M.set_default_pm(a, pm)
  end
  C.custom_fields(a, body)
  a.updatedDate = state.now_stamp()
  return 200, C.ok()
end

local function account_delete(req)
  local a = C.account(req.params["account-key"])
  state.remove("accounts", a.id)
  return 200, C.ok(obj("id", a.id, "jobId", state.new_id("job"), "jobStatus", "Pending"))
end

local function summary(req)
  local a = C.account(req.params["account-key"])
  local f = ledger.figures(a)
  local pm = a.defaultPaymentMethodId and state.data.payment_methods[a.defaultPaymentMethodId]
  local info = basic_info(a)
  info.balance = money(f.balance)
  info.currency = a.currency
  info.billCycleDay = a.billCycleDay
  info.autoPay = a.autoPay
  info.lastInvoiceDate = f.lastInvoiceDate or json.null
  info.lastPaymentAmount = f.lastPayment and f.lastPayment.amount or json.null
  info.lastPaymentDate = f.lastPayment and f.lastPayment.effectiveDate or json.null
  info.defaultPaymentMethod = pm and obj("id", pm.id, "paymentMethodType", pm.type,
    "creditCardNumber", pm.cardNumber, "creditCardType", pm.cardType,
    "creditCardExpirationMonth", pm.expirationMonth, "creditCardExpirationYear", pm.expirationYear) or json.null
  local subs, invoices, payments = arr(), arr(), arr()
  for _, s in ipairs(state.list("subscriptions", function(s) return s.accountId == a.id end)) do
    local plans = arr()
    for _, rp in ipairs(s.ratePlans) do plans[#plans + 1] = obj("productName", rp.productName, "ratePlanName",
      rp.ratePlanName) end
    subs[#subs + 1] = obj("id", s.id, "subscriptionNumber", s.subscriptionNumber, "status", s.status,
      "termType", s.termType, "termStartDate", s.termStartDate, "termEndDate", s.termEndDate or json.null,
      "subscriptionStartDate", s.subscriptionStartDate, "subscriptionEndDate", s.subscriptionEndDate or json.null,
      "autoRenew", s.autoRenew, "initialTerm", s.initialTerm, "renewalTerm", s.renewalTerm, "ratePlans", plans)
  end
  for _, inv in ipairs(ledger.invoices_of(a.id)) do
    invoices[#invoices + 1] = obj("id", inv.id, "invoiceNumber", inv.invoiceNumber, "invoiceDate", inv.invoiceDate,
      "dueDate", inv.dueDate, "amount", inv.amount, "balance", inv.balance, "status", inv.status)
  end
  for _, p in ipairs(ledger.payments_of(a.id)) do
    local paid = arr()
    for _, ap in ipairs(p.applied) do
      local inv = ap.invoiceId and state.data.invoices[ap.invoiceId]
      if inv then
        paid[#paid + 1] = obj("invoiceId", ap.invoiceId, "invoiceNumber", inv.invoiceNumber,
          "appliedPaymentAmount", ap.amount)
      end
    end
    payments[#payments + 1] = obj("id", p.id, "paymentNumber", p.number, "paymentType", p.type,
      "effectiveDate", p.effectiveDate, "status", p.status, "amount", p.amount, "paidInvoices", paid)
  end
  return 200, C.ok(obj("basicInfo", info,
    "billToContact", M.contact_json(state.data.contacts[a.billToContactId]),
    "soldToContact", M.contact_json(state.data.contacts[a.soldToContactId]),
    "subscriptions", subs, "invoices", invoices, "payments", payments, "usage", arr()))
end

local function account_pms(req)
  local a = C.account(req.params["account-key"])
  local cards, others = arr(), arr()
  for _, pm in ipairs(state.list("payment_methods", function(p) return p.accountId == a.id end)) do
    if pm.type == "CreditCard" then cards[#cards + 1] = M.pm_json(pm) else others[#others + 1] = M.pm_json(pm) end
  end
  return 200, C.ok(obj("defaultPaymentMethodId", a.defaultPaymentMethodId or json.null,
    "returnedPaymentMethodTypes", arr{ "CreditCard", "Other" }, "creditcard", cards, "other", others))
end

local function account_default_pm(req)
  local a = C.account(req.params["account-key"])
  local pm = a.defaultPaymentMethodId and state.data.payment_methods[a.defaultPaymentMethodId]
  if not pm then C.fail("not_found", "The account has no default payment method.", "payment_method") end
  return 200, C.ok(M.pm_json(pm))
end

-- Contact and payment-method endpoints ----------------------------------------------------------

local function contact_create(req)
  local body = req:json_body()
  local a = C.account(body.accountId or body.accountNumber, "contact")
  local c = M.create_contact(a.id, body)
  return 200, C.ok(obj("id", c.id))
end

local function contact_of(req)
  return C.find("contacts", req.params.contactId, nil, "contact")
end

local function pm_create(req)
  local body = req:json_body()
  local account
  if body.accountKey ~= nil or body.accountId ~= nil then account = C.account(body.accountKey or body.accountId,
    "payment_method") end
  local pm = M.create_payment_method(account, body)
  return 200, C.ok(obj("id", pm.id))
end

local function pm_of(req)
  return C.find("payment_methods", req.params["payment-method-id"], nil, "payment_method")
end

function M.register(r)
  r.add("POST", "/v1/accounts", account_create)
  r.add("GET", "/v1/accounts/{account-key}", account_get)
  r.add("PUT", "/v1/accounts/{account-key}", account_update)
  r.add("DELETE", "/v1/accounts/{account-key}", account_delete)
  r.add("GET", "/v1/accounts/{account-key}/summary", summary)
  r.add("GET", "/v1/accounts/{account-key}/payment-methods", account_pms)
  r.add("GET", "/v1/accounts/{account-key}/payment-methods/default", account_default_pm)

  r.add("POST", "/v1/contacts", contact_create)
  r.add("GET", "/v1/contacts/{contactId}", function(req) return 200, C.ok(M.contact_json(contact_of(req))) end)
  r.add("PUT", "/v1/contacts/{contactId}", function(req)
    update_contact(contact_of(req), req:json_body())
    return 200, C.ok()
  end)
  r.add("DELETE", "/v1/contacts/{contactId}", function(req)
    local c = contact_of(req)
    local a = state.data.accounts[c.accountId]
    if a and (a.billToContactId == c.id or a.soldToContactId == c.id) then
      C.fail("rule_restriction", "A bill-to or sold-to contact cannot be deleted.", "contact")
    end
    state.remove("contacts", c.id)
    return 200, C.ok()
  end)

  r.add("POST", "/v1/payment-methods", pm_create)
  r.add("GET", "/v1/payment-methods/{payment-method-id}", function(req) return 200, C.ok(M.pm_json(pm_of(req))) end)
  r.add("PUT", "/v1/payment-methods/{payment-method-id}", function(req)
    local pm = pm_of(req)
    local body = req:json_body()
    for _, f in ipairs({ "expirationMonth", "expirationYear" }) do
      if body[f] ~= nil then pm[f] = json.tonumber(body[f]) end
    end
    if type(body.cardHolderInfo) == "table" and body.cardHolderInfo.cardHolderName then
      pm.cardHolderName = body.cardHolderInfo.cardHolderName
    end
    if body.makeDefault == true and pm.accountId then M.set_default_pm(state.data.accounts[pm.accountId], pm) end
    return 200, C.ok(obj("id", pm.id))
  end)
  r.add("DELETE", "/v1/payment-methods/{payment-method-id}", function(req)
    local pm = pm_of(req)
    local a = pm.accountId and state.data.accounts[pm.accountId]
    if a and a.defaultPaymentMethodId == pm.id then
      C.fail("rule_restriction", "The default payment method cannot be deleted.", "payment_method")
    end
    state.remove("payment_methods", pm.id)
    return 200, C.ok()
  end)
end

return M
