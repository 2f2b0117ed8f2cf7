--- Streaming gzip/zlib inflation through the system zlib (LuaJIT FFI), for response bodies read
-- over cosockets. nginx links zlib itself, so the library is always there under OpenResty.
--
--   local inf = zlib.inflater(max_bytes)
--   local out, err = inf:feed(chunk)   -- decoded bytes so far ("" is fine), or nil, err
--   local ok, err = inf:finish()       -- the stream must have ended cleanly
--
-- err is "too_large" when the decoded size would pass max_bytes (a small compressed body cannot
-- expand past the cap), otherwise a readable message.
local ffi = require "ffi"

local M = {}

-- Own names (zz_...) with asm() aliases, so this never clashes with another module's cdef of
-- zlib (zuora-sim declares its own z_stream) in the same LuaJIT state.
ffi.cdef [[
typedef struct zz_z_stream_s {
  const unsigned char *next_in; unsigned int avail_in; unsigned long total_in;
  unsigned char *next_out; unsigned int avail_out; unsigned long total_out;
  const char *msg; void *state; void *zalloc; void *zfree; void *opaque;
  int data_type; unsigned long adler; unsigned long reserved;
} zz_z_stream;
int zz_inflateInit2_(zz_z_stream *strm, int windowBits, const char *version, int stream_size) __asm__("inflateInit2_");
int zz_inflate(zz_z_stream *strm, int flush) __asm__("inflate");
int zz_inflateEnd(zz_z_stream *strm) __asm__("inflateEnd");
const char *zz_zlibVersion(void) __asm__("zlibVersion");
]]

local ok, z = pcall(ffi.load, "z")
if not ok then z = ffi.load("libz.so.1") end

local Z_OK, Z_STREAM_END, Z_BUF_ERROR, Z_NO_FLUSH = 0, 1, -5, 0
local OUT = 65536
-- windowBits 15 + 32: accept both gzip and zlib headers (Content-Encoding gzip and deflate).
local WINDOW_AUTO = 47

local Inflater = {}
Inflater.__index = Inflater

--- A new inflater that refuses to produce more than `max_bytes` bytes.
function M.inflater(max_bytes)
  local s = ffi.new("zz_z_stream")
  if z.zz_inflateInit2_(s, WINDOW_AUTO, z.zz_zlibVersion(), ffi.sizeof(s)) ~= Z_OK then
    return nil, "zlib: inflateInit failed"
  end
  ffi.gc(s, z.zz_inflateEnd)
  return setmetatable({ s = s, buf = ffi.new("unsigned char[?]", OUT), max = max_bytes or math.huge,
    total = 0, ended = false }, Inflater)
end

local function close(self)
  if self.s then
    ffi.gc(self.s, nil)
    z.zz_inflateEnd(self.s)
    self.s = nil
  end
end

--- Feeds compressed bytes; returns the bytes decoded from them (possibly ""), or nil, err.
function Inflater:feed(data)
  if not self.s then return nil, "zlib: inflater is closed" end
  if #data == 0 then return "" end
  if self.ended then
    close(self)
    return nil, "data after the end of the compressed stream"
  end
  local s, buf = self.s, self.buf
  s.next_in, s.avail_in = data, #data
  local out = {}
  while true do
    s.next_out, s.avail_out = buf, OUT
    local rc = z.zz_inflate(s, Z_NO_FLUSH)
    local n = OUT - s.avail_out
    if n > 0 then
      self.total = self.total + n
      if self.total > self.max then
        close(self)
        return nil, "too_large"
      end
      out[#out + 1] = ffi.string(buf, n)
    end
    if rc == Z_STREAM_END then
      self.ended = true
      if s.avail_in > 0 then
        close(self)
        return nil, "data after the end of the compressed stream"
      end
      break
    elseif rc == Z_BUF_ERROR or (rc == Z_OK and s.avail_in == 0 and s.avail_out > 0) then
      break -- needs more input
    elseif rc ~= Z_OK then
      local msg = s.msg ~= nil and ffi.string(s.msg) or ("error " .. rc)
      close(self)
      return nil, "invalid compressed body: " .. msg
    end
  end
  return table.concat(out)
end

--- Ends the stream: true if it was complete, else nil, err. Frees zlib's state either way.
function Inflater:finish()
  local ended = self.ended
  close(self)
  if not ended then return nil, "compressed body is truncated" end
  return true
end

--- Decompresses a whole gzip or zlib buffer (at most max_bytes out). Returns bytes or nil, err.
function M.inflate(data, max_bytes)
  local inf, err = M.inflater(max_bytes)
  if not inf then return nil, err end
  local out
  out, err = inf:feed(data)
  if not out then return nil, err end
  local done
  done, err = inf:finish()
  if not done then return nil, err end
  return out
end

return M
