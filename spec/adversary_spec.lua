-- An adversary's servers (issue 21): each hole an adversarial review found, as a spec against a
-- server of the spec's own on loopback, in both runtimes where a transport is involved (plain Lua
-- with libcurl, and nginx cosockets): credential URLs checked when the client is made; no token or
-- secret in anything the library hands out, wherever a server echoes them; paging that makes no
-- progress ends with kind "loop"; a decompression bomb in a Data Query result keeps memory flat;
-- client:close() inside a task ends the others' calls with a `closed` error.
local zuora = require "zuora"
local core = require "zuora.core"
local openresty = require "spec.support.openresty"
local fs = require "spec.support.fs"
local cases = require "spec.support.adversary_cases"

local json = core.json

local CLIENT_ID, CLIENT_SECRET = "adv-client", "advSecretQ7w9Zk2Lp4Xr8Tn5"
local TOKEN = "advTokenM3v8Hc1Jq6Ws0Yb2Fd"
local MAX_OFFSET = 300

local HTTP = [[
  lua_shared_dict planted 1m;
  lua_shared_dict pages 1m;
  lua_socket_log_errors off;
  server {
    listen 127.0.0.1:${port1};
    set $token "${token}";
    set $secret "${secret}";
    location = /oauth/token { content_by_lua_block {
      ngx.req.read_body()
      local args = ngx.req.get_post_args()
      local q = ngx.req.get_uri_args()
      ngx.header["Content-Type"] = "application/json"
      -- the endpoint echoes the secret in a header of every reply (and the token it issues)
      ngx.header["X-Echo"] = ngx.var.secret
      if q.slow then ngx.sleep(1) end
      if args.client_id ~= "${client_id}" or args.client_secret ~= ngx.var.secret then
        ngx.status = 401; return ngx.print('{"error":"invalid_client"}')
      end
      if q.off then
        ngx.shared.planted:incr("token", 1, 0)
        ngx.status = 401
        return ngx.print('{"error":"invalid_client","error_description":"' .. ("."):rep(tonumber(q.off))
          .. ngx.var.secret .. ' was wrong ' .. ("."):rep(40) .. '"}')
      end
      ngx.header["X-Echo"] = ngx.var.secret .. " " .. ngx.var.token
      ngx.print('{"access_token":"' .. ngx.var.token .. '","token_type":"bearer","expires_in":3600}')
    } }
    location = /echo { content_by_lua_block {
      local q = ngx.req.get_uri_args()
      local kind, off = q.kind, tonumber(q.off or 0)
      local tok = (ngx.var.http_authorization or ""):match("^Bearer (.*)$") or ""
      if tok == ngx.var.token then ngx.shared.planted:incr(kind, 1, 0) end
      local planted = ("."):rep(off) .. tok .. " " .. ngx.var.secret
      local function headers()
        ngx.header["X-Echo"] = planted
        ngx.header["Location"] = "https://evil.example/cb?state=" .. planted:gsub(" ", "+")
        ngx.header["WWW-Authenticate"] = 'Bearer realm="' .. planted .. '"'
        ngx.header["Link"] = "<https://evil.example/?X%2DAmz%2DSignature=" .. tok .. ">; rel=next"
        ngx.header["Set-Cookie"] = "s=" .. tok
        ngx.header["Zuora-Request-Id"] = tok
      end
      local ctype = "application/json"
      local status, body = 200, '{"ok":true}'
      if kind == "text" then
        ctype, status, body = "text/plain", 400, planted .. (" "):rep(30)
      elseif kind == "json_bad" then
        body = '{"x":"' .. planted .. ' unterminated'
      elseif kind == "reasons" then
        status = 400
        body = '{"success":false,"processId":"' .. tok .. '","reasons":[{"code":50000040,"message":"' .. planted
          .. '"},{"code":"' .. tok .. '","message":"' .. planted .. '"}]}'
      elseif kind == "actions" then
        body = '[{"Success":false,"Errors":[{"Code":"INVALID_VALUE","Message":"' .. planted .. '"}],"'
          .. tok .. '":"' .. ngx.var.secret .. '"}]'
      elseif kind == "errors" then
        status, body = 400, '{"errors":[{"code":"E1","message":"' .. planted .. '"}]}'
      elseif kind == "message" then
        status, body = 401, '{"message":"' .. planted .. '"}'
      elseif kind == "headers" then
        headers(); ctype, status, body = "text/plain", 400, "no"
      elseif kind == "headers_ok" then
        headers()
      elseif kind == "redirect" then
        status = 302
        ngx.header["Location"] = "http://127.0.0.2:9/x?y=" .. planted:gsub(" ", "+")
      end
      ngx.status = status
      ngx.header["Content-Type"] = ctype
      ngx.print(body)
    } }
    location = /planted { content_by_lua_block {
      local out = {}
      for _, k in ipairs(ngx.shared.planted:get_keys(0)) do out[#out + 1] = k .. "=" .. ngx.shared.planted:get(k) end
      ngx.print(table.concat(out, "&"))
    } }
    location = /slow { content_by_lua_block {
      ngx.sleep(1); ngx.header["Content-Type"] = "application/json"; ngx.print("{}")
    } }
    location = /busy { content_by_lua_block {
      ngx.status = 503; ngx.header["Retry-After"] = "1"; ngx.header["Content-Type"] = "application/json"
      ngx.print('{"message":"busy"}')
    } }
    location ~ ^/page/(\w+)$ { content_by_lua_block {
      local name = ngx.var[1]
      local n = ngx.shared.pages:incr(name, 1, 0)
      local p = tonumber(ngx.req.get_uri_args().p or 1)
      local base = "/page/" .. name
      local data, np = '[{"id":1}]', nil
      if name == "fragment" then np = base .. "?p=2#f" .. n
      elseif name == "amp" then np = base .. "?p=2" .. ("&"):rep(n)
      elseif name == "order" then np = n % 2 == 0 and base .. "?a=1&b=2" or base .. "?b=2&a=1"
      elseif name == "absolute" then
        np = n % 2 == 0 and ("http://127.0.0.1:${port1}" .. base .. "?p=2") or (base .. "?p=2")
      elseif name == "dummy" then data, np = "[]", base .. "?n=" .. n
      elseif name == "cursor" then np = "c2FtZQ"
      elseif name == "repeat" then np = base .. "?p=2&x=" .. n -- the same item, a new dummy parameter
      elseif name == "same" then np = base
      elseif name == "good" then np = p < 3 and (base .. "?p=" .. (p + 1)) or nil
      elseif name == "sparse" then
        if p >= 2 and p <= 6 then data = "[]" end
        np = p < 8 and (base .. "?p=" .. (p + 1)) or nil
      end
      ngx.header["Content-Type"] = "application/json"
      ngx.print('{"success":true,"data":' .. data .. (np and (',"nextPage":"' .. np .. '"') or "") .. '}')
    } }
    location ~ ^/v1/action/query(More)?$ { content_by_lua_block {
      ngx.req.read_body()
      local body = ngx.req.get_body_data() or ""
      local loc = body:match('"queryLocator":"([^"]*)"')
      ngx.header["Content-Type"] = "application/json"
      if body:find("SameLocator", 1, true) or loc == "L-same" then
        return ngx.print('{"records":[{"Id":"1"}],"size":1,"done":false,"queryLocator":"L-same"}')
      end
      if body:find("RepeatBatch", 1, true) or (loc and loc:find("^R%-")) then
        local r = tonumber(loc and loc:match("^R%-(%d+)$") or 0) + 1
        return ngx.print('{"records":[{"Id":"1"}],"size":1,"done":false,"queryLocator":"R-' .. r .. '"}')
      end
      local k = tonumber(loc and loc:match("^L%-(%d+)$") or 0) + 1
      ngx.print('{"records":[],"size":0,"done":false,"queryLocator":"L-' .. k .. '"}')
    } }
    location ~ ^/dqfail/query/jobs(/.*)?$ { content_by_lua_block {
      -- a Data Query job that fails, its id, code and message echoing the token and secret
      local tok = (ngx.var.http_authorization or ""):match("^Bearer (.*)$") or ""
      if tok == ngx.var.token then ngx.shared.planted:incr("job", 1, 0) end
      ngx.header["Content-Type"] = "application/json"
      local running = ngx.req.get_method() == "POST"
      ngx.print('{"data":{"id":"job-' .. tok .. '","queryStatus":"' .. (running and "running" or "failed")
        .. '","errorCode":"' .. tok .. '","errorMessage":"' .. tok .. " " .. ngx.var.secret .. '"}}')
    } }
    location = /dq/query/jobs { content_by_lua_block {
      ngx.header["Content-Type"] = "application/json"
      ngx.print('{"data":{"id":"job-1","queryStatus":"completed","outputRows":1,'
        .. '"dataFile":"http://127.0.0.1:${port1}/files/bomb.json.gz"}}')
    } }
    location /files/ { alias ${dir}/; }
  }
  server {
    listen 127.0.0.1:${port2};
    location /case/ { content_by_lua_block {
      local json = require("zuora.core").json
      ngx.req.read_body()
      local args = json.decode(ngx.req.get_body_data() or "{}")
      local name = ngx.var.uri:match("^/case/([%w_]+)$")
      local ok, res = pcall(require("spec.support.adversary_cases")[name], args)
      if not ok then ngx.status = 500; res = { raised = tostring(res) } end
      ngx.say(json.encode(res))
    } }
  }
]]

describe("an adversary's servers", function()
  local srv, dir, base, args

  lazy_setup(function()
    dir = fs.tmpdir("adversary")
    srv = openresty.start{ ports = 2, vars = { token = TOKEN, secret = CLIENT_SECRET, client_id = CLIENT_ID,
      dir = dir }, http = HTTP }
    base = srv.url
    args = { base_url = base, client_id = CLIENT_ID, client_secret = CLIENT_SECRET, token = TOKEN,
      max_offset = MAX_OFFSET }
  end)

  lazy_teardown(function()
    if srv then srv:stop() end
    if dir then fs.sh("rm -rf " .. fs.q(dir)) end
  end)

  -- Runs a scenario of spec/support/adversary_cases.lua in the runtime named.
  local function run(runtime, name)
    if runtime == "curl" then return cases[name](args) end
    local out = openresty.parallel{ { method = "POST", url = "http://127.0.0.1:" .. srv.ports[2] .. "/case/" .. name,
      body = json.encode(args), headers = { ["Content-Type"] = "application/json" } } }
    local r = json.decode(out[1].body)
    assert(out[1].status == 200, r and r.raised or out[1].body)
    return r
  end

  it("has a scanner that finds any 8 bytes of the token or the secret (what a cut would leave)", function()
    assert.is_true(cases.windows_find(args, ("."):rep(195) .. TOKEN:sub(1, 8)))
    assert.is_true(cases.windows_find(args, CLIENT_SECRET:sub(-8) .. "..."))
    assert.is_false(cases.windows_find(args, ("."):rep(195) .. TOKEN:sub(1, 7) .. "[redacted]"))
  end)

  describe("credential URLs, checked when the client is made", function()
    local function new(o)
      o.client_id, o.client_secret = o.client_id or "id", o.client_secret or "secret"
      if not o.environment then o.base_url = o.base_url or "https://rest.zuora.example" end
      return pcall(zuora.new, o)
    end

    it("refuses a token_url over plain http (not loopback), another scheme, with userinfo or a fragment", function()
      for u, why in pairs{
        ["http://evil.example/oauth/token"] = "https URL",
        ["ftp://evil.example/token"] = "http%(s%) URL",
        ["file:///etc/passwd"] = "http%(s%) URL",
        ["https://user:pw@rest.zuora.example/oauth/token"] = "user name or password",
        ["https://rest.zuora.example/oauth/token#x"] = "fragment",
      } do
        local ok, err = new{ token_url = u }
        assert.is_false(ok, u)
        assert.matches("option 'token_url' must be .*" .. why, err)
        assert.is_nil(err:find("pw@", 1, true)) -- the URL itself is never echoed
      end
      assert.is_true((new{ base_url = base, token_url = base .. "/oauth/token?x=1" })) -- loopback http is fine
      assert.is_true((new{ token_url = "https://auth.zuora.example/oauth/token" }))
    end)

    it("refuses the same for the Revenue client's authentication URL, in both of its credential modes", function()
      for _, o in ipairs{ { username = "u", password = "p" }, { client_id = "i", client_secret = "s" } } do
        o.base_url = "https://acme.revprooncloud.com"
        o.token_url = "http://evil.example/api/integration/v1/authenticate"
        local ok, err = pcall(zuora.revenue.new, o)
        assert.is_false(ok)
        assert.matches("zuora.revenue.new: option 'token_url' must be an https URL", err)
        o.token_url = "file:///etc/passwd"
        assert.is_false((pcall(zuora.revenue.new, o)))
      end
    end)

    it("refuses userinfo, a query or a fragment in base_url (even a bare '#' or '?')", function()
      for u, why in pairs{
        ["http://admin:pw@127.0.0.1:9"] = "user name or password",
        ["https://admin@rest.zuora.example"] = "user name or password",
        ["https://rest.zuora.example/#"] = "fragment",
        ["https://rest.zuora.example#frag"] = "fragment",
        ["https://rest.zuora.example/?"] = "query",
        ["https://rest.zuora.example/?a=1"] = "query",
      } do
        local ok, err = new{ base_url = u }
        assert.is_false(ok, u)
        assert.matches("base_url must be a URL without a " .. why, err)
      end
    end)

    it("refuses a user_agent with CR, LF or other control characters when the client is made", function()
      for _, ua in ipairs{ "app\r\nX-Evil: 1", "app\n", "app\0", "app\t1" } do
        local ok, err = new{ user_agent = ua }
        assert.is_false(ok)
        assert.matches("option 'user_agent' must be a string without control characters", err)
      end
      assert.is_true((new{ user_agent = "acme-billing/2.1 (+https://acme.example)" }))
    end)
  end)

  describe("a decompression bomb in a Data Query result", function()
    it("ends a 700 MB JSON line (from a ~0.7 MB gzip file) with a decode error, peak RSS under 64 MB", function()
      -- '{"x":"' and 700 MiB of zero bytes, no newline: gzip -9 makes ~0.7 MB of it
      assert(fs.sh(("(printf '{\"x\":\"'; head -c 734003200 /dev/zero) | gzip -9 > %s/bomb.json.gz")
        :format(fs.q(dir))))
      local size = #fs.read(dir .. "/bomb.json.gz")
      assert.is_true(size < 1024 * 1024, size)
      -- a child process, so that its peak RSS (VmHWM) is the reader's alone
      fs.write(dir .. "/bomb.lua", ([[
        local zuora = require "zuora"
        local c = zuora.new{ base_url = %q, token = "t", timeout = 30 }
        local rows, err = c:data_query("SELECT * FROM account")
        if not rows then
          print("ERR " .. err.kind .. " " .. err.message)
        else
          local ok, e = pcall(function() for _ in rows do end end)
          print(ok and "OK" or ("ERR " .. tostring(e.kind) .. " " .. tostring(e.message)))
        end
        for line in io.lines("/proc/self/status") do
          local kb = line:match("^VmHWM:%%s*(%%d+) kB")
          if kb then print("HWM " .. kb) end
        end
      ]]):format(base .. "/dq"))
      local p = assert(io.popen((os.getenv("ZUORA_LUA") or "lua5.4") .. " " .. fs.q(dir .. "/bomb.lua") .. " 2>&1"))
      local out = p:read("a")
      p:close()
      assert.matches("ERR decode line 1 is longer than 16777216 bytes %(max_row%)", out)
      local hwm = tonumber(out:match("HWM (%d+)"))
      assert.is_number(hwm, out)
      assert.is_true(hwm < 64 * 1024, ("peak RSS %d kB"):format(hwm))
    end)
  end)

  for _, runtime in ipairs{ "curl", "ngx" } do
    describe("(" .. runtime .. ")", function()
      it("shows neither the token nor the client secret, wherever the server echoes them", function()
        local function planted()
          local out = openresty.parallel{ { url = base .. "/planted" } }
          local t = {}
          for k, v in out[1].body:gmatch("([%w_]+)=(%d+)") do t[k] = tonumber(v) end
          return t
        end
        local before = planted()
        local r = run(runtime, "scan")
        -- the server did echo the real token (it checks the Authorization it got) and the secret
        local after = planted()
        for _, kind in ipairs(cases.ECHO_KINDS) do
          assert.is_true((after[kind] or 0) - (before[kind] or 0) >= MAX_OFFSET + 1, kind)
        end
        assert.equals(MAX_OFFSET + 1, (after.token or 0) - (before.token or 0))
        assert.is_true((after.job or 0) - (before.job or 0) >= 2)
        assert.equals("api", r.job_kind)
        assert.same({}, r.hits)
        assert.equals(0, r.nhits)
        -- the scan covered what it claims: every kind at every offset, with the real token planted
        local calls = (MAX_OFFSET + 1) * #cases.ECHO_KINDS
        assert.equals(calls + MAX_OFFSET + 1 + 1, r.counts.calls) -- and the Data Query job
        assert.equals(MAX_OFFSET + 1, r.counts.token_errors)
        assert.is_true(r.counts.errors >= (MAX_OFFSET + 1) * (#cases.ECHO_KINDS - 1) + MAX_OFFSET + 1)
        assert.is_true(r.counts.metas >= MAX_OFFSET + 1)
        assert.is_true(r.counts.progress > 0)
        assert.is_true(r.counts.hooks > 2 * calls)
        assert.is_true(r.counts.texts > 50000, r.counts.texts)
      end)

      it("ends paging that makes no progress with kind 'loop', each within a second", function()
        local r = run(runtime, "paging")
        for _, name in ipairs(cases.LOOPS) do
          assert.equals("loop", r[name].kind, name .. ": " .. tostring(r[name].message))
          assert.matches("^pagination loop", r[name].message)
          assert.is_true(r[name].elapsed < 1, name)
        end
        for _, name in ipairs{ "dummy_each", "dummy_limit", "locator", "locator_empty", "repeat_locator" } do
          assert.equals("loop", r[name].kind, name .. ": " .. tostring(r[name].message))
          assert.is_true(r[name].elapsed < 1, name)
        end
        assert.matches("10 pages in a row had no items", r.dummy.message)
        assert.matches("3 pages in a row had no items", r.dummy_3.message)
        assert.matches("10 pages in a row repeated the items before them", r["repeat"].message)
        assert.matches("10 pages in a row repeated the items before them", r.repeat_locator.message)
        assert.matches("same queryLocator", r.locator.message)
        -- servers that progress are followed to their end
        assert.equals("none", r.good.kind)
        assert.equals(3, r.good.items)
        assert.equals("none", r.sparse.kind)
        assert.equals(3, r.sparse.items)
      end)

      it("ends the calls other tasks have in flight with a 'closed' error when a task closes the client", function()
        local r = run(runtime, "close")
        assert.equals("ok", r.run)
        assert.same({ slow1 = "closed", slow2 = "closed", later = "closed", backoff = "closed",
          closer = "ok: closed it" }, r.kinds)
        assert.equals("closed", r.after)
        assert.equals("ok", r.token_run)
        assert.same({ fetching = "closed", waiting = "closed", closer = "ok: closed it" }, r.token_kinds)
        if runtime == "curl" then
          -- transfers in flight are aborted, not waited for (cosockets finish theirs first)
          assert.is_true(r.elapsed < 0.8, r.elapsed)
          assert.is_true(r.token_elapsed < 0.8, r.token_elapsed)
        else
          assert.is_true(r.elapsed < 2.5, r.elapsed)
        end
      end)
    end)
  end
end)
