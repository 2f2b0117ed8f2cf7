-- zuora-sim's billing core over real HTTP: the quickstart flow and the rules around it.
local simh = require "spec.support.sim"
local json = simh.json

local PLAN_BASIC = "8ad00000000000000000000000000201"
local PLAN_PRO = "8ad00000000000000000000000000202"
local PLAN_SEATS = "8ad00000000000000000000000000203"
local PLAN_ONBOARDING = "8ad00000000000000000000000000204"

local function n(v) return json.number_text(v) end

describe("zuora-sim billing", function()
  local s
  lazy_setup(function() s = simh.start() end)
  lazy_teardown(function() if s then s:stop() end end)
  before_each(function()
    s:reset()
    s:config{ today = "2024-01-15", job_polls = 2 }
  end)

  local function order(account_number, plans, extra)
    local rps = {}
    for i, p in ipairs(plans) do rps[i] = type(p) == "table" and p or { productRatePlanId = p } end
    local body = { orderDate = "2024-01-01", existingAccountNumber = account_number,
      subscriptions = { { orderActions = { { type = "CreateSubscription",
        triggerDates = { { name = "ContractEffective", triggerDate = "2024-01-01" } },
        createSubscription = { terms = { initialTerm = { termType = "TERMED", period = 12, periodType = "Month" },
          renewalSetting = "RENEW_WITH_SPECIFIC_TERM", autoRenew = true,
          renewalTerms = { { period = 12, periodType = "Month" } } },
          subscribeToRatePlans = rps } } } } } }
    for k, v in pairs(extra or {}) do body[k] = v end
    local res = s:post("/v1/orders", body, { headers = { ["zuora-version"] = "2025-08-12" } })
    assert.equals(200, res.status, res.body)
    return res.json
  end

  local function bill(account_id, target)
    local br = s:post("/v1/bill-runs", { targetDate = target, autoPost = true,
      billRunFilters = { { filterType = "Account", accountId = account_id } } })
    assert.equals(200, br.status, br.body)
    assert.equals("Pending", br.json.status)
    local status
    for _ = 1, 5 do
      status = s:get("/v1/bill-runs/" .. br.json.id).json.status
      if status == "Posted" or status == "Completed" then break end
    end
    assert.equals("Posted", status)
    return br.json.id
  end

  it("runs the quickstart flow: account, order, bill run, invoices, payment, summary", function()
    local acct = s:account{ name = "Quickstart Co" }
    assert.matches("^A%d+$", acct.accountNumber)
    assert.is_string(acct.paymentMethodId)
    local products = s:get("/v1/catalog/products").json.products
    assert.equals("Sim Cloud", products[1].name)

    local o = order(acct.accountNumber, { PLAN_BASIC, PLAN_ONBOARDING })
    assert.equals("Completed", o.status)
    local sub_number = o.subscriptions[1].subscriptionNumber
    assert.equals("Active", o.subscriptions[1].status)

    bill(acct.accountId, "2024-02-15")
    local docs = s:get("/v1/billing-documents?accountId=" .. acct.accountId .. "&documentType=Invoice").json
    assert.equals(1, #docs.documents)
    local inv = docs.documents[1]
    -- Two monthly periods (Jan, Feb) of 49.99 and the 99.95 setup fee: exactly 199.93.
    assert.equals("199.93", n(inv.amount))
    assert.equals("199.93", n(inv.balance))
    assert.equals("Posted", inv.status)
    local items = s:get("/v1/invoices/" .. inv.id .. "/items").json.invoiceItems
    assert.equals(3, #items)
    assert.equals(sub_number, items[1].subscriptionNumber)
    assert.equals("2024-01-01", items[1].serviceStartDate)
    assert.equals("2024-01-31", items[1].serviceEndDate)

    local pay = s:post("/v1/payments", { accountId = acct.accountId, amount = inv.balance, currency = "USD",
      type = "Electronic", effectiveDate = "2024-01-15", paymentMethodId = acct.paymentMethodId,
      invoices = { { invoiceId = inv.id, amount = inv.balance } } })
    assert.equals(200, pay.status, pay.body)
    assert.equals("Processed", pay.json.status)
    assert.equals("199.93", n(pay.json.appliedAmount))
    assert.equals("0", n(pay.json.unappliedAmount))

    local sum = s:get("/v1/accounts/" .. acct.accountNumber .. "/summary").json
    assert.equals("0", n(sum.basicInfo.balance))
    assert.equals("199.93", n(sum.basicInfo.lastPaymentAmount))
    assert.equals(sub_number, sum.subscriptions[1].subscriptionNumber)
    assert.equals("0", n(sum.invoices[1].balance))
    assert.equals("Ada", sum.billToContact.firstName)
  end)

  it("bills again only what became due, and keeps cents exact across many items", function()
    local acct = s:account()
    order(acct.accountNumber, { { productRatePlanId = PLAN_SEATS, chargeOverrides = { {
      productRatePlanChargeId = "8ad00000000000000000000000000304",
      pricing = { recurringPerUnit = { quantity = 3, listPrice = json.number("0.10") } } } } } })
    bill(acct.accountId, "2024-01-31")
    bill(acct.accountId, "2024-01-31") -- nothing new is due: no second invoice
    local docs = s:get("/v1/billing-documents?accountId=" .. acct.accountId).json.documents
    assert.equals(1, #docs)
    assert.equals("0.3", n(docs[1].amount)) -- 3 x 0.10, not 0.30000000000000004
    local acc = s:get("/v1/accounts/" .. acct.accountId).json
    assert.equals("0.3", n(acc.metrics.balance))
  end)

  it("previews an order without creating anything", function()
    local acct = s:account()
    local res = s:post("/v1/orders/preview", { orderDate = "2024-01-01", existingAccountNumber = acct.accountNumber,
      previewOptions = { previewThruType = "SpecificDate", specificPreviewThruDate = "2024-03-15",
        previewTypes = { "BillingDocs" } },
      subscriptions = { { orderActions = { { type = "CreateSubscription", createSubscription = {
        subscribeToRatePlans = { { productRatePlanId = PLAN_BASIC } } } } } } } })
    assert.equals(200, res.status, res.body)
    local inv = res.json.previewResult.invoices[1]
    assert.equals("149.97", n(inv.amount)) -- January, February, March
    assert.equals(3, #inv.invoiceItems)
    local st = s:state()
    assert.equals(0, json.tonumber(st.subscriptions))
    assert.equals(0, json.tonumber(st.orders))
    assert.equals(1, json.tonumber(st.accounts))
  end)

  it("answers the old subscriptionNumbers shape for old minor versions", function()
    local acct = s:account()
    local res = s:post("/v1/orders", { orderDate = "2024-01-01", existingAccountNumber = acct.accountNumber,
      subscriptions = { { orderActions = { { type = "CreateSubscription", createSubscription = {
        subscribeToRatePlans = { { productRatePlanId = PLAN_BASIC } } } } } } } },
      { headers = { ["zuora-version"] = "211.0" } })
    assert.equals(1, #res.json.subscriptionNumbers)
    assert.is_nil(res.json.subscriptions)
  end)

  it("reports v1 errors with 8-digit codes whose last two digits are the category", function()
    local missing = s:post("/v1/accounts", { currency = "USD" })
    assert.equals(400, missing.status)
    assert.is_false(missing.json.success)
    assert.is_string(missing.json.processId)
    local code = n(missing.json.reasons[1].code)
    assert.matches("^%d%d%d%d%d%d22$", code)
    local nf = s:get("/v1/accounts/A99999999")
    assert.equals(404, nf.status)
    assert.matches("40$", n(nf.json.reasons[1].code))
    local bad = s:request{ method = "POST", path = "/v1/accounts", body = "{not json",
      headers = { ["Content-Type"] = "application/json" } }
    assert.matches("90$", n(bad.json.reasons[1].code))
    local array = s:request{ method = "POST", path = "/v1/accounts", body = "[]",
      headers = { ["Content-Type"] = "application/json" } }
    assert.matches("90$", n(array.json.reasons[1].code))
    s:config{ errors_as_200 = true }
    local as200 = s:get("/v1/accounts/A99999999")
    assert.equals(200, as200.status)
    assert.is_false(as200.json.success)
  end)

  it("creates nothing when an account body is invalid", function()
    local res = s:post("/v1/accounts", { name = "Bad card", currency = "USD",
      billToContact = { firstName = "A", lastName = "B" },
      paymentMethod = { type = "CreditCard", cardNumber = "4111111111111112", expirationMonth = 1,
        expirationYear = 2030 } })
    assert.equals(400, res.status)
    local st = s:state()
    assert.equals(0, json.tonumber(st.accounts))
    assert.equals(0, json.tonumber(st.contacts))
  end)

  it("declines the test card 4000000000000002 and refuses over-payment", function()
    local acct = s:account{ paymentMethod = { type = "CreditCard", cardNumber = "4000000000000002",
      expirationMonth = 12, expirationYear = 2030 } }
    order(acct.accountNumber, { PLAN_BASIC })
    bill(acct.accountId, "2024-01-15")
    local inv = s:get("/v1/billing-documents?accountId=" .. acct.accountId).json.documents[1]
    local declined = s:post("/v1/payments", { accountId = acct.accountId, amount = inv.balance, type = "Electronic" })
    assert.is_false(declined.json.success)
    assert.matches("99$", n(declined.json.reasons[1].code))
    local over = s:post("/v1/payments", { accountId = acct.accountId, amount = 100, type = "External",
      invoices = { { invoiceId = inv.id, amount = 100 } } })
    assert.matches("30$", n(over.json.reasons[1].code))
    assert.equals(0, json.tonumber(s:state().payments))
  end)

  it("refunds unapplied payments and credits invoices with memos", function()
    local acct = s:account()
    order(acct.accountNumber, { PLAN_BASIC })
    bill(acct.accountId, "2024-01-15")
    local inv = s:get("/v1/billing-documents?accountId=" .. acct.accountId).json.documents[1]
    local cm = s:post("/v1/credit-memos/invoice/" .. inv.id, { autoApply = true,
      items = { { amount = json.number("9.99") } }, reasonCode = "Goodwill" }).json
    assert.equals("Posted", cm.status)
    assert.equals("40", n(s:get("/v1/invoices/" .. inv.id).json.balance))
    local pay = s:post("/v1/payments", { accountId = acct.accountId, amount = 50, type = "External",
      invoices = { { invoiceId = inv.id, amount = 40 } } }).json
    assert.equals("10", n(pay.unappliedAmount))
    local refund = s:post("/v1/payments/" .. pay.id .. "/refunds", { totalAmount = json.number("10.00"),
      type = "External" })
    assert.equals(200, refund.status, refund.body)
    assert.equals("Processed", refund.json.status)
    local too_much = s:post("/v1/payments/" .. pay.id .. "/refunds", { totalAmount = 1, type = "External" })
    assert.is_false(too_much.json.success)
  end)

  it("cancels and renews subscriptions", function()
    local acct = s:account()
    local sub = order(acct.accountNumber, { PLAN_BASIC }).subscriptions[1].subscriptionNumber
    local renewed = s:put("/v1/subscriptions/" .. sub .. "/renew", {}).json
    assert.equals("2025-01-01", renewed.termStartDate)
    assert.equals("2026-01-01", renewed.termEndDate)
    local cancel = s:put("/v1/subscriptions/" .. sub .. "/cancel", { cancellationPolicy = "SpecificDate",
      cancellationEffectiveDate = "2024-03-01" }).json
    assert.equals("2024-03-01", cancel.cancelledDate)
    local got = s:get("/v1/subscriptions/" .. sub).json
    assert.equals("Cancelled", got.status)
    assert.equals("49.99", n(got.ratePlans[1].ratePlanCharges[1].price))
    bill(acct.accountId, "2024-12-31")
    local docs = s:get("/v1/billing-documents?accountId=" .. acct.accountId).json.documents
    assert.equals("99.98", n(docs[1].amount)) -- January and February only
  end)

  it("imports usage from a multipart CSV and bills it in arrears", function()
    local acct = s:account()
    order(acct.accountNumber, { PLAN_PRO })
    local csv = s.dir .. "/usage.csv"
    local f = assert(io.open(csv, "w"))
    f:write("ACCOUNT_ID,UOM,QTY,STARTDATE,ENDDATE\n" .. acct.accountNumber .. ",Call,1000,01/05/2024,01/05/2024\n"
      .. acct.accountNumber .. ",Call,234.5,01/09/2024,01/09/2024\n")
    f:close()
    local up = s:request{ method = "POST", path = "/v1/usage", multipart = { "file=@" .. csv .. ";type=text/csv" } }
    assert.equals(200, up.status, up.body)
    local status
    for _ = 1, 3 do status = s:get(up.json.checkImportStatus).json.importStatus end
    assert.equals("Completed", status)
    bill(acct.accountId, "2024-01-31")
    local inv = s:get("/v1/billing-documents?accountId=" .. acct.accountId).json.documents[1]
    -- 199.00 monthly fee + 1234.5 calls x 0.0025 = 3.08625 -> 3.09
    assert.equals("202.09", n(inv.amount))
    local bad = s:request{ method = "POST", path = "/v1/usage", multipart = { "file=@" .. csv } }
    assert.equals(200, bad.status)
    f = assert(io.open(csv, "w"))
    f:write("ACCOUNT_ID,UOM,QTY,STARTDATE\nA404,Call,x,01/05/2024\n")
    f:close()
    local failed = s:request{ method = "POST", path = "/v1/usage", multipart = { "file=@" .. csv } }
    for _ = 1, 3 do status = s:get(failed.json.checkImportStatus).json end
    assert.equals("Failed", status.importStatus)
  end)

  it("serves invoice PDFs as real bytes", function()
    local acct = s:account()
    order(acct.accountNumber, { PLAN_BASIC })
    bill(acct.accountId, "2024-01-15")
    local inv = s:get("/v1/billing-documents?accountId=" .. acct.accountId).json.documents[1]
    local files = s:get("/v1/invoices/" .. inv.id .. "/files").json.invoiceFiles
    local pdf = s:get(files[1].pdfFileUrl)
    assert.equals(200, pdf.status)
    assert.equals("application/pdf", pdf.headers["content-type"])
    assert.matches("^%%PDF%-1%.4", pdf.body)
    assert.matches("%%%%EOF\n$", pdf.body)
    assert.truthy(pdf.body:find(inv.documentNumber, 1, true))
  end)

  it("runs orders as async jobs and invoice-and-collect in one call", function()
    local acct = s:account()
    local job = s:post("/v1/async/orders", { orderDate = "2024-01-01", existingAccountNumber = acct.accountNumber,
      subscriptions = { { orderActions = { { type = "CreateSubscription", createSubscription = {
        subscribeToRatePlans = { { productRatePlanId = PLAN_BASIC } } } } } } } })
    assert.equals(202, job.status)
    local first = s:get("/v1/async-jobs/" .. job.json.jobId).json
    assert.equals("Processing", first.status)
    local done = s:get("/v1/async-jobs/" .. job.json.jobId).json
    assert.equals("Completed", done.status)
    assert.matches("^O%-", done.result.orderNumber)
    local ic = s:post("/v1/operations/invoice-collect", { accountKey = acct.accountNumber, targetDate = "2024-01-15" })
    assert.equals(200, ic.status, ic.body)
    assert.equals("49.99", n(ic.json.amountCollected))
    assert.equals("0", n(s:get("/v1/accounts/" .. acct.accountId).json.metrics.balance))
  end)
end)
