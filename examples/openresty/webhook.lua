--- A Zuora callout handler for nginx + ngx_lua: Zuora (or anything else) POSTs
-- {"accountNumber": "A00000001", "invoiceId": "8ad0..."} when an invoice is posted; the handler
-- looks up the invoice, its items, the account summary and the default payment method with four
-- concurrent Zuora calls and answers with a digest. Each call is a cosocket request on its own
-- light thread, so the worker keeps serving other requests meanwhile.
--
-- nginx.conf (next to this file) wires it up:
--   init_worker_by_lua_block { require("webhook").init() }
--   location = /zuora/callouts/invoice-posted { content_by_lua_block { require("webhook").invoice_posted() } }
local zuora = require "zuora"

local json = zuora.json
local M = {}

local client -- one client per worker, shared by every request the worker serves

--- Builds the worker's client (no network here: init_worker has no cosockets). Credentials come
-- from the ZUORA_* variables that nginx.conf passes through with `env`.
function M.init()
  client = zuora.from_env{
    token_cache = "zuora_tokens", -- one OAuth token for all workers (lua_shared_dict in nginx.conf)
    max_concurrency = 16,         -- per worker: Zuora limits concurrent requests per tenant
    timeout = 10,
  }
end

local function reply(status, body)
  ngx.status = status -- luacheck: ignore 122 (ngx's writable fields)
  ngx.header["Content-Type"] = "application/json" -- luacheck: ignore 122
  ngx.say(json.encode(body))
  return ngx.exit(status)
end

--- POST /zuora/callouts/invoice-posted
function M.invoice_posted()
  if ngx.req.get_method() ~= "POST" then return reply(405, { error = "POST only" }) end
  ngx.req.read_body()
  local event = json.decode(ngx.req.get_body_data() or "")
  if type(event) ~= "table" or type(event.accountNumber) ~= "string" or type(event.invoiceId) ~= "string" then
    return reply(400, { error = "expected {\"accountNumber\": ..., \"invoiceId\": ...}" })
  end
  local account, invoice_id = event.accountNumber, event.invoiceId

  local t0 = ngx.now()
  -- Four calls at once; the first failure cancels the others (no point finishing them).
  local out = client:gather({
    function() return client.invoices.retrieve(invoice_id) end,
    function() return client.invoices.list_items(invoice_id) end,
    function() return client.accounts.retrieve_summary(account) end,
    function() return client.accounts.retrieve_default_payment_method(account) end,
  }, { cancel_on_error = true })
  for _, r in ipairs(out) do
    if r[1] == nil then
      local err = r[2]
      local status = (type(err) == "table" and err.status == 404) and 404 or 502
      return reply(status, { error = tostring(err) })
    end
  end
  local invoice, items, summary, pm = out[1][1], out[2][1], out[3][1], out[4][1]
  ngx.update_time()
  return reply(200, {
    account = account,
    name = summary.basicInfo and summary.basicInfo.name,
    account_balance = summary.basicInfo and summary.basicInfo.balance,
    invoice = {
      number = invoice.invoiceNumber,
      amount = invoice.amount,
      balance = invoice.balance,
      items = items.invoiceItems and #items.invoiceItems or 0,
    },
    payment_method = pm.type or pm.paymentMethodType,
    zuora_ms = math.floor((ngx.now() - t0) * 1000 + 0.5),
  })
end

return M
