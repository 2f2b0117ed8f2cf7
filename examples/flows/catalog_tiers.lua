--- Product catalogue creation with tiers, through the object (CRUD) API: a product, a rate plan
-- and three charges (a flat monthly fee, tiered per-seat pricing, volume-priced storage), read
-- back with an object query that expands charges and their tiers, then priced for a customer with
-- an order preview, so the tier arithmetic is visible:
--   Tiered, 60 seats: 10 x 10 + 40 x 8 + 10 x 5 = 470;  Volume, 60 GB: all at the 51+ price, 60 x 2 = 120.
-- Run: see examples/flows/flow.lua.
package.path = (arg and arg[0] and arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local flow = require "flow"

local c, say, money, check = flow.client, flow.say, flow.money, flow.check

-- 1. The catalogue entries.
local made = flow.product("Team Workspace", "Team Monthly", {
  { Name = "Platform Fee", ChargeModel = "Flat Fee Pricing", ChargeType = "Recurring", BillingPeriod = "Month",
    price = 25 },
  { Name = "Seats", ChargeModel = "Tiered Pricing", ChargeType = "Recurring", BillingPeriod = "Month",
    UOM = "Each", DefaultQuantity = 1, tiers = {
      { StartingUnit = 1, EndingUnit = 10, Price = 10 },
      { StartingUnit = 11, EndingUnit = 50, Price = 8 },
      { StartingUnit = 51, Price = 5 } } },
  { Name = "Storage", ChargeModel = "Volume Pricing", ChargeType = "Recurring", BillingPeriod = "Month",
    UOM = "Each", DefaultQuantity = 1, tiers = {
      { StartingUnit = 1, EndingUnit = 10, Price = 3 },
      { StartingUnit = 11, EndingUnit = 50, Price = 2.5 },
      { StartingUnit = 51, Price = 2 } } },
})
say("product", "%s, plan %s, %d charges", made.product, made.plan, #made.charges)

-- 2. Read it back as the tutorials do: the plan with its charges and their tiers.
local plans = check("object query", c.object_queries.list_product_rate_plans{
  ["expand[]"] = { "productrateplancharges,productrateplancharges.productrateplanchargetiers" },
  ["filter[]"] = { "id.EQ:" .. made.plan },
})
local plan = plans.data[1]
for _, ch in ipairs(plan.productRatePlanCharges) do
  local tiers = {}
  for _, t in ipairs(ch.productRatePlanChargeTiers) do
    tiers[#tiers + 1] = ("%s-%s@%s"):format(money(t.startingUnit or 0),
      t.endingUnit ~= nil and t.endingUnit ~= flow.json.null and money(t.endingUnit) or "", money(t.price))
  end
  table.sort(tiers)
  say("charge", "%s (%s): %s", ch.name, ch.chargeModel, table.concat(tiers, " "))
end

-- 3. The price of 60 seats and 60 GB for a month, for an account.
local account = flow.account("Tiers Co " .. flow.tag)
local overrides = {}
for i, id in ipairs(made.charges) do
  if i == 2 then overrides[#overrides + 1] = { productRatePlanChargeId = id,
    pricing = { recurringTiered = { quantity = 60 } } }
  elseif i == 3 then overrides[#overrides + 1] = { productRatePlanChargeId = id,
    pricing = { recurringVolume = { quantity = 60 } } }
  end
end
local preview = check("preview", c.orders.preview{
  orderDate = flow.today, existingAccountNumber = account.accountNumber,
  previewOptions = { previewThruType = "NumberOfPeriods", previewNumberOfPeriods = 1,
    previewTypes = { "BillingDocs" } },
  subscriptions = { { orderActions = { flow.create_subscription({ { productRatePlanId = made.plan,
    chargeOverrides = overrides } }, flow.today) } } },
})
local inv = preview.previewResult.invoices[1]
local lines = {}
for _, it in ipairs(inv.invoiceItems) do lines[#lines + 1] = it.chargeName .. " " .. money(it.amountWithoutTax) end
table.sort(lines)
say("preview", "%s USD: %s", money(inv.amount), table.concat(lines, ", "))
