--- What the flows in examples/flows/ share: the client from the environment, dates, money
-- printed exactly, a customer account, a product of one's own, and a bill run polled to its end.
--
-- Each flow makes everything it needs itself (its own products through the object API, its own
-- accounts), so it runs unchanged against zuora-sim and against a sandbox tenant: set
-- ZUORA_BASE_URL (or ZUORA_ENVIRONMENT), ZUORA_CLIENT_ID and ZUORA_CLIENT_SECRET and run
--   LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="build/lua5.4/?.so;;" lua5.4 examples/flows/<flow>.lua
-- Never point a flow at a production tenant: it creates accounts, products and payments.
local zuora = require "zuora"

local M = {}

M.json = zuora.json
M.client = zuora.from_env{ zuora_version = "2025-08-12" }

local DAY = 86400

--- A date n days from today (UTC), YYYY-MM-DD.
function M.date(n) return os.date("!%Y-%m-%d", os.time() + (n or 0) * DAY) end
M.today = M.date(0)

--- The first day of the current month, and of the months after it.
function M.month_start(k)
  local t = os.date("!*t")
  local m = t.month - 1 + (k or 0)
  return ("%04d-%02d-01"):format(t.year + math.floor(m / 12), m % 12 + 1)
end

--- A number as Zuora sent it (exact decimal text).
function M.money(x) return M.json.encode(x) end

--- Prints one line of a flow's report: "label:   text".
function M.say(label, fmt, ...)
  print(("%-14s %s"):format(label .. ":", fmt:format(...)))
end

--- A call's result, or a stop with what failed and the error (kind, HTTP status, Zuora's reasons):
-- check("what", client.group.op(...)) -- the call last, so its nil, err both arrive.
function M.check(what, res, err)
  if res == nil then error(what .. " failed: " .. tostring(err), 2) end
  return res
end

--- A unique suffix, so names made by repeated runs on a sandbox do not collide.
M.tag = ("%d%03d"):format(os.time() % 100000, math.random(0, 999))

--- A customer account with a bill-to contact and a test card (Visa 4111...).
function M.account(name, extra)
  local body = {
    name = name, currency = "USD", billCycleDay = 1, autoPay = false,
    billToContact = { firstName = "Flow", lastName = name, workEmail = "flow@example.com", country = "United States",
      state = "CA" },
    paymentMethod = { type = "CreditCard", cardType = "Visa", cardNumber = "4111111111111111",
      expirationMonth = 12, expirationYear = 2030, securityCode = "123",
      cardHolderInfo = { cardHolderName = "Flow " .. name } },
  }
  for k, v in pairs(extra or {}) do body[k] = v end
  return M.check("account create", M.client.accounts.create(body))
end

--- A product with one rate plan and its charges, made through the object (CRUD) API.
-- `charges`: { {Name=, ChargeModel="Per Unit Pricing", ChargeType="Recurring", BillingPeriod="Month",
-- UOM=, price=100 | tiers={{StartingUnit=, EndingUnit=, Price=, PriceFormat=}}}, ...}.
-- Returns { product = id, plan = id, plan_number = "PRP-...", charges = {id, ...} }.
function M.product(name, plan_name, charges)
  local c = M.client
  local sku = "FLOW-" .. M.tag .. "-" .. name:gsub("%W", ""):upper()
  local product = M.check("product create", c.products.crud_create{ Name = name .. " " .. M.tag, SKU = sku,
    EffectiveStartDate = "2020-01-01", EffectiveEndDate = "2099-12-31" })
  local plan = M.check("rate plan create", c.product_rate_plans.crud_create{ Name = plan_name, ProductId = product.Id,
    EffectiveStartDate = "2020-01-01", EffectiveEndDate = "2099-12-31" })
  local out = { product = product.Id, plan = plan.Id, charges = {} }
  for i, ch in ipairs(charges) do
    local tiers = {}
    if ch.tiers then
      for k, t in ipairs(ch.tiers) do
        tiers[k] = { Currency = "USD", Tier = k, StartingUnit = t.StartingUnit, EndingUnit = t.EndingUnit,
          Price = t.Price, PriceFormat = t.PriceFormat or "Per Unit" }
      end
    else
      tiers[1] = { Currency = "USD", Price = ch.price }
    end
    local body = { Name = ch.Name, ProductRatePlanId = plan.Id, ChargeModel = ch.ChargeModel,
      ChargeType = ch.ChargeType, BillingPeriod = ch.BillingPeriod, UOM = ch.UOM, DefaultQuantity = ch.DefaultQuantity,
      TriggerEvent = "ContractEffective", BillCycleType = "DefaultFromCustomer",
      BillingPeriodAlignment = "AlignToCharge",
      UseDiscountSpecificAccountingCode = false, ProductRatePlanChargeTierData = { ProductRatePlanChargeTier = tiers } }
    out.charges[i] = M.check("charge create", c.product_rate_plan_charges.crud_create(body)).Id
  end
  local rp = M.check("rate plan read", c.product_rate_plans.retrieve(plan.Id))
  out.plan_number = rp.productRatePlanNumber
  return out
end

--- The trigger dates of an order action, all on `date`.
function M.triggers(date)
  return { { name = "ContractEffective", triggerDate = date }, { name = "ServiceActivation", triggerDate = date },
    { name = "CustomerAcceptance", triggerDate = date } }
end

--- A CreateSubscription order action for a 12-month termed subscription to `plans`
-- ({ {productRatePlanId=, chargeOverrides=}, ... }) starting on `date`.
function M.create_subscription(plans, date)
  return { type = "CreateSubscription", triggerDates = M.triggers(date),
    createSubscription = {
      terms = { initialTerm = { termType = "TERMED", period = 12, periodType = "Month", startDate = date },
        renewalSetting = "RENEW_WITH_SPECIFIC_TERM", autoRenew = true,
        renewalTerms = { { period = 12, periodType = "Month" } } },
      subscribeToRatePlans = plans } }
end

--- Creates a bill run (body as for POST /v1/bill-runs) and polls it until it is done.
function M.bill_run(body)
  local c = M.client
  local run = M.check("bill run", c.bill_run.create(body))
  local finished = { Completed = true, Posted = true, Error = true, Canceled = true }
  local delay = 0.2
  while not finished[run.status] do
    c:sleep(delay)
    delay = math.min(delay * 2, 5)
    run = M.check("bill run poll", c.bill_run.retrieve(run.id))
  end
  assert(run.status ~= "Error" and run.status ~= "Canceled", "bill run " .. run.billRunNumber .. " " .. run.status)
  return run
end

--- The posted invoices of an account (billing documents), newest last.
function M.invoices(account_id)
  local docs = M.check("billing documents", M.client.billing_documents.list{ accountId = account_id,
    documentType = "Invoice" })
  return docs.documents
end

return M
