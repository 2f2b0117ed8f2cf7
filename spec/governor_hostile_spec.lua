-- The shared budget against a "Redis" that answers with replies of the wrong shape
-- (build/fakeresp, spec/support/fakeresp.c): the store counts as failed, as a Redis that is down
-- does (docs/concurrency.md, "When Redis fails"), and a call never raises.
local zuora = require "zuora"
local simh = require "spec.support.sim"
local fs = require "spec.support.fs"

local BIN = (os.getenv("PWD") or ".") .. "/build/fakeresp"

local function start_fake(reply)
  local p = assert(io.popen("mktemp /tmp/zuora-fakeresp.XXXXXX"))
  local out = p:read("l")
  p:close()
  os.execute(("%s %s --exit-with %s > %s 2>&1 &"):format(fs.q(BIN), fs.q(reply), fs.my_pid(), fs.q(out)))
  local text
  for _ = 1, 500 do
    text = fs.read(out) or ""
    if text:find("ready\n", 1, true) then break end
    os.execute("sleep 0.01")
  end
  os.remove(out)
  assert(text:find("ready\n", 1, true), "fakeresp did not start: " .. text)
  return { port = tonumber(text:match("port (%d+)")), pid = tonumber(text:match("pid (%d+)")) }
end

describe("shared budget against a Redis with replies of the wrong shape #redis #luajit", function()
  local s, fakes

  setup(function()
    assert(io.open(BIN, "rb"), "fakeresp is not built: run `make build/fakeresp` (make test builds it)"):close()
    s = simh.start()
    fakes = {}
  end)

  teardown(function()
    for _, f in ipairs(fakes) do os.execute("kill " .. f.pid .. " 2>/dev/null") end
    if s then s:stop() end
  end)

  local replies = {
    ["an integer"] = ":-9223372036854775808\r\n",
    ["an array of the wrong types"] = "*4\r\n:99999\r\n$-1\r\n*0\r\n$3\r\nabc\r\n",
    ["a status"] = "+OK\r\n",
    ["a string"] = "$3\r\nabc\r\n",
  }
  for what, reply in pairs(replies) do
    for _, required in ipairs{ false, true } do
      it(("answers %s: the call %s, no error raised (required = %s)"):format(what,
          required and "fails as transport" or "runs on the local cap", tostring(required)), function()
        local f = start_fake(reply)
        fakes[#fakes + 1] = f
        local c = zuora.new{ base_url = s.url, client_id = s.client_id, client_secret = s.client_secret,
          shared = { redis = "redis://127.0.0.1:" .. f.port, concurrency = 4, tokens = true, required = required,
            timeout = 0.3 } }
        local ok, r, err = pcall(c.request, c, "GET", "/v1/catalog/products")
        assert.is_true(ok, tostring(r))
        if required then
          assert.is_nil(r)
          assert.equals("transport", err.kind)
        else
          assert.is_table(r, tostring(err and err.message))
        end
        c:close()
      end)
    end
  end
end)
