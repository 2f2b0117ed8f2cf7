-- What a newcomer met at the command line (issue 25): exports that keep the old file until they
-- are whole, formats from the file name, dates checked, --trace with the bound values, `export
-- orders` against zuora-sim, writes to a full stdout, the invoice PDF recipe, a directory named
-- config.lua, both endpoint variables set, and zuora-sim for a normal user or on a taken port.
local simh = require "spec.support.sim"
local cli = require "spec.support.cli"
local fs = require "spec.support.fs"

local function mode(path)
  local p = io.popen("stat -c %a " .. cli.q(path))
  local m = p:read("l")
  p:close()
  return m
end

local function ls(dir)
  local p = io.popen("ls -A " .. cli.q(dir))
  local names = {}
  for line in p:lines() do names[#names + 1] = line end
  p:close()
  table.sort(names)
  return table.concat(names, " ")
end

describe("zuora for a newcomer", function()
  local s, env, acct, dir
  lazy_setup(function()
    s = simh.start()
    s:config{ today = "2024-01-15" }
    env = { ZUORA_BASE_URL = s.url, ZUORA_CLIENT_ID = s.client_id, ZUORA_CLIENT_SECRET = s.client_secret }
    -- a subscription, billed and posted: one invoice of 49.99
    acct = s:billed_account({ name = "Newcomer Co" }, "2024-01-01", "2024-01-31")
    dir = cli.tmpdir()
  end)
  lazy_teardown(function()
    if s then s:stop() end
    if dir then os.execute("rm -rf " .. cli.q(dir)) end
  end)

  describe("exports", function()
    it("export orders reads the Order object (ZOQL has no ORDER BY, so `Order` is a name there)", function()
      local r = cli.run({ "export", "orders", "--format", "jsonl" }, { env = env })
      assert.equals(0, r.code, r.stderr)
      assert.matches('^{"AccountId":"' .. acct.accountId .. '","Id":"%x+","OrderDate":"2024%-01%-01",'
        .. '"OrderNumber":"[%w%-]+","Status":"%a+"}\n$', r.stdout)
    end)

    it("--since must be a calendar date", function()
      for _, bad in ipairs({ "2024-13-45", "2023-02-29", "2024-1-5", "yesterday", "2024-01-15T00:00:00" }) do
        local r = cli.run({ "export", "invoices", "--since", bad }, { env = env })
        assert.equals(1, r.code, bad)
        assert.equals("zuora: export: --since expects a date, YYYY-MM-DD, got " .. bad .. "\n", r.stderr)
        assert.equals("", r.stdout)
      end
      local r = cli.run({ "export", "invoices", "--since", "2024-02-29", "--format", "jsonl" }, { env = env })
      assert.equals(0, r.code, r.stderr)
      assert.equals("", r.stdout) -- the one invoice is dated 2024-01-15
    end)

    it("the format follows the output file's extension unless --format says otherwise", function()
      local csv = dir .. "/inv.csv"
      local r = cli.run({ "export", "invoices", "-o", csv }, { env = env })
      assert.equals(0, r.code, r.stderr)
      assert.matches("^Id,InvoiceNumber,AccountId,InvoiceDate,DueDate,Status,Amount,Balance\r\n%x+,", cli.read(csv))
      local jsonl = dir .. "/acc.JSONL"
      r = cli.run({ "query", "select Name from Account", "-o", jsonl }, { env = env })
      assert.equals(0, r.code, r.stderr)
      assert.equals('{"Name":"Newcomer Co"}\n', cli.read(jsonl))
      r = cli.run({ "query", "select Name from Account", "-o", csv, "--format", "json" }, { env = env })
      assert.equals(0, r.code, r.stderr)
      assert.equals('[\n{"Name":"Newcomer Co"}\n]\n', cli.read(csv))
      local tsv = dir .. "/dq.tsv"
      r = cli.run({ "data-query", "SELECT name FROM account", "-o", tsv }, { env = env })
      assert.equals(0, r.code, r.stderr)
      assert.equals("name\nNewcomer Co\n", cli.read(tsv):gsub("\r\n", "\n"))
    end)

    it("an export writes the whole file or leaves the old one: same folder, renamed at the end, mode 0600",
      function()
        local sub = dir .. "/atomic"
        os.execute("mkdir -p " .. cli.q(sub))
        local path = sub .. "/accounts.json"
        cli.write(path, "the old export\n")
        os.execute("chmod 644 " .. cli.q(path))
        s:fault{ method = "POST", path = "/v1/action/query", status = 400, count = 2 }
        local r = cli.run({ "query", "select Id from Account", "-o", path }, { env = env })
        assert.equals(3, r.code) -- an API client error
        assert.matches("^zuora api error 400", r.stderr)
        assert.equals("the old export\n", cli.read(path))
        r = cli.run({ "export", "accounts", "--output", path }, { env = env })
        assert.equals(3, r.code)
        assert.equals("the old export\n", cli.read(path))
        assert.equals("accounts.json", ls(sub)) -- no temporary file left behind

        r = cli.run({ "export", "accounts", "--output", path, "--fields", "Name" }, { env = env })
        assert.equals(0, r.code, r.stderr)
        assert.equals('[\n{"Name":"Newcomer Co"}\n]\n', cli.read(path))
        assert.equals("600", mode(path))
        assert.equals("accounts.json", ls(sub))

        -- a folder that does not exist: refused before anything is sent
        s:clear_requests()
        r = cli.run({ "query", "select Id from Account", "-o", dir .. "/nowhere/x.json" }, { env = env })
        assert.equals(1, r.code)
        assert.matches("^zuora: cannot write " .. dir:gsub("%p", "%%%0") .. "/nowhere/x.json: cannot create a file in",
          r.stderr)
        assert.equals(0, #s:requests{ path = "/v1/action/query" })
        -- a directory as the target
        r = cli.run({ "query", "select Id from Account", "-o", sub }, { env = env })
        assert.equals(1, r.code)
        assert.matches("Is a directory", r.stderr)
      end)

    it("--trace shows the ZOQL with the values bound", function()
      local r = cli.run({ "--trace", "export", "invoices", "--account", acct.accountNumber, "--since", "2024-01-01",
        "-o", dir .. "/t.json" }, { env = env })
      assert.equals(0, r.code, r.stderr)
      assert.matches("\nzoql: select Id, InvoiceNumber, AccountId, InvoiceDate, DueDate, Status, Amount, Balance "
        .. "from Invoice where AccountId = '" .. acct.accountId .. "' and InvoiceDate >= '2024%-01%-01'\n", r.stderr)
      r = cli.run({ "--trace", "query", "select Id from Account where Name = ?", "O'Hara", "-o", dir .. "/t2.json" },
        { env = env })
      assert.equals(0, r.code, r.stderr)
      assert.matches("zoql: select Id from Account where Name = 'O\\'Hara'\n", r.stderr, 1, true)
    end)
  end)

  describe("a stdout that cannot be written (a full disk)", function()
    local function full(args)
      local d = cli.tmpdir()
      local cmd = cli.command(args, { env = env }) .. " >/dev/full 2>" .. cli.q(d .. "/err") .. "; echo $?"
      local p = io.popen(cmd)
      local code = tonumber(p:read("a"):match("(%d+)%s*$"))
      p:close()
      local err = cli.read(d .. "/err")
      os.execute("rm -rf " .. cli.q(d))
      return code, err
    end

    it("call, data-query, query and export say so and exit 1", function()
      local code, err = full({ "call", "accounts.retrieve", acct.accountNumber })
      assert.equals(1, code)
      assert.equals("zuora: cannot write the answer to stdout: No space left on device\n", err)
      code, err = full({ "data-query", "SELECT id FROM account" })
      assert.equals(1, code)
      assert.equals("zuora: cannot write the result to stdout: No space left on device\n", err)
      code, err = full({ "query", "select Id from Account" })
      assert.equals(1, code)
      assert.equals("zuora: write failed: No space left on device\n", err)
      code = full({ "export", "invoices" })
      assert.equals(1, code)
    end)
  end)

  describe("the invoice PDF", function()
    it("`zuora ops invoice pdf` names the two calls, and they download the PDF", function()
      local r = cli.run({ "ops", "invoice", "pdf" })
      assert.equals(0, r.code, r.stderr)
      assert.matches("zuora call invoices.list_files <invoiceKey>, then zuora call files.retrieve <file%-id> "
        .. "%-o doc.pdf", r.stderr)
      assert.matches("^invoices%.retrieve_pdf_status ", r.stdout) -- stdout: still one operation a line
      r = cli.run({ "ops", "credit", "memo", "pdf" })
      assert.matches("credit_memos.list_files", r.stderr, 1, true)
      -- following the recipe
      local q = cli.run({ "query", "select Id from Invoice", "--format", "jsonl" }, { env = env })
      local invoice = assert(q.stdout:match('"Id":"(%x+)"'), q.stdout .. q.stderr)
      r = cli.run({ "call", "invoices.list_files", invoice }, { env = env })
      assert.equals(0, r.code, r.stderr)
      local file_id = assert(r.stdout:match('"pdfFileUrl": "/v1/files/([^"]+)"'), r.stdout)
      local pdf = dir .. "/doc.pdf"
      r = cli.run({ "call", "files.retrieve", file_id, "-o", pdf }, { env = env })
      assert.equals(0, r.code, r.stderr)
      assert.matches("^%%PDF%-", cli.read(pdf))
    end)
  end)

  describe("configuration mistakes", function()
    it("a directory named config.lua is one line, not a traceback", function()
      local home = cli.tmpdir()
      os.execute("mkdir -p " .. cli.q(home .. "/zuora/config.lua"))
      local r = cli.run({ "call", "accounts.retrieve", "A1" }, { config_home = home })
      os.execute("rm -rf " .. cli.q(home))
      assert.equals(1, r.code)
      assert.equals("zuora: " .. home .. "/zuora/config.lua: cannot read the configuration file (Is a directory); "
        .. "it must be a Lua file\n", r.stderr)
    end)

    it("ZUORA_BASE_URL and ZUORA_ENVIRONMENT both set: refused, unless the command line chooses", function()
      local both = { ZUORA_BASE_URL = s.url, ZUORA_ENVIRONMENT = "us-cloud2-sandbox", ZUORA_CLIENT_ID = s.client_id,
        ZUORA_CLIENT_SECRET = s.client_secret }
      s:clear_requests()
      local r = cli.run({ "call", "accounts.retrieve", acct.accountNumber }, { env = both })
      assert.equals(1, r.code)
      assert.equals("zuora: ZUORA_BASE_URL and ZUORA_ENVIRONMENT are both set; unset one of them (or choose with "
        .. "--base-url or --env)\n", r.stderr)
      assert.equals(0, #s:requests{})
      r = cli.run({ "--base-url", s.url, "call", "accounts.retrieve", acct.accountNumber }, { env = both })
      assert.equals(0, r.code, r.stderr)
    end)
  end)

  describe("zuora-sim", function()
    it("starts for a user whose PATH lacks /usr/sbin", function()
      local d = cli.tmpdir()
      local out = d .. "/out"
      local cmd = ("env PATH=/usr/local/bin:/usr/bin:/bin %s --port 0 --exit-with %d >%s 2>&1 &"):format(
        cli.q(cli.ROOT .. "/bin/zuora-sim"), fs.my_pid(), cli.q(out))
      os.execute(cmd)
      local text
      for _ = 1, 400 do
        text = cli.read(out) or ""
        if text:find("\nready\n", 1, true) or text:find("zuora-sim:", 1, true) then break end
        cli.sleep(0.025)
      end
      local pid = tonumber(text:match("\npid (%d+)\n"))
      if pid then os.execute("kill " .. pid) end
      os.execute("rm -rf " .. cli.q(d))
      assert.matches("^http://127%.0%.0%.1:%d+\n", text)
      assert.truthy(pid, text)
    end)

    it("--port on a taken port fails at once with one line", function()
      local port = s.url:match(":(%d+)$")
      local d = cli.tmpdir()
      local t0 = os.time()
      local ok = os.execute(("%s --port %s >%s 2>%s"):format(cli.q(cli.ROOT .. "/bin/zuora-sim"), port,
        cli.q(d .. "/out"), cli.q(d .. "/err")))
      local took = os.time() - t0
      local err = cli.read(d .. "/err")
      os.execute("rm -rf " .. cli.q(d))
      assert.is_not_true(ok)
      assert.equals("zuora-sim: port " .. port .. " on 127.0.0.1 is already in use (choose another, or --port 0 "
        .. "for a free one)\n", err)
      assert.is_true(took <= 2, "took " .. took .. " s")
    end)
  end)
end)
