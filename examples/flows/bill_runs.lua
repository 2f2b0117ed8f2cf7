--- Bill runs: two customers billed by one bill run for a target date (drafts first, looked at,
-- then posted), a second run for one account only, posted at once, and a run that finds nothing to
-- bill, canceled and deleted.
-- Run: see examples/flows/flow.lua.
package.path = (arg and arg[0] and arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local flow = require "flow"

local c, say, money, check = flow.client, flow.say, flow.money, flow.check
local start = flow.month_start(0)

local made = flow.product("Billed Service", "Billed Monthly", { { Name = "Monthly Fee",
  ChargeModel = "Flat Fee Pricing", ChargeType = "Recurring", BillingPeriod = "Month", price = 45 } })
local accounts = {}
for i = 1, 2 do
  local a = flow.account(("Bill Run Co %d %s"):format(i, flow.tag), { batch = "Batch20" })
  check("order", c.orders.create{ orderDate = start, existingAccountNumber = a.accountNumber,
    subscriptions = { { orderActions = { flow.create_subscription({ { productRatePlanId = made.plan } }, start) } } } })
  accounts[i] = a
end

-- 1. Draft invoices for both accounts (one run, filtered to them), then posted by posting the run.
local filters = {}
for i, a in ipairs(accounts) do filters[i] = { filterType = "Account", accountId = a.accountId } end
local run = flow.bill_run{ targetDate = start, invoiceDate = start, autoPost = false, billRunFilters = filters }
say("bill run", "%s %s, target %s", run.billRunNumber, run.status, run.targetDate)
for _, a in ipairs(accounts) do
  for _, doc in ipairs(flow.invoices(a.accountId)) do
    say("draft", "%s %s USD %s", doc.documentNumber, money(doc.amount), doc.status)
  end
end
run = check("post", c.bill_run.post(run.id, { invoiceDate = start }))
for _ = 1, 20 do
  if run.status == "Posted" then break end
  c:sleep(0.2)
  run = check("bill run", c.bill_run.retrieve(run.id))
end
say("posted", "%s %s", run.billRunNumber, run.status)
for _, a in ipairs(accounts) do
  for _, doc in ipairs(flow.invoices(a.accountId)) do
    say("invoice", "%s %s USD %s", doc.documentNumber, money(doc.amount), doc.status)
  end
end

-- 2. The next month for the first account only, posted by the run itself.
run = flow.bill_run{ targetDate = flow.month_start(1), invoiceDate = flow.month_start(1), autoPost = true,
  billRunFilters = { { filterType = "Account", accountId = accounts[1].accountId } } }
say("bill run", "%s %s, %d invoices on %s", run.billRunNumber, run.status, #flow.invoices(accounts[1].accountId),
  accounts[1].accountNumber)

-- 3. Nothing left to bill for the second account this month: the run completes empty; cancel, delete.
run = flow.bill_run{ targetDate = start, autoPost = false,
  billRunFilters = { { filterType = "Account", accountId = accounts[2].accountId } } }
say("empty run", "%s %s", run.billRunNumber, run.status)
run = check("cancel", c.bill_run.cancel(run.id))
say("canceled", "%s %s", run.billRunNumber, run.status)
check("delete", c.bill_run.delete(run.id))
say("deleted", "%s", run.billRunNumber)
