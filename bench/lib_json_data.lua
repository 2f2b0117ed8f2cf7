--- Deterministic Zuora-shaped documents for the JSON benchmark and specs.
-- `invoices(n)` is a v1 invoice list response (`GET /v1/transactions/invoices/accounts/{key}`
-- shape: ids, dates, money amounts with cents, nested items and files, nulls, booleans); 400
-- invoices come to about 300 KB of JSON. `account()` is a single account summary (a few KB).
-- `doubles(n)` is an array of computed amounts with full 17-digit precision.
-- Plain tables only (no metatables), identical on every run and on Lua 5.4 and LuaJIT.
local M = {}

-- Park-Miller generator: exact in doubles, so the same sequence everywhere.
local function rng(seed)
  local x = seed
  return function(n)
    x = (x * 16807) % 2147483647
    return x % n
  end
end

local HEX = "0123456789abcdef"
local function zid(r)
  local t = { "2c92c0f8" }
  for i = 2, 32 - 7 do
    local k = r(16) + 1
    t[i] = HEX:sub(k, k)
  end
  return table.concat(t)
end

local function date(r, year)
  return string.format("%04d-%02d-%02d", year, r(12) + 1, r(28) + 1)
end

local function stamp(r)
  return string.format("2024-%02d-%02d %02d:%02d:%02d", r(12) + 1, r(28) + 1, r(24), r(60), r(60))
end

local function money(r, max)
  return r(max * 100) / 100            -- a double such as 1234.56
end

local PRODUCTS = { "Platform Subscription", "API Calls", "Premium Support", "Storage (GB)",
  "Seats", "Onboarding — one time", "Überweisung fee", "Data export" }
local UOM = { "Each", "GB", "Seat", "Call", "Hour" }

local function invoice_item(r, sub)
  local qty = r(4) == 0 and (r(1000) + 1) / 4 or r(50) + 1
  local price = money(r, 500)
  return {
    id = zid(r),
    subscriptionName = sub.name,
    serviceStartDate = date(r, 2024),
    serviceEndDate = date(r, 2024),
    chargeAmount = price,
    chargeDescription = r(3) == 0 and "" or "Monthly, in advance",
    chargeName = PRODUCTS[r(#PRODUCTS) + 1],
    productName = PRODUCTS[r(#PRODUCTS) + 1],
    quantity = qty,
    taxAmount = r(2) == 0 and 0.0 or money(r, 80),
    unitOfMeasure = UOM[r(#UOM) + 1],
    chargeDate = stamp(r),
    processingType = r(5) == 0 and 1 or 0,
    appliedToItemId = r(6) == 0 and zid(r) or nil,
  }
end

local function invoice(r, i, acct)
  local items = {}
  local sub = { name = string.format("A-S%08d", r(99999999)) }
  for k = 1, r(8) == 0 and 2 or 1 do items[k] = invoice_item(r, sub) end
  local amount = 0
  for _, it in ipairs(items) do amount = amount + it.chargeAmount end
  amount = math.floor(amount * 100 + 0.5) / 100
  local paid = r(3) > 0
  return {
    id = zid(r),
    accountId = acct.id,
    accountNumber = acct.number,
    invoiceDate = date(r, 2024),
    invoiceNumber = string.format("INV%08d", 1000 + i),
    dueDate = date(r, 2024),
    amount = amount,
    balance = paid and 0.0 or amount,
    creditBalanceAdjustmentAmount = 0.0,
    status = paid and "Posted" or (r(4) == 0 and "Draft" or "Posted"),
    body = "",
    reversed = r(20) == 0,
    comments = r(8) == 0 and "Customer asked for a \"split\" payment\nsee ticket #4512" or nil,
    invoiceItems = items,
    invoiceFiles = {
      { id = zid(r), versionNumber = 1704067200000 + r(999999) },
    },
  }
end

function M.invoices(n)
  local r = rng(20240229)
  local acct = { id = zid(r), number = "A00001234", name = "Acme Europe GmbH & Co. KG" }
  local list = {}
  for i = 1, n do list[i] = invoice(r, i, acct) end
  return {
    invoices = list,
    nextPage = "https://rest.zuora.com/v1/transactions/invoices/accounts/A00001234?page=2&pageSize=400",
    success = true,
  }
end

local function contact(r)
  return {
    id = zid(r),
    address1 = "Friedrichstraße 123",
    address2 = "",
    city = "Berlin",
    country = "Germany",
    county = nil,
    fax = "",
    firstName = "Zoë",
    lastName = "Müller-Lüdenscheidt",
    nickname = "",
    personalEmail = "",
    state = "",
    taxRegion = "",
    workEmail = "billing@example.com",
    workPhone = "+49 30 1234567",
    zipCode = "10117",
  }
end

function M.account()
  local r = rng(7)
  return {
    basicInfo = {
      id = zid(r),
      name = "Acme Europe GmbH & Co. KG",
      accountNumber = "A00001234",
      notes = "Key account; invoices in EUR",
      status = "Active",
      crmId = "",
      batch = "Batch1",
      invoiceTemplateId = zid(r),
      communicationProfileId = zid(r),
      salesRep = "",
      parentId = nil,
      tags = "enterprise,emea",
    },
    billingAndPayment = {
      billCycleDay = 1,
      currency = "EUR",
      paymentTerm = "Net 30",
      paymentGateway = "Stripe EU",
      invoiceDeliveryPrefsPrint = false,
      invoiceDeliveryPrefsEmail = true,
      additionalEmailAddresses = { "ap@example.com", "cfo@example.com" },
    },
    metrics = {
      balance = 12345.67,
      totalInvoiceBalance = 12345.67,
      creditBalance = 0.0,
      contractedMrr = 4999.95,
      totalDebitMemoBalance = 0,
      unappliedCreditMemoAmount = 0,
      unappliedPaymentAmount = 250.5,
    },
    billToContact = contact(r),
    soldToContact = contact(r),
    taxInfo = { exemptStatus = "No", VATId = "DE123456789", companyCode = "" },
    success = true,
  }
end

--- An array of n amounts computed in Lua (price * tax rate, prorations): full-precision doubles
-- such as 3.7981000000000003, the hard case for shortest formatting.
function M.doubles(n)
  local r = rng(42)
  local out = {}
  for i = 1, n do
    out[i] = money(r, 10000) * (r(3000) / 10000) * (i % 3 == 0 and 1 / 3 or 1)
  end
  return out
end

return M
