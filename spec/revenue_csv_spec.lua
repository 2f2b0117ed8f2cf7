-- zuora.revenue.csv: records read as a stream and cut into upload parts without splitting a
-- quoted field, whatever the chunk boundaries.
local csv = require "zuora.revenue.csv"

-- A source handing out `s` in chunks of `size` bytes (boundaries anywhere, even inside a quote).
local function chunks(s, size)
  local pos = 1
  return function()
    if pos > #s then return nil end
    local c = s:sub(pos, pos + size - 1)
    pos = pos + size
    return c
  end
end

local function records(s, size)
  local r = csv.reader(chunks(s, size))
  local out = {}
  while true do
    local rec, lines, first = r:next()
    if not rec then return out end
    out[#out + 1] = { rec, lines, first }
  end
end

local function count_lines(s)
  local _, n = s:gsub("\n", "")
  if #s > 0 and s:sub(-1) ~= "\n" then n = n + 1 end
  return n
end

describe("zuora.revenue.csv #luajit", function()
  it("reads records with quoted line breaks, doubled quotes, CRLF and a last line without a break", function()
    local s = 'H1,H2\r\n1,"a\r\nb"\r\n\r\n2,"say ""hi""\nthere, friend"\n3,x'
    for _, size in ipairs { 1, 2, 3, 7, 64 * 1024 } do
      assert.same({
        { "H1,H2\r\n", 1, 1 },
        { '1,"a\r\nb"\r\n', 2, 2 },
        { '2,"say ""hi""\nthere, friend"\n', 2, 5 },
        { "3,x", 1, 7 },
      }, records(s, size), "chunk size " .. size)
    end
  end)

  it("raises on a quoted field that never ends", function()
    local r = csv.reader(chunks('H\n"open\nnever closed\n', 4))
    assert(r:next())
    local ok, err = pcall(r.next, r)
    assert.is_false(ok)
    assert.matches("record starting on line 2 never ends", err)
  end)

  it("keeps a record's bytes whole after a bare CR, takes a mid-field quote as text, refuses a stray one", function()
    assert.same({ { "h\n", 1, 1 }, { '1,"a"\rb\n', 1, 2 }, { '2,5" pipe\n', 1, 3 } },
      records('h\n1,"a"\rb\n2,5" pipe\n', 3))
    local ok, err = pcall(records, 'h\n1,"a"b\n', 4)
    assert.is_false(ok)
    assert.matches("record 2: unexpected character after a closing quote", err)
  end)

  it("cuts parts of at most max_lines lines, header repeated, records whole and in order", function()
    math.randomseed(7)
    for _ = 1, 40 do
      local rows = { "id,note\n" }
      for i = 1, math.random(1, 120) do
        local span = math.random(1, 6) == 1 and math.random(2, 5) or 1
        local lines = {}
        for k = 1, span do lines[k] = ("l%d,\"\"x\"\""):format(k) end
        rows[#rows + 1] = span > 1 and ('%d,"%s"\n'):format(i, table.concat(lines, "\n")) or ("%d,plain\n"):format(i)
      end
      local s = table.concat(rows)
      local max = math.random(6, 40)
      local body, next_first = {}, 1
      for part in csv.parts(csv.reader(chunks(s, math.random(1, 50))), max) do
        assert.is_true(part.lines <= max)
        assert.equals(count_lines(part.text), part.lines)
        assert.equals("id,note\n", part.text:sub(1, 8))
        assert.equals(next_first, part.first)
        assert.equals(part.first + part.records - 1, part.last)
        next_first = part.last + 1
        body[#body + 1] = part.text:sub(9)
      end
      assert.equals(s:sub(9), table.concat(body))
      assert.equals(#rows - 1, next_first - 1)
    end
  end)

  it("puts a record in the next part rather than split it, and refuses one that can never fit", function()
    local s = 'h\n1\n"2\n2"\n3\n'
    local parts = csv.split(s, 3)
    assert.equals(3, #parts)
    assert.same({ "h\n1\n", 'h\n"2\n2"\n', "h\n3\n" }, { parts[1].text, parts[2].text, parts[3].text })
    local ok, err = pcall(csv.split, 'h\n"a\nb\nc"\n', 3)
    assert.is_false(ok)
    assert.matches("record on line 2 spans 3 lines", err)
    ok, err = pcall(csv.split, "", 3)
    assert.is_false(ok)
    assert.matches("no header", err)
    assert.same({}, csv.split("only,a,header", 3))
    assert.has_error(function() csv.split("h\n1\n", 1) end)
  end)
end)
