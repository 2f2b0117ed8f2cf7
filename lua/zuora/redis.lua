--- zuora.redis: what the library's Redis users share (zuora.callouts' de-duplication store,
-- zuora.governor's shared budget): the redis:// URL and the client module to use inside nginx.
-- Outside nginx the client is the C core's `core.redis` (hiredis).
local url = require("zuora.core").url

local M = {}

--- Parses redis://[:password@]host[:port][/db]; raises on anything else (a configuration mistake),
-- naming the option `what` ("callouts: dedupe.redis") at `level`.
function M.parse_url(s, what, level)
  level = (level or 1) + 1
  local rest = type(s) == "string" and s:match("^redis://(.+)$")
  if not rest then error(what .. " must be a redis://host:port[/db] URL", level) end
  local password
  local at = rest:find("@[^@]*$")
  if at then
    local cred = rest:sub(1, at - 1)
    password = cred:match("^[^:]*:(.*)$") or cred
    rest = rest:sub(at + 1)
  end
  local host, port, db = rest:match("^([%w%.%-]+):?(%d*)/?(%d*)$")
  if not host then error(what .. ": cannot read host, port and database of the URL", level) end
  if password then password = url.unescape(password) end
  return { host = host, port = tonumber(port) or 6379, db = tonumber(db), password = password }
end

--- The cosocket Redis client inside nginx: OpenResty ships it as resty.redis; Debian's
-- lua-nginx-redis installs the same code as nginx.redis. nil when neither is there.
function M.ngx_module()
  local ok, mod = pcall(require, "resty.redis")
  if ok then return mod end
  ok, mod = pcall(require, "nginx.redis")
  if ok then return mod end
  return nil
end

--- Inside nginx: a connected resty.redis object for `conf` ({host, port, password, db}, as parse_url
-- returns), from nginx's connection pool (a fresh connection authenticates; the database is
-- selected each time), with `timeout_ms` for every operation. nil, err on failure.
function M.ngx_connect(conf, timeout_ms)
  local mod = M.ngx_module()
  if not mod then return nil, "needs resty.redis inside nginx (Debian: lua-nginx-redis)" end
  local red = mod:new()
  red:set_timeout(timeout_ms)
  local ok, err = red:connect(conf.host, conf.port)
  if not ok then return nil, "redis connect: " .. tostring(err) end
  if conf.password and (red:get_reused_times() or 0) == 0 then
    ok, err = red:auth(conf.password)
    if not ok then red:close(); return nil, "redis auth: " .. tostring(err) end
  end
  if conf.db then
    ok, err = red:select(conf.db)
    if not ok then red:close(); return nil, "redis select: " .. tostring(err) end
  end
  return red
end

return M
