-- `zuora repl` as a user meets it: on a terminal (through a pseudo-terminal) with completion,
-- coloured JSON, one-line errors and history across sessions; and scripted through a pipe.
local simh = require "spec.support.sim"
local cli = require "spec.support.cli"

local ESC = "\27"

local strip_ansi = cli.strip_ansi

describe("zuora repl", function()
  local s, env, acct
  lazy_setup(function()
    s = simh.start()
    env = { ZUORA_BASE_URL = s.url, ZUORA_CLIENT_ID = s.client_id, ZUORA_CLIENT_SECRET = s.client_secret }
    acct = s:account{ name = "Repl Co" }
  end)
  lazy_teardown(function() if s then s:stop() end end)

  it("on a terminal: completes operations, pretty-prints JSON in colour, prints errors on one line", function()
    local state = cli.tmpdir()
    local t = cli.pty({ "repl" }, { env = env, state_home = state })
    finally(function() t:close(); os.execute("rm -rf " .. cli.q(state)) end)
    t:expect("zuora> ")

    -- Tab completes a unique operation name under a group...
    t:send("client.accounts.retrieve_su\t")
    t:expect("retrieve_summary")
    t:send('("' .. acct.accountNumber .. '").basicInfo\r')
    local shown = t:expect("zuora> ")
    -- ...and the answer comes back as indented JSON with coloured keys and strings, keys sorted.
    assert.matches(ESC .. "%[34m\"accountNumber\"" .. ESC .. "%[0m: " .. ESC .. "%[32m\"" .. acct.accountNumber, shown)
    local plain = strip_ansi(shown)
    assert.matches('\n  "accountNumber": "' .. acct.accountNumber .. '",\n', plain)
    assert.matches('\n  "name": "Repl Co",\n', plain)
    local a, b = plain:find('"accountNumber"', 1, true), plain:find('"name"', 1, true)
    assert.is_true(a < b)
    assert.matches("request_id", plain) -- the status line under a result

    -- A group name completes as a global too, and Tab Tab lists what is ambiguous.
    t:send("payments.crea\t")
    t:expect("payments.create")
    t:send("\21") -- Ctrl-U: clear the line
    t:send("client:re\t\t\t")
    t:expect("client:request")
    t:send("\21")

    -- A failed call: one red line with status, category, code and request id.
    t:send('accounts.retrieve("NOPE")\r')
    t:expect('retrieve("NOPE")')
    shown = t:expect("zuora> ")
    local line = strip_ansi(shown):match("(zuora api error[^\n]*)\n")
    assert.is_string(line, strip_ansi(shown))
    assert.matches("^zuora api error 404 not_found %(%d+%): .*request_id=[%w%-]+%]$", line)
    assert.matches(ESC .. "%[31mzuora api error", shown)

    -- A Lua mistake is one line too, and the session goes on.
    t:send("accounts.retrieve()\r")
    t:expect("retrieve()")
    shown = strip_ansi(t:expect("zuora> "))
    assert.matches("error: accounts.retrieve: path parameter account%-key %(argument 1%) is missing", shown)

    t:send("\4")
    t:close()
    local history = cli.read(state .. "/zuora/history")
    assert.is_string(history)
    assert.matches('accounts.retrieve%("NOPE"%)', history)
  end)

  it("keeps history between sessions, even one that was killed: Up recalls the last line", function()
    local state = cli.tmpdir()
    finally(function() os.execute("rm -rf " .. cli.q(state)) end)
    local t = cli.pty({ "repl" }, { env = env, state_home = state })
    t:expect("zuora> ")
    t:send("6 * 7\r")
    t:expect("42")
    t:expect("zuora> ")
    t:hangup()
    t:close()
    assert.equals("6 * 7\n", cli.read(state .. "/zuora/history"))

    t = cli.pty({ "repl" }, { env = env, state_home = state })
    t:expect("zuora> ")
    t:send(ESC .. "[A\r") -- Up, Enter
    local shown = strip_ansi(t:expect("zuora> "))
    assert.matches("6 %* 7", shown)
    assert.matches("\n42\n", shown)
    t:send("\4")
    t:close()
  end)

  it("Ctrl-C at the prompt clears the line at once, as a shell does, and the session goes on", function()
    local t = cli.pty({ "repl" }, { env = env })
    t:expect("zuora> ")
    t:send("1 +")
    t:expect("1 +")
    t:send("\3")
    t:expect("^C")
    t:expect("zuora> ") -- a fresh prompt before anything else is typed
    t:send("2 + 3\r")
    assert.matches("^2 %+ 3\n5\n", strip_ansi(t:expect("zuora> ")))
    t:send("1 +")
    t:expect("1 +")
    t:send("\3")
    t:expect("^C")
    t:expect("zuora> ")
    t:send("4\r")
    assert.matches("^4\n4\n", strip_ansi(t:expect("zuora> ")))
    t:send("\4")
    t:close()
  end)

  it("help() explains groups and operations", function()
    local r = cli.run({ "repl" }, { env = env, stdin = 'help(accounts.create)\nhelp("invoices")\nhelp()\n' })
    assert.equals(0, r.code, r.stderr)
    assert.matches("accounts.create — Create an account\n  POST /v1/accounts\n", r.stdout)
    assert.matches("required fields: name, currency, billToContact", r.stdout)
    assert.matches("docs: https://developer.zuora.com/", r.stdout)
    assert.matches("\ninvoices — Invoices, %d+ operations", r.stdout)
    assert.matches("The REPL is Lua 5.4", r.stdout)
  end)

  it("reads a script from a pipe: no prompt, plain JSON, errors on stderr, a failure in the exit status", function()
    local r = cli.run({ "repl" }, { env = env, stdin = table.concat({
      "local a = accounts.retrieve('" .. acct.accountNumber .. "')",
      "a.basicInfo.name",
      "json.encode({n = 1})",
      "for i = 1, 2 do",
      "  print(i)",
      "end",
      "accounts.retrieve('NOPE')",
      "nosuch.thing",
    }, "\n") .. "\n" })
    assert.equals(1, r.code) -- the last failure: a Lua error
    assert.equals('"Repl Co"\n"{\\"n\\":1}"\n1\n2\n', r.stdout)
    assert.not_matches(ESC, r.stdout)
    local lines = {}
    for l in r.stderr:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.equals(3, #lines, r.stderr)
    assert.matches("^zuora api error 404 not_found", lines[1])
    assert.matches("^hint: ", lines[2])
    assert.matches("^error: attempt to index a nil value %(global 'nosuch'%)$", lines[3])
  end)

  it("starts without credentials, explains why, and still teaches", function()
    local r = cli.run({ "repl" }, { stdin = "client\nhelp 'accounts.retrieve'\n" })
    assert.equals(0, r.code)
    assert.matches("no client %(no Zuora endpoint", r.stderr)
    assert.matches("no client\naccounts.retrieve — Retrieve an account", r.stdout)
  end)
end)
