--- Payments and refunds: an invoice paid from the card on file, a second payment taken before the
-- invoice it is meant for (held unapplied, then applied), a payment unapplied and refunded, and a
-- payment canceled. Balances are read back after each step.
-- Run: see examples/flows/flow.lua.
package.path = (arg and arg[0] and arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local flow = require "flow"

local c, say, money, check = flow.client, flow.say, flow.money, flow.check
local start = flow.month_start(0)

local made = flow.product("Payments Plan", "Monthly 80", { { Name = "Monthly Fee",
  ChargeModel = "Flat Fee Pricing", ChargeType = "Recurring", BillingPeriod = "Month", price = 80 } })
local account = flow.account("Payments Co " .. flow.tag)
local pm = account.paymentMethodId
check("order", c.orders.create{ orderDate = start, existingAccountNumber = account.accountNumber,
  subscriptions = { { orderActions = { flow.create_subscription({ { productRatePlanId = made.plan } }, start) } } },
  processingOptions = { runBilling = true, billingOptions = { targetDate = start } } })
flow.bill_run{ targetDate = flow.month_start(1), autoPost = true,
  billRunFilters = { { filterType = "Account", accountId = account.accountId } } }
local invoices = flow.invoices(account.accountId)
table.sort(invoices, function(a, b) return a.documentNumber < b.documentNumber end)
local inv = invoices[1]
say("invoices", "%d, first %s %s USD", #invoices, inv.documentNumber, money(inv.amount))

local function balance()
  local a = check("account", c.accounts.retrieve(account.accountNumber))
  return ("balance %s, unapplied payments %s"):format(money(a.metrics.balance), money(a.metrics.unappliedPaymentAmount))
end

-- 1. Pay the first invoice in full with the card.
local p1 = check("payment", c.payments.create{ accountId = account.accountId, amount = inv.amount, currency = "USD",
  type = "Electronic", paymentMethodId = pm, effectiveDate = flow.today,
  invoices = { { invoiceId = inv.id, amount = inv.amount } } })
say("paid", "%s %s USD %s; %s", p1.number, money(p1.amount), p1.status, balance())

-- 2. A payment taken with nothing applied, then applied to the second invoice.
local inv2 = invoices[2]
local p2 = check("payment", c.payments.create{ accountId = account.accountId, amount = 100, currency = "USD",
  type = "Electronic", paymentMethodId = pm, effectiveDate = flow.today })
say("unapplied", "%s %s USD, unapplied %s; %s", p2.number, money(p2.amount), money(p2.unappliedAmount), balance())
p2 = check("apply", c.payments.apply(p2.id, { effectiveDate = flow.today,
  invoices = { { invoiceId = inv2.id, amount = inv2.balance } } }))
say("applied", "%s applied %s, unapplied %s; %s", p2.number, money(p2.appliedAmount), money(p2.unappliedAmount),
  balance())

-- 3. Refund what was left over, then unapply from the invoice and refund that too.
local r1 = check("refund", c.payments.refund(p2.id, { totalAmount = p2.unappliedAmount, type = "External",
  refundDate = flow.today, methodType = "Check", comment = "overpayment" }))
say("refund", "%s %s USD %s", r1.number, money(r1.amount), r1.status)
p2 = check("unapply", c.payments.unapply(p2.id, { effectiveDate = flow.today,
  invoices = { { invoiceId = inv2.id, amount = inv2.balance } } }))
local r2 = check("refund", c.payments.refund(p2.id, { totalAmount = p2.unappliedAmount, type = "External",
  refundDate = flow.today, methodType = "Check", comment = "customer asked" }))
say("refund", "%s %s USD %s; %s", r2.number, money(r2.amount), r2.status, balance())

-- 4. A payment recorded by mistake, canceled.
local p3 = check("payment", c.payments.create{ accountId = account.accountId, amount = 5, currency = "USD",
  type = "Electronic", paymentMethodId = pm, effectiveDate = flow.today })
p3 = check("cancel", c.payments.cancel(p3.id, {}))
say("canceled", "%s %s", p3.number, p3.status)

local refunds = check("refunds", c.refunds.list{ accountId = account.accountId })
local n = 0
for _, r in ipairs(refunds.refunds) do if r.accountId == account.accountId then n = n + 1 end end
say("summary", "%d refunds; %s", n, balance())
