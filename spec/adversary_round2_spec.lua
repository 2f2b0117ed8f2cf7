-- An adversary's second round: holes found by a review against servers of its own on loopback.
-- An echoed token nested deeper than a fixed depth in an Actions reply, or where no header value is
-- (a header's name, the reason phrase, a folded line); a caller's own
-- Idempotency-Key header (the key errors and dry runs give back, and a blank one that libcurl would
-- drop); a PUT whose path fits an idempotent template as written but reads as an action on the
-- server; a job's submit reply that is an empty body; nextPage values no request can carry (a
-- space, a control character, braces), which must end the iteration with nil, err instead of
-- raising out of it.
local zuora = require "zuora"
local nginx = require "spec.support.nginx"
local paginate = require "zuora.paginate"

local CLIENT_ID, CLIENT_SECRET, TOKEN = "adv2-client", "adv2SecretK4p8Wq1Zx6", "adv2TokenR7m2Jd9Lc3"

describe("an adversary's servers, second round", function()
  local srv

  lazy_setup(function()
    srv = nginx.start{ ports = 1, vars = { client_id = CLIENT_ID, client_secret = CLIENT_SECRET, token = TOKEN },
      http = [[
      lua_shared_dict keys 1m;
      server {
        listen 127.0.0.1:${port1};
        location = /oauth/token { content_by_lua_block {
          ngx.header["Content-Type"] = "application/json"
          ngx.print('{"access_token":"${token}","token_type":"bearer","expires_in":3600}')
        } }
        location = /v1/deep_results { content_by_lua_block {
          -- an Actions reply whose failed result echoes the token 40 objects deep, as a value and a key
          local v = '"${token}"'
          for _ = 1, 40 do v = '{"a":' .. v .. ',"${token}":1}' end
          ngx.header["Content-Type"] = "application/json"
          ngx.print('[{"Success":false,"Errors":[{"Code":"X","Message":"m"}],"x":' .. v .. '}]')
        } }
        location ~ ^/v1/head_(\w+)$ { content_by_lua_block {
          -- the token echoed where no header value is: a header's name, the reason phrase, a folded line
          local tok = (ngx.var.http_authorization or ""):match("^Bearer (.*)$") or ""
          local head = {
            name = "HTTP/1.1 200 OK\r\nX-" .. tok .. ": 1\r\n",
            reason = "HTTP/1.1 200 " .. tok .. "\r\n",
            folded = "HTTP/1.1 200 OK\r\nX-A: a\r\n " .. tok .. "\r\n",
          }
          local which = ngx.var[1]
          local sock = ngx.req.socket(true)
          sock:send(head[which] .. "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
          ngx.exit(444)
        } }
        location ~ ^/v1/subscriptions/[^/]+/renew$ { content_by_lua_block {
          -- nginx routes on the path as it reads it (%2F decoded, dot segments resolved): the renewal
          -- is done, then the connection reset before the answer
          ngx.req.read_body()
          ngx.shared.keys:incr("renewals", 1, 0)
          ngx.exit(444)
        } }
        location = /v1/renewals { content_by_lua_block { ngx.print(ngx.shared.keys:get("renewals") or 0) } }
        location ~ ^(/dqempty/query/jobs|/v1/usage|/api/integration/v1/.*/submit)$ { content_by_lua_block {
          -- a 200 with an empty body where a job's reply belongs
          ngx.req.read_body()
          ngx.exit(200)
        } }
        location = /v1/lost { content_by_lua_block {
          -- reads the request, records its key, closes without an answer
          ngx.req.read_body()
          ngx.shared.keys:set("last", ngx.var.http_idempotency_key or "(none)")
          ngx.exit(444)
        } }
        location = /v1/last_key { content_by_lua_block { ngx.print(ngx.shared.keys:get("last") or "") } }
        location = /v1/pages { content_by_lua_block {
          local np = { space = "/v1/x y", crlf = "/v1/x\\r\\nX-Injected: 1", tab = "/v1/x\\ty",
            abs = "http://127.0.0.1:${port1}/v1/x y", braces = "/v1/{id}/items" }
          ngx.header["Content-Type"] = "application/json"
          ngx.print('{"success":true,"data":[{"id":1}],"nextPage":"' .. np[ngx.var.arg_k] .. '"}')
        } }
        location = "/v1/{id}/items" { content_by_lua_block {
          ngx.header["Content-Type"] = "application/json"
          ngx.print('{"success":true,"data":[{"id":2}]}')
        } }
      }
    ]] }
  end)

  lazy_teardown(function()
    if srv then srv:stop() end
  end)

  local function client(opts)
    local o = { base_url = srv.url, client_id = CLIENT_ID, client_secret = CLIENT_SECRET,
      token_url = srv.url .. "/oauth/token", retry_base = 0.01, retry_cap = 0.02, timeout = 5 }
    for k, v in pairs(opts or {}) do o[k] = v end
    return zuora.new(o)
  end

  -- every string reachable from x (keys included), as one text
  local function strings(x, out, seen)
    out, seen = out or {}, seen or {}
    if type(x) == "string" then
      out[#out + 1] = x
    elseif type(x) == "table" and not seen[x] then
      seen[x] = true
      for k, v in pairs(x) do
        strings(k, out, seen)
        strings(v, out, seen)
      end
    end
    return out
  end

  it("redacts a token echoed at any depth of an Actions reply's results, keys included", function()
    local c = client()
    local res, err = c:request("GET", "/v1/deep_results")
    assert.is_nil(res)
    assert.equals("api", err.kind)
    local all = table.concat(strings(err), "\n")
    assert.is_truthy(all:find("[redacted]", 1, true))
    assert.is_nil(all:find(TOKEN, 1, true))
  end)

  it("shows no token echoed as a header's name, in the reason phrase or in a folded line", function()
    local events = {}
    local function hook(e) events[#events + 1] = e end
    local c = client{ on_request = hook, on_response = hook }
    for _, k in ipairs{ "name", "reason", "folded" } do
      local res, err, meta = c:request("GET", "/v1/head_" .. k)
      assert.is_truthy(res, tostring(err))
      local shown = {}
      for key, v in pairs(meta) do shown[key] = v end -- pairs(meta) shows headers and header_block
      assert.is_string(shown.header_block)
      local all = table.concat(strings({ shown, events }), "\n")
      assert.is_nil(all:find(TOKEN, 1, true), k)
      assert.is_nil(all:find(TOKEN:lower(), 1, true), k) -- header names come lower-cased
    end
  end)

  it("never repeats a PUT whose path a server reads as an action, whatever template its text fits", function()
    local c = client()
    -- as written it fits accounts.update (idempotent); nginx reads it as subscriptions.renew
    local res, err = c:request("PUT", "/v1/accounts/..%2Fsubscriptions%2FS1%2Frenew", { body = {} })
    assert.is_nil(res)
    assert.is_true(err.outcome_unknown)
    assert.equals(1, err.attempts)
    assert.equals(1, err.sends)
    assert.equals("1", (c:request("GET", "/v1/renewals", { raw = true })))
  end)

  it("judges a path value that holds a slash by the URL it makes: operations, templates, a lent op", function()
    local c = client()
    local function renewals() return tonumber((c:request("GET", "/v1/renewals", { raw = true }))) end
    local before = renewals()
    -- (an innocent value first: its verdict for the template must not be reused for the next one)
    local ok = c:request("PUT", "/v1/accounts/{k}", { path = { k = "A1" }, body = {} })
    assert.is_nil(ok)
    local calls = {
      function() return c.accounts.update("../subscriptions/S1/renew", {}) end,
      function()
        return c:request("PUT", "/v1/accounts/{k}", { path = { k = "../subscriptions/S1/renew" }, body = {} })
      end,
      -- an idempotent operation's entry handed in `op` with another request says nothing of it
      function() return c:request("PUT", "/v1/subscriptions/S1/renew", { body = {}, op = c.accounts.update.entry }) end,
    }
    for i, call in ipairs(calls) do
      local res, err = call()
      assert.is_nil(res, i)
      assert.is_true(err.outcome_unknown, i)
      assert.equals(1, err.sends, i)
      assert.equals(before + i, renewals(), i)
    end
  end)

  it("ends a job whose submit reply is an empty body with nil, err, never a raise", function()
    local c = client{ base_url = srv.url .. "/dqempty" }
    local ok, res, err = pcall(c.data_query, c, "select 1", { timeout = 2 })
    assert.is_true(ok, tostring(res))
    assert.is_nil(res)
    assert.equals("decode", err.kind)
    local path = os.tmpname()
    finally(function() os.remove(path) end)
    local f = assert(io.open(path, "w"))
    f:write("ACCOUNT_ID,UOM,QTY\n")
    f:close()
    c = client()
    ok, res, err = pcall(c.upload_usage, c, path, { wait = true, timeout = 2 })
    assert.is_true(ok, tostring(res))
    assert.is_nil(res)
    assert.equals("decode", err.kind)
    local rev = zuora.revenue.new{ base_url = srv.url, token = "rev-token-1", max_retries = 0 }
    ok, res, err = pcall(rev.run_program, rev, 1, 2, {})
    assert.is_true(ok, tostring(res))
    assert.is_nil(res)
    assert.equals("decode", err.kind)
  end)

  it("takes a caller's own Idempotency-Key header as the call's key, and refuses a blank one", function()
    local c = client{ max_retries = 1 }
    local res, err = c:request("POST", "/v1/lost", { body = { a = 1 }, headers = { ["Idempotency-Key"] = "mine-42" } })
    assert.is_nil(res)
    assert.is_true(err.outcome_unknown)
    assert.equals("mine-42", err.idempotency_key)
    assert.equals("mine-42", (c:request("GET", "/v1/last_key", { raw = true })))
    local req = c:request("POST", "/v1/lost", { body = {}, headers = { ["idempotency-key"] = "mine-43" },
      dry_run = true })
    assert.equals("mine-43", req.idempotency_key)
    for _, blank in ipairs{ "", "   " } do
      assert.has_error(function()
        c:request("POST", "/v1/lost", { body = {}, headers = { ["Idempotency-Key"] = blank } })
      end, "header 'Idempotency-Key' must be 1 to 255 characters, not blank")
    end
  end)

  it("ends paging at a nextPage no request can carry with nil, err, never a raise", function()
    local c = client()
    for _, k in ipairs{ "space", "crlf", "tab", "abs" } do
      local ok, items, err = pcall(paginate.all_request, c, "GET", "/v1/pages", { query = { k = k } })
      assert.is_true(ok, k .. ": " .. tostring(items))
      assert.is_nil(items, k)
      assert.equals("api", err.kind, k)
      assert.matches("space or control character", err.message)
    end
    -- braces are sent encoded, not read as a path template with a missing parameter
    local ok, items = pcall(paginate.all_request, c, "GET", "/v1/pages", { query = { k = "braces" } })
    assert.is_true(ok, tostring(items))
    assert.same({ 1, 2 }, { items[1].id, items[2].id })
  end)
end)
