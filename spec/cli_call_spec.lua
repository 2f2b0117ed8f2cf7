-- `zuora call`, `zuora ops`, `zuora sim`, --sim, --help and --version, run as a user runs them.
local simh = require "spec.support.sim"
local cli = require "spec.support.cli"

local function lines(s)
  local out = {}
  for l in s:gmatch("[^\n]+") do out[#out + 1] = l end
  return out
end

describe("zuora call", function()
  local s, env, acct
  lazy_setup(function()
    s = simh.start()
    env = { ZUORA_BASE_URL = s.url, ZUORA_CLIENT_ID = s.client_id, ZUORA_CLIENT_SECRET = s.client_secret }
    acct = s:account{ name = "Call Co" }
  end)
  lazy_teardown(function() if s then s:stop() end end)

  it("prints the answer as indented JSON with sorted keys and exits 0", function()
    local r = cli.run({ "call", "accounts.retrieve", acct.accountNumber }, { env = env })
    assert.equals(0, r.code, r.stderr)
    assert.equals("", r.stderr)
    assert.matches('^{\n  "basicInfo": {\n    "accountNumber": "' .. acct.accountNumber .. '",\n', r.stdout)
    assert.not_matches("\27", r.stdout) -- no colour into a pipe
    local keys = {}
    for k in r.stdout:gmatch('\n  "([%w_]+)":') do keys[#keys + 1] = k end
    local sorted = { table.unpack(keys) }
    table.sort(sorted)
    assert.same(sorted, keys)
    assert.is_true(#keys >= 4)
  end)

  it("prints a failure as one line on stderr, then its hint, and exits 3 (an API client error)", function()
    local r = cli.run({ "call", "accounts.retrieve", "NOPE" }, { env = env })
    assert.equals(3, r.code)
    assert.equals("", r.stdout)
    local l = lines(r.stderr)
    assert.equals(2, #l, r.stderr)
    assert.matches("^hint: ", l[2])
    assert.matches("^zuora api error 404 not_found %(%d+%): .*%[GET " .. s.url:gsub("%p", "%%%0")
      .. "/v1/accounts/NOPE, request_id=[%w%-]+%]$", l[1])
  end)

  it("sends --data exactly as written (every digit of an amount) and --query parameters", function()
    s:clear_requests()
    local body = '{"name": "Exact Co", "currency": "USD", "creditLimit": 1234.5678901234567890, '
      .. '"billToContact": {"firstName": "Ada", "lastName": "L", "country": "US"}}'
    local r = cli.run({ "call", "accounts.create", "--data", body, "--query", "x=1", "--query", "x=2" },
      { env = env })
    assert.equals(0, r.code, r.stderr)
    assert.matches('"success": true', r.stdout)
    local seen = s:requests{ method = "POST", path = "/v1/accounts" }
    assert.equals(1, #seen)
    assert.equals(body, seen[1].body)
    assert.matches("x=1&x=2", seen[1].query)
    assert.is_truthy(seen[1].headers["idempotency-key"])
  end)

  it("reads --data from a file, and GET --data becomes the query", function()
    local dir = cli.tmpdir()
    finally(function() os.execute("rm -rf " .. cli.q(dir)) end)
    cli.write(dir .. "/acct.json", '{"name": "File Co", "currency": "EUR", '
      .. '"billToContact": {"firstName": "F", "lastName": "C", "country": "DE"}}')
    local r = cli.run({ "call", "accounts.create", "--data", "@" .. dir .. "/acct.json" }, { env = env })
    assert.equals(0, r.code, r.stderr)
    local number = r.stdout:match('"accountNumber": "([^"]+)"')
    assert.is_string(number)
    r = cli.run({ "call", "accounts.retrieve", number }, { env = env })
    assert.matches('"name": "File Co"', r.stdout)

    s:clear_requests()
    r = cli.run({ "call", "catalog.list_products", "--data", '{"pageSize": 1}' }, { env = env })
    assert.equals(0, r.code, r.stderr)
    local seen = s:requests{ method = "GET", path = "/v1/catalog/products" }
    assert.equals("pageSize=1", seen[1].query)
  end)

  it("stdin as --data @-", function()
    local r = cli.run({ "call", "accounts.update", acct.accountNumber, "--data", "@-" },
      { env = env, stdin = '{"notes": "from stdin"}' })
    assert.equals(0, r.code, r.stderr)
    r = cli.run({ "call", "accounts.retrieve", acct.accountNumber }, { env = env })
    assert.matches('"notes": "from stdin"', r.stdout)
  end)

  it("--raw prints the body as received; --output writes it to a file", function()
    local raw = cli.run({ "call", "accounts.retrieve", acct.accountNumber, "--raw" }, { env = env })
    assert.equals(0, raw.code, raw.stderr)
    assert.matches('^{"success":true,', raw.stdout)
    local dir = cli.tmpdir()
    finally(function() os.execute("rm -rf " .. cli.q(dir)) end)
    local r = cli.run({ "call", "accounts.retrieve", acct.accountNumber, "--output", dir .. "/a.json" }, { env = env })
    assert.equals(0, r.code, r.stderr)
    assert.equals("", r.stdout)
    local saved = cli.read(dir .. "/a.json")
    assert.equals(raw.stdout, saved)
    assert.equals(("wrote %s/a.json (%d bytes)\n"):format(dir, #saved), r.stderr)
    r = cli.run({ "-q", "call", "accounts.retrieve", acct.accountNumber, "--output", dir .. "/b.json" }, { env = env })
    assert.equals("", r.stderr)
  end)

  it("reaches any endpoint as METHOD /path, with headers", function()
    s:clear_requests()
    local r = cli.run({ "call", "GET", "/v1/accounts/" .. acct.accountNumber .. "/summary", "-H", "X-Spec: yes" },
      { env = env })
    assert.equals(0, r.code, r.stderr)
    assert.matches('"basicInfo"', r.stdout)
    local seen = s:requests{ path = "/v1/accounts/*/summary" }
    assert.equals("yes", seen[1].headers["x-spec"])
  end)

  it("explains mistakes without sending anything", function()
    s:clear_requests()
    local r = cli.run({ "call", "accounts.retrieve" }, { env = env })
    assert.equals(1, r.code)
    assert.matches("accounts.retrieve takes 1 path argument %(account%-key%), got 0", r.stderr)
    assert.matches("usage: zuora call accounts.retrieve <account%-key>", r.stderr)
    r = cli.run({ "call", "accounts.retreive", "A1" }, { env = env })
    assert.equals(1, r.code)
    assert.matches("no operation accounts.retreive %(did you mean accounts.retrieve%?%)", r.stderr)
    r = cli.run({ "call", "accounts.create", "--data", "{nope" }, { env = env })
    assert.equals(1, r.code)
    assert.matches("^zuora: %-%-data is not JSON", r.stderr)
    r = cli.run({ "call", "accounts.retrieve", "A1", "--query", "novalue" }, { env = env })
    assert.equals(1, r.code)
    assert.matches("%-%-query expects key=value", r.stderr)
    assert.same({}, s:requests{ path = "/v1/accounts*" })
  end)

  it("without configuration says what to set, and exits 1", function()
    local r = cli.run({ "call", "accounts.retrieve", "A1" })
    assert.equals(1, r.code)
    assert.matches("^zuora: no Zuora endpoint: set ZUORA_ENVIRONMENT or ZUORA_BASE_URL", r.stderr)
  end)

  it("--trace shows each request and response on stderr, no secret in it", function()
    local r = cli.run({ "--trace", "call", "accounts.retrieve", acct.accountNumber }, { env = env })
    assert.equals(0, r.code, r.stderr)
    assert.matches("> POST " .. s.url:gsub("%p", "%%%0") .. "/oauth/token %(token%)", r.stderr)
    assert.matches("> GET " .. s.url:gsub("%p", "%%%0") .. "/v1/accounts/" .. acct.accountNumber, r.stderr)
    assert.matches("< 200  %d+ ms  request_id=", r.stderr)
    assert.not_matches(s.client_secret, r.stderr, 1, true)
  end)
end)

describe("zuora ops", function()
  it("lists operations matching every word, one a line", function()
    local r = cli.run({ "ops", "credit", "memo", "pdf" })
    assert.equals(0, r.code)
    local l = lines(r.stdout)
    assert.is_true(#l >= 2)
    for _, line in ipairs(l) do
      assert.matches("^credit_memos%.[%w_]+%s+[A-Z]+%s+/v1/credit%-memos", line)
      assert.matches("[Pp][Dd][Ff]", line)
    end
    assert.matches("^%d+ operations\n", r.stderr)
  end)

  it("shows one operation in detail, or a whole group", function()
    local r = cli.run({ "ops", "accounts.create" })
    assert.equals(0, r.code)
    assert.matches("^accounts.create — Create an account\n  POST /v1/accounts\n", r.stdout)
    assert.matches("lua:    client.accounts.create%(body, options%)", r.stdout)
    assert.matches("shell:  zuora call accounts.create %-%-data", r.stdout)
    r = cli.run({ "ops", "accounts" })
    assert.matches("^accounts — Accounts, 9 operations", r.stdout)
  end)

  it("exits 1 when nothing matches", function()
    local r = cli.run({ "ops", "no-such-operation-anywhere" })
    assert.equals(1, r.code)
    assert.equals("", r.stdout)
    assert.matches("no operation matches", r.stderr)
  end)
end)

describe("zuora --help, --version and usage errors", function()
  it("--help describes the commands and configuration, exit 0", function()
    local r = cli.run({ "--help" })
    assert.equals(0, r.code)
    for _, cmd in ipairs({ "repl", "call", "ops", "query", "data%-query", "export", "sim" }) do
      assert.matches("\n   " .. cmd .. " ", r.stdout)
    end
    assert.matches("config.lua", r.stdout)
    r = cli.run({ "call", "--help" })
    assert.equals(0, r.code)
    assert.matches("%-%-data", r.stdout)
  end)

  it("--version", function()
    local r = cli.run({ "--version" })
    assert.equals(0, r.code)
    assert.matches("^zuora %(lua%-zuora%) %d+%.%d+%.%d+\n$", r.stdout)
  end)

  it("an unknown command or option exits 1 with usage", function()
    local r = cli.run({ "frobnicate" })
    assert.equals(1, r.code)
    assert.matches("Usage: zuora", r.stderr)
    r = cli.run({ "call", "--nope" })
    assert.equals(1, r.code)
  end)
end)

describe("zuora and zuora-sim", function()
  it("--sim starts a simulator for the command and stops it afterwards", function()
    local r = cli.run({ "--sim", "--trace", "call", "catalog.list_products", "--query", "pageSize=1" })
    assert.equals(0, r.code, r.stderr)
    assert.matches('"products": %[', r.stdout)
    local url = r.stderr:match("> GET (http://127%.0%.0%.1:%d+)/v1/catalog/products")
    assert.is_string(url, r.stderr)
    -- gone: nothing listens there any more
    local p = io.popen("curl -s -o /dev/null -w '%{http_code}' --max-time 2 " .. url .. "/__sim/state; echo \" $?\"")
    local out = p:read("a")
    p:close()
    assert.matches("^000 7", out)
  end)

  it("sim runs zuora-sim in the foreground with its options", function()
    local dir = cli.tmpdir()
    finally(function() os.execute("rm -rf " .. cli.q(dir)) end)
    local cmd = cli.command({ "sim", "--port", "0", "--client-id", "cli-spec" })
    os.execute(("%s >%s 2>&1 </dev/null & echo $! >%s"):format(cmd, cli.q(dir .. "/out"), cli.q(dir .. "/pid")))
    local out
    for _ = 1, 200 do
      out = cli.read(dir .. "/out") or ""
      if out:find("\nready\n", 1, true) then break end
      cli.sleep(0.05)
    end
    local url = out:match("^(http://[%d.:]+)\n")
    assert.is_string(url, out)
    local info = {}
    for k, v in out:gmatch("\n(%S+) ([^\n]+)") do info[k] = v end
    local p = io.popen("curl -s -X POST -d 'grant_type=client_credentials&client_id=cli-spec&client_secret="
      .. "zuora-sim-secret' " .. url .. "/oauth/token")
    local token = p:read("a")
    p:close()
    assert.matches('"access_token"', token)
    -- killing the zuora process (not the simulator) takes the simulator with it
    os.execute("kill -KILL " .. cli.read(dir .. "/pid"):match("%d+"))
    for _ = 1, 100 do
      if not cli.read("/proc/" .. info.nginx_pid .. "/stat") then break end
      cli.sleep(0.05)
    end
    assert.is_nil(cli.read("/proc/" .. info.nginx_pid .. "/stat"))
  end)

  it("sim passes usage errors through and exits 1", function()
    local r = cli.run({ "sim", "--bogus" })
    assert.equals(1, r.code)
    assert.matches("zuora%-sim: unknown option %-%-bogus", r.stderr)
  end)
end)
