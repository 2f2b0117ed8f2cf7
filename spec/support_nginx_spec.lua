-- The spec helper that every server-backed spec builds on: nginx with ngx_lua on a free port.
local nginx = require "spec.support.nginx"

local function fetch(url)
  local p = io.popen("curl -s -o - -w ' %{http_code}' '" .. url .. "'")
  local out = p:read("a")
  p:close()
  return out
end

describe("spec.support.nginx", function()
  it("serves an ngx_lua handler on a free port and stops cleanly", function()
    local srv = nginx.start{ http = [[
      server {
        listen 127.0.0.1:${port1};
        location /hello { content_by_lua_block { ngx.print("hello " .. ngx.var.arg_name) } }
      }
    ]] }
    assert.equals("hello lua 200", fetch(srv.url .. "/hello?name=lua"))
    assert.is_number(srv:pid())
    srv:stop()
    assert.equals(" 000", fetch(srv.url .. "/hello?name=lua"))
  end)

  it("gives two servers different ports", function()
    local a = nginx.start{ ports = 2, http = [[ server { listen 127.0.0.1:${port1}; listen 127.0.0.1:${port2};
      location / { return 200 "ok"; } } ]] }
    local b = nginx.start{ http = [[ server { listen 127.0.0.1:${port1}; location / { return 200 "ok"; } } ]] }
    assert.are_not.equal(a.ports[1], a.ports[2])
    assert.are_not.equal(a.port, b.port)
    assert.equals("ok 200", fetch("http://127.0.0.1:" .. a.ports[2] .. "/"))
    a:stop()
    b:stop()
  end)
end)
