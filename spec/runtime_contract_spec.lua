-- The runtime contract (docs/transport.md, "Runtime contract"), one set of cases
-- (spec/support/runtime_contract.lua) run in both runtimes against a contract server of the
-- spec's own on loopback: in this process over libcurl (zuora.async, core.http) and inside nginx
-- over cosockets (zuora.ngx.runtime, zuora.ngx.http). Both must keep connections alive, honour
-- fresh_connect, resend a request by themselves only where libcurl would, never resend one sent
-- with fresh_connect, count `sends` as the server counted requests, and report the same
-- curl_code for a refused connection, an empty reply and a timeout.
local openresty = require "spec.support.openresty"
local nginx = require "spec.support.nginx"
local cases = require "spec.support.runtime_contract"
local json = require("zuora.core").json

describe("the runtime contract #luajit", function()
  local srv, args

  lazy_setup(function()
    srv = openresty.start{ ports = 2, http = [[
      lua_shared_dict contract 1m;
      lua_socket_log_errors off;
      keepalive_requests 10000;

      # the ngx runtime: runs a contract case inside nginx, answers what it saw as JSON
      server {
        listen 127.0.0.1:${port1};
        location /case/ {
          content_by_lua_block {
            local json = require("zuora.core").json

            ngx.req.read_body()
            local a = json.decode(ngx.req.get_body_data())
            local name = ngx.var.uri:match("^/case/([%w_]+)$")
            local ok, res = pcall(require("spec.support.runtime_contract")[name], a)
            if not ok then ngx.status = 500; res = { raised = tostring(res) } end
            ngx.say(json.encode(res))
          }
        }
      }

      # the contract server
      server {
        listen 127.0.0.1:${port2};
        location /__ctl/ {
          content_by_lua_block {
            local json = require("zuora.core").json

            local d = ngx.shared.contract
            ngx.header.content_type = "application/json"
            if ngx.var.uri == "/__ctl/mode" then
              d:flush_all()
              d:set("mode", ngx.var.arg_m)
              ngx.say("{}")
            else
              local out = {}
              for i = 1, d:get("count") or 0 do out[i] = json.decode(d:get("log:" .. i)) end
              ngx.say(json.encode(out))
            end
          }
        }
        location / {
          content_by_lua_block {
            local json = require("zuora.core").json

            local d = ngx.shared.contract
            ngx.req.read_body()
            local entry = { method = ngx.req.get_method(), uri = ngx.var.uri, conn = tonumber(ngx.var.connection),
              n = tonumber(ngx.var.connection_requests) }
            local i = d:incr("count", 1, 0)
            d:set("log:" .. i, json.encode(entry))
            local mode = d:get("mode") or "answer"
            if mode == "drop" or (mode == "drop_reused" and entry.n > 1) then
              return ngx.exit(444) -- close the connection without answering
            end
            if mode == "slow" then ngx.sleep(2) end
            if mode == "malformed" then -- a head libcurl refuses, chosen by the path, written raw
              local heads = {
                ["/nocolon"] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nFoo\r\n",
                ["/nul"] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-A: a\0b\r\n",
                ["/bigstatus"] = "HTTP/1.1 99999999999999999999 OK\r\nContent-Type: application/json\r\n",
                ["/status4"] = "HTTP/1.1 2000 OK\r\nContent-Type: application/json\r\n",
                -- and two it takes: a folded line, a status line without a reason phrase
                ["/folded"] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-A: a\r\n b\r\n",
                ["/noreason"] = "HTTP/1.1 200\r\nContent-Type: application/json\r\n",
              }
              local sock = ngx.req.socket(true)
              sock:send(heads[entry.uri] .. "Content-Length: 2\r\nConnection: close\r\n\r\n{}")
              return ngx.exit(444)
            end
            ngx.header.content_type = "application/json"
            ngx.say(json.encode(entry))
          }
        }
      }
    ]] }
    args = { base = "http://127.0.0.1:" .. srv.ports[2], refused = "http://127.0.0.1:" .. nginx.free_port() .. "/" }
  end)

  lazy_teardown(function()
    if srv then srv:stop() end
  end)

  local runtimes = {
    curl = function(name) return cases[name](args) end,
    ngx = function(name)
      local out = openresty.parallel{
        { method = "POST", url = srv.url .. "/case/" .. name, body = json.encode(args) } }[1]
      assert.equals(200, out.status, out.body)
      return json.decode(out.body)
    end,
  }

  for _, runtime in ipairs({ "curl", "ngx" }) do
    local run = runtimes[runtime]
    describe("(" .. runtime .. ")", function()
      it("keeps a connection alive and says so: reused, one send each", function()
        local r = run("keepalive")
        assert.equals(200, r.first.status)
        assert.equals(200, r.second.status)
        assert.is_true(r.second.reused)
        assert.equals(1, r.first.sends)
        assert.equals(1, r.second.sends)
        assert.equals(2, #r.log)
        assert.equals(r.log[1].conn, r.log[2].conn)
        assert.equals("1.1", r.second.http_version)
        assert.is_true(r.second.headers)
        assert.equals("application/json", r.second.content_type)
        assert.equals("GET", r.second.data.method)
        assert.is_number(r.second.time)
        assert.is_number(r.second.id)
        assert.is_true(r.second.bytes > 0)
      end)

      it("opens a new connection for fresh_connect", function()
        local r = run("fresh")
        assert.equals(200, r.second.status)
        assert.is_false(r.second.reused)
        assert.equals(1, r.second.sends)
        assert.equals(2, #r.log)
        assert.are_not.equal(r.log[1].conn, r.log[2].conn)
        assert.equals(1, r.log[2].n) -- the first request on its connection
      end)

      it("sends a GET again when its kept-alive connection closes before any answer, and counts both", function()
        local r = run("resend_get")
        assert.equals(200, r.res.status)
        assert.is_false(r.res.kind)
        assert.is_true(r.res.sends >= 2)
        assert.equals(r.res.sends, #r.log) -- every send is a request the server read
        assert.is_true(r.log[1].n > 1) -- the first went on a kept-alive connection and was dropped
        assert.equals(1, r.log[#r.log].n) -- the answered one had a connection of its own
        assert.is_false(r.res.reused)
      end)

      it("sends a fresh_connect request once, on a connection of its own", function()
        local r = run("unsafe_fresh")
        assert.equals(200, r.res.status)
        assert.equals(1, r.res.sends)
        assert.equals(1, #r.log)
        assert.equals("POST", r.log[1].method)
        assert.equals(1, r.log[1].n)
      end)

      it("never resends a fresh_connect request whose answer was lost; curl_code 52", function()
        local r = run("unsafe_dropped")
        assert.equals("transport", r.res.kind)
        assert.equals(52, r.res.curl_code)
        assert.equals(0, r.res.status)
        assert.equals(1, r.res.sends)
        assert.equals(1, #r.log)
      end)

      it("resends a request without fresh_connect as libcurl does, and counts every send", function()
        local r = run("resend_post")
        assert.equals(200, r.res.status)
        assert.is_true(r.res.sends >= 2)
        assert.equals(r.res.sends, #r.log)
        for _, e in ipairs(r.log) do assert.equals("POST", e.method) end
      end)

      it("reports a refused connection as curl_code 7 with nothing sent", function()
        local r = run("refused")
        assert.equals("transport", r.res.kind)
        assert.equals(7, r.res.curl_code)
        assert.equals(0, r.res.status)
        assert.equals(0, r.res.sends)
      end)

      it("reports a timeout as curl_code 28, the request sent once", function()
        local r = run("timeout")
        assert.equals("timeout", r.res.kind)
        assert.equals(28, r.res.curl_code)
        assert.equals(1, r.res.sends)
        assert.equals(1, #r.log)
        assert.is_true(r.res.time >= 0.39 and r.res.time < 1.5, tostring(r.res.time))
      end)

      it("answers header_block with the raw lines instead of the table", function()
        local r = run("header_block")
        assert.equals(200, r.res.status)
        assert.is_false(r.res.headers)
        assert.matches("^HTTP/1%.1 200", r.res.header_block)
        assert.matches("\r\n\r\n$", r.res.header_block)
        assert.equals("application/json", r.res.block_type)
        assert.equals("GET", r.res.data.method)
      end)

      it("refuses the heads libcurl refuses, with libcurl's curl_code, and takes the others", function()
        local r = run("malformed")
        for path, code in pairs { nocolon = 8, nul = 8, bigstatus = 1, status4 = 1 } do
          assert.equals("transport", r[path].kind, path)
          assert.equals(code, r[path].curl_code, path)
        end
        for _, path in ipairs { "folded", "noreason" } do
          assert.is_false(r[path].kind, path)
          assert.equals(200, r[path].status, path)
          assert.same({}, r[path].data, path)
        end
      end)

      it("a Revenue POST (no Idempotency-Key) is read by the server once", function()
        local r = run("revenue_post")
        assert.is_true(r.ok, r.err)
        assert.equals(1, r.sends)
        assert.equals(1, #r.log)
        assert.equals("POST", r.log[1].method)
      end)

      -- PUT actions (renew, cancel, apply, ...) are not idempotent: the client sends them with
      -- fresh_connect, so no transport can resend them
      it("a Billing action (PUT .../renew) is read by the server once", function()
        local r = run("put_action")
        assert.is_true(r.ok, r.err)
        assert.equals(1, r.sends)
        assert.equals(1, #r.log)
        assert.equals("PUT", r.log[1].method)
      end)
    end)
  end
end)
