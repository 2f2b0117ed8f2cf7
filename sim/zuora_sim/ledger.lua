--- Derived account figures: balances, last invoice, last payment. Computed from the documents
-- each time, so they can never drift from the invoices and payments they summarize.
local state = require "zuora_sim.state"
local decimal = require "zuora_sim.decimal"

local M = {}

function M.invoices_of(account_id)
  return state.list("invoices", function(i) return i.accountId == account_id end)
end

function M.payments_of(account_id)
  return state.list("payments", function(p) return p.accountId == account_id end)
end

--- balance (posted invoices' and debit memos' open amounts), unapplied credit and payment amounts, totals.
function M.figures(account)
  local balance, unapplied_cm, unapplied_pay = decimal.new("0"), decimal.new("0"), decimal.new("0")
  local last_invoice
  for _, inv in ipairs(M.invoices_of(account.id)) do
    if inv.status == "Posted" then
      balance = decimal.add(balance, inv.balance)
      if not last_invoice or inv.invoiceDate >= last_invoice then last_invoice = inv.invoiceDate end
    end
  end
  local dm_balance = decimal.new("0")
  for _, dm in ipairs(state.list("debit_memos", function(d) return d.accountId == account.id end)) do
    if dm.status == "Posted" then dm_balance = decimal.add(dm_balance, dm.balance) end
  end
  for _, cm in ipairs(state.list("credit_memos", function(c) return c.accountId == account.id end)) do
    if cm.status == "Posted" then unapplied_cm = decimal.add(unapplied_cm, cm.unappliedAmount) end
  end
  local last_payment
  for _, p in ipairs(M.payments_of(account.id)) do
    if p.status == "Processed" then
      unapplied_pay = decimal.add(unapplied_pay, p.unappliedAmount)
      last_payment = p
    end
  end
  return {
    balance = decimal.add(balance, dm_balance), totalInvoiceBalance = balance, totalDebitMemoBalance = dm_balance,
    creditBalance = decimal.new("0"),
    unappliedCreditMemoAmount = unapplied_cm, unappliedPaymentAmount = unapplied_pay,
    lastInvoiceDate = last_invoice, lastPayment = last_payment,
  }
end

--- Monthly recurring revenue of the account's active subscriptions.
function M.mrr(account_id)
  local total = decimal.new("0")
  for _, sub in ipairs(state.list("subscriptions", function(s) return s.accountId == account_id end)) do
    if sub.status == "Active" then total = decimal.add(total, sub.mrr or "0") end
  end
  return total
end

return M
