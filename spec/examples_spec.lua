-- Every script in examples/ runs against zuora-sim out of the box, as `make demo` runs them.
local simh = require "spec.support.sim"
local LUA = require "spec.support.lua"

local function run(script, s)
  local cmd = ("ZUORA_BASE_URL=%q ZUORA_CLIENT_ID=%q ZUORA_CLIENT_SECRET=%q %s %s 2>&1; echo \"exit=$?\"")
    :format(s.url, s.client_id, s.client_secret, LUA, script)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  return out, tonumber(out:match("exit=(%d+)%s*$"))
end

describe("examples", function()
  local s
  lazy_setup(function() s = simh.start() end)
  lazy_teardown(function() if s then s:stop() end end)

  it("quickstart bills a new customer and pays the invoice", function()
    local out, code = run("examples/quickstart.lua", s)
    assert.equals(0, code, out)
    assert.matches("account:%s+A%d+", out)
    assert.matches("subscription:%s+A%-S%d+", out)
    assert.matches("bill run:%s+BR%-%d+ Posted", out)
    local amount = out:match("invoice:%s+INV%d+%s+([%d.]+) USD")
    assert.is_string(amount, out)
    assert.matches("payment:%s+P%-%d+%s+" .. amount:gsub("%.", "%%.") .. " USD%s+Processed", out)
    assert.matches("summary:%s+Quickstart Co balance 0 USD, 1 subscription%(s%), 1 invoice%(s%), 1 payment%(s%)", out)
    -- what the script did is what the simulator holds
    local sj = require "sim.json"
    local state = s:state()
    assert.equals(1, sj.tonumber(state.payments))
    assert.equals(1, sj.tonumber(state.accounts))
  end)
end)
