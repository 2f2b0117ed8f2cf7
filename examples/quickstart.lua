--- A first billing flow, end to end: create a customer account with a contact and a card,
-- subscribe it to a plan through an order, run billing, list its invoices, pay the balance and
-- print a summary.
--
-- `make demo` runs it against a local zuora-sim. Against a real (sandbox!) tenant, set
-- ZUORA_ENVIRONMENT or ZUORA_BASE_URL, ZUORA_CLIENT_ID and ZUORA_CLIENT_SECRET, and optionally
-- ZUORA_QUICKSTART_PLAN (a product rate plan id with a USD price), then run
--   LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="build/lua5.4/?.so;;" lua5.4 examples/quickstart.lua
local zuora = require "zuora"

local client = zuora.from_env{ zuora_version = "2025-08-12" }
local json = zuora.json

local function money(x) return json.encode(x) end -- exact, as Zuora sent it
local today = os.date("!%Y-%m-%d")
local month_end = os.date("!%Y-%m-%d", os.time() + 30 * 86400)

-- 1. A plan to sell: the one named in ZUORA_QUICKSTART_PLAN, or the first recurring plan with a
--    USD price in the product catalogue.
local plan_id, plan_name = os.getenv("ZUORA_QUICKSTART_PLAN"), nil
if not plan_id then
  -- From zuora-version 230.0 on, a product's productRatePlans is a URL; 229.0 still lists them inline.
  local catalog = assert(client.catalog.list_products({ pageSize = 40 }, { zuora_version = "229.0" }))
  for _, product in ipairs(catalog.products) do
    for _, plan in ipairs(product.productRatePlans or {}) do
      for _, charge in ipairs(plan.productRatePlanCharges or {}) do
        for _, price in ipairs(charge.pricing or {}) do
          if not plan_id and charge.type == "Recurring" and price.currency == "USD" then
            plan_id, plan_name = plan.id, product.name .. " / " .. plan.name
          end
        end
      end
    end
  end
  assert(plan_id, "no recurring USD plan in the catalogue; set ZUORA_QUICKSTART_PLAN")
end
print(("plan:         %s"):format(plan_name or plan_id))

-- 2. The customer: an account with a bill-to contact and a test card.
local account = assert(client.accounts.create{
  name = "Quickstart Co", currency = "USD", billCycleDay = 1, autoPay = false,
  billToContact = { firstName = "Ada", lastName = "Lovelace", workEmail = "ada@example.com", country = "US",
    state = "CA" },
  paymentMethod = { type = "CreditCard", cardType = "Visa", cardNumber = "4111111111111111",
    expirationMonth = 12, expirationYear = 2030, securityCode = "123",
    cardHolderInfo = { cardHolderName = "Ada Lovelace" } },
})
print(("account:      %s (%s)"):format(account.accountNumber, account.accountId))

-- 3. A subscription to the plan, created by an order.
local trigger = function(name) return { name = name, triggerDate = today } end
local order = assert(client.orders.create{
  orderDate = today, existingAccountNumber = account.accountNumber,
  subscriptions = { { orderActions = { {
    type = "CreateSubscription",
    triggerDates = { trigger "ContractEffective", trigger "ServiceActivation", trigger "CustomerAcceptance" },
    createSubscription = {
      terms = {
        initialTerm = { termType = "TERMED", period = 12, periodType = "Month", startDate = today },
        renewalSetting = "RENEW_WITH_SPECIFIC_TERM", autoRenew = true,
        renewalTerms = { { period = 12, periodType = "Month" } },
      },
      subscribeToRatePlans = { { productRatePlanId = plan_id } },
    },
  } } } },
})
print(("subscription: %s (order %s)"):format(order.subscriptions[1].subscriptionNumber, order.orderNumber))

-- 4. Billing: a bill run for this account, polled until it is done.
local run = assert(client.bill_run.create{
  targetDate = month_end, invoiceDate = today, autoPost = true,
  billRunFilters = { { filterType = "Account", accountId = account.accountId } },
})
local finished = { Completed = true, Posted = true, Error = true, Canceled = true }
local delay = 0.2
while not finished[run.status] do
  client:sleep(delay)
  delay = math.min(delay * 2, 5)
  run = assert(client.bill_run.retrieve(run.id))
end
assert(run.status ~= "Error" and run.status ~= "Canceled", "bill run " .. run.billRunNumber .. " " .. run.status)
print(("bill run:     %s %s"):format(run.billRunNumber, run.status))

-- 5. The invoices it produced.
local docs = assert(client.billing_documents.list{ accountId = account.accountId, documentType = "Invoice",
  status = "Posted" })
-- Sum in cents: adding binary floats (49.99 + 49.99 + ...) would drift away from the cent.
local cents, payments = 0, {}
for _, inv in ipairs(docs.documents) do
  print(("invoice:      %s  %s %s  balance %s"):format(inv.documentNumber, money(inv.amount), inv.currency,
    money(inv.balance)))
  if inv.balance > 0 then
    payments[#payments + 1] = { invoiceId = inv.id, amount = inv.balance }
    cents = cents + math.floor(inv.balance * 100 + 0.5)
  end
end

-- 6. Pay what is owed with the card on file.
if #payments > 0 then
  local payment = assert(client.payments.create{
    accountId = account.accountId, amount = cents / 100, currency = "USD", type = "Electronic",
    paymentMethodId = account.paymentMethodId, effectiveDate = today, invoices = payments,
  })
  print(("payment:      %s  %s %s  %s"):format(payment.number, money(payment.amount), payment.currency,
    payment.status))
end

-- 7. Where the account stands now.
local summary = assert(client.accounts.retrieve_summary(account.accountNumber))
local info = summary.basicInfo
print(("summary:      %s balance %s %s, %d subscription(s), %d invoice(s), %d payment(s)"):format(
  info.name, money(info.balance), info.currency, #summary.subscriptions, #summary.invoices, #summary.payments))
