--- Spec helper: nginx with ngx_lua running lua-zuora on the project's LuaJIT build.
--
--   local openresty = require "spec.support.openresty"
--   local srv = openresty.start_conf{ conf = "examples/openresty/nginx.conf",
--                                     vars = { workers = 1 }, env = { ZUORA_BASE_URL = url } }
--   local srv = openresty.start{ http = [[ server { ... } ]] }   -- spec.support.nginx, plus the core
--   srv.url, srv:errlog(), srv:stop()
--
-- Both build build/luajit/zuora/core.so first (`make LUA=luajit`, quick when it is up to date), so
-- the OpenResty specs also work from a fresh checkout where only the Lua 5.4 build exists.
local fs = require "spec.support.fs"
local nginx = require "spec.support.nginx"

local M = {}

local ROOT = os.getenv("PWD") or "."

local sh, read, q = fs.sh, fs.read, fs.q

local built = false
--- Builds the C core for LuaJIT (once per process).
function M.build()
  if built then return end
  if not sh("make --no-print-directory -s -C " .. q(ROOT) .. " LUA=luajit build >/dev/null") then
    error("make LUA=luajit failed: the OpenResty specs need build/luajit/zuora/core.so", 2)
  end
  built = true
end

--- The first nameserver of /etc/resolv.conf (for nginx's `resolver`), or 127.0.0.1.
function M.resolver()
  for line in (read("/etc/resolv.conf") or ""):gmatch("[^\n]+") do
    local ns = line:match("^%s*nameserver%s+([%d%.]+)%s*$")
    if ns then return ns end
  end
  return "127.0.0.1"
end

--- nginx.start with the LuaJIT build of the C core on lua_package_cpath and the checkout root on
-- package.path (so handlers can require spec.support.* modules). opts.init: Lua code for
-- init_by_lua (the helper owns that directive).
function M.start(opts)
  M.build()
  local o = {}
  for k, v in pairs(opts) do o[k] = v end
  o.http = "lua_package_cpath '${root}/build/luajit/?.so;;';\n"
    .. "init_by_lua_block {\n  package.path = '${root}/?.lua;' .. package.path\n" .. (opts.init or "") .. "\n}\n"
    .. opts.http
  o.init = nil
  return nginx.start(o)
end

local Server = nginx.Server

--- Renders a whole nginx.conf template (`conf`: a path relative to the checkout) and starts it
-- daemonized. Variables: root, prefix, port, workers (1), user, resolver, plus opts.vars; opts.env
-- is the environment nginx starts with (passed on to workers by the conf's `env` lines).
function M.start_conf(opts)
  M.build()
  local template = assert(read(ROOT .. "/" .. opts.conf), "cannot read " .. opts.conf)
  local prefix = fs.tmpdir("openresty")
  sh(("mkdir -p %s/logs %s/conf && chmod 755 %s"):format(q(prefix), q(prefix), q(prefix)))
  local last
  for _ = 1, 8 do
    local port = nginx.free_port()
    local vars = { root = ROOT, prefix = prefix, port = port, workers = 1,
      user = fs.is_root() and "user root root;" or "", resolver = M.resolver() }
    for k, v in pairs(opts.vars or {}) do vars[k] = v end
    fs.write(prefix .. "/conf/nginx.conf", nginx.render(template, vars))
    local env = {}
    for k, v in pairs(opts.env or {}) do env[#env + 1] = k .. "=" .. q(v) end
    local ok = sh(("env -u LD_PRELOAD %s %s -p %s -c %s/conf/nginx.conf -g 'daemon on; master_process on;' "
      .. "2>>%s/logs/start.log"):format(table.concat(env, " "), q(nginx.BIN), q(prefix), q(prefix), q(prefix)))
    if ok then
      for _ = 1, 500 do
        if nginx.listening(port) then
          return setmetatable({ prefix = prefix, port = port, url = "http://127.0.0.1:" .. port }, Server)
        end
        sh("sleep 0.01")
      end
      last = "nginx started but never accepted on port " .. port
      setmetatable({ prefix = prefix }, Server):stop()
      break
    end
    last = (read(prefix .. "/logs/start.log") or "") .. (read(prefix .. "/logs/error.log") or "")
    if not last:find("Address already in use", 1, true) then break end
  end
  sh("rm -rf " .. q(prefix))
  error("nginx failed to start: " .. tostring(last), 2)
end

--- Runs `curl` requests concurrently; each spec is { method, url, body, headers }. Returns for each
-- { status, body, time } (time: curl's total seconds).
function M.parallel(list)
  local dir = fs.tmpdir("curl")
  local cmds = {}
  for i, o in ipairs(list) do
    local args = { "curl", "-s", "-S", "--max-time", "30", "-X", o.method or "GET", "-o", q(dir .. "/b" .. i),
      "-w", q("%{http_code} %{time_total}") }
    for k, v in pairs(o.headers or {}) do args[#args + 1] = "-H"; args[#args + 1] = q(k .. ": " .. v) end
    if o.body then
      fs.write(dir .. "/req" .. i, o.body)
      args[#args + 1] = "--data-binary"
      args[#args + 1] = q("@" .. dir .. "/req" .. i)
    end
    args[#args + 1] = q(o.url)
    cmds[#cmds + 1] = "(" .. table.concat(args, " ") .. " > " .. q(dir .. "/w" .. i) .. " 2>/dev/null) &"
  end
  sh(table.concat(cmds, " ") .. " wait")
  local out = {}
  for i = 1, #list do
    local w = read(dir .. "/w" .. i) or ""
    local code, t = w:match("^(%d+) ([%d.]+)")
    out[i] = { status = tonumber(code) or 0, time = tonumber(t), body = read(dir .. "/b" .. i) or "" }
  end
  sh("rm -rf " .. q(dir))
  return out
end

return M
