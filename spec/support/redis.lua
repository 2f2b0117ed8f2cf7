--- Spec helper: a redis-server of its own on a free loopback port, in a scratch folder, without
-- persistence; stopped (and its folder removed) by :stop(). :pause()/:resume() stop and restart
-- the same server on the same port (a Redis outage in the middle of a run).
--
--   local redis = require("spec.support.redis").start()
--   redis.url  -- "redis://127.0.0.1:PORT/0";   redis:call("KEYS", "*");   redis:stop()
local core = require "zuora.core"
local fs = require "spec.support.fs"
local nginx = require "spec.support.nginx"

local M = {}

local Redis = {}
Redis.__index = Redis

function Redis:_launch()
  local cmd = ("redis-server --port %d --bind 127.0.0.1 --save '' --appendonly no --dir %s --daemonize yes "
    .. "--pidfile %s --logfile %s"):format(self.port, fs.q(self.dir), fs.q(self.dir .. "/redis.pid"),
    fs.q(self.dir .. "/redis.log"))
  assert(fs.sh(cmd), "redis-server did not start")
  for _ = 1, 300 do
    local c = core.redis.connect("127.0.0.1", self.port, 0.2)
    if c and c:call("PING") == "PONG" then c:close(); return end
    fs.sleep(0.01)
  end
  error("redis-server did not answer: " .. tostring(fs.read(self.dir .. "/redis.log")))
end

--- Starts a redis-server; returns the handle.
function M.start()
  local self = setmetatable({ dir = fs.tmpdir("redis-spec") }, Redis)
  for try = 1, 5 do -- a port found free may be taken by the time redis-server binds it
    self.port = nginx.free_port()
    self.url = ("redis://127.0.0.1:%d/0"):format(self.port)
    local ok, err = pcall(self._launch, self)
    if ok then return self end
    if try == 5 then error(err, 2) end
  end
end

--- One command over a fresh connection (for assertions).
function Redis:call(...)
  local c = assert(core.redis.connect("127.0.0.1", self.port, 1))
  local r, err = c:call(...)
  c:close()
  return r, err
end

--- Stops the server (SIGTERM) and waits until its port is closed.
function Redis:pause()
  local pid = tonumber(fs.read(self.dir .. "/redis.pid") or "")
  if pid then fs.sh(("kill -TERM %d 2>/dev/null"):format(pid)) end
  for _ = 1, 500 do
    if not nginx.listening(self.port) then return end
    fs.sleep(0.01)
  end
end

function Redis:resume() self:_launch() end

function Redis:stop()
  if self.stopped then return end
  self.stopped = true
  self:pause()
  fs.sh(("rm -rf %s"):format(fs.q(self.dir)))
end

return M
