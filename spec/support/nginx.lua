--- Starts a throwaway nginx (with ngx_lua) on free loopback ports for specs and benchmarks.
--
--   local nginx = require "spec.support.nginx"
--   local srv = nginx.start{ ports = 1, http = [[ server { listen 127.0.0.1:${port1}; ... } ]] }
--   srv.url  --> "http://127.0.0.1:<port1>"
--   srv:stop()
--
-- `http` is the body of the http{} block; `${port1}`..`${portN}`, `${prefix}` and `${root}` (the
-- checkout) are substituted. `main` is extra main-context configuration. nginx runs daemonized
-- in a temporary prefix with one worker; sanitizer preloads are kept out of it.
local fs = require "spec.support.fs"

local M = {}

local ROOT = os.getenv("PWD") or "."
local LUA_MODULES = "/usr/lib/nginx/modules"

local sh, read, write, sleep = fs.sh, fs.read, fs.write, fs.sleep

--- The nginx binary: on PATH, else in the sbin folders a normal user's PATH lacks (as bin/zuora-sim).
M.BIN = (function()
  local p = io.popen('PATH="$PATH:/usr/sbin:/usr/local/sbin:/sbin" command -v nginx 2>/dev/null')
  local path = p and p:read("l")
  if p then p:close() end
  return path or "nginx"
end)()

--- True when something accepts TCP connections on loopback `port`.
function M.listening(port)
  return sh(("bash -c 'exec 3<>/dev/tcp/127.0.0.1/%d' 2>/dev/null"):format(port))
end
local listening = M.listening

--- A loopback TCP port nothing listens on (bash's /dev/tcp connect fails), not in `taken`.
function M.free_port(taken)
  taken = taken or {}
  for _ = 1, 200 do
    local port = math.random(20000, 60999)
    if not taken[port] and not listening(port) then
      return port
    end
  end
  error("no free loopback port found")
end

--- A running nginx (its prefix, port(s) and url); openresty.start_conf's servers are ones too.
-- Connections a worker may hold: 4096, or fewer when this process may open fewer descriptors (a
-- user's limit is often 1024), where nginx would warn into the error log the specs read.
local WORKER_CONNECTIONS = math.min(4096, tonumber(fs.sh_read("ulimit -n")) or 4096)

local Server = {}
Server.__index = Server
M.Server = Server

function Server:errlog()
  return read(self.prefix .. "/logs/error.log") or ""
end

function Server:pid()
  return tonumber((read(self.prefix .. "/logs/nginx.pid") or ""):match("%d+"))
end

--- Stops nginx and removes its prefix (keep it with `keep = true` for debugging).
function Server:stop(keep)
  if self.stopped then return end
  self.stopped = true
  local pid = self:pid()
  if pid then
    sh(("kill -TERM %d 2>/dev/null"):format(pid))
    -- nginx removes its pid file as it exits; a zombie left for a slow init would fool kill -0.
    for _ = 1, 300 do
      if not self:pid() then break end
      sleep(0.01)
    end
    if self:pid() then sh(("kill -KILL %d 2>/dev/null"):format(pid)) end
  end
  if not keep then sh(("rm -rf '%s'"):format(self.prefix)) end
end

Server.__close = Server.stop
Server.__gc = function(self) self:stop() end

--- `template` with each ${name} replaced by vars[name]; raises on an unknown name.
function M.render(template, vars)
  return (template:gsub("%${([%w_]+)}", function(k)
    local v = vars[k]
    if v == nil then error("nginx template: unknown variable ${" .. k .. "}", 0) end
    return tostring(v)
  end))
end

--- Starts nginx. Options: http (string, required), main (string), ports (count, default 1),
-- vars (extra template variables), wrap (a command nginx runs under, e.g. valgrind: nginx then
-- runs as one foreground process, backgrounded), wait (seconds to wait for the port, default 5).
-- Returns a Server with url, port, ports, prefix.
function M.start(opts)
  assert(type(opts) == "table" and type(opts.http) == "string", "nginx.start{http = ...} required")
  local nports = opts.ports or 1
  local prefix = fs.tmpdir("nginx")
  sh(("mkdir -p '%s/logs' '%s/conf' && chmod 755 '%s'"):format(prefix, prefix, prefix))

  local last_err
  for _ = 1, 8 do
    local vars, taken, ports = { prefix = prefix, root = ROOT }, {}, {}
    for k, v in pairs(opts.vars or {}) do vars[k] = v end
    for i = 1, nports do
      local port = M.free_port(taken)
      taken[port], ports[i], vars["port" .. i] = true, port, port
    end
    local conf = table.concat({
      "load_module " .. LUA_MODULES .. "/ndk_http_module.so;",
      "load_module " .. LUA_MODULES .. "/ngx_http_lua_module.so;",
      fs.is_root() and "user root root;" or "",
      "worker_processes " .. (opts.workers or 1) .. ";",
      opts.wrap and "daemon off;" or "daemon on;",
      opts.wrap and "master_process off;" or "master_process on;",
      "pid " .. prefix .. "/logs/nginx.pid;",
      "error_log " .. prefix .. "/logs/error.log " .. (opts.log_level or "warn") .. ";",
      "events { worker_connections " .. WORKER_CONNECTIONS .. "; }",
      M.render(opts.main or "", vars),
      "http {",
      "  access_log off;",
      "  client_body_temp_path " .. prefix .. "/tmp_body;",
      "  lua_package_path '" .. ROOT .. "/sim/?.lua;" .. ROOT .. "/lua/?.lua;" .. ROOT
        .. "/lua/?/init.lua;/usr/share/lua/5.1/?.lua;;';",
      M.render(opts.http, vars),
      "}",
      "",
    }, "\n")
    write(prefix .. "/conf/nginx.conf", conf)
    local cmd = "env -u LD_PRELOAD " .. (opts.wrap and (opts.wrap .. " ") or "") .. fs.q(M.BIN)
      .. (" -p '%s' -c '%s/conf/nginx.conf' -e '%s/logs/error.log' 2>>'%s/logs/start.log'"):format(prefix, prefix,
      prefix, prefix)
    -- (with `wrap`, nginx runs in the foreground, one process, under that command, in the background)
    local ok = sh(opts.wrap and (cmd .. " >/dev/null &") or cmd)
    if ok then
      local up = false
      for _ = 1, (opts.wait or 5) * 100 do
        up = listening(ports[1])
        if up then break end
        sleep(0.01)
      end
      local srv = setmetatable({
        prefix = prefix, ports = ports, port = ports[1],
        url = "http://127.0.0.1:" .. ports[1],
      }, Server)
      if up then return srv end
      last_err = "nginx started but port " .. ports[1] .. " never accepted: " .. srv:errlog()
      srv:stop(true)
    else
      last_err = (read(prefix .. "/logs/start.log") or "") .. (read(prefix .. "/logs/error.log") or "")
      if not last_err:find("Address already in use", 1, true) then break end
    end
  end
  error("nginx failed to start: " .. tostring(last_err), 2)
end

return M
