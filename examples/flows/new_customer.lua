--- New customer acquisition, the way Zuora's getting-started tutorial walks it: find what to sell
-- with an object query, show the prospect a price (an order preview for someone who has no
-- account yet), then one order that creates the account, its subscription and the first invoice,
-- read them back, and take a payment of which part goes to the invoice.
-- Run: see examples/flows/flow.lua.
package.path = (arg and arg[0] and arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local flow = require "flow"

local c, say, money, check = flow.client, flow.say, flow.money, flow.check
local start = flow.today

-- 0. Something to sell: licences at 100 USD a month each (made here, so the flow needs no catalogue).
local made = flow.product("Licences", "Per Licence Monthly", { {
  Name = "Licence", ChargeModel = "Per Unit Pricing", ChargeType = "Recurring", BillingPeriod = "Month",
  UOM = "Each", DefaultQuantity = 1, price = 100 } })

-- 1. The catalogue lookup: recurring per-unit charges, each with its rate plan (expand[]).
local charges = check("object query", c.object_queries.list_product_rate_plan_charges{
  ["expand[]"] = { "productrateplan" },
  ["filter[]"] = { "chargemodel.EQ:Per Unit Pricing", "chargetype.EQ:Recurring",
    "productrateplanid.EQ:" .. made.plan },
})
local charge = charges.data[1]
assert(charge and charge.productRatePlan, "the new charge with its rate plan")
local plan_number = charge.productRatePlan.productRatePlanNumber
say("catalog", "%s / %s (%s), %s", charge.productRatePlan.name, charge.name, plan_number, charge.chargeModel)

local function subscribe(quantity)
  return flow.create_subscription({ { productRatePlanNumber = plan_number, chargeOverrides = { {
    productRatePlanChargeId = charge.id, pricing = { recurringPerUnit = { quantity = quantity } } } } } }, start)
end

-- 2. The price for the prospect: a preview with previewAccountInfo instead of an account.
local preview = check("order preview", c.orders.preview{
  orderDate = start,
  previewAccountInfo = { currency = "USD", billCycleDay = 1,
    soldToContact = { firstName = "Amy", lastName = "Lee", country = "United States", state = "CA" } },
  previewOptions = { previewThruType = "NumberOfPeriods", previewNumberOfPeriods = 1,
    previewTypes = { "BillingDocs", "ChargeMetrics", "OrderDeltaMetrics" } },
  subscriptions = { { orderActions = { subscribe(10) } } },
})
local first = preview.previewResult.invoices[1]
say("preview", "first invoice %s USD for %s x %s (%s..%s)", money(first.amount),
  money(first.invoiceItems[1].additionalInfo.quantity), charge.name, first.invoiceItems[1].serviceStartDate,
  first.invoiceItems[1].serviceEndDate)
local mrr = preview.previewResult.orderDeltaMetrics.orderDeltaMrr[1]
say("metrics", "delta MRR %s USD", money(mrr and mrr.grossAmount or 0))

-- 3. The order: a new account, its subscription and the first invoice in one call.
local order = check("order", c.orders.create{
  orderDate = start,
  newAccount = { name = "Amy Lee " .. flow.tag, currency = "USD", billCycleDay = 1, autoPay = false,
    billToContact = { firstName = "Amy", lastName = "Lee", workEmail = "amy@example.com",
      country = "United States", state = "CA" },
    paymentMethod = { type = "CreditCard", cardType = "Visa", cardNumber = "4111111111111111",
      expirationMonth = 12, expirationYear = 2030, securityCode = "123",
      cardHolderInfo = { cardHolderName = "Amy Lee" } } },
  subscriptions = { { orderActions = { subscribe(10) } } },
  processingOptions = { runBilling = true, billingOptions = { targetDate = start }, collectPayment = false },
})
say("order", "%s %s: account %s, subscription %s", order.orderNumber, order.status, order.accountNumber,
  order.subscriptions[1].subscriptionNumber)

-- 4. Read back what the order made.
local account = check("account", c.accounts.retrieve(order.accountNumber))
local sub = check("subscription", c.subscriptions.retrieve(order.subscriptions[1].subscriptionNumber))
say("account", "%s %s, %s, default payment method %s", account.basicInfo.accountNumber, account.basicInfo.name,
  account.basicInfo.status, account.billingAndPayment.defaultPaymentMethodId and "on file" or "none")
say("subscription", "%s %s, %s %s x %s USD", sub.subscriptionNumber, sub.status,
  sub.ratePlans[1].ratePlanName, money(sub.ratePlans[1].ratePlanCharges[1].quantity),
  money(sub.ratePlans[1].ratePlanCharges[1].price))
local invoice = check("invoice", c.invoices.retrieve(order.invoiceIds[1]))
say("invoice", "%s %s USD, balance %s, %s", invoice.invoiceNumber, money(invoice.amount), money(invoice.balance),
  invoice.status)

-- 5. A payment of 1,000 of which 100 goes to the invoice now; the rest stays unapplied on the account.
local payment = check("payment", c.payments.create{
  accountId = order.accountId, amount = 1000, currency = "USD", type = "Electronic",
  paymentMethodId = account.billingAndPayment.defaultPaymentMethodId, effectiveDate = start,
  invoices = { { invoiceId = invoice.id, amount = 100 } },
})
say("payment", "%s %s USD %s, applied %s, unapplied %s", payment.number, money(payment.amount), payment.status,
  money(payment.appliedAmount), money(payment.unappliedAmount))
invoice = check("invoice", c.invoices.retrieve(invoice.id))
say("balance", "invoice %s balance %s USD", invoice.invoiceNumber, money(invoice.balance))
