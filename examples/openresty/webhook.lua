--- A Zuora callout receiver for nginx + ngx_lua, built on zuora.callouts: Zuora calls
-- POST /zuora/callouts with InvoiceId and AccountNumber (the notification definition's
-- calloutParams) when an invoice is posted. The receiver checks the caller's basic credentials
-- (and an HMAC signature when ZUORA_CALLOUT_HMAC_KEY is set), answers what stops Zuora's retries,
-- and handles each invoice once, however often Zuora delivers it: the handler fetches the
-- invoice, its items, the account summary and the default payment method with four concurrent
-- Zuora calls and files a digest (here: in a shared dict, served at GET /invoices/<id>/digest,
-- and in the error log at notice level; a real application would write to its own system).
--
-- nginx.conf (next to this file) wires it up:
--   init_worker_by_lua_block { require("webhook").init() }
--   location = /zuora/callouts { content_by_lua_block { require("webhook").serve() } }
local zuora = require "zuora"
local callouts = require "zuora.callouts"

local json = zuora.json
local M = {}

local client, receiver -- one of each per worker, shared by every request the worker serves

local function digest_of(invoice_id, account)
  local t0 = ngx.now()
  -- Four calls at once; the first failure cancels the others (no point finishing them).
  local out = client:gather({
    function() return client.invoices.retrieve(invoice_id) end,
    function() return client.invoices.list_items(invoice_id) end,
    function() return client.accounts.retrieve_summary(account) end,
    function() return client.accounts.retrieve_default_payment_method(account) end,
  }, { cancel_on_error = true })
  for _, r in ipairs(out) do
    if r[1] == nil then return nil, r[2] end
  end
  local invoice, items, summary, pm = out[1][1], out[2][1], out[3][1], out[4][1]
  ngx.update_time()
  return {
    account = account,
    name = summary.basicInfo and summary.basicInfo.name,
    account_balance = summary.basicInfo and summary.basicInfo.balance,
    invoice = {
      id = invoice_id,
      number = invoice.invoiceNumber,
      amount = invoice.amount,
      balance = invoice.balance,
      items = items.invoiceItems and #items.invoiceItems or 0,
    },
    payment_method = pm.type or pm.paymentMethodType,
    zuora_ms = math.floor((ngx.now() - t0) * 1000 + 0.5),
  }
end

--- The handler: runs once per invoice (zuora.callouts de-duplicates Zuora's retries). A failure
-- (nil, err) answers 500, so Zuora delivers the event again later.
local function invoice_posted(event)
  local invoice_id, account = event.params.InvoiceId, event.params.AccountNumber
  if type(invoice_id) ~= "string" or type(account) ~= "string" then
    return nil, "the callout carries no InvoiceId and AccountNumber parameters"
  end
  local digest, err = digest_of(invoice_id, account)
  if not digest then return nil, err end
  ngx.shared.zuora_digests:set(invoice_id, json.encode(digest), 86400)
  ngx.log(ngx.NOTICE, "invoice ", digest.invoice.number, " of ", account, " processed")
  return true
end

--- Builds the worker's client and receiver (no network here: init_worker has no cosockets).
-- Zuora credentials come from the ZUORA_* variables; the callout's basic credentials (what the
-- notification definition's calloutAuth holds) from ZUORA_CALLOUT_USERNAME and _PASSWORD.
function M.init()
  client = zuora.from_env{
    token_cache = "zuora_tokens", -- one OAuth token for all workers (lua_shared_dict in nginx.conf)
    max_concurrency = 16,         -- per worker: Zuora limits concurrent requests per tenant
    timeout = 10,
  }
  local hmac_key = os.getenv("ZUORA_CALLOUT_HMAC_KEY")
  receiver = callouts.new{
    basic = { username = assert(os.getenv("ZUORA_CALLOUT_USERNAME"), "ZUORA_CALLOUT_USERNAME is not set"),
      password = assert(os.getenv("ZUORA_CALLOUT_PASSWORD"), "ZUORA_CALLOUT_PASSWORD is not set") },
    -- The callout template's HMAC settings, mirrored: same key, data and header format.
    hmac = hmac_key and hmac_key ~= "" and { key = hmac_key, header = "X-Zuora-Signature", algorithm = "sha256",
      data = "{{method}}\n{{path}}\n{{param.InvoiceId}}\n", prefix = "v1=" } or nil,
    dedupe = { dict = "zuora_callouts" }, -- shared by the workers: a retry may reach any of them
    key = function(event) return event.params.InvoiceId end, -- the business identity of the event
    mode = "inline",                      -- a failed handler answers 500: Zuora retries
    handle = invoice_posted,
    client = client,
  }
end

--- POST /zuora/callouts
function M.serve() return receiver:serve() end

--- GET /invoices/<id>/digest: what the handler filed (stands in for the application's own store).
function M.digest(invoice_id)
  local d = ngx.shared.zuora_digests:get(invoice_id)
  ngx.header["Content-Type"] = "application/json" -- luacheck: ignore 122 (ngx's writable fields)
  if not d then
    ngx.status = 404 -- luacheck: ignore 122 (ngx's writable fields)
    return ngx.say('{"error":"not processed"}')
  end
  ngx.say(d)
end

return M
