--- Spec and bench helper: runs processes of the shared-budget scenario (spec/support/governor_worker.lua)
-- in the background and collects what each printed.
--
--   local h = budget.launch{ url = s.url, redis = r.url, procs = 4, count = 100, concurrency = 40,
--                            ids = ids, lease = 10, delay = 0.5 }
--   local outs = h:wait(30)        -- one decoded JSON line per process (nil for one that died)
--   h:kill(1)                      -- SIGKILL process 1
local core = require "zuora.core"
local fs = require "spec.support.fs"
local LUA = require "spec.support.lua"

local M = {}

local H = {}
H.__index = H

local ROOT = os.getenv("PWD") or "."

local function wall() return tonumber(fs.sh_read("date +%s.%N")) end
M.wall = wall

--- Starts `o.procs` processes that begin their map together, `o.delay` seconds from now.
function M.launch(o)
  local dir = fs.tmpdir("budget")
  local h = setmetatable({ dir = dir, n = o.procs, outs = {}, errs = {} }, H)
  h.start = wall() + (o.delay or 0.5)
  -- The suite's own interpreter and C core (under `make test-asan` the sanitized host and build/asan,
  -- the only build a clean checkout has at that point).
  local env = ("LUA_PATH=%s LUA_CPATH=%s"):format(fs.q(ROOT .. "/lua/?.lua;" .. ROOT .. "/lua/?/init.lua;;"),
    fs.q(os.getenv("LUA_CPATH") or (ROOT .. "/build/lua5.4/?.so;;")))
  for p = 1, o.procs do
    h.outs[p], h.errs[p] = dir .. "/out" .. p, dir .. "/err" .. p
    local conc = o.concurrency
    fs.sh(("%s %s %s %s %s %d %d %.3f %s %s %s >%s 2>%s & echo $! >%s"):format(env, fs.q(LUA),
      fs.q(ROOT .. "/spec/support/governor_worker.lua"), fs.q(o.url), fs.q(o.redis or "-"), o.count, conc, h.start,
      tostring(o.lease or 10), table.concat(o.ids, ","), tostring(o.max_concurrency or conc),
      fs.q(h.outs[p]), fs.q(h.errs[p]), fs.q(dir .. "/pid" .. p)))
  end
  return h
end

function H:pid(p) return tonumber(fs.read(self.dir .. "/pid" .. p) or "") end

function H:kill(p)
  local pid = self:pid(p)
  if pid then fs.sh(("kill -KILL %d 2>/dev/null"):format(pid)) end
  self.killed = self.killed or {}
  self.killed[p] = true
end

--- Waits at most `timeout` seconds for every process not killed; returns their decoded lines
-- (indexed by process) and their stderr texts.
function H:wait(timeout)
  local deadline = wall() + timeout
  local res, errs = {}, {}
  while true do
    local pending = 0
    for p = 1, self.n do
      if not res[p] and not (self.killed and self.killed[p]) then
        local line = (fs.read(self.outs[p]) or ""):match("(%b{})")
        if line then res[p] = assert(core.json.decode(line)) else pending = pending + 1 end
      end
    end
    if pending == 0 or wall() > deadline then break end
    fs.sleep(0.05)
  end
  for p = 1, self.n do errs[p] = fs.read(self.errs[p]) or "" end
  return res, errs
end

function H:cleanup()
  for p = 1, self.n do
    local pid = self:pid(p)
    if pid then fs.sh(("kill -KILL %d 2>/dev/null"):format(pid)) end
  end
  fs.sh(("rm -rf %s"):format(fs.q(self.dir)))
end

return M
