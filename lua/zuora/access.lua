--- Access policy of a client: `read_only`, `allow` and `deny` (docs/client.md, "Safety rails").
-- Pure: it reads the catalogue and the request's method and URL, never the network. The client's
-- pipeline asks `policy:check(...)` before anything of a call is sent (not even a token request),
-- so every way in (operation objects, client:request, pagination, queries, jobs, uploads, the
-- Revenue client) meets the same rules under both runtimes.
--
--   local policy = access.new{ read_only = true, deny = { "payments.*", "DELETE /v1/**" } }
--   local fields = policy:check(method, path, op, catalog)   -- nil: allowed; else Error fields
local M = {}

local READ_METHODS = { GET = true, HEAD = true, OPTIONS = true }

------------------------------------------------------------------------------------------------
-- Patterns: "group.op", "group.*", "METHOD /path/glob" ("*" as METHOD matches any method; in the
-- glob "*" matches within one path segment, "**" across segments; braces are literal, so
-- "DELETE /v1/accounts/{account-key}" matches the catalogue's template of that operation).

local function glob_to_lua(glob)
  local out = { "^" }
  local i = 1
  while i <= #glob do
    local c = glob:sub(i, i)
    if c == "*" then
      if glob:sub(i + 1, i + 1) == "*" then
        out[#out + 1] = ".*"
        i = i + 1
      else
        out[#out + 1] = "[^/]*"
      end
    elseif c:find("^[%^%$%(%)%%%.%[%]%+%-%?]$") then
      out[#out + 1] = "%" .. c
    else
      out[#out + 1] = c
    end
    i = i + 1
  end
  out[#out + 1] = "$"
  return table.concat(out)
end

--- Parses one pattern; returns a matcher table, or nil, message.
function M.pattern(p)
  if type(p) ~= "string" then return nil, "patterns must be strings" end
  local method, path = p:match("^(%S+)%s+(/%S*)$")
  if method then
    if method ~= "*" and not method:match("^%u+$") then
      return nil, "pattern '" .. p .. "': the method must be upper case (GET, POST, ...) or *"
    end
    return { text = p, method = method ~= "*" and method or nil, glob = glob_to_lua(path) }
  end
  local group, name = p:match("^([%w_]+)%.([%w_]+)$")
  if not group then group, name = p:match("^([%w_]+)%.(%*)$") end
  if group then return { text = p, group = group, name = name ~= "*" and name or nil } end
  return nil, "pattern '" .. p .. "' is neither \"group.op\", \"group.*\" nor \"METHOD /path/glob\""
end

--- Option check for `allow` / `deny` (zuora.options): an array of valid patterns.
function M.check_patterns(v)
  if type(v) ~= "table" then return false, "an array of patterns (\"group.op\", \"group.*\", \"METHOD /path\")" end
  for k, p in pairs(v) do
    if type(k) ~= "number" then return false, "an array of patterns" end
    local ok, err = M.pattern(p)
    if not ok then return false, "an array of valid patterns (" .. err .. ")" end
  end
  return true
end

local function matches(m, method, path, entry)
  if m.glob then
    if m.method and m.method ~= method then return false end
    if path:find(m.glob) then return true end
    return entry ~= nil and entry.path ~= nil and entry.path:find(m.glob) ~= nil
  end
  if not entry or entry.group ~= m.group then return false end
  return m.name == nil or entry.name == m.name
end

------------------------------------------------------------------------------------------------
-- The catalogue, looked up by method and concrete path (for client:request calls that name no
-- operation). Built once per catalogue module, on the first check that needs it.

local indexes = {}

local function template_pattern(path)
  local literal = #path:gsub("{[^}]*}", "")
  local pat = "^" .. path:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0"):gsub("{[^}]*}", "[^/]+") .. "$"
  return pat, literal
end

local function index_of(module)
  local idx = indexes[module]
  if idx then return idx end
  idx = { by_name = {} }
  local ok, cat = pcall(require, module)
  if ok and type(cat) == "table" then
    for _, g in ipairs(cat.groups or {}) do
      local gok, entries = pcall(require, g.module)
      if gok and type(entries) == "table" then
        for _, e in ipairs(entries) do
          local list = idx[e.method]
          if not list then list = {}; idx[e.method] = list end
          local pat, literal = template_pattern(e.path)
          list[#list + 1] = { pat = pat, literal = literal, entry = e }
          idx.by_name[e.group .. "." .. e.name] = e
        end
      end
    end
  end
  indexes[module] = idx
  return idx
end

--- The catalogue entry of `module` ("zuora.catalog" by default) that `method path` reaches, or
-- nil. Among several templates that match, the one with the most literal characters wins
-- (`/v1/accounts/summary` over `/v1/accounts/{key}`).
function M.lookup(method, path, module)
  local list = index_of(module or "zuora.catalog")[method]
  if not list then return nil end
  local best, best_literal
  for _, t in ipairs(list) do
    if path:find(t.pat) and (not best or t.literal > best_literal) then best, best_literal = t.entry, t.literal end
  end
  return best
end

--- The catalogue entry named `group.name` in `module`, or nil.
function M.entry(group, name, module)
  return index_of(module or "zuora.catalog").by_name[group .. "." .. name]
end

--- True when a request can only read: the entry's `reads` flag (the catalogue marks the reads
-- that travel as POST: queries, Data Query submissions, previews), else its method.
function M.is_read(method, entry)
  if entry and entry.reads ~= nil then return entry.reads == true end
  return READ_METHODS[method] == true
end

------------------------------------------------------------------------------------------------
-- Policies.

local Policy = {}
Policy.__index = Policy

local function compile(list)
  if not list then return nil end
  local out = {}
  for i, p in ipairs(list) do out[i] = assert(M.pattern(p)) end
  return out
end

--- A policy from client options (read_only, allow, deny), or false when they set none. The
-- patterns were checked by zuora.options; `catalog` names the catalogue module of the client.
function M.new(opts, catalog)
  if not opts.read_only and not opts.allow and not opts.deny then return false end
  return setmetatable({ read_only = opts.read_only == true, allow = compile(opts.allow), deny = compile(opts.deny),
    catalog = catalog or "zuora.catalog" }, Policy)
end

-- Whether entry `e` can stand for `method path`: an `op` option naming another operation (a GET's
-- entry on a DELETE) must not lend it its `reads` flag or its name.
local template_of = setmetatable({}, { __mode = "k" })
local function stands_for(e, method, path)
  if e.method ~= method or type(e.path) ~= "string" then return false end
  local pat = template_of[e]
  if not pat then
    pat = template_pattern(e.path)
    template_of[e] = pat
  end
  return path:find(pat) ~= nil
end

-- The catalogue entry a request stands for: the caller's `op` when it is a full entry; an `op`
-- naming only group and name (the helpers' own calls) found by that name; either only when its
-- method and path template fit the request; else by method and path.
local function entry_for(self, method, path, op)
  if type(op) == "table" then
    if op.method and op.path and op.group then
      if stands_for(op, method, path) then return op end
    elseif op.group and op.name then
      local e = M.entry(op.group, op.name, self.catalog)
      if e and stands_for(e, method, path) then return e end
    end
  end
  return M.lookup(method, path, self.catalog)
end

------------------------------------------------------------------------------------------------
-- The paths a server may take a request's path for. A client sends dot segments, percent-encoded
-- unreserved characters, empty segments, ";parameters" and a trailing slash as written (the
-- cosocket transport) or with dot segments removed (libcurl), and servers resolve them (RFC 3986
-- normalisation; nginx merges slashes; Java servers drop ";..." and a trailing slash), so
-- "/v1/catalog/../accounts/A1" and "/v1//accounts/A1/" reach /v1/accounts/A1. A policy judges every
-- reading: deny when one matches, allow only when all match, read-only only when all read.

local function decode_unreserved(path)
  return (path:gsub("%%(%x%x)", function(h)
    local c = string.char(tonumber(h, 16))
    if c:find("^[%w%-%._~]$") then return c end
    return "%" .. h
  end))
end

local function remove_dots(path)
  local segs = {}
  for seg in (path .. "/"):gmatch("([^/]*)/") do segs[#segs + 1] = seg end
  local out, n = {}, #segs
  for i = 2, n do
    local seg = segs[i]
    if seg == "." or seg == ".." then
      if seg == ".." and #out > 0 then out[#out] = nil end
      if i == n then out[#out + 1] = "" end
    else
      out[#out + 1] = seg
    end
  end
  return "/" .. table.concat(out, "/")
end

--- The distinct readings of `path` (starting with "/"): itself, with unreserved characters
-- decoded and dot segments removed, and that with %2F read as "/", ";parameters", empty segments
-- and a trailing slash dropped as well.
function M.readings(path)
  if not (path:find("[%%;]") or path:find("//", 1, true) or path:find("/.", 1, true)
      or (#path > 1 and path:sub(-1) == "/")) then
    return { path }
  end
  local out = { path }
  local rfc = remove_dots(decode_unreserved(path))
  if rfc ~= path then out[#out + 1] = rfc end
  -- nginx decodes %2F before it resolves dot segments: /v1/x%2F..%2Faccounts/A1 is /v1/accounts/A1
  local loose = remove_dots(decode_unreserved(path):gsub("%%2[Ff]", "/"):gsub(";[^/]*", ""):gsub("//+", "/"))
  if #loose > 1 then loose = loose:gsub("/$", "") end
  if loose ~= path and loose ~= rfc then out[#out + 1] = loose end
  return out
end

--- Checks a request: `method`, `path` (the URL's path relative to the client's base URL, without
-- the query) and `op` (the catalogue entry or {group, name}, may be nil). Returns nil when the
-- policy lets it through, else the fields of a zuora.Error of kind "policy": `rule`
-- ("read_only", "deny" or "allow"), `pattern` (the deny pattern that matched), `operation`.
function Policy:check(method, path, op)
  local paths = M.readings(path)
  local entries = {}
  for i, p in ipairs(paths) do entries[i] = entry_for(self, method, p, op) or false end
  local entry -- named after the most normalised reading that the catalogue knows
  for i = #entries, 1, -1 do
    if entries[i] then entry = entries[i] break end
  end
  local name = entry and (entry.group .. "." .. entry.name)
    or (type(op) == "table" and op.group and op.name and (op.group .. "." .. op.name)) or nil
  local what = (name and (name .. " (") or "") .. method .. " " .. path .. (name and ")" or "")
  local function refuse(rule, why, pattern)
    return { kind = "policy", rule = rule, pattern = pattern, operation = name, retryable = false,
      message = what .. " refused: " .. why, attempts = 0, sends = 0 }
  end
  if self.deny then
    for _, m in ipairs(self.deny) do
      for i, p in ipairs(paths) do
        if matches(m, method, p, entries[i] or nil) then
          return refuse("deny", "it matches deny pattern \"" .. m.text .. "\"", m.text)
        end
      end
    end
  end
  if self.read_only then
    for i = 1, #paths do
      if not M.is_read(method, entries[i] or nil) then
        return refuse("read_only", "the client is read-only and this call can change data")
      end
    end
  end
  if self.allow then
    for i, p in ipairs(paths) do
      local ok = false
      for _, m in ipairs(self.allow) do
        if matches(m, method, p, entries[i] or nil) then ok = true break end
      end
      if not ok then return refuse("allow", "it matches no allow pattern") end
    end
  end
  return nil
end

--- The path of `u` (a full request URL) relative to `base` (the client's base URL), without
-- query or fragment.
function M.path_of(u, base)
  local rest
  if u:sub(1, #base) == base then
    rest = u:sub(#base + 1)
  else
    rest = u:match("^%a[%w+.-]*://[^/?#]*(.*)$") or u
  end
  rest = rest:gsub("[?#].*$", "")
  if rest == "" then rest = "/" end
  return rest
end

return M
