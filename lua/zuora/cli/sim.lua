--- zuora-sim from the CLI: `zuora sim` runs it in the foreground, `--sim` starts one for the
-- session (on a free port, stopped when the command ends) and returns its URL and credentials.
local M = {}

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function readable(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

--- The zuora-sim launcher: next to this command (a checkout's bin/ or the installed bin
-- directory), else the one on PATH.
function M.launcher(bindir)
  if bindir and readable(bindir .. "/zuora-sim") then return bindir .. "/zuora-sim" end
  return "zuora-sim"
end

local function my_pid()
  local f = io.open("/proc/self/stat", "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s:match("^(%d+)")
end

local Sim = {}
Sim.__index = Sim

--- Starts a simulator; returns `{url, client_id, client_secret, pid, stop = fn}` or nil, message.
-- `--exit-with` ties it to this process, so it goes away even if we are killed.
function M.start(bindir, extra)
  local tmp = os.tmpname()
  local parent = my_pid()
  local cmd = ("%s --port 0 %s%s 2>%s </dev/null"):format(q(M.launcher(bindir)),
    parent and ("--exit-with " .. parent .. " ") or "", extra or "", q(tmp))
  local p = io.popen(cmd, "r")
  if not p then return nil, "cannot start zuora-sim" end
  local lines = {}
  for line in p:lines() do
    if line == "ready" then break end
    lines[#lines + 1] = line
  end
  local info = {}
  for i = 2, #lines do
    local k, v = lines[i]:match("^(%S+) (.+)$")
    if k then info[k] = v end
  end
  local s = setmetatable({ pipe = p, url = lines[1], info = info, pid = tonumber(info.pid), errfile = tmp,
    client_id = "zuora-sim-client", client_secret = "zuora-sim-secret" }, Sim)
  if not s.url or not s.url:match("^https?://") or not s.pid then
    p:close()
    local ef = io.open(tmp, "rb")
    local err = ef and ef:read("a") or ""
    if ef then ef:close() end
    os.remove(tmp)
    return nil, "zuora-sim did not start" .. (err ~= "" and (": " .. err:gsub("%s+$", "")) or "")
  end
  return s
end

--- Stops the simulator and waits for it to clean up.
function Sim:stop()
  if self.stopped then return end
  self.stopped = true
  os.execute(("kill -TERM %d 2>/dev/null"):format(self.pid))
  self.pipe:close()
  os.remove(self.errfile)
end

--- Runs zuora-sim in the foreground with `args` (an array of strings); returns 0 or 1.
function M.run(bindir, args)
  local parts = { q(M.launcher(bindir)) }
  -- Tied to this process, so a kill of `zuora sim` does not leave the simulator behind.
  local parent = my_pid()
  if parent then parts[#parts + 1] = "--exit-with " .. parent end
  for _, a in ipairs(args or {}) do parts[#parts + 1] = q(a) end
  local ok = os.execute(table.concat(parts, " "))
  return ok and 0 or 1
end

return M
