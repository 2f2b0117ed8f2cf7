--- Redaction of what the client shows to hooks, errors, meta and logs: credential headers,
-- user names and passwords in URLs, signed-URL signatures and secret query parameters, and (with
-- the client's auth object, which alone knows them) every secret and token the client holds,
-- wherever a server echoes them. Everything here runs only when something is shown: an error, a
-- hook, a read of meta.headers / meta.header_block; a successful call without hooks pays nothing.
local M = {}

local parse_headers -- core.http.parse_headers, loaded when first needed

M.MASK = "[redacted]"

local SECRET_HEADERS = {
  ["authorization"] = true, ["proxy-authorization"] = true, ["cookie"] = true, ["set-cookie"] = true,
  ["apiaccesskeyid"] = true, ["apisecretaccesskey"] = true, ["token"] = true, ["revpro-token"] = true,
  ["x-api-key"] = true, ["password"] = true, ["x-amz-security-token"] = true,
}

local SECRET_PARAMS = {
  client_secret = true, client_id = true, password = true, token = true, access_token = true,
  refresh_token = true, signature = true, sig = true, ["x-amz-signature"] = true,
  ["x-amz-credential"] = true, ["x-amz-security-token"] = true, ["x-goog-signature"] = true,
}

--- True if a header of this name carries a credential.
function M.is_secret_header(name)
  return SECRET_HEADERS[name:lower()] == true
end

local function hexchar(h) return string.char(tonumber(h, 16)) end

-- A parameter name as a server reads it: `+` is a space, %XX decoded (twice encoded too).
local function param_name(k)
  k = k:gsub("+", " ")
  for _ = 1, 3 do
    local d = k:gsub("%%(%x%x)", hexchar)
    if d == k then break end
    k = d
  end
  return k:lower()
end

local function mask_param(k)
  if SECRET_PARAMS[param_name(k)] then return k .. "=" .. M.MASK end
  return nil -- gsub keeps the pair as it was
end

--- `u` with its user name and password, and the values of secret query (and fragment)
-- parameters, masked; parameter names match however they are percent-encoded
-- (`X%2DAmz%2DSignature`). Everything else is kept as it was.
function M.url(u)
  if type(u) ~= "string" then return u end
  u = u:gsub("^(%a[%w+.-]*://)[^/?#]*@", "%1" .. M.MASK .. "@")
  local at = u:find("[?#]")
  if not at then return u end
  return u:sub(1, at - 1) .. u:sub(at):gsub("([^&;=?#]+)=[^&;#]*", mask_param)
end

--- `s` with every secret and token `auth` holds masked (nil stays nil). Once the auth object is
-- closed its secrets are gone, so nothing can be told apart: the whole text is masked.
function M.text(auth, s)
  if type(s) ~= "string" or not auth then return s end
  local ok, r = pcall(auth.redact, auth, s)
  return ok and r or M.MASK
end
local text = M.text

--- The first `n` (default 200) bytes of `s` for an error, control characters as spaces, redacted
-- BEFORE it is cut (a secret straddling the cut would otherwise leave its first bytes); nil for
-- nil or "".
function M.snippet(auth, s, n)
  if not s or s == "" then return nil end
  return (text(auth, s):sub(1, n or 200):gsub("%c", " "))
end

--- A header value as shown: masked for credential headers, else without secrets and with URLs
-- redacted (Location, Link, Refresh, an echo of the request).
function M.header_value(name, value, auth)
  if SECRET_HEADERS[name:lower()] then return M.MASK end
  if type(value) ~= "string" then return value end
  return M.url(text(auth, value))
end
local header_value = M.header_value

--- A name -> value map of header lines ("Name: value"), values as header_value shows them.
function M.header_lines(lines, auth)
  local out = {}
  for _, line in ipairs(lines) do
    local name, value = line:match("^([^:]+):%s*(.*)$")
    if name then out[name] = header_value(name, value, auth) end
  end
  return out
end

--- A copy of a name -> value header map (values strings or arrays of strings), values as
-- header_value shows them.
function M.header_map(map, auth)
  local out = {}
  for name, value in pairs(map or {}) do
    local shown = text(auth, name) -- a server may echo a secret as a header's name
    if type(value) == "table" then
      local list = {}
      for i, v in ipairs(value) do list[i] = header_value(name, v, auth) end
      out[shown] = list
    else
      out[shown] = header_value(name, value, auth)
    end
  end
  return out
end

--- A transport result's response headers as a name -> value map, shown as header_map shows them.
-- From the raw header block when the transport kept it, redacted whole before it is parsed (the
-- parser lower-cases names, and a lower-cased secret would no longer be recognised).
function M.response_headers(res, auth)
  local block = rawget(res, "header_block")
  if type(block) == "string" then
    parse_headers = parse_headers or require("zuora.core").http.parse_headers
    return M.header_map(parse_headers(text(auth, block)), auth)
  end
  return M.header_map(res.headers, auth)
end

--- A raw header block (status line and header lines) with every value as header_value shows it.
function M.header_block(block, auth)
  if type(block) ~= "string" then return block end
  -- whole first: a server may echo a secret in a header's name, the status line's reason phrase
  -- or a folded continuation line, which the per-value masking below never sees
  block = text(auth, block)
  return (block:gsub("([^\r\n:]+):([ \t]*)([^\r\n]*)", function(name, sp, value)
    if name:find("^HTTP/") then return nil end
    return name .. ":" .. sp .. header_value(name, value, auth)
  end))
end

-- Error fields whose text can come from the server (the others, kind, method, reason, ..., are
-- the library's own words, and url is redacted where it is set).
local SERVER_FIELDS = { message = true, body = true, code = true, process_id = true, request_id = true,
  reasons = true, results = true, job = true, job_status = true }

-- Redacts, in place, every string value and key inside table `t` (a decoded reply's pieces), at
-- any depth: a hostile server can nest an echoed token as deep as the JSON decoder allows (1,000
-- levels), so the walk keeps its own stack instead of stopping at a depth. `seen` guards cycles.
local function deep(auth, t)
  local seen, stack, n = { [t] = true }, { t }, 1
  while n > 0 do
    local cur = stack[n]
    stack[n], n = nil, n - 1
    local renamed
    for k, v in pairs(cur) do
      if type(v) == "string" then
        cur[k] = text(auth, v)
      elseif type(v) == "table" and not seen[v] then
        seen[v] = true
        n = n + 1
        stack[n] = v
      end
      if type(k) == "string" then
        local rk = text(auth, k)
        if rk ~= k then renamed = renamed or {}; renamed[k] = rk end
      end
    end
    for k, rk in pairs(renamed or {}) do
      cur[rk], cur[k] = cur[k], nil
    end
  end
end

--- Redacts, in place, every string the server may have put into the Error fields `f` (message,
-- body, code, request_id, reasons[i].message and code, results with its keys): a server can
-- echo a credential anywhere there. Returns `f`.
function M.fields(auth, f)
  for k in pairs(SERVER_FIELDS) do
    local v = f[k]
    if type(v) == "string" then
      f[k] = text(auth, v)
    elseif type(v) == "table" then
      deep(auth, v)
    end
  end
  return f
end

---------------------------------------------------------------------------------------------------
-- A call's meta: `meta.headers`, `meta.header_block` and `meta.request_id` are made (redacted)
-- when first read. The
-- transport's raw headers wait in a weak table, not in meta itself, so nothing unredacted is
-- reachable from what the caller holds.

local raw = setmetatable({}, { __mode = "k" })   -- meta -> header block (string) or header table
local mts = setmetatable({}, { __mode = "k" })   -- auth -> the metatable of its clients' metas

local header_lookup

local function meta_mt(auth)
  local mt = {}
  function mt.__index(meta, k)
    if k ~= "headers" and k ~= "header_block" and k ~= "request_id" then return nil end
    local r = raw[meta]
    if r == nil then return nil end
    local v
    if k == "request_id" then
      if type(r) == "string" then
        header_lookup = header_lookup or require("zuora.core").http.header
        v = header_lookup(r, "zuora-request-id")
      else
        v = r["zuora-request-id"]
      end
      v = text(auth, v)
    elseif k == "header_block" then
      v = type(r) == "string" and M.header_block(r, auth) or nil
    else
      if type(r) == "string" then
        parse_headers = parse_headers or require("zuora.core").http.parse_headers
        r = parse_headers(text(auth, r)) -- redacted before the parser lower-cases the names
      end
      v = M.header_map(r, auth)
    end
    rawset(meta, k, v)
    return v
  end
  function mt.__pairs(meta) -- Lua 5.4: pairs(meta) shows headers and request_id too
    local _ = meta.headers
    _ = meta.header_block
    _ = meta.request_id
    return next, meta, nil
  end
  mts[auth] = mt
  return mt
end

--- `fields` (a call's meta) made a meta: its headers are those of transport result `res`
-- (`res.header_block` or `res.headers`), shown redacted with `auth` when read.
function M.meta(auth, fields, res)
  raw[fields] = res.header_block or res.headers
  return setmetatable(fields, mts[auth] or meta_mt(auth))
end

return M
