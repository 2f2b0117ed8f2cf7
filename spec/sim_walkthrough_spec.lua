-- zuora-sim against Zuora's own new-customer walkthrough (catalogue lookup by object query, order
-- preview for someone who is not a customer yet, the order that makes account, subscription and
-- invoice, reads, a payment applied in part), over real HTTP, with the figures the walkthrough
-- shows: a 1,000.00 invoice for 10 units at 100, and a balance of 900 after 100 of a 1,000 payment.
local simh = require "spec.support.sim"
local json = simh.json

local V = { ["zuora-version"] = "2025-08-12" }

local function n(v) return json.tonumber(v) end

describe("zuora-sim new-customer walkthrough", function()
  local s
  lazy_setup(function()
    s = simh.start()
    s:config{ today = "2024-03-01" }
  end)
  lazy_teardown(function() if s then s:stop() end end)

  local function ok(res)
    assert.equals(200, res.status, res.body)
    return res.json
  end

  -- A product sold per unit at 100 USD a month, made with the object (CRUD) API.
  local function per_unit_product()
    local product = ok(s:post("/v1/object/product", { Name = "Walkthrough Licences",
      EffectiveStartDate = "2024-01-01", EffectiveEndDate = "2034-01-01" }))
    local plan = ok(s:post("/v1/object/product-rate-plan", { Name = "Per Licence Monthly",
      ProductId = product.Id, EffectiveStartDate = "2024-01-01", EffectiveEndDate = "2034-01-01" }))
    local charge = ok(s:post("/v1/object/product-rate-plan-charge", { Name = "Licence",
      ProductRatePlanId = plan.Id, ChargeModel = "Per Unit Pricing", ChargeType = "Recurring",
      BillingPeriod = "Month", UOM = "Licence", DefaultQuantity = 1, TriggerEvent = "ContractEffective",
      ProductRatePlanChargeTierData = { ProductRatePlanChargeTier = { { Currency = "USD", Price = 100 } } } }))
    assert.is_true(charge.Success)
    return plan.Id, charge.Id
  end

  local function create_subscription(plan_number, charge_id, quantity)
    return { type = "CreateSubscription",
      triggerDates = { { name = "ContractEffective", triggerDate = "2024-03-01" },
        { name = "ServiceActivation", triggerDate = "2024-03-01" },
        { name = "CustomerAcceptance", triggerDate = "2024-03-01" } },
      createSubscription = {
        terms = { initialTerm = { termType = "TERMED", period = 12, periodType = "Month", startDate = "2024-03-01" },
          renewalSetting = "RENEW_WITH_SPECIFIC_TERM", autoRenew = true,
          renewalTerms = { { period = 12, periodType = "Month" } } },
        subscribeToRatePlans = { { productRatePlanNumber = plan_number, chargeOverrides = { {
          productRatePlanChargeId = charge_id,
          pricing = { recurringPerUnit = { quantity = quantity } } } } } } } }
  end

  it("previews, orders, bills and takes a payment the way Zuora's tutorial does", function()
    local plan_id, charge_id = per_unit_product()

    -- 1. The catalogue lookup the tutorial makes: per-unit recurring charges with their plan.
    local found = ok(s:get("/object-query/product-rate-plan-charges?expand[]=productrateplan"
      .. "&filter[]=chargemodel.EQ:Per%20Unit%20Pricing&filter[]=chargetype.EQ:Recurring&pageSize=99"))
    local charge
    for _, c in ipairs(found.data) do
      assert.equals("Per Unit Pricing", c.chargeModel)
      assert.equals("Recurring", c.chargeType)
      assert.equals(c.productRatePlanId, c.productRatePlan.id) -- expand[] filled in the plan
      if c.id == charge_id then charge = c end
    end
    assert.is_table(charge, "the new charge is among the per-unit recurring charges")
    assert.equals(plan_id, charge.productRatePlan.id)
    local plan_number = charge.productRatePlan.productRatePlanNumber
    assert.matches("^PRP%-%d+$", plan_number)

    -- 2. Preview for someone who has no account yet: previewAccountInfo instead of an account.
    local before = s:state()
    local preview = ok(s:post("/v1/orders/preview", {
      orderDate = "2024-03-01",
      previewAccountInfo = { currency = "USD", billCycleDay = 1,
        soldToContact = { firstName = "Amy", lastName = "Lee", country = "United States", state = "CA" } },
      previewOptions = { previewThruType = "NumberOfPeriods", previewNumberOfPeriods = 1,
        previewTypes = { "BillingDocs", "ChargeMetrics", "OrderDeltaMetrics" } },
      subscriptions = { { orderActions = { create_subscription(plan_number, charge_id, 10) } } },
    }, { headers = V }))
    assert.is_true(preview.success)
    local result = preview.previewResult
    assert.equals(1, #result.invoices)
    local inv = result.invoices[1]
    assert.equals(1000, n(inv.amount))
    assert.equals(1000, n(inv.amountWithoutTax))
    assert.equals(1, #inv.invoiceItems)
    local item = inv.invoiceItems[1]
    assert.equals("Licence", item.chargeName)
    assert.equals(10, n(item.additionalInfo.quantity))
    assert.equals(1000, n(item.amountWithoutTax))
    assert.equals("2024-03-01", item.serviceStartDate)
    assert.equals("2024-03-31", item.serviceEndDate)
    assert.equals(1000, n(result.chargeMetrics[1].charges[1].cmrr.regular))
    assert.equals(12000, n(result.chargeMetrics[1].charges[1].tcv.regular))
    assert.equals(1000, n(result.orderDeltaMetrics.orderDeltaMrr[1].grossAmount))
    assert.equals(12000, n(result.orderDeltaMetrics.orderDeltaTcv[1].netAmount))
    -- a preview changes nothing
    local after = s:state()
    assert.equals(n(before.accounts), n(after.accounts))
    assert.equals(n(before.subscriptions), n(after.subscriptions))
    assert.equals(n(before.invoices), n(after.invoices))

    -- 3. The order: a new account, its subscription and the first invoice in one call.
    local order = ok(s:post("/v1/orders", {
      orderDate = "2024-03-01",
      newAccount = { name = "Amy Lee", currency = "USD", billCycleDay = 1, autoPay = false,
        billToContact = { firstName = "Amy", lastName = "Lee", country = "United States", state = "CA",
          workEmail = "amy@example.com" },
        paymentMethod = { type = "CreditCard", cardType = "Visa", cardNumber = "4111111111111111",
          expirationMonth = 12, expirationYear = 2030, securityCode = "123",
          cardHolderInfo = { cardHolderName = "Amy Lee" } } },
      subscriptions = { { orderActions = { create_subscription(plan_number, charge_id, 10) } } },
      processingOptions = { runBilling = true, billingOptions = { targetDate = "2024-03-01" },
        collectPayment = false },
    }, { headers = V }))
    assert.is_true(order.success)
    assert.equals("Completed", order.status)
    local account = ok(s:get("/v1/accounts/" .. order.accountNumber, { headers = V }))
    assert.equals("Amy Lee", account.basicInfo.name)
    local sub = ok(s:get("/v1/subscriptions/" .. order.subscriptions[1].subscriptionNumber, { headers = V }))
    assert.equals("Active", sub.status)
    assert.equals(10, n(sub.ratePlans[1].ratePlanCharges[1].quantity))
    assert.equals(100, n(sub.ratePlans[1].ratePlanCharges[1].price))
    assert.equals(1, #order.invoiceIds)
    local invoice = ok(s:get("/v1/invoices/" .. order.invoiceIds[1], { headers = V }))
    assert.equals(1000, n(invoice.amount))
    assert.equals(1000, n(invoice.balance))
    assert.equals("Posted", invoice.status)

    -- 4. A payment of 1,000 of which 100 goes to the invoice: 900 stays on the invoice and on the payment.
    local payment = ok(s:post("/v1/payments", { accountId = order.accountId, amount = 1000, currency = "USD",
      type = "Electronic", paymentMethodId = account.billingAndPayment.defaultPaymentMethodId,
      effectiveDate = "2024-03-01", invoices = { { invoiceId = invoice.id, amount = 100 } } }, { headers = V }))
    assert.equals("Processed", payment.status)
    assert.equals(100, n(payment.appliedAmount))
    assert.equals(900, n(payment.unappliedAmount))
    invoice = ok(s:get("/v1/invoices/" .. invoice.id, { headers = V }))
    assert.equals(900, n(invoice.balance))
    assert.equals(100, n(invoice.paymentAmount))

    -- 5. The same, read back through object queries: the payment's application and the order's action.
    local apps = ok(s:get("/object-query/payment-applications?filter[]=paymentId.EQ:" .. payment.id)).data
    assert.equals(1, #apps)
    assert.equals(invoice.id, apps[1].invoiceId)
    assert.equals(100, n(apps[1].appliedAmount))
    assert.equals("Apply", apps[1].applyType)
    local orders = ok(s:get("/object-query/orders?filter[]=orderNumber.EQ:" .. order.orderNumber)).data
    local actions = ok(s:get("/object-query/order-actions?filter[]=orderId.EQ:" .. orders[1].id)).data
    assert.equals(1, #actions)
    assert.equals("CreateSubscription", actions[1].type)
    local tiers = ok(s:get("/object-query/rate-plan-charge-tiers?filter[]=ratePlanChargeId.EQ:"
      .. sub.ratePlans[1].ratePlanCharges[1].id)).data
    assert.equals(1, #tiers)
    assert.equals(100, n(tiers[1].price))
  end)

  it("reprices a charge updated through the object API (PUT /v1/object/product-rate-plan-charge/{id})", function()
    local _, charge_id = per_unit_product()
    local upd = ok(s:put("/v1/object/product-rate-plan-charge/" .. charge_id, { Name = "Licence (new price)",
      ProductRatePlanChargeTierData = { ProductRatePlanChargeTier = { { Currency = "USD", Price = 80 } } } }))
    assert.is_true(upd.Success)
    local got = ok(s:get("/v1/object/product-rate-plan-charge/" .. charge_id))
    assert.equals("Licence (new price)", got.Name)
    assert.equals("Per Unit Pricing", got.ChargeModel)
    local plan = ok(s:get("/object-query/product-rate-plan-charges/" .. charge_id .. "?expand[]=productrateplan"))
    local preview = ok(s:post("/v1/orders/preview", { orderDate = "2024-03-01",
      previewAccountInfo = { currency = "USD", billCycleDay = 1 },
      previewOptions = { previewThruType = "NumberOfPeriods", previewNumberOfPeriods = 2,
        previewTypes = { "BillingDocs" } },
      subscriptions = { { orderActions = { create_subscription(plan.productRatePlan.productRatePlanNumber,
        charge_id, 3) } } } }, { headers = V }))
    local inv = preview.previewResult.invoices[1]
    assert.equals(480, n(inv.amount)) -- 2 months x 3 licences x 80
    assert.equals(2, #inv.invoiceItems)
  end)

  it("refuses a preview without previewAccountInfo's currency, as Zuora does", function()
    local res = s:post("/v1/orders/preview", { orderDate = "2024-03-01",
      previewAccountInfo = { billCycleDay = 1 },
      previewOptions = { previewThruType = "NumberOfPeriods", previewNumberOfPeriods = 1,
        previewTypes = { "BillingDocs" } },
      subscriptions = { { orderActions = { create_subscription("PRP-00000001", "x", 1) } } } }, { headers = V })
    assert.is_false(res.json.success, res.body)
    assert.matches("currency", res.json.reasons[1].message)
  end)

  it("expands plans into charges and tiers the way the product-details tutorial asks", function()
    local res = ok(s:get("/object-query/product-rate-plans?expand[]=productrateplancharges%2C"
      .. "productrateplancharges.productrateplanchargetiers&filter[]=productId.EQ:8ad00000000000000000000000000101"))
    assert.equals(3, #res.data)
    local basic = res.data[1]
    assert.equals("Basic Monthly", basic.name)
    local charge = basic.productRatePlanCharges[1]
    assert.equals("Flat Fee Pricing", charge.chargeModel)
    local prices = {}
    for _, t in ipairs(charge.productRatePlanChargeTiers) do prices[t.currency] = json.number_text(t.price) end
    assert.same({ USD = "49.99", EUR = "45.00" }, prices)
  end)

  it("lists a product's rate plans inline up to zuora-version 229.0 and as their URL from 230.0 on", function()
    local old = ok(s:get("/v1/catalog/products/SKU-SIM-CLOUD", { headers = { ["zuora-version"] = "229.0" } }))
    assert.equals(3, #old.productRatePlans)
    assert.equals("Basic Monthly", old.productRatePlans[1].name)
    for _, v in ipairs({ "230.0", "2025-08-12" }) do
      local new = ok(s:get("/v1/catalog/products/SKU-SIM-CLOUD", { headers = { ["zuora-version"] = v } }))
      assert.equals("/v1/products/" .. new.id .. "/product-rate-plans", new.productRatePlans)
      local plans = ok(s:get(new.productRatePlans, { headers = { ["zuora-version"] = v } }))
      assert.equals(3, #plans.productRatePlans)
    end
  end)
end)
