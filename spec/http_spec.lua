-- core.http: the libcurl transport against a real nginx on loopback (plain HTTP/1.1, and TLS with
-- HTTP/2 using a throwaway CA), covering what the client relies on: reuse, compression, limits,
-- timeouts, files, uploads, TLS verification, concurrency and clean release of everything.
local core = require "zuora.core"
local nginx = require "spec.support.nginx"
local tls = require "spec.support.tls"
local fs = require "spec.support.fs"
local http, auth = core.http, core.auth

local CLIENT_ID, CLIENT_SECRET, TOKEN = "client-1", "s3cr3t/+=&%x-secret", "tok-0123456789abcdefXYZ"

local function have(cmd)
  return os.execute("command -v " .. cmd .. " >/dev/null 2>&1") == true
    or os.execute("command -v " .. cmd .. " >/dev/null 2>&1") == 0
end

local readfile, writefile = fs.read, fs.write

local function ls(dir)
  local p = io.popen("ls -A '" .. dir .. "'")
  local names = {}
  for l in p:lines() do names[#names + 1] = l end
  p:close()
  return names
end

-- The bytes /big?n=N serves: a 256-byte ramp repeated.
local function pattern(n)
  local ramp = {}
  for i = 0, 255 do ramp[#ramp + 1] = string.char(i) end
  ramp = table.concat(ramp)
  return (ramp:rep(math.ceil(n / 256))):sub(1, n)
end

-- Every string reachable from v (keys and values), joined, to search for leaked secrets.
local function strings_in(v, acc)
  acc = acc or {}
  if type(v) == "string" then
    acc[#acc + 1] = v
  elseif type(v) == "table" then
    for k, x in pairs(v) do
      strings_in(k, acc)
      strings_in(x, acc)
    end
  end
  return table.concat(acc, "\n")
end

-- Runs every submitted transfer to completion; returns results by id.
local function drain(t)
  local by_id = {}
  while t:running() > 0 do
    t:poll(1)
    for _, r in ipairs(t:results()) do by_id[r.id] = r end
  end
  for _, r in ipairs(t:results()) do by_id[r.id] = r end
  return by_id
end

describe("core.http #luajit", function()
  local srv, pki, tmp, base, tbase, stall

  lazy_setup(function()
    pki = tls.make()
    tmp = pki.dir
    local text = ("lua-zuora compressed body\n"):rep(300)
    writefile(tmp .. "/text", text)
    if have("brotli") then os.execute("brotli -q 5 -c '" .. tmp .. "/text' > '" .. tmp .. "/text.br'") end
    if have("zstd") then os.execute("zstd -q -c '" .. tmp .. "/text' > '" .. tmp .. "/text.zst'") end
    writefile(tmp .. "/static.bin", pattern(100000))
    srv = nginx.start{ ports = 3, vars = { cert = pki.cert, key = pki.key, docroot = tmp, client_id = CLIENT_ID,
      client_secret = CLIENT_SECRET, token = TOKEN }, http = [[
      lua_shared_dict counts 1m;
      client_max_body_size 0;
      client_body_buffer_size 16m;
      keepalive_requests 100000;
      server {
        listen 127.0.0.1:${port1};
        listen 127.0.0.1:${port2} ssl http2;
        ssl_certificate ${cert};
        ssl_certificate_key ${key};
        location /hello { content_by_lua_block { ngx.print("hello ", ngx.var.arg_name or "") } }
        location /echo { content_by_lua_block {
          ngx.req.read_body()
          local body = ngx.req.get_body_data()
          local file = ngx.req.get_body_file()
          if not body and file then local h = io.open(file, "rb"); body = h:read("*a"); h:close() end
          ngx.header["X-Method"] = ngx.req.get_method()
          ngx.header["X-Content-Type"] = ngx.var.content_type or ""
          ngx.header["X-Expect"] = "expect=" .. (ngx.var.http_expect or "")
          ngx.print(body or "")
        } }
        location /headers { content_by_lua_block {
          local out = {}
          for k, v in pairs(ngx.req.get_headers(200)) do
            if type(v) == "table" then v = table.concat(v, ",") end
            out[#out + 1] = k .. ": " .. v
          end
          table.sort(out)
          ngx.print(table.concat(out, "\n"))
        } }
        location /big { content_by_lua_block {
          local n = tonumber(ngx.var.arg_n)
          local ramp = {}
          for i = 0, 255 do ramp[#ramp + 1] = string.char(i) end
          local chunk = table.concat(ramp):rep(256)
          local sent = 0
          while sent < n do
            local k = math.min(#chunk, n - sent)
            ngx.print(k == #chunk and chunk or chunk:sub(1, k))
            sent = sent + k
          end
        } }
        location /static/ { alias ${docroot}/; }
        location /gzip {
          gzip on; gzip_types text/plain; gzip_min_length 100; default_type text/plain;
          content_by_lua_block { ngx.print(("lua-zuora compressed body\n"):rep(300)) }
        }
        location /br { content_by_lua_block {
          ngx.header["Content-Type"] = "text/plain"
          ngx.header["Content-Encoding"] = "br"
          local f = io.open("${docroot}/text.br", "rb"); ngx.print(f:read("*a")); f:close()
        } }
        location /zstd { content_by_lua_block {
          ngx.header["Content-Type"] = "text/plain"
          ngx.header["Content-Encoding"] = "zstd"
          local f = io.open("${docroot}/text.zst", "rb"); ngx.print(f:read("*a")); f:close()
        } }
        location /slow { content_by_lua_block {
          ngx.sleep(tonumber(ngx.var.arg_s))
          ngx.print("slow ", ngx.var.arg_id or "")
        } }
        location /status { content_by_lua_block { ngx.status = tonumber(ngx.var.arg_code); ngx.print("status body") } }
        location /redirect { return 302 /hello?name=redirected; }
        location /many_headers { content_by_lua_block {
          for i = 1, 10000 do ngx.header["X-H" .. i] = "v" end
          ngx.print("ok")
        } }
        location /huge_header { content_by_lua_block { ngx.header["X-Big"] = ("a"):rep(1048576); ngx.print("ok") } }
        location /count { content_by_lua_block { ngx.print(ngx.shared.counts:incr("hits", 1, 0)) } }
        location /hits { content_by_lua_block { ngx.print(ngx.shared.counts:get("hits") or 0) } }
        location /json { default_type application/json; return 200 '{"id":"A1","n":[1,2.5,null],"ok":true}'; }
        location /repeat { content_by_lua_block {
          ngx.header["Content-Type"] = "application/json; charset=utf-8"
          ngx.header["X-Rep"] = { "", "a", "", "b" }
          ngx.print('{"id":"A1","n":[1,2.5,null]}')
        } }
        location /badjson { default_type application/json; return 200 '{"id":"A1","n":[1,2'; }
        location /oauth/token { content_by_lua_block {
          ngx.req.read_body()
          local args = ngx.req.get_post_args()
          ngx.header["Content-Type"] = "application/json"
          if args.grant_type ~= "client_credentials" or args.client_id ~= "${client_id}"
            or args.client_secret ~= "${client_secret}" then
            ngx.status = 401
            ngx.print('{"error":"invalid_client"}')
            return
          end
          ngx.print('{"access_token":"${token}","token_type":"bearer","expires_in":3600,"scope":"x","jti":"j"}')
        } }
        location /protected { content_by_lua_block {
          if ngx.var.http_authorization ~= "Bearer ${token}" then
            ngx.status = 401
            ngx.print('{"message":"Authentication error"}')
            return
          end
          ngx.print('{"ok":true}')
        } }
      }
      server {
        listen 127.0.0.1:${port3} ssl;
        ssl_certificate ${cert};
        ssl_certificate_key ${key};
        ssl_certificate_by_lua_block { ngx.sleep(5) }
        location / { return 200 "never"; }
      }
    ]] }
    base = srv.url
    tbase = "https://127.0.0.1:" .. srv.ports[2]
    stall = "https://127.0.0.1:" .. srv.ports[3]
  end)

  lazy_teardown(function()
    if srv then srv:stop() end
    if pki then pki:remove() end
  end)

  describe("module", function()
    it("has a monotonic clock", function()
      local a = http.now()
      local b = http.now()
      assert.is_number(a)
      assert.is_true(b >= a)
    end)

    it("describes the libcurl it runs on", function()
      local info = http.info()
      assert.matches("^%d+%.%d+", info.version)
      assert.matches("OpenSSL", info.ssl)
      assert.is_boolean(info.http2)
      assert.is_boolean(info.brotli)
      assert.is_boolean(info.zstd)
    end)

    it("checks transport options", function()
      assert.has_error(function() http.new{ insecure = "yes" } end)
      assert.has_error(function() http.new{ max_body = -1 } end)
      assert.has_error(function() http.new{ ca_file = 5 } end)
      assert.matches("^zuora%.http", tostring(http.new()))
    end)
  end)

  describe("requests", function()
    local t
    before_each(function() t = http.new() end)
    after_each(function() t:close() end)

    it("performs a GET and reuses the kept-alive connection", function()
      local r1 = t:perform{ url = base .. "/hello?name=a" }
      assert.is_nil(r1.kind, r1.error)
      assert.equals(200, r1.status)
      assert.equals("hello a", r1.body)
      assert.equals("1.1", r1.http_version)
      assert.is_false(r1.reused)
      assert.is_number(r1.time)
      assert.equals(7, r1.bytes)
      for i = 1, 3 do
        local r = t:perform{ url = base .. "/hello?name=" .. i }
        assert.equals("hello " .. i, r.body)
        assert.is_true(r.reused)
      end
    end)

    it("returns lower-cased response headers", function()
      local r = t:perform{ url = base .. "/echo", method = "POST", body = "x" }
      assert.equals("POST", r.headers["x-method"])
      assert.matches("^%d+$", r.headers["content-length"] or r.headers["transfer-encoding"] and "0")
      assert.is_nil(r.headers["X-Method"])
    end)

    it("gives the raw header lines instead of the table when asked (header_block)", function()
      local tab = t:perform{ url = base .. "/repeat", decode = true }
      local raw = t:perform{ url = base .. "/repeat", decode = true, header_block = true }
      assert.is_nil(raw.headers)
      assert.matches("^HTTP/1%.1 200", raw.header_block)
      assert.matches("\r\n\r\n$", raw.header_block)
      -- the body is still decoded: the Content-Type came from the lines
      assert.same(tab.data, raw.data)
      assert.equals(2.5, raw.data.n[2])
      local parsed = http.parse_headers(raw.header_block)
      parsed.date, tab.headers.date = nil, nil -- the two responses may straddle a second
      assert.same(tab.headers, parsed)
      assert.equals("a, b", parsed["x-rep"])
      for name, value in pairs(parsed) do
        assert.equals(value, http.header(raw.header_block, name))
        assert.equals(value, http.header(raw.header_block, name:upper()))
      end
      assert.is_nil(http.header(raw.header_block, "x-absent"))
      assert.is_nil(http.header(raw.header_block, "HTTP/1.1 200 OK"))
      assert.is_nil(http.header(raw.header_block, "x-rep: a"))
      assert.same({}, http.parse_headers(""))
      assert.has_error(function() http.header(raw.header_block) end)
      -- several names in one pass: one value a name, as asked one by one (repeats joined)
      local a, b, c, d, e = http.header(raw.header_block, "X-Rep", "x-absent", "content-type", "x-rep: a", "DATE")
      assert.equals("a, b", a)
      assert.is_nil(b)
      assert.equals(parsed["content-type"], c)
      assert.is_nil(d)
      assert.equals(http.header(raw.header_block, "date"), e)
      assert.equals(5, select("#", http.header(raw.header_block, "a", "b", "c", "d", "e")))
      assert.has_error(function() http.header(raw.header_block, "a", "b", "c", "d", "e", "f", "g", "h", "i") end)
    end)

    it("sends methods, bodies and headers as given", function()
      for _, m in ipairs { "POST", "PUT", "PATCH", "DELETE" } do
        local r = t:perform{ url = base .. "/echo", method = m, body = '{"a":1}',
          headers = { "Content-Type: application/json" } }
        assert.equals(m, r.headers["x-method"])
        assert.equals('{"a":1}', r.body)
        assert.equals("application/json", r.headers["x-content-type"])
      end
      local r = t:perform{ url = base .. "/echo", method = "DELETE" }
      assert.equals("DELETE", r.headers["x-method"])
      assert.equals("", r.body)
      r = t:perform{ url = base .. "/echo", method = "POST" }
      assert.equals("POST", r.headers["x-method"])
      r = t:perform{ url = base .. "/echo", method = "HEAD" }
      assert.equals(200, r.status)
      assert.equals("", r.body)
      r = t:perform{ url = base .. "/headers", headers = { "Zuora-Track-Id: abc", "zuora-version: 211.0" } }
      assert.matches("zuora%-track%-id: abc", r.body)
      assert.matches("zuora%-version: 211%.0", r.body)
      assert.matches("accept%-encoding: [^\n]*gzip", r.body)
    end)

    it("sends a binary body byte for byte, without waiting for 100-continue", function()
      local body = pattern(2 * 1024 * 1024)
      local r = t:perform{ url = base .. "/echo", method = "POST", body = body,
        headers = { "Content-Type: application/octet-stream" } }
      assert.equals(200, r.status)
      assert.equals("expect=", r.headers["x-expect"])
      assert.is_true(r.body == body)
    end)

    it("refuses CR or LF in headers, and bad methods or URLs, before anything is sent", function()
      local before = t:perform{ url = base .. "/hits" }.body
      assert.has_error(function() t:submit{ url = base .. "/count", headers = { "X-A: 1\r\nX-Injected: 1" } } end,
        "header 1 contains CR, LF or NUL")
      assert.has_error(function() t:submit{ url = base .. "/count", headers = { "X-A: 1\nX-B: 2" } } end)
      assert.has_error(function() t:submit{ url = base .. "/count", headers = { "X-Ok: 1", "X-A: \r" } } end)
      assert.has_error(function() t:submit{ url = base .. "/count", headers = { "no colon" } } end)
      assert.has_error(function() t:submit{ url = base .. "/count", headers = { ": empty name" } } end)
      assert.has_error(function() t:submit{ url = base .. "/count\r\nX: 1" } end)
      assert.has_error(function() t:submit{ url = base .. "/co unt" } end)
      assert.has_error(function() t:submit{ url = base .. "/count", method = "GET /x HTTP/1.1\r\n" } end)
      assert.has_error(function() t:submit{ url = base .. "/count", method = "get" } end)
      assert.has_error(function() t:submit{ url = base .. "/count", body = "a", body_file = "/etc/hostname" } end)
      assert.has_error(function() t:submit{ method = "GET" } end)
      assert.equals(0, t:running())
      assert.equals(before, t:perform{ url = base .. "/hits" }.body)
    end)

    it("never follows redirects", function()
      local r = t:perform{ url = base .. "/redirect" }
      assert.equals(302, r.status)
      assert.matches("/hello%?name=redirected$", r.headers.location)
      assert.is_nil(r.kind)
    end)

    it("reports non-2xx statuses as results, with their bodies", function()
      local r = t:perform{ url = base .. "/status?code=503" }
      assert.equals(503, r.status)
      assert.equals("status body", r.body)
      assert.is_nil(r.kind)
    end)

    it("reports a refused connection as a transport error", function()
      local port = nginx.free_port()
      local r = t:perform{ url = "http://127.0.0.1:" .. port .. "/" }
      assert.equals("transport", r.kind)
      assert.equals(0, r.status)
      assert.is_number(r.curl_code)
      assert.is_string(r.error)
    end)

    it("decodes gzip bodies", function()
      local r = t:perform{ url = base .. "/gzip" }
      assert.equals("gzip", r.headers["content-encoding"])
      assert.equals(("lua-zuora compressed body\n"):rep(300), r.body)
    end)

    it("decodes brotli bodies", function()
      if not http.info().brotli or not readfile(tmp .. "/text.br") then
        return pending("libcurl without brotli or no brotli CLI")
      end
      local r = t:perform{ url = base .. "/br" }
      assert.equals("br", r.headers["content-encoding"])
      assert.equals(("lua-zuora compressed body\n"):rep(300), r.body)
    end)

    it("decodes zstd bodies", function()
      if not http.info().zstd or not readfile(tmp .. "/text.zst") then
        return pending("libcurl without zstd or no zstd CLI")
      end
      local r = t:perform{ url = base .. "/zstd" }
      assert.equals("zstd", r.headers["content-encoding"])
      assert.equals(("lua-zuora compressed body\n"):rep(300), r.body)
    end)

    it("decodes JSON bodies in C when asked", function()
      if type(core.json.decode) ~= "function" then
        return pending("needs the JSON codec (json branch) on main")
      end
      local r = t:perform{ url = base .. "/json", decode = true }
      assert.is_nil(r.json_error)
      assert.equals("A1", r.data.id)
      assert.equals(true, r.data.ok)
      assert.equals(2.5, r.data.n[2])
      assert.equals(core.json.null, r.data.n[3])
      assert.is_nil(r.body) -- decoded straight from the transfer buffer: no copy as a string
      -- not JSON by its Content-Type: left alone
      r = t:perform{ url = base .. "/hello?name=notjson", decode = true }
      assert.is_nil(r.data)
      assert.is_nil(r.json_error)
      assert.equals("hello notjson", r.body)
      -- JSON by its Content-Type but broken: the error and the bytes that came
      r = t:perform{ url = base .. "/badjson", decode = true }
      assert.is_nil(r.data)
      assert.is_string(r.json_error)
      assert.equals('{"id":"A1","n":[1,2', r.body)
    end)
  end)

  describe("limits", function()
    local t
    before_each(function() t = http.new() end)
    after_each(function() t:close() end)

    it("aborts a streamed body over max_body", function()
      local r = t:perform{ url = base .. "/big?n=200000", max_body = 100000 }
      assert.equals("too_large", r.kind)
      assert.matches("max_body", r.error)
      assert.is_true(r.bytes <= 100000)
      r = t:perform{ url = base .. "/big?n=100000", max_body = 100000 }
      assert.is_nil(r.kind)
      assert.equals(100000, #r.body)
    end)

    it("aborts a body whose Content-Length is over max_body before reading it", function()
      local r = t:perform{ url = base .. "/static/static.bin", max_body = 1000 }
      assert.equals("too_large", r.kind)
      assert.equals(0, r.bytes)
    end)

    it("takes its default cap from the transport", function()
      local small = http.new{ max_body = 500 }
      local r = small:perform{ url = base .. "/big?n=501" }
      assert.equals("too_large", r.kind)
      r = small:perform{ url = base .. "/big?n=500" }
      assert.is_nil(r.kind)
      small:close()
    end)

    it("rejects a flood of response headers cleanly", function()
      local r = t:perform{ url = base .. "/many_headers" }
      assert.equals("too_large", r.kind)
      assert.matches("headers", r.error)
      r = t:perform{ url = base .. "/hello?name=after" } -- the transport is still fine
      assert.equals("hello after", r.body)
    end)

    it("rejects a 1 MB header line cleanly", function()
      local r = t:perform{ url = base .. "/huge_header" }
      assert.equals("too_large", r.kind)
      assert.matches("header", r.error)
      assert.equals("hello x", t:perform{ url = base .. "/hello?name=x" }.body)
    end)

    it("times out a slow response within 10% of the setting #timing", function()
      local t0 = http.now()
      local r = t:perform{ url = base .. "/slow?s=3", timeout = 0.6 }
      local elapsed = http.now() - t0
      assert.equals("timeout", r.kind)
      assert.equals(28, r.curl_code)
      assert.is_true(elapsed >= 0.6 and elapsed <= 0.66, "elapsed " .. elapsed)
    end)

    it("times out a stalled connection (TLS handshake) with connect_timeout #timing", function()
      local tt = http.new{ ca_file = pki.ca_file }
      local t0 = http.now()
      local r = tt:perform{ url = stall .. "/", connect_timeout = 0.5, timeout = 10 }
      local elapsed = http.now() - t0
      tt:close()
      assert.equals("timeout", r.kind)
      assert.is_true(elapsed >= 0.5 and elapsed <= 0.55, "elapsed " .. elapsed)
    end)

    it("uses the transport's default timeout", function()
      local tt = http.new{ timeout = 0.3 }
      local r = tt:perform{ url = base .. "/slow?s=2" }
      tt:close()
      assert.equals("timeout", r.kind)
    end)
  end)

  describe("files", function()
    local t, dir
    before_each(function()
      t = http.new()
      dir = fs.tmpdir("http")
    end)
    after_each(function()
      t:close()
      os.execute("rm -rf '" .. dir .. "'")
    end)

    it("streams a 2xx body to a file, byte for byte", function()
      local n = 5 * 1024 * 1024 + 7
      local r = t:perform{ url = base .. "/big?n=" .. n, output = dir .. "/out.bin" }
      assert.is_nil(r.kind, r.error)
      assert.equals(dir .. "/out.bin", r.output)
      assert.is_nil(r.body)
      assert.equals(n, r.bytes)
      assert.is_true(readfile(dir .. "/out.bin") == pattern(n))
      assert.same({ "out.bin" }, ls(dir))
    end)

    it("keeps a non-2xx body in memory and leaves no file", function()
      local r = t:perform{ url = base .. "/status?code=404", output = dir .. "/out.bin" }
      assert.equals(404, r.status)
      assert.equals("status body", r.body)
      assert.is_nil(r.output)
      assert.same({}, ls(dir))
    end)

    it("leaves no partial file when the transfer fails", function()
      local r = t:perform{ url = base .. "/big?n=300000", output = dir .. "/out.bin", max_body = 100000 }
      assert.equals("too_large", r.kind)
      assert.same({}, ls(dir))
    end)

    it("reports an unwritable output as a file error", function()
      local r = t:perform{ url = base .. "/hello", output = dir .. "/missing/dir/out.bin" }
      assert.equals("file", r.kind)
      assert.matches("missing/dir", r.error)
    end)

    it("uploads body_file streamed and intact", function()
      local data = pattern(3 * 1024 * 1024 + 1)
      writefile(dir .. "/up.bin", data)
      local r = t:perform{ url = base .. "/echo", method = "POST", body_file = dir .. "/up.bin",
        headers = { "Content-Type: application/octet-stream" } }
      assert.is_nil(r.kind, r.error)
      assert.equals("POST", r.headers["x-method"])
      assert.is_true(r.body == data)
      local p = t:perform{ url = base .. "/echo", method = "PUT", body_file = dir .. "/up.bin" }
      assert.equals("PUT", p.headers["x-method"])
      assert.equals(#data, #p.body)
    end)

    it("reports a missing body_file as a file error without sending", function()
      local r = t:perform{ url = base .. "/echo", method = "POST", body_file = dir .. "/nope.bin" }
      assert.equals("file", r.kind)
      assert.matches("nope%.bin", r.error)
      assert.equals(0, r.status)
    end)

    it("uploads multipart forms with files streamed and data parts", function()
      local csv = "ACCOUNT_ID,UOM,QTY\n" .. ("A00000001,Each,1\n"):rep(50000)
      writefile(dir .. "/usage.csv", csv)
      local r = t:perform{ url = base .. "/echo", method = "POST", multipart = {
        { name = "file", path = dir .. "/usage.csv", filename = "usage.csv", content_type = "text/csv" },
        { name = "note", data = "hello\0world" },
      } }
      assert.is_nil(r.kind, r.error)
      local boundary = r.headers["x-content-type"]:match("^multipart/form%-data; boundary=(.+)$")
      assert.is_string(boundary)
      local parts = {}
      local body = r.body
      local pos = 1
      while true do
        local s, e = body:find("--" .. boundary, pos, true)
        if not s then break end
        if body:sub(e + 1, e + 2) == "--" then break end
        local hs, he = body:find("\r\n\r\n", e, true)
        local head = body:sub(e + 3, hs - 1)
        local ns = body:find("\r\n--" .. boundary, he, true)
        parts[#parts + 1] = { head = head, data = body:sub(he + 1, ns - 1) }
        pos = ns + 2
      end
      assert.equals(2, #parts)
      assert.matches('name="file"; filename="usage.csv"', parts[1].head)
      assert.matches("Content%-Type: text/csv", parts[1].head)
      assert.is_true(parts[1].data == csv)
      assert.matches('name="note"', parts[2].head)
      assert.equals("hello\0world", parts[2].data)
    end)

    it("reports a missing multipart file as a file error", function()
      local r = t:perform{ url = base .. "/echo", method = "POST",
        multipart = { { name = "file", path = dir .. "/nope.csv" } } }
      assert.equals("file", r.kind)
      assert.has_error(function() t:submit{ url = base .. "/echo", multipart = { { name = "x" } } } end)
      assert.has_error(function() t:submit{ url = base .. "/echo", multipart = { { data = "x" } } } end)
    end)
  end)

  describe("TLS", function()
    it("fails verification against an unknown CA", function()
      local t = http.new()
      local r = t:perform{ url = tbase .. "/hello?name=tls" }
      t:close()
      assert.equals("tls", r.kind)
      assert.equals(60, r.curl_code)
      assert.is_nil(r.body and r.body:find("hello", 1, true))
    end)

    it("verifies with ca_file and speaks HTTP/2 when offered", function()
      local t = http.new{ ca_file = pki.ca_file }
      local r = t:perform{ url = tbase .. "/hello?name=tls" }
      assert.is_nil(r.kind, r.error)
      assert.equals("hello tls", r.body)
      if http.info().http2 then assert.equals("2", r.http_version) end
      r = t:perform{ url = tbase .. "/gzip" }
      assert.equals(("lua-zuora compressed body\n"):rep(300), r.body)
      assert.is_true(r.reused)
      t:close()
    end)

    it("verifies with ca_path", function()
      local t = http.new{ ca_path = pki.ca_path }
      local r = t:perform{ url = "https://localhost:" .. srv.ports[2] .. "/hello?name=capath" }
      t:close()
      assert.is_nil(r.kind, r.error)
      assert.equals("hello capath", r.body)
    end)

    it("reports a missing ca_file as a TLS error", function()
      local t = http.new{ ca_file = pki.dir .. "/no-such-bundle.pem" }
      local r = t:perform{ url = tbase .. "/hello" }
      t:close()
      assert.equals("tls", r.kind)
    end)

    it("checks the host name", function()
      local t = http.new{ ca_file = pki.ca_file }
      -- the certificate names 127.0.0.1 and localhost; ::1 is not on it
      local r = t:perform{ url = "https://[::1]:" .. srv.ports[2] .. "/" }
      t:close()
      assert.is_string(r.kind)
    end)

    it("skips verification only when insecure is asked for", function()
      local t = http.new{ insecure = true }
      local r = t:perform{ url = tbase .. "/hello?name=insecure" }
      t:close()
      assert.is_nil(r.kind, r.error)
      assert.equals("hello insecure", r.body)
    end)

    it("can be held to HTTP/1.1", function()
      local t = http.new{ ca_file = pki.ca_file, http2 = false }
      local r = t:perform{ url = tbase .. "/hello" }
      t:close()
      assert.equals("1.1", r.http_version)
    end)
  end)

  describe("proxies from the environment", function()
    local LUA = require "spec.support.lua"
    local VARS = { "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
      "no_proxy", "NO_PROXY" }
    -- The child: a script file, not `-e` (the sanitized host under `make test-asan` runs files only).
    local script
    lazy_setup(function()
      script = tmp .. "/proxy_child.lua"
      writefile(script, "local t = require('zuora.core').http.new(); local r = t:perform{ url = arg[1] }; "
        .. "io.write(r.kind or 'ok', ' ', r.body or r.error or '')")
    end)
    -- What a transport made in a child process with exactly `env` set answers for `url`: the
    -- variables are read once, when the transport is made, as libcurl reads them.
    local function fetch_with(env, url)
      local cmd = { "env" }
      for _, v in ipairs(VARS) do cmd[#cmd + 1] = "-u " .. v end
      for k, v in pairs(env) do cmd[#cmd + 1] = k .. "=" .. fs.q(v) end
      cmd[#cmd + 1] = LUA .. " " .. fs.q(script) .. " " .. fs.q(url) .. " 2>&1"
      return fs.sh_read(table.concat(cmd, " "))
    end
    -- Nothing listens on 127.0.0.2:9, so only a request that went through the proxy (the test
    -- nginx, which answers absolute-form requests) gets an answer.
    local target = "http://127.0.0.2:9/hello?name=proxied"

    it("sends http requests through http_proxy or all_proxy", function()
      assert.equals("ok hello proxied", fetch_with({ http_proxy = base }, target))
      assert.equals("ok hello proxied", fetch_with({ all_proxy = base }, target))
      assert.equals("ok hello proxied", fetch_with({ ALL_PROXY = base }, target))
    end)

    it("goes direct for hosts in no_proxy, and without a proxy variable", function()
      assert.matches("^transport", fetch_with({ http_proxy = base, no_proxy = "127.0.0.2" }, target))
      assert.matches("^transport", fetch_with({ http_proxy = base, NO_PROXY = "127.0.0.2" }, target))
      assert.matches("^transport", fetch_with({}, target))
      assert.equals("ok hello direct", fetch_with({ http_proxy = "http://127.0.0.2:9", no_proxy = "127.0.0.1" },
        base .. "/hello?name=direct"))
    end)

    it("ignores upper-case HTTP_PROXY, as libcurl does (a CGI request's Proxy header can set it)", function()
      assert.matches("^transport", fetch_with({ HTTP_PROXY = base }, target))
    end)

    it("uses https_proxy, not http_proxy, for https URLs", function()
      -- the tunnel through nginx fails, but the failure says the proxy was tried
      local out = fetch_with({ https_proxy = base, http_proxy = "http://127.0.0.2:9" }, "https://127.0.0.2:9/")
      assert.not_matches("127.0.0.2 port 9", out)
      assert.matches("^transport", fetch_with({ http_proxy = base }, "https://127.0.0.2:9/"))
    end)
  end)

  describe("non-blocking use", function()
    local t
    before_each(function() t = http.new() end)
    after_each(function() t:close() end)

    local function many(url_of, n)
      local want = {}
      for i = 1, n do want[t:submit{ url = url_of(i) }] = i end
      assert.equals(n, t:running())
      local got = drain(t)
      for id, i in pairs(want) do
        local r = got[id]
        assert.is_not_nil(r, "result for " .. id)
        assert.is_nil(r.kind, r.error)
        assert.equals("slow " .. i, r.body)
      end
      assert.equals(0, t:running())
      return got
    end

    it("runs many transfers concurrently over HTTP/1.1", function()
      local t0 = http.now()
      many(function(i) return base .. "/slow?s=0.2&id=" .. i end, 100)
      -- 100 requests of 0.2 s each, one after another, would take 20 s
      assert.is_true(http.now() - t0 < 5)
    end)

    it("multiplexes many transfers over one HTTP/2 connection", function()
      if not http.info().http2 then return pending("libcurl without HTTP/2") end
      t:close()
      t = http.new{ ca_file = pki.ca_file }
      assert.equals("2", t:perform{ url = tbase .. "/hello" }.http_version)
      local got = many(function(i) return tbase .. "/slow?s=0.2&id=" .. i end, 50)
      for _, r in pairs(got) do assert.is_true(r.reused) end
    end)

    it("returns from poll after at most its timeout", function()
      local id = t:submit{ url = base .. "/slow?s=1" }
      local t0 = http.now()
      assert.equals(1, t:poll(0.2))
      local waited = http.now() - t0
      assert.is_true(waited >= 0.19 and waited < 0.5, "waited " .. waited)
      assert.same({}, t:results())
      local got = drain(t)
      assert.equals("slow ", got[id].body)
      t0 = http.now()
      assert.equals(0, t:poll(0.2)) -- nothing running: sleeps the timeout out (a scheduler's sleep)
      waited = http.now() - t0
      assert.is_true(waited >= 0.19 and waited < 0.5, "idle poll waited " .. waited)
    end)

    it("cancels a running transfer", function()
      local id = t:submit{ url = base .. "/slow?s=2" }
      t:poll(0.1)
      assert.is_true(t:cancel(id))
      assert.equals(0, t:running())
      assert.is_false(t:cancel(id))
      assert.same({}, t:results())
      assert.equals("hello c", t:perform{ url = base .. "/hello?name=c" }.body)
    end)

    it("keeps other results queued while perform runs", function()
      local id = t:submit{ url = base .. "/slow?s=0.05&id=bg" }
      local r = t:perform{ url = base .. "/slow?s=0.3&id=fg" }
      assert.equals("slow fg", r.body)
      local rest = t:results()
      assert.equals(1, #rest)
      assert.equals(id, rest[1].id)
      assert.equals("slow bg", rest[1].body)
    end)

    it("reports progress of a transfer", function()
      local id = t:submit{ url = base .. "/big?n=300000" }
      while t:running() > 0 do t:poll(1) end
      local dl_now, _, ul_now = t:progress(id)
      assert.equals(300000, dl_now)
      assert.equals(0, ul_now)
      t:results()
      assert.is_nil(t:progress(id))
    end)

    it("offers a pollable fd that becomes readable when transfers need attention", function()
      local ok, poll = pcall(require, "posix.poll")
      if not ok then return pending("luaposix (posix.poll) is not available for " .. _VERSION) end
      local fd = t:pollfd()
      assert.is_number(fd)
      assert.equals("r", t:events())
      assert.equals(0, poll.rpoll(fd, 0))
      assert.is_nil(t:timeout())
      local id = t:submit{ url = base .. "/slow?s=0.3&id=fd" }
      assert.equals(0, t:timeout()) -- libcurl wants to start right away
      local wakeups, result = 0, nil
      while not result do
        local timeout = t:timeout()
        local ms = timeout and math.floor(timeout * 1000 + 0.5) or 1000
        if poll.rpoll(fd, ms) == 1 then wakeups = wakeups + 1 end
        t:poll(0)
        result = t:results()[1]
      end
      assert.equals(id, result.id)
      assert.equals("slow fd", result.body)
      assert.is_true(wakeups >= 1)
    end)
  end)

  describe("credentials", function()
    local t
    before_each(function() t = http.new() end)
    after_each(function() t:close() end)

    local function oauth()
      return auth.new{ mode = "oauth", client_id = CLIENT_ID, client_secret = CLIENT_SECRET,
        token_url = base .. "/oauth/token" }
    end

    it("gets a token in C; neither secret nor token reaches Lua", function()
      local a = oauth()
      local req = assert(a:token_request(http.now()))
      local r = t:perform(req)
      assert.is_nil(r.kind, r.error)
      assert.equals(200, r.status)
      assert.is_nil(r.body)
      assert.equals("ready", a:state(http.now()))
      assert.equals(1, a:generation())
      local call = t:perform{ url = base .. "/protected", auth = a }
      assert.equals(200, call.status)
      assert.equals('{"ok":true}', call.body)
      assert.equals(1, call.auth_generation)
      local seen = strings_in(r) .. strings_in(req) .. strings_in(call) .. tostring(a)
      assert.is_nil(seen:find(TOKEN, 1, true))
      assert.is_nil(seen:find(CLIENT_SECRET, 1, true))
      assert.is_nil(seen:find(CLIENT_SECRET:gsub("[^%w]", function(c) return ("%%%02X"):format(c:byte()) end), 1,
        true))
    end)

    it("turns a rejected token request into an auth error without secrets", function()
      local a = auth.new{ mode = "oauth", client_id = CLIENT_ID, client_secret = "wrong-" .. CLIENT_SECRET,
        token_url = base .. "/oauth/token" }
      local r = t:perform(assert(a:token_request(http.now())))
      assert.equals("auth", r.kind)
      assert.equals(401, r.status)
      assert.matches("invalid_client", r.error)
      assert.is_nil(strings_in(r):find(CLIENT_SECRET, 1, true))
      assert.equals("need_token", a:state(http.now()))
    end)

    it("returns a failed token transfer to need_token", function()
      local a = auth.new{ mode = "oauth", client_id = CLIENT_ID, client_secret = CLIENT_SECRET,
        token_url = "http://127.0.0.1:" .. nginx.free_port() .. "/oauth/token" }
      local r = t:perform(assert(a:token_request(http.now())))
      assert.equals("transport", r.kind)
      assert.equals("need_token", a:state(http.now()))
    end)

    it("refuses to send a request whose auth has no usable token", function()
      local a = oauth()
      local r = t:perform{ url = base .. "/count", auth = a }
      assert.equals("auth", r.kind)
      assert.equals(0, r.status)
    end)

    it("adds basic, apikey and bearer headers in C", function()
      local cases = {
        { auth.new{ mode = "basic", username = "u", password = "p@ss" }, "authorization: Basic dTpwQHNz" },
        { auth.new{ mode = "apikey", access_key_id = "id1", secret_access_key = "key1" }, "apisecretaccesskey: key1" },
        { auth.new{ mode = "bearer", token = "fixed" }, "authorization: Bearer fixed" },
      }
      for _, c in ipairs(cases) do
        local r = t:perform{ url = base .. "/headers", auth = c[1] }
        assert.truthy(r.body:find(c[2], 1, true), c[2])
      end
    end)

    it("keeps auth objects alive while their transfers run, and lets them go after", function()
      local weak = setmetatable({}, { __mode = "v" })
      do
        local a = auth.new{ mode = "bearer", token = "t" }
        weak[1] = a
        t:submit{ url = base .. "/slow?s=0.3", auth = a }
      end
      collectgarbage()
      collectgarbage()
      assert.is_not_nil(weak[1])
      drain(t)
      collectgarbage()
      collectgarbage()
      assert.is_nil(weak[1])
    end)
  end)

  describe("release", function()
    it("closes with transfers in flight and refuses use afterwards", function()
      local t = http.new()
      local a = auth.new{ mode = "oauth", client_id = CLIENT_ID, client_secret = CLIENT_SECRET,
        token_url = base .. "/slow?s=1" } -- a token endpoint that answers too late
      t:submit(a:token_request(http.now()))
      for i = 1, 5 do t:submit{ url = base .. "/slow?s=1&id=" .. i } end
      t:poll(0.05)
      t:close()
      assert.equals("need_token", a:state(http.now())) -- the dropped token request is not pending forever
      t:close() -- twice is fine
      assert.has_error(function() t:submit{ url = base } end, "transport is closed")
      assert.has_error(function() t:poll(0) end)
      assert.equals("zuora.http (closed)", tostring(t))
    end)

    it("is collected with transfers in flight, releasing their auth objects", function()
      local weak = setmetatable({}, { __mode = "v" })
      do
        local t = http.new()
        local a = auth.new{ mode = "bearer", token = "t" }
        weak[1], weak[2] = t, a
        for i = 1, 5 do t:submit{ url = base .. "/slow?s=1&id=" .. i, auth = a } end
        t:poll(0.05)
      end
      for _ = 1, 4 do collectgarbage() end
      assert.is_nil(weak[1])
      assert.is_nil(weak[2])
    end)
  end)
end)
