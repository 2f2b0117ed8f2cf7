-- Revenue outbound against zuora-sim: a GL transfer batch as one row iterator over its pages, its
-- CSV through a signed URL fetched without credentials, the accounting transfer program.
local zuora = require "zuora"
local simh = require "spec.support.sim"
local sj = require("spec.support.sim").json

describe("zuora.revenue GL batches", function()
  local s, rev

  lazy_setup(function() s = simh.start() end)
  lazy_teardown(function() if s then s:stop() end end)
  before_each(function()
    s:reset()
    rev = zuora.revenue.new{ base_url = s.url, username = s.username, password = s.password, retry_base = 0.01,
      retry_cap = 0.05 }
  end)
  after_each(function() rev:close() end)

  local function seed(lines)
    local b = s:control("POST", "revenue/batches", { lines = lines })
    return sj.tonumber(b.id), sj.tonumber(b.report_id)
  end
  local function pages_requested(id)
    return s:requests{ method = "GET", path = "/api/integration/v1/journal/batch/" .. id .. "/*" }
  end

  it("walks every line of a batch in order, page after page of up to 10,000", function()
    local id = seed(25001)
    local n, pages, dr = 0, {}, 0
    for row, page in rev:gl_rows(id) do
      n = n + 1
      assert.equals(n, row.line_num)
      pages[page] = (pages[page] or 0) + 1
      if row.dr_amount ~= zuora.json.null then dr = dr + math.floor(row.dr_amount * 100 + 0.5) end
    end
    assert.equals(25001, n)
    assert.same({ 10000, 10000, 5001 }, pages)
    -- amounts come as the simulator wrote them: pair k is (1 + k // 100) + (k % 100) / 100
    local want = 0
    for k = 1, 12501 do want = want + (1 + math.floor(k / 100)) * 100 + k % 100 end
    assert.equals(want, dr)
    local log = pages_requested(id)
    assert.equals(3, #log) -- the short third page ends the walk
    for i, r in ipairs(log) do
      assert.equals("/api/integration/v1/journal/batch/" .. id .. "/" .. i, r.path)
      assert.equals("10000", r.args.pagesize)
    end
  end)

  it("stops at the last page it is told of, and at a 204", function()
    local id = seed(3000)
    local n = 0
    local seen = {}
    local function on_page(p, rows) seen[#seen + 1] = p .. ":" .. #rows end
    for _ in rev:gl_rows(id, { pagesize = 1000, on_page = on_page }) do
      n = n + 1
    end
    assert.equals(3000, n)
    assert.same({ "1:1000", "2:1000", "3:1000" }, seen)
    assert.equals(3, #pages_requested(id)) -- total_pages said 3: no fourth request
    local empty = seed(0)
    for _ in rev:gl_rows(empty) do error("an empty batch has no rows") end
    assert.equals(204, sj.tonumber(pages_requested(empty)[1].status))
    assert.has_error(function() rev:gl_rows(id, { pagesize = 10001 }) end)
  end)

  it("retries a page after a 503 and raises the zuora.Error of a page that fails", function()
    local id = seed(2500)
    s:fault{ method = "GET", path = "/api/integration/v1/journal/batch/" .. id .. "/2", status = 503, count = 1 }
    local n = 0
    for _ in rev:gl_rows(id, { pagesize = 1000 }) do n = n + 1 end
    assert.equals(2500, n)
    s:fault{ method = "GET", path = "/api/integration/v1/journal/batch/" .. id .. "/3", status = 400,
      body = '{"status":"Failure","message":"Batch is being regenerated"}' }
    n = 0
    local ok, err = pcall(function() for _ in rev:gl_rows(id, { pagesize = 1000 }) do n = n + 1 end end)
    assert.is_false(ok)
    assert.is_true(zuora.errors.is(err))
    assert.equals(400, err.status)
    assert.equals("Batch is being regenerated", err.message)
    assert.equals(2000, n)
    local _, missing = pcall(function() for _ in rev:gl_rows(999999) do end end)
    assert.matches("GL transfer batch 999999 does not exist", missing.message)
  end)

  it("downloads the batch's CSV from its signed URL with no Zuora credentials", function()
    local id, report_id = seed(1200)
    local text = assert(rev:gl_csv(id))
    local lines = 0
    for _ in text:gmatch("\n") do lines = lines + 1 end
    assert.equals(1201, lines)
    assert.matches("^line_num,batch_id,so_num", text)
    assert.equals(1, #s:requests{ method = "GET", path = "/api/integration/v2/reports/signedurl/" .. report_id })
    local files = s:requests{ origin = "files" }
    assert.equals(1, #files)
    assert.equals(200, sj.tonumber(files[1].status))
    assert.is_nil(files[1].headers.authorization)
    assert.is_nil(files[1].headers.token)
    -- the same through a batch record, to a file
    local batch = assert(rev:batches())[1]
    local path = os.tmpname()
    assert.equals(path, assert(rev:gl_csv(batch, { output = path })))
    local f = assert(io.open(path, "rb"))
    assert.equals(text, f:read("a"))
    f:close()
    os.remove(path)
  end)

  it("reports an expired or unknown signed URL clearly, and refuses plain http off loopback", function()
    local _, report_id = seed(10)
    s:config{ file_url_ttl = 0 }
    local signed = assert(rev.reports.retrieve_signed_url(report_id)).signed_url
    rev:sleep(0.05) -- past its (zero) lifetime
    local res, err = rev:download(signed)
    assert.is_nil(res)
    assert.equals(1, err.attempts)
    assert.equals(403, err.status)
    assert.equals("AccessDenied", err.code)
    assert.matches("expired", err.message)
    assert.is_false(err.retryable)
    assert.is_nil(err.url:find("X-Amz-Signature=%x"))
    res, err = rev:gl_csv(424242)
    assert.is_nil(res)
    assert.matches("not in the batch list", err.message)
    local remote = zuora.revenue.new{ base_url = "https://rev.example.com", username = "u", password = "p" }
    res, err = remote:download("http://storage.example.com/file.csv?X-Amz-Signature=abc")
    assert.is_nil(res)
    assert.matches("plain http", err.message)
    assert.is_nil(tostring(err):find("abc", 1, true))
    remote:close()
  end)

  it("runs the accounting transfer on staged transactions, with exact amounts, then marks the batch", function()
    local csv = "SO_NUM,SO_LINE_NUM,SO_BOOK_DATE,ITEM_NUM,CUSTOMER_NUM,QUANTITY,UNIT_SELL_PRICE,EXT_SELL_PRICE,"
      .. "CURRENCY,REV_START_DATE,REV_END_DATE,DESCRIPTION\n"
      .. "SO-1,1,2024-01-31,SKU,C-1,3,0.10,0.30,USD,,,three dimes\n"
      .. "SO-2,1,31-JAN-2024,SKU,C-1,1,1999.99,1999.99,EUR,,,\n"
    assert(rev:upload_csv{ template = "SIM Transactions", filename = "close.csv", data = csv, poll_interval = 0.01 })
    local job = assert(rev:run_program(1, 149, { { parameter_id = 230, sequence = 3, parameter_value = "N" } },
      { poll_interval = 0.01 }))
    assert.equals("Completed", job.status)
    local batches = assert(rev:batches())
    assert.equals(1, #batches)
    assert.equals(job.batch_id, batches[1].id)
    local rows = {}
    for row in rev:gl_rows(job.batch_id) do rows[#rows + 1] = row end
    assert.equals(4, #rows)
    assert.equals("1200", rows[1].gl_account)
    assert.equals(0.3, rows[1].dr_amount)
    assert.equals(zuora.json.null, rows[1].cr_amount)
    assert.equals("EUR", rows[4].currency)
    local text = assert(rev:gl_csv(batches[1]))
    assert.truthy(text:find(",0.30,,USD,", 1, true)) -- the amount's text as uploaded
    assert.truthy(text:find(",,1999.99,EUR,", 1, true))
    assert(rev.transfer_accounting.update_batch_status(job.batch_id))
    assert.same({}, assert(rev:batches()))
    local _, err = rev.transfer_accounting.update_batch_status(job.batch_id)
    assert.matches("Only batches in Ready To Transfer status", err.message)
    local none, jerr = rev:run_program(1, 9999, {})
    assert.is_nil(none)
    assert.equals("This Program is not supported at the moment", jerr.message)
  end)
end)
