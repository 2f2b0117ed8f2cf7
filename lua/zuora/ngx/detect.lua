--- Is this code running inside ngx_lua (nginx or OpenResty), and in which phase? Kept tiny and
-- free of ngx references at load time, so the plain Lua client can ask without loading any
-- OpenResty module.
local M = {}

-- Phases in which ngx_lua offers cosockets, ngx.sleep and ngx.thread.
M.COSOCKET_PHASES = {
  rewrite = true, access = true, content = true, timer = true,
  ssl_cert = true, ssl_session_fetch = true, ssl_client_hello = true, preread = true,
}

--- The ngx table when running inside ngx_lua, else nil.
function M.ngx()
  local ngx = rawget(_G, "ngx")
  if type(ngx) == "table" and type(ngx.get_phase) == "function" and type(ngx.socket) == "table"
    and type(ngx.config) == "table" and ngx.config.ngx_lua_version then
    return ngx
  end
  return nil
end

--- True when a client should use the cosocket runtime. `transport` is the client option:
-- nil/"auto" (decide by the environment), "ngx" or "curl". Raises (at `level`, seen from the
-- caller) for a value that cannot work here: libcurl blocks, so it is refused inside nginx.
function M.wanted(transport, level)
  level = (level or 1) + 1
  local inside = M.ngx() ~= nil
  if transport == nil or transport == "auto" then return inside end
  if transport == "ngx" then
    if not inside then error("zuora.new: transport 'ngx' needs ngx_lua (nginx or OpenResty)", level) end
    return true
  end
  if transport == "curl" then
    if inside then
      error("zuora.new: transport 'curl' is refused inside nginx: libcurl would block the worker "
        .. "(leave transport unset to use cosockets)", level)
    end
    return false
  end
  error("zuora.new: option 'transport' must be \"auto\", \"curl\" or \"ngx\"", level)
end

--- Raises a clear error unless the current ngx_lua phase offers cosockets. `what` names the
-- attempted action ("a Zuora call", "spawn", ...).
function M.check_phase(what, level)
  local ngx = M.ngx()
  local phase = ngx and ngx.get_phase() or "unknown"
  if not M.COSOCKET_PHASES[phase] then
    error(("zuora: %s cannot run in nginx's '%s' phase: ngx_lua has no cosockets there and blocking "
      .. "libcurl would stall the worker; call Zuora from a rewrite, access or content handler, or from "
      .. "a timer (ngx.timer.at)"):format(what, phase), (level or 1) + 1)
  end
  return ngx
end

return M
