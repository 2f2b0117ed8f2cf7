-- zuora-sim's pure-Lua parts: the exact JSON codec, decimal money and the ZOQL subset.
-- They run under Lua 5.4 and LuaJIT alike (#luajit), as they must inside nginx.
require "spec.support.sim" -- puts sim/ (zuora_sim.*) on package.path
local json = require "zuora_sim.json"
local decimal = require "zuora_sim.decimal"
local zoql = require "zuora_sim.zoql"
local util = require "zuora_sim.util"

describe("zuora_sim.json #luajit", function()
  it("keeps numbers as their exact decimal text", function()
    local v = assert(json.decode('{"amount": 10.10, "big": 12345678901234567890123, "e": 1.5e-7}'))
    assert.is_true(json.is_number(v.amount))
    assert.equals("10.10", v.amount[1])
    assert.equals('{"amount":10.10,"big":12345678901234567890123,"e":1.5e-7}', json.encode(v))
  end)

  it("remembers key order, marks arrays and keeps null", function()
    local v = assert(json.decode('{"z": [], "a": null, "m": [1, {"k": true}]}'))
    assert.equals(json.array_mt, getmetatable(v.z))
    assert.equals(json.null, v.a)
    assert.equals('{"z":[],"a":null,"m":[1,{"k":true}]}', json.encode(v))
    assert.equals("{}", json.encode({}))
    assert.equals('{"b":1,"a":2}', json.encode(json.object("b", 1, "a", 2)))
  end)

  it("decodes escapes and surrogate pairs, escapes control characters", function()
    local v = assert(json.decode('"a\\"b\\\\c\\u00e9\\ud83d\\ude00\\n"'))
    assert.equals('a"b\\c\195\169\240\159\152\128\n', v)
    assert.equals('"\\u0001\\t\\""', json.encode('\1\t"'))
  end)

  it("rejects malformed text with a message", function()
    for _, bad in ipairs({ "[1,]", '{"a":1} x', "01", '"\1"', "{", "[1 2]", "1.", '"\\ud800"' }) do
      local v, err = json.decode(bad)
      assert.is_nil(v, bad)
      assert.is_string(err, bad)
    end
  end)

  it("encodes plain Lua numbers without a fraction when integral", function()
    assert.equals("[3,3.5,-0.25]", json.encode({ 3, 3.5, -0.25 }))
    assert.has_error(function() json.encode({ 0 / 0 }) end)
  end)
end)

describe("zuora_sim.decimal #luajit", function()
  local function s(x) return decimal.tostring(x) end

  it("adds, subtracts and multiplies without drift", function()
    assert.equals("0.3", s(decimal.add("0.1", "0.2")))
    assert.equals("-0.01", s(decimal.sub("1", "1.01")))
    assert.equals("1219326311370217952255488492415065996030.26",
      s(decimal.mul("12345678901234567890.12", "98765432109876543210.5")))
    assert.equals("9007199254740993", s(decimal.add("9007199254740992", "1")))
  end)

  it("rounds half away from zero and divides to a scale", function()
    assert.equals("2.35", s(decimal.round("2.345", 2)))
    assert.equals("-2.35", s(decimal.round("-2.345", 2)))
    assert.equals("0.01", decimal.fixed("0.005", 2))
    assert.equals("12.00", decimal.fixed("12", 2))
    assert.equals("3.3333", s(decimal.div("10", "3", 4)))
    assert.is_nil((decimal.div("1", "0")))
  end)

  it("parses json numbers, exponents and rejects junk", function()
    assert.equals("150", s(decimal.parse("1.5e2")))
    assert.equals("49.99", s(decimal.parse(json.number("49.990"))))
    assert.equals(0, decimal.cmp("10.00", "10"))
    assert.is_nil((decimal.parse("12abc")))
    assert.is_nil((decimal.parse({})))
  end)
end)

describe("zuora_sim.zoql #luajit", function()
  local rows = {
    { Id = "1", Name = "O'Brien \\ Co", Balance = json.number("10.50"), Status = "Active" },
    { Id = "2", Name = "Acme", Balance = json.number("0"), Status = "Cancelled" },
    { Id = "3", Name = "Acme West", Status = "Active" },
  }
  local function run(text)
    local q = assert(zoql.parse(text, "zoql"))
    local out = {}
    for _, r in ipairs(rows) do
      if zoql.eval(q.where, r, function(row, f) return util.iget(row, f) end) then out[#out + 1] = r.Id end
    end
    return table.concat(out, ",")
  end

  it("parses fields, object and conditions", function()
    local q = assert(zoql.parse(
      "select Id, Name from Account where Balance > 1 and (Status = 'Active' or Name != 'x')"))
    assert.same({ "Id", "Name" }, q.fields)
    assert.equals("Account", q.object)
    assert.equals("and", q.where.op)
  end)

  it("compares strings with backslash escapes, numbers exactly, like and null", function()
    assert.equals("1", run([[select Id from Account where Name = 'O\'Brien \\ Co']]))
    assert.equals("1", run("select Id from Account where Balance > 10.49"))
    assert.equals("2,3", run("select Id from Account where Name like 'Acme%'"))
    assert.equals("3", run("select Id from Account where Balance = null"))
    assert.equals("1,3", run("select Id from Account where Status = 'Active' or Balance < 0"))
    assert.equals("2,3", run("SELECT Id FROM Account WHERE NOT Name = 'O\\'Brien \\\\ Co'"))
  end)

  it("reports syntax errors and dialect limits", function()
    assert.is_nil((zoql.parse("select from Account")))
    assert.is_nil((zoql.parse("select Id from Account where Name = 'open")))
    assert.is_nil((zoql.parse("select * from Account", "zoql")))
    local q = assert(zoql.parse("SELECT * FROM account ORDER BY name DESC LIMIT 5", "sql"))
    assert.equals("*", q.fields)
    assert.is_true(q.desc)
    assert.equals(5, q.limit)
  end)
end)

describe("zuora_sim.util dates #luajit", function()
  it("adds months clamping to month ends and keeps the anchor day", function()
    assert.equals("2024-02-29", util.add_months("2024-01-31", 1))
    assert.equals("2024-03-31", util.add_months("2024-02-29", 1, 31))
    assert.equals("2025-01-01", util.add_term("2024-01-01", 12, "Month"))
    assert.equals("2024-03-01", util.add_days("2024-02-28", 2))
    assert.is_nil((util.parse_date("2023-02-29")))
  end)

  it("matches globs by segment", function()
    assert.is_true(util.glob("/v1/accounts/*", "/v1/accounts/A1"))
    assert.is_false(util.glob("/v1/accounts/*", "/v1/accounts/A1/summary"))
    assert.is_true(util.glob("/v1/**", "/v1/accounts/A1/summary"))
  end)
end)
