-- core.inflate: streaming gzip / zlib / raw-deflate decompression, checked against the gzip
-- command line tool and against hand-built zlib and deflate streams, fed in every chunking.
local inflate = require("zuora.core").inflate
local fs = require "spec.support.fs"

local sh_read = fs.sh_read

local function tmpfile(data)
  local path = os.tmpname()
  fs.write(path, data)
  return path
end

local function gzip(data)
  local path = tmpfile(data)
  local out = sh_read("gzip -n -c " .. path)
  os.remove(path)
  return out
end

-- A deflate stream of stored blocks (no compression), built by hand.
local function stored_deflate(data)
  local out, pos = {}, 1
  repeat
    local chunk = data:sub(pos, pos + 65534)
    pos = pos + #chunk
    local final = pos > #data and 1 or 0
    local len = #chunk
    local nlen = 65535 - len
    out[#out + 1] = string.char(final, len % 256, math.floor(len / 256), nlen % 256, math.floor(nlen / 256)) .. chunk
  until pos > #data
  return table.concat(out)
end

local function adler32(data)
  local a, b = 1, 0
  for i = 1, #data do
    a = (a + data:byte(i)) % 65521
    b = (b + a) % 65521
  end
  return b * 65536 + a
end

local function be32(n)
  return string.char(math.floor(n / 16777216) % 256, math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256)
end

local function zlib_stream(data)
  return "\120\1" .. stored_deflate(data) .. be32(adler32(data))
end

-- Decompresses `data` pushed in pieces of `chunk` bytes, pulled `out` bytes at a time.
local function run(format, data, chunk, out)
  local z = inflate.new(format)
  local parts = {}
  local pos = 1
  local function drain()
    while true do
      local s, err = z:read(out)
      if not s then return nil, err end
      if s == "" then return true end
      assert(#s <= out, "read returned more than asked")
      parts[#parts + 1] = s
    end
  end
  while pos <= #data do
    assert(z:write(data:sub(pos, pos + chunk - 1)))
    pos = pos + chunk
    local ok, err = drain()
    if not ok then return nil, err end
  end
  local ok, err = z:finish()
  if not ok then return nil, err end
  return table.concat(parts)
end

local function sample(n)
  local t = {}
  for i = 1, n do t[i] = string.format("%d,row %d,%s\n", i, i * 7919 % 1000, ("x"):rep(i % 13)) end
  return table.concat(t)
end

describe("core.inflate #luajit", function()
  local text = sample(3000)

  it("decompresses gzip in every chunking, output never larger than asked", function()
    local gz = gzip(text)
    for _, chunk in ipairs({ 1, 7, 512, 65536, #gz }) do
      for _, out in ipairs({ 1, 100, 65536 }) do
        if not (chunk == 1 and out == 1) then
          assert.equals(text, (run("gzip", gz, chunk, out)))
        end
      end
    end
  end)

  it("reads zlib and raw deflate streams, and detects gzip or zlib in auto mode", function()
    local z = zlib_stream(text)
    local raw = stored_deflate(text)
    assert.equals(text, (run("zlib", z, 1000, 4096)))
    assert.equals(text, (run("raw", raw, 999, 4096)))
    assert.equals(text, (run("auto", z, 4096, 4096)))
    assert.equals(text, (run("auto", gzip(text), 4096, 4096)))
  end)

  it("reads concatenated gzip members as one stream and ignores zero padding", function()
    local two = gzip("first\n") .. gzip("second\n")
    assert.equals("first\nsecond\n", (run("gzip", two, 3, 5)))
    assert.equals("first\nsecond\n", (run("gzip", two .. ("\0"):rep(100), 64, 64)))
  end)

  it("reports truncated data, trailing garbage, corruption and empty input", function()
    local gz = gzip(text)
    local out, err = run("gzip", gz:sub(1, #gz - 20), 4096, 4096)
    assert.is_nil(out)
    assert.matches("truncated", err)
    out, err = run("gzip", gz .. "garbage", 4096, 4096)
    assert.is_nil(out)
    assert.matches("trailing garbage", err)
    local bad = gz:sub(1, 100) .. string.char((gz:byte(101) + 1) % 256) .. gz:sub(102)
    out, err = run("gzip", bad, 4096, 4096)
    assert.is_nil(out)
    assert.is_string(err)
    out, err = run("gzip", "", 1, 1)
    assert.is_nil(out)
    assert.equals("no compressed data", err)
    out, err = run("zlib", "\120\1\1\5\0\0\0abcde", 5, 10) -- a stored block whose length check fails
    assert.is_nil(out)
    assert.matches("invalid compressed data", err)
  end)

  it("keeps failing after an error, and hands over the data that came before it", function()
    local z = inflate.new("gzip")
    z:write(gzip("hello") .. "xx")
    assert.equals("hello", z:read())
    local s, err = z:read()
    assert.is_nil(s)
    assert.matches("trailing garbage", err)
    assert.is_nil((z:read()))
    assert.is_nil((z:finish()))
  end)

  it("bounds memory: a small input that expands a thousandfold comes out in the chunks asked for", function()
    local zeros = ("\0"):rep(4 * 1024 * 1024)
    local gz = gzip(zeros)
    assert.is_true(#gz < 10000)
    local z = inflate.new()
    z:write(gz)
    local total, reads = 0, 0
    while true do
      local s = assert(z:read(65536))
      if s == "" then break end
      assert.is_true(#s <= 65536)
      total, reads = total + #s, reads + 1
    end
    assert.equals(#zeros, total)
    assert.is_true(reads >= 64)
    assert.is_true(z:done())
    assert.is_true(z:finish())
    local pushed, produced = z:totals()
    assert.equals(#gz, pushed)
    assert.equals(#zeros, produced)
  end)

  it("says when a raw stream is done, ignoring what follows it", function()
    local z = inflate.new("raw")
    z:write(stored_deflate("abc") .. "PK\1\2 central directory")
    assert.equals("abc", z:read())
    assert.equals("", z:read())
    assert.is_true(z:done())
    assert.is_true(z:finish())
  end)

  it("replays the fuzz corpus: pushed whole or in pieces, the verdict and the bytes agree", function()
    local formats = { "gzip", "zlib", "raw", "auto" }
    local p = assert(io.popen("ls fuzz/corpus/inflate"))
    local n = 0
    for name in p:lines() do
      local f = assert(io.open("fuzz/corpus/inflate/" .. name, "rb"))
      local input = f:read("a")
      f:close()
      if #input >= 3 then
        local fmt = formats[input:byte(1) % 4 + 1]
        local rest = input:sub(4)
        local a, aerr = run(fmt, rest, math.max(1, #rest), 65536)
        local b, berr = run(fmt, rest, input:byte(2) % 64 + 1, input:byte(3) % 97 + 1)
        assert.equals(a, b, name)
        assert.equals(aerr == nil, berr == nil, name)
        n = n + 1
      end
    end
    p:close()
    assert.is_true(n >= 5)
  end)

  it("checks its arguments and refuses use after close", function()
    assert.has_error(function() inflate.new("bzip2") end)
    local z = inflate.new()
    assert.has_error(function() z:read(0) end)
    assert.has_error(function() z:read(17 * 1024 * 1024) end)
    assert.has_error(function() z:write({}) end)
    assert.matches("^zuora.inflate<gzip>$", tostring(z))
    z:close()
    z:close()
    assert.equals("zuora.inflate<closed>", tostring(z))
    assert.has_error(function() z:read() end, "inflate object is closed")
  end)
end)
