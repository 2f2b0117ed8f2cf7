--- Object queries (GET /object-query/...): the same questions asked of several objects with
-- fields[] (only these fields), filter[] (field.OP:value, ANDed), sort[] (field.ASC|DESC) and
-- expand[] (related objects inline, nested with dots), and a listing followed page by page with
-- the nextPage cursor.
-- Run: see examples/flows/flow.lua.
package.path = (arg and arg[0] and arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local flow = require "flow"

local c, say, money, check = flow.client, flow.say, flow.money, flow.check
local oq = c.object_queries
local start = flow.month_start(0)

-- Data to ask about: three accounts of this run, subscribed and billed.
local made = flow.product("Query Plan", "Query Monthly", { { Name = "Query Fee", ChargeModel = "Per Unit Pricing",
  ChargeType = "Recurring", BillingPeriod = "Month", UOM = "Each", DefaultQuantity = 1, price = 12 } })
local prefix = "OQ " .. flow.tag
local ids = {}
for i, qty in ipairs({ 3, 1, 2 }) do
  local a = flow.account(("%s %d"):format(prefix, i))
  ids[#ids + 1] = a.accountId
  check("order", c.orders.create{ orderDate = start, existingAccountNumber = a.accountNumber,
    subscriptions = { { orderActions = { flow.create_subscription({ { productRatePlanId = made.plan,
      chargeOverrides = { { productRatePlanChargeId = made.charges[1],
        pricing = { recurringPerUnit = { quantity = qty } } } } } }, start) } } },
    processingOptions = { runBilling = true, billingOptions = { targetDate = start } } })
end

-- 1. Accounts: only some fields, filtered by name prefix (SW), sorted by name descending, with the
--    bill-to contact expanded.
local accounts = check("accounts", oq.list_accounts{
  ["fields[]"] = { "id,name,accountNumber,currency" }, ["filter[]"] = { "name.SW:" .. prefix },
  ["sort[]"] = { "name.DESC" }, ["expand[]"] = { "billto" } })
for _, a in ipairs(accounts.data) do
  say("account", "%s %s %s, bill to %s %s", a.accountNumber, a.name, a.currency, a.billTo.firstName,
    a.billTo.lastName)
end

-- 2. Invoices of these accounts (IN), biggest first, with their items.
local invoices = check("invoices", oq.list_invoices{
  ["filter[]"] = { "accountId.IN:[" .. table.concat(ids, ",") .. "]", "status.EQ:Posted" },
  ["sort[]"] = { "amount.DESC" }, ["expand[]"] = { "invoiceitems" } })
for _, inv in ipairs(invoices.data) do
  local item = inv.invoiceItems[1]
  say("invoice", "%s %s USD, %s x %s", inv.invoiceNumber, money(inv.amount), money(item.quantity), item.chargeName)
end

-- 3. Subscriptions with their rate plans and charges (nested expand), only active ones.
local subs = check("subscriptions", oq.list_subscriptions{
  ["filter[]"] = { "accountId.EQ:" .. ids[1], "status.EQ:Active" },
  ["expand[]"] = { "rateplans,rateplans.rateplancharges" } })
for _, s in ipairs(subs.data) do
  local ch = s.ratePlans[1].ratePlanCharges[1]
  say("subscription", "%s %s: %s / %s (%s) x %s", s.name, s.status, s.ratePlans[1].name, ch.name, ch.chargeModel,
    money(ch.quantity))
end

-- 4. The catalogue: the plan with its product and charges, charges filtered by model.
local plans = check("plans", oq.list_product_rate_plans{ ["filter[]"] = { "id.EQ:" .. made.plan },
  ["expand[]"] = { "product", "productrateplancharges" } })
local plan = plans.data[1]
say("plan", "%s of %s: %d charge(s), %s", plan.name, plan.product.name, #plan.productRatePlanCharges,
  plan.productRatePlanCharges[1].chargeModel)

-- 5. Paging: this run's accounts two at a time, following nextPage as the cursor.
local seen, pages, cursor = 0, 0, nil
repeat
  local page = check("page", oq.list_accounts{ pageSize = 2, cursor = cursor, ["fields[]"] = { "id" },
    ["filter[]"] = { "name.SW:" .. prefix } })
  pages, seen = pages + 1, seen + #page.data
  cursor = page.nextPage
until cursor == nil or cursor == flow.json.null
say("paging", "%d accounts in %d pages", seen, pages)
