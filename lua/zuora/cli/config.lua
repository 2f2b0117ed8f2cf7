--- Where the CLI's client options come from: a profile in the configuration file, the ZUORA_*
-- variables, then command-line flags, later layers winning.
--
-- The file is `$XDG_CONFIG_HOME/zuora/config.lua` (or `~/.config/zuora/config.lua`): a Lua chunk
-- run with no globals at all, either returning a table or assigning `default` and `profiles`:
--
--   default = "sandbox"
--   profiles = {
--     sandbox = { environment = "us-cloud2-sandbox", client_id = "...", client_secret = env "ZS_SECRET" },
--     prod = { environment = "us-cloud2-production", client_id = "...", client_secret = "..." },
--   }
--
-- Besides client options a profile may say `production = true` (or false): whether the CLI treats
-- it as production (a distinct REPL prompt, confirmation of one-shot writes). Without it, a
-- production environment or host counts as production. `read_only = true` makes the client
-- read-only, as --read-only does.
--
-- `env "NAME"` (the one function the chunk sees) reads the variable when the profile is used, so
-- the file need not hold the secret. A file that does hold a secret must not be readable by group
-- or others; such a file is refused with the chmod that fixes it.
local zuora_options = require "zuora.options"

local M = {}

-- Options that go together: a layer that sets any of them replaces the whole group, so a profile's
-- username never meets an environment variable's client_id.
local GROUPS = {
  endpoint = { "environment", "base_url" },
  credentials = { "client_id", "client_secret", "username", "password", "access_key_id", "secret_access_key",
    "token" },
}
local SECRETS = { client_secret = true, password = true, secret_access_key = true, token = true }
M.SECRETS = SECRETS

-- The variable a profile field names through env "NAME".
local EnvRef = {}
EnvRef.__index = EnvRef
EnvRef.__tostring = function(r) return 'env "' .. r.name .. '"' end

--- `name` in the XDG base directory `var` (e.g. XDG_CONFIG_HOME), or else in ~/`fallback`; nil
-- without either. `getenv` defaults to os.getenv.
function M.xdg_path(var, fallback, name, getenv)
  getenv = getenv or os.getenv
  local base = getenv(var)
  if not base or base == "" then
    local home = getenv("HOME")
    if not home or home == "" then return nil end
    base = home .. "/" .. fallback
  end
  return base .. "/" .. name
end

--- The configuration file's path (it need not exist).
function M.path(getenv)
  return M.xdg_path("XDG_CONFIG_HOME", ".config", "zuora/config.lua", getenv)
end

-- One permission bit of a mode (arithmetic, so the module also loads under LuaJIT).
local function has_bit(mode, bit) return math.floor(mode / bit) % 2 == 1 end

local function shell_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

--- Permission bits of `path` as a number (e.g. 0x1a4 for 644), or nil.
function M.mode(path)
  for _, fmt in ipairs({ "stat -c %%a -- %s 2>/dev/null", "stat -f %%Lp %s 2>/dev/null" }) do
    local p = io.popen(fmt:format(shell_quote(path)))
    if p then
      local out = p:read("a") or ""
      p:close()
      local octal = out:match("^%s*([0-7]+)%s*$")
      if octal then return tonumber(octal, 8) end
    end
  end
  return nil
end

-- Runs the chunk with a tiny environment and an instruction budget (a runaway loop in a
-- configuration file should fail, not hang the command).
local function run_chunk(text, path)
  local env = {}
  env.env = function(name)
    if type(name) ~= "string" or name == "" then error("env: expected a variable name", 2) end
    return setmetatable({ name = name }, EnvRef)
  end
  local chunk, err = load(text, "@" .. path, "t", env)
  if not chunk then return nil, err end
  local co = coroutine.create(chunk)
  debug.sethook(co, function() error("configuration takes too long to run", 2) end, "", 10000000)
  local ok, ret = coroutine.resume(co)
  if not ok then return nil, tostring(ret) end
  if ret ~= nil then
    if type(ret) ~= "table" then return nil, path .. ": must return a table (or assign default and profiles)" end
    return ret
  end
  env.env = nil
  return env
end

local function check_profile(path, name, p)
  if type(name) ~= "string" then return nil, ("%s: profile names must be strings"):format(path) end
  if type(p) ~= "table" then return nil, ("%s: profile %s must be a table"):format(path, name) end
  for k, v in pairs(p) do
    if k == "production" then
      -- the CLI's own setting (not a client option): whether this profile talks to production
      if type(v) ~= "boolean" then return nil, ("%s: profile %s: production must be a boolean"):format(path, name) end
    elseif type(k) ~= "string" or not zuora_options.spec[k] or k == "on_request" or k == "on_response" then
      return nil, ("%s: profile %s: unknown option %s"):format(path, name, tostring(k))
    elseif getmetatable(v) ~= EnvRef then
      local ok, want = zuora_options.spec[k](v)
      if not ok then return nil, ("%s: profile %s: %s must be %s"):format(path, name, k, want) end
    end
  end
  return true
end

--- Loads the configuration file at `path`. A missing file is an empty configuration. Returns
-- `{ path =, default =, profiles = {} }` or nil, message.
function M.load(path)
  local cfg = { path = path, profiles = {} }
  if not path then return cfg end
  local f = io.open(path, "rb")
  if not f then return cfg end
  local text, rerr = f:read("a")
  f:close()
  if not text then -- a directory by that name, say
    return nil, ("%s: cannot read the configuration file (%s); it must be a Lua file"):format(path, tostring(rerr))
  end
  local t, err = run_chunk(text, path)
  if not t then return nil, err end
  for k in pairs(t) do
    if k ~= "profiles" and k ~= "default" then
      return nil, ("%s: unknown setting %s (the file sets `default` and `profiles`)"):format(path, tostring(k))
    end
  end
  if t.profiles ~= nil and type(t.profiles) ~= "table" then return nil, path .. ": profiles must be a table" end
  if t.default ~= nil and type(t.default) ~= "string" then return nil, path .. ": default must be a profile name" end
  local holding
  for name, p in pairs(t.profiles or {}) do
    local ok, perr = check_profile(path, name, p)
    if not ok then return nil, perr end
    for k, v in pairs(p) do
      if SECRETS[k] and type(v) == "string" then holding = holding or ("%s in profile %s"):format(k, name) end
    end
    cfg.profiles[name] = p
  end
  if t.default and not cfg.profiles[t.default] then
    return nil, ("%s: default profile %s is not defined"):format(path, t.default)
  end
  cfg.default = t.default
  -- Readable by others is a leak when the file holds a secret; writable by anyone is always a
  -- hazard (a changed base_url would send the credentials elsewhere).
  local mode = M.mode(path)
  if not mode then
    if holding then
      return nil, ("%s holds a secret (%s) and its permissions cannot be read"):format(path, holding)
    end
  elseif holding and (has_bit(mode, 0x20) or has_bit(mode, 0x4)) then -- 0044
    return nil, ("%s holds a secret (%s) but is readable by %s (mode %03o); run: chmod 600 %s"):format(path,
      holding, has_bit(mode, 0x4) and "everyone" or "its group", mode, shell_quote(path))
  elseif has_bit(mode, 0x2) then -- 0002
    return nil, ("%s is writable by everyone (mode %03o); run: chmod go-w %s"):format(path, mode, shell_quote(path))
  end
  return cfg
end

-- Copies `layer` over `opts`; a layer touching a group replaces all of that group.
local function merge(opts, layer)
  for _, keys in pairs(GROUPS) do
    local touches = false
    for _, k in ipairs(keys) do if layer[k] ~= nil then touches = true end end
    if touches then for _, k in ipairs(keys) do opts[k] = nil end end
  end
  for k, v in pairs(layer) do opts[k] = v end
end

local function resolve(value, field, profile, getenv)
  if getmetatable(value) ~= EnvRef then return value end
  local v = getenv(value.name)
  if v == nil or v == "" then
    return nil, ("profile %s: %s names the variable %s, which is not set"):format(profile, field, value.name)
  end
  return v
end

--- Builds the client options. `flags`: profile, profile_explicit (given as --profile), env,
-- base_url, zuora_version, sim (`{url =, client_id =, client_secret =}`), read_only. Returns opts,
-- info (`{profile =, sources = {...}, production = bool}`) or nil, message.
function M.client_options(cfg, flags, getenv)
  getenv = getenv or os.getenv
  local opts, sources = {}, {}
  local name = flags.profile or getenv("ZUORA_PROFILE")
  if name == "" then name = nil end
  local explicit = flags.profile ~= nil
  if name and not cfg.profiles[name] then
    local names = {}
    for n in pairs(cfg.profiles) do names[#names + 1] = n end
    table.sort(names)
    return nil, ("no profile %s in %s%s"):format(name, cfg.path or "(no configuration file)",
      #names > 0 and (" (profiles: " .. table.concat(names, ", ") .. ")") or "")
  end
  name = name or cfg.default
  local production
  if name then
    local layer = {}
    for k, v in pairs(cfg.profiles[name]) do
      if k == "production" then
        production = v
      else
        local r, err = resolve(v, k, name, getenv)
        if r == nil then return nil, err end
        layer[k] = r
      end
    end
    merge(opts, layer)
    sources[#sources + 1] = "profile " .. name
  end
  if not explicit then
    local ok, env_opts = pcall(require("zuora").env_options, nil, getenv)
    if not ok then return nil, tostring(env_opts):gsub("^[^:]*:%d+: ", "") end
    -- Both endpoints set is a mistake zuora.new refuses too; the command line may still choose one.
    local function set(var) local v = getenv(var) return v ~= nil and v ~= "" end
    if set("ZUORA_BASE_URL") and set("ZUORA_ENVIRONMENT") and not (flags.env or flags.base_url or flags.sim) then
      return nil, "ZUORA_BASE_URL and ZUORA_ENVIRONMENT are both set; unset one of them (or choose with "
        .. "--base-url or --env)"
    end
    if next(env_opts) then
      merge(opts, env_opts)
      sources[#sources + 1] = "ZUORA_* variables"
    end
  end
  local layer = {}
  if flags.env then layer.environment = flags.env end
  if flags.base_url then layer.base_url = flags.base_url end
  if flags.zuora_version then layer.zuora_version = flags.zuora_version end
  if flags.sim then
    layer.base_url, layer.client_id, layer.client_secret = flags.sim.url, flags.sim.client_id, flags.sim.client_secret
    sources[#sources + 1] = "zuora-sim"
  end
  -- --env or --base-url alone moves the endpoint and keeps the credentials.
  if layer.environment then opts.base_url = nil end
  if layer.base_url then opts.environment = nil end
  for k, v in pairs(layer) do opts[k] = v end
  if next(layer) and not flags.sim then sources[#sources + 1] = "command line" end

  if not opts.environment and not opts.base_url then
    return nil, "no Zuora endpoint: set ZUORA_ENVIRONMENT or ZUORA_BASE_URL, use --env/--base-url, add a profile to "
      .. (cfg.path or "~/.config/zuora/config.lua") .. ", or try --sim"
  end
  local has_creds = false
  for _, k in ipairs(GROUPS.credentials) do if opts[k] ~= nil then has_creds = true end end
  if not has_creds then
    return nil, "no credentials: set ZUORA_CLIENT_ID and ZUORA_CLIENT_SECRET (or another set), add a profile to "
      .. (cfg.path or "~/.config/zuora/config.lua") .. ", or try --sim"
  end
  if flags.read_only then opts.read_only = true end
  -- A profile's word decides; otherwise a production endpoint counts as production (--sim never).
  if flags.sim then
    production = false
  elseif production == nil then
    production = M.is_production(opts)
  end
  return opts, { profile = name, sources = sources, production = production }
end

--- True when client options point at one of Zuora's production endpoints (an environment named
-- "...-production", or a base URL on one of their hosts).
function M.is_production(opts)
  local envs = require "zuora.environments"
  if opts.environment then return opts.environment:find("production", 1, true) ~= nil end
  local host = type(opts.base_url) == "string" and opts.base_url:match("^%a[%w+.-]*://([^/:?#]+)")
  if not host then return false end
  host = host:lower()
  for name, base in pairs(envs) do
    if name:find("production", 1, true) and base:match("^%a[%w+.-]*://([^/:?#]+)") == host then return true end
  end
  return false
end

return M
