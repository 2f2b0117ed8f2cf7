-- Files and async work against zuora-sim: invoice PDFs streamed to disk byte for byte, usage CSV
-- uploads streamed from disk and received intact, waiting for async jobs inside and outside tasks.
local zuora = require "zuora"
local simh = require "spec.support.sim"
local fs = require "spec.support.fs"

local read, write = fs.read, fs.write

-- The data of the file part of a logged multipart/form-data body.
local function file_part(entry)
  local boundary = entry.headers["content-type"]:match("boundary=([^;]+)")
  local body = entry.body
  local head_end = assert(body:find("\r\n\r\n", 1, true))
  assert(body:sub(1, head_end):find('filename="', 1, true), "first part is not the file")
  local stop = assert(body:find("\r\n--" .. boundary, head_end, true))
  return body:sub(head_end + 4, stop - 1)
end

describe("files and async jobs #luajit", function()
  local s, c, dir

  lazy_setup(function()
    s = simh.start()
    dir = fs.tmpdir("files-spec")
  end)
  lazy_teardown(function()
    if s then s:stop() end
    os.execute("rm -rf " .. dir)
  end)
  before_each(function()
    s:reset()
    s:config{ today = "2024-01-15", job_polls = 2 }
    c = zuora.new{ base_url = s.url, client_id = s.client_id, client_secret = s.client_secret,
      zuora_version = "2025-08-12", retry_base = 0.01, retry_cap = 0.02 }
  end)
  after_each(function() c:close() end)

  local function order_body(account_number)
    return {
      orderDate = "2024-01-01", existingAccountNumber = account_number,
      subscriptions = { { orderActions = { { type = "CreateSubscription",
        triggerDates = { { name = "ContractEffective", triggerDate = "2024-01-01" },
          { name = "ServiceActivation", triggerDate = "2024-01-01" },
          { name = "CustomerAcceptance", triggerDate = "2024-01-01" } },
        createSubscription = {
          terms = { initialTerm = { termType = "TERMED", period = 12, periodType = "Month", startDate = "2024-01-01" },
            renewalSetting = "RENEW_WITH_SPECIFIC_TERM", autoRenew = true,
            renewalTerms = { { period = 12, periodType = "Month" } } },
          subscribeToRatePlans = { { productRatePlanId = "8ad00000000000000000000000000201" } } } } } } },
    }
  end

  describe("invoice PDFs", function()
    local function invoice_file()
      local acct = s:account()
      assert(c.orders.create(order_body(acct.accountNumber)))
      local collected = assert(c:request("POST", "/v1/operations/invoice-collect",
        { body = { accountKey = acct.accountNumber, targetDate = "2024-03-31" } }))
      local inv = collected.invoices[1]
      local files = assert(c.invoices.list_files(inv.invoiceId))
      return files.invoiceFiles[1].pdfFileUrl:match("([^/]+)$")
    end

    it("streams a PDF to disk with output = path, byte for byte what the simulator serves", function()
      local id = invoice_file()
      local path = dir .. "/invoice.pdf"
      local events = {}
      local res, err, meta = c.files.retrieve(id, nil, { output = path,
        on_progress = function(e) events[#events + 1] = e end })
      assert.is_nil(err)
      assert.equals(path, res)
      assert.equals("application/pdf", meta.headers["content-type"])
      local served = s:get("/v1/files/" .. id).body
      local saved = read(path)
      assert.equals("%PDF-", saved:sub(1, 5))
      assert.equals(#served, #saved)
      assert.equals(served, saved)
      -- in memory the same bytes come back as a string
      assert.equals(served, (c.files.retrieve(id)))
      local last = events[#events]
      assert.same({ "transfer", "download", true, #saved, #saved }, { last.kind, last.direction, last.done,
        last.current, last.total })
    end)

    it("creates no file when the download fails", function()
      local path = dir .. "/missing.pdf"
      local res, err = c.files.retrieve("nope", nil, { output = path })
      assert.is_nil(res)
      assert.equals(404, err.status)
      assert.is_nil(read(path))
    end)
  end)

  describe("usage upload", function()
    local function usage_csv(account_number, rows)
      local lines = { "ACCOUNT_ID,UOM,QTY,STARTDATE,ENDDATE,DESCRIPTION" }
      for i = 1, rows do
        lines[#lines + 1] = ('%s,Call,%d.25,01/%02d/2024,01/%02d/2024,"call %d, ünïcödé ""quoted"""'):format(
          account_number, i, 1 + i % 28, 1 + i % 28, i)
      end
      return table.concat(lines, "\r\n") .. "\r\n"
    end

    it("sends the CSV streamed from disk, received intact, and waits for the import", function()
      local acct = s:account()
      local csv = usage_csv(acct.accountNumber, 3000)
      local path = dir .. "/usage.csv"
      write(path, csv)
      local events = {}
      local st, err = c:upload_usage(path, { wait = true, interval = 0.01,
        on_progress = function(e) events[#events + 1] = e end })
      assert.is_nil(err)
      assert.equals("Completed", st.importStatus)
      local sent = s:requests{ method = "POST", path = "/v1/usage" }
      assert.equals(1, #sent)
      assert.matches("^multipart/form%-data", sent[1].headers["content-type"])
      assert.equals(csv, file_part(sent[1]))
      assert.equals(3000, st.totalCount)
      local up
      for _, e in ipairs(events) do if e.kind == "transfer" and e.done then up = e end end
      assert.equals("upload", up.direction)
      assert.is_true(up.total >= #csv)
      assert.equals(up.total, up.current)
      assert.equals("job", events[#events].kind)
    end)

    it("reports a failed import with Zuora's message", function()
      local acct = s:account()
      local path = dir .. "/bad.csv"
      write(path, "ACCOUNT_ID,UOM,QTY,STARTDATE\n" .. acct.accountNumber .. ",Call,lots,01/01/2024\n")
      local st, err = c:upload_usage(path, { wait = true, interval = 0.01 })
      assert.is_nil(st)
      assert.equals("api", err.kind)
      assert.matches("Failed: row 1: QTY must be a number", err.message)
    end)

    it("works through the catalogue operation with a multipart option", function()
      local acct = s:account()
      local csv = usage_csv(acct.accountNumber, 2)
      local path = dir .. "/op.csv"
      write(path, csv)
      local reply = assert(c.usage.upload_file(nil, { multipart = { { name = "file", path = path,
        filename = "op.csv", content_type = "text/csv" } } }))
      assert.matches("^/v1/usage/.+/status$", reply.checkImportStatus)
      assert.equals(csv, file_part(s:requests{ method = "POST", path = "/v1/usage" }[1]))
      local st = assert(c:wait_job(reply.checkImportStatus, { interval = 0.01 }))
      assert.equals("Completed", st.importStatus)
    end)

    it("checks its arguments", function()
      assert.has_error(function() c:upload_usage(nil) end, "upload_usage: expected the path of a CSV file")
      assert.has_error(function() c:upload_usage("x.csv", { wiat = true }) end, "upload_usage: unknown option wiat")
      local res, err = c:upload_usage(dir .. "/does-not-exist.csv")
      assert.is_nil(res)
      assert.equals("file", err.kind) -- a local failure, not the network's
      assert.equals("file", err.reason)
    end)
  end)

  describe("wait_job", function()
    it("waits for an async order job and returns its result", function()
      local acct = s:account()
      local started = assert(c.orders.create_async(order_body(acct.accountNumber)))
      local events = {}
      local job, err = c:wait_job(started.jobId, { interval = 0.01,
        on_progress = function(e) events[#events + 1] = e end })
      assert.is_nil(err)
      assert.equals("Completed", job.status)
      assert.equals(acct.accountNumber, job.result.accountNumber)
      assert.equals(2, #s:requests{ method = "GET", path = "/v1/async-jobs/*" })
      assert.same({ "job", "Processing", 1, false },
        { events[1].kind, events[1].status, events[1].polls, events[1].done })
      assert.same({ "Completed", 2, true }, { events[2].status, events[2].polls, events[2].done })
    end)

    it("returns the job's errors when it fails", function()
      local started = assert(c.orders.create_async(order_body("A99999999")))
      local job, err = c:wait_job(started.jobId, { interval = 0.01 })
      assert.is_nil(job)
      assert.equals("api", err.kind)
      assert.matches("Failed", err.message)
      assert.equals("Failed", err.job.status)
    end)

    it("gives up at its timeout", function()
      s:config{ job_polls = 100000 }
      local acct = s:account()
      local started = assert(c.orders.create_async(order_body(acct.accountNumber)))
      local job, err = c:wait_job(started.jobId, { timeout = 0.3, interval = 0.05 })
      assert.is_nil(job)
      assert.equals("timeout", err.kind)
      assert.matches("still Processing after", err.message)
    end)

    it("sleeps without blocking other tasks", function()
      s:config{ job_polls = 4 }
      local acct = s:account()
      local a = assert(c.orders.create_async(order_body(acct.accountNumber))).jobId
      local b = assert(c.orders.create_async(order_body(acct.accountNumber))).jobId
      local r = c:gather{
        function() return c:wait_job(a, { interval = 0.1, factor = 1 }) end,
        function() return c:wait_job(b, { interval = 0.1, factor = 1 }) end,
      }
      assert.equals("Completed", r[1][1].status)
      assert.equals("Completed", r[2][1].status)
      -- the polls interleave: b was polled before a's last poll
      local order = {}
      for _, e in ipairs(s:requests{ method = "GET", path = "/v1/async-jobs/*" }) do
        order[#order + 1] = e.path:match("([^/]+)$")
      end
      assert.equals(8, #order)
      local first_b, last_a
      for i, id in ipairs(order) do
        if id == b and not first_b then first_b = i end
        if id == a then last_a = i end
      end
      assert.is_true(first_b < last_a)
    end)

    it("checks its arguments", function()
      assert.has_error(function() c:wait_job(nil) end, "wait_job: expected a job id or a status path")
      assert.has_error(function() c:wait_job("x", { timout = 3 }) end, "wait_job: unknown option timout")
      assert.has_error(function() c:wait_job("x", { interval = -1 }) end)
    end)
  end)
end)
