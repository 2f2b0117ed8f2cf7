--- Payment Pages 2.0 (Zuora's hosted payment form): the signature a page needs before the browser
-- can load it (client:payment_page_signature), and the check of the signed callback Zuora
-- redirects the browser to after a submit (verify_callback). The RSA work is in the C core
-- (core.rsa, OpenSSL); this file assembles the signed text and compares fields. docs/openresty.md
-- says what each signature covers and what is assumed where Zuora's documentation is silent.
local core = require "zuora.core"

local rsa, equal = core.rsa, core.crypto.equal

local M = {}

-- Zuora documents a 5-minute life for callback signatures.
M.DEFAULT_MAX_AGE = 300
-- A signature stamped further ahead of our clock than this is refused (clock skew allowance).
M.MAX_SKEW = 60
-- The advanced signature covers field_passthrough1..5 (Zuora: "though up to 15 ... can be supported").
M.DEFAULT_PASSTHROUGHS = 5

local function nonempty(v) return type(v) == "string" and v ~= "" end

local function opt_string(opts, k, level)
  local v = opts[k]
  if v ~= nil and type(v) ~= "string" then error("verify_callback: opts." .. k .. " must be a string", level + 1) end
  return v
end

--- One callback parameter as a string: nil when absent; a repeated parameter (an array from a
-- query decoder) or another type is refused, since which copy is "the" value is ambiguous.
local function param(params, k)
  local v = params[k]
  if v == nil or type(v) == "string" then return v end
  if type(v) == "number" then return tostring(v) end
  return nil, ("callback parameter %s is repeated or not a string"):format(k)
end

--- The timestamp (milliseconds since the epoch, decimal digits) checked against now and max_age.
local function check_age(ts, now, max_age)
  if not ts or not ts:match("^%d+$") or #ts > 15 then
    return nil, "callback timestamp is not a number of milliseconds"
  end
  local age = now - tonumber(ts) / 1000
  if age > max_age then return nil, ("signature expired (%d s old, max_age %d s)"):format(math.floor(age), max_age) end
  if age < -M.MAX_SKEW then return nil, "signature timestamp is in the future" end
  return age
end

local function split_hash(s)
  local parts = {}
  for part in (s .. "#"):gmatch("([^#]*)#") do parts[#parts + 1] = part end
  return parts
end

-- Each check returns nil, err on a mismatch; values compared in constant time.
local function same(what, expected, got)
  if got ~= nil and not equal(expected, got) then return nil, what .. " does not match the signed value" end
  return true
end

local function now_seconds()
  local ngx = rawget(_G, "ngx")
  if type(ngx) == "table" and ngx.now then return ngx.now() end
  return os.time()
end

--- Checks the callback of a Payment Pages 2.0 submit. `params`: the callback's query parameters
-- (name -> string, already percent-decoded); `public_key`: the key `payment_page_signature` or
-- the Zuora UI gave (PEM or bare base64 DER). opts: max_age (seconds, default 300),
-- signature_type ("basic", the default, or "advanced", as the page's `signatureType`),
-- callback_path (the path part of the callback URL; required), page_id and tenant_id
-- (expected values), passthroughs (how many field_passthroughN the advanced signature covers,
-- default 5), now (seconds since the epoch; default the clock). Returns a table of verified
-- fields, or nil, err. Misuse (wrong types) raises.
function M.verify_callback(params, public_key, opts)
  if type(params) ~= "table" then error("verify_callback: params must be a table", 2) end
  if not nonempty(public_key) then error("verify_callback: public_key must be a non-empty string", 2) end
  if opts ~= nil and type(opts) ~= "table" then error("verify_callback: opts must be a table", 2) end
  opts = opts or {}
  local max_age = opts.max_age or M.DEFAULT_MAX_AGE
  if type(max_age) ~= "number" or max_age ~= max_age or max_age <= 0 then
    error("verify_callback: opts.max_age must be a positive number", 2)
  end
  local kind = opts.signature_type or "basic"
  if kind ~= "basic" and kind ~= "advanced" then
    error("verify_callback: opts.signature_type must be 'basic' or 'advanced'", 2)
  end
  local path, want_page, want_tenant = opt_string(opts, "callback_path", 2), opt_string(opts, "page_id", 2),
    opt_string(opts, "tenant_id", 2)
  local now = opts.now or now_seconds()
  if type(now) ~= "number" then error("verify_callback: opts.now must be a number", 2) end
  local npass = opts.passthroughs or M.DEFAULT_PASSTHROUGHS
  if type(npass) ~= "number" or npass < 0 or npass > 15 or npass % 1 ~= 0 then
    error("verify_callback: opts.passthroughs must be an integer from 0 to 15", 2)
  end
  if kind == "advanced" and not path then
    error("verify_callback: an advanced signature needs opts.callback_path", 2)
  end
  -- The page signature every browser gets from payment_page_signature has the basic callback's
  -- layout under the same key (hosted page path#tenant#token#timestamp#page): only the path tells
  -- a callback from it, so a basic check without the expected path would take one for the other.
  if not path then
    error("verify_callback: opts.callback_path is required (a page signature would pass for a callback)", 2)
  end

  local p = {}
  for _, k in ipairs { "signature", "token", "timestamp", "tenantId", "pageId", "refId", "success", "errorCode",
    "errorMessage" } do
    local v, err = param(params, k)
    if err then return nil, err end
    p[k] = v
  end
  if not nonempty(p.signature) then return nil, "callback has no signature" end
  -- A query decoder that reads '+' as a space (form encoding) damages base64; no valid signature
  -- has a space, so putting the '+' back cannot make a bad one pass.
  local signature = p.signature:gsub(" ", "+")

  local out = { signature_type = kind, success = p.success, error_code = p.errorCode, error_message = p.errorMessage }
  if kind == "basic" then
    local plain, err = rsa.recover(public_key, signature)
    if not plain then return nil, "payment page signature: " .. err end
    local parts = split_hash(plain)
    if #parts ~= 5 then return nil, "payment page signature: signed text is not path#tenant#token#timestamp#page" end
    out.callback_path, out.tenant_id, out.token = parts[1], parts[2], parts[3]
    out.timestamp, out.page_id = parts[4], parts[5]
    local ok
    ok, err = same("callback path", out.callback_path, path)
    if ok then ok, err = same("tenantId", out.tenant_id, p.tenantId) end
    if ok then ok, err = same("tenant id", out.tenant_id, want_tenant) end
    if ok then ok, err = same("pageId", out.page_id, p.pageId) end
    if ok then ok, err = same("page id", out.page_id, want_page) end
    -- token and timestamp travel in every callback: both must be there and match.
    if ok then ok, err = same("token", out.token, p.token or "") end
    if ok then ok, err = same("timestamp", out.timestamp, p.timestamp or "") end
    if not ok then return nil, "payment page signature: " .. err end
    -- Not covered by a basic signature: read it as a claim (fetch the payment method and check it).
    out.ref_id = p.refId
  else
    local tenant, page = p.tenantId or want_tenant, p.pageId or want_page
    if not nonempty(tenant) or not nonempty(page) then
      return nil, "payment page signature: the callback has no tenantId or pageId (give opts.tenant_id, opts.page_id)"
    end
    local ok, err = same("tenant id", tenant, want_tenant)
    if ok then ok, err = same("page id", page, want_page) end
    if not ok then return nil, "payment page signature: " .. err end
    local parts = { path, tenant, page, p.token or "", p.timestamp or "", p.errorCode or "" }
    local passthrough = {}
    for i = 1, npass do
      local v
      v, err = param(params, "field_passthrough" .. i)
      if err then return nil, err end
      passthrough[i] = v
      parts[#parts + 1] = v or ""
    end
    parts[#parts + 1] = p.refId or ""
    ok, err = rsa.verify(public_key, table.concat(parts, "#"), signature, "sha512")
    if not ok then return nil, "payment page signature: " .. err end
    out.callback_path, out.tenant_id, out.page_id, out.token, out.timestamp = path, tenant, page, p.token, p.timestamp
    out.passthrough = passthrough
    if nonempty(p.refId) then
      local id
      id, err = rsa.recover(public_key, (p.refId:gsub(" ", "+")))
      if not id then return nil, "payment page callback: the encrypted payment method id: " .. err end
      out.payment_method_id = id
    end
  end
  local age, err = check_age(out.timestamp, now, max_age)
  if not age then return nil, "payment page signature: " .. err end
  out.age = age
  return out
end

-- Option names of payment_page_signature that are not copied under their camelCase name.
local RENAMED = { page_id = "pageId" }

--- client:payment_page_signature{ page_id =, uri =, method = "POST", ... }: POST /v1/rsa-signatures.
-- Other fields go into the request body, snake_case names in camelCase (payment_gateway ->
-- paymentGateway). Returns signature, token, tenant_id, key; or nil, err.
function M.signature(client, opts, level)
  level = (level or 1) + 1
  if type(opts) ~= "table" then error("payment_page_signature: expected a table of options", level) end
  if not nonempty(opts.page_id) then error("payment_page_signature: page_id must be a non-empty string", level) end
  if not nonempty(opts.uri) then error("payment_page_signature: uri must be a non-empty string", level) end
  local body = { method = "POST" }
  for k, v in pairs(opts) do
    if type(k) ~= "string" then error("payment_page_signature: option names must be strings", level) end
    if type(v) ~= "string" and type(v) ~= "number" and type(v) ~= "boolean" then
      error("payment_page_signature: option " .. k .. " must be a string, number or boolean", level)
    end
    local name = RENAMED[k] or k:gsub("_(%l)", string.upper)
    body[name] = v
  end
  local reply, err = client:request("POST", "/v1/rsa-signatures", { body = body })
  if not reply then return nil, err end
  if type(reply) ~= "table" or reply.success == false or not nonempty(reply.signature) or not nonempty(reply.token) then
    -- Zuora answers a null signature (and a token) when the fields exceed what RSA can sign.
    return nil, require("zuora.errors").new {
      kind = "api", message = "rsa-signatures: no signature in the reply (too many or too long fields?)",
      status = 200,
    }
  end
  return reply.signature, reply.token, reply.tenantId, reply.key
end

return M
