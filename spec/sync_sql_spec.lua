-- zuora.sync's PostgreSQL destination against values the server sends, on a real PostgreSQL
-- (spec/support/postgres.lua).
local sql = require "zuora.sync.sql"
local postgres = require "spec.support.postgres"
local decimal = require("zuora.core").decimal
local fs = require "spec.support.fs"

local function rows_of(list)
  local i = 0
  return function() i = i + 1; return list[i] end
end

-- A field whose first value is a whole amount and whose later ones are decimals keeps every digit.
local function amounts(db)
  assert(db:commit("Invoice", { start = 0, ["end"] = 86400 }, {
    live = rows_of{ { id = "a", amount = 100, updateddate = "2020-01-01 00:00:00" } }, deleted = rows_of{} }))
  assert(db:commit("Invoice", { start = 86400, ["end"] = 2 * 86400 }, {
    live = rows_of{ { id = "b", amount = decimal.new("12.50"), updateddate = "2020-01-02 00:00:00" },
      { id = "c", amount = decimal.new("1234567890123456.78"), updateddate = "2020-01-02 00:00:01" } },
    deleted = rows_of{} }))
  local got = db:materialize("Invoice")
  db:close()
  return got
end

describe("zuora.sync SQLite destination #luajit", function()
  it("keeps the exact digits of decimals in a column whose first value was an integer", function()
    local dir = fs.tmpdir("sync-sql")
    local got = amounts(assert(sql.open_sqlite(dir .. "/z.db")))
    fs.sh("rm -rf " .. fs.q(dir))
    assert.equals("number", type(got.a.amount)) -- the integer stays a number
    assert.equals(100, got.a.amount)
    assert.equals("12.50", got.b.amount)
    assert.equals("1234567890123456.78", got.c.amount)
  end)
end)

describe("zuora.sync PostgreSQL destination #luajit", function()
  local pg, pg_err

  setup(function() pg, pg_err = postgres.start() end)
  teardown(function() if pg then pg:stop() end end)

  -- Values are written as '...' literals with quotes doubled; with standard_conforming_strings off
  -- (a database, role or server setting) a backslash escapes the quote and a value from the server
  -- ran as SQL. The destination turns the setting on for its session.
  it("keeps the exact digits of decimals in a column whose first value was an integer", function()
    if not pg then pending("PostgreSQL: " .. tostring(pg_err)); return end
    local got = amounts(assert(sql.open_postgres(pg.url)))
    assert.equals("100", tostring(got.a.amount))
    assert.equals("12.50", tostring(got.b.amount))
    assert.equals("1234567890123456.78", tostring(got.c.amount))
  end)

  it("writes a value with a backslash and a quote verbatim, even where standard_conforming_strings is off", function()
    if not pg then pending("PostgreSQL: " .. tostring(pg_err)); return end
    pg:psql("ALTER DATABASE postgres SET standard_conforming_strings = off")
    pg:psql("CREATE TABLE victim (x int)")
    local db = assert(sql.open_postgres(pg.url))
    local name = "\\', 1); DROP TABLE victim; --"
    local counts = assert(db:commit("Account", { start = 0, ["end"] = 86400 }, {
      live = rows_of{ { id = "x", name = name, updateddate = "2020-01-01 00:00:00" } }, deleted = rows_of{} }))
    assert.equals(1, counts.rows)
    local got = db:materialize("Account")
    db:close()
    assert.equals(name, got.x.name)
    assert.equals("2020-01-01 00:00:00", got.x.updateddate)
    assert.equals("1", (pg:psql("SELECT count(*) FROM pg_tables WHERE tablename = 'victim'"):gsub("%s+$", "")))
  end)
end)
