-- Revenue uploads against zuora-sim: CSV split into parts under the line limit (never inside a
-- quoted field), at most two uploads in flight (measured in the simulator's request log), each
-- part's status, staging and stage errors.
local zuora = require "zuora"
local simh = require "spec.support.sim"
local sj = require("spec.support.sim").json

local HEADER = "SO_NUM,SO_LINE_NUM,SO_BOOK_DATE,ITEM_NUM,CUSTOMER_NUM,QUANTITY,UNIT_SELL_PRICE,EXT_SELL_PRICE,"
  .. "CURRENCY,REV_START_DATE,REV_END_DATE,DESCRIPTION\n"

-- n transactions; every `every`-th has a description spanning `span` lines (with a comma and
-- doubled quotes inside). `bad` lists record numbers given an amount that is not a number.
local function transactions(n, opts)
  opts = opts or {}
  local out = { HEADER }
  for i = 1, n do
    local desc = "plain"
    if opts.every and i % opts.every == 0 then
      local lines = {}
      for k = 1, opts.span or 2 do lines[k] = ("line %d of %d, \"\"q\"\""):format(k, opts.span or 2) end
      desc = '"' .. table.concat(lines, "\n") .. '"'
    end
    local amount = (opts.bad and opts.bad[i]) and "n/a" or ("%d.%02d"):format(i, i % 100)
    out[#out + 1] = ("SO-%05d,1,2024-01-31,SKU,C-1,1,%s,%s,USD,2024-01-01,2024-12-31,%s\n")
      :format(i, amount, amount, desc)
  end
  return table.concat(out)
end

local function physical_lines(s)
  local _, n = s:gsub("\n", "")
  if #s > 0 and s:sub(-1) ~= "\n" then n = n + 1 end
  return n
end

describe("zuora.revenue uploads", function()
  local s, rev

  lazy_setup(function() s = simh.start() end)
  lazy_teardown(function() if s then s:stop() end end)
  before_each(function()
    s:reset()
    rev = zuora.revenue.new{ base_url = s.url, username = s.username, password = s.password, retry_base = 0.01,
      retry_cap = 0.05 }
  end)
  after_each(function() rev:close() end)

  local function uploads() return s:requests{ method = "POST", path = "/api/integration/v1/csv/upload" } end
  local function sim_revenue() return s:control("GET", "revenue") end

  it("splits data over the line limit into parts that reassemble into the input, byte for byte", function()
    local data = transactions(1000, { every = 7, span = 3 })
    local report = assert(rev:upload_csv{ template = "SIM Transactions", filename = "jan.csv", data = data,
      max_lines = 150, poll_interval = 0.01 })
    assert.is_true(report.ok)
    assert.equals(1000, report.records)
    local posts = uploads()
    assert.equals(#report.parts, #posts)
    assert.is_true(#posts >= 8)
    local bodies, names = {}, {}
    for _, p in ipairs(posts) do
      local body = p.body
      assert.is_true(physical_lines(body) <= 150, "a part has " .. physical_lines(body) .. " lines")
      assert.equals(HEADER, body:sub(1, #HEADER))
      assert.equals("text/plain", p.headers["content-type"])
      assert.equals("SIM Transactions", p.headers.templatename)
      names[#names + 1] = p.headers.filename
      bodies[tostring(p.headers.filename)] = body:sub(#HEADER + 1)
    end
    table.sort(names)
    local joined = {}
    for i, name in ipairs(names) do
      assert.equals(("jan-%03d.csv"):format(i), name)
      joined[i] = bodies[name]
    end
    assert.equals(data:sub(#HEADER + 1), table.concat(joined))
    local r = sim_revenue()
    assert.equals(1000, sj.tonumber(r.staged.transaction))
    assert.equals(0, sj.tonumber(r.stage_errors.transaction))
  end)

  it("never cuts a quoted field: a multi-line record moves whole into the next part", function()
    local data = HEADER
      .. "SO-1,1,2024-01-31,SKU,C-1,1,1.00,1.00,USD,,,one\n"
      .. 'SO-2,1,2024-01-31,SKU,C-1,1,2.00,2.00,USD,,,"first\nsecond, with ""quotes""\nthird"\n'
      .. "SO-3,1,2024-01-31,SKU,C-1,1,3.00,3.00,USD,,,three\n"
    local report = assert(rev:upload_csv{ template = "SIM Transactions", filename = "q.csv", data = data,
      max_lines = 4, poll_interval = 0.01, concurrency = 1 })
    local parts = {}
    for i, p in ipairs(report.parts) do parts[i] = { p.first, p.last, p.lines } end
    assert.same({ { 1, 1, 2 }, { 2, 2, 4 }, { 3, 3, 2 } }, parts)
    local posts = uploads()
    assert.equals(3, #posts)
    assert.equals(HEADER .. 'SO-2,1,2024-01-31,SKU,C-1,1,2.00,2.00,USD,,,"first\nsecond, with ""quotes""\nthird"\n',
      posts[2].body)
    assert.equals(3, sj.tonumber(sim_revenue().staged.transaction)) -- the simulator parsed every part
    -- a record that cannot fit with the header is refused before anything is sent
    s:clear_requests()
    local res, err = rev:upload_csv{ template = "SIM Transactions", filename = "q2.csv", data = data, max_lines = 3 }
    assert.is_nil(res)
    assert.matches("record on line 3 spans 3 lines", err.message)
    assert.equals(0, #uploads())
  end)

  it("keeps at most two uploads in flight, and does run two at once", function()
    s:fault{ method = "POST", path = "/api/integration/v1/csv/upload", latency = 0.25 }
    local report = assert(rev:upload_csv{ template = "SIM Transactions", filename = "par.csv",
      data = transactions(600), max_lines = 101, poll_interval = 0.01 })
    assert.equals(6, #report.parts)
    local seen, max = {}, 0
    for _, p in ipairs(uploads()) do
      assert.equals(200, sj.tonumber(p.status)) -- never refused with 429
      local n = sj.tonumber(p.extra.uploads_in_flight)
      seen[n] = (seen[n] or 0) + 1
      max = math.max(max, n)
    end
    assert.equals(2, max)
    assert.is_true((seen[2] or 0) >= 2)
    assert.equals(2, sj.tonumber(sim_revenue().uploads_in_flight_max))
    -- the tenant's limit is real: a third concurrent upload is refused
    s:config{ revenue_max_uploads = 1 }
    s:clear_requests()
    local one = assert(rev:upload_csv{ template = "SIM Transactions", filename = "seq.csv", data = transactions(300),
      max_lines = 101, poll_interval = 0.01, concurrency = 1 })
    assert.equals(3, #one.parts)
    for _, p in ipairs(uploads()) do assert.equals(1, sj.tonumber(p.extra.uploads_in_flight)) end
  end)

  it("reports each part when it is uploaded and when it is staged", function()
    local events = {}
    local report = assert(rev:upload_csv{ template = "SIM Transactions", filename = "ev.csv", data = transactions(250),
      max_lines = 101, poll_interval = 0.01, on_part = function(p) events[#events + 1] = p end })
    assert.equals(3, #report.parts)
    local by_part = {}
    for _, e in ipairs(events) do
      by_part[e.index] = by_part[e.index] or {}
      table.insert(by_part[e.index], e.status)
    end
    for i = 1, 3 do assert.same({ "uploaded", "staged" }, by_part[i]) end
    for _, p in ipairs(report.parts) do
      assert.equals("staged", p.status)
      assert.equals("Completed", p.server_status)
      assert.matches("^%d+ rows staged, 0 rows in error$", p.message)
      assert.is_string(p.id)
    end
    local polls = s:requests{ method = "GET", path = "/api/integration/v1/csv/upload/status" }
    assert.equals(6, #polls) -- two status reads each (the simulator's revenue_stage_polls)
  end)

  it("uploads through the multipart file route, with its own limit and status call", function()
    local report = assert(rev:upload_csv{ template = "SIM Transactions", filename = "big.csv", route = "file",
      data = transactions(500, { every = 9 }), max_lines = 300, poll_interval = 0.01 })
    assert.equals(2, #report.parts)
    local posts = s:requests{ method = "POST", path = "/api/integration/v1/upload/file" }
    assert.equals(2, #posts)
    for _, p in ipairs(posts) do
      assert.matches("^multipart/form%-data", p.headers["content-type"])
      assert.is_nil(p.headers.filename)
    end
    assert.equals(4, #s:requests{ method = "GET", path = "/api/integration/v1/fileupload/status/*" })
    assert.equals(500, sj.tonumber(sim_revenue().staged.transaction))
    assert.has_error(function() rev:upload_csv{ template = "T", filename = "x.csv", data = "a\n", route = "file",
      max_lines = 60001 } end)
  end)

  it("splits a file under the real 20,000-line limit by default", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "wb"))
    f:write(transactions(25000, { every = 1000 }))
    f:close()
    local report = assert(rev:upload_csv{ template = "SIM Transactions", filename = "real.csv", path = path,
      poll_interval = 0.05 })
    os.remove(path)
    assert.equals(2, #report.parts)
    assert.is_true(report.parts[1].lines <= 20000 and report.parts[1].lines > 19900)
    assert.equals(25000, report.parts[1].records + report.parts[2].records)
    assert.equals(25000, sj.tonumber(sim_revenue().staged.transaction))
    for _, p in ipairs(uploads()) do assert.is_true(physical_lines(p.body) <= 20000) end
  end)

  it("lists stage errors, and none (204) when there are none", function()
    local rows, err, meta = rev:stage_errors("transaction")
    assert.is_nil(err)
    assert.same({}, rows)
    assert.equals(204, meta.status)
    local report = assert(rev:upload_csv{ template = "SIM Transactions", filename = "bad.csv",
      data = transactions(20, { bad = { [4] = true, [17] = true } }), poll_interval = 0.01 })
    assert.equals("18 rows staged, 2 rows in error", report.parts[1].message)
    rows = assert(rev:stage_errors("transaction"))
    assert.equals(2, #rows)
    assert.equals("SO-00004", rows[1].so_num)
    assert.equals(5, rows[1].line_num) -- line 5 of the file: the header is line 1
    assert.matches("UNIT_SELL_PRICE is not a number: n/a", rows[1].error_message)
    assert.same({}, assert(rev:stage_errors("event")))
    assert.has_error(function() rev:stage_errors("invoice") end)
  end)

  it("stages event uploads and keeps their errors apart", function()
    local data = "EVENT_NAME,SO_NUM,SO_LINE_NUM,EVENT_DATE,PERCENTAGE\n"
      .. "Go-live,SO-1,1,2024-01-31,100\nGo-live,SO-2,1,31-JAN-2024,50\nGo-live,SO-3,1,someday,10\n"
    local report = assert(rev:upload_csv{ template = "SIM Events", filename = "events.csv", data = data,
      poll_interval = 0.01 })
    assert.equals("2 rows staged, 1 rows in error", report.parts[1].message)
    local rows = assert(rev:stage_errors("event"))
    assert.equals(1, #rows)
    assert.equals("EVENT_DATE is not a date: someday", rows[1].error_message)
    assert.same({}, assert(rev:stage_errors("transaction")))
    assert.equals(2, sj.tonumber(sim_revenue().staged.event))
  end)

  it("stops at a refused part and says which parts made it", function()
    s:fault{ method = "POST", path = "/api/integration/v1/csv/upload", skip = 1, count = 1, status = 400,
      body = '{"status":"Failure","message":"Template is locked"}' }
    local parts_seen = {}
    local res, err, report = rev:upload_csv{ template = "SIM Transactions", filename = "stop.csv",
      data = transactions(400), max_lines = 101, concurrency = 1, poll_interval = 0.01,
      on_part = function(p) parts_seen[#parts_seen + 1] = p.index .. ":" .. p.status end }
    assert.is_nil(res)
    assert.equals(400, err.status)
    assert.equals("Template is locked", err.message)
    assert.same({ "staged", "failed" }, { report.parts[1].status, report.parts[2].status })
    assert.is_nil(report.parts[3])
    assert.equals(2, #uploads())
    assert.same({ "1:uploaded", "2:failed", "1:staged" }, parts_seen)
    assert.equals(report, err.upload)
  end)

  it("refuses bad input: an unterminated quote, a file that is not there, a file Revenue rejects whole", function()
    local res, err = rev:upload_csv{ template = "SIM Transactions", filename = "u.csv",
      data = HEADER .. 'SO-1,1,2024-01-31,SKU,C,1,1,1,USD,,,"never closed\n' }
    assert.is_nil(res)
    assert.matches("never ends", err.message)
    res, err = rev:upload_csv{ template = "SIM Transactions", filename = "m.csv", path = "/nonexistent/x.csv" }
    assert.is_nil(res)
    assert.matches("cannot read /nonexistent/x.csv", err.message)
    assert.equals(0, #uploads())
    res, err = rev:upload_csv{ template = "SIM Transactions", filename = "cols.csv", data = HEADER .. "SO-1,1\n" }
    assert.is_nil(res)
    assert.equals(400, err.status)
    assert.matches("Line 2 has 2 fields; the header has 12", err.message)
    res, err = rev:upload_csv{ template = "No Such Template", filename = "t.csv", data = transactions(1) }
    assert.is_nil(res)
    assert.matches("Upload template 'No Such Template' does not exist", err.message)
    assert.equals(0, sj.tonumber(sim_revenue().staged.transaction))
    assert.has_error(function() rev:upload_csv{ template = "T", filename = "x.csv" } end)
    assert.has_error(function() rev:upload_csv{ template = "T", filename = "x.csv", data = "a", concurrency = 3 } end)
    assert.has_error(function() rev:upload_csv{ template = "T", filename = "x.csv", data = "a", max_lines = 20001 } end)
  end)
end)
