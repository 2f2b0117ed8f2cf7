-- The REPL's edges a newcomer met (issue 25), through a pseudo-terminal where a terminal matters:
-- Ctrl-C during a slow call, Ctrl-C twice in a --sim session, _meta after a failure, help() and
-- print() agreeing on signatures, huge results, the seeded --sim tenant, and no client at all.
local simh = require "spec.support.sim"
local cli = require "spec.support.cli"


local strip_ansi = cli.strip_ansi

describe("zuora repl edges", function()
  local s, env, acct
  lazy_setup(function()
    s = simh.start()
    env = { ZUORA_BASE_URL = s.url, ZUORA_CLIENT_ID = s.client_id, ZUORA_CLIENT_SECRET = s.client_secret }
    acct = s:account{ name = "Edge Co" }
  end)
  lazy_teardown(function() if s then s:stop() end end)

  it("Ctrl-C during a slow call stops it at once; the session goes on", function()
    s:clear_faults()
    s:fault{ method = "GET", path = "/v1/accounts/*", latency = 20, count = 1 }
    local t = cli.pty({ "repl" }, { env = env })
    finally(function() t:close(); s:clear_faults() end)
    t:expect("zuora> ")
    t:send('accounts.retrieve("' .. acct.accountNumber .. '").basicInfo.name\r')
    t:expect("basicInfo.name")
    cli.sleep(0.5) -- the request is on its way (the fault holds it 20 s)
    local t0 = os.time()
    t:send("\3")
    local shown = strip_ansi(t:expect("zuora> ", 5))
    assert.is_true(os.time() - t0 <= 2, "Ctrl-C took " .. (os.time() - t0) .. " s")
    assert.matches("\n[%^C]*interrupted\n", shown) -- (the terminal may echo ^C)
    -- the next call goes through (the fault fired once)
    t:send('accounts.retrieve("' .. acct.accountNumber .. '").basicInfo.name\r')
    assert.matches('\n"Edge Co"\n', strip_ansi(t:expect("zuora> ", 10)))
    t:send("\4")
  end)

  it("--sim: Ctrl-C never ends the session nor its simulator; the seeded tenant answers help()'s example",
    function()
      local t = cli.pty({ "--sim" }, { env = {} })
      finally(function() t:close() end)
      t:expect("zuora> ", 20)
      t:send("\3")
      t:expect("^C")
      t:expect("zuora> ")
      t:send("\3")
      t:expect("(Ctrl-D leaves; this session's zuora-sim and its tenant stop with it)")
      t:expect("zuora> ")
      t:send('accounts.retrieve("A00000001").basicInfo.name\r')
      assert.matches('\n"Acme Corp"\n', strip_ansi(t:expect("zuora> ", 10)))
      t:send("\4")
    end)

  it("--sim starts with a small tenant: help()'s examples work as printed", function()
    local r = cli.run({ "--sim", "repl" }, { stdin = table.concat({
      "help()",
      'accounts.retrieve("A00000001").basicInfo.name',
      'local inv = client:query("select Id from Invoice")()',
      'client.invoices.list_items(inv.Id).invoiceItems[1].chargeAmount',
      'accounts.retrieve_summary("A00000001").subscriptions[1].status',
    }, "\n") .. "\n" })
    assert.equals(0, r.code, r.stderr)
    assert.equals("", r.stderr)
    assert.matches('accounts%.retrieve%("A00000001"%)', r.stdout) -- the example help() gives
    assert.matches('\n"Acme Corp"\n49%.99\n"Active"\n$', r.stdout)
  end)

  it("_meta describes the last call, also one that failed", function()
    local r = cli.run({ "repl" }, { env = env, stdin = table.concat({
      'accounts.retrieve("' .. acct.accountNumber .. '") ~= nil',
      "_meta.status",
      'accounts.retrieve("NOPE")',
      "_meta.status, _meta.request_id == _err.request_id, _meta.error == _err, _meta.method",
      "_meta.attempts >= 1, _meta.elapsed > 0",
    }, "\n") .. "\n" })
    -- (the exit status is the failed line's: EXIT STATUS in docs/cli.md)
    assert.equals('true\n200\n404\ntrue\ntrue\n"GET"\ntrue\ntrue\n', r.stdout)
  end)

  it("help(accounts) and print(client.accounts) give the same signatures", function()
    local r = cli.run({ "repl" }, { env = env, stdin = "help(accounts)\nprint(client.accounts)\n" })
    assert.equals(0, r.code, r.stderr)
    local help_text, print_text = r.stdout:match("^(accounts — .-)\n(accounts: .*)$")
    assert.is_string(help_text, r.stdout)
    local function sigs(text)
      local out = {}
      for name, args in text:gmatch("\n  ([%w_]+)(%b())") do out[#out + 1] = name .. args end
      table.sort(out)
      return out
    end
    local from_help, from_print = sigs(help_text), sigs(print_text)
    assert.is_true(#from_help >= 9)
    assert.same(from_print, from_help)
    assert.truthy(help_text:find("\n  create(body, options) ", 1, true))
    assert.truthy(help_text:find("\n  retrieve(account_key, query, options) ", 1, true))
  end)

  it("a huge result on a terminal shows its first lines and a note; through a pipe it is whole", function()
    local t = cli.pty({ "repl" }, { env = env })
    finally(function() t:close() end)
    t:expect("zuora> ")
    t:send("zuora.operations()\r")
    local shown = strip_ansi(t:expect("zuora> ", 20))
    local more, all = shown:match("\n… (%d+) more lines not shown %((%d+) in all%): the value is in _, page%(_%) "
      .. "shows all of it in a pager\n")
    assert.is_string(more, shown:sub(-600))
    assert.equals(tonumber(all) - 200, tonumber(more))
    local lines = select(2, shown:gsub("\n", ""))
    assert.is_true(lines <= 205, lines .. " lines")
    t:send("#_ > 700\r")
    assert.matches("\ntrue\n", strip_ansi(t:expect("zuora> ")))
    t:send("\4")

    local r = cli.run({ "repl" }, { env = env, stdin = "zuora.operations()\n" })
    assert.equals(0, r.code, r.stderr)
    assert.equals(tonumber(all), select(2, r.stdout:gsub("\n", "")))
  end)

  it("without a client, calling an operation says how to configure one; a client made at the prompt works",
    function()
      local r = cli.run({ "repl" }, { stdin = table.concat({
        'accounts.retrieve("A1")',
        "client.accounts",
        ("client = zuora.new{ base_url = %q, client_id = %q, client_secret = %q }"):format(s.url, s.client_id,
          s.client_secret),
        'accounts.retrieve("' .. acct.accountNumber .. '").basicInfo.name',
      }, "\n") .. "\n" })
      local lines = {}
      for l in r.stderr:gmatch("[^\n]+") do lines[#lines + 1] = l end
      assert.equals(3, #lines, r.stderr)
      assert.matches("^zuora: no client", lines[1])
      local want = "^error: no client in this session %(no Zuora endpoint: set ZUORA_ENVIRONMENT or "
        .. "ZUORA_BASE_URL.*%); or make one here: client = zuora%.new{ base_url = %.%.%., client_id = %.%.%., "
        .. "client_secret = %.%.%. }$"
      assert.matches(want, lines[2])
      assert.matches(want, lines[3])
      assert.not_matches("attempt to index", r.stderr)
      assert.equals('"Edge Co"\n', r.stdout)
    end)
end)
