-- zuora-sim's three pagination styles, ZOQL query/queryMore and Data Query jobs with their
-- result files on the second origin.
local simh = require "spec.support.sim"
local json = simh.json

local function n(v) return json.number_text(v) end

describe("zuora-sim queries", function()
  local s
  lazy_setup(function()
    s = simh.start()
    s:control("POST", "seed", { accounts = 2005 })
    s:post("/v1/accounts", { name = [[O'Brien \ Sons]], currency = "EUR" })
  end)
  lazy_teardown(function() if s then s:stop() end end)

  describe("v1 page/pageSize", function()
    it("pages with nextPage URLs and caps pageSize at 40", function()
      local acct = s:post("/v1/accounts", { name = "Paged", currency = "USD" }).json
      for i = 1, 5 do
        s:post("/v1/contacts", { accountId = acct.accountId, firstName = "C" .. i, lastName = "L" })
      end
      for _ = 1, 3 do
        s:post("/v1/payments", { accountId = acct.accountId, amount = 1, type = "External" })
      end
      local p1 = s:get("/v1/payments?accountId=" .. acct.accountId .. "&pageSize=2").json
      assert.equals(2, #p1.payments)
      assert.matches("^" .. s.url:gsub("%p", "%%%0") .. "/v1/payments%?.*page=2", p1.nextPage)
      local p2 = s:request{ url = p1.nextPage }.json
      assert.equals(1, #p2.payments)
      assert.is_nil(p2.nextPage)
      assert.are_not.equal(p1.payments[1].id, p2.payments[1].id)
      local too_big = s:get("/v1/payments?pageSize=41")
      assert.equals(400, too_big.status)
      assert.matches("20$", n(too_big.json.reasons[1].code))
    end)
  end)

  describe("Actions query", function()
    it("returns 2000 records a batch with a queryLocator, then the rest through queryMore", function()
      local first = s:post("/v1/action/query",
        { queryString = "select Id, Name, AccountNumber from Account where Name like 'Seed Account%'" }).json
      assert.equals(2000, #first.records)
      assert.equals(2005, json.tonumber(first.size))
      assert.is_false(first.done)
      assert.is_string(first.queryLocator)
      assert.equals("Seed Account 000001", first.records[1].Name)
      local more = s:post("/v1/action/queryMore", { queryLocator = first.queryLocator }).json
      assert.equals(5, #more.records)
      assert.is_true(more.done)
      assert.is_nil(more.queryLocator)
      assert.equals("Seed Account 002005", more.records[5].Name)
      local gone = s:post("/v1/action/queryMore", { queryLocator = first.queryLocator })
      assert.is_false(gone.json.Success)
      assert.equals("INVALID_QUERY_LOCATOR", gone.json.Errors[1].Code)
    end)

    it("honours batchSize and lets locators expire", function()
      s:config{ locator_ttl = 0 }
      local first = s:post("/v1/action/query", { queryString = "select Id from Account",
        conf = { batchSize = 10 } }).json
      assert.equals(10, #first.records)
      os.execute("sleep 0.05")
      local expired = s:post("/v1/action/queryMore", { queryLocator = first.queryLocator })
      assert.equals("INVALID_QUERY_LOCATOR", expired.json.Errors[1].Code)
      s:config{ locator_ttl = 900 }
    end)

    it("matches backslash-escaped string literals and compares numbers", function()
      local res = s:post("/v1/action/query",
        { queryString = [[select Id, Name, Currency from Account where Name = 'O\'Brien \\ Sons']] }).json
      assert.equals(1, #res.records)
      assert.equals([[O'Brien \ Sons]], res.records[1].Name)
      local zero = s:post("/v1/action/query",
        { queryString = "select Id from Account where Balance > 0 or Currency = 'GBP'" }).json
      assert.equals(0, #zero.records)
      assert.is_true(zero.done)
    end)

    it("answers malformed queries and unknown fields with Errors[]", function()
      local bad = s:post("/v1/action/query", { queryString = "select Id Account" })
      assert.is_false(bad.json.Success)
      assert.equals("MALFORMED_QUERY", bad.json.Errors[1].Code)
      local field = s:post("/v1/action/query", { queryString = "select Bogus from Account" })
      assert.equals("INVALID_FIELD", field.json.Errors[1].Code)
    end)
  end)

  describe("object queries", function()
    it("pages with cursor tokens and applies filter[], fields[], sort[] and expand[]", function()
      local q = "/object-query/accounts?pageSize=3&filter[]=name.SW:Seed%20Account%2000000"
        .. "&sort[]=accountNumber.DESC&fields[]=id,name,accountNumber&expand[]=billTo"
      local p1 = s:get(q).json
      assert.equals(3, #p1.data)
      assert.equals("Seed Account 000009", p1.data[1].name)
      assert.is_nil(p1.data[1].currency)
      assert.equals("Billing", p1.data[1].billTo.firstName)
      assert.is_string(p1.nextPage)
      local seen, cursor, pages = #p1.data, p1.nextPage, 1
      while cursor do
        local p = s:get(q .. "&cursor=" .. cursor).json
        seen, cursor, pages = seen + #p.data, p.nextPage, pages + 1
      end
      assert.equals(9, seen)
      assert.equals(3, pages)
      assert.equals(400, s:get("/object-query/accounts?pageSize=100").status)
      local one = s:get("/object-query/accounts/A00000002").json
      assert.equals("Seed Account 000002", one.name)
    end)
  end)

  describe("legacy objects", function()
    it("answers Actions with one CRUD result per object", function()
      local res = s:post("/v1/action/create", { type = "Widget", objects = {
        { Name = "W1", Size = json.number("1.50") }, 7, { Name = "W2" } } })
      assert.equals(200, res.status)
      assert.equals(3, #res.json)
      assert.is_true(res.json[1].Success)
      assert.is_string(res.json[1].Id)
      assert.is_false(res.json[2].Success)
      assert.equals("INVALID_VALUE", res.json[2].Errors[1].Code)
      local q = s:post("/v1/action/query", { queryString = "select Id, Name, Size from Widget where Size > 1" }).json
      assert.equals(1, #q.records)
      assert.equals("1.50", n(q.records[1].Size))
      local upd = s:post("/v1/action/update", { type = "Widget", objects = { { Id = res.json[3].Id, Size = 3 } } })
      assert.is_true(upd.json[1].Success)
      local del = s:post("/v1/action/delete", { type = "Widget", ids = { res.json[1].Id, "missing" } })
      assert.is_true(del.json[1].success)
      assert.is_false(del.json[2].success)
    end)

    it("serves /v1/object/{type} CRUD, with accounts from the billing core", function()
      local created = s:post("/v1/object/account", { Name = "Crud Co", Currency = "USD", BillCycleDay = 1 }).json
      assert.is_true(created.Success)
      local got = s:get("/v1/object/account/" .. created.Id).json
      assert.equals("Crud Co", got.Name)
      assert.matches("^A%d+$", got.AccountNumber)
      assert.equals(404, s:get("/v1/object/account/nope").status)
      assert.is_false(s:get("/v1/object/account/nope").json.Success)
    end)
  end)

  describe("Data Query", function()
    local function run_job(body)
      local job = s:post("/query/jobs", body)
      assert.equals(200, job.status, job.body)
      assert.equals("accepted", job.json.data.queryStatus)
      local d
      for _ = 1, 5 do
        d = s:get("/query/jobs/" .. job.json.data.id).json.data
        if d.queryStatus ~= "accepted" and d.queryStatus ~= "in_progress" then break end
      end
      return d
    end

    it("moves a job to completed and serves the result without credentials on another origin", function()
      local d = run_job{ query = "SELECT accountnumber, name FROM account WHERE name LIKE 'Seed Account 00000%' "
        .. "ORDER BY accountnumber DESC LIMIT 3", outputFormat = "CSV", compression = "NONE" }
      assert.equals("completed", d.queryStatus)
      assert.equals(3, json.tonumber(d.outputRows))
      assert.equals(1, d.dataFile:find(s.files_url, 1, true))
      local file = s:request{ url = d.dataFile, auth = "none" }
      assert.equals(200, file.status)
      assert.equals("accountnumber,name\nA00000009,Seed Account 000009\nA00000008,Seed Account 000008\n"
        .. "A00000007,Seed Account 000007\n", file.body)
      local with_auth = s:request{ url = d.dataFile, auth = "basic" }
      assert.equals(400, with_auth.status)
      assert.matches("<Code>InvalidArgument</Code>", with_auth.body)
      local log = s:requests{ origin = "files", limit = 2 }
      assert.is_nil(log[1].headers.authorization)
      assert.is_string(log[2].headers.authorization)
      local forged = s:request{ url = d.dataFile:gsub("Signature=%x+", "Signature=00"), auth = "none" }
      assert.equals(403, forged.status)
    end)

    it("writes JSON lines, gzip-compressed when asked", function()
      local d = run_job{ query = "select id, name, currency from account where currency = 'EUR'",
        outputFormat = "JSON", compression = "GZIP" }
      local path = s.dir .. "/result.json.gz"
      os.execute(("curl -s -o %s '%s'"):format(path, d.dataFile))
      local p = io.popen("gunzip -c " .. path)
      local text = p:read("a")
      p:close()
      local lines = {}
      for line in text:gmatch("[^\n]+") do lines[#lines + 1] = assert(json.decode(line)) end
      assert.equals(1, #lines)
      assert.equals([[O'Brien \ Sons]], lines[1].name)
      assert.equals("EUR", lines[1].currency)
    end)

    it("fails bad SQL at completion, validates the request and cancels jobs", function()
      local d = run_job{ query = "SELEKT nothing", outputFormat = "JSON", compression = "NONE" }
      assert.equals("failed", d.queryStatus)
      assert.is_string(d.errorMessage)
      assert.equals(400, s:post("/query/jobs", { query = "select id from account", outputFormat = "JSON" }).status)
      local job = s:post("/query/jobs", { query = "select id from account", outputFormat = "JSON",
        compression = "NONE" })
      local cancelled = s:delete("/query/jobs/" .. job.json.data.id).json.data
      assert.equals("cancelled", cancelled.queryStatus)
      assert.equals(404, s:get("/query/jobs/nope").status)
    end)

    it("lets result URLs expire", function()
      s:config{ file_url_ttl = 0 }
      local d = run_job{ query = "select id from account limit 1", outputFormat = "CSV", compression = "NONE" }
      os.execute("sleep 0.05")
      local res = s:request{ url = d.dataFile, auth = "none" }
      assert.equals(403, res.status)
      assert.matches("expired", res.body)
      s:config{ file_url_ttl = 600 }
    end)
  end)
end)
