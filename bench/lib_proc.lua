--- The benchmarks' reading of their own process (/proc/self/status), without the rest of
-- bench/lib_support (which loads the nginx helpers: not what a child measuring its peak resident
-- set should carry).
local M = {}

--- A /proc/self/status figure in KiB: "VmHWM" (peak resident set), "VmRSS" (resident set now).
function M.status_kib(field)
  local f = assert(io.open("/proc/self/status"))
  local s = f:read("a")
  f:close()
  return tonumber(s:match(field .. ":%s*(%d+)"))
end

return M
