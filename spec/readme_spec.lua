-- The README's first script runs as printed against zuora-sim, from another folder, with the three
-- variables and the two paths the README gives (issue 25).
local simh = require "spec.support.sim"
local cli = require "spec.support.cli"
local LUA = require "spec.support.lua"

describe("README's first script", function()
  local s
  lazy_setup(function() s = simh.start() end)
  lazy_teardown(function() if s then s:stop() end end)

  it("runs against zuora-sim as printed, from another folder", function()
    local readme = assert(cli.read(cli.ROOT .. "/README.md"))
    local script = assert(readme:match("## A first script\n\n```lua\n(.-)```"), "no first script")
    -- the README's own instructions: the two lines that start a simulator, the three variables
    assert.truthy(readme:find("\nmake\nbin/zuora-sim --port 8080 &\n", 1, true))
    assert.truthy(readme:find("export ZUORA_BASE_URL=http://127.0.0.1:8080 ZUORA_CLIENT_ID=zuora-sim-client "
      .. "ZUORA_CLIENT_SECRET=zuora-sim-secret\n", 1, true))
    local dir = cli.tmpdir()
    finally(function() os.execute("rm -rf " .. cli.q(dir)) end)
    cli.write(dir .. "/first.lua", script)
    local root = cli.ROOT
    local cmd = ("cd %s && env -u ZUORA_ENVIRONMENT ZUORA_BASE_URL=%s ZUORA_CLIENT_ID=zuora-sim-client "
      .. "ZUORA_CLIENT_SECRET=zuora-sim-secret LUA_PATH=%s LUA_CPATH=%s %s first.lua 2>&1; echo \" $?\""):format(
      cli.q(dir), cli.q(s.url), cli.q(root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;;"),
      cli.q(os.getenv("LUA_CPATH") or (root .. "/build/lua5.4/?.so;;")), cli.q(LUA))
    local p = io.popen(cmd)
    local out = p:read("a")
    p:close()
    assert.equals("Acme\t0\t19.99\n 0\n", out)
  end)
end)
