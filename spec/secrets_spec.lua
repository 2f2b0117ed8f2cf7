-- Secret hygiene: run a representative set of calls — successes, every error kind, retries, token
-- refresh, every credential mode, the Revenue client, redirects, bulk reads, tasks, the command
-- line's --trace — with distinctive credentials, collect everything the library shows its user
-- (every hook event, every error and its fields, results and meta, tostring of clients, auth
-- objects and errors, the fields of the client objects themselves, configuration errors, the log
-- lines written to stderr, the CLI's output) and scan it for every secret and every token
-- zuora-sim issued, raw, base64- and percent-encoded. Zero hits.
local zuora = require "zuora"
local core = require "zuora.core"
local simh = require "spec.support.sim"
local simctl = require "spec.support.simctl"
local cli = require "spec.support.cli"

local b64, escape = core.crypto.base64, core.url.escape

-- Distinctive credentials, with characters that change under percent- and form-encoding.
local CID = "cid-Kq7Zt2Rw9xB4"
local CSECRET = "Sx+Rt/9Lm=Qz&Vp4 Nw8"
local USER = "usr-Hb3Jd8PfQ1"
local PASS = "Pw%Yc6+Ua/Te=9Gk"
local WRONG = "Wr0ng+Secret/Zx5M"

local ACCOUNT = { name = "Hygiene Co", currency = "USD", billCycleDay = 1, autoPay = false,
  billToContact = { firstName = "Ada", lastName = "Lovelace", country = "US" } }

-- The forms a secret could take on its way out: as given, base64 (basic headers), percent- and
-- form-encoded (URLs, token request bodies).
local function forms(secret)
  local out = { secret, b64(secret), escape(secret), (escape(secret):gsub("%%20", "+")) }
  local seen, uniq = {}, {}
  for _, f in ipairs(out) do
    if not seen[f] then seen[f], uniq[#uniq + 1] = true, f end
  end
  return uniq
end

describe("secret hygiene", function()
  local s, ctl
  local texts = {}         -- { where, text }: everything collected
  local kinds, counts = {}, { hooks = 0, token_hooks = 0, retries = 0, errors = 0 }

  local function add(where, text) texts[#texts + 1] = { where = where, text = text } end

  -- Collects every string reachable from v (keys and values), tostring of anything with a
  -- __tostring or of userdata; depth-limited (the catalogue behind a client is large and public).
  local function walk(where, v, depth, visited)
    visited = visited or {}
    depth = depth or 8
    local t = type(v)
    if t == "string" then
      add(where, v)
    elseif t == "userdata" then
      add(where .. " (tostring)", tostring(v))
    elseif t == "table" then
      if visited[v] or depth == 0 then return end
      visited[v] = true
      local mt = getmetatable(v)
      if mt and mt.__tostring then add(where .. " (tostring)", tostring(v)) end
      for k, x in pairs(v) do
        local name = where .. "." .. tostring(k)
        walk(name, k, depth - 1, visited)
        walk(name, x, depth - 1, visited)
      end
    end
  end

  local function hooks(label)
    return {
      on_request = function(ev)
        counts.hooks = counts.hooks + 1
        if ev.token_request then counts.token_hooks = counts.token_hooks + 1 end
        walk(label .. " on_request", ev)
      end,
      on_response = function(ev)
        counts.hooks = counts.hooks + 1
        if ev.retry_in then counts.retries = counts.retries + 1 end
        walk(label .. " on_response", ev)
      end,
    }
  end

  local function opts(label, t)
    local o = hooks(label)
    o.base_url, o.retry_base, o.retry_cap, o.timeout = s.url, 0.01, 0.02, 5
    for k, v in pairs(t) do o[k] = v end
    return o
  end

  -- Records a call's three returns.
  local function record(label, res, err, meta)
    walk(label .. " result", res)
    walk(label .. " meta", meta)
    if err then
      counts.errors = counts.errors + 1
      kinds[err.kind] = true
      walk(label .. " error", err)
      add(label .. " tostring(err)", tostring(err))
      add(label .. " err .. ''", err .. "")
    end
    return res, err, meta
  end

  local function fault(rule) ctl:fault(rule) end

  lazy_setup(function()
    s = simh.start{ args = { "--client-id", CID, "--client-secret", CSECRET, "--username", USER,
      "--password", PASS } }
    s.client_id, s.client_secret, s.username, s.password = CID, CSECRET, USER, PASS
    ctl = simctl.new(s)
  end)

  lazy_teardown(function()
    if ctl then ctl:close() end
    if s then s:stop() end
  end)

  -- The scanner: every collected text against every form of every secret.
  local function scan(secrets)
    local hits = {}
    for _, secret in ipairs(secrets) do
      for _, form in ipairs(forms(secret)) do
        for _, t in ipairs(texts) do
          if t.text:find(form, 1, true) then
            hits[#hits + 1] = ("%s shows a secret (%d bytes, form %s...)"):format(t.where, #form, form:sub(1, 4))
          end
        end
      end
    end
    return hits
  end

  it("finds a planted secret in every form (the scanner works)", function()
    local saved = texts
    texts = {}
    add("plain", "x" .. CSECRET .. "y")
    add("b64", "Basic " .. b64(USER .. ":" .. PASS))
    add("escaped", "?p=" .. escape(PASS))
    add("form", "client_secret=" .. escape(CSECRET):gsub("%%20", "+"))
    local hits = scan{ CSECRET, USER .. ":" .. PASS, PASS }
    texts = saved
    local where = {}
    for _, h in ipairs(hits) do where[h:match("^(%S+)")] = true end
    assert.same({ plain = true, b64 = true, escaped = true, form = true }, where)
  end)

  it("shows no credential or token anywhere", function()
    -- Log lines the library writes (a failing hook, a failing progress callback) go to stderr.
    local real_stderr = io.stderr
    local log = {}
    io.stderr = { write = function(self, ...) -- luacheck: ignore 122
      for _, x in ipairs{ ... } do log[#log + 1] = tostring(x) end
      return self
    end, flush = function() end }
    local ok, perr = pcall(function()
      ctl:reset()
      -- Billing, OAuth: successes, every error kind, retries, refresh, redirects, bulk reads, tasks.
      local c = zuora.new(opts("oauth", { client_id = CID, client_secret = CSECRET }))
      local acct = assert(record("create", c.accounts.create(ACCOUNT)))
      local num = acct.accountNumber
      local other = assert(record("create2", c.accounts.create(ACCOUNT))).accountNumber
      record("retrieve", c.accounts.retrieve(num))
      record("update", c.accounts.update(num, { name = "Renamed" }))
      record("delete", c.accounts.delete(other))
      record("404", c.accounts.retrieve("NOPE"))
      record("400", c.accounts.create{ currency = "USD" })
      local path = "/v1/accounts/" .. num
      fault{ method = "GET", path = path, status = 503, count = 1 }
      record("503 then ok", c.accounts.retrieve(num))
      fault{ method = "GET", path = path, status = 429, headers = { ["Retry-After"] = 0 }, count = 1 }
      record("429 then ok", c.accounts.retrieve(num))
      fault{ method = "GET", path = path, status = 500, count = 1 }
      record("500", c.accounts.retrieve(num))
      fault{ method = "GET", path = path, action = "html", count = 3 }
      record("html 502", c.accounts.retrieve(num))
      fault{ method = "GET", path = path, status = 200, body = "{not json", count = 1 }
      record("decode", c.accounts.retrieve(num))
      fault{ method = "GET", path = path, action = "truncate", count = 3 }
      record("truncated", c.accounts.retrieve(num))
      fault{ method = "GET", path = path, latency = 1, count = 5 }
      record("timeout", c:request("GET", path, { timeout = 0.2 }))
      ctl:clear_faults()
      ctl:control("POST", "tokens/revoke", {})
      record("revoked token, refreshed", c.accounts.retrieve(num))
      ctl:control("POST", "tokens/expire", {})
      record("expired token, refreshed", c.accounts.retrieve(num))
      fault{ method = "GET", path = "/v1/accounts/redirected", status = 302, headers = { Location = path }, count = 1 }
      record("same-origin redirect", c:request("GET", "/v1/accounts/redirected"))
      fault{ method = "GET", path = "/v1/accounts/away", status = 302,
        headers = { Location = "http://127.0.0.2:9/v1/accounts?access_token=x" }, count = 1 }
      record("redirect away", c:request("GET", "/v1/accounts/away"))
      local zok, zres = pcall(function()
        local out = {}
        for rec in c:query("select Id, Name from Account where Name = ?", "Renamed") do out[#out + 1] = rec end
        return out
      end)
      assert(zok, tostring(zres))
      walk("zoql records", zres)
      record("zoql error", nil, select(2, pcall(function() for _ in c:query("select Nope from Nothing") do end end)))
      record("list", c.catalog.list_products:all())
      local rows, err, job = record("data query", c:data_query("SELECT accountnumber, name FROM account",
        { interval = 0.01 }))
      walk("data query job", job)
      if rows then for row in rows do walk("data query row", row) end end
      assert(not err, tostring(err))
      local results, errs = c:map({ num, "NOPE", num }, function(n) return c.accounts.retrieve(n) end)
      walk("map results", results)
      walk("map errors", errs)
      record("spawned", c:spawn(function() return c.accounts.retrieve(num) end):wait())
      -- a hook that fails: its message goes to the log
      local noisy = zuora.new(opts("noisy", { client_id = CID, client_secret = CSECRET,
        on_response = function(ev) error("hook saw " .. ev.url .. " " .. tostring(ev.error)) end }))
      record("failing hook", noisy.accounts.retrieve("NOPE"))
      add("tostring(noisy)", tostring(noisy))
      noisy:close()
      add("tostring(client)", tostring(c))
      add("tostring(auth)", tostring(c.auth))
      walk("client", c, 4)
      c:close()

      -- OAuth failures: refused credentials, an unreachable token endpoint.
      local bad = zuora.new(opts("wrong secret", { client_id = CID, client_secret = WRONG }))
      record("wrong secret", bad.accounts.retrieve(num))
      walk("bad client", bad, 4)
      bad:close()
      local dead = zuora.new(opts("dead", { client_id = CID, client_secret = CSECRET, base_url = "http://127.0.0.1:9",
        max_retries = 1 }))
      record("refused", dead.accounts.retrieve(num))
      dead:close()

      -- HTTP basic, API keys, a fixed bearer token (minted by the simulator).
      local basic = zuora.new(opts("basic", { username = USER, password = PASS }))
      record("basic", basic.accounts.retrieve(num))
      record("basic 404", basic.accounts.retrieve("NOPE"))
      walk("basic client", basic, 4)
      basic:close()
      local wrongpw = zuora.new(opts("basic wrong", { username = USER, password = WRONG }))
      record("basic wrong", wrongpw.accounts.retrieve(num))
      wrongpw:close()
      local keys = zuora.new(opts("apikey", { access_key_id = USER, secret_access_key = PASS }))
      record("apikey", keys.accounts.retrieve(num))
      fault{ method = "GET", path = path, status = 503, count = 1 }
      record("apikey retry", keys.accounts.retrieve(num))
      walk("apikey client", keys, 4)
      keys:close()
      local minted = ctl:control("POST", "tokens", { ttl = 600 }).token
      local bearer = zuora.new(opts("bearer", { token = minted }))
      record("bearer", bearer.accounts.retrieve(num))
      ctl:control("POST", "tokens/revoke", { token = minted })
      record("bearer revoked", bearer.accounts.retrieve(num))
      add("tostring(bearer)", tostring(bearer))
      walk("bearer client", bearer, 4)
      bearer:close()

      -- Zuora Revenue: legacy authentication (basic -> token header) and OneID.
      local rev = zuora.revenue.new(opts("revenue", { username = USER, password = PASS }))
      record("revenue batches", rev:batches())
      record("revenue 404", rev:request("GET", "/api/integration/v1/nothing-here"))
      ctl:control("POST", "tokens/expire", {})
      record("revenue re-auth", rev:batches())
      add("tostring(rev)", tostring(rev))
      walk("revenue client", rev, 4)
      rev:close()
      local revbad = zuora.revenue.new(opts("revenue wrong", { username = USER, password = WRONG }))
      record("revenue wrong", revbad:batches())
      revbad:close()
      local oneid = zuora.revenue.new(opts("oneid", { base_url = s.url .. "/revenue", client_id = CID,
        client_secret = CSECRET }))
      record("oneid batches", oneid:batches())
      walk("oneid client", oneid, 4)
      oneid:close()

      -- Configuration mistakes name options, never their values.
      for i, o in ipairs{
        { base_url = "http://billing.example.com", client_id = CID, client_secret = CSECRET },
        { base_url = s.url, client_id = CID },
        { base_url = s.url, client_id = CID, client_secret = CSECRET, password = PASS },
        { base_url = s.url, client_id = CID, client_secrte = CSECRET },
        { base_url = s.url, client_id = CID, client_secret = CSECRET .. "\r\n" },
        { base_url = s.url, username = USER .. ":x", password = PASS },
      } do
        local okc, msg = pcall(zuora.new, o)
        assert(not okc, "config case " .. i)
        add("config error " .. i, tostring(msg))
      end
    end)
    io.stderr = real_stderr -- luacheck: ignore 122
    assert(ok, perr)
    for i, line in ipairs(log) do add("log line " .. i, line) end
    assert.is_true(#log > 0, "the failing hook wrote nothing to the log")

    -- The command line, with --trace, on a success, an API error and refused credentials.
    local env = { ZUORA_BASE_URL = s.url, ZUORA_CLIENT_ID = CID, ZUORA_CLIENT_SECRET = CSECRET }
    for _, args in ipairs{ { "--trace", "call", "accounts.retrieve", "NOPE" },
      { "--trace", "query", "select Id, Name from Account" } } do
      local r = cli.run(args, { env = env })
      add("cli stdout " .. args[2], r.stdout)
      add("cli stderr " .. args[2], r.stderr)
      assert.matches("> %u+ http", r.stderr)
    end
    local r = cli.run({ "--trace", "call", "accounts.retrieve", "NOPE" },
      { env = { ZUORA_BASE_URL = s.url, ZUORA_CLIENT_ID = CID, ZUORA_CLIENT_SECRET = WRONG } })
    assert.equals(2, r.code) -- authentication
    add("cli auth error", r.stdout .. r.stderr)

    -- Coverage: the run went through what it claims to.
    for _, kind in ipairs{ "api", "transport", "timeout", "auth", "decode" } do
      assert.is_true(kinds[kind], "no " .. kind .. " error was collected")
    end
    assert.is_true(counts.token_hooks >= 6, "token requests seen: " .. counts.token_hooks)
    assert.is_true(counts.retries >= 4, "retries seen: " .. counts.retries)
    assert.is_true(#texts > 1000, "collected " .. #texts)

    -- Every token the simulator issued (Billing and Revenue; revoked and expired ones stay listed).
    local secrets = { CID, CSECRET, USER, PASS, WRONG, CID .. ":" .. CSECRET, USER .. ":" .. PASS,
      USER .. ":" .. WRONG }
    local ntokens = 0
    for _, t in ipairs(ctl:tokens()) do
      secrets[#secrets + 1] = t.token
      ntokens = ntokens + 1
    end
    assert.is_true(ntokens >= 6, "tokens issued: " .. ntokens)
    local hits = scan(secrets)
    assert.equals(0, #hits, table.concat(hits, "\n"))
  end)
end)

-- Memory: the C core wipes what held a credential or token before it goes back to the allocator.
-- build/freescan.so (spec/support/freescan.c) is preloaded into a child that runs every
-- credential mode against a server whose secrets and tokens all contain a marker; it counts the
-- blocks core.so frees (or moves with realloc) while they still hold the marker. Lua strings the
-- caller made (the options table) are Lua's to free, and are not judged: docs/reliability.md.
describe("secret hygiene in memory #noasan", function()
  local nginx = require "spec.support.nginx"
  local LUA = require "spec.support.lua"
  local MARK = "Fsm4rk3rQ"
  local BODY_MARK = "Plain9body7Marker"
  local TOKEN = {}
  for i = 1, 160 do TOKEN[i] = MARK .. i end
  TOKEN = table.concat(TOKEN, "-") -- about 2 KB: buffers must grow while reading it
  local SECRET, MUSER, MPASS = "cs-" .. MARK .. "-secret", "u-" .. MARK, "pw-" .. MARK .. "/+="
  local srv, dir, so

  local CHILD = [[
local zuora = require "zuora"
local base, secret, user, pass = arg[1], arg[2], arg[3], arg[4]
local function calls(c)
  for _ = 1, 3 do assert(c:request("GET", "/v1/ok")) end
  assert(c:spawn(function() return c:request("GET", "/v1/ok") end):wait())
  if c.uses_tokens then
    c.auth:invalidate(c.auth:generation()) -- a second token replaces the first
    assert(c:request("GET", "/v1/ok"))
  end
  c:close()
end
calls(zuora.new{ base_url = base, client_id = "cid", client_secret = secret })
calls(zuora.new{ base_url = base, username = user, password = pass })
calls(zuora.new{ base_url = base, access_key_id = user, secret_access_key = pass })
calls(zuora.revenue.new{ base_url = base, username = user, password = pass })
local bad = zuora.new{ base_url = base, client_id = "cid", client_secret = secret .. "x", max_retries = 0 }
assert(not bad:request("GET", "/v1/ok"))
bad:close()
collectgarbage()
collectgarbage()
print("done")
]]

  lazy_setup(function()
    local p = assert(io.popen("mktemp -d /tmp/zuora-freescan.XXXXXX"))
    dir = p:read("l")
    p:close()
    so = dir .. "/freescan.so"
    assert(os.execute("cc -std=c99 -O1 -g -shared -fPIC -Wall -Wextra -Werror spec/support/freescan.c -o " .. so
      .. " -ldl"))
    local f = assert(io.open(dir .. "/child.lua", "w"))
    f:write(CHILD)
    f:close()
    srv = nginx.start{ vars = { token = TOKEN, secret = SECRET, basic = "Basic " .. b64(MUSER .. ":" .. MPASS),
      user = MUSER, pass = MPASS, body = BODY_MARK, pad = ("p"):rep(3000) }, http = [[
      server {
        listen 127.0.0.1:${port1};
        location = /oauth/token { content_by_lua_block {
          ngx.req.read_body()
          ngx.header["Content-Type"] = "application/json"
          if ngx.req.get_post_args().client_secret ~= "${secret}" then
            ngx.status = 401
            return ngx.print('{"error":"invalid_client","error_description":"bad secret ${secret}x"}')
          end
          ngx.print('{"access_token":"${token}","token_type":"bearer","expires_in":3600}')
        } }
        location = /api/integration/v1/authenticate { content_by_lua_block {
          if ngx.var.http_authorization ~= "${basic}" then ngx.status = 401; return ngx.print("{}") end
          ngx.header["Revpro-Token"] = "${token}"
          ngx.header["X-Pad"] = "${pad}"
          ngx.header["Content-Type"] = "application/json"
          ngx.print('{"Message":"Token Generated","status":"success"}')
        } }
        location = /v1/ok { content_by_lua_block {
          local h = ngx.req.get_headers()
          local ok = h.authorization == "Bearer ${token}" or h.authorization == "${basic}" or h.token == "${token}"
            or (h.apiaccesskeyid == "${user}" and h.apisecretaccesskey == "${pass}")
          ngx.header["Content-Type"] = "application/json"
          if not ok then ngx.status = 401; return ngx.print('{"message":"Authentication error"}') end
          ngx.print('{"success":true,"note":"${body}"}')
        } }
      }
    ]] }
  end)

  lazy_teardown(function()
    if srv then srv:stop() end
    if dir then os.execute("rm -rf '" .. dir .. "'") end
  end)

  local function run(marker)
    local cmd = ("LD_PRELOAD=%s ZUORA_FREESCAN_MARKER=%s %s %s %s %s %s '%s' 2>&1"):format(so, marker, LUA,
      dir .. "/child.lua", srv.url, SECRET, MUSER, MPASS)
    local p = assert(io.popen(cmd))
    local out = p:read("a")
    p:close()
    return out
  end

  it("notices memory the core frees unwiped (the detector works: response bodies are not secret)", function()
    local out = run(BODY_MARK)
    assert.matches("done", out)
    local n = tonumber(out:match("freescan: (%d+) unwiped"))
    assert.is_true(n and n > 0, out)
  end)

  it("wipes every buffer that held a credential or a token before freeing it", function()
    local out = run(MARK)
    assert.matches("done", out)
    assert.matches("freescan: 0 unwiped", out)
  end)
end)
