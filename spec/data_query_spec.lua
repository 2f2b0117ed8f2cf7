-- client:data_query against zuora-sim (job, polling, the result file on the storage origin with no
-- credentials, rows in every format and compression), and zuora.rows on local files.
local zuora = require "zuora"
local simh = require "spec.support.sim"
local fs = require "spec.support.fs"
local rows = require "zuora.rows"
local data_query = require "zuora.data_query"

local sh_read, write = fs.sh_read, fs.write

local function tmpdir() return fs.tmpdir("dq-spec") end

local function gzip(data)
  local path = os.tmpname()
  write(path, data)
  local out = sh_read("gzip -n -c " .. path)
  os.remove(path)
  return out
end

local function le16(n) return string.char(n % 256, math.floor(n / 256) % 256) end
local function le32(n) return le16(n % 65536) .. le16(math.floor(n / 65536)) end

-- A one-entry zip archive, the deflate data taken from gzip's output (10-byte header, 8-byte
-- trailer holding the CRC). With `descriptor`, sizes come after the data, as streaming zippers do.
local function zip(name, data, descriptor)
  local gz = gzip(data)
  local raw, crc = gz:sub(11, -9), gz:sub(-8, -5)
  local flags = descriptor and 8 or 0
  local sizes = descriptor and (le32(0) .. le32(0) .. le32(0)) or (crc .. le32(#raw) .. le32(#data))
  local head = "PK\3\4" .. le16(20) .. le16(flags) .. le16(8) .. le16(0) .. le16(0x21) .. sizes .. le16(#name)
    .. le16(0) .. name
  local tail = descriptor and ("PK\7\8" .. crc .. le32(#raw) .. le32(#data)) or ""
  return head .. raw .. tail .. "PK\1\2" .. ("\0"):rep(42) .. name .. "PK\5\6" .. ("\0"):rep(18)
end

local function all_rows(it)
  local out = {}
  for row in it do out[#out + 1] = row end
  return out
end

describe("zuora.rows on local files #luajit", function()
  local dir
  setup(function() dir = tmpdir() end)
  teardown(function() os.execute("rm -rf " .. dir) end)

  local lines = '{"id":"1","name":"Acme, \\"Inc\\""}\n{"id":"2","name":"line\\nbreak","amount":12.5}\r\n\n'
    .. '{"id":"3","name":null}'
  local want = {
    { id = "1", name = 'Acme, "Inc"' },
    { id = "2", name = "line\nbreak", amount = 12.5 },
    { id = "3", name = zuora.json.null },
  }

  it("reads JSON lines plain, gzip and zip (with or without a data descriptor)", function()
    local cases = {
      { "plain.json", lines, "NONE" },
      { "r.json.gz", gzip(lines), "GZIP" },
      { "r.zip", zip("r.json", lines), "ZIP" },
      { "d.zip", zip("r.json", lines, true), "ZIP" },
    }
    for _, case in ipairs(cases) do
      write(dir .. "/" .. case[1], case[2])
      local it = assert(rows.open(dir .. "/" .. case[1], { format = "JSON", compression = case[3] }))
      assert.same(want, all_rows(it), case[1])
      assert.equals(3, it.count)
      assert.is_true(it.closed)
    end
  end)

  it("reads CSV into tables keyed by the header, values as written", function()
    local text = 'id,name,amount\n1,"Acme, ""Inc""",10.10\n2,"two\nlines",\n'
    write(dir .. "/r.csv.gz", gzip(text))
    local it = assert(rows.open(dir .. "/r.csv.gz", { format = "CSV", compression = "GZIP" }))
    assert.same({ { id = "1", name = 'Acme, "Inc"', amount = "10.10" },
      { id = "2", name = "two\nlines", amount = "" } },
      all_rows(it))
    assert.same({ "id", "name", "amount" }, it.columns)
  end)

  it("raises a decode error naming the row for bad data, and never skips it", function()
    local function fails(name, data, opts, pattern)
      write(dir .. "/" .. name, data)
      local it = assert(rows.open(dir .. "/" .. name, opts))
      local ok, err = pcall(all_rows, it)
      assert.is_false(ok, name)
      assert.is_true(zuora.errors.is(err), name)
      assert.equals("decode", err.kind)
      assert.matches(pattern, err.message)
      assert.is_true(it.closed)
    end
    fails("bad.json", '{"a":1}\n{"a":\n', { format = "JSON" }, "line 2 is not JSON")
    fails("arr.json", '[1,2]\n', { format = "JSON" }, "line 1 is not a JSON object")
    fails("short.csv", "a,b\n1,2\n3\n", { format = "CSV" }, "record 3 has 1 fields, the header has 2")
    fails("dup.csv", "a,a\n1,2\n", { format = "CSV" }, "duplicate column name 'a'")
    fails("quote.csv", 'a\n"open\n', { format = "CSV" }, "unterminated quoted field")
    local gz = gzip(lines)
    fails("cut.gz", gz:sub(1, #gz - 12), { format = "JSON", compression = "GZIP" }, "truncated")
    fails("junk.gz", "this is not gzip at all", { format = "JSON", compression = "GZIP" }, "invalid compressed data")
  end)

  it("checks the row count it was promised", function()
    write(dir .. "/two.json", '{"a":1}\n{"a":2}\n')
    local it = assert(rows.open(dir .. "/two.json"))
    it.expect_rows = 3
    local ok, err = pcall(all_rows, it)
    assert.is_false(ok)
    assert.matches("held 2 rows, the job reported 3", err.message)
  end)

  it("can stop early and close", function()
    write(dir .. "/many.json", ('{"a":1}\n'):rep(100))
    local it = assert(rows.open(dir .. "/many.json"))
    assert.same({ a = 1 }, it())
    it:close()
    assert.is_nil(it())
    assert.matches("zuora.Rows<1 rows, closed>", tostring(it))
  end)

  it("reports progress in file bytes", function()
    local big = ('{"id":"0123456789abcdef"}\n'):rep(10000)
    write(dir .. "/big.json", big)
    local events = {}
    local it = assert(rows.open(dir .. "/big.json", { on_progress = function(e) events[#events + 1] = e end }))
    assert.equals(10000, #all_rows(it))
    assert.is_true(#events >= 5)
    local last = events[#events]
    assert.same({ "rows", #big, #big, "bytes", 10000, true }, { last.kind, last.current, last.total, last.unit,
      last.rows, last.done })
  end)
end)

describe("client:data_query #luajit", function()
  local s, c

  lazy_setup(function() s = simh.start() end)
  lazy_teardown(function() if s then s:stop() end end)
  before_each(function()
    s:reset()
    s:config{ job_polls = 2 }
    c = zuora.new{ base_url = s.url, client_id = s.client_id, client_secret = s.client_secret,
      retry_base = 0.01, retry_cap = 0.02 }
  end)
  after_each(function() c:close() end)

  local NAMES = { "Acme, Inc.", 'Say "cheese"', "two\nlines", [[back\slash]], "tab\there", "Zoë | Ünïcode" }

  local function accounts()
    for _, name in ipairs(NAMES) do
      assert(c.accounts.create{ name = name, currency = "USD", billToContact = { firstName = "A", lastName = "B" } })
    end
  end

  local SQL = "SELECT accountnumber, name FROM account ORDER BY accountnumber"

  local function expected()
    local out = {}
    for i, name in ipairs(NAMES) do out[i] = { accountnumber = ("A%08d"):format(i), name = name } end
    return out
  end

  it("iterates rows in every format and compression, exactly as stored", function()
    accounts()
    for _, case in ipairs({
      { "JSON", "NONE" }, { "JSON", "GZIP" }, { "JSON", "ZIP" }, { "CSV", "NONE" }, { "CSV", "GZIP" },
      { "CSV", "ZIP" }, { "TSV", "GZIP" }, { "DSV", "NONE", "|" },
    }) do
      local it, err, job = c:data_query(SQL, { output_format = case[1], compression = case[2],
        column_separator = case[3], interval = 0.01 })
      assert.is_nil(err, case[1] .. "/" .. case[2])
      assert.equals("completed", job.queryStatus)
      assert.same(expected(), all_rows(it), case[1] .. "/" .. case[2])
    end
  end)

  it("fetches the result file with no credential and no Zuora header at all", function()
    accounts()
    for _, creds in ipairs({
      { client_id = s.client_id, client_secret = s.client_secret },
      { username = s.username, password = s.password },
      { access_key_id = s.username, secret_access_key = s.password },
    }) do
      s:clear_requests()
      local o = { base_url = s.url, entity_ids = "ent-1", track_id = "track-42", zuora_version = "2025-08-12" }
      for k, v in pairs(creds) do o[k] = v end
      local cl = zuora.new(o)
      local it = assert(cl:data_query(SQL, { interval = 0.01 }))
      assert.equals(#NAMES, #all_rows(it))
      cl:close()
      local files = s:requests{ origin = "files" }
      assert.equals(1, #files)
      assert.equals(200, simh.json.tonumber(files[1].status))
      for name in pairs(files[1].headers) do
        assert.is_nil(name:find("^zuora"), name)
        assert.is_nil(({ authorization = true, apiaccesskeyid = true, apisecretaccesskey = true, cookie = true,
          ["idempotency-key"] = true })[name], name)
      end
      -- the API calls did carry them (so their absence above means something)
      local api = s:requests{ method = "GET", path = "/query/jobs/*" }
      assert.is_string(api[1].headers.authorization or api[1].headers.apiaccesskeyid)
      assert.equals("track-42", api[1].headers["zuora-track-id"])
    end
  end)

  it("saves the file with output = path and returns the path", function()
    accounts()
    local dir = tmpdir()
    local path, err, job = c:data_query(SQL, { output_format = "CSV", output = dir .. "/accounts.csv",
      interval = 0.01 })
    assert.is_nil(err)
    assert.equals(dir .. "/accounts.csv", path)
    local f = assert(io.open(path, "rb"))
    local saved = f:read("a")
    f:close()
    assert.equals(s:request{ url = job.dataFile, auth = "none" }.body, saved)
    assert.matches('^accountnumber,name\nA00000001,"Acme, Inc."\n', saved)
    os.execute("rm -rf " .. dir)
  end)

  it("returns a failed job's message and code", function()
    local it, err = c:data_query("SELECT nope FROM account", { interval = 0.01 })
    assert.is_nil(it)
    assert.equals("api", err.kind)
    assert.equals("QUERY_ERROR", err.code)
    assert.matches("failed: invalid field for query: Account.nope", err.message)
    assert.equals("failed", err.job.queryStatus)
  end)

  it("returns cancelled when the job is cancelled while it waits", function()
    s:config{ job_polls = 100000 }
    local id
    local task = c:spawn(function()
      return c:data_query("SELECT id FROM account", { interval = 0.02, max_interval = 0.02,
        on_progress = function(e) id = id or e.id end })
    end)
    c:sleep(0.2)
    assert.is_string(id)
    assert.equals(200, s:delete("/query/jobs/" .. id).status)
    local it, err = task:wait()
    assert.is_nil(it)
    assert.matches("cancelled", err.message)
  end)

  it("gives up at the overall timeout and cancels the job", function()
    s:config{ job_polls = 100000 }
    local t0 = os.time()
    local it, err = c:data_query("SELECT id FROM account", { timeout = 0.5, interval = 0.05 })
    assert.is_nil(it)
    assert.equals("timeout", err.kind)
    assert.is_true(os.time() - t0 <= 3)
    local deletes = s:requests{ method = "DELETE", path = "/query/jobs/*" }
    assert.equals(1, #deletes)
  end)

  it("reports an expired result URL without retrying it", function()
    accounts()
    s:config{ file_url_ttl = 0 }
    local it, err = c:data_query(SQL, { interval = 0.01 })
    assert.is_nil(it)
    assert.equals(403, err.status)
    assert.equals("AccessDenied", err.code)
    assert.matches("Request has expired", err.message)
    assert.matches("X%-Amz%-Signature=%[redacted%]", err.url)
    assert.equals(1, #s:requests{ origin = "files" })
  end)

  it("retries a download cut off mid-way and leaves no temporary file behind", function()
    accounts()
    local dir = tmpdir()
    s:fault{ origin = "files", action = "truncate", count = 1 }
    local it = assert(c:data_query(SQL, { interval = 0.01, tmpdir = dir }))
    assert.equals("", sh_read("ls -A " .. dir)) -- the file is unlinked as soon as it is open
    assert.same(expected(), all_rows(it))
    assert.equals(2, #s:requests{ origin = "files" })
    s:fault{ origin = "files", action = "reset" }
    local none, err = c:data_query(SQL, { interval = 0.01, tmpdir = dir })
    assert.is_nil(none)
    assert.equals("transport", err.kind)
    assert.equals("", sh_read("ls -A " .. dir))
    os.execute("rm -rf " .. dir)
  end)

  it("raises mid-way on a corrupt or short result file", function()
    accounts()
    s:fault{ origin = "files", count = 1, status = 200, body = "not gzip data" }
    local it = assert(c:data_query(SQL, { compression = "GZIP", interval = 0.01 }))
    local ok, err = pcall(all_rows, it)
    assert.is_false(ok)
    assert.equals("decode", err.kind)
    s:fault{ origin = "files", count = 1, status = 200, body = '{"accountnumber":"A00000001","name":"x"}\n' }
    it = assert(c:data_query(SQL, { compression = "NONE", interval = 0.01 }))
    ok, err = pcall(all_rows, it)
    assert.is_false(ok)
    assert.matches("held 1 rows, the job reported 6", err.message)
    s:fault{ origin = "files", count = 1, status = 200, body = '{"accountnumber":"A00000001","name":"x"}\n' }
    it = assert(c:data_query(SQL, { compression = "NONE", interval = 0.01, check_rows = false }))
    assert.equals(1, #all_rows(it))
  end)

  it("reports job, transfer and row progress through one callback", function()
    accounts()
    local kinds, last = {}, {}
    local it = assert(c:data_query(SQL, { interval = 0.01, on_progress = function(e)
      if kinds[#kinds] ~= e.kind then kinds[#kinds + 1] = e.kind end
      last[e.kind] = e
    end }))
    all_rows(it)
    assert.same({ "job", "transfer", "rows" }, kinds)
    assert.equals("completed", last.job.status)
    assert.is_true(last.job.done)
    assert.is_true(last.transfer.done)
    assert.equals("download", last.transfer.direction)
    assert.equals(last.transfer.current, last.transfer.total)
    assert.matches("X%-Amz%-Signature=%[redacted%]", last.transfer.url)
    assert.same({ true, 6 }, { last.rows.done, last.rows.rows })
  end)

  it("runs several queries at once inside tasks", function()
    accounts()
    local r = c:gather{
      function() return #all_rows(assert(c:data_query(SQL, { interval = 0.05 }))) end,
      function() return #all_rows(assert(c:data_query(SQL, { output_format = "CSV", interval = 0.05 }))) end,
    }
    assert.same({ 6, 6 }, { r[1][1], r[2][1] })
  end)

  it("streams a large synthetic result (sim_synthetic) exactly", function()
    for _, case in ipairs({ { "JSON", "GZIP" }, { "CSV", "NONE" } }) do
      local it, err, job = c:data_query("select * from sim_synthetic limit 20000",
        { output_format = case[1], compression = case[2], interval = 0.01 })
      assert.is_nil(err)
      assert.equals(20000, job.outputRows)
      local n, first, last = 0, nil, nil
      for row in it do
        n = n + 1
        first = first or row
        last = row
      end
      assert.equals(20000, n)
      assert.equals("8ad0b000000000000000000000000001", first.id)
      assert.equals('r 00020000, "q"', last.note)
      assert.equals("A00020000", last.account)
      assert.equals(case[1] == "JSON" and 3000 or "3000.00", last.amount) -- 1000 + 20000*37 % 9000, .00
    end
  end)

  it("checks its options at the call", function()
    assert.has_error(function() c:data_query("select 1", { output_fromat = "CSV" }) end,
      "data_query: unknown option output_fromat")
    assert.has_error(function() c:data_query("select 1", { output_format = "XML" }) end)
    assert.has_error(function() c:data_query("select 1", { output_format = "DSV" }) end)
    assert.has_error(function() c:data_query(nil) end)
  end)

  it("refuses a result file over plain http unless the client's own base URL is loopback", function()
    local remote = zuora.new{ base_url = "https://rest.zuora.example", token = "t" }
    local res, err = data_query.download(remote, "http://127.0.0.1:1/results/x.csv", "/tmp/never")
    assert.is_nil(res)
    assert.matches("refusing a result file over plain http", err.message)
    res, err = data_query.download(remote, "ftp://storage.example/x.csv", "/tmp/never")
    assert.is_nil(res)
    assert.matches("not http", err.message)
    remote:close()
  end)
end)
