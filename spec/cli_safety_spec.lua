-- The CLI's safety rails as a user meets them (docs/cli.md, "Safety rails"): exit statuses a
-- script can branch on, each produced by a real failure; --read-only and --dry-run; the production
-- fence (prompt, confirmation on a terminal, refusal without one); the Idempotency-Key of a write
-- whose outcome is unknown; Ctrl-C during a Data Query job cancelling the job.
local simh = require "spec.support.sim"
local cli = require "spec.support.cli"
local sj = simh.json

local ESC = "\27"
local strip_ansi = cli.strip_ansi

describe("zuora CLI safety rails", function()
  local s, env, acct, home
  local BODY = '{"name":"Rails Co","currency":"USD","billToContact":{"firstName":"Ada","lastName":"L","country":"US"}}'

  lazy_setup(function()
    s = simh.start()
    env = { ZUORA_BASE_URL = s.url, ZUORA_CLIENT_ID = s.client_id, ZUORA_CLIENT_SECRET = s.client_secret }
    acct = s:account{ name = "CLI Rails Co" }
    -- a profile on the simulator that says it is production
    home = cli.tmpdir()
    os.execute("mkdir -p " .. cli.q(home .. "/zuora"))
    cli.write(home .. "/zuora/config.lua", ("profiles = { live = { base_url = %q, client_id = %q, "
      .. "client_secret = %q, production = true }, guarded = { base_url = %q, client_id = %q, client_secret = %q, "
      .. "read_only = true } }"):format(s.url, s.client_id, s.client_secret, s.url, s.client_id, s.client_secret))
    os.execute("chmod 600 " .. cli.q(home .. "/zuora/config.lua"))
  end)
  lazy_teardown(function()
    if s then s:stop() end
    if home then os.execute("rm -rf " .. cli.q(home)) end
  end)
  before_each(function()
    s:clear_faults()
    s:clear_requests()
  end)

  local function run(args, extra, opts)
    local e = {}
    for k, v in pairs(env) do e[k] = v end
    for k, v in pairs(extra or {}) do e[k] = v end
    opts = opts or {}
    opts.env = e
    return cli.run(args, opts)
  end

  local function with_env(extra)
    local e = {}
    for k, v in pairs(env) do e[k] = v end
    for k, v in pairs(extra or {}) do e[k] = v end
    return e
  end

  describe("exit statuses", function()
    it("0 success, 1 usage, 2 authentication, 3 API client error, 4 server or transport, 5 policy", function()
      local cases = {
        { 0, { "call", "accounts.retrieve", acct.accountNumber } },
        { 0, { "query", "select Id from Account" } },
        { 1, { "call", "accounts.retrive", "A1" } },                         -- no such operation
        { 1, { "call", "accounts.retrieve" } },                              -- missing argument
        { 1, { "query" } },                                                  -- argparse: usage
        { 1, { "call", "accounts.create", "--data", "@/nonexistent/file" } }, -- a local file
        { 2, { "call", "accounts.retrieve", "A1" }, { ZUORA_CLIENT_SECRET = "wrong" } },
        { 2, { "query", "select Id from Account" }, { ZUORA_CLIENT_SECRET = "wrong" } },
        { 3, { "call", "accounts.retrieve", "NOPE" } },
        { 3, { "query", "select Nope from Account" } },
        { 3, { "export", "invoices", "--account", "NOPE" } },
        { 3, { "data-query", "SELECT nope FROM nowhere" } },
        { 4, { "call", "accounts.retrieve", "A1" }, { ZUORA_BASE_URL = "http://127.0.0.1:1" } },
        { 4, { "query", "select Id from Account" }, { ZUORA_BASE_URL = "http://127.0.0.1:1" } },
        { 5, { "--read-only", "call", "accounts.create", "--data", BODY } },
        { 5, { "--profile", "guarded", "call", "accounts.delete", acct.accountNumber } },
      }
      for _, c in ipairs(cases) do
        local r
        if c[2][1] == "--profile" then
          r = cli.run(c[2], { config_home = home })
        else
          r = run(c[2], c[3])
        end
        assert.equals(c[1], r.code, table.concat(c[2], " ") .. "\n" .. r.stderr)
      end
      -- a server failure on each command: 500 from every API path
      s:fault{ path = "/v1/**", status = 500 }
      s:fault{ path = "/query/**", status = 500 }
      local commands = { { "call", "accounts.retrieve", acct.accountNumber }, { "query", "select Id from Account" },
        { "export", "accounts" }, { "data-query", "SELECT id FROM account" } }
      for _, args in ipairs(commands) do
        local r = run(args, { ZUORA_MAX_RETRIES = "0" })
        assert.equals(4, r.code, table.concat(args, " ") .. "\n" .. r.stderr)
      end
      -- nothing was created by the refused write
      assert.equals(0, #s:requests{ method = "POST", path = "/v1/accounts" })
      assert.equals(0, #s:requests{ method = "DELETE" })
    end)

    it("a piped REPL script and `zuora run` do not exit 0 when something failed", function()
      assert.equals(1, run({ "repl" }, nil, { stdin = 'error("x")\n' }).code)
      assert.equals(1, run({ "repl" }, nil, { stdin = 'local x = \n' }).code) -- a syntax error at the end
      assert.equals(3, run({ "repl" }, nil, { stdin = 'accounts.retrieve("NOPE")\n1 + 1\n' }).code)
      assert.equals(0, run({ "repl" }, nil, { stdin = 'accounts.retrieve("' .. acct.accountNumber .. '")\n' }).code)
      local dir = cli.tmpdir()
      finally(function() os.execute("rm -rf " .. cli.q(dir)) end)
      cli.write(dir .. "/fails.lua", 'local a = accounts.retrieve("NOPE")\nprint(a == nil)\n')
      cli.write(dir .. "/raises.lua", 'assert(accounts.retrieve(...))\n')
      cli.write(dir .. "/works.lua", 'local a = assert(accounts.retrieve(...))\nprint(a.basicInfo.name)\n')
      local r = run({ "run", dir .. "/fails.lua" })
      assert.equals(3, r.code, r.stderr)
      assert.equals("true\n", r.stdout)
      assert.matches("last API call failed: zuora api error 404", r.stderr)
      r = run({ "run", dir .. "/raises.lua", "NOPE" })
      assert.equals(3, r.code, r.stderr)
      assert.matches("hint: ", r.stderr)
      r = run({ "run", dir .. "/works.lua", acct.accountNumber })
      assert.equals(0, r.code, r.stderr)
      assert.equals("CLI Rails Co\n", r.stdout)
      r = run({ "--read-only", "run", dir .. "/works.lua", acct.accountNumber })
      assert.equals(0, r.code, r.stderr)
      cli.write(dir .. "/writes.lua", 'local a, err = accounts.create{ name = "x" }\nprint(err.kind)\n')
      r = run({ "--read-only", "run", dir .. "/writes.lua" })
      assert.equals(5, r.code, r.stderr)
      assert.equals("policy\n", r.stdout)
    end)

    it("130 when Ctrl-C stops a command", function()
      s:fault{ method = "GET", path = "/v1/accounts/*", latency = 5, count = 1 }
      local t = cli.pty({ "call", "accounts.retrieve", acct.accountNumber }, { env = with_env(), status = true })
      finally(function() t:close() end)
      -- wait until the request is at the simulator, then interrupt
      for _ = 1, 100 do
        if #s:requests{ method = "GET", path = "/v1/accounts/*" } > 0 then break end
        cli.sleep(0.05)
      end
      t:send("\3")
      assert.equals(130, t:status())
      assert.matches("interrupted", t:text())
    end)
  end)

  describe("--dry-run", function()
    it("prints the exact request with credentials masked, sends nothing, exits 0", function()
      local r = run({ "call", "accounts.create", "--data", BODY, "--idempotency-key", "dry-1", "--dry-run" })
      assert.equals(0, r.code, r.stderr)
      local lines = {}
      for line in r.stdout:gmatch("[^\n]*") do lines[#lines + 1] = line end
      assert.equals("POST " .. s.url .. "/v1/accounts", lines[1])
      assert.matches("\nIdempotency%-Key: dry%-1\n", r.stdout)
      assert.matches("\nAuthorization: Bearer %[redacted%]\n", r.stdout)
      assert.matches("\n\n" .. BODY:gsub("%p", "%%%0") .. "\n$", r.stdout)
      assert.is_nil(r.stdout:find(s.client_secret, 1, true))
      assert.same({}, s:requests{}) -- not even a token request
    end)
  end)

  describe("production", function()
    it("shows PRODUCTION in the REPL prompt, in red", function()
      local state = cli.tmpdir()
      local t = cli.pty({ "--profile", "live", "repl" }, { config_home = home, state_home = state })
      finally(function() t:close(); os.execute("rm -rf " .. cli.q(state)) end)
      local shown = t:expect("zuora[PRODUCTION]> ")
      assert.matches(ESC .. "%[1m" .. ESC .. "%[31m\1?\2?zuora%[PRODUCTION%]> $", shown:gsub("\1", ""):gsub("\2", ""))
      assert.matches("This is PRODUCTION", strip_ansi(shown))
      t:send("\4")
      -- a profile without production = true on the same URL keeps the plain prompt
      local t2 = cli.pty({ "repl" }, { env = with_env(), state_home = state })
      finally(function() t2:close() end)
      local plain = t2:expect("zuora> ")
      assert.is_nil(plain:find("PRODUCTION", 1, true))
      t2:send("\4")
    end)

    it("counts production environments and hosts as production unless the profile says otherwise", function()
      local config = require "zuora.cli.config"
      local function production(profile, flags)
        local cfg = { profiles = { p = profile } }
        local f = { profile = "p" }
        for k, v in pairs(flags or {}) do f[k] = v end
        local _, info = assert(config.client_options(cfg, f, function() return nil end))
        return info.production
      end
      local creds = { client_id = "a", client_secret = "b" }
      local function with(t) for k, v in pairs(creds) do t[k] = v end return t end
      assert.is_true(production(with{ environment = "us-cloud2-production" }))
      assert.is_true(production(with{ environment = "eu-production" }))
      assert.is_true(production(with{ base_url = "https://rest.zuora.com" }))
      assert.is_true(production(with{ base_url = "https://REST.EU.ZUORA.COM/" }))
      assert.is_false(production(with{ environment = "us-cloud2-sandbox" }))
      assert.is_false(production(with{ base_url = "https://rest.apisandbox.zuora.com" }))
      assert.is_false(production(with{ environment = "eu-production", production = false }))
      assert.is_true(production(with{ base_url = "http://127.0.0.1:9", production = true }))
      assert.is_false(production(with{ environment = "eu-production" },
        { sim = { url = "http://127.0.0.1:9", client_id = "x", client_secret = "y" } }))
      -- the setting must be a boolean
      local dir = cli.tmpdir()
      finally(function() os.execute("rm -rf " .. cli.q(dir)) end)
      cli.write(dir .. "/c.lua", 'profiles = { p = { base_url = "http://127.0.0.1:9", token = env "T", '
        .. 'production = "yes" } }')
      local cfg, err = config.load(dir .. "/c.lua")
      assert.is_nil(cfg)
      assert.matches("production must be a boolean", err)
    end)

    it("asks before a one-shot write: y sends it, n does not", function()
      local t = cli.pty({ "--profile", "live", "call", "accounts.create", "--data", BODY, "--idempotency-key",
        "conf-1" }, { config_home = home, status = true })
      finally(function() t:close() end)
      t:expect("Send it? [y/N] ")
      assert.equals(0, #s:requests{ method = "POST", path = "/v1/accounts" })
      t:send("y\r")
      assert.equals(0, t:status())
      assert.equals(1, #s:requests{ method = "POST", path = "/v1/accounts" })

      local t2 = cli.pty({ "--profile", "live", "call", "accounts.create", "--data", BODY },
        { config_home = home, status = true })
      finally(function() t2:close() end)
      t2:expect("Send it? [y/N] ")
      t2:send("n\r")
      assert.equals(5, t2:status())
      assert.matches("not sent", t2:text())
      assert.equals(1, #s:requests{ method = "POST", path = "/v1/accounts" })

      -- reads are not asked about
      local t3 = cli.pty({ "--profile", "live", "call", "accounts.retrieve", acct.accountNumber },
        { config_home = home, status = true })
      finally(function() t3:close() end)
      assert.equals(0, t3:status())
      assert.is_nil(t3:text():find("Send it?", 1, true))
    end)

    it("without a terminal a write to production is refused unless --yes", function()
      local r = cli.run({ "--profile", "live", "call", "accounts.create", "--data", BODY }, { config_home = home })
      assert.equals(5, r.code)
      assert.matches("no terminal to ask on; add %-%-yes", r.stderr)
      assert.equals(0, #s:requests{ method = "POST", path = "/v1/accounts" })
      r = cli.run({ "--profile", "live", "--yes", "call", "accounts.create", "--data", BODY }, { config_home = home })
      assert.equals(0, r.code, r.stderr)
      assert.equals(1, #s:requests{ method = "POST", path = "/v1/accounts" })
    end)
  end)

  describe("uncertain writes", function()
    it("after a 504 prints the Idempotency-Key and a command that repeats the write safely", function()
      s:fault{ method = "POST", path = "/v1/accounts", status = 504, phase = "after", count = 1 }
      local r = run({ "call", "accounts.create", "--data", BODY }, { ZUORA_MAX_RETRIES = "0" })
      assert.equals(4, r.code, r.stderr)
      local key = r.stderr:match("Idempotency%-Key (%S+)")
      assert.is_string(key, r.stderr)
      local again = r.stderr:match("repeat it safely with: (zuora [^\n]+)")
      assert.is_string(again, r.stderr)
      assert.equals("zuora call accounts.create --data '" .. BODY .. "' --idempotency-key " .. key, again)
      -- the work was done behind the 504; repeating with the key answers with it, creating nothing new
      local prefix = cli.command({}, { env = with_env() })
      local p = assert(io.popen(prefix .. " " .. again:sub(#"zuora " + 1) .. " 2>&1; echo \"[exit $?]\""))
      local out = p:read("a")
      p:close()
      assert.matches("%[exit 0%]", out)
      local posts = s:requests{ method = "POST", path = "/v1/accounts" }
      assert.equals(2, #posts)
      assert.equals(key, posts[1].headers["idempotency-key"])
      assert.equals(key, posts[2].headers["idempotency-key"])
      assert.is_true(posts[2].replayed == true or sj.tonumber(posts[2].status) == 200)
    end)

    it("Ctrl-C while a write is in flight prints its key and the command that repeats it", function()
      s:fault{ method = "POST", path = "/v1/accounts", latency = 3, count = 1 }
      local t = cli.pty({ "call", "accounts.create", "--data", BODY }, { env = with_env(), status = true })
      finally(function() t:close() end)
      for _ = 1, 100 do
        if #s:requests{ method = "POST", path = "/v1/accounts" } > 0 then break end
        cli.sleep(0.05)
      end
      t:send("\3")
      assert.equals(130, t:status())
      local text = strip_ansi(t:text())
      local key = text:match("Idempotency%-Key (%S+)")
      assert.is_string(key, text)
      assert.equals(key, s:requests{ method = "POST", path = "/v1/accounts" }[1].headers["idempotency-key"])
      assert.matches("repeat it safely with: zuora call accounts.create --data '" .. BODY
        .. "' --idempotency-key " .. key, text, 1, true)
    end)

    it("the REPL prints the key of a write Ctrl-C interrupted, and again() repeats it with that key", function()
      local state = cli.tmpdir()
      s:fault{ method = "POST", path = "/v1/accounts", latency = 3, count = 1 }
      local t = cli.pty({ "repl" }, { env = with_env(), state_home = state })
      finally(function() t:close(); os.execute("rm -rf " .. cli.q(state)) end)
      t:expect("zuora> ")
      t:send("accounts.create(json.decode('" .. BODY .. "'))\r")
      for _ = 1, 100 do
        if #s:requests{ method = "POST", path = "/v1/accounts" } > 0 then break end
        cli.sleep(0.05)
      end
      t:send("\3")
      local shown = strip_ansi(t:expect("zuora> "))
      local key = shown:match("Idempotency%-Key (%S+)")
      assert.is_string(key, shown)
      assert.matches("repeat it safely with: again%(%)", shown)
      -- Ctrl-C dropped the transfer at once; the simulator finishes the first attempt on its own
      -- (a repeat while the key is still in progress would be refused), then again() replays it.
      for _ = 1, 200 do
        local first = s:requests{ method = "POST", path = "/v1/accounts" }[1]
        if first and first.status then break end
        cli.sleep(0.05)
      end
      t:send("again().accountNumber\r")
      t:expect("\"A")
      t:send("\4")
      local posts = s:requests{ method = "POST", path = "/v1/accounts" }
      assert.equals(2, #posts)
      assert.equals(key, posts[1].headers["idempotency-key"])
      assert.equals(key, posts[2].headers["idempotency-key"])
    end)
  end)

  describe("Ctrl-C during a Data Query job", function()
    it("cancels the job on the server and prints its id", function()
      s:config{ job_polls = 1000 } -- the job stays in progress
      finally(function() s:config{ job_polls = 1 } end)
      local t = cli.pty({ "data-query", "SELECT id FROM account" }, { env = with_env(), status = true })
      finally(function() t:close() end)
      local id
      for _ = 1, 200 do
        local polls = s:requests{ method = "GET", path = "/query/jobs/*" }
        if #polls > 0 then
          id = polls[1].path:match("/query/jobs/(.+)$")
          break
        end
        cli.sleep(0.05)
      end
      assert.is_string(id)
      t:send("\3")
      assert.equals(130, t:status())
      assert.matches("cancelled data query job " .. id:gsub("%p", "%%%0"), t:text())
      local deletes = s:requests{ method = "DELETE", path = "/query/jobs/" .. id }
      assert.equals(1, #deletes)
      assert.equals(200, sj.tonumber(deletes[1].status))
    end)
  end)
end)
