-- zuora.ngx.http, the cosocket HTTP/1.1 client used inside nginx, against real nginx servers on
-- loopback: framing (Content-Length, chunked, close-delimited, interim 1xx), gzip, keep-alive and
-- stale pooled connections, caps, timeouts, TLS verification, request bodies, output files, and
-- the same result tables as core.http for the same requests (Client:classify relies on that).
local openresty = require "spec.support.openresty"
local tls = require "spec.support.tls"
local fs = require "spec.support.fs"
local core = require "zuora.core"
local json = core.json

describe("zuora.ngx.http (cosocket client)", function()
  local srv, pki, other, tmp

  lazy_setup(function()
    pki, other = tls.make(), tls.make()
    tmp = fs.tmpdir("ngx-http")
    srv = openresty.start{ ports = 5, vars = { ca = pki.ca_file, cert = pki.cert, key = pki.key,
      cert2 = other.cert, key2 = other.key }, http = [[
      lua_ssl_trusted_certificate ${ca};
      lua_socket_log_errors off;
      client_body_buffer_size 16m;
      client_max_body_size 64m;
      large_client_header_buffers 4 32k;
      keepalive_requests 100000;

      # the runner: performs the request described in the POST body, answers the results as JSON
      server {
        listen 127.0.0.1:${port1};
        location = /run {
          content_by_lua_block {
            local json = require("zuora.core").json
            local http = require "zuora.ngx.http"
            ngx.req.read_body()
            local spec = json.decode(ngx.req.get_body_data())
            local out = {}
            for i = 1, spec.times or 1 do
              if i > 1 and spec.pause then ngx.sleep(spec.pause) end
              local ok, res = pcall(http.request, spec.req, spec.opts or {})
              out[i] = ok and res or { raised = tostring(res) }
            end
            ngx.say(json.encode(out))
          }
        }
      }

      # plain HTTP backend
      server {
        listen 127.0.0.1:${port2};
        location = /json { default_type application/json; return 200 '{"a":1,"b":[1,2,3],"s":"x\u00e9"}'; }
        location = /text { default_type text/plain; return 200 "plain text"; }
        location = /badjson { default_type application/json; return 200 '{"a":'; }
        location = /204 { return 204; }
        location = /404 { default_type application/json; return 404 '{"message":"nope"}'; }
        location = /big.json {
          gzip on; gzip_types application/json; gzip_min_length 1;
          content_by_lua_block {
            local parts = {}
            for i = 1, 2000 do parts[i] = '{"id":' .. i .. ',"name":"item ' .. i .. '"}' end
            ngx.header.content_type = "application/json"
            ngx.print("[" .. table.concat(parts, ",") .. "]")
          }
        }
        location = /chunked {
          content_by_lua_block {
            ngx.header.content_type = "text/plain"
            for i = 1, 5 do ngx.print(("chunk%d "):format(i)); ngx.flush(true) end
          }
        }
        location = /close {
          content_by_lua_block {
            local sock = ngx.req.socket(true)
            sock:send("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nuntil the end")
          }
        }
        location = /interim {
          content_by_lua_block {
            local sock = ngx.req.socket(true)
            sock:send("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
              .. "Content-Length: 2\r\nX-Final: yes\r\n\r\nok")
          }
        }
        location = /many-headers {
          content_by_lua_block { for i = 1, 600 do ngx.header["X-H" .. i] = "v" end; ngx.say("x") }
        }
        location = /repeated {
          content_by_lua_block { ngx.header["X-Rep"] = { "one", "two" }; ngx.say("x") }
        }
        location = /huge {
          content_by_lua_block { ngx.header.content_length = 2097152; ngx.print(string.rep("x", 2097152)) }
        }
        location = /bomb {
          gzip on; gzip_types text/plain; gzip_min_length 1;
          content_by_lua_block {
            ngx.header.content_type = "text/plain"
            local block = string.rep("0", 1048576)
            for _ = 1, 10 do ngx.print(block) end
          }
        }
        location = /slow { content_by_lua_block { ngx.sleep(2); ngx.say("late") } }
        location = /short {
          content_by_lua_block {
            local sock = ngx.req.socket(true)
            sock:send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\":12345")
          }
        }
        # answers sent in pieces with pauses, cut where a reader must join them: the head's blank
        # line, a chunk-size line and its CRLF split across two pieces
        location = /pieces {
          content_by_lua_block {
            local sock = ngx.req.socket(true)
            local chunked = ngx.var.arg_chunked
            local pieces = chunked and { "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n",
              "Transfer-Encoding: chunked\r\n\r", "\n5\r", "\nhello\r\n", "6;ext=1\r\n wo", "rld\r", "\n0\r\n",
              "X-Trailer: t\r\n\r", "\n" }
              or { "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r", "\nContent-Length: 11\r\n\r", "\n", "hello",
                " world" }
            for _, p in ipairs(pieces) do sock:send(p); ngx.sleep(0.02) end
          }
        }
        location = /long-chunk-line {
          content_by_lua_block {
            local sock = ngx.req.socket(true)
            sock:send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;" .. ("x"):rep(1100)
              .. "\r\nhello\r\n0\r\n\r\n")
          }
        }
        # a keep-alive answer with bytes past its Content-Length: the connection must not be pooled
        location = /excess {
          content_by_lua_block {
            ngx.header.content_type = "text/plain"; ngx.header.content_length = 2; ngx.print("okEXTRA")
          }
        }
        location /uri/ { default_type text/plain; return 200 "$request_uri"; }
        location = /first-last { default_type text/plain; return 200 "$http_x_first $http_x_last"; }
        location = /echo {
          content_by_lua_block {
            ngx.req.read_body()
            local body = ngx.req.get_body_data()
            if not body and ngx.req.get_body_file() then
              local f = io.open(ngx.req.get_body_file(), "rb"); body = f:read("*a"); f:close()
            end
            ngx.header.content_type = "application/json"
            ngx.say(require("zuora.core").json.encode{ method = ngx.req.get_method(),
              headers = ngx.req.get_headers(), body = body or "" })
          }
        }
      }

      # TLS backends: one under the trusted CA, one under an unknown CA
      server {
        listen 127.0.0.1:${port3} ssl;
        ssl_certificate ${cert}; ssl_certificate_key ${key};
        location / { default_type application/json; return 200 '{"tls":true}'; }
      }
      server {
        listen 127.0.0.1:${port4} ssl;
        ssl_certificate ${cert2}; ssl_certificate_key ${key2};
        location / { default_type application/json; return 200 '{"tls":true}'; }
      }

      # closes idle keep-alive connections quickly (stale pooled connections)
      server {
        listen 127.0.0.1:${port5};
        keepalive_timeout 100ms;
        location / { default_type text/plain; return 200 "fresh"; }
        location /uri/ { default_type text/plain; return 200 "$request_uri"; }
      }
    ]] }
  end)

  lazy_teardown(function()
    if srv then srv:stop() end
    if pki then pki:remove() end
    if other then other:remove() end
    if tmp then os.execute("rm -rf '" .. tmp .. "'") end
  end)

  local function port(i) return srv.ports[i] end
  local function base(i) return "http://127.0.0.1:" .. port(i or 2) end

  local function run(req, extra)
    local spec = { req = req }
    for k, v in pairs(extra or {}) do spec[k] = v end
    local out = openresty.parallel{ { method = "POST", url = srv.url .. "/run", body = json.encode(spec) } }[1]
    assert.equals(200, out.status, out.body)
    return json.decode(out.body)
  end
  local function one(req, opts) return run(req, { opts = opts })[1] end

  local read, write = fs.read, fs.write

  describe("gives the same results as core.http", function()
    local t
    before_each(function() t = core.http.new{ http2 = false } end)
    after_each(function() t:close() end)

    for _, case in ipairs({
      { "/json" }, { "/big.json" }, { "/chunked" }, { "/text" }, { "/badjson" }, { "/204" }, { "/404" },
      { "/close" }, { "/interim" }, { "/repeated" }, { "/json", "HEAD" }, { "/echo", "POST", "a=1&b=2" },
    }) do
      local path, method, body = case[1], case[2] or "GET", case[3]
      it(method .. " " .. path, function()
        local req = { method = method, url = base() .. path, decode = true, body = body,
          headers = { "Accept: application/json", "X-Test: yes" } }
        local want = t:perform(req)
        local got = one(req)
        assert.is_nil(got.raised)
        assert.equals(want.status, got.status)
        assert.equals(want.kind, got.kind)
        assert.equals(want.sends, got.sends)
        if path == "/echo" then
          -- libcurl offers more encodings (br, zstd); the cosocket client only gzip
          assert.equals("gzip", got.data.headers["accept-encoding"])
          want.data.headers["accept-encoding"], got.data.headers["accept-encoding"] = nil, nil
        end
        assert.same(want.data, got.data)
        assert.equals(want.body, got.body)
        assert.equals(want.json_error ~= nil, got.json_error ~= nil)
        if path ~= "/echo" then assert.equals(want.bytes, got.bytes) end
        assert.equals("1.1", got.http_version)
        for _, h in ipairs({ "content-type", "x-final", "x-rep", "content-encoding" }) do
          assert.equals(want.headers[h], got.headers[h])
        end
        if path == "/echo" then
          assert.equals("a=1&b=2", got.data.body)
          assert.equals("7", got.data.headers["content-length"])
          assert.equals("yes", got.data.headers["x-test"])
        end
      end)
    end
  end)

  it("sends the request target libcurl sends, on an origin it has not seen and on one it has", function()
    local t = core.http.new{ http2 = false }
    local targets = { "/uri/a/b", "/uri/a/./b", "/uri/a/../b", "/uri/a/b?x=1&y=a.b", "/uri/a/b?", "/uri/a/b#frag",
      "/uri/a/b?q=1#frag", "/uri/%2E%2E/x", "/uri/x.pdf", "/uri/a:b@c!$&'()*+,;=~_-" }
    -- (not "localhost": a later test wants that name's pool unused)
    for _, origin in ipairs{ base(), "http://127.0.0.1:" .. port(5) } do
      for round = 1, 2 do -- the second time the origin is known
        for _, target in ipairs(targets) do
          local want = t:perform{ url = origin .. target }
          local got = one{ url = origin .. target }
          assert.is_nil(got.kind, got.error)
          assert.equals(want.body, got.body, origin .. target .. " round " .. round)
        end
      end
    end
    t:close()
  end)

  it("inflates gzip bodies (chunked and compressed) and reports the decoded size", function()
    local r = one{ url = base() .. "/big.json", decode = true }
    assert.equals("gzip", r.headers["content-encoding"])
    assert.equals(2000, #r.data)
    assert.equals("item 2000", r.data[2000].name)
  end)

  it("keeps connections alive and reuses them", function()
    -- "localhost" names a pool of its own: no earlier test left a connection in it
    local rs = run({ url = "http://localhost:" .. port(2) .. "/json" }, { times = 3 })
    assert.is_false(rs[1].reused)
    assert.is_true(rs[2].reused)
    assert.is_true(rs[3].reused)
  end)

  it("drops a pooled connection the server closed while idle: the next request goes once, on a new one", function()
    local rs = run({ url = base(5) .. "/", method = "POST", body = "x" }, { times = 2, pause = 0.4 })
    for _, r in ipairs(rs) do
      assert.is_nil(r.kind, r.error)
      assert.equals(200, r.status)
      assert.equals("fresh", r.body)
      assert.equals(1, r.sends)
    end
    assert.is_false(rs[2].reused)
  end)

  it("gives fresh_connect a connection of its own and does not pool it", function()
    local u = "http://localhost:" .. port(2) .. "/json"
    local rs = run({ url = u }, { times = 2 })
    assert.is_true(rs[2].reused)
    local f = run({ url = u, fresh_connect = true }, { times = 2 })
    assert.is_false(f[1].reused)
    assert.is_false(f[2].reused) -- the first one's connection was closed, not pooled
    assert.is_true(run({ url = u })[1].reused) -- the shared pool's connection is still there
  end)

  it("joins an answer that arrives in pieces: the head's blank line, chunk lines and CRLFs split", function()
    local r = one{ url = base() .. "/pieces" }
    assert.is_nil(r.kind, r.error)
    assert.equals(200, r.status)
    assert.equals("hello world", r.body)
    assert.equals("11", r.headers["content-length"])
    r = one{ url = base() .. "/pieces?chunked=1" }
    assert.is_nil(r.kind, r.error)
    assert.equals("hello world", r.body)
    assert.equals(11, r.bytes)
  end)

  it("does not pool a connection on which bytes came past the answer", function()
    -- (the first call may take a connection an earlier test left in the pool; none after it may)
    local rs = run({ url = "http://localhost:" .. port(2) .. "/excess" }, { times = 3 })
    for i, r in ipairs(rs) do
      assert.is_nil(r.kind, r.error)
      assert.equals("ok", r.body)
      assert.equals(1, r.sends)
      if i > 1 then assert.is_false(r.reused, json.encode(rs)) end
    end
  end)

  describe("caps and failures", function()
    it("refuses a body over max_body from its Content-Length, before reading it", function()
      local r = one({ url = base() .. "/huge" }, { max_body = 1048576 })
      assert.equals("too_large", r.kind)
      assert.equals(200, r.status)
      assert.equals(0, r.bytes)
    end)

    it("stops a small compressed body that inflates past max_body", function()
      local r = one({ url = base() .. "/bomb", max_body = 1048576 })
      assert.equals("too_large", r.kind)
      assert.is_true(r.bytes <= 1048576)
    end)

    it("refuses a chunk-size line over 1024 bytes", function()
      local r = one{ url = base() .. "/long-chunk-line" }
      assert.equals("transport", r.kind)
      assert.matches("line too long", r.error)
    end)

    it("refuses more than 500 header lines", function()
      local r = one{ url = base() .. "/many-headers" }
      assert.equals("too_large", r.kind)
      assert.matches("header", r.error)
    end)

    it("times out after the request's timeout", function()
      local r = one{ url = base() .. "/slow", timeout = 0.3 }
      assert.equals("timeout", r.kind)
      assert.is_true(r.time >= 0.29 and r.time < 1, tostring(r.time))
      assert.matches("timed out after", r.error)
      assert.equals(28, r.curl_code)
      assert.equals(1, r.sends)
    end)

    it("reports a refused connection as a transport error with status 0", function()
      local r = one{ url = "http://127.0.0.1:" .. require("spec.support.nginx").free_port() .. "/" }
      assert.equals("transport", r.kind)
      assert.equals(0, r.status)
      assert.matches("connection refused", r.error)
      assert.equals(7, r.curl_code)
      assert.equals(0, r.sends)
    end)

    it("reports a name it cannot resolve as curl_code 6 with nothing sent", function()
      local r = one{ url = "http://zuora-spec.invalid/" } -- this nginx has no `resolver`
      assert.equals("transport", r.kind)
      assert.equals(6, r.curl_code)
      assert.equals(0, r.sends)
      assert.matches("resolver", r.error)
    end)

    it("reports a body cut short of its Content-Length as curl code 18 with the bytes received", function()
      local r = one{ url = base() .. "/short", decode = true }
      assert.equals("transport", r.kind)
      assert.equals(18, r.curl_code, r.error)
      assert.equals(200, r.status)
      assert.equals(10, r.bytes)
      assert.is_nil(r.data)
      assert.matches("before the response body was complete", r.error)
    end)

    it("sends every header line, also when more distinct lines than its cache of checked lines holds", function()
      -- (the cache holds 1024 lines: two requests of 600 new lines each fill it up in the second,
      -- after X-First was looked up and before the head is built)
      local function lines(tag)
        local h = { "X-First: 1" }
        for i = 1, 600 do h[#h + 1] = ("X-Fill-%s-%d: v"):format(tag, i) end
        h[#h + 1] = "X-Last: yes"
        return h
      end
      for _, tag in ipairs{ "a", "b", "c" } do
        local r = one{ url = base() .. "/first-last", headers = lines(tag) }
        assert.is_nil(r.kind, r.error)
        assert.equals("1 yes", r.body)
      end
      -- a malformed line is refused however many good lines came before it
      local h = lines("d")
      h[300] = "X-Bad\r\nX-Evil: 1"
      assert.matches("header 300 contains CR, LF or NUL", one{ url = base() .. "/first-last", headers = h }.raised)
    end)

    it("raises on malformed requests before sending anything", function()
      assert.matches("CR, LF or NUL", one{ url = base() .. "/json", headers = { "X-A: b\r\nX-Evil: 1" } }.raised)
      assert.matches("no colon", one{ url = base() .. "/json", headers = { "Broken" } }.raised)
      assert.matches("space or control", one{ url = base() .. "/a b" }.raised)
      assert.matches("at most one", one{ url = base() .. "/echo", body = "x", body_file = "/etc/hostname" }.raised)
      local r = one{ url = "ftp://127.0.0.1/" }
      assert.equals("transport", r.kind)
    end)
  end)

  describe("TLS", function()
    it("verifies the server against lua_ssl_trusted_certificate", function()
      local r = one{ url = "https://localhost:" .. port(3) .. "/", decode = true }
      assert.is_nil(r.kind, r.error)
      assert.is_true(r.data.tls)
    end)

    it("refuses a certificate from an unknown CA, unless insecure", function()
      local r = one{ url = "https://localhost:" .. port(4) .. "/" }
      assert.equals("tls", r.kind)
      assert.matches("TLS handshake", r.error)
      assert.equals(60, r.curl_code) -- as libcurl for an unknown CA
      assert.equals(0, r.sends)
      r = one({ url = "https://localhost:" .. port(4) .. "/", decode = true }, { insecure = true })
      assert.is_nil(r.kind, r.error)
      assert.is_true(r.data.tls)
    end)

    it("refuses to pretend it verified an IP address", function()
      local r = one{ url = "https://127.0.0.1:" .. port(3) .. "/" }
      assert.equals("tls", r.kind)
      assert.matches("IP address", r.error)
    end)
  end)

  describe("bodies and files", function()
    it("streams body_file with its size as Content-Length", function()
      local data = string.rep("0123456789abcdef", 20000) -- 320 KB, several reads
      write(tmp .. "/upload.bin", data)
      local r = one{ method = "PUT", url = base() .. "/echo", body_file = tmp .. "/upload.bin", decode = true }
      assert.equals(tostring(#data), r.data.headers["content-length"])
      assert.equals(data, r.data.body)
      local missing = one{ method = "PUT", url = base() .. "/echo", body_file = tmp .. "/nope" }
      assert.equals("file", missing.kind)
    end)

    it("sends multipart parts, files streamed from disk", function()
      write(tmp .. "/usage.csv", "ACCOUNT_ID,UOM,QTY\nA1,Call,3\n")
      local r = one{ method = "POST", url = base() .. "/echo", decode = true, multipart = {
        { name = "meta", data = '{"x":1}', content_type = "application/json" },
        { name = "file", path = tmp .. "/usage.csv", filename = "usage.csv", content_type = "text/csv" },
      } }
      local ct = r.data.headers["content-type"]
      local boundary = ct:match("^multipart/form%-data; boundary=(.+)$")
      assert.is_string(boundary)
      local body = r.data.body
      assert.equals(tostring(#body), r.data.headers["content-length"])
      assert.truthy(body:find('Content-Disposition: form-data; name="meta"\r\n'
        .. 'Content-Type: application/json\r\n\r\n{"x":1}\r\n', 1, true))
      assert.truthy(body:find('name="file"; filename="usage.csv"\r\nContent-Type: text/csv\r\n\r\n'
        .. 'ACCOUNT_ID,UOM,QTY\nA1,Call,3\n\r\n', 1, true))
      assert.truthy(body:find("--" .. boundary .. "--\r\n", 1, true))
    end)

    it("writes a 2xx body to `output` only when complete, keeps errors in memory", function()
      local path = tmp .. "/out.json"
      local r = one{ url = base() .. "/big.json", output = path }
      assert.is_nil(r.kind, r.error)
      assert.equals(path, r.output)
      assert.is_nil(r.body)
      assert.equals(2000, #json.decode(read(path)))
      local e = one{ url = base() .. "/404", output = tmp .. "/missing.json" }
      assert.equals(404, e.status)
      assert.equals('{"message":"nope"}', e.body)
      assert.is_nil(read(tmp .. "/missing.json"))
      local t = one{ url = base() .. "/slow", output = tmp .. "/late.txt", timeout = 0.2 }
      assert.equals("timeout", t.kind)
      local p = io.popen("ls " .. tmp)
      local listing = p:read("a")
      p:close()
      assert.is_nil(listing:find("late", 1, true)) -- no file, no leftover part file
      local bad = one{ url = base() .. "/json", output = "/nonexistent-dir/x.json" }
      assert.equals("file", bad.kind)
    end)
  end)
end)
