-- The CLI's pure parts: record writers, export statements, progress text, completion, colouring.
local output = require "zuora.cli.output"
local query = require "zuora.cli.query"
local progress = require "zuora.cli.progress"
local repl = require "zuora.cli.repl"
local pretty = require "zuora.cli.pretty"
local zuora = require "zuora"
local json = zuora.json

-- A file handle stand-in that keeps what is written.
local function sink()
  local buf = {}
  return { write = function(_, ...)
      for i = 1, select("#", ...) do buf[#buf + 1] = select(i, ...) end
      return true
    end, flush = function() end,
    text = function() return table.concat(buf) end }
end

describe("cli record writers", function()
  it("CSV: header from the select list, RFC 4180 quoting, exact numbers, nulls empty, any key casing", function()
    local fh = sink()
    local w = output.new("csv", fh, { columns = output.select_fields("select Id, Name, Amount, Note from Invoice") })
    w:write{ Id = "1", Name = 'Acme, "Inc"', Amount = 49.99, Note = json.null }
    w:write{ id = "2", name = "line\nbreak", amount = 10 } -- other casing, a field left out
    w:close()
    assert.equals('Id,Name,Amount,Note\r\n1,"Acme, ""Inc""",49.99,\r\n2,"line\nbreak",10,\r\n', fh.text())
    assert.equals(2, w.rows)
    assert.equals(#fh.text(), w.bytes)
  end)

  it("JSON: a valid array, one compact sorted record a line; empty is []", function()
    local fh = sink()
    local w = output.new("json", fh)
    w:write{ b = 1, a = { x = true } }
    w:write{ c = "é" }
    w:close()
    assert.equals('[\n{"a":{"x":true},"b":1},\n{"c":"é"}\n]\n', fh.text())
    assert.same({ { a = { x = true }, b = 1 }, { c = "é" } }, json.decode(fh.text()))
    fh = sink()
    w = output.new("json", fh)
    w:close()
    assert.equals("[]\n", fh.text())
    fh = sink()
    w = output.new("jsonl", fh)
    w:write{ a = 1 }
    w:write{ a = 2 }
    w:close()
    assert.equals('{"a":1}\n{"a":2}\n', fh.text())
  end)

  it("select_fields reads plain field lists only", function()
    assert.same({ "Id", "Name" }, output.select_fields("SELECT Id , Name FROM Account WHERE x = 1"))
    assert.is_nil(output.select_fields("select count(Id) from Account"))
    assert.is_nil(output.select_fields("select * from account"))
  end)
end)

describe("cli export statements", function()
  it("builds ZOQL with bound placeholders for account and date", function()
    local zoql, binds, fields = query.export_query({ object = "invoices", account = "A00000001", since = "2024-01-01" },
      function(key) return "id-of-" .. key end)
    assert.equals("select Id, InvoiceNumber, AccountId, InvoiceDate, DueDate, Status, Amount, Balance from Invoice "
      .. "where AccountId = ? and InvoiceDate >= ?", zoql)
    assert.same({ n = 2, "id-of-A00000001", "2024-01-01" }, binds)
    assert.equals("Id", fields[1])
  end)

  it("takes --fields and --where, and refuses what would not be ZOQL", function()
    local zoql = query.export_query({ object = "accounts", fields = "Id,Name", where = "Status = 'Active'" })
    assert.equals("select Id, Name from Account where (Status = 'Active')", zoql)
    local ok, err = query.export_query({ object = "widgets" })
    assert.is_nil(ok)
    assert.matches("unknown object widgets %(one of accounts, contacts", err)
    ok, err = query.export_query({ object = "accounts", fields = "Id, Name;drop" })
    assert.is_nil(ok)
    assert.matches("bad field name", err)
    ok, err = query.export_query({ object = "accounts", since = "yesterday" })
    assert.is_nil(ok)
    assert.matches("YYYY%-MM%-DD", err)
  end)
end)

describe("cli progress line", function()
  it("shows rows, bytes, rate and elapsed time, redrawn in place on a terminal", function()
    local t = 100
    local fh = sink()
    local p = progress.new{ label = "query", enabled = true, tty = true, stream = fh, clock = function() return t end }
    t = 102
    p:update{ rows = 12345, bytes = 3 * 1024 * 1024 }
    p:finish("done")
    local text = fh.text()
    assert.equals("\rquery  12,345 rows  3.0 MiB  6,172 rows/s  00:02\27[K"
      .. "\rquery  12,345 rows  3.0 MiB  6,172 rows/s  00:02  done\27[K\n", text)
  end)

  it("prints plain lines when forced off a terminal, and nothing when disabled", function()
    local t = 0
    local fh = sink()
    local p = progress.new{ label = "dq", enabled = true, tty = false, stream = fh, clock = function() return t end }
    p:update{ bytes = 2048, status = "running" }
    t = 0.5
    p:update{ bytes = 4096 } -- under a second: no new line
    p:finish("done")
    assert.equals("dq  2.0 KiB  00:00  running\ndq  4.0 KiB  8.0 KiB/s  00:00  done\n", fh.text())
    fh = sink()
    p = progress.new{ label = "x", enabled = false, stream = fh }
    p:update{ rows = 1 }
    p:finish()
    assert.equals("", fh.text())
  end)

  it("formats numbers", function()
    assert.equals("1,234,567", progress.group_digits(1234567))
    assert.equals("999", progress.group_digits(999))
    assert.equals("1:01:40", progress.clock_text(3700))
    assert.equals("512 B", progress.bytes(512))
  end)
end)

describe("cli REPL completion", function()
  local client = zuora.new{ base_url = "http://127.0.0.1:9", token = "t" }
  local env = repl.environment(client, sink())

  it("completes groups, operations, methods and fields", function()
    assert.same({ "client.accounts" }, repl.complete(env, "client.accounts"))
    assert.same({ "client.accounts.retrieve_summary" }, repl.complete(env, "client.accounts.retrieve_su"))
    assert.same({ "payments.create" }, repl.complete(env, "payments.crea"))
    assert.same({ "client:request" }, repl.complete(env, "client:reque"))
    assert.same({ "client.accounts.retrieve:all" }, repl.complete(env, "client.accounts.retrieve:al"))
    assert.same({ "zuora.operations" }, repl.complete(env, "zuora.operat"))
    assert.same({ "string.format" }, repl.complete(env, "string.form"))
    local top = repl.complete(env, "acc")
    assert.is_true(#top >= 3)
    for _, c in ipairs(top) do assert.matches("^acc", c) end
    assert.same({}, repl.complete(env, "nosuch.thing"))
    assert.same({}, repl.complete(env, "client.nosuchgroup.x"))
  end)
end)

describe("cli pretty output", function()
  it("colours keys, strings, numbers and literals without changing the text", function()
    local text = pretty.format({ a = "x", b = 1.5, c = json.null, d = { true } }, true)
    local plain = text:gsub("\27%[%d+m", "")
    assert.equals(pretty.format({ a = "x", b = 1.5, c = json.null, d = { true } }, false), plain)
    assert.matches('\27%[34m"a"\27%[0m: \27%[32m"x"\27%[0m', text)
    assert.matches("\27%[33m1.5\27%[0m", text)
    assert.matches("\27%[35mnull\27%[0m", text)
  end)

  it("shows what JSON cannot hold as a Lua description, and errors as their one line", function()
    assert.matches("^{\n  f = function: ", pretty.format({ f = print }, false))
    local e = zuora.errors.new{ kind = "api", status = 404, code = "50000040", message = "gone" }
    assert.equals(tostring(e), pretty.format(e, true))
    assert.equals("nil", pretty.format(nil))
  end)
end)
