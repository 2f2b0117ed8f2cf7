--- The product catalogue: products, product rate plans and their charges.
local state = require "zuora_sim.state"
local json = require "zuora_sim.json"
local C = require "zuora_sim.api.common"

local M = {}
local obj, arr = json.object, json.array

function M.charge_json(c)
  local pricing, summary = arr(), arr()
  for _, p in ipairs(c.pricing) do
    pricing[#pricing + 1] = obj("currency", p.currency, "price", json.number(p.price))
    summary[#summary + 1] = p.currency .. p.price
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
  return obj("id", p.id, "name", p.name, "description", p.description or "", "status", p.status,
    "effectiveStartDate", p.effectiveStartDate, "effectiveEndDate", p.effectiveEndDate,
    "productRatePlanCharges", charges)
end

function M.product_json(p)
  local plans = arr()
  for _, id in ipairs(p.planIds) do
    local rp = state.data.product_rate_plans[id]
    if rp then plans[#plans + 1] = M.plan_json(rp) end
  end
  return obj("id", p.id, "sku", p.sku, "name", p.name, "description", p.description or "",
    "category", p.category or json.null, "effectiveStartDate", p.effectiveStartDate,
    "effectiveEndDate", p.effectiveEndDate, "productRatePlans", plans)
end

local function product_of(key)
  return C.find("products", key, { "sku" }, "product")
end

--- The price of a product rate plan charge in `currency`; raises when there is none.
function M.price(charge, currency)
  for _, p in ipairs(charge.pricing) do
    if p.currency == currency then return p.price end
  end
  C.fail("rule_restriction", "The charge " .. charge.name .. " has no price in " .. tostring(currency), "product")
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
    description = b.Description, status = "Active", effectiveStartDate = b.EffectiveStartDate or "2020-01-01",
    effectiveEndDate = b.EffectiveEndDate or "2099-12-31", chargeIds = {} }
  state.put("product_rate_plans", rp)
  product.planIds[#product.planIds + 1] = rp.id
  return 200, obj("Success", true, "Id", rp.id)
end

local function crud_create_charge(req)
  local b = req:json_body()
  local rp = C.find("product_rate_plans", C.require(b, "ProductRatePlanId", "product"), nil, "product")
  local pricing = {}
  local data = type(b.ProductRatePlanChargeTierData) == "table" and b.ProductRatePlanChargeTierData or {}
  for _, t in ipairs(data.ProductRatePlanChargeTier or {}) do
    pricing[#pricing + 1] = { currency = t.Currency or "USD", price = json.number_text(t.Price) or "0" }
  end
  if #pricing == 0 then pricing[1] = { currency = "USD", price = "0" } end
  local ctype = b.ChargeType or "Recurring"
  local c = { id = state.new_id("product_rate_plan_charge"), productRatePlanId = rp.id,
    name = C.require(b, "Name", "product"), type = ctype, model = b.ChargeModel or "FlatFee",
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
    for _, p in ipairs(state.list("products")) do items[#items + 1] = M.product_json(p) end
    local page, next_url = C.page(req, items, { default = 10 })
    return 200, C.ok(obj("products", page, "nextPage", next_url))
  end)
  r.add("GET", "/v1/catalog/products/{product-key}", function(req)
    return 200, C.ok(M.product_json(product_of(req.params["product-key"])))
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
