--- Payment Pages 2.0 inside nginx (docs/openresty.md): the page that hands the browser what the
-- hosted form needs, and the callback that checks Zuora's signed redirect, then fetches the new
-- payment method through the API.
--
-- payment_pages.conf (next to this file) wires it up:
--   init_worker_by_lua_block { require("payment_page").init() }
--   location = /pay          { content_by_lua_block { require("payment_page").render() } }
--   location = /pay/callback { content_by_lua_block { require("payment_page").callback() } }
local zuora = require "zuora"

local json = zuora.json
local M = {}

local client, page_id, hosted_url, signature_type
-- How long a rendered page may wait for its submit, and how long a callback signature lives.
local PAGE_TTL, MAX_AGE = 1800, 300

function M.init()
  client = zuora.from_env { token_cache = "zuora_tokens", timeout = 10 }
  page_id = assert(os.getenv("ZUORA_PAGE_ID"), "ZUORA_PAGE_ID is not set")
  hosted_url = assert(os.getenv("ZUORA_HOSTED_PAGE_URL"), "ZUORA_HOSTED_PAGE_URL is not set")
  signature_type = os.getenv("ZUORA_SIGNATURE_TYPE") or "basic"
end

local function reply(status, body)
  ngx.status = status -- luacheck: ignore 122 (ngx's writable fields)
  ngx.header["Content-Type"] = "application/json" -- luacheck: ignore 122
  ngx.say(json.encode(body))
  return ngx.exit(status)
end

local function html_json(v)
  -- Inside <script>, "</" would end the element: JSON allows "<\/".
  return (json.encode(v):gsub("</", "<\\/"))
end

--- GET /pay?account=<account id>: the parameters for Zuora's client library (Z.render). In a real
-- shop the account comes from the logged-in session, never from the query: signatures must not be
-- handed to anyone who asks (card testing).
function M.render()
  local account = ngx.var.arg_account
  if not account or not account:match("^[%w%-]+$") then return reply(400, { error = "account=<id> expected" }) end
  local signature, token, tenant_id, key = client:payment_page_signature { page_id = page_id, uri = hosted_url }
  if not signature then return reply(502, { error = tostring(token) }) end
  -- The token names this rendering: the callback finds the account (and the key) by it.
  local ok, err = ngx.shared.zuora_pages:add("page:" .. token, json.encode { account = account, key = key }, PAGE_TTL)
  if not ok then return reply(500, { error = "cannot remember the page: " .. tostring(err) }) end
  local params = {
    id = page_id, tenantId = tenant_id, token = token, signature = signature, key = key, url = hosted_url,
    style = "inline", submitEnabled = "true", signatureType = signature_type, field_accountId = account,
    callbackUrl = ngx.var.scheme .. "://" .. ngx.var.http_host .. "/pay/callback",
  }
  ngx.header["Content-Type"] = "text/html; charset=utf-8" -- luacheck: ignore 122
  ngx.header["Cache-Control"] = "no-store" -- luacheck: ignore 122
  ngx.say("<!doctype html><title>Payment</title><div id=\"zuora_payment\"></div>",
    "<script type=\"application/json\" id=\"zuora-params\">", html_json(params), "</script>",
    "<!-- load Zuora's hosted-page JavaScript here and call Z.render(params, {}, callback) -->")
end

--- GET /pay/callback?...: Zuora's redirect after a submit.
function M.callback()
  local args = ngx.req.get_uri_args(100)
  local token = type(args.token) == "string" and args.token or ""
  local pages = ngx.shared.zuora_pages
  local page = pages:get("page:" .. token)
  if not page then return reply(403, { error = "unknown page token" }) end
  page = json.decode(page)
  local fields, err = zuora.payment_pages.verify_callback(args, page.key, {
    signature_type = signature_type, callback_path = ngx.var.uri, page_id = page_id, max_age = MAX_AGE })
  if not fields then
    ngx.log(ngx.WARN, "payment page callback refused: ", err)
    return reply(403, { error = err })
  end
  -- A signature stays valid for MAX_AGE: take each callback once.
  if not pages:add("done:" .. token, true, MAX_AGE + 60) then
    return reply(409, { error = "callback already taken" })
  end
  if fields.success ~= "true" then
    return reply(422, { error = fields.error_code or "submit failed", message = fields.error_message })
  end
  -- Basic signatures do not cover refId: whatever the type, ask Zuora what the payment method is.
  local id = fields.payment_method_id or fields.ref_id
  local pm, perr = client.payment_methods.retrieve(id)
  if not pm then return reply(502, { error = tostring(perr) }) end
  if pm.accountKey ~= page.account and pm.accountId ~= page.account then
    return reply(403, { error = "the payment method does not belong to the page's account" })
  end
  return reply(200, { account = page.account, payment_method = pm.id, type = pm.type, card = pm.cardNumber,
    signature_type = fields.signature_type })
end

return M
