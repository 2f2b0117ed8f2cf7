--- Changing a subscription after the sale, every change through an order (Orders order actions):
-- add a product, update its quantity, remove it, change plan (upgrade), renew, suspend and resume,
-- cancel. After each step the subscription is read back: version, status, plans and MRR.
-- Run: see examples/flows/flow.lua.
package.path = (arg and arg[0] and arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local flow = require "flow"

local c, say, money, check = flow.client, flow.say, flow.money, flow.check
local start = flow.month_start(0)

-- What there is to sell: a starter and a pro plan, and an add-on sold per seat.
local starter = flow.product("Changes Starter", "Starter Monthly", { { Name = "Starter Fee",
  ChargeModel = "Flat Fee Pricing", ChargeType = "Recurring", BillingPeriod = "Month", price = 30 } })
local pro = flow.product("Changes Pro", "Pro Monthly", { { Name = "Pro Fee",
  ChargeModel = "Flat Fee Pricing", ChargeType = "Recurring", BillingPeriod = "Month", price = 90 } })
local addon = flow.product("Changes Seats", "Extra Seats", { { Name = "Extra Seat",
  ChargeModel = "Per Unit Pricing", ChargeType = "Recurring", BillingPeriod = "Month", UOM = "Each",
  DefaultQuantity = 1, price = 5 } })

local account = flow.account("Changes Co " .. flow.tag)
local order = check("order", c.orders.create{ orderDate = start, existingAccountNumber = account.accountNumber,
  subscriptions = { { orderActions = { flow.create_subscription({ { productRatePlanId = starter.plan } }, start) } } },
})
local number = order.subscriptions[1].subscriptionNumber

local function show(step)
  local sub = check("subscription", c.subscriptions.retrieve(number))
  local plans = {}
  for _, rp in ipairs(sub.ratePlans) do
    if rp.lastChangeType ~= "Remove" then
      local ch = rp.ratePlanCharges[1]
      plans[#plans + 1] = ("%s x%s"):format(rp.ratePlanName, money(ch.quantity))
    end
  end
  say(step, "%s v%s %s, term to %s, MRR %s: %s", sub.subscriptionNumber, money(sub.version), sub.status,
    sub.termEndDate ~= flow.json.null and sub.termEndDate or "-", money(sub.contractedMrr), table.concat(plans, ", "))
  return sub
end

-- One order with one action on the subscription, effective on `date`.
local function change(action, date)
  action.triggerDates = flow.triggers(date)
  return check(action.type, c.orders.create{ orderDate = date, existingAccountNumber = account.accountNumber,
    subscriptions = { { subscriptionNumber = number, orderActions = { action } } } })
end

show("created")
local d = flow.month_start(1)

change({ type = "AddProduct", addProduct = { productRatePlanId = addon.plan, chargeOverrides = { {
  productRatePlanChargeId = addon.charges[1], pricing = { recurringPerUnit = { quantity = 3 } } } } } }, d)
local sub = show("add product")

local seat_plan
for _, rp in ipairs(sub.ratePlans) do
  if rp.productRatePlanId == addon.plan then seat_plan = rp end
end
change({ type = "UpdateProduct", updateProduct = { ratePlanId = seat_plan.id, chargeUpdates = { {
  chargeNumber = seat_plan.ratePlanCharges[1].number, pricing = { recurringPerUnit = { quantity = 8 } } } } } },
  flow.month_start(2))
show("update product")

change({ type = "RemoveProduct", removeProduct = { ratePlanId = seat_plan.id } }, flow.month_start(3))
sub = show("remove product")

local starter_plan
for _, rp in ipairs(sub.ratePlans) do
  if rp.productRatePlanId == starter.plan and rp.lastChangeType ~= "Remove" then starter_plan = rp end
end
change({ type = "ChangePlan", changePlan = { ratePlanId = starter_plan.id, subType = "Upgrade",
  effectivePolicy = "SpecificDate", newProductRatePlan = { productRatePlanId = pro.plan } } }, flow.month_start(4))
show("change plan")

change({ type = "RenewSubscription", renewSubscription = {} }, flow.month_start(5))
show("renew")

change({ type = "Suspend", suspend = { suspendPolicy = "Today" } }, flow.month_start(5))
show("suspend")
change({ type = "Resume", resume = { resumePolicy = "Today", extendsTerm = false } }, flow.month_start(5))
show("resume")

change({ type = "CancelSubscription", cancelSubscription = { cancellationPolicy = "EndOfCurrentTerm" } },
  flow.month_start(6))
show("cancel")

local orders = check("orders", c.orders.list_by_subscription_number(number))
say("orders", "%d orders changed %s", #orders.orders, number)
