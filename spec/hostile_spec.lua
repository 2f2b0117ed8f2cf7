-- Hostile and broken servers against the whole client: huge bodies and header floods, bodies that
-- are not the JSON they claim, hostile token replies and Retry-After values, and redirects, next
-- pages and Data Query result files that try to take credentials elsewhere. Each must end in a
-- clear error or a safe default, quickly, with the client still usable afterwards; never a crash,
-- a hang or a credential sent astray.
local zuora = require "zuora"
local core = require "zuora.core"
local nginx = require "spec.support.nginx"
local client_mod = require "zuora.client"

local now = core.http.now

local CLIENT_ID, CLIENT_SECRET, TOKEN = "hostile-client", "hostile-secret-9f2c", "hostile-token-5be1d0"

describe("hostile servers", function()
  local srv, base, evil, dir

  lazy_setup(function()
    local p = assert(io.popen("mktemp -d /tmp/zuora-hostile.XXXXXX"))
    dir = p:read("l")
    p:close()
    -- a gzip bomb: 64 MiB of zeros in a few dozen KiB
    os.execute("head -c 67108864 /dev/zero | gzip -9 > '" .. dir .. "/bomb.gz'")
    srv = nginx.start{ ports = 2, vars = { client_id = CLIENT_ID, client_secret = CLIENT_SECRET, token = TOKEN,
      dir = dir }, http = [[
      lua_shared_dict seen 1m;
      server {
        listen 127.0.0.1:${port1};
        set $token "${token}";
        location = /v1/ok { content_by_lua_block {
          if ngx.var.http_authorization ~= "Bearer " .. ngx.var.token then
            ngx.status = 401; ngx.header["Content-Type"] = "application/json"
            return ngx.print('{"message":"Authentication error"}')
          end
          ngx.header["Content-Type"] = "application/json"
          ngx.print('{"success":true,"auth":"' .. ngx.var.http_authorization .. '"}')
        } }
        location = /v1/endless { content_by_lua_block {
          ngx.header["Content-Type"] = "application/json"
          local chunk = ("x"):rep(65536)
          for _ = 1, 4096 do if not ngx.print(chunk) then return end; ngx.flush(true) end
        } }
        location = /v1/announced { content_by_lua_block {
          local sock = ngx.req.socket(true)
          sock:send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 10737418240\r\n\r\n{")
          ngx.sleep(5)
          ngx.exit(444)
        } }
        location = /v1/bomb {
          default_type application/json;
          add_header Content-Encoding gzip;
          alias ${dir}/bomb.gz;
        }
        location = /v1/many_headers { content_by_lua_block {
          for i = 1, 10000 do ngx.header["X-H" .. i] = "v" end
          ngx.print("{}")
        } }
        location = /v1/huge_header { content_by_lua_block {
          ngx.header["X-Big"] = ("a"):rep(1048576); ngx.print("{}")
        } }
        location = /v1/deep { content_by_lua_block {
          ngx.header["Content-Type"] = "application/json"; ngx.print(("["):rep(100000) .. ("]"):rep(100000))
        } }
        location = /v1/deep_error { content_by_lua_block {
          ngx.status = 400; ngx.header["Content-Type"] = "application/json"
          ngx.print('{"success":false,"reasons":' .. ("["):rep(50000))
        } }
        location = /v1/bad_utf8 { content_by_lua_block {
          ngx.header["Content-Type"] = "application/json"; ngx.print('{"success":true,"name":"Acme \255\254"}')
        } }
        location = /v1/html200 { content_by_lua_block {
          ngx.header["Content-Type"] = "text/html"; ngx.print("<html><body>Please log in to the Wi-Fi</body></html>")
        } }
        location = /v1/http09 { content_by_lua_block {
          local sock = ngx.req.socket(true); sock:send("garbage without a status line\r\n\r\n"); ngx.exit(444)
        } }
        location = /v1/two_lengths { content_by_lua_block {
          local sock = ngx.req.socket(true)
          sock:send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\n{}")
          ngx.exit(444)
        } }
        location = /v1/retry_after { content_by_lua_block {
          ngx.status = 429; ngx.header["Retry-After"] = ngx.var.arg_v; ngx.header["Content-Type"] = "application/json"
          ngx.print('{"success":false,"reasons":[{"code":50000070,"message":"slow down"}]}')
        } }
        location = /v1/redirect_away { content_by_lua_block {
          return ngx.redirect("http://127.0.0.1:${port2}/v1/ok?from=away", 302)
        } }
        location = /v1/redirect_home { content_by_lua_block { return ngx.redirect("/v1/ok", 302) } }
        location = /v1/redirect_loop { content_by_lua_block { return ngx.redirect("/v1/redirect_loop", 302) } }
        location = /v1/redirect_post { content_by_lua_block { return ngx.redirect("/v1/ok", 307) } }
        location = /v1/payments { content_by_lua_block {
          ngx.header["Content-Type"] = "application/json"
          ngx.print('{"success":true,"payments":[{"id":"p1"}],'
            .. '"nextPage":"http://127.0.0.1:${port2}/v1/payments?page=2"}')
        } }
        location ~ ^/dq-(\w+)/query/jobs$ { content_by_lua_block {
          local files = { http = "http://127.0.0.1:${port2}/results/x.csv?X-Amz-Signature=a",
            file = "file:///etc/passwd", ftp = "ftp://127.0.0.1:${port2}/x.csv" }
          local kind = ngx.var[1]
          ngx.header["Content-Type"] = "application/json"
          ngx.print('{"data":{"id":"job-1","queryStatus":"completed","outputRows":1,"dataFile":"'
            .. files[kind] .. '"}}')
        } }
        location = /oauth/token { content_by_lua_block {
          ngx.req.read_body()
          local args = ngx.req.get_post_args()
          ngx.header["Content-Type"] = "application/json"
          if args.client_id ~= "${client_id}" or args.client_secret ~= "${client_secret}" then
            ngx.status = 401; return ngx.print('{"error":"invalid_client"}')
          end
          local kind = ngx.var.arg_kind or "ok"
          local tok = '"access_token":"' .. ngx.var.token .. '","token_type":"bearer"'
          local replies = {
            ok = '{' .. tok .. ',"expires_in":3600}',
            negative = '{' .. tok .. ',"expires_in":-5}',
            zero = '{' .. tok .. ',"expires_in":0}',
            garbage = '{' .. tok .. ',"expires_in":"soon"}',
            huge = '{' .. tok .. ',"expires_in":1e308}',
            nan = '{' .. tok .. ',"expires_in":"NaN"}',
            null = '{' .. tok .. ',"expires_in":null}',
            missing = '{' .. tok .. '}',
            float = '{' .. tok .. ',"expires_in":"3600.9"}',
            crlf = '{"access_token":"abc\\r\\nX-Injected: 1","token_type":"bearer","expires_in":3600}',
            nested = '{' .. tok .. ',"expires_in":{"seconds":3600}}',
            type = '{' .. tok:gsub("bearer", "mac") .. ',"expires_in":3600}',
            big = '{' .. tok .. ',"pad":"' .. ("p"):rep(70000) .. '"}',
            redirect = false,
          }
          if kind == "redirect" then
            return ngx.redirect("http://127.0.0.1:${port2}/oauth/token", 307)
          end
          ngx.print(replies[kind])
        } }
      }
      server {
        listen 127.0.0.1:${port2};
        location / { content_by_lua_block {
          ngx.shared.seen:incr("n", 1, 0)
          ngx.req.read_body()
          local h = ngx.req.get_headers()
          ngx.shared.seen:set("last", (h.authorization or "") .. "|" .. (ngx.req.get_body_data() or ""))
          ngx.header["Content-Type"] = "application/json"
          ngx.print('{"success":true,"evil":true}')
        } }
        location /results/ { content_by_lua_block {
          ngx.shared.seen:incr("n", 1, 0)
          local h = ngx.req.get_headers()
          ngx.shared.seen:set("last", (h.authorization or h.token or h.apisecretaccesskey or "") .. "|")
          ngx.print("id,name\n1,Acme\n")
        } }
        location = /__seen { content_by_lua_block {
          ngx.print((ngx.shared.seen:get("n") or 0) .. "\n" .. (ngx.shared.seen:get("last") or ""))
        } }
      }
    ]] }
    base = srv.url
    evil = "http://127.0.0.1:" .. srv.ports[2]
  end)

  lazy_teardown(function()
    if srv then srv:stop() end
    if dir then os.execute("rm -rf '" .. dir .. "'") end
  end)

  local function client(opts)
    local o = { base_url = base, client_id = CLIENT_ID, client_secret = CLIENT_SECRET, retry_base = 0.01,
      retry_cap = 0.02, timeout = 5 }
    for k, v in pairs(opts or {}) do o[k] = v end
    return zuora.new(o)
  end

  -- What the second origin has seen: request count and the last Authorization|body.
  local function evil_seen()
    local r = core.http.new{}:perform{ url = evil .. "/__seen" }
    local n, last = r.body:match("^(%d+)\n(.*)$")
    return tonumber(n), last
  end

  -- Calls path, checks the outcome came quickly and the client still works afterwards.
  local function call(c, path, opts)
    local t0 = now()
    local res, err, meta = c:request("GET", path, opts)
    local took = now() - t0
    assert(took < 4, path .. " took " .. took .. " s")
    assert(c:request("GET", "/v1/ok"), "the client is still usable after " .. path)
    return res, err, meta
  end

  describe("size", function()
    it("stops an endless body at max_body", function()
      local c = client{ max_body = 1048576 }
      local res, err = call(c, "/v1/endless")
      assert.is_nil(res)
      assert.equals("transport", err.kind)
      assert.equals("too_large", err.reason)
      assert.is_false(err.retryable)
      assert.equals(1, err.attempts)
    end)

    it("refuses an announced 10 GB body before reading it", function()
      local res, err = call(client{ max_body = 1048576 }, "/v1/announced")
      assert.is_nil(res)
      assert.equals("too_large", err.reason)
    end)

    it("counts decoded bytes, so a gzip bomb stops at max_body", function()
      local res, err = call(client{ max_body = 1048576 }, "/v1/bomb")
      assert.is_nil(res)
      assert.equals("too_large", err.reason)
    end)

    it("refuses 10,000 response headers", function()
      local res, err = call(client(), "/v1/many_headers")
      assert.is_nil(res)
      assert.equals("too_large", err.reason)
      assert.is_false(err.retryable)
    end)

    it("refuses a 1 MB header line", function()
      local res, err = call(client(), "/v1/huge_header")
      assert.is_nil(res)
      assert.equals("too_large", err.reason)
    end)
  end)

  describe("bodies", function()
    it("reports JSON nested 100,000 deep as a decode error", function()
      local res, err = call(client(), "/v1/deep")
      assert.is_nil(res)
      assert.equals("decode", err.kind)
      assert.matches("nesting deeper than the limit", err.message)
      assert.is_false(err.retryable)
    end)

    it("reports a deeply nested error body as the HTTP error it is", function()
      local res, err = call(client(), "/v1/deep_error")
      assert.is_nil(res)
      assert.equals("api", err.kind)
      assert.equals(400, err.status)
    end)

    it("reports invalid UTF-8 as a decode error", function()
      local res, err = call(client(), "/v1/bad_utf8")
      assert.is_nil(res)
      assert.equals("decode", err.kind)
      assert.matches("UTF%-8", err.message)
    end)

    it("reports an HTML page answering a JSON operation as a decode error", function()
      local c = client()
      local res, err = c:request("GET", "/v1/html200", { op = { group = "accounts", name = "retrieve" } })
      assert.is_nil(res)
      assert.equals("decode", err.kind)
      assert.matches("text/html", err.message)
      assert.matches("Wi%-Fi", err.body)
      -- client:request without a catalogue operation returns what came, as documented
      assert.equals("string", type(c:request("GET", "/v1/html200")))
    end)

    it("reports a reply without a status line, and conflicting lengths, as transport errors", function()
      for _, path in ipairs{ "/v1/http09", "/v1/two_lengths" } do
        local res, err = call(client{ max_retries = 1 }, path)
        assert.is_nil(res)
        assert.equals("transport", err.kind, path)
      end
    end)
  end)

  describe("Retry-After", function()
    it("caps a huge Retry-After at retry_after_cap (60 s by default)", function()
      local seen
      local c = client{ on_response = function(ev) if ev.retry_in then seen = ev.retry_in end end }
      -- inside a task the client sleeps without blocking; the test looks at the plan and moves on
      c:spawn(function() return c:request("GET", "/v1/retry_after", { query = { v = "999999" } }) end)
      local deadline = now() + 5
      while not seen and now() < deadline do c.rt:step(now() + 0.1) end
      assert.equals(60, seen)
      c:close()
    end)

    it("honours the cap it is given", function()
      local c = client{ retry_after_cap = 0.3, max_retries = 1 }
      local t0 = now()
      local res, err = c:request("GET", "/v1/retry_after", { query = { v = "999999" } })
      local took = now() - t0
      assert.is_nil(res)
      assert.equals(429, err.status)
      assert.equals(2, err.attempts)
      assert.is_true(took >= 0.3 and took < 2, "took " .. took)
    end)

    it("reads seconds, HTTP dates, and ignores garbage", function()
      local ras = client_mod.retry_after_seconds
      assert.equals(60, ras("999999", 60))
      assert.equals(60, ras("Fri, 31 Dec 9999 23:59:59 GMT", 60))
      assert.equals(0, ras("Thu, 01 Jan 1970 00:00:00 GMT", 60))
      assert.is_nil(ras("-5", 60))
      assert.is_nil(ras("0x10", 60)) -- hex is not delay-seconds (tonumber would read 16)
      assert.equals(2.5, ras("2.5", 60))
      assert.is_nil(ras("soon", 60))
      assert.is_nil(ras("nan", 60))
      assert.is_nil(ras("", 60))
      assert.is_nil(ras("inf", 60))
    end)
  end)

  describe("token replies", function()
    local function token_client(kind, opts)
      local o = { token_url = base .. "/oauth/token?kind=" .. kind }
      for k, v in pairs(opts or {}) do o[k] = v end
      return client(o)
    end

    it("gives a token with a missing, negative, zero, garbage or huge expires_in a short safe lifetime", function()
      for _, kind in ipairs{ "negative", "zero", "garbage", "huge", "nan", "null", "missing" } do
        local c = token_client(kind)
        assert(c:request("GET", "/v1/ok"), kind)
        local left = c.auth:expires_in(now())
        assert(left > 295 and left <= 300, kind .. ": " .. tostring(left))
        c:close()
      end
      local c = token_client("float")
      assert(c:request("GET", "/v1/ok"))
      assert.is_true(c.auth:expires_in(now()) > 3590)
    end)

    it("refuses a token that would break a header, a nested or oversized reply, and other token types", function()
      for _, kind in ipairs{ "crlf", "nested", "big", "type" } do
        local c = token_client(kind, { max_retries = 1 })
        local res, err = c:request("GET", "/v1/ok")
        assert.is_nil(res, kind)
        if kind == "big" then -- token replies are capped at 64 KiB
          assert.equals("transport", err.kind)
          assert.equals("too_large", err.reason)
        else
          assert.equals("auth", err.kind, kind)
        end
        assert.is_false(err.retryable, kind)
        assert.is_nil(tostring(err):find(CLIENT_SECRET, 1, true), kind)
        assert.is_nil(tostring(err):find(TOKEN, 1, true), kind)
        c:close()
      end
    end)
  end)

  describe("redirects", function()
    it("never follows a redirect to another origin, and says where it pointed", function()
      local before = evil_seen()
      local res, err = call(client(), "/v1/redirect_away")
      assert.is_nil(res)
      assert.equals("api", err.kind)
      assert.equals(302, err.status)
      assert.is_false(err.retryable)
      assert.matches("redirect to http://127.0.0.1:%d+/v1/ok%?from=away not followed", err.message)
      assert.equals(before, evil_seen())
    end)

    it("never follows the token endpoint's redirect with the client secret", function()
      local before = evil_seen()
      local res, err = client{ token_url = base .. "/oauth/token?kind=redirect" }:request("GET", "/v1/ok")
      assert.is_nil(res)
      assert.equals("auth", err.kind)
      assert.equals(307, err.status)
      assert.equals(before, evil_seen())
    end)

    it("follows a same-origin redirect of a GET, with credentials", function()
      local res, _, meta = call(client(), "/v1/redirect_home")
      assert.equals("Bearer " .. TOKEN, res.auth)
      assert.equals(200, meta.status)
      assert.equals(2, meta.sends)
    end)

    it("stops a same-origin redirect loop", function()
      local res, err = call(client(), "/v1/redirect_loop")
      assert.is_nil(res)
      assert.equals(302, err.status)
      assert.equals(6, err.sends) -- the request and five hops
    end)

    it("does not follow a redirect of a POST, even on the same origin", function()
      local res, err = client():request("POST", "/v1/redirect_post", { body = { name = "x" } })
      assert.is_nil(res)
      assert.equals(307, err.status)
      assert.matches("not followed", err.message)
    end)
  end)

  describe("other hosts", function()
    it("refuses a nextPage on another host before sending anything there", function()
      local before = evil_seen()
      local c = client()
      local all, err = c.payments.list:all()
      assert.is_nil(all)
      assert.equals("api", err.kind)
      assert.matches("refusing to follow nextPage to another origin", err.message)
      assert.equals(before, evil_seen())
      assert(c:request("GET", "/v1/ok"))
    end)

    it("fetches a Data Query dataFile with no credential, and only over http(s)", function()
      -- the client's base URL is loopback, so a result file over plain http is allowed
      local before = evil_seen()
      local c = client{ base_url = base .. "/dq-http", token_url = base .. "/oauth/token" }
      local rows, err = c:data_query("select id, name from account", { output_format = "CSV", compression = "NONE" })
      assert(rows, tostring(err))
      local got = {}
      for row in rows do got[#got + 1] = row.name end
      assert.same({ "Acme" }, got)
      local n, last = evil_seen()
      assert.equals(before + 1, n)
      assert.equals("|", last) -- no Authorization, token or key header went to the storage host
      for _, kind in ipairs{ "file", "ftp" } do
        local c2 = client{ base_url = base .. "/dq-" .. kind, token_url = base .. "/oauth/token" }
        local res, ferr = c2:data_query("select id from account", { output_format = "CSV", compression = "NONE" })
        assert.is_nil(res, kind)
        assert.matches("not http", ferr.message)
      end
      assert.equals(before + 1, evil_seen())
    end)

    it("refuses a dataFile over plain http when the client's own base URL is not loopback", function()
      local before = evil_seen()
      local remote = zuora.new{ base_url = "https://rest.zuora.example", token = "t" }
      local res, err = require("zuora.data_query").download(remote, evil .. "/results/x.csv", "/tmp/zuora-never")
      remote:close()
      assert.is_nil(res)
      assert.matches("refusing a result file over plain http", err.message)
      assert.equals(before, evil_seen())
    end)
  end)
end)
