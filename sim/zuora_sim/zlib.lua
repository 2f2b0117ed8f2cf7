--- gzip/zip through the system zlib (LuaJIT FFI; nginx itself links zlib).
-- Used to accept `Content-Encoding: gzip` request bodies and to compress Data Query results.
local ffi = require "ffi"

local M = {}

ffi.cdef [[
typedef struct z_stream_s {
  const unsigned char *next_in; unsigned int avail_in; unsigned long total_in;
  unsigned char *next_out; unsigned int avail_out; unsigned long total_out;
  const char *msg; void *state; void *zalloc; void *zfree; void *opaque;
  int data_type; unsigned long adler; unsigned long reserved;
} z_stream;
int inflateInit2_(z_stream *strm, int windowBits, const char *version, int stream_size);
int inflate(z_stream *strm, int flush);
int inflateEnd(z_stream *strm);
int deflateInit2_(z_stream *strm, int level, int method, int windowBits, int memLevel, int strategy,
                  const char *version, int stream_size);
int deflate(z_stream *strm, int flush);
int deflateEnd(z_stream *strm);
unsigned long crc32(unsigned long crc, const unsigned char *buf, unsigned int len);
const char *zlibVersion(void);
]]

local ok, z = pcall(ffi.load, "z")
if not ok then z = ffi.load("libz.so.1") end

local Z_OK, Z_STREAM_END, Z_FINISH, Z_NO_FLUSH = 0, 1, 4, 0
local CHUNK = 65536

local function run(stream, step, input)
  local out = {}
  local buf = ffi.new("unsigned char[?]", CHUNK)
  stream.next_in, stream.avail_in = input, #input
  while true do
    stream.next_out, stream.avail_out = buf, CHUNK
    local rc = step(stream)
    out[#out + 1] = ffi.string(buf, CHUNK - stream.avail_out)
    if rc == Z_STREAM_END then return table.concat(out) end
    if rc ~= Z_OK then
      return nil, stream.msg ~= nil and ffi.string(stream.msg) or ("zlib error " .. rc)
    end
    if stream.avail_in == 0 and stream.avail_out ~= 0 and step == M._inflate_step then
      return nil, "truncated compressed data"
    end
  end
end

function M._inflate_step(s) return z.inflate(s, Z_NO_FLUSH) end

--- Decompresses gzip (or zlib) data. Returns the bytes, or nil and a message.
function M.gunzip(data)
  local s = ffi.new("z_stream")
  if z.inflateInit2_(s, 47, z.zlibVersion(), ffi.sizeof(s)) ~= Z_OK then return nil, "inflateInit failed" end
  local out, err = run(s, M._inflate_step, data)
  z.inflateEnd(s)
  return out, err
end

local function deflate_with(data, window_bits)
  local s = ffi.new("z_stream")
  if z.deflateInit2_(s, 6, 8, window_bits, 8, 0, z.zlibVersion(), ffi.sizeof(s)) ~= Z_OK then
    return nil, "deflateInit failed"
  end
  local out, err = run(s, function(st) return z.deflate(st, Z_FINISH) end, data)
  z.deflateEnd(s)
  return out, err
end

--- gzip-compresses bytes.
function M.gzip(data) return deflate_with(data, 31) end

--- A streaming gzip compressor for bodies produced piece by piece: `d:write(data)` returns the
-- compressed bytes ready so far ("" is possible), `d:finish()` the rest; memory stays at one chunk.
function M.gzip_stream(level)
  local s = ffi.gc(ffi.new("z_stream"), function(st) z.deflateEnd(st) end)
  if z.deflateInit2_(s, level or 6, 8, 31, 8, 0, z.zlibVersion(), ffi.sizeof(s)) ~= Z_OK then
    return nil, "deflateInit failed"
  end
  local buf = ffi.new("unsigned char[?]", CHUNK)
  local function pump(input, flush)
    local out = {}
    s.next_in, s.avail_in = input, #input
    while true do
      s.next_out, s.avail_out = buf, CHUNK
      local rc = z.deflate(s, flush)
      out[#out + 1] = ffi.string(buf, CHUNK - s.avail_out)
      if rc == Z_STREAM_END then break end
      if rc ~= Z_OK and rc ~= -5 then error("deflate failed: " .. rc) end -- -5: Z_BUF_ERROR, no progress
      if flush == Z_NO_FLUSH and s.avail_in == 0 and s.avail_out ~= 0 then break end
    end
    return table.concat(out)
  end
  return {
    write = function(_, data) return pump(data, Z_NO_FLUSH) end,
    finish = function() return pump("", Z_FINISH) end,
  }
end

function M.crc32(data) return tonumber(z.crc32(0, data, #data)) end

local function le16(n) return string.char(n % 256, math.floor(n / 256) % 256) end
local function le32(n)
  return string.char(n % 256, math.floor(n / 256) % 256, math.floor(n / 65536) % 256, math.floor(n / 16777216) % 256)
end

--- A zip archive holding one deflated file `name`.
function M.zip(name, data)
  local deflated = assert(deflate_with(data, -15))
  local crc = M.crc32(data)
  local local_header = "PK\3\4" .. le16(20) .. le16(0) .. le16(8) .. le16(0) .. le16(0x21)
    .. le32(crc) .. le32(#deflated) .. le32(#data) .. le16(#name) .. le16(0) .. name
  local central = "PK\1\2" .. le16(20) .. le16(20) .. le16(0) .. le16(8) .. le16(0) .. le16(0x21)
    .. le32(crc) .. le32(#deflated) .. le32(#data) .. le16(#name) .. le16(0) .. le16(0) .. le16(0)
    .. le16(0) .. le32(0) .. le32(0) .. name
  local offset = #local_header + #deflated
  local eocd = "PK\5\6" .. le16(0) .. le16(0) .. le16(1) .. le16(1) .. le32(#central) .. le32(offset) .. le16(0)
  return local_header .. deflated .. central .. eocd
end

return M
