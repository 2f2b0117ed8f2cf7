--- Payment Pages 2.0 in zuora-sim (docs/zuora-sim.md, "Payment Pages 2.0"):
--  - POST /v1/rsa-signatures: a page signature and token, signed with the simulator's own key pair
--    (zuora_sim.rsa), and the public `key`;
--  - POST /v1/rsa-signatures/decrypt: what a signature says, given the public key;
--  - /apps/PublicHostedPageLite.do: a stand-in for the hosted page. GET renders a plain HTML form;
--    POST is a simulated submit: it checks the page's token and signature, creates the payment
--    method and answers 302 to the callback URL with a signed query (basic or advanced).
-- The hosted page is public (a browser loads it): server.lua lets /apps/ through without API
-- credentials. Signed layouts follow docs/openresty.md, which says what is assumed.
local C = require "zuora_sim.api.common"
local accounts = require "zuora_sim.api.accounts"
local errors = require "zuora_sim.errors"
local json = require "zuora_sim.json"
local rsa = require "zuora_sim.rsa"
local state = require "zuora_sim.state"
local util = require "zuora_sim.util"

local M = {}

M.TENANT_ID = "9000001"     -- the simulated tenant's id
M.PASSTHROUGHS = 5          -- field_passthrough1..5 are covered by the advanced signature
M.MAX_FIELD = 1024          -- longest form field the stand-in takes

local pages = {}            -- issued page tokens: token -> { page_id, signature, used }
local key_written = false

local function obj(...) return json.object(...) end

local function random_token()
  local chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
  local t = {}
  for i = 1, 32 do
    local k = math.random(1, #chars)
    t[i] = chars:sub(k, k)
  end
  return table.concat(t)
end

local function now_ms() return string.format("%d", math.floor(ngx.now() * 1000)) end

local function url_path(u)
  return u:match("^%a[%w+.-]*://[^/?#]*([^?#]*)") or u:match("^([^?#]*)")
end

--- The key pair, made on first use; its public half also goes to STATE_DIR/rsa/public.pem.
local function public_key()
  local key = rsa.public_key()
  local dir = state.settings and state.settings.state_dir
  if not key_written and dir then
    key_written = true
    os.execute("mkdir -p '" .. dir:gsub("'", "") .. "/rsa'")
    local f = io.open(dir .. "/rsa/public.pem", "w")
    if f then
      f:write(rsa.public_pem() or "")
      f:close()
    end
  end
  return key
end

local function str_field(body, name)
  local v = C.require(body, name, "unknown")
  if type(v) ~= "string" then C.fail("invalid_value", "'" .. name .. "' must be a string") end
  return v
end

local function generate(req)
  local body = req:json_body()
  local uri, method, page_id = str_field(body, "uri"), str_field(body, "method"), str_field(body, "pageId")
  if method ~= "POST" then C.fail("invalid_value", "'method' must be POST") end
  local key, token, ts = public_key(), random_token(), now_ms()
  -- The signed text: path#tenant#token#timestamp#page, then any other field as name=value in
  -- name order (so an RSA block too small for them gives a null signature, as Zuora does).
  local parts = { url_path(uri), M.TENANT_ID, token, ts, page_id }
  local extra = {}
  for k, v in pairs(body) do
    if k ~= "uri" and k ~= "method" and k ~= "pageId" then extra[#extra + 1] = k .. "=" .. tostring(v) end
  end
  table.sort(extra)
  for _, e in ipairs(extra) do parts[#parts + 1] = e end
  local signature = rsa.private_encrypt(table.concat(parts, "#"))
  pages[token] = { page_id = page_id, signature = signature, used = false }
  return 200, C.ok(obj("signature", signature or json.null, "token", token, "tenantId", M.TENANT_ID, "key", key))
end

local function decrypt(req)
  local body = req:json_body()
  local pk, sig = str_field(body, "publicKey"), str_field(body, "signature")
  str_field(body, "method")
  local plain, err = rsa.public_decrypt(pk, sig)
  if not plain then C.fail("invalid_value", "Cannot decrypt the signature: " .. err) end
  return 200, C.ok(obj("publicKey", pk, "signature", sig, "decryptedSignature", plain))
end

-- The hosted page ------------------------------------------------------------------------------

local function html_escape(s)
  return (tostring(s):gsub("[&<>\"']", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;",
    ["'"] = "&#39;" }))
end

local HIDDEN = { "id", "tenantId", "token", "signature", "callbackUrl", "signatureType", "field_accountId" }

local function render(req)
  local q = req.query
  local out = { "<!doctype html><title>zuora-sim hosted payment page</title>",
    '<form method="post" action="/apps/PublicHostedPageLite.do">' }
  for _, name in ipairs(HIDDEN) do
    local v = q[name]
    if type(v) == "string" then
      out[#out + 1] = ('<input type="hidden" name="%s" value="%s">'):format(name, html_escape(v))
    end
  end
  for i = 1, 15 do
    local v = q["field_passthrough" .. i]
    if type(v) == "string" then
      out[#out + 1] = ('<input type="hidden" name="field_passthrough%d" value="%s">'):format(i, html_escape(v))
    end
  end
  out[#out + 1] = '<input name="creditCardHolderName"><input name="creditCardNumber">'
    .. '<input name="creditCardExpirationMonth"><input name="creditCardExpirationYear">'
    .. '<button type="submit">Submit</button></form>'
  return 200, table.concat(out, "\n"), { ["Content-Type"] = "text/html; charset=utf-8" }
end

local function form_of(req)
  local ctype = req.headers["content-type"]
  if type(ctype) == "table" then ctype = ctype[1] end
  if ctype and ctype:find("json", 1, true) then return req:json_body() end
  local t = util.parse_query(req.body or "")
  for k, v in pairs(t) do
    if type(v) ~= "string" or #v > M.MAX_FIELD then
      C.fail("invalid_value", "form field " .. k .. " is repeated or too long")
    end
  end
  return t
end

local function submit(req)
  local f = form_of(req)
  local token, page_id = f.token, f.id
  local page = type(token) == "string" and pages[token]
  -- A token the simulator did not issue for this page, or used already: Zuora shows an error page.
  if not page or page.used or page.page_id ~= page_id or page.signature ~= f.signature then
    return 403, "<!doctype html><title>Invalid security token</title>", { ["Content-Type"] = "text/html" }
  end
  local callback = f.callbackUrl
  if type(callback) ~= "string" or not callback:find("^https?://") then
    C.fail("missing_field", "'callbackUrl' (the page's callback URL) is required")
  end
  local kind = f.signatureType or "basic"
  if kind ~= "basic" and kind ~= "advanced" then
    C.fail("invalid_value", "'signatureType' must be basic or advanced")
  end
  page.used = true

  local account
  if type(f.field_accountId) == "string" and f.field_accountId ~= "" then
    account = state.data.accounts[f.field_accountId]
  end
  local ok, pm = pcall(accounts.create_payment_method, account, { type = "CreditCard",
    cardNumber = f.creditCardNumber, expirationMonth = f.creditCardExpirationMonth,
    expirationYear = f.creditCardExpirationYear, cardHolderName = f.creditCardHolderName,
    cardType = f.creditCardType })
  if not ok and not errors.is_error(pm) then error(pm, 0) end
  local error_code, error_message = "", nil
  if not ok then error_code, error_message = "HostedPageFieldValidationError", pm.message end

  -- sim-only: backdate the callback (seconds), to see a receiver refuse an old signature.
  local age = tonumber(f.simAge) or 0
  local ts = string.format("%d", math.floor((ngx.now() - age) * 1000))
  local path = url_path(callback)
  local q = { { "success", ok and "true" or "false" } }
  local ref_id = ok and pm.id or nil
  local signature
  if kind == "basic" then
    signature = rsa.private_encrypt(table.concat({ path, M.TENANT_ID, token, ts, page_id }, "#"))
  else
    if ref_id then ref_id = rsa.private_encrypt(ref_id) end
    local parts = { path, M.TENANT_ID, page_id, token, ts, error_code }
    for i = 1, M.PASSTHROUGHS do parts[#parts + 1] = f["field_passthrough" .. i] or "" end
    parts[#parts + 1] = ref_id or ""
    signature = rsa.sign(table.concat(parts, "#"))
  end
  if ref_id then q[#q + 1] = { "refId", ref_id } end
  for _, kv in ipairs { { "tenantId", M.TENANT_ID }, { "pageId", page_id }, { "token", token }, { "timestamp", ts },
    { "signature", signature }, { "responseFrom", "Response_From_Submit_Page" } } do
    q[#q + 1] = kv
  end
  if error_code ~= "" then
    q[#q + 1] = { "errorCode", error_code }
    q[#q + 1] = { "errorMessage", error_message }
  end
  for i = 1, 15 do
    local v = f["field_passthrough" .. i]
    if v ~= nil then q[#q + 1] = { "field_passthrough" .. i, v } end
  end
  local enc = {}
  for i, kv in ipairs(q) do enc[i] = kv[1] .. "=" .. util.escape(kv[2]) end
  local location = callback .. (callback:find("?", 1, true) and "&" or "?") .. table.concat(enc, "&")
  return 302, "", { Location = location, ["Content-Type"] = "text/html" }
end

function M.register(r)
  r.add("POST", "/v1/rsa-signatures", generate)
  r.add("POST", "/v1/rsa-signatures/decrypt", decrypt)
  r.add("GET", "/apps/PublicHostedPageLite.do", render)
  r.add("POST", "/apps/PublicHostedPageLite.do", submit)
end

return M
