--- Credit and debit memos: an invoice corrected downwards with a credit memo made from it (posted
-- and applied), a credit memo from a charge held as credit and refunded, and a debit memo for a
-- late fee made from a charge, posted and paid. The account's balance is read back between steps.
-- Run: see examples/flows/flow.lua.
package.path = (arg and arg[0] and arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local flow = require "flow"

local c, say, money, check = flow.client, flow.say, flow.money, flow.check
local start = flow.month_start(0)

local made = flow.product("Memo Service", "Service Monthly", { { Name = "Service Fee",
  ChargeModel = "Flat Fee Pricing", ChargeType = "Recurring", BillingPeriod = "Month", price = 120 } })
local fees = flow.product("Memo Fees", "Fees", { { Name = "Late Fee", ChargeModel = "Flat Fee Pricing",
  ChargeType = "OneTime", price = 15 } })
local account = flow.account("Memos Co " .. flow.tag)
local order = check("order", c.orders.create{ orderDate = start, existingAccountNumber = account.accountNumber,
  subscriptions = { { orderActions = { flow.create_subscription({ { productRatePlanId = made.plan } }, start) } } },
  processingOptions = { runBilling = true, billingOptions = { targetDate = start } } })
local invoice = check("invoice", c.invoices.retrieve(order.invoiceIds[1]))
say("invoice", "%s %s USD, balance %s", invoice.invoiceNumber, money(invoice.amount), money(invoice.balance))

local function balance()
  local a = check("account", c.accounts.retrieve(account.accountNumber))
  return ("account balance %s (debit memos %s)"):format(money(a.metrics.balance),
    money(a.metrics.totalDebitMemoBalance or 0))
end

-- 1. A credit memo for 30 of the invoice's service fee, posted and applied to the invoice.
local items = check("invoice items", c.invoices.list_items(invoice.id))
local fee
for _, it in ipairs(items.invoiceItems) do if it.chargeName == "Service Fee" then fee = it end end
local cm = check("credit memo", c.credit_memos.create_from_invoice(invoice.id, {
  reasonCode = "Correcting invoice error", comment = "discount agreed after invoicing", autoPost = true,
  items = { { invoiceItemId = fee.id, amount = 30, skuName = "Service Fee" } } }))
say("credit memo", "%s %s USD %s", cm.number, money(cm.amount), cm.status)
cm = check("apply", c.credit_memos.apply(cm.id, { effectiveDate = flow.today,
  invoices = { { invoiceId = invoice.id, amount = 30 } } }))
invoice = check("invoice", c.invoices.retrieve(invoice.id))
say("applied", "%s unapplied %s; invoice balance %s; %s", cm.number, money(cm.unappliedAmount),
  money(invoice.balance), balance())

-- 2. A goodwill credit made from a charge, posted, and refunded to the customer.
local goodwill = check("credit memo", c.credit_memos.create_from_charge{ accountId = account.accountId,
  reasonCode = "Write-off", comment = "goodwill", autoPost = true,
  charges = { { productRatePlanChargeId = made.charges[1], amount = 10 } } })
local refund = check("refund", c.credit_memos.refund(goodwill.id, { totalAmount = 10, type = "External",
  methodType = "Check", refundDate = flow.today }))
say("refund", "%s %s USD from %s", refund.number, money(refund.amount), goodwill.number)

-- 3. A late fee as a debit memo made from the one-time charge, posted, then paid with the card.
local dm = check("debit memo", c.debit_memos.create_from_charge{ accountId = account.accountId,
  reasonCode = "Charge Dispute", comment = "late payment fee",
  charges = { { productRatePlanChargeId = fees.charges[1], amount = 15 } } })
say("debit memo", "%s %s USD %s", dm.number, money(dm.amount), dm.status)
dm = check("post", c.debit_memos.post(dm.id))
say("posted", "%s %s, balance %s; %s", dm.number, dm.status, money(dm.balance), balance())
local payment = check("payment", c.payments.create{ accountId = account.accountId, amount = 15, currency = "USD",
  type = "Electronic", paymentMethodId = account.paymentMethodId, effectiveDate = flow.today,
  debitMemos = { { debitMemoId = dm.id, amount = 15 } } })
dm = check("debit memo", c.debit_memos.retrieve(dm.id))
say("paid", "%s %s USD; %s balance %s; %s", payment.number, money(payment.amount), dm.number, money(dm.balance),
  balance())
