-- op:each / op:pages / op:all against zuora-sim: v1 nextPage URLs, object-query cursors and
-- Actions queryLocators, exact counts and order across page boundaries, failures mid-way.
local zuora = require "zuora"
local simh = require "spec.support.sim"
local paginate = require "zuora.paginate"

local sj = simh.json

describe("pagination #luajit", function()
  local s, c

  lazy_setup(function() s = simh.start() end)
  lazy_teardown(function() if s then s:stop() end end)
  before_each(function()
    s:reset()
    c = zuora.new{ base_url = s.url, client_id = s.client_id, client_secret = s.client_secret,
      retry_base = 0.01, retry_cap = 0.02 }
  end)
  after_each(function() c:close() end)

  local function seed(n)
    s:control("POST", "seed", { accounts = n })
  end

  local function names_of(items)
    local out = {}
    for i, it in ipairs(items) do out[i] = it.name end
    return out
  end

  local function seeded_names(from, to)
    local out = {}
    for i = from, to do out[#out + 1] = ("Seed Account %06d"):format(i) end
    return out
  end

  local function log(path)
    return s:requests{ method = "GET", path = path }
  end

  describe("object-query cursors", function()
    it("iterates every item once, in order, across page boundaries", function()
      seed(45)
      local got = {}
      for acc in c.object_queries.list_accounts:each({ pageSize = 7 }) do got[#got + 1] = acc end
      assert.equals(45, #got)
      assert.same(seeded_names(1, 45), names_of(got))
      local reqs = log("/object-query/accounts")
      assert.equals(7, #reqs) -- ceil(45 / 7)
      assert.is_nil(reqs[1].args.cursor)
      for i = 2, 7 do
        assert.is_string(reqs[i].args.cursor)
        assert.equals("7", reqs[i].args.pageSize) -- the caller's query goes with every page
      end
    end)

    it("stops exactly at a full last page", function()
      seed(21)
      local n = 0
      for _ in c.object_queries.list_accounts:each({ pageSize = 7 }) do n = n + 1 end
      assert.equals(21, n)
      assert.equals(3, #log("/object-query/accounts"))
    end)

    it("yields nothing for an empty result, after one request", function()
      seed(3)
      local n = 0
      for _ in c.object_queries.list_accounts:each({ ["filter[]"] = "name.EQ:nobody" }) do n = n + 1 end
      assert.equals(0, n)
      assert.equals(1, #log("/object-query/accounts"))
      assert.same({}, c.object_queries.list_accounts:all({ ["filter[]"] = "name.EQ:nobody" }))
    end)

    it("pages() yields each page with its items", function()
      seed(10)
      local sizes = {}
      for page, items in c.object_queries.list_accounts:pages({ pageSize = 4 }) do
        assert.equals(page.data, items)
        sizes[#sizes + 1] = #items
      end
      assert.same({ 4, 4, 2 }, sizes)
    end)

    it("raises the error of a page that fails mid-way, after the items before it", function()
      seed(30)
      -- the third request fails with a non-retryable error
      s:fault{ method = "GET", path = "/object-query/accounts", skip = 2, count = 1, status = 400 }
      local got = {}
      local ok, err = pcall(function()
        for acc in c.object_queries.list_accounts:each({ pageSize = 10 }) do got[#got + 1] = acc.name end
      end)
      assert.is_false(ok)
      assert.is_true(zuora.errors.is(err))
      assert.equals(400, err.status)
      assert.equals("invalid_value", err.category)
      assert.same(seeded_names(1, 20), got)
      -- all() returns the error instead
      s:fault{ method = "GET", path = "/object-query/accounts", skip = 1, count = 1, status = 400 }
      local all, aerr = c.object_queries.list_accounts:all({ pageSize = 10 })
      assert.is_nil(all)
      assert.equals(400, aerr.status)
    end)

    it("retries a page that fails with a retryable error and loses nothing", function()
      seed(30)
      s:fault{ method = "GET", path = "/object-query/accounts", skip = 1, count = 1, status = 503 }
      local all = assert(c.object_queries.list_accounts:all({ pageSize = 10 }))
      assert.same(seeded_names(1, 30), names_of(all))
      assert.equals(4, #log("/object-query/accounts"))
    end)

    it("refuses a pagination loop (the same nextPage twice)", function()
      s:fault{ method = "GET", path = "/object-query/accounts",
        status = 200, body = '{"data": [{"id": "x"}], "nextPage": "c2FtZQ=="}' }
      local all, err = c.object_queries.list_accounts:all()
      assert.is_nil(all)
      assert.matches("pagination loop", err.message)
      assert.equals(2, #log("/object-query/accounts"))
    end)

    it("works inside tasks: two iterations run side by side", function()
      seed(40)
      local results = c:gather{
        function() return c.object_queries.list_accounts:all({ pageSize = 5 }) end,
        function() return c.object_queries.list_accounts:all({ pageSize = 8 }) end,
      }
      assert.same(seeded_names(1, 40), names_of(results[1][1]))
      assert.same(seeded_names(1, 40), names_of(results[2][1]))
    end)
  end)

  describe("v1 nextPage URLs", function()
    local function payments(n)
      local acct = s:account()
      for i = 1, n do
        assert(c.payments.create{ accountId = acct.accountId, amount = i, currency = "USD", type = "External",
          effectiveDate = "2024-01-15" })
      end
      return acct
    end

    it("follows nextPage and keeps every item in order", function()
      payments(23)
      local amounts = {}
      for p in c.payments.list:each({ pageSize = 5 }) do amounts[#amounts + 1] = sj.tonumber(p.amount) or p.amount end
      local want = {}
      for i = 1, 23 do want[i] = i end
      assert.same(want, amounts)
      local reqs = log("/v1/payments")
      assert.equals(5, #reqs)
      for i = 2, 5 do assert.equals(tostring(i), reqs[i].args.page) end
    end)

    it("refuses a nextPage on another origin, before sending anything there", function()
      s:fault{ method = "GET", path = "/v1/payments", count = 1, status = 200,
        body = '{"success": true, "payments": [{"id": "p1"}], "nextPage": "https://evil.example/v1/payments?page=2"}' }
      local got = {}
      local ok, err = pcall(function() for p in c.payments.list:each() do got[#got + 1] = p.id end end)
      assert.is_false(ok)
      assert.matches("refusing to follow nextPage to another origin", err.message)
      assert.same({ "p1" }, got)
    end)

    it("finds the items without per-operation code, or asks which array when there are several", function()
      s:fault{ method = "GET", path = "/v1/payments", status = 200,
        body = '{"success": true, "payments": [{"id": "p1"}], "warnings": ["w"]}' }
      local all, err = c.payments.list:all()
      assert.is_nil(all)
      assert.matches("several arrays %(payments, warnings%)", err.message)
      all = assert(c.payments.list:all(nil, { items = "payments" }))
      assert.equals("p1", all[1].id)
    end)

    it("collects everything with all() up to its limit, and refuses more", function()
      payments(12)
      assert.equals(12, #assert(c.payments.list:all({ pageSize = 5 }, { limit = 12 })))
      local all, err = c.payments.list:all({ pageSize = 5 }, { limit = 11 })
      assert.is_nil(all)
      assert.equals("limit", err.kind)
      assert.matches("more than 11 items", err.message)
      -- without a limit the default applies
      local saved = paginate.DEFAULT_LIMIT
      paginate.DEFAULT_LIMIT = 10
      all, err = c.payments.list:all({ pageSize = 5 })
      paginate.DEFAULT_LIMIT = saved
      assert.is_nil(all)
      assert.matches("more than 10 items", err.message)
    end)

    it("reports progress after each page, and keeps paging options out of the request", function()
      payments(7)
      local events = {}
      local options = { limit = 100, on_progress = function(e) events[#events + 1] = e end }
      local query = { pageSize = 3 }
      assert.equals(7, #assert(c.payments.list:all(query, options)))
      assert.same({ pageSize = 3 }, query) -- the caller's tables are not modified
      assert.equals(100, options.limit)
      assert.equals(3, #events)
      assert.same({ "pages", 1, 3, 3, "items", false, "payments.list" },
        { events[1].kind, events[1].pages, events[1].items, events[1].current, events[1].unit, events[1].done,
          events[1].op })
      assert.is_true(events[3].done)
      assert.equals(7, events[3].items)
      for _, r in ipairs(log("/v1/payments")) do
        assert.is_nil(r.args.limit)
        assert.is_nil(r.args.on_progress)
      end
    end)

    it("checks paging options at the call", function()
      assert.has_error(function() c.payments.list:each(nil, { limit = "many" }) end,
        "payments.list: option limit must be a number, got string")
      assert.has_error(function() c.payments.list:all(nil, { lmit = 3 }) end)
      assert.has_error(function() c.payments.list:all(nil, { limit = -1 }) end)
    end)

    it("takes path parameters first and paging options in the options slot", function()
      local acct = s:account()
      for i = 1, 7 do
        assert(c.subscriptions.create{ accountKey = acct.accountNumber, contractEffectiveDate = "2024-01-01",
          termType = "EVERGREEN", notes = "sub " .. i,
          subscribeToRatePlans = { { productRatePlanId = "8ad00000000000000000000000000201" } } })
      end
      -- paging options belong to each/pages/all; the plain call refuses them
      assert.has_error(function() c.subscriptions.list_by_account_key(acct.accountNumber, nil, { limit = 3 }) end)
      local notes = {}
      local got = assert(c.subscriptions.list_by_account_key:all(acct.accountNumber, { pageSize = 3 },
        { items = "subscriptions", limit = 7 }))
      for i, sub in ipairs(got) do notes[i] = sub.notes end
      assert.same({ "sub 1", "sub 2", "sub 3", "sub 4", "sub 5", "sub 6", "sub 7" }, notes)
      assert.equals(3, #log("/v1/subscriptions/accounts/" .. acct.accountNumber))
    end)

    it("pages any request with paginate.each_request", function()
      local acct = payments(0)
      for i = 1, 11 do
        assert(c.usage.crud_create{ AccountId = acct.accountId, Quantity = i, UOM = "Call",
          StartDateTime = "2024-01-0" .. (1 + i % 9) })
      end
      local q = {}
      for u in paginate.each_request(c, "GET", "/v1/usage/accounts/{key}",
        { path = { key = acct.accountNumber }, query = { pageSize = 4 } }) do
        q[#q + 1] = tonumber(tostring(u.quantity))
      end
      assert.same({ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 }, q)
    end)
  end)

  describe("Actions queryLocator", function()
    it("continues actions.query with queryMore until done", function()
      seed(25)
      local n = 0
      for rec in c.actions.query:each{ queryString = "select Name from Account", conf = { batchSize = 10 } } do
        n = n + 1
        assert.equals(("Seed Account %06d"):format(n), rec.Name)
      end
      assert.equals(25, n)
      assert.equals(2, #s:requests{ method = "POST", path = "/v1/action/queryMore" })
    end)
  end)
end)
