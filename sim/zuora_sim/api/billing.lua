--- Billing: bill runs turn subscriptions (and usage) into invoices; invoices, their items and
-- PDF files; billing documents; invoice-and-collect; billing preview.
--
-- Charges are billed per whole billing period from their start date (no proration): recurring
-- charges in advance for every period starting on or before the target date, one-time charges
-- once, usage in arrears for every unbilled usage record dated on or before the target date.
local state = require "zuora_sim.state"
local json = require "zuora_sim.json"
local decimal = require "zuora_sim.decimal"
local util = require "zuora_sim.util"
local C = require "zuora_sim.api.common"
local catalog = require "zuora_sim.api.catalog"

local M = {}
local obj, arr = json.object, json.array

local PAYMENT_TERM_DAYS = { ["Due Upon Receipt"] = 0, ["Net 15"] = 15, ["Net 30"] = 30, ["Net 45"] = 45,
  ["Net 60"] = 60, ["Net 90"] = 90 }

-- Invoice items for one subscription up to `target`; with `commit`, marks charges/usage billed.
local function sub_items(s, target, commit)
  local items = {}
  if s.status ~= "Active" and s.status ~= "Cancelled" then return items end
  for _, rp in ipairs(s.ratePlans) do
    for _, c in ipairs(rp.ratePlanCharges) do
      local function add(start, finish, qty, amount)
        items[#items + 1] = { id = state.new_id("invoice_item"), subscriptionId = s.id,
          subscriptionNumber = s.subscriptionNumber, chargeId = c.id, chargeNumber = c.number, chargeName = c.name,
          productRatePlanChargeId = c.productRatePlanChargeId,
          productName = rp.productName, ratePlanName = rp.ratePlanName, serviceStartDate = start,
          serviceEndDate = finish, quantity = qty, unitPrice = c.price, uom = c.uom,
          chargeAmount = decimal.round(amount, 2), processingType = "Charge" }
      end
      if c.type == "Recurring" then
        local start = c.chargedThroughDate or c.effectiveStartDate
        local anchor = tonumber(c.effectiveStartDate:sub(9, 10))
        while start <= target and (not c.effectiveEndDate or start < c.effectiveEndDate) do
          local finish = util.period_end(start, c.billingPeriod or "Month", anchor)
          if c.effectiveEndDate and finish > c.effectiveEndDate then finish = c.effectiveEndDate end
          add(start, util.add_days(finish, -1), c.quantity, catalog.amount(c, c.quantity))
          start = finish
          if commit then c.chargedThroughDate = finish end
        end
      elseif c.type == "OneTime" then
        if not c.billed and c.effectiveStartDate <= target then
          add(c.effectiveStartDate, c.effectiveStartDate, c.quantity, catalog.amount(c, c.quantity))
          if commit then c.billed = true; c.chargedThroughDate = util.add_days(c.effectiveStartDate, 1) end
        end
      elseif c.type == "Usage" then
        local qty, first, last, used = decimal.new("0"), nil, nil, {}
        for _, u in ipairs(state.list("usages", function(u)
          return not u.invoiced and u.accountId == s.accountId and u.uom == c.uom
            and (u.subscriptionNumber == nil or u.subscriptionNumber == s.subscriptionNumber)
            and (u.chargeNumber == nil or u.chargeNumber == c.number)
            and u.startDate >= c.effectiveStartDate and u.startDate <= target
        end)) do
          qty = decimal.add(qty, u.quantity)
          if not first or u.startDate < first then first = u.startDate end
          if not last or u.startDate > last then last = u.startDate end
          used[#used + 1] = u
        end
        if #used > 0 then
          add(first, last, decimal.tostring(qty), catalog.amount(c, qty))
          if commit then
            for _, u in ipairs(used) do u.invoiced = true; u.status = "Processed" end
          end
        end
      end
    end
  end
  return items
end

--- Bills one account up to `target`. Returns the new invoice, or nil when nothing was due.
-- opts: autoPost, invoiceDate, billRunId, subscriptions (limit to these), preview (no changes).
function M.bill_account(account, target, opts)
  opts = opts or {}
  local items = {}
  local subs = opts.subscriptions or state.list("subscriptions", function(s)
    return (s.invoiceOwnerAccountId or s.accountId) == account.id
  end)
  for _, s in ipairs(subs) do
    for _, it in ipairs(sub_items(s, target, not opts.preview)) do items[#items + 1] = it end
  end
  if #items == 0 then return nil, items end
  if opts.preview then return nil, items end
  local total = decimal.new("0")
  for _, it in ipairs(items) do
    total = decimal.add(total, it.chargeAmount)
    it.chargeAmount = C.money(it.chargeAmount)
    it.balance = it.chargeAmount
    it.taxAmount = C.zero
  end
  local invoice_date = opts.invoiceDate or state.today()
  local inv = { id = state.new_id("invoice"), invoiceNumber = string.format("INV%08d", state.next("invoice")),
    accountId = account.id, accountNumber = account.accountNumber, accountName = account.name,
    currency = account.currency, invoiceDate = invoice_date, targetDate = target,
    dueDate = util.add_days(invoice_date, PAYMENT_TERM_DAYS[account.paymentTerm] or 0),
    status = opts.autoPost and "Posted" or "Draft", amount = C.money(total), amountWithoutTax = C.money(total),
    taxAmount = C.zero, balance = C.money(total), paymentAmount = C.zero, creditMemoAmount = C.zero,
    items = items, billRunId = opts.billRunId, createdDate = state.now_stamp(), fileId = state.new_id("file"),
    fileRecordId = state.new_id("invoice_file") }
  if inv.status == "Posted" then inv.postedDate = state.today() end
  state.put("invoices", inv)
  if inv.status == "Posted" then M.invoice_posted(inv) end
  return inv
end

--- Callouts for a newly posted invoice (zuora_sim.callouts).
function M.invoice_posted(inv)
  require("zuora_sim.callouts").safe_fire("InvoicePosted",
    { Invoice = inv, Account = state.data.accounts[inv.accountId] }, inv.id)
end

function M.post_invoice(inv)
  if inv.status == "Posted" then return end
  if inv.status ~= "Draft" then C.fail("rule_restriction", "Only draft invoices can be posted.", "invoice") end
  inv.status = "Posted"
  inv.postedDate = state.today()
  M.invoice_posted(inv)
end

function M.invoice_of(key)
  return C.find("invoices", key, { "invoiceNumber" }, "invoice")
end

function M.invoice_json(inv)
  return C.with_custom(obj("id", inv.id, "invoiceNumber", inv.invoiceNumber, "accountId", inv.accountId,
    "accountNumber", inv.accountNumber, "accountName", inv.accountName, "invoiceDate", inv.invoiceDate,
    "dueDate", inv.dueDate, "targetDate", inv.targetDate, "status", inv.status, "currency", inv.currency,
    "amount", inv.amount, "amountWithoutTax", inv.amountWithoutTax, "taxAmount", inv.taxAmount,
    "balance", inv.balance, "paymentAmount", inv.paymentAmount, "creditMemoAmount", inv.creditMemoAmount,
    "postedDate", inv.postedDate or json.null, "billRunId", inv.billRunId or json.null,
    "comments", inv.comments or json.null, "createdDate", inv.createdDate, "reversed", false), inv)
end

function M.item_json(it)
  return obj("id", it.id, "subscriptionId", it.subscriptionId, "subscriptionName", it.subscriptionNumber,
    "subscriptionNumber", it.subscriptionNumber, "chargeId", it.chargeId, "chargeNumber", it.chargeNumber,
    "chargeName", it.chargeName, "productName", it.productName, "ratePlanName", it.ratePlanName,
    "serviceStartDate", it.serviceStartDate, "serviceEndDate", it.serviceEndDate,
    "quantity", json.number(decimal.tostring(it.quantity)), "unitPrice", json.number(it.unitPrice),
    "unitOfMeasure", it.uom or "", "chargeAmount", it.chargeAmount, "taxAmount", it.taxAmount or C.zero,
    "balance", it.balance or it.chargeAmount, "processingType", it.processingType)
end

local function doc_json(inv)
  return obj("id", inv.id, "documentNumber", inv.invoiceNumber, "documentType", "Invoice",
    "documentDate", inv.invoiceDate, "dueDate", inv.dueDate, "accountId", inv.accountId,
    "accountNumber", inv.accountNumber, "amount", inv.amount, "balance", inv.balance, "currency", inv.currency,
    "status", inv.status)
end

local function memo_doc_json(cm)
  return obj("id", cm.id, "documentNumber", cm.number, "documentType", "CreditMemo",
    "documentDate", cm.memoDate, "accountId", cm.accountId, "amount", cm.amount, "balance", cm.unappliedAmount,
    "currency", cm.currency, "status", cm.status)
end

function M.invoice_pdf(inv)
  local lines = { "Invoice " .. inv.invoiceNumber,
    "Account: " .. inv.accountName .. " (" .. inv.accountNumber .. ")",
    "Invoice date: " .. inv.invoiceDate .. "    Due date: " .. inv.dueDate, "" }
  for _, it in ipairs(inv.items) do
    lines[#lines + 1] = string.format("%s  %s..%s  %s x %s  %s %s", it.chargeName, it.serviceStartDate,
      it.serviceEndDate, decimal.tostring(it.quantity), it.unitPrice, inv.currency, decimal.fixed(it.chargeAmount, 2))
  end
  lines[#lines + 1] = ""
  lines[#lines + 1] = "Total: " .. inv.currency .. " " .. decimal.fixed(inv.amount, 2)
  lines[#lines + 1] = "Balance due: " .. inv.currency .. " " .. decimal.fixed(inv.balance, 2)
  lines[#lines + 1] = "Generated by zuora-sim"
  return require("zuora_sim.pdf").document(lines)
end

-- Bill runs ------------------------------------------------------------------------------------

local function bill_run_accounts(br)
  local filters = br.billRunFilters
  if type(filters) ~= "table" or #filters == 0 then return state.list("accounts"), nil end
  local accounts, subs = {}, nil
  for _, f in ipairs(filters) do
    if f.filterType == "Subscription" then
      local s = require("zuora_sim.api.orders").sub_of(f.subscriptionId)
      subs = subs or {}
      subs[#subs + 1] = s
      accounts[#accounts + 1] = state.data.accounts[s.invoiceOwnerAccountId or s.accountId]
    else
      accounts[#accounts + 1] = C.account(f.accountId or f.accountNumber, "bill_run")
    end
  end
  return accounts, subs
end

local function execute_bill_run(br)
  local accounts, subs = bill_run_accounts(br)
  br.invoiceIds = {}
  for _, a in ipairs(accounts) do
    local inv = M.bill_account(a, br.targetDate, { autoPost = br.autoPost, invoiceDate = br.invoiceDate,
      billRunId = br.id, subscriptions = subs })
    if inv then br.invoiceIds[#br.invoiceIds + 1] = inv.id end
  end
  br.numberOfAccounts = #accounts
  br.status = br.autoPost and "Posted" or "Completed"
  br.endDate = state.now_stamp()
  require("zuora_sim.callouts").safe_fire("BillRunCompleted", { BillRun = br }, br.id)
end

local function bill_run_json(br)
  return obj("id", br.id, "billRunNumber", br.billRunNumber, "status", br.status, "targetDate", br.targetDate,
    "invoiceDate", br.invoiceDate, "autoPost", br.autoPost, "autoEmail", br.autoEmail,
    "noEmailForZeroAmountInvoice", br.noEmailForZeroAmountInvoice, "billRunFilters", br.billRunFilters or arr(),
    "batches", br.batches or arr{ "AllBatches" }, "numberOfAccounts", br.numberOfAccounts or 0,
    "numberOfInvoices", br.invoiceIds and #br.invoiceIds or 0, "numberOfCreditMemos", 0,
    "createdDate", br.createdDate, "endDate", br.endDate or json.null)
end

local function bill_run_of(key)
  return C.find("bill_runs", key, { "billRunNumber" }, "bill_run")
end

local function advance(br)
  if br.status ~= "Pending" and br.status ~= "Processing" then return end
  br.polls = br.polls + 1
  if br.polls >= state.config.job_polls then execute_bill_run(br) else br.status = "Processing" end
end

local function create_bill_run(req)
  local b = req:json_body()
  local target = C.require_date(b, "targetDate", "bill_run", b.billRunDate and C.require_date(b, "billRunDate",
    "bill_run"))
  local br = { id = state.new_id("bill_run"), billRunNumber = string.format("BR-%08d", state.next("bill_run")),
    status = "Pending", targetDate = target,
    invoiceDate = b.invoiceDate and C.require_date(b, "invoiceDate", "bill_run") or state.today(),
    autoPost = b.autoPost == true, autoEmail = b.autoEmail == true,
    noEmailForZeroAmountInvoice = b.noEmailForZeroAmountInvoice == true,
    billRunFilters = b.billRunFilters, batches = b.batches, polls = 0, createdDate = state.now_stamp() }
  bill_run_accounts(br) -- validates the filters now, as Zuora does
  state.put("bill_runs", br)
  if state.config.job_polls <= 0 then execute_bill_run(br) end
  return 200, C.ok(bill_run_json(br))
end

-- Handlers -------------------------------------------------------------------------------------

local function invoices_for_account(a)
  return state.list("invoices", function(i) return i.accountId == a.id end)
end

local function billing_documents(req)
  local key = req.query.accountId or req.query.accountNumber
  if not key then C.fail("missing_parameter", "accountId or accountNumber is required", "invoice") end
  local a = C.account(key, "invoice")
  local dtype, status = req.query.documentType, req.query.status
  local docs = {}
  if not dtype or dtype == "Invoice" then
    for _, inv in ipairs(invoices_for_account(a)) do
      if not status or inv.status == status then docs[#docs + 1] = doc_json(inv) end
    end
  end
  if not dtype or dtype == "CreditMemo" then
    for _, cm in ipairs(state.list("credit_memos", function(c) return c.accountId == a.id end)) do
      if not status or cm.status == status then docs[#docs + 1] = memo_doc_json(cm) end
    end
  end
  if not dtype or dtype == "DebitMemo" then
    for _, dm in ipairs(state.list("debit_memos", function(d) return d.accountId == a.id end)) do
      if not status or dm.status == status then
        docs[#docs + 1] = obj("id", dm.id, "documentNumber", dm.number, "documentType", "DebitMemo",
          "documentDate", dm.debitMemoDate, "dueDate", dm.dueDate, "accountId", dm.accountId,
          "accountNumber", dm.accountNumber, "amount", dm.amount, "balance", dm.balance, "currency", dm.currency,
          "status", dm.status)
      end
    end
  end
  local sort = req.query.sort
  if sort then
    local desc = sort:sub(1, 1) == "-"
    local field = sort:gsub("^[-+]", "")
    table.sort(docs, function(x, y)
      local a1, b1 = tostring(x[field] or ""), tostring(y[field] or "")
      if desc then return a1 > b1 end
      return a1 < b1
    end)
  end
  local page, next_url = C.page(req, docs)
  return 200, C.ok(obj("documents", page, "nextPage", next_url))
end

local function invoice_collect(req)
  local b = req:json_body()
  local a = C.account(b.accountKey or b.accountId, "invoice")
  local target = C.require_date(b, b.targetDate and "targetDate" or "invoiceTargetDate", "invoice", state.today())
  local date = b.documentDate or b.invoiceDate
  local inv = M.bill_account(a, target, { autoPost = true, invoiceDate = date })
  local resp = obj("invoices", arr(), "creditMemos", arr())
  if inv then
    resp.invoiceId, resp.invoiceNumber = inv.id, inv.invoiceNumber
    resp.invoices[1] = obj("invoiceId", inv.id, "invoiceNumber", inv.invoiceNumber)
  end
  if b.collect ~= false then
    local open = state.list("invoices", function(i)
      return i.accountId == a.id and i.status == "Posted" and decimal.cmp(i.balance, "0") > 0
    end)
    if #open > 0 then
      local p = require("zuora_sim.api.payments").collect(a, open)
      resp.paymentId, resp.paymentNumber, resp.amountCollected = p.id, p.number, p.amount
    end
  end
  resp.amountCollected = resp.amountCollected or C.zero
  return 200, C.ok(resp)
end

function M.register(r)
  r.add("POST", "/v1/bill-runs", create_bill_run)
  r.add("GET", "/v1/bill-runs/{billRunId}", function(req)
    local br = bill_run_of(req.params.billRunId)
    advance(br)
    return 200, C.ok(bill_run_json(br))
  end)
  r.add("PUT", "/v1/bill-runs/{billRunId}/post", function(req)
    local br = bill_run_of(req.params.billRunId)
    if br.status ~= "Completed" and br.status ~= "Posted" then
      C.fail("rule_restriction", "Only a completed bill run can be posted.", "bill_run")
    end
    for _, id in ipairs(br.invoiceIds or {}) do
      local inv = state.data.invoices[id]
      if inv then M.post_invoice(inv) end
    end
    br.status = "Posted"
    return 200, C.ok(bill_run_json(br))
  end)
  r.add("PUT", "/v1/bill-runs/{billRunId}/cancel", function(req)
    local br = bill_run_of(req.params.billRunId)
    if br.status == "Posted" then C.fail("rule_restriction", "A posted bill run cannot be canceled.", "bill_run") end
    for _, id in ipairs(br.invoiceIds or {}) do state.remove("invoices", id) end
    br.invoiceIds = {}
    br.status = "Canceled"
    return 200, C.ok(bill_run_json(br))
  end)
  r.add("DELETE", "/v1/bill-runs/{billRunId}", function(req)
    local br = bill_run_of(req.params.billRunId)
    if br.status ~= "Canceled" and br.status ~= "Error" then
      C.fail("rule_restriction", "Only canceled bill runs can be deleted.", "bill_run")
    end
    state.remove("bill_runs", br.id)
    return 200, C.ok()
  end)

  r.add("GET", "/v1/billing-documents", billing_documents)
  r.add("GET", "/v1/transactions/invoices/accounts/{account-key}", function(req)
    local a = C.account(req.params["account-key"], "invoice")
    local items = {}
    for _, inv in ipairs(invoices_for_account(a)) do
      local j = M.invoice_json(inv)
      j.invoiceFiles = req.base_url .. "/v1/invoices/" .. inv.id .. "/files"
      j.invoiceItems = req.base_url .. "/v1/invoices/" .. inv.id .. "/items"
      items[#items + 1] = j
    end
    local page, next_url = C.page(req, items)
    return 200, C.ok(obj("invoices", page, "nextPage", next_url))
  end)
  r.add("GET", "/v1/invoices/{invoiceKey}", function(req)
    return 200, C.ok(M.invoice_json(M.invoice_of(req.params.invoiceKey)))
  end)
  r.add("PUT", "/v1/invoices/{invoiceKey}", function(req)
    local inv = M.invoice_of(req.params.invoiceKey)
    local b = req:json_body()
    if b.dueDate ~= nil then inv.dueDate = C.require_date(b, "dueDate", "invoice") end
    if b.comments ~= nil then inv.comments = C.str(b.comments) end
    if b.status == "Posted" then M.post_invoice(inv) end
    C.custom_fields(inv, b)
    return 200, C.ok(M.invoice_json(inv))
  end)
  r.add("DELETE", "/v1/invoices/{invoiceKey}", function(req)
    local inv = M.invoice_of(req.params.invoiceKey)
    if inv.status == "Posted" then C.fail("rule_restriction", "A posted invoice cannot be deleted.", "invoice") end
    state.remove("invoices", inv.id)
    return 200, C.ok()
  end)
  r.add("POST", "/v1/invoices/bulk-post", function(req)
    local b = req:json_body()
    local results = arr()
    for _, e in ipairs(type(b.invoices) == "table" and b.invoices or {}) do
      local ok, err = pcall(function() M.post_invoice(M.invoice_of(e.id)) end)
      results[#results + 1] = ok and obj("id", e.id, "success", true)
        or obj("id", e.id, "success", false, "reasons", arr{ obj("code", err.code, "message", err.message) })
    end
    return 200, C.ok(obj("invoices", results))
  end)
  r.add("GET", "/v1/invoices/{invoiceKey}/items", function(req)
    local inv = M.invoice_of(req.params.invoiceKey)
    local items = {}
    for _, it in ipairs(inv.items) do items[#items + 1] = M.item_json(it) end
    local page, next_url = C.page(req, items, { max = 100 })
    return 200, C.ok(obj("invoiceItems", page, "nextPage", next_url))
  end)
  r.add("GET", "/v1/invoices/{invoiceKey}/files", function(req)
    local inv = M.invoice_of(req.params.invoiceKey)
    return 200, C.ok(obj("invoiceFiles", arr{ obj("id", inv.fileRecordId, "versionNumber", 1,
      "pdfFileUrl", "/v1/files/" .. inv.fileId) }))
  end)
  r.add("GET", "/v1/files/{file-id}", function(req)
    local id = req.params["file-id"]
    for _, inv in pairs(state.data.invoices) do
      if inv.fileId == id then
        return 200, M.invoice_pdf(inv), { ["Content-Type"] = "application/pdf",
          ["Content-Disposition"] = 'attachment; filename="' .. inv.invoiceNumber .. '.pdf"' }
      end
    end
    C.fail("not_found", "File not found: " .. id, "file")
  end)
  r.add("PUT", "/v1/invoices/{invoiceKey}/write-off", function(req)
    local inv = M.invoice_of(req.params.invoiceKey)
    local cm = require("zuora_sim.api.payments").credit_invoice(inv, inv.balance, "Write-off", true)
    return 200, C.ok(obj("creditMemo", obj("id", cm.id, "number", cm.number)))
  end)
  r.add("POST", "/v1/operations/invoice-collect", invoice_collect)
  r.add("POST", "/v1/operations/billing-preview", function(req)
    local b = req:json_body()
    local a = C.account(b.accountId or b.accountNumber, "invoice")
    local target = C.require_date(b, "targetDate", "invoice")
    local _, items = M.bill_account(a, target, { preview = true })
    local out = arr()
    for _, it in ipairs(items) do
      it.chargeAmount = C.money(it.chargeAmount)
      out[#out + 1] = M.item_json(it)
    end
    return 200, C.ok(obj("accountId", a.id, "invoiceItems", out))
  end)
end

return M
