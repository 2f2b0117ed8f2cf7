--- The runtime contract's cases (docs/transport.md, "Runtime contract"), written once and run in
-- both runtimes by spec/runtime_contract_spec.lua: in the busted process (zuora.async over
-- core.http, libcurl) and inside nginx (zuora.ngx.runtime over cosockets). Each case takes
-- { base = the contract server's URL, refused = a URL nothing listens on } and returns what it
-- saw as plain data: the results of rt:send (or of a client call) and the contract server's log
-- of the requests it read ({method, uri, conn, n}: nginx's connection serial number and the
-- request's number on that connection).
--
-- The contract server (the spec's nginx) answers every path outside /__ctl/ according to its
-- mode: "answer"; "drop_reused" reads the request and closes the connection without answering
-- when the connection is a kept-alive one (not its first request); "drop" always does so; "slow"
-- answers after 2 s. /__ctl/mode?m=<mode> sets the mode and clears the log (and, sent through
-- the runtime under test, leaves a kept-alive connection in its pool); /__ctl/log returns it.
local zuora = require "zuora"

local M = {}

-- The contract's result fields, as JSON-able data.
local function seen(res)
  return { status = res.status, kind = res.kind or false, curl_code = res.curl_code or false, sends = res.sends,
    reused = res.reused or false, http_version = res.http_version or false, header_block = res.header_block or false,
    headers = res.headers ~= nil, content_type = res.headers and res.headers["content-type"] or false,
    data = res.data or false, body = res.body or false, bytes = res.bytes, time = res.time, id = res.id }
end

local function client(args)
  return zuora.new{ base_url = args.base, token = "contract", max_retries = 0 }
end

-- Sets the server's mode; the answer travels on a connection the runtime keeps alive.
local function mode(rt, args, m)
  local r = rt:send{ url = args.base .. "/__ctl/mode?m=" .. m }
  assert(r.status == 200, "contract server: " .. tostring(r.error or r.status))
end

local function log(rt, args)
  return rt:send{ url = args.base .. "/__ctl/log", decode = true }.data
end

-- Runs `fn(rt)` with a new client's runtime; returns what fn returns plus the server's log.
local function with_runtime(args, fn)
  local c = client(args)
  local out = fn(c.rt)
  out.log = log(c.rt, args)
  c:close()
  return out
end

--- Two requests in a row: the second one goes on the first one's kept-alive connection.
function M.keepalive(args)
  return with_runtime(args, function(rt)
    mode(rt, args, "answer")
    return { first = seen(rt:send{ url = args.base .. "/a", decode = true }),
      second = seen(rt:send{ url = args.base .. "/b", decode = true }) }
  end)
end

--- fresh_connect: a connection of its own, never one from the pool.
function M.fresh(args)
  return with_runtime(args, function(rt)
    mode(rt, args, "answer")
    return { first = seen(rt:send{ url = args.base .. "/a", decode = true }),
      second = seen(rt:send{ url = args.base .. "/b", decode = true, fresh_connect = true }) }
  end)
end

--- A GET on a kept-alive connection the server closes after reading it: sent again.
function M.resend_get(args)
  return with_runtime(args, function(rt)
    mode(rt, args, "drop_reused")
    return { res = seen(rt:send{ url = args.base .. "/g", decode = true }) }
  end)
end

--- An unsafe request with fresh_connect (as the client sends one that must not be repeated),
-- where a kept-alive connection would be closed after the request was read: it travels alone.
function M.unsafe_fresh(args)
  return with_runtime(args, function(rt)
    mode(rt, args, "drop_reused")
    return { res = seen(rt:send{ method = "POST", url = args.base .. "/p", body = "x", decode = true,
      fresh_connect = true }) }
  end)
end

--- The same request where the server closes every connection after reading the request: sent
-- once, and the failure says the answer was empty (libcurl's 52).
function M.unsafe_dropped(args)
  return with_runtime(args, function(rt)
    mode(rt, args, "drop")
    return { res = seen(rt:send{ method = "POST", url = args.base .. "/p", body = "x", fresh_connect = true }) }
  end)
end

--- A POST without fresh_connect on a kept-alive connection that dies: the transport resends it
-- as libcurl does (fresh_connect is the caller's only switch), and counts both sends.
function M.resend_post(args)
  return with_runtime(args, function(rt)
    mode(rt, args, "drop_reused")
    return { res = seen(rt:send{ method = "POST", url = args.base .. "/p", body = "x", decode = true }) }
  end)
end

--- A refused connection: nothing sent, libcurl's 7.
function M.refused(args)
  return with_runtime(args, function(rt)
    mode(rt, args, "answer")
    return { res = seen(rt:send{ url = args.refused, connect_timeout = 2 }) }
  end)
end

--- A request over its timeout: sent once, libcurl's 28.
function M.timeout(args)
  return with_runtime(args, function(rt)
    mode(rt, args, "slow")
    return { res = seen(rt:send{ url = args.base .. "/slow", timeout = 0.4 }) }
  end)
end

--- header_block: the raw lines instead of the table.
function M.header_block(args)
  return with_runtime(args, function(rt)
    mode(rt, args, "answer")
    local r = rt:send{ url = args.base .. "/h", decode = true, header_block = true }
    local out = seen(r)
    out.block_type = require("zuora.core").http.header(r.header_block or "", "content-type") or false
    return { res = out }
  end)
end

--- Response heads libcurl refuses (a header line without a colon, a NUL in a header, a status of
-- more than three digits) and two it takes (a folded line, no reason phrase), keyed by path.
function M.malformed(args)
  return with_runtime(args, function(rt)
    mode(rt, args, "malformed")
    local out = {}
    for _, path in ipairs { "nocolon", "nul", "bigstatus", "status4", "folded", "noreason" } do
      out[path] = seen(rt:send{ url = args.base .. "/" .. path, decode = true, header_block = true })
    end
    mode(rt, args, "answer")
    return out
  end)
end

-- One call through client `c` where the server closes a kept-alive connection after reading the
-- request: what the call returned and what the server read.
local function call_once(c, args, method, path)
  mode(c.rt, args, "drop_reused")
  local value, err, meta = c:request(method, path, { body = { rows = 1 } })
  local out = { ok = value ~= nil, sends = meta and meta.sends or (err and err.sends) or false,
    err = err and tostring(err) or false, outcome_unknown = err and err.outcome_unknown or false }
  out.log = log(c.rt, args)
  c:close()
  return out
end

--- Zuora Revenue takes no Idempotency-Key: its POST must be read by the server once.
function M.revenue_post(args)
  return call_once(zuora.revenue.new{ base_url = args.base, token = "contract", retry_base = 0.01, retry_cap = 0.02 },
    args, "POST", "/api/integration/v1/stage/upload")
end

--- A Billing action (PUT .../renew): not idempotent, so it too is read by the server once.
function M.put_action(args)
  return call_once(zuora.new{ base_url = args.base, token = "contract", retry_base = 0.01, retry_cap = 0.02 },
    args, "PUT", "/v1/subscriptions/A-S1/renew")
end

return M
