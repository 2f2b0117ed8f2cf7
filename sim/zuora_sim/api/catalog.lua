--- The product catalogue: products, product rate plans and their charges.
local state = require "zuora_sim.state"
local json = require "zuora_sim.json"
local C = require "zuora_sim.api.common"

local decimal = require "zuora_sim.decimal"

local M = {}
local obj, arr = json.object, json.array

-- Charge models: the v1 catalogue and Orders spell them as enum names (`PerUnit`), the object
-- layer (CRUD, ZOQL, object queries, Data Query) as display names (`Per Unit Pricing`). Records
-- keep the enum name; either spelling is accepted on input.
local MODELS = {
  { "FlatFee", "Flat Fee Pricing" }, { "PerUnit", "Per Unit Pricing" }, { "Tiered", "Tiered Pricing" },
  { "Volume", "Volume Pricing" }, { "Overage", "Overage Pricing" },
  { "TieredWithOverage", "Tiered with Overage Pricing" }, { "DiscountFixedAmount", "Discount-Fixed Amount" },
  { "DiscountPercentage", "Discount-Percentage" },
}
local MODEL_ENUM, MODEL_DISPLAY = {}, {}
for _, m in ipairs(MODELS) do
  MODEL_ENUM[m[1]:lower()], MODEL_ENUM[m[2]:lower()], MODEL_DISPLAY[m[1]] = m[1], m[1], m[2]
end

--- The enum name of a charge model given in either spelling; nil for an unknown one.
function M.model_enum(text)
  return type(text) == "string" and MODEL_ENUM[text:lower()] or nil
end

--- The object layer's spelling of a charge model (`Per Unit Pricing`).
function M.model_display(model) return MODEL_DISPLAY[model] or model end

local TIERED = { Tiered = true, Volume = true, TieredWithOverage = true }
M.TIERED = TIERED

--- The amount of `qty` units of a charge (a product rate plan charge's price entry or a
-- subscription charge: fields model, price, tiers). Tiered: each tier prices the units that fall
-- in it; Volume: the tier holding the whole quantity prices all units; a tier whose priceFormat
-- is "Flat Fee" (or "FlatFee") counts once. Other models: price x quantity.
function M.amount(c, qty)
  qty = decimal.new(qty or "1")
  local tiers = c.tiers
  if not (TIERED[c.model] and tiers and #tiers > 0) then return decimal.mul(c.price or "0", qty) end
  local function flat(t) return t.priceFormat == "Flat Fee" or t.priceFormat == "FlatFee" end
  if c.model == "Volume" then
    for _, t in ipairs(tiers) do
      if not t.endingUnit or decimal.cmp(qty, t.endingUnit) <= 0 then
        return flat(t) and decimal.new(t.price) or decimal.mul(t.price, qty)
      end
    end
    local t = tiers[#tiers]
    return flat(t) and decimal.new(t.price) or decimal.mul(t.price, qty)
  end
  local total, below = decimal.new("0"), decimal.new("0")
  for _, t in ipairs(tiers) do
    if decimal.cmp(qty, below) <= 0 then break end
    local top = t.endingUnit and decimal.new(t.endingUnit) or qty
    if decimal.cmp(top, qty) > 0 then top = qty end
    local units = decimal.sub(top, below)
    if decimal.cmp(units, "0") > 0 then
      total = decimal.add(total, flat(t) and decimal.new(t.price) or decimal.mul(t.price, units))
    end
    below = top
  end
  return total
end

local function tier_json(t, currency)
  return obj("tier", t.tier, "currency", currency, "startingUnit", json.number(t.startingUnit or "0"),
    "endingUnit", t.endingUnit and json.number(t.endingUnit) or json.null, "price", json.number(t.price),
    "priceFormat", t.priceFormat or "Per Unit")
end

function M.charge_json(c)
  local pricing, summary = arr(), arr()
  for _, p in ipairs(c.pricing) do
    local e = obj("currency", p.currency, "price", p.price and json.number(p.price) or json.null)
    if p.tiers then
      e.tiers = arr()
      for _, t in ipairs(p.tiers) do e.tiers[#e.tiers + 1] = tier_json(t, p.currency) end
    end
    pricing[#pricing + 1] = e
    summary[#summary + 1] = p.currency .. (p.price or (p.tiers and p.tiers[1] and p.tiers[1].price) or "0")
  end
  return obj("id", c.id, "name", c.name, "type", c.type, "model", c.model, "uom", c.uom or json.null,
    "pricingSummary", summary, "pricing", pricing,
    "defaultQuantity", c.defaultQuantity and json.number(c.defaultQuantity) or json.null,
    "billingPeriod", c.billingPeriod or json.null, "billingTiming", c.billingTiming,
    "triggerEvent", c.triggerEvent, "endDateCondition", c.endDateCondition,
    "listPriceBase", c.listPriceBase or json.null, "number", c.number)
end

function M.plan_json(p)
  local charges = arr()
  for _, id in ipairs(p.chargeIds) do
    local c = state.data.product_rate_plan_charges[id]
    if c then charges[#charges + 1] = M.charge_json(c) end
  end
  return obj("id", p.id, "name", p.name, "productRatePlanNumber", p.number or json.null,
    "description", p.description or "", "status", p.status,
    "effectiveStartDate", p.effectiveStartDate, "effectiveEndDate", p.effectiveEndDate,
    "productRatePlanCharges", charges)
end

--- A product as the v1 catalogue shows it. From zuora-version 230.0 on (date-named versions
-- included) `productRatePlans` is the URL of the product's rate plans, not the list.
function M.product_json(p, version)
  local plans
  if (version or 0) >= 230 then
    plans = "/v1/products/" .. p.id .. "/product-rate-plans"
  else
    plans = arr()
    for _, id in ipairs(p.planIds) do
      local rp = state.data.product_rate_plans[id]
      if rp then plans[#plans + 1] = M.plan_json(rp) end
    end
  end
  return obj("id", p.id, "sku", p.sku, "name", p.name, "description", p.description or "",
    "category", p.category or json.null, "effectiveStartDate", p.effectiveStartDate,
    "effectiveEndDate", p.effectiveEndDate, "productRatePlans", plans)
end

local function product_of(key)
  return C.find("products", key, { "sku" }, "product")
end

--- The price entry ({currency, price, tiers}) of a product rate plan charge in `currency`; raises
-- when there is none.
function M.price_entry(charge, currency)
  for _, p in ipairs(charge.pricing) do
    if p.currency == currency then return p end
  end
  C.fail("rule_restriction", "The charge " .. charge.name .. " has no price in " .. tostring(currency), "product")
end

--- The (first tier's, for tiered models) price of a product rate plan charge in `currency`.
function M.price(charge, currency)
  local p = M.price_entry(charge, currency)
  return p.price or (p.tiers and p.tiers[1] and p.tiers[1].price) or "0"
end

--- Pricing entries from the object layer's ProductRatePlanChargeTierData (one tier object a line,
-- Currency, Price, StartingUnit, EndingUnit, Tier, PriceFormat), grouped by currency.
function M.pricing_from_tiers(list, model, resource)
  local by_cur, pricing = {}, {}
  for i, t in ipairs(type(list) == "table" and list or {}) do
    local cur = t.Currency or t.currency or "USD"
    local e = by_cur[cur]
    if not e then
      e = { currency = cur }
      by_cur[cur] = e
      pricing[#pricing + 1] = e
    end
    local price = decimal.tostring(C.amount(t.Price or t.price or 0, "Price", resource))
    if TIERED[model] then
      e.tiers = e.tiers or {}
      local ending = t.EndingUnit or t.endingUnit
      e.tiers[#e.tiers + 1] = { tier = json.tonumber(t.Tier or t.tier) or i, price = price,
        startingUnit = json.number_text(t.StartingUnit or t.startingUnit) or "0",
        endingUnit = ending ~= nil and ending ~= json.null and json.number_text(ending) or nil,
        priceFormat = t.PriceFormat or t.priceFormat or "Per Unit" }
    else
      e.price = price
    end
  end
  for _, e in ipairs(pricing) do
    if e.tiers then table.sort(e.tiers, function(a, b) return a.tier < b.tier end) end
  end
  return pricing
end

-- /v1/object/product* (CRUD): create catalogue entries the billing core can use.
local function crud_create_product(req)
  local b = req:json_body()
  local name = C.require(b, "Name", "product")
  local n = state.next("product")
  local p = { id = state.new_id("product"), name = name, sku = b.SKU or string.format("SKU-%08d", n),
    description = b.Description, category = b.Category, effectiveStartDate = b.EffectiveStartDate or "2020-01-01",
    effectiveEndDate = b.EffectiveEndDate or "2099-12-31", planIds = {} }
  state.put("products", p)
  return 200, obj("Success", true, "Id", p.id)
end

local function crud_create_plan(req)
  local b = req:json_body()
  local product = product_of(C.require(b, "ProductId", "product"))
  local rp = { id = state.new_id("product_rate_plan"), productId = product.id, name = C.require(b, "Name", "product"),
    number = string.format("PRP-%08d", 100 + state.next("prp")),
    description = b.Description, status = "Active", effectiveStartDate = b.EffectiveStartDate or "2020-01-01",
    effectiveEndDate = b.EffectiveEndDate or "2099-12-31", chargeIds = {} }
  state.put("product_rate_plans", rp)
  product.planIds[#product.planIds + 1] = rp.id
  return 200, obj("Success", true, "Id", rp.id)
end

local function crud_create_charge(req)
  local b = req:json_body()
  local rp = C.find("product_rate_plans", C.require(b, "ProductRatePlanId", "product"), nil, "product")
  local model = "FlatFee"
  if b.ChargeModel ~= nil then
    model = M.model_enum(b.ChargeModel) or C.fail("invalid_value", "Invalid value for ChargeModel: "
      .. tostring(b.ChargeModel), "product", nil, "INVALID_VALUE")
  end
  local data = type(b.ProductRatePlanChargeTierData) == "table" and b.ProductRatePlanChargeTierData or {}
  local pricing = M.pricing_from_tiers(data.ProductRatePlanChargeTier, model, "product")
  if #pricing == 0 then pricing[1] = { currency = "USD", price = "0" } end
  local ctype = b.ChargeType or "Recurring"
  local c = { id = state.new_id("product_rate_plan_charge"), productRatePlanId = rp.id,
    name = C.require(b, "Name", "product"), type = ctype, model = model,
    billingPeriod = ctype ~= "OneTime" and (b.BillingPeriod or "Month") or nil, uom = b.UOM,
    billingTiming = b.BillingTiming or (ctype == "Usage" and "IN_ARREARS" or "IN_ADVANCE"),
    pricing = pricing, triggerEvent = b.TriggerEvent or "ContractEffective",
    endDateCondition = "Subscription_End", number = string.format("PC-%08d", 100 + state.next("prpc")),
    defaultQuantity = json.number_text(b.DefaultQuantity) }
  state.put("product_rate_plan_charges", c)
  rp.chargeIds[#rp.chargeIds + 1] = c.id
  return 200, obj("Success", true, "Id", c.id)
end

function M.register(r)
  r.add("GET", "/v1/catalog/products", function(req)
    local items = {}
    for _, p in ipairs(state.list("products")) do items[#items + 1] = M.product_json(p, req:version_number()) end
    local page, next_url = C.page(req, items, { default = 10 })
    return 200, C.ok(obj("products", page, "nextPage", next_url))
  end)
  r.add("GET", "/v1/catalog/products/{product-key}", function(req)
    return 200, C.ok(M.product_json(product_of(req.params["product-key"]), req:version_number()))
  end)
  r.add("GET", "/v1/products/{product-key}/product-rate-plans", function(req)
    local p = product_of(req.params["product-key"])
    local items = {}
    for _, id in ipairs(p.planIds) do items[#items + 1] = M.plan_json(state.data.product_rate_plans[id]) end
    local page, next_url = C.page(req, items)
    return 200, C.ok(obj("productRatePlans", page, "nextPage", next_url))
  end)
  r.add("GET", "/v1/product-rate-plans/{id}", function(req)
    return 200, C.ok(M.plan_json(C.find("product_rate_plans", req.params.id, nil, "product")))
  end)
  r.add("GET", "/v1/product-rate-plan-charges/{product-rate-plan-charge-key}", function(req)
    return 200, C.ok(M.charge_json(C.find("product_rate_plan_charges",
      req.params["product-rate-plan-charge-key"], { "number" }, "product")))
  end)
  r.add("POST", "/v1/object/product", crud_create_product, { family = "crud" })
  r.add("POST", "/v1/object/product-rate-plan", crud_create_plan, { family = "crud" })
  r.add("POST", "/v1/object/product-rate-plan-charge", crud_create_charge, { family = "crud" })
end

return M
