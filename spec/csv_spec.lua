-- zuora.csv: records come out the same whatever the chunking of the input, with RFC 4180 quoting.
local csv = require "zuora.csv"

local function records(text, chunk, opts)
  local pos = 1
  local next_record = csv.reader(function()
    if pos > #text then return nil end
    local c = text:sub(pos, pos + chunk - 1)
    pos = pos + chunk
    return c
  end, opts)
  local out = {}
  for rec in next_record do out[#out + 1] = rec end
  return out
end

local function each_chunking(text, opts)
  local want = records(text, #text + 1, opts)
  for chunk = 1, math.min(#text, 12) do
    assert.same(want, records(text, chunk, opts), "chunk size " .. chunk)
  end
  return want
end

describe("zuora.csv #luajit", function()
  it("reads quoted fields with separators, doubled quotes and line breaks inside", function()
    local text = 'id,name,note\r\n1,"Acme, Inc.","said ""hi""\nthen left"\n2,plain,\n3,"",""""\n'
    assert.same({
      { "id", "name", "note" },
      { "1", "Acme, Inc.", 'said "hi"\nthen left' },
      { "2", "plain", "" },
      { "3", "", '"' },
    }, each_chunking(text))
  end)

  it("keeps empty fields, CRLF and a missing final line break", function()
    assert.same({ { "a", "", "c" }, { "", "", "" }, { "x" } }, each_chunking("a,,c\r\n,,\r\nx"))
    assert.same({ { "" } }, each_chunking("\n"))
    assert.same({}, each_chunking(""))
  end)

  it("reads tab- and other-separated files", function()
    assert.same({ { "a", "b c" }, { "1", "2\t3" } }, each_chunking('a\tb c\n1\t"2\t3"\n', { separator = "\t" }))
    assert.same({ { "a", "b" }, { "1.5", "x|y" } }, each_chunking('a|b\n1.5|"x|y"\n', { separator = "|" }))
  end)

  it("keeps a quote inside an unquoted field as it is", function()
    assert.same({ { 'ab"c', "d" } }, each_chunking('ab"c,d\n'))
  end)

  it("raises on an unterminated quote or a stray character after a closing quote", function()
    assert.has_error(function() records('a,"open\n', 3) end, "csv: record 1: unterminated quoted field")
    assert.has_error(function() records('ok\n"a"b,c\n', 2) end,
      "csv: record 2: unexpected character after a closing quote")
  end)

  it("reads a record far larger than a chunk in linear time", function()
    local big = ("y"):rep(3 * 1024 * 1024)
    local text = 'h\n"' .. big .. '"\n'
    local got = records(text, 65536)
    assert.equals(2, #got)
    assert.equals(big, got[2][1])
    assert.has_error(function() records(text, 65536, { max_record = 1024 * 1024 }) end)
  end)

  it("hands out each record's bytes unchanged with opts.raw, and refuses a source that is not text", function()
    local text = 'h\r\n1,"a\r\nb ""q"""\n2,x'
    local next_record = csv.reader(coroutine.wrap(function()
      for i = 1, #text, 3 do coroutine.yield(text:sub(i, i + 2)) end
    end), { raw = true })
    local raw, fields = {}, {}
    for rec, f in next_record do raw[#raw + 1], fields[#fields + 1] = rec, f end
    assert.same({ "h\r\n", '1,"a\r\nb ""q"""\n', "2,x" }, raw)
    assert.same({ { "h" }, { "1", 'a\r\nb "q"' }, { "2", "x" } }, fields)
    assert.equals(text, table.concat(raw))
    local ok, err = pcall(csv.reader(function() return 42 end))
    assert.is_false(ok)
    assert.matches("the source returned a number, not a string", err)
  end)

  it("refuses a separator that cannot work", function()
    assert.has_error(function() csv.reader(function() end, { separator = '"' }) end)
    assert.has_error(function() csv.reader(function() end, { separator = ",," }) end)
  end)
end)
