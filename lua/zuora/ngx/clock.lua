--- zuora.ngx.clock: the monotonic clock of core.http.now (CLOCK_MONOTONIC, seconds as a double),
-- read through LuaJIT's FFI where it can be: a call of a C function through the Lua API leaves a
-- LuaJIT trace (it is not compiled), and the cosocket client reads the clock several times a
-- request; an FFI call is compiled into the trace. Same clock and the same arithmetic as
-- zz_now() in src/http_xfer.c, so values from either can be compared. Elsewhere (no FFI, not
-- Linux, or clock_gettime already declared otherwise by other code), core.http.now itself.
local core = require "zuora.core"

local M = { now = core.http.now }

local ok, ffi = pcall(require, "ffi")
if ok and ffi.os == "Linux" then
  -- (fails harmlessly when the same declarations were made before)
  pcall(ffi.cdef, [[
    struct zuora_ngx_timespec { long tv_sec; long tv_nsec; };
    int clock_gettime(int clk_id, struct zuora_ngx_timespec *tp);
  ]])
  local made, ts = pcall(ffi.new, "struct zuora_ngx_timespec")
  if made then
    local C, tonumber = ffi.C, tonumber
    local CLOCK_MONOTONIC = 1 -- Linux
    local function now()
      C.clock_gettime(CLOCK_MONOTONIC, ts)
      return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
    end
    -- used only when it works and agrees with core.http.now (clock_gettime may have been declared
    -- with another struct by other code: the call then fails)
    local a = core.http.now()
    local called, b = pcall(now)
    local c = core.http.now()
    if called and b >= a and b <= c then M.now = now end
  end
end

return M
