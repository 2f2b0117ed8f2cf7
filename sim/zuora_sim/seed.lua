--- The product catalogue every fresh simulator (and every reset) starts with.
-- Ids are fixed so examples and docs can name them; docs/zuora-sim.md lists them.
local M = {}

local function id(n) return string.format("8ad0%028x", n) end

M.IDS = {
  product_cloud = id(0x101), product_onboarding = id(0x102),
  plan_basic = id(0x201), plan_pro = id(0x202), plan_seats = id(0x203), plan_onboarding = id(0x204),
  charge_basic = id(0x301), charge_pro = id(0x302), charge_api_calls = id(0x303),
  charge_seat = id(0x304), charge_setup = id(0x305),
}

local I = M.IDS

local PRODUCTS = {
  { id = I.product_cloud, name = "Sim Cloud", sku = "SKU-SIM-CLOUD", category = "Base Products",
    description = "Hosted service billed monthly or per seat",
    plans = {
      { id = I.plan_basic, name = "Basic Monthly", description = "One flat monthly fee",
        charges = {
          { id = I.charge_basic, name = "Basic Monthly Fee", type = "Recurring", model = "FlatFee",
            billingPeriod = "Month", pricing = { USD = "49.99", EUR = "45.00" } },
        } },
      { id = I.plan_pro, name = "Pro Monthly", description = "Monthly fee plus metered API calls",
        charges = {
          { id = I.charge_pro, name = "Pro Monthly Fee", type = "Recurring", model = "FlatFee",
            billingPeriod = "Month", pricing = { USD = "199.00", EUR = "185.00" } },
          { id = I.charge_api_calls, name = "API Calls", type = "Usage", model = "PerUnit",
            billingPeriod = "Month", uom = "Call", billingTiming = "IN_ARREARS",
            pricing = { USD = "0.0025", EUR = "0.0023" } },
        } },
      { id = I.plan_seats, name = "Seats Annual", description = "Per-seat licence billed yearly",
        charges = {
          { id = I.charge_seat, name = "Seat License", type = "Recurring", model = "PerUnit",
            billingPeriod = "Annual", uom = "Seat", defaultQuantity = "1",
            pricing = { USD = "120.00", EUR = "110.00" } },
        } },
    } },
  { id = I.product_onboarding, name = "Sim Onboarding", sku = "SKU-SIM-ONBOARD", category = "Add On Services",
    description = "One-time setup",
    plans = {
      { id = I.plan_onboarding, name = "Onboarding", description = "Setup fee charged once",
        charges = {
          { id = I.charge_setup, name = "Setup Fee", type = "OneTime", model = "FlatFee",
            pricing = { USD = "99.95", EUR = "95.00" } },
        } },
    } },
}

--- Fills state.data's catalogue collections.
function M.catalog(state)
  local n, plans = 0, 0
  for _, p in ipairs(PRODUCTS) do
    local product = { id = p.id, name = p.name, sku = p.sku, category = p.category,
      description = p.description, effectiveStartDate = "2020-01-01", effectiveEndDate = "2099-12-31",
      planIds = {} }
    for _, rp in ipairs(p.plans) do
      product.planIds[#product.planIds + 1] = rp.id
      plans = plans + 1
      local plan = { id = rp.id, productId = p.id, name = rp.name, description = rp.description,
        number = string.format("PRP-%08d", plans),
        status = "Active", effectiveStartDate = "2020-01-01", effectiveEndDate = "2099-12-31", chargeIds = {} }
      for _, c in ipairs(rp.charges) do
        plan.chargeIds[#plan.chargeIds + 1] = c.id
        n = n + 1
        local pricing = {}
        for _, cur in ipairs({ "USD", "EUR" }) do pricing[#pricing + 1] = { currency = cur, price = c.pricing[cur] } end
        state.put("product_rate_plan_charges", {
          id = c.id, productRatePlanId = rp.id, name = c.name, type = c.type, model = c.model,
          billingPeriod = c.billingPeriod, uom = c.uom, defaultQuantity = c.defaultQuantity,
          billingTiming = c.billingTiming or "IN_ADVANCE", pricing = pricing,
          triggerEvent = "ContractEffective", endDateCondition = "Subscription_End",
          listPriceBase = c.billingPeriod and "Per_Billing_Period" or nil,
          number = string.format("PC-%08d", n),
        })
      end
      state.put("product_rate_plans", plan)
    end
    state.put("products", product)
  end
end

return M
