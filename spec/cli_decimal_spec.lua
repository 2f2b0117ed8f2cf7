-- The CLI and the REPL show amounts with the digits the server sent (they decode with decimals):
-- 1234567890123456.78 is not a double (it would print as 1234567890123456.8).
local simh = require "spec.support.sim"
local cli = require "spec.support.cli"
local sj = simh.json

local AMOUNT = "1234567890123456.78"

describe("zuora CLI with exact amounts", function()
  local s, env, pay
  lazy_setup(function()
    s = simh.start()
    env = { ZUORA_BASE_URL = s.url, ZUORA_CLIENT_ID = s.client_id, ZUORA_CLIENT_SECRET = s.client_secret }
    local acct = s:account{ name = "Exact Co" }
    local res = s:post("/v1/payments", sj.object("accountId", acct.accountId, "amount", sj.number(AMOUNT),
      "type", "External"))
    assert(res.status == 200, res.body)
    pay = res.json.id
  end)
  lazy_teardown(function() if s then s:stop() end end)

  it("call prints the amount exactly", function()
    local r = cli.run({ "call", "payments.retrieve", pay }, { env = env })
    assert.equals(0, r.code, r.stderr)
    assert.matches('\n  "amount": ' .. AMOUNT:gsub("%.", "%%.") .. ',\n', r.stdout)
  end)

  it("query prints the amount exactly in JSON and in CSV", function()
    local r = cli.run({ "query", "select Id, Amount from Payment where Id = ?", pay }, { env = env })
    assert.equals(0, r.code, r.stderr)
    assert.equals('[\n{"Amount":' .. AMOUNT .. ',"Id":"' .. pay .. '"}\n]\n', r.stdout)
    r = cli.run({ "query", "select Id, Amount from Payment where Id = ?", pay, "--format", "csv" }, { env = env })
    assert.equals(0, r.code, r.stderr)
    assert.equals("Id,Amount\r\n" .. pay .. "," .. AMOUNT .. "\r\n", r.stdout)
  end)

  it("export and data-query print the amount exactly", function()
    local r = cli.run({ "export", "payments", "--format", "csv" }, { env = env })
    assert.equals(0, r.code, r.stderr)
    assert.matches("," .. AMOUNT:gsub("%.", "%%.") .. ",", r.stdout)
    r = cli.run({ "data-query", "SELECT id, amount FROM payment WHERE id = '" .. pay .. "'" }, { env = env })
    assert.equals(0, r.code, r.stderr)
    assert.matches(pay .. "," .. AMOUNT:gsub("%.", "%%.") .. "\r?\n", r.stdout)
  end)

  it("the REPL hands out decimals: printed exactly, and exact arithmetic", function()
    local r = cli.run({ "repl" }, { env = env, stdin = table.concat({
      "payments.retrieve('" .. pay .. "').amount",
      "payments.retrieve('" .. pay .. "').amount + zuora.decimal('0.01')",
    }, "\n") .. "\n" })
    assert.equals(0, r.code, r.stderr)
    assert.matches(AMOUNT:gsub("%.", "%%.") .. "\n1234567890123456%.79\n", r.stdout)
  end)
end)
