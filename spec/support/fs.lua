--- Spec helper: the small file and shell helpers specs and their support modules share.
--
--   local fs = require "spec.support.fs"
--   local dir = fs.tmpdir("my-spec")          -- /tmp/zuora-my-spec.XXXXXX
--   fs.write(dir .. "/in", data); assert(fs.sh("gzip -k " .. fs.q(dir .. "/in")))
--   fs.read(dir .. "/in.gz"); fs.sh("rm -rf " .. fs.q(dir))
local M = {}

--- `s` quoted for a POSIX shell.
function M.q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

--- The contents of `path`, or nil when it cannot be opened.
function M.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

--- Writes `data` to `path`; raises when it cannot.
function M.write(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

--- Runs a shell command: true when it exits 0 (on Lua 5.4 and LuaJIT alike), and its exit code.
function M.sh(cmd)
  local ok, _, code = os.execute(cmd)
  return ok == true or ok == 0, code
end

--- Everything a shell command writes to stdout.
function M.sh_read(cmd)
  local p = assert(io.popen(cmd))
  local s = p:read("a")
  p:close()
  return s
end

--- A fresh temporary directory /tmp/zuora-`name`.XXXXXX.
function M.tmpdir(name)
  local p = assert(io.popen("mktemp -d /tmp/zuora-" .. name .. ".XXXXXX"))
  local dir = p:read("l")
  p:close()
  return dir
end

--- Sleeps `s` seconds (a shell `sleep`: specs run without a sleeping C module).
function M.sleep(s) M.sh(("sleep %.3f"):format(s)) end

--- True when the suite runs as root.
function M.is_root()
  local p = io.popen("id -u")
  local id = p:read("l")
  p:close()
  return id == "0"
end

--- The pid of this process (so a child can exit with it).
function M.my_pid() return (M.read("/proc/self/stat") or ""):match("^(%d+)") end

return M
