-- client:query: ZOQL placeholders bound safely, query/queryMore until done, errors raised.
local zuora = require "zuora"
local simh = require "spec.support.sim"
local query = require "zuora.query"

describe("ZOQL binding #luajit", function()
  local bind = query.bind

  it("quotes strings and escapes quotes and backslashes with a backslash", function()
    assert.equals("select Id from Account where Name = 'Acme'", bind("select Id from Account where Name = ?", "Acme"))
    assert.equals([[where Name = 'O\'Brien \\ Sons']], bind("where Name = ?", [[O'Brien \ Sons]]))
    assert.equals([[where Name = 'x\' or Name != \'']], bind("where Name = ?", "x' or Name != '"))
    assert.equals([[where Name = '\\\'']], bind("where Name = ?", [[\']]))
    assert.equals("where Name = ''", bind("where Name = ?", ""))
  end)

  it("writes numbers and booleans plainly", function()
    assert.equals("a = 42 and b = -7 and c = true and d = false",
      bind("a = ? and b = ? and c = ? and d = ?", 42, -7, true, false))
    assert.equals("x = 0.1", bind("x = ?", 0.1))
    assert.equals("x = 1234.56", bind("x = ?", 1234.56))
    assert.equals("x = 100000000000000000000", bind("x = ?", 1e20))
    assert.equals("x = 0.00000015", bind("x = ?", 1.5e-7))
    assert.equals("x = -0.000001", bind("x = ?", -1e-6))
    if math.type then assert.equals("x = 9007199254740993", bind("x = ?", 9007199254740993)) end
    for _, v in ipairs({ 0.1, 1 / 3, 2.5e-300, 123456789.125, 1e300 }) do
      assert.equals(v, tonumber((bind("?", v))))
      assert.is_nil(bind("?", v):find("[eE]"))
    end
  end)

  it("binds a zuora.decimal with its digits, plainly", function()
    assert.equals("Amount > 1234567890123456.78 and Balance = -0.50",
      bind("Amount > ? and Balance = ?", zuora.decimal("1234567890123456.78"), zuora.decimal("-0.50")))
  end)

  it("leaves a ? inside a quoted literal alone", function()
    assert.equals([[Name = 'what?' and Id = 'x']], bind("Name = 'what?' and Id = ?", "x"))
    assert.equals([[Name = 'it\'s?' and Id = 'x']], bind([[Name = 'it\'s?' and Id = ?]], "x"))
  end)

  it("raises for values with no ZOQL form and for a count mismatch", function()
    assert.has_error(function() bind("a = ?", nil) end,
      "zoql: cannot bind a nil value (strings, numbers, decimals and booleans only)")
    assert.has_error(function() bind("a = ?", {}) end)
    assert.has_error(function() bind("a = ?", zuora.json.null) end)
    assert.has_error(function() bind("a = ?", 0 / 0) end)
    assert.has_error(function() bind("a = ?", math.huge) end)
    assert.has_error(function() bind("a = ? and b = ?", 1) end,
      "zoql: the query has more placeholders than the 1 value given")
    assert.has_error(function() bind("a = ?", 1, 2) end, "zoql: 2 values given for 1 placeholder")
    assert.has_error(function() bind("a = 'open", 1) end)
  end)
end)

describe("client:query #luajit", function()
  local s, c

  lazy_setup(function() s = simh.start() end)
  lazy_teardown(function() if s then s:stop() end end)
  before_each(function()
    s:reset()
    c = zuora.new{ base_url = s.url, client_id = s.client_id, client_secret = s.client_secret,
      retry_base = 0.01, retry_cap = 0.02 }
  end)
  after_each(function() c:close() end)

  local function seed(n) s:control("POST", "seed", { accounts = n }) end

  local function collect(...)
    local out = {}
    for rec in c:query(...) do out[#out + 1] = rec end
    return out
  end

  it("continues with queryMore until done, every record once and in order", function()
    seed(2500)
    local recs = collect("select Id, Name from Account")
    assert.equals(2500, #recs)
    for i, r in ipairs(recs) do assert.equals(("Seed Account %06d"):format(i), r.Name) end
    assert.equals(1, #s:requests{ method = "POST", path = "/v1/action/query" })
    assert.equals(1, #s:requests{ method = "POST", path = "/v1/action/queryMore" })
  end)

  it("takes a batch size and reports progress with the query's total", function()
    seed(95)
    local events = {}
    local n = 0
    for _ in c:query{ zoql = "select Id from Account where Name like ?", args = { "Seed%" }, batch_size = 20,
      on_progress = function(e) events[#events + 1] = e end } do
      n = n + 1
    end
    assert.equals(95, n)
    assert.equals(4, #s:requests{ method = "POST", path = "/v1/action/queryMore" })
    assert.equals(5, #events)
    assert.same({ "query", 20, 95, "records", 1 }, { events[1].kind, events[1].current, events[1].total,
      events[1].unit, events[1].pages })
    assert.same({ 95, true }, { events[5].current, events[5].done })
  end)

  it("yields nothing for an empty result", function()
    seed(3)
    assert.same({}, collect("select Id from Account where Name = ?", "nobody"))
  end)

  it("binds injection attempts as plain text", function()
    seed(5)
    local evil = "x' or Name != '"
    assert(c.accounts.create{ name = evil, currency = "USD", billToContact = { firstName = "A", lastName = "B" } })
    local sneaky = [[O'Brien \ Sons]]
    assert(c.accounts.create{ name = sneaky, currency = "USD", billToContact = { firstName = "A", lastName = "B" } })
    -- unbound, the attempt would match every account; bound, only the one with that very name
    local recs = collect("select Name from Account where Name = ?", evil)
    assert.equals(1, #recs)
    assert.equals(evil, recs[1].Name)
    recs = collect("select Name from Account where Name = ?", sneaky)
    assert.equals(1, #recs)
    assert.equals(sneaky, recs[1].Name)
    recs = collect("select Name from Account where Name = ? or Name = ?", "x\\", "' or '1' = '1")
    assert.equals(0, #recs)
    local sent = s:requests{ method = "POST", path = "/v1/action/query" }
    assert.equals([[select Name from Account where Name = 'x\' or Name != \'']],
      simh.json.decode(sent[1].body).queryString)
  end)

  it("raises a zuora.Error for a malformed query (Actions Errors[] shape)", function()
    local ok, err = pcall(collect, "select from where")
    assert.is_false(ok)
    assert.is_true(zuora.errors.is(err))
    assert.equals("api", err.kind)
    assert.equals("malformed_request", err.category)
    ok, err = pcall(collect, "select Nope from Account")
    assert.is_false(ok)
    assert.equals("INVALID_FIELD", err.code)
  end)

  it("raises when the queryLocator has expired, after the records already read", function()
    seed(30)
    s:config{ locator_ttl = 0.2 }
    local n = 0
    local ok, err = pcall(function()
      for _ in c:query{ zoql = "select Id from Account", batch_size = 10 } do
        n = n + 1
        if n == 10 then c:sleep(0.4) end -- a slow consumer lets the locator expire
      end
    end)
    assert.is_false(ok)
    assert.equals(10, n)
    assert.equals("INVALID_QUERY_LOCATOR", err.code)
    assert.matches("invalid query locator", err.message)
  end)

  it("raises argument mistakes at the call", function()
    assert.has_error(function() c:query("select Id from Account where Name = ?") end,
      "zoql: the query has more placeholders than the 0 values given")
    assert.has_error(function() c:query(42) end)
    assert.has_error(function() c:query{ zoql = "x", batchsize = 3 } end, "query: unknown option batchsize")
    assert.has_error(function() c:query{ zoql = "x", batch_size = 5000 } end)
  end)

  it("runs inside tasks without blocking others", function()
    seed(50)
    local function count(batch)
      local n = 0
      for _ in c:query{ zoql = "select Id from Account", batch_size = batch } do n = n + 1 end
      return n
    end
    local r = c:gather{ function() return count(7) end, function() return count(9) end }
    assert.same({ 50, 50 }, { r[1][1], r[2][1] })
  end)
end)
