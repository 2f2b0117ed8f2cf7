--- Validation of `zuora.new{...}` options: types, ranges, one credential set, and a helpful error
-- for unknown names (a typo such as `timout` raises instead of being ignored).
local M = {}

local function is_int(v) return type(v) == "number" and v == math.floor(v) end

local function check_type(want)
  return function(v) return type(v) == want, "a " .. want end
end

local function positive(v) return type(v) == "number" and v > 0, "a positive number" end
local function nonneg_int(v) return is_int(v) and v >= 0, "an integer >= 0" end
local function pos_int(v) return is_int(v) and v >= 1, "an integer >= 1" end
local function str_or_num(v)
  return type(v) == "string" or type(v) == "number", "a string or number"
end
-- Header text (User-Agent): printable, no CR/LF or other control characters, which would split
-- the header and make every call raise.
local function header_text(v)
  if type(v) ~= "string" then return false, "a string" end
  if v:find("[%c\127]") then return false, "a string without control characters (CR, LF, ...)" end
  return true
end

--- Checks a URL that receives credentials (base_url, token_url, a Revenue authentication URL):
-- http(s) only, https unless the host is loopback, no user name or password in it, no fragment
-- (and no query when `no_query`). Returns true, or false and what it must be. Never echoes the
-- URL: it may hold a password.
function M.credential_url(u, no_query)
  if type(u) ~= "string" then return false, "a string" end
  local url = require("zuora.core").url -- loaded here: option checks alone need no C module
  local parsed = url.parse(u)
  if not parsed or (parsed.scheme ~= "https" and parsed.scheme ~= "http") then
    return false, "an http(s) URL (https, or plain http for loopback hosts)"
  end
  if parsed.scheme == "http" and not url.is_loopback(parsed.host) then
    local why = "https (plain http is allowed only for loopback hosts)"
    return false, "an " .. why:gsub("^https", "https URL"), nil, "use " .. why
  end
  -- url.parse drops userinfo and an empty fragment: look at the text itself.
  local authority = u:match("^%a[%w+.-]*://([^/?#]*)") or ""
  if authority:find("@", 1, true) then
    return false, "a URL without a user name or password (give credentials as options)"
  end
  if u:find("#", 1, true) then return false, "a URL without a fragment (#...)" end
  if no_query and u:find("?", 1, true) then return false, "a URL without a query (?...)" end
  return true, nil, parsed
end

local function token_url(v) return M.credential_url(v, false) end

local function str_or_list(v)
  if type(v) == "string" then return true end
  if type(v) ~= "table" then return false, "a string or an array of strings" end
  for _, x in ipairs(v) do
    if type(x) ~= "string" then return false, "a string or an array of strings" end
  end
  return true
end

M.spec = {
  environment = check_type("string"), base_url = check_type("string"),
  client_id = check_type("string"), client_secret = check_type("string"),
  username = check_type("string"), password = check_type("string"),
  access_key_id = check_type("string"), secret_access_key = check_type("string"),
  token = check_type("string"), token_url = token_url,
  entity_ids = str_or_list, zuora_version = str_or_num, track_id = check_type("string"),
  timeout = positive, connect_timeout = positive, max_retries = nonneg_int, max_concurrency = pos_int,
  retry_base = positive, retry_cap = positive, retry_after_cap = positive, refresh_margin = positive,
  ca_file = check_type("string"), ca_path = check_type("string"), insecure = check_type("boolean"),
  http2 = check_type("boolean"), max_body = pos_int, decimals = check_type("boolean"),
  on_request = check_type("function"), on_response = check_type("function"),
  user_agent = header_text, transport = check_type("string"),
  shared = check_type("table"), -- the shared budget; zuora.governor checks its fields
  token_cache = check_type("string"), -- OpenResty: name of a lua_shared_dict shared by the workers
  -- Safety rails (docs/client.md): zuora.access checks the patterns.
  read_only = check_type("boolean"), dry_run = check_type("boolean"),
  deadline = positive, -- seconds a whole call may take, retries and waits included (zuora.pipeline)
  allow = function(v) return require("zuora.access").check_patterns(v) end,
  deny = function(v) return require("zuora.access").check_patterns(v) end,
}

local function distance(a, b)
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = { [0] = i }
    for j = 1, #b do
      local cost = a:sub(i, i) == b:sub(j, j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev = cur
  end
  return prev[#b]
end

--- The edit distance (Levenshtein) between strings `a` and `b`.
M.distance = distance

local function suggest(name, spec)
  local best, bestd
  for known in pairs(spec or M.spec) do
    local d = distance(name, known)
    if not bestd or d < bestd or (d == bestd and known < best) then best, bestd = known, d end
  end
  if bestd and bestd <= 3 then return " (did you mean '" .. best .. "'?)" end
  return ""
end

--- " (did you mean 'x'?)" for a misspelt option name, checked against `spec` (default M.spec), or "".
M.suggest = suggest

local CREDENTIAL_SETS = {
  { mode = "oauth", keys = { "client_id", "client_secret" } },
  { mode = "basic", keys = { "username", "password" } },
  { mode = "apikey", keys = { "access_key_id", "secret_access_key" } },
  { mode = "bearer", keys = { "token" } },
}

--- Checks option names and values of `opts` against `spec` and that at most one of the
-- credential `sets` ({mode=, keys={...}}) is given, in full. `who` ("zuora.new") starts every
-- error. Returns the credential mode, or nil when no set is given; raises (at `level`) on any mistake.
function M.validate(who, opts, spec, sets, level)
  level = (level or 1) + 1
  if type(opts) ~= "table" then error(who .. ": expected an options table", level) end
  for k, v in pairs(opts) do
    if type(k) ~= "string" then error(who .. ": option names must be strings", level) end
    local check = spec[k]
    if not check then error(who .. ": unknown option '" .. k .. "'" .. suggest(k, spec), level) end
    local ok, want = check(v)
    if not ok then error(who .. ": option '" .. k .. "' must be " .. want, level) end
  end
  local mode
  for _, set in ipairs(sets) do
    local present = 0
    for _, key in ipairs(set.keys) do
      if opts[key] ~= nil then present = present + 1 end
    end
    if present > 0 then
      if present < #set.keys then
        error(who .. ": " .. set.mode .. " credentials need " .. table.concat(set.keys, " and "), level)
      end
      if mode then error(who .. ": give one set of credentials, not " .. mode .. " and " .. set.mode, level) end
      mode = set.mode
    end
  end
  return mode
end

--- Checks a client's base URL (http(s), https unless the host is loopback, no user name or
-- password, no query or fragment); returns it without trailing slashes, and its parts. Raises (at
-- `level`) naming `who`.
function M.base_url(who, base, level)
  level = (level or 1) + 1
  base = base:gsub("/+$", "")
  local ok, want, parsed, verb = M.credential_url(base, true)
  if not ok then error(who .. ": base_url must " .. (verb or ("be " .. want)), level) end
  return base, parsed
end

local NUMERIC = { timeout = true, connect_timeout = true, max_retries = true, max_concurrency = true }
local BOOLEAN = { decimals = true }
local TRUTH = { ["1"] = true, ["true"] = true, yes = true, ["0"] = false, ["false"] = false, no = false }

--- The options that the environment variables named in `vars` ({VAR = "option"}) set, read with
-- `getenv` (default os.getenv); empty ones are skipped, numeric options converted, boolean ones
-- read from 1/0 (true/false, yes/no). Raises (at `level`) when a value does not fit its option.
function M.from_env(vars, getenv, level)
  getenv = getenv or os.getenv
  local opts = {}
  for var, key in pairs(vars) do
    local v = getenv(var)
    if v ~= nil and v ~= "" then
      if NUMERIC[key] then
        local n = tonumber(v)
        if not n then error(var .. " must be a number", (level or 1) + 1) end
        v = n
      elseif BOOLEAN[key] then
        if TRUTH[v:lower()] == nil then error(var .. " must be 1 or 0", (level or 1) + 1) end
        v = TRUTH[v:lower()]
      end
      opts[key] = v
    end
  end
  return opts
end

--- Checks `opts` and returns the credential mode; raises (at `level`) on any mistake.
function M.check(opts, level)
  level = (level or 1) + 1
  local mode = M.validate("zuora.new", opts, M.spec, CREDENTIAL_SETS, level)
  if not mode then
    error("zuora.new: no credentials: give client_id and client_secret (OAuth), username and password, "
      .. "access_key_id and secret_access_key, or token", level)
  end
  if opts.environment and opts.base_url then
    error("zuora.new: give environment or base_url, not both", level)
  end
  if not opts.environment and not opts.base_url then
    error("zuora.new: give environment (e.g. \"us-cloud2-sandbox\") or base_url", level)
  end
  return mode
end

return M
