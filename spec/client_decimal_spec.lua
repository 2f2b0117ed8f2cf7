-- The client with decimals = true (client option, per-call option, ZUORA_DECIMALS=1), decimals in
-- request bodies whatever the option, and Data Query rows read as decimals; against zuora-sim.
local zuora = require "zuora"
local simh = require "spec.support.sim"


local D = zuora.decimal
local AMOUNT = "1234567890123456.78"

describe("zuora client with decimals", function()
  local s, acct

  lazy_setup(function()
    s = simh.start()
    acct = s:account{ name = "Decimal Co" }
  end)
  lazy_teardown(function() if s then s:stop() end end)

  local function client(opts)
    local o = { base_url = s.url, client_id = s.client_id, client_secret = s.client_secret }
    for k, v in pairs(opts or {}) do o[k] = v end
    return zuora.new(o)
  end

  local function pay(c, amount)
    return assert(c.payments.create{ accountId = acct.accountId, amount = amount, type = "External" })
  end

  it("sends a decimal in a body digit for digit, with decimals on or off", function()
    for _, on in ipairs{ false, true } do
      s:clear_requests()
      local c = client{ decimals = on }
      pay(c, D(AMOUNT))
      local seen = s:requests{ method = "POST", path = "/v1/payments" }
      assert.equals(1, #seen)
      assert.matches('"amount":' .. AMOUNT:gsub("%.", "%%.") .. "[,}]", seen[1].body)
    end
  end)

  it("puts a decimal in a query string with its digits", function()
    s:clear_requests()
    assert(client().payments.list({ amount = D("1234567890123456.78"), pageSize = 2 }))
    local seen = s:requests{ method = "GET", path = "/v1/payments" }
    assert.equals(1, #seen)
    assert.matches("amount=1234567890123456%.78", seen[1].query)
  end)

  it("hands out decimals with the client option, the call option, and ZUORA_DECIMALS=1", function()
    local p = pay(client(), D(AMOUNT))
    -- without decimals: a double, which cannot hold the amount
    local plain = assert(client().payments.retrieve(p.id))
    assert.equals("number", type(plain.amount))
    assert.not_equals(AMOUNT, string.format("%.2f", plain.amount))

    local c = client{ decimals = true }
    local got = assert(c.payments.retrieve(p.id))
    assert.is_true(D.is(got.amount))
    assert.equals(AMOUNT, tostring(got.amount))
    assert.equals(2, got.amount:scale())

    got = assert(client().payments.retrieve(p.id, nil, { decimals = true }))
    assert.equals(AMOUNT, tostring(got.amount))
    got = assert(client():request("GET", "/v1/payments/" .. p.id, { decimals = true }))
    assert.equals(AMOUNT, tostring(got.amount))
    -- and the call option can turn it off again
    got = assert(c.payments.retrieve(p.id, nil, { decimals = false }))
    assert.equals("number", type(got.amount))

    local env = { ZUORA_BASE_URL = s.url, ZUORA_CLIENT_ID = s.client_id, ZUORA_CLIENT_SECRET = s.client_secret,
      ZUORA_DECIMALS = "1" }
    local opts = zuora.env_options(nil, function(k) return env[k] end)
    assert.is_true(opts.decimals)
    got = assert(zuora.new(opts).payments.retrieve(p.id))
    assert.equals(AMOUNT, tostring(got.amount))
    env.ZUORA_DECIMALS = "0"
    assert.is_false(zuora.env_options(nil, function(k) return env[k] end).decimals)
    env.ZUORA_DECIMALS = "maybe"
    assert.has_error(function() zuora.env_options(nil, function(k) return env[k] end) end)
    assert.has_error(function() client{ decimals = "yes" } end)
  end)

  it("adds up amounts exactly: ten payments of 0.10 are 1", function()
    local c = client{ decimals = true }
    local a = s:account{ name = "Dimes Co" }
    for _ = 1, 10 do
      assert(c.payments.create{ accountId = a.accountId, amount = D("0.10"), type = "External" })
    end
    local sum = D(0)
    for rec in c:query("select Amount from Payment where AccountId = ?", a.accountId) do sum = sum + rec.Amount end
    -- (ZOQL answers carry the amount as the server formats it: 0.1 here, so the sum is 1.0)
    assert.matches("^1%.0+$", tostring(sum))
    assert.is_true(sum == D(1))
  end)

  it("reads Data Query rows as decimals, CSV and JSON", function()
    local c = client{ decimals = true }
    local p = pay(c, D(AMOUNT))
    for _, fmt in ipairs{ "CSV", "JSON" } do
      local rows = assert(c:data_query("SELECT id, amount FROM payment WHERE id = '" .. p.id .. "'",
        { output_format = fmt }))
      local n = 0
      for row in rows do
        n = n + 1
        assert.is_true(D.is(row.amount), fmt)
        assert.equals(AMOUNT, tostring(row.amount))
        assert.equals("string", type(row.id)) -- ids stay strings
      end
      assert.equals(1, n)
    end
    -- a client without decimals can ask for them per job; CSV cells stay strings otherwise
    local rows = assert(client():data_query("SELECT id, amount FROM payment WHERE id = '" .. p.id .. "'",
      { output_format = "CSV" }))
    for row in rows do assert.equals(AMOUNT, row.amount) end
    rows = assert(client():data_query("SELECT id, amount FROM payment WHERE id = '" .. p.id .. "'",
      { output_format = "CSV", decimals = true }))
    for row in rows do assert.is_true(D.is(row.amount)) end
  end)
end)

describe("zuora.rows with decimals", function()
  it("turns numbers with a fraction into decimals and leaves digit-only cells as strings", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "wb"))
    f:write("id,account,amount,note\r\n1,00042,12.50,x\r\n2,00043,-0.005,1.5e3\r\n")
    f:close()
    local rows = assert(require("zuora.rows").open(path, { format = "CSV", decimals = true }))
    local r1, r2 = rows(), rows()
    os.remove(path)
    assert.equals("00042", r1.account)
    assert.equals("1", r1.id)
    assert.is_true(D.is(r1.amount))
    assert.equals("12.50", tostring(r1.amount))
    assert.equals("-0.005", tostring(r2.amount))
    assert.equals("1.5e3", r2.note) -- only plain fractions are taken as amounts
    assert.is_nil(rows())

  end)
end)
