--- Scenarios that spec/openresty_spec.lua runs inside nginx (LuaJIT, cosockets): each takes the
-- request's arguments (base_url, client_id, client_secret, ...) and returns a table the handler
-- sends back as JSON for the spec to check.
local zuora = require "zuora"

local ngx = rawget(_G, "ngx")

local M = {}

local function now()
  ngx.update_time()
  return ngx.now()
end

local function client(args, extra)
  local o = { base_url = args.base_url, client_id = args.client_id, client_secret = args.client_secret,
    retry_base = 0.01, retry_cap = 0.05 }
  for k, v in pairs(extra or {}) do o[k] = v end
  return zuora.new(o)
end

--- spawn returns before fn runs; tasks start in spawn order; wait returns every value.
function M.order(args)
  local c = client(args)
  local order, tasks = {}, {}
  for _, name in ipairs({ "a", "b", "c" }) do
    tasks[#tasks + 1] = c:spawn(function(x) order[#order + 1] = x; return x:upper() end, name)
    order[#order + 1] = "spawned " .. name
  end
  c:run()
  local up = tasks[2]:wait()
  return { order = order, up = up, status = tasks[3].status,
    runtime = getmetatable(c.rt) == require("zuora.ngx.runtime").Runtime }
end

--- Concurrent calls: `n` tasks each calling catalog.list_products; returns the elapsed time.
function M.concurrent(args)
  local c = client(args, { max_concurrency = args.max_concurrency })
  assert(c.catalog.list_products()) -- the token first
  local t0 = now()
  local tasks = {}
  for i = 1, args.n do tasks[i] = c:spawn(function() return c.catalog.list_products() end) end
  local ok = 0
  for i = 1, args.n do
    local r = tasks[i]:wait()
    if r and r.success then ok = ok + 1 end
  end
  return { ok = ok, elapsed = now() - t0 }
end

--- map over account keys: results and errors in input order.
function M.map(args)
  local c = client(args)
  local results, errs = c:map(args.keys, function(key) return c.accounts.retrieve(key) end,
    { concurrency = args.concurrency })
  local out = {}
  for i = 1, #args.keys do
    out[i] = { number = results[i] and results[i].basicInfo.accountNumber or false,
      status = errs[i] and errs[i].status or false }
  end
  return { items = out }
end

--- Many tasks start cold: one token request (the spec counts them at the simulator).
function M.cold(args)
  local c = client(args, { token_cache = args.token_cache })
  local _, errs = c:map({ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20 }, function()
    return c.catalog.list_products()
  end, { concurrency = 20 })
  local n = 0
  for _ in pairs(errs) do n = n + 1 end
  return { errors = n }
end

--- Errors: raised values come back from wait unchanged; API errors as nil, err; run() raises
-- for a failure nobody waited for.
function M.errors(args)
  local c = client(args)
  local boom = { tag = "boom" }
  local t1 = c:spawn(function() error(boom) end)
  local t2 = c:spawn(function() error("plain message") end)
  local t3 = c:spawn(function() return c.accounts.retrieve("NOPE") end)
  local _, e1 = t1:wait()
  local _, e2 = t2:wait()
  local r3, e3 = t3:wait()
  c:spawn(function() error("lost in the background") end)
  local ok, run_err = pcall(c.run, c)
  return { same = e1 == boom, msg = tostring(e2),
    traceback = t2.traceback ~= nil and t2.traceback:find("traceback") ~= nil,
    r3 = r3 == nil, kind3 = e3.kind, status3 = e3.status, run_ok = ok, run_err = tostring(run_err),
    run_again = c:run() }
end

--- Nested spawns at two levels, all concurrent.
function M.nested(args)
  local c = client(args)
  assert(c.catalog.list_products())
  local t0 = now()
  local top = c:spawn(function()
    local kids = {}
    for i = 1, 2 do
      kids[i] = c:spawn(function()
        local grand = c:spawn(function() return assert(c.catalog.list_products()).success end)
        return assert(c.catalog.list_products()).success and grand:wait()
      end)
    end
    return kids[1]:wait() and kids[2]:wait()
  end)
  return { ok = top:wait(), elapsed = now() - t0 }
end

--- Cancelling: a task waiting for a slow call (from its parent: killed at once), a sleeper, and
-- gather with cancel_on_error.
function M.cancel(args)
  local c = client(args, { max_concurrency = 1 })
  assert(c.catalog.list_products())
  local t0 = now()
  local slow = c:spawn(function() return c.catalog.list_products() end)
  c:sleep(0.05)
  slow:cancel()
  local _, err = slow:wait()
  -- the single slot is free again
  local _, err404 = c.accounts.retrieve("NOPE")
  local cancel_elapsed = now() - t0

  local sleeper = c:spawn(function() c:sleep(10) end)
  c:sleep(0.01)
  sleeper:cancel("no longer needed")
  local _, serr = sleeper:wait()

  local t1 = now()
  local g = client(args) -- no cap here: the failing call must not queue behind the slow ones
  local out = g:gather({
    function() return g.catalog.list_products() end,
    function() g:sleep(0.05); return g.accounts.retrieve("NOPE") end,
    function() return g.catalog.list_products() end,
  }, { cancel_on_error = true })
  local function field(e, k) return type(e) == "table" and e[k] or tostring(e) end
  return { kind = field(err, "kind"), status404 = field(err404, "status"), cancel_elapsed = cancel_elapsed,
    sleeper = field(serr, "message"), gather_elapsed = now() - t1,
    g1 = field(out[1][2], "kind"), g2 = field(out[2][2], "status"), g3 = field(out[3][2], "kind") }
end

--- Cancelling from a coroutine that is not the task's parent: wait() reports it at once, the
-- task stops at its next call into the client.
function M.foreign_cancel(args)
  local c = client(args)
  assert(c.catalog.list_products())
  local steps = {}
  local victim = c:spawn(function()
    steps[#steps + 1] = "start"
    c:sleep(0.5)
    steps[#steps + 1] = "never" -- the sleep is not cut short, but the task stops when it returns
  end)
  local t0 = now()
  local canceller = c:spawn(function() c:sleep(0.05); return victim:cancel() end)
  local cancelled = canceller:wait()
  local _, err = victim:wait()
  local waited = now() - t0
  c:sleep(0.6)
  return { cancelled = cancelled, kind = err.kind, waited = waited, steps = steps }
end

--- Sleeping tasks do not hold up the others, and wake in time order.
function M.sleep(args)
  local c = client(args)
  local order = {}
  local t0 = now()
  local calls_done
  c:spawn(function() c:sleep(0.4); order[#order + 1] = "0.4" end)
  c:spawn(function() c:sleep(0.3); order[#order + 1] = "0.3" end)
  c:spawn(function()
    for _ = 1, 3 do assert(c.catalog.list_products()) end
    order[#order + 1] = "calls"
    calls_done = now() - t0
  end)
  c:run()
  return { order = order, elapsed = now() - t0, calls_done = calls_done }
end

--- A 401 on a token from the shared cache: the entry is dropped and one new token fetched.
function M.revoked(args)
  local c = client(args, { token_cache = "zuora_tokens" })
  local first = c.catalog.list_products()
  -- zuora-sim's control API (same origin, no credentials needed): revoke every token
  local revoked = c:request("POST", "/__sim/tokens/revoke", { body = {} })
  local second, err = c.catalog.list_products()
  return { first = first ~= nil, revoked = revoked ~= nil, second = second ~= nil,
    err = err and tostring(err) or false }
end

--- Configuration that cannot work inside nginx raises at zuora.new, with a message saying why.
function M.config_errors(args)
  local function try(extra)
    local ok, err = pcall(client, args, extra)
    return ok and "no error" or tostring(err)
  end
  return { ca_file = try{ ca_file = "/etc/ssl/certs/ca-certificates.crt" }, curl = try{ transport = "curl" },
    dict = try{ token_cache = "no_such_dict" }, ngx = try{ transport = "ngx" } }
end

--- A Billing action (a PUT that is not idempotent: renew, write-off, ...) on args.key through its
-- operation (args.via = "op": client[args.group][args.name]) or client:request("PUT", args.path),
-- with args.timeout: what the call said.
function M.action(args)
  local c = client(args, { timeout = args.timeout })
  local value, err, meta
  if args.via == "op" then
    value, err, meta = c[args.group][args.name](args.key, {})
  else
    value, err, meta = c:request("PUT", args.path, { body = {} })
  end
  return { ok = value ~= nil, sends = meta and meta.sends or err.sends,
    attempts = meta and meta.attempts or err.attempts, outcome_unknown = err and err.outcome_unknown or false,
    kind = err and err.kind or false, err = err and tostring(err) or false }
end

--- The safety rails under cosockets: a read-only client refuses a write, a deny pattern a read,
-- and a dry-run client describes a call, all without sending; a read-only client still reads.
function M.rails(args)
  local ro = client(args, { read_only = true })
  local created, cerr = ro.accounts.create{ name = "x", currency = "USD" }
  local dry = client(args, { dry_run = true }).accounts.retrieve("A1")
  local listed, derr = client(args, { deny = { "GET /v1/catalog/**" } }).catalog.list_products()
  local read = ro:request("GET", "/v1/catalog/products")
  return { created = created ~= nil, kind = cerr and cerr.kind, rule = cerr and cerr.rule,
    dry = dry and dry.dry_run, dry_url = dry and dry.url, listed = listed ~= nil, deny = derr and derr.rule,
    read = read ~= nil }
end

--- decimals = true inside nginx: a payment of 1234567890123456.78 made and read back exactly over
-- cosockets; without the option the same amount comes back as a double.
function M.decimals(args)
  local D = zuora.decimal
  local c = client(args, { decimals = true })
  local acct = assert(c.accounts.create{ name = "Exact Co", currency = "USD",
    billToContact = { firstName = "A", lastName = "B", country = "US" } })
  local p = assert(c.payments.create{ accountId = acct.accountId, amount = D(args.amount), type = "External" })
  local got = assert(c.payments.retrieve(p.id))
  local plain = assert(client(args).payments.retrieve(p.id))
  return { amount = tostring(got.amount), is_decimal = D.is(got.amount), sum = tostring(got.amount + D("0.01")),
    plain_type = type(plain.amount) }
end

return M
