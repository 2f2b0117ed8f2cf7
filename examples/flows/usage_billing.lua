--- Usage upload and billing: a plan with a monthly fee and a metered charge (API calls, billed in
-- arrears at 0.01 each), usage records uploaded as a CSV file (POST /v1/usage, multipart) and the
-- import followed to its end, then a bill run that turns the usage into invoice lines.
-- Run: see examples/flows/flow.lua.
package.path = (arg and arg[0] and arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local flow = require "flow"

local c, say, money, check = flow.client, flow.say, flow.money, flow.check
local start = flow.month_start(0)

local made = flow.product("Metered API", "API Monthly", {
  { Name = "Platform Fee", ChargeModel = "Flat Fee Pricing", ChargeType = "Recurring", BillingPeriod = "Month",
    price = 20 },
  { Name = "API Calls", ChargeModel = "Per Unit Pricing", ChargeType = "Usage", BillingPeriod = "Month",
    UOM = "Each", price = 0.01 },
})
local account = flow.account("Usage Co " .. flow.tag)
local order = check("order", c.orders.create{ orderDate = start, existingAccountNumber = account.accountNumber,
  subscriptions = { { orderActions = { flow.create_subscription({ { productRatePlanId = made.plan } }, start) } } } })
local sub_number = order.subscriptions[1].subscriptionNumber
local sub = check("subscription", c.subscriptions.retrieve(sub_number))
local usage_charge
for _, ch in ipairs(sub.ratePlans[1].ratePlanCharges) do
  if ch.type == "Usage" then usage_charge = ch.number end
end
say("subscription", "%s, usage charge %s", sub_number, usage_charge)

-- The usage file: three days of API calls (1,200 + 800 + 500 = 2,500 calls).
local path = os.tmpname()
local f = assert(io.open(path, "w"))
f:write("ACCOUNT_ID,UOM,QTY,STARTDATE,ENDDATE,SUBSCRIPTION_ID,CHARGE_ID,DESCRIPTION\n")
for i, qty in ipairs({ 1200, 800, 500 }) do
  local day = start:sub(1, 8) .. ("%02d"):format(i + 1)
  local mdy = ("%s/%s/%s"):format(day:sub(6, 7), day:sub(9, 10), day:sub(1, 4))
  f:write(("%s,Each,%d,%s,%s,%s,%s,day %d\n"):format(account.accountNumber, qty, mdy, mdy, sub_number,
    usage_charge, i))
end
f:close()
local import = check("usage upload", c:upload_usage(path, { wait = true }))
os.remove(path)
say("usage import", "%s", import.importStatus or import.status or "submitted")

local usage = check("usage list", c:request("GET", "/v1/usage/accounts/{account-key}",
  { path = { ["account-key"] = account.accountNumber } }))
local total = 0
for _, u in ipairs(usage.usage or {}) do total = total + u.quantity end
say("usage", "%d records, %s %s", #(usage.usage or {}), money(total), "calls")

-- Bill the month after: the usage is billed in arrears with the next period's fee.
local run = flow.bill_run{ targetDate = flow.month_start(1), invoiceDate = flow.month_start(1), autoPost = true,
  billRunFilters = { { filterType = "Account", accountId = account.accountId } } }
say("bill run", "%s %s", run.billRunNumber, run.status)
for _, doc in ipairs(flow.invoices(account.accountId)) do
  local items = check("invoice items", c.invoices.list_items(doc.id))
  local lines = {}
  for _, it in ipairs(items.invoiceItems) do
    lines[#lines + 1] = ("%s %s x %s = %s"):format(it.chargeName, money(it.quantity), money(it.unitPrice),
      money(it.chargeAmount))
  end
  table.sort(lines)
  say("invoice", "%s %s USD: %s", doc.documentNumber, money(doc.amount), table.concat(lines, "; "))
end
