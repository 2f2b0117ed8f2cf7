-- core.auth: the sans-IO credential state machine, driven with explicit clock values, and the
-- token request run by the C transport against a real token endpoint on loopback nginx.
local core = require "zuora.core"
local auth = core.auth

local SECRET = "s3cr3t/with+special=chars&more"
local TOKEN = "tok-ABCdef0123456789"

local function oauth(margin)
  return auth.new{ mode = "oauth", client_id = "client 1", client_secret = SECRET,
    token_url = "https://rest.test.zuora.com/oauth/token", refresh_margin = margin }
end

local function reply(token, expires_in)
  return ('{"access_token":"%s","token_type":"bearer","expires_in":%s,"scope":"entity.1","jti":"j1"}')
    :format(token, expires_in or 3600)
end

describe("core.auth #luajit", function()
  describe("oauth", function()
    it("needs a token first, then is ready until the margin before expiry", function()
      local a = oauth(300)
      assert.equals("oauth", a.mode)
      assert.equals("need_token", a:state(1000))
      local req = assert(a:token_request(1000))
      assert.equals("pending", a:state(1000))
      assert.equals("POST", req.method)
      assert.equals("https://rest.test.zuora.com/oauth/token", req.url)
      assert.equals(a, req.token_for)
      assert.is_nil(req.body)
      assert.truthy(table.concat(req.headers, "\n"):find("application/x-www-form-urlencoded", 1, true))
      assert.is_true(a:accept(200, reply(TOKEN, 3600), {}, 1000))
      assert.equals("ready", a:state(1000))
      assert.equals(3600, a:expires_in(1000))
      assert.equals("ready", a:state(1000 + 3600 - 300 - 0.001))
      assert.equals("need_token", a:state(1000 + 3600 - 300))
      assert.equals("need_token", a:state(1000 + 4000))
    end)

    it("uses half the lifetime as the margin for short-lived tokens", function()
      local a = oauth(300)
      a:token_request(0)
      assert(a:accept(200, reply(TOKEN, 120), {}, 0))
      assert.equals("ready", a:state(59.9))
      assert.equals("need_token", a:state(60))
    end)

    it("allows only one token request in flight", function()
      local a = oauth()
      assert(a:token_request(0))
      local again, err = a:token_request(0)
      assert.is_nil(again)
      assert.matches("already pending", err)
      a:fail("connection refused")
      assert.equals("need_token", a:state(0))
      assert(a:token_request(0))
    end)

    it("bumps the generation per token and invalidates only the generation given", function()
      local a = oauth()
      assert.equals(0, a:generation())
      a:token_request(0)
      assert(a:accept(200, reply("t1"), {}, 0))
      local g1 = a:generation()
      assert.equals(1, g1)
      a:token_request(10) -- pretend a refresh raced with a 401 on t1
      assert(a:accept(200, reply("t2"), {}, 10))
      assert.equals(2, a:generation())
      assert.is_false(a:invalidate(g1)) -- the 401 was for t1: keep t2
      assert.equals("ready", a:state(11))
      assert.same({ "Authorization: Bearer t2" }, a:headers(11))
      assert.is_true(a:invalidate(2))
      assert.equals("need_token", a:state(11))
      assert.is_nil(a:expires_in(11))
      assert.is_nil(a:headers(11))
    end)

    it("builds the form body from the secrets it holds", function()
      local a = oauth()
      assert.equals("grant_type=client_credentials&client_id=client%201&client_secret="
        .. "s3cr3t%2Fwith%2Bspecial%3Dchars%26more", a:token_body())
    end)

    it("gives unusable expires_in values a short default lifetime", function()
      for _, v in ipairs { "-5", "0", "1e308", "99999999999", '"soon"', "null", "true", "3600.5e400" } do
        local a = oauth(0)
        a:token_request(0)
        assert(a:accept(200, reply(TOKEN, v), {}, 0), v)
        assert.equals(300, a:expires_in(0), v)
      end
      local a = oauth(0)
      a:token_request(0)
      assert(a:accept(200, '{"access_token":"x"}', {}, 0))
      assert.equals(300, a:expires_in(0))
      a:token_request(0)
      assert(a:accept(200, '{"access_token":"y","expires_in":"1800"}', {}, 0))
      assert.equals(1800, a:expires_in(0))
    end)

    it("rejects malformed, nested or hostile token replies without keeping a token", function()
      local bad = {
        "", "null", "[]", "{", '{"access_token":"x"', '{"access_token":"x"} trailing',
        '{"access_token":"x","access_token":"y"}', '{"access_token":{"nested":1}}',
        '{"access_token":"x","extra":[1,2]}', '{"access_token":"a b"}', '{"access_token":"a\\r\\nX-Evil: 1"}',
        '{"access_token":""}', '{"access_token":123}', '{"token_type":"bearer"}',
        '{"access_token":"x","token_type":"mac"}', '{"access_token":"\\ud800"}', '{"access_token":"x\255"}',
        '{"access_token":"x",}', "{'access_token':'x'}", '{"access_token":"x","n":01}',
        '{"access_token":"' .. ("a"):rep(20000) .. '"}',
      }
      for _, body in ipairs(bad) do
        local a = oauth()
        a:token_request(0)
        local ok, err = a:accept(200, body, {}, 0)
        assert.is_nil(ok, body)
        assert.is_string(err)
        assert.equals("need_token", a:state(0), body)
      end
    end)

    it("accepts escapes and unknown scalar fields", function()
      local a = oauth()
      a:token_request(0)
      assert(a:accept(200, ' { "scope" : "a\\u00e9\\ud83d\\ude00", "access_token" : "x\\/y", "n": -1.5e3,'
        .. ' "b": false, "z": null, "token_type": "Bearer" } ', {}, 0))
      assert.same({ "Authorization: Bearer x/y" }, a:headers(0))
    end)

    it("reports an error reply without echoing secrets", function()
      local a = oauth()
      a:token_request(0)
      local ok, err = a:accept(401, '{"error":"invalid_client","error_description":"bad secret ' .. SECRET .. '"}',
        {}, 0)
      assert.is_nil(ok)
      assert.matches("HTTP 401", err)
      assert.matches("invalid_client", err)
      assert.is_nil(err:find(SECRET, 1, true))
      assert.equals("need_token", a:state(0))
    end)

    it("redacts every secret and token it holds", function()
      local a = oauth()
      a:token_request(0)
      assert(a:accept(200, reply(TOKEN), {}, 0))
      local form = a:token_body()
      local s = a:redact("Bearer " .. TOKEN .. " body=" .. form .. " raw=" .. SECRET .. " " .. TOKEN)
      assert.is_nil(s:find(TOKEN, 1, true))
      assert.is_nil(s:find(SECRET, 1, true))
      assert.is_nil(s:find("s3cr3t%2F", 1, true))
      assert.equals(4, select(2, s:gsub("%[redacted%]", "")))
      assert.equals("nothing to hide", a:redact("nothing to hide"))
    end)

    it("never shows a secret or token in tostring", function()
      local a = oauth()
      a:token_request(0)
      assert(a:accept(200, reply(TOKEN), {}, 0))
      local s = tostring(a)
      assert.matches("^zuora%.auth", s)
      assert.is_nil(s:find(TOKEN, 1, true))
      assert.is_nil(s:find(SECRET, 1, true))
      assert.is_nil(s:find("client 1", 1, true))
    end)

    it("checks its options", function()
      assert.has_error(function() auth.new{ mode = "oauth", client_id = "a", client_secret = "b" } end)
      assert.has_error(function()
        auth.new{ mode = "oauth", client_id = "a", client_secret = "b\r\n", token_url = "u" }
      end)
      assert.has_error(function() auth.new{ mode = "nope" } end)
      assert.has_error(function() auth.new{ mode = "basic", username = "a:b", password = "p" } end)
      assert.has_error(function() oauth():state("soon") end)
    end)
  end)

  describe("fixed credentials", function()
    it("basic sends the base64 of user:password and redacts it", function()
      local a = auth.new{ mode = "basic", username = "api@example.com", password = "pa55word" }
      assert.equals("ready", a:state(0))
      local h = a:headers(0)
      assert.same({ "Authorization: Basic " .. core.crypto.base64("api@example.com:pa55word") }, h)
      assert.equals("Authorization: Basic [redacted]", a:redact(h[1]))
      assert.equals("pw=[redacted]", a:redact("pw=pa55word"))
      assert.is_false(a:invalidate(a:generation()))
      assert.has_error(function() a:token_request(0) end)
    end)

    it("apikey sends the two legacy headers", function()
      local a = auth.new{ mode = "apikey", access_key_id = "user@example.com", secret_access_key = "k3y" }
      assert.same({ "apiAccessKeyId: user@example.com", "apiSecretAccessKey: k3y" }, a:headers(0))
      assert.equals("apiSecretAccessKey: [redacted]", a:redact("apiSecretAccessKey: k3y"))
    end)

    it("bearer sends the fixed token", function()
      local a = auth.new{ mode = "bearer", token = TOKEN }
      assert.equals("ready", a:state(0))
      assert.same({ "Authorization: Bearer " .. TOKEN }, a:headers(0))
      assert.is_nil(tostring(a):find(TOKEN, 1, true))
    end)
  end)

  describe("revenue (legacy token in a response header)", function()
    local AUTH_URL = "https://acme.revprooncloud.com/api/integration/v1/authenticate"
    local PASSWORD = "pa55:word/+="

    local function revenue(extra)
      local o = { mode = "revenue", username = "api.user", password = PASSWORD, token_url = AUTH_URL }
      for k, v in pairs(extra or {}) do o[k] = v end
      return auth.new(o)
    end

    -- A JWT-shaped token whose payload says it lives `span` seconds (exp - iat).
    local function jwt(span, extra)
      local payload = ('{"username":"api.user","role":"API Role","iat":1504743413,"exp":%s%s}')
        :format(span and tostring(1504743413 + span) or '"never"', extra or "")
      local b64url = core.crypto.base64(payload):gsub("+", "-"):gsub("/", "_"):gsub("=", "")
      return "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." .. b64url .. ".c2lnbmF0dXJl"
    end

    it("authenticates with basic credentials, role and clientname, and sends the token as `token`", function()
      local a = revenue()
      assert.equals("revenue", a.mode)
      assert.equals("need_token", a:state(0))
      local req = assert(a:token_request(0))
      assert.equals("pending", a:state(0))
      assert.equals("POST", req.method)
      assert.equals(AUTH_URL, req.url)
      assert.equals(a, req.token_for)
      assert.is_nil(req.body)
      assert.same({ "role: API Role", "clientname: Default", "Accept: application/json" }, req.headers)
      -- the basic credentials are not in the request table; transports outside C ask for them
      assert.same({ "Authorization: Basic " .. core.crypto.base64("api.user:" .. PASSWORD) }, a:token_headers())
      assert.equals("", a:token_body())
      local tok = jwt(1800)
      assert.is_true(a:accept(200, '{"Message":"Token Generated","status":"success"}', { ["Revpro-Token"] = tok }, 0))
      assert.equals("ready", a:state(0))
      assert.same({ "token: " .. tok }, a:headers(0))
      assert.equals(1, a:generation())
    end)

    it("takes role, clientname and the token header's name from its options", function()
      local a = revenue{ role = "Close Role", clientname = "EMEA", token_header = "X-Rev-Token" }
      local req = assert(a:token_request(0))
      assert.same({ "role: Close Role", "clientname: EMEA", "Accept: application/json" }, req.headers)
      assert.is_nil(a:accept(200, "{}", { ["revpro-token"] = jwt(1800) }, 0))
      a:token_request(0)
      assert.is_true(a:accept(200, "{}", { ["x-rev-token"] = { "old", "t2" } }, 0))
      assert.same({ "token: t2" }, a:headers(0))
    end)

    it("tracks expiry from the token's own exp - iat, with the margin, and re-authenticates", function()
      local a = revenue{ refresh_margin = 300 }
      a:token_request(100)
      assert(a:accept(200, "", { ["revpro-token"] = jwt(1800) }, 100))
      assert.equals(1800, a:expires_in(100))
      assert.equals("ready", a:state(100 + 1500 - 0.001))
      assert.equals("need_token", a:state(100 + 1500))
      assert.is_nil(a:headers(100 + 1500))
      a:token_request(1600)
      assert(a:accept(200, "", { ["revpro-token"] = jwt(600) }, 1600))
      assert.equals(2, a:generation())
      assert.equals(600, a:expires_in(1600))
      assert.equals("need_token", a:state(1600 + 300)) -- margin capped at half the lifetime
    end)

    it("assumes about 30 minutes (or token_lifetime) when the token does not say", function()
      for _, tok in ipairs { "opaque-token", jwt(nil), jwt(0), jwt(999999), "a.!!!.c", jwt(1800, ',"n":[1]') } do
        local a = revenue()
        a:token_request(0)
        assert(a:accept(200, "", { ["revpro-token"] = tok }, 0), tok)
        assert.equals(1800, a:expires_in(0), tok)
      end
      local a = revenue{ token_lifetime = 900 }
      a:token_request(0)
      assert(a:accept(200, "", { ["revpro-token"] = "opaque" }, 0))
      assert.equals(900, a:expires_in(0))
    end)

    it("refuses replies without a usable token, and failures without echoing secrets", function()
      for _, headers in ipairs { {}, { ["revpro-token"] = "" }, { ["revpro-token"] = "a b" },
        { ["revpro-token"] = "x\r\nEvil: 1" }, { ["revpro-token"] = ("a"):rep(20000) }, { ["revpro-token"] = 42 } } do
        local a = revenue()
        a:token_request(0)
        local ok, err = a:accept(200, '{"status":"success"}', headers, 0)
        assert.is_nil(ok)
        assert.matches("Revpro%-Token", err)
        assert.equals("need_token", a:state(0))
      end
      local a = revenue()
      a:token_request(0)
      local ok, err = a:accept(401, '{"Message":"Invalid password ' .. PASSWORD .. '","status":"failure"}',
        { ["revpro-token"] = "ignored" }, 0)
      assert.is_nil(ok)
      assert.matches("HTTP 401", err)
      assert.matches("Invalid password", err)
      assert.is_nil(err:find(PASSWORD, 1, true))
      assert.equals("need_token", a:state(0))
      assert.is_nil(a:expires_in(0))
    end)

    it("invalidates by generation, redacts, and never shows secrets in tostring", function()
      local a = revenue()
      a:token_request(0)
      local tok = jwt(1800)
      assert(a:accept(200, "", { ["revpro-token"] = tok }, 0))
      local basic = a:token_headers()[1]
      local s = a:redact("token: " .. tok .. " " .. basic .. " pw=" .. PASSWORD)
      assert.is_nil(s:find(tok, 1, true))
      assert.is_nil(s:find(PASSWORD, 1, true))
      assert.is_nil(s:find(core.crypto.base64("api.user:" .. PASSWORD), 1, true))
      local str = tostring(a)
      assert.equals("zuora.auth (revenue, token generation 1)", str)
      assert.is_false(a:invalidate(0))
      assert.is_true(a:invalidate(1))
      assert.equals("need_token", a:state(0))
      assert.equals("zuora.auth (revenue, no token)", tostring(a))
    end)

    it("checks its options", function()
      assert.has_error(function() auth.new{ mode = "revenue", username = "u", password = "p" } end)
      assert.has_error(function() revenue{ username = "a:b" } end)
      assert.has_error(function() revenue{ role = "x\r\ny" } end)
      assert.has_error(function() revenue{ token_header = "Bad Header" } end)
      assert.has_error(function() revenue{ token_lifetime = 0 } end)
      assert.has_error(function() revenue{ refresh_margin = -1 } end)
      assert.has_error(function() auth.new{ mode = "basic", username = "u", password = "p" }:token_headers() end)
    end)
  end)

  describe("revenue token through the C transport", function()
    local nginx = require "spec.support.nginx"
    local http = core.http
    local srv, t
    local USER, PASS, TOK = "rev-user", "rev-pass", "eyJ0eXAiOiJKV1QifQ.eyJleHAiOjIwMDAsImlhdCI6MTAwMH0.c2ln"

    lazy_setup(function()
      srv = nginx.start{ vars = { user = USER, pass = PASS, tok = TOK }, http = [[
        server {
          listen 127.0.0.1:${port1};
          location = /api/integration/v1/authenticate { content_by_lua_block {
            local want = "Basic " .. ngx.encode_base64("${user}:${pass}")
            local h = ngx.req.get_headers()
            if ngx.req.get_method() ~= "POST" or h.authorization ~= want or h.role ~= "API Role"
              or h.clientname ~= "Default" then
              ngx.status = 401
              ngx.print('{"Message":"Invalid credentials","status":"failure"}')
              return
            end
            ngx.header["Revpro-Token"] = "${tok}"
            ngx.header["X-Other"] = "kept"
            ngx.print('{"Message":"Token Generated","status":"success"}')
          } }
          location = /protected { content_by_lua_block {
            local h = ngx.req.get_headers()
            ngx.status = h.token == "${tok}" and h.authorization == nil and 200 or 401
            ngx.print(h.token == "${tok}" and "ok" or "no")
          } }
        }
      ]] }
    end)
    lazy_teardown(function() if srv then srv:stop() end end)
    before_each(function() t = http.new() end)
    after_each(function() t:close() end)

    local function every_string(v, acc)
      acc = acc or {}
      if type(v) == "string" then acc[#acc + 1] = v
      elseif type(v) == "table" then
        for k, x in pairs(v) do every_string(k, acc); every_string(x, acc) end
      end
      return table.concat(acc, "\n")
    end

    it("takes the token from the Revpro-Token header in C; it never reaches Lua", function()
      local a = auth.new{ mode = "revenue", username = USER, password = PASS,
        token_url = srv.url .. "/api/integration/v1/authenticate" }
      local req = assert(a:token_request(http.now()))
      local r = t:perform(req)
      assert.is_nil(r.kind, r.error)
      assert.equals(200, r.status)
      assert.is_nil(r.headers["revpro-token"])
      assert.equals("kept", r.headers["x-other"])
      assert.is_nil(r.body)
      assert.equals("ready", a:state(http.now()))
      assert.equals(1000, math.floor(a:expires_in(http.now()) + 0.5))
      local call = t:perform{ url = srv.url .. "/protected", auth = a }
      assert.equals(200, call.status)
      assert.equals("ok", call.body)
      assert.equals(1, call.auth_generation)
      local seen = every_string(r) .. every_string(req) .. every_string(call) .. tostring(a)
      assert.is_nil(seen:find(TOK, 1, true))
      assert.is_nil(seen:find(PASS, 1, true))
      assert.is_nil(seen:find(core.crypto.base64(USER .. ":" .. PASS), 1, true))
    end)

    it("turns refused credentials into an auth error without secrets", function()
      local a = auth.new{ mode = "revenue", username = USER, password = "wrong-" .. PASS,
        token_url = srv.url .. "/api/integration/v1/authenticate" }
      local r = t:perform(assert(a:token_request(http.now())))
      assert.equals("auth", r.kind)
      assert.equals(401, r.status)
      assert.matches("Invalid credentials", r.error)
      assert.is_nil(every_string(r):find(PASS, 1, true))
      assert.equals("need_token", a:state(http.now()))
    end)
  end)

  it("refuses use after close", function()
    local a = auth.new{ mode = "bearer", token = TOKEN }
    getmetatable(a).__gc(a)
    assert.has_error(function() a:headers(0) end)
    assert.equals("zuora.auth (closed)", tostring(a))
  end)
end)
