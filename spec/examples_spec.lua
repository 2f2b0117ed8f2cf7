-- Every script in examples/ runs against zuora-sim out of the box, as `make demo` runs them.
local simh = require "spec.support.sim"
local LUA = require "spec.support.lua"

local function run(script, s, env)
  local cmd = ("ZUORA_BASE_URL=%q ZUORA_CLIENT_ID=%q ZUORA_CLIENT_SECRET=%q %s %s %s 2>&1; echo \"exit=$?\"")
    :format(s.url, s.client_id, s.client_secret, env or "", LUA, script)
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
    local sj = simh.json
    local state = s:state()
    assert.equals(1, sj.tonumber(state.payments))
    assert.equals(1, sj.tonumber(state.accounts))
  end)

  -- The Revenue period close: with only ZUORA_* set it uses zuora-sim's Revenue API on the same URL
  -- (OneID OAuth with the same client); ZUORA_REVENUE_* variables choose the tenant and credentials.
  it("revenue_close uploads transactions in parts, stages them and reads the GL batch", function()
    local out, code = run("examples/revenue_close.lua", s)
    assert.equals(0, code, out)
    assert.matches("revenue:%s+zuora%.revenue%.Client<http://127%.0%.0%.1:%d+ oauth>", out)
    assert.matches("uploaded:%s+25000 transactions in 2 parts", out)
    assert.matches("upload part 1: staged %(%d+ rows staged, 0 rows in error%)", out)
    assert.matches("stage errors: none", out)
    assert.matches("transfer job: %d+ Completed", out)
    assert.matches("gl rows:%s+50000 in 5 pages, DR ([%d.]+) = CR %1 balanced", out)
    assert.matches("gl csv:%s+%d+ bytes, 51001 lines", out) -- 500 descriptions span two lines
    assert.matches("transferred:%s+batch %d+", out)
    local env = ("ZUORA_REVENUE_BASE_URL=%q ZUORA_REVENUE_USERNAME=%q ZUORA_REVENUE_PASSWORD=%q "
      .. "ZUORA_REVENUE_CLOSE_ROWS=300"):format(s.url, s.username, s.password)
    out, code = run("examples/revenue_close.lua", s, env)
    assert.equals(0, code, out)
    assert.matches("zuora%.revenue%.Client<http://127%.0%.0%.1:%d+ revenue>", out)
    assert.matches("uploaded:%s+300 transactions in 1 parts", out)
    assert.matches("gl rows:%s+600 in 1 pages", out)
  end)
end)
