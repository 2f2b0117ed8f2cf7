-- `zuora query`, `zuora export` and `zuora data-query` against zuora-sim: output formats, bound
-- placeholders, failures as one line, and the progress line (on a terminal only, or forced).
local simh = require "spec.support.sim"
local cli = require "spec.support.cli"

local ESC = "\27"

describe("zuora query, export and data-query", function()
  local s, env, acct, dir
  lazy_setup(function()
    s = simh.start()
    s:config{ today = "2024-01-15" }
    env = { ZUORA_BASE_URL = s.url, ZUORA_CLIENT_ID = s.client_id, ZUORA_CLIENT_SECRET = s.client_secret }
    -- a subscription, billed and posted: one invoice of 49.99
    acct = s:billed_account({ name = "Query Co" }, "2024-01-01", "2024-01-31")
    s:account{ name = "O'Brien \\ Sons" }
    dir = cli.tmpdir()
  end)
  lazy_teardown(function()
    if s then s:stop() end
    if dir then os.execute("rm -rf " .. cli.q(dir)) end
  end)

  it("query prints a JSON array of the records, exit 0", function()
    local r = cli.run({ "query", "select Id, Name from Account where Name = ?", "Query Co" }, { env = env })
    assert.equals(0, r.code, r.stderr)
    assert.equals('[\n{"Id":"' .. acct.accountId .. '","Name":"Query Co"}\n]\n', r.stdout)
    assert.equals("", r.stderr) -- no progress into a pipe
  end)

  it("binds values safely: quotes and backslashes stay inside the literal", function()
    local r = cli.run({ "query", "select Name from Account where Name = ?", "O'Brien \\ Sons", "--format", "jsonl" },
      { env = env })
    assert.equals(0, r.code, r.stderr)
    assert.equals('{"Name":"O\'Brien \\\\ Sons"}\n', r.stdout)
    r = cli.run({ "query", "select Name from Account where Name = ?", "x' or Name != '" }, { env = env })
    assert.equals(0, r.code, r.stderr)
    assert.equals("[]\n", r.stdout)
  end)

  it("query --format csv --output writes a file with the select list as header", function()
    local path = dir .. "/accounts.csv"
    local r = cli.run({ "query", "select Id, Name, Balance from Account", "--format", "csv", "--output", path },
      { env = env })
    assert.equals(0, r.code, r.stderr)
    assert.equals("", r.stdout)
    assert.equals("wrote 2 records to " .. path .. "\n", r.stderr)
    local text = cli.read(path)
    assert.matches("^Id,Name,Balance\r\n", text)
    assert.matches("\r\n" .. acct.accountId .. ",Query Co,0\r\n", text)
  end)

  it("a failed query is one line on stderr (then its hint), exit 3", function()
    local r = cli.run({ "query", "select Bogus from Account" }, { env = env })
    assert.equals(3, r.code)
    assert.matches("^zuora api error 400 [%w_]+ %([%w_]+%): [^\n]*Bogus[^\n]*request_id=[%w%-]+%]\nhint: [^\n]+\n$",
      r.stderr)
    r = cli.run({ "query", "select Id from Account where Name = ?" }, { env = env })
    assert.equals(1, r.code)
    assert.matches("placeholder", r.stderr)
  end)

  it("export invoices --account takes an account number, --since filters by date", function()
    local r = cli.run({ "export", "invoices", "--account", acct.accountNumber, "--format", "csv" }, { env = env })
    assert.equals(0, r.code, r.stderr)
    local header, row = r.stdout:match("^([^\r]+)\r\n([^\r]+)\r\n$")
    assert.equals("Id,InvoiceNumber,AccountId,InvoiceDate,DueDate,Status,Amount,Balance", header)
    assert.matches("^%x+,INV%d+," .. acct.accountId .. ",2024%-01%-15,[%d%-]+,Posted,49%.99,0$", row)
    r = cli.run({ "export", "invoices", "--account", acct.accountNumber, "--since", "2024-02-01", "--format", "csv" },
      { env = env })
    assert.equals(0, r.code, r.stderr)
    assert.equals(header .. "\r\n", r.stdout)
    r = cli.run({ "export", "invoices", "--account", "A99999999" }, { env = env })
    assert.equals(3, r.code)
    assert.matches("^zuora api error 404 not_found", r.stderr)
    r = cli.run({ "export", "widgets" }, { env = env })
    assert.equals(1, r.code)
    assert.matches("unknown object widgets", r.stderr)
  end)

  it("data-query prints the result file, or saves it with --output", function()
    local r = cli.run({ "data-query", "SELECT id, name FROM account WHERE name = 'Query Co'" }, { env = env })
    assert.equals(0, r.code, r.stderr)
    assert.equals("id,name\n" .. acct.accountId .. ",Query Co\n", r.stdout:gsub("\r\n", "\n"))
    local path = dir .. "/dq.json"
    r = cli.run({ "data-query", "SELECT * FROM sim_synthetic LIMIT 1000", "--format", "json", "-o", path },
      { env = env })
    assert.equals(0, r.code, r.stderr)
    local text = cli.read(path)
    assert.equals(1000, select(2, text:gsub("\n", "")))
    assert.matches('^{"id":"%x+","account":"A%d+","amount":[%d.]+,"note":', text)
    assert.equals(("wrote %s (%d bytes)\n"):format(path, #text), r.stderr)
    r = cli.run({ "data-query", "SELEKT nothing" }, { env = env })
    assert.equals(3, r.code)
    assert.equals("", r.stdout)
    assert.equals(1, select(2, r.stderr:gsub("\n", "")))
  end)

  it("draws a progress line on a terminal, and none into a pipe unless --progress", function()
    local path = dir .. "/big.csv"
    local t = cli.pty({ "data-query", "SELECT * FROM sim_synthetic LIMIT 100000", "-o", path }, { env = env })
    local shown = t:close()
    -- redrawn in place: carriage return, the line, erase to the end of the line
    assert.matches("\rdata query  %[#+%] 100%%  [%d.]+ MiB  [%d.]+ [KMG]?i?B/s  %d%d:%d%d  done" .. ESC .. "%[K", shown)
    assert.is_truthy(shown:find("wrote " .. path, 1, true))

    t = cli.pty({ "query", "select Id, Name from Account", "-o", dir .. "/q.json" }, { env = env })
    shown = t:close()
    assert.matches("\rquery  2 rows  .*done" .. ESC .. "%[K", shown)

    local r = cli.run({ "data-query", "SELECT * FROM sim_synthetic LIMIT 100000", "-o", path }, { env = env })
    assert.equals(0, r.code, r.stderr)
    assert.equals(("wrote %s (%d bytes)\n"):format(path, #cli.read(path)), r.stderr)

    r = cli.run({ "--progress", "query", "select Id from Account", "-o", dir .. "/q2.json" }, { env = env })
    assert.equals(0, r.code, r.stderr)
    assert.matches("^query  [^\n]*\n", r.stderr) -- plain lines: the first at once, then each second
    assert.matches("\nquery  2 rows  [^\n]*done\nwrote 2 records", r.stderr)
    assert.not_matches("\r", r.stderr)

    -- --quiet silences it on a terminal too
    t = cli.pty({ "-q", "query", "select Id from Account", "-o", dir .. "/q3.json" }, { env = env })
    shown = t:close()
    assert.equals("", shown)
  end)
end)
