-- Every script in examples/ runs against zuora-sim out of the box, as `make demo` runs them.
local simh = require "spec.support.sim"
local LUA = require "spec.support.lua"

local function run(script, s, env)
  local cmd = ("ZUORA_BASE_URL=%q ZUORA_CLIENT_ID=%q ZUORA_CLIENT_SECRET=%q %s %s %s 2>&1; echo \"exit=$?\"")
    :format(s.url, s.client_id, s.client_secret, env or "", LUA, script)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  return out, tonumber(out:match("exit=(%d+)%s*$"))
end

describe("examples", function()
  local s
  lazy_setup(function() s = simh.start() end)
  lazy_teardown(function() if s then s:stop() end end)

  it("quickstart bills a new customer and pays the invoice", function()
    local out, code = run("examples/quickstart.lua", s)
    assert.equals(0, code, out)
    assert.matches("account:%s+A%d+", out)
    assert.matches("subscription:%s+A%-S%d+", out)
    assert.matches("bill run:%s+BR%-%d+ Posted", out)
    local amount = out:match("invoice:%s+INV%d+%s+([%d.]+) USD")
    assert.is_string(amount, out)
    assert.matches("payment:%s+P%-%d+%s+" .. amount:gsub("%.", "%%.") .. " USD%s+Processed", out)
    assert.matches("summary:%s+Quickstart Co balance 0 USD, 1 subscription%(s%), 1 invoice%(s%), 1 payment%(s%)", out)
    -- what the script did is what the simulator holds
    local sj = simh.json
    local state = s:state()
    assert.equals(1, sj.tonumber(state.payments))
    assert.equals(1, sj.tonumber(state.accounts))
  end)

  it("guarded_audit reads with a read-only client, is refused a write, and dry-runs it", function()
    s:account{ name = "Audit One" }
    s:account{ name = "Audit Two" }
    s:clear_requests()
    local out, code = run("examples/guarded_audit.lua", s)
    assert.equals(0, code, out)
    assert.matches("accounts: %d+ active", out)
    assert.is_true(tonumber(out:match("accounts: (%d+) active")) >= 2, out)
    assert.matches("refused:  policy %(rule read_only%)", out)
    assert.matches("dry run:  PUT " .. s.url:gsub("%p", "%%%0") .. "/v1/accounts/A00000001\n", out)
    assert.matches('body:     {"notes":"audited"}', out, 1, true)
    -- the query ran; not one write reached the simulator
    assert.is_true(#s:requests{ method = "POST", path = "/v1/action/query" } >= 1)
    assert.equals(0, #s:requests{ method = "PUT" })
    assert.equals(0, #s:requests{ method = "POST", path = "/v1/accounts" })
  end)

  it("sync_billing copies billing objects to SQLite, then only what changed", function()
    local out, code = run("examples/sync_billing.lua", s)
    assert.equals(0, code, out)
    -- the first run copies every account of the day (earlier examples made some), then one rename
    assert.is_true(tonumber(out:match("first   Account%s+(%d+) rows")) >= 2, out)
    assert.matches("again   Account    1 rows", out, 1, true)
    assert.matches("again   Contact    0 rows", out, 1, true)
    assert.matches("status  Account  synced up to", out, 1, true)
    assert.matches("verify  the copy matches Zuora", out, 1, true)
  end)

  -- The Revenue period close: with only ZUORA_* set it uses zuora-sim's Revenue API on the same URL
  -- (OneID OAuth with the same client); ZUORA_REVENUE_* variables choose the tenant and credentials.
  it("revenue_close uploads transactions in parts, stages them and reads the GL batch", function()
    local out, code = run("examples/revenue_close.lua", s)
    assert.equals(0, code, out)
    assert.matches("revenue:%s+zuora%.revenue%.Client<http://127%.0%.0%.1:%d+ oauth>", out)
    assert.matches("uploaded:%s+25000 transactions in 2 parts", out)
    assert.matches("upload part 1: staged %(%d+ rows staged, 0 rows in error%)", out)
    assert.matches("stage errors: none", out)
    assert.matches("transfer job: %d+ Completed", out)
    assert.matches("gl rows:%s+50000 in 5 pages, DR ([%d.]+) = CR %1 balanced", out)
    assert.matches("gl csv:%s+%d+ bytes, 51001 lines", out) -- 500 descriptions span two lines
    assert.matches("transferred:%s+batch %d+", out)
    local env = ("ZUORA_REVENUE_BASE_URL=%q ZUORA_REVENUE_USERNAME=%q ZUORA_REVENUE_PASSWORD=%q "
      .. "ZUORA_REVENUE_CLOSE_ROWS=300"):format(s.url, s.username, s.password)
    out, code = run("examples/revenue_close.lua", s, env)
    assert.equals(0, code, out)
    assert.matches("zuora%.revenue%.Client<http://127%.0%.0%.1:%d+ revenue>", out)
    assert.matches("uploaded:%s+300 transactions in 1 parts", out)
    assert.matches("gl rows:%s+600 in 1 pages", out)
  end)

  -- examples/flows/: the flows of Zuora's tutorials, each run unchanged against zuora-sim (they make
  -- their own products and accounts), on a simulator of their own so their data stays apart.
  describe("flows", function()
    local f
    lazy_setup(function() f = simh.start() end)
    lazy_teardown(function() if f then f:stop() end end)

    local function flow(name)
      local out, code = run("examples/flows/" .. name .. ".lua", f)
      assert.equals(0, code, out)
      return out
    end

    it("new_customer: catalogue query, preview for a prospect, order, reads, a payment applied in part", function()
      local out = flow("new_customer")
      assert.matches("catalog:%s+Per Licence Monthly / Licence %(PRP%-%d+%), Per Unit Pricing", out)
      assert.matches("preview:%s+first invoice 1000 USD for 10 x Licence", out)
      assert.matches("metrics:%s+delta MRR 1000 USD", out)
      assert.matches("order:%s+O%-%d+ Completed: account A%d+, subscription A%-S%d+", out)
      assert.matches("subscription:%s+A%-S%d+ Active, Per Licence Monthly 10 x 100 USD", out)
      assert.matches("invoice:%s+INV%d+ 1000 USD, balance 1000, Posted", out)
      assert.matches("payment:%s+P%-%d+ 1000 USD Processed, applied 100, unapplied 900", out)
      assert.matches("balance:%s+invoice INV%d+ balance 900 USD", out)
    end)

    it("catalog_tiers: flat, tiered and volume charges made, read back with tiers and priced", function()
      local out = flow("catalog_tiers")
      assert.matches("charge:%s+Seats %(Tiered Pricing%): 1%-10@10 11%-50@8 51%-@5", out)
      assert.matches("charge:%s+Storage %(Volume Pricing%): 1%-10@3 11%-50@2%.5 51%-@2", out)
      assert.matches("preview:%s+615 USD: Platform Fee 25, Seats 470, Storage 120", out)
    end)

    it("subscription_changes: add, update, remove, change plan, renew, suspend, resume, cancel by orders", function()
      local out = flow("subscription_changes")
      assert.matches("created:%s+A%-S%d+ v1 Active, term to [%d-]+, MRR 30: Starter Monthly x1\n", out)
      assert.matches("add product:%s+A%-S%d+ v2 Active, term to [%d-]+, MRR 45: Starter Monthly x1, Extra Seats x3",
        out)
      assert.matches("update product: A%-S%d+ v3 Active, term to [%d-]+, MRR 70: Starter Monthly x1, Extra Seats x8",
        out)
      assert.matches("remove product: A%-S%d+ v4 Active, term to [%d-]+, MRR 30: Starter Monthly x1\n", out)
      assert.matches("change plan:%s+A%-S%d+ v5 Active, term to [%d-]+, MRR 90: Pro Monthly x1\n", out)
      local term = out:match("change plan:[^\n]*term to ([%d-]+)")
      local renewed = out:match("renew:[^\n]*term to ([%d-]+)")
      assert.equals(tonumber(term:sub(1, 4)) + 1, tonumber(renewed:sub(1, 4)))
      assert.matches("suspend:%s+A%-S%d+ v7 Suspended", out)
      assert.matches("resume:%s+A%-S%d+ v8 Active", out)
      assert.matches("cancel:%s+A%-S%d+ v9 Cancelled", out)
      assert.matches("orders:%s+9 orders changed A%-S%d+", out)
    end)

    it("usage_billing: a usage CSV imported and billed in arrears", function()
      local out = flow("usage_billing")
      assert.matches("usage import:%s+Completed", out)
      assert.matches("usage:%s+3 records, 2500 calls", out)
      assert.matches("bill run:%s+BR%-%d+ Posted", out)
      assert.matches("invoice:%s+INV%d+ 65 USD: API Calls 2500 x 0%.01 = 25; Platform Fee 1 x 20 = 20; "
        .. "Platform Fee 1 x 20 = 20", out)
    end)

    it("payments_refunds: pay, hold unapplied, apply, refund, unapply, cancel", function()
      local out = flow("payments_refunds")
      assert.matches("invoices:%s+2, first INV%d+ 80 USD", out)
      assert.matches("paid:%s+P%-%d+ 80 USD Processed; balance 80, unapplied payments 0", out)
      assert.matches("applied:%s+P%-%d+ applied 80, unapplied 20; balance 0, unapplied payments 20", out)
      assert.matches("refund:%s+R%-%d+ 20 USD Processed\n", out)
      assert.matches("refund:%s+R%-%d+ 80 USD Processed; balance 80, unapplied payments 0", out)
      assert.matches("canceled:%s+P%-%d+ Canceled", out)
      assert.matches("summary:%s+2 refunds; balance 80", out)
    end)

    it("memos: credit memos from an invoice and a charge, a debit memo posted and paid", function()
      local out = flow("memos")
      assert.matches("credit memo:%s+CM%d+ 30 USD Posted", out)
      assert.matches("applied:%s+CM%d+ unapplied 0; invoice balance 90; account balance 90 %(debit memos 0%)", out)
      assert.matches("refund:%s+R%-%d+ 10 USD from CM%d+", out)
      assert.matches("debit memo:%s+DM%d+ 15 USD Draft", out)
      assert.matches("posted:%s+DM%d+ Posted, balance 15; account balance 105 %(debit memos 15%)", out)
      assert.matches("paid:%s+P%-%d+ 15 USD; DM%d+ balance 0; account balance 90 %(debit memos 0%)", out)
    end)

    it("bill_runs: drafts posted by the run, a filtered run, an empty run canceled and deleted", function()
      local out = flow("bill_runs")
      assert.matches("bill run:%s+BR%-%d+ Completed", out)
      local _, drafts = out:gsub("draft:%s+INV%d+ 45 USD Draft", "")
      assert.equals(2, drafts)
      assert.matches("posted:%s+BR%-%d+ Posted", out)
      local _, posted = out:gsub("invoice:%s+INV%d+ 45 USD Posted", "")
      assert.equals(2, posted)
      assert.matches("bill run:%s+BR%-%d+ Posted, 2 invoices on A%d+", out)
      assert.matches("canceled:%s+BR%-%d+ Canceled", out)
      assert.matches("deleted:%s+BR%-%d+", out)
    end)

    it("object_queries: fields[], filter[], sort[], expand[] and cursor paging", function()
      local out = flow("object_queries")
      local names = {}
      for n in out:gmatch("account:%s+A%d+ OQ %d+ (%d) USD, bill to Flow OQ %d+ %d") do names[#names + 1] = n end
      assert.same({ "3", "2", "1" }, names) -- sort[]=name.DESC
      local amounts = {}
      for a in out:gmatch("invoice:%s+INV%d+ (%d+) USD") do amounts[#amounts + 1] = a end
      assert.same({ "36", "24", "12" }, amounts) -- sort[]=amount.DESC over the three accounts' invoices
      assert.matches("subscription:%s+A%-S%d+ Active: Query Monthly / Query Fee %(Per Unit Pricing%) x 3", out)
      assert.matches("plan:%s+Query Monthly of Query Plan %d+: 1 charge%(s%), Per Unit Pricing", out)
      assert.matches("paging:%s+3 accounts in 2 pages", out)
    end)
  end)
end)
