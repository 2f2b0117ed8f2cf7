-- zuora-sim --tls: https on both origins with a throwaway CA written into the state directory.
local simh = require "spec.support.sim"

describe("zuora-sim --tls", function()
  local s
  lazy_setup(function() s = simh.start{ args = { "--tls", "--http2" } } end)
  lazy_teardown(function() if s then s:stop() end end)

  it("serves https that verifies against the CA it wrote", function()
    assert.matches("^https://127%.0%.0%.1:%d+$", s.url)
    assert.matches("^https://", s.files_url)
    assert.equals(s.state_dir .. "/tls/ca.pem", s.ca_file)
    local res = s:get("/v1/catalog/products") -- the helper passes --cacert
    assert.equals(200, res.status)
    assert.is_true(res.json.success)
  end)

  it("fails verification without that CA", function()
    local p = io.popen("curl -s -o /dev/null -w '%{http_code}' " .. s.url .. "/__sim/health; echo \" $?\"")
    local out = p:read("a")
    p:close()
    assert.equals("000 60", (out:gsub("%s+$", ""))) -- curl 60: peer certificate cannot be authenticated
    p = io.popen("curl -s --cacert " .. s.ca_file .. " --resolve localhost:" .. s.url:match(":(%d+)$")
      .. ":127.0.0.1 https://localhost:" .. s.url:match(":(%d+)$") .. "/__sim/health")
    out = p:read("a")
    p:close()
    assert.equals('{"ok":true}', out)
  end)

  it("offers HTTP/2 with --http2 and keeps HTTP/1.1 working", function()
    local p = io.popen("curl -s -o /dev/null -w '%{http_version}' --cacert " .. s.ca_file .. " "
      .. s.url .. "/__sim/health")
    local v2 = p:read("a")
    p:close()
    assert.equals("2", v2)
    p = io.popen("curl -s --http1.1 -o /dev/null -w '%{http_version}' --cacert " .. s.ca_file .. " "
      .. s.url .. "/__sim/health")
    local v1 = p:read("a")
    p:close()
    assert.equals("1.1", v1)
    local res = s:post("/v1/accounts", { name = "Over h2", currency = "USD" })
    assert.equals(200, res.status)
  end)
end)
