--- Spec helper: runs bin/zuora as a user would, with the suite's interpreter, a clean
-- environment (no ZUORA_* variables, private XDG config and state directories) and captured
-- stdout, stderr and exit status; and drives an interactive session through a pseudo-terminal
-- (util-linux `script`), sending each input only once the previous output has arrived.
--
--   local cli = require "spec.support.cli"
--   local r = cli.run({ "call", "accounts.retrieve", "A1" }, { env = { ZUORA_BASE_URL = s.url, ... } })
--   r.code, r.stdout, r.stderr
--   local t = cli.pty({ "repl" }, { env = ... }); t:expect("zuora> "); t:send("1 + 1\r"); t:close()
--   local t = cli.pty({ "call", ... }, { env = ..., status = true }); ...; t:status() -- its exit status
local LUA = require "spec.support.lua"
local fs = require "spec.support.fs"

local M = {}

local ROOT = os.getenv("PWD") or "."
M.ROOT = ROOT

local q, read, write, sleep = fs.q, fs.read, fs.write, fs.sleep
M.q, M.read, M.write, M.sleep = q, read, write, sleep

--- `s` without ANSI escape sequences, carriage returns and readline's \1 \2 prompt markers.
function M.strip_ansi(s)
  return (s:gsub("\27%[[%d;?]*[%a]", ""):gsub("[\1\2\r]", ""))
end

--- A fresh temporary directory.
function M.tmpdir() return fs.tmpdir("cli-spec") end

local ZUORA_VARS = { "ZUORA_PROFILE", "NO_COLOR" }
for var in pairs(require("zuora").ENV) do ZUORA_VARS[#ZUORA_VARS + 1] = var end
table.sort(ZUORA_VARS)

-- The shell prefix that runs bin/zuora in a clean environment plus `env`.
local function command(args, opts)
  opts = opts or {}
  local parts = { "env" }
  for _, var in ipairs(ZUORA_VARS) do parts[#parts + 1] = "-u " .. var end
  local env = { XDG_CONFIG_HOME = opts.config_home or "/nonexistent-zuora-config",
    XDG_STATE_HOME = opts.state_home or "/nonexistent-zuora-state", COLUMNS = "100" }
  for k, v in pairs(opts.env or {}) do env[k] = v end
  local keys = {}
  for k in pairs(env) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    if env[k] ~= false then parts[#parts + 1] = k .. "=" .. q(env[k]) end
  end
  parts[#parts + 1] = q(LUA)
  parts[#parts + 1] = q(ROOT .. "/bin/zuora")
  for _, a in ipairs(args) do parts[#parts + 1] = q(a) end
  return table.concat(parts, " ")
end
M.command = command

--- Runs `zuora args...`; opts: env (table; false removes), stdin (string), config_home, state_home.
-- Returns { code, stdout, stderr }.
function M.run(args, opts)
  opts = opts or {}
  local dir = M.tmpdir()
  local input = "/dev/null"
  if opts.stdin then
    input = dir .. "/in"
    write(input, opts.stdin)
  end
  local cmd = ("%s <%s >%s 2>%s; echo $?"):format(command(args, opts), q(input), q(dir .. "/out"), q(dir .. "/err"))
  local p = assert(io.popen(cmd))
  local status = p:read("a")
  p:close()
  local r = { code = tonumber(status:match("(%d+)%s*$")), stdout = read(dir .. "/out") or "",
    stderr = read(dir .. "/err") or "" }
  os.execute("rm -rf " .. q(dir))
  return r
end

--- `s` without ANSI escape sequences and carriage returns (what a terminal shows, as text).
function M.strip_ansi(s)
  return (s:gsub("\27%[[%d;?]*[%a]", ""):gsub("\r", ""))
end

local Pty = {}
Pty.__index = Pty

--- Starts `zuora args...` on a pseudo-terminal (TERM=xterm). Input goes through a FIFO so it is
-- sent step by step; everything the terminal shows accumulates in t.output.
function M.pty(args, opts)
  opts = opts or {}
  opts.env = opts.env or {}
  if opts.env.TERM == nil then opts.env.TERM = "xterm" end
  local dir = M.tmpdir()
  local fifo, out = dir .. "/in", dir .. "/out"
  assert(os.execute("mkfifo " .. q(fifo)))
  local inner = command(args, opts)
  -- opts.status: the terminal shows "[exit N]" when the command ends (see Pty:status)
  if opts.status then inner = inner .. '; echo "[exit $?]"' end
  -- Opened read-write, the FIFO does not wait for its reader, so the shell below never blocks.
  local w = assert(io.open(fifo, "r+"))
  local p = assert(io.popen(("script -q -e -c %s /dev/null <%s >%s 2>&1 & echo $!"):format(q(inner), q(fifo),
    q(out))))
  local pid = tonumber(p:read("a"):match("%d+"))
  p:close()
  return setmetatable({ dir = dir, out = out, w = w, seen = 0, pid = pid }, Pty)
end

--- Everything the terminal has shown so far.
function Pty:text() return read(self.out) or "" end

--- Waits until `plain` (a plain string) appears after what earlier expects consumed; returns the
-- text up to and including it. Raises after `timeout` seconds (10) with what was seen.
function Pty:expect(plain, timeout)
  local deadline = os.time() + (timeout or 10)
  while true do
    local text = self:text()
    local i, j = text:find(plain, self.seen + 1, true)
    if i then
      local chunk = text:sub(self.seen + 1, j)
      self.seen = j
      return chunk
    end
    if os.time() > deadline then
      error(("pty: %q did not appear; the terminal shows:\n%s"):format(plain, text:sub(self.seen + 1)), 2)
    end
    sleep(0.05)
  end
end

--- The exit status of a session started with opts.status, waiting for it (up to `timeout` s).
function Pty:status(timeout)
  self:expect("[exit ", timeout)
  return tonumber(self:expect("]", timeout):match("^(%d+)%]"))
end

--- Types `s` (use "\r" for Enter, "\t" for Tab, "\4" for Ctrl-D, "\3" for Ctrl-C).
function Pty:send(s)
  self.w:write(s)
  self.w:flush()
end

--- Ends the session abruptly, as a closed terminal window would: SIGHUP to the command.
function Pty:hangup()
  os.execute(("pkill -HUP -P %d 2>/dev/null"):format(self.pid))
end

local function alive(pid)
  local stat = read("/proc/" .. pid .. "/stat") -- gone, or a zombie nobody reaped yet
  return stat ~= nil and not stat:match("^%d+ %(.-%) Z")
end

--- Closes the input and waits (up to 10 s) for the session to end, then kills what is left of
-- it; returns the whole output.
function Pty:close()
  if self.w then
    self.w:close()
    self.w = nil
  end
  for _ = 1, 200 do
    if not alive(self.pid) then break end
    sleep(0.05)
  end
  if alive(self.pid) then
    os.execute(("pkill -KILL -P %d 2>/dev/null; kill -KILL %d 2>/dev/null"):format(self.pid, self.pid))
  end
  local text = self:text()
  os.execute("rm -rf " .. q(self.dir))
  return text
end

return M
