-- A caller's mistake is one sentence about that mistake, raised at the caller's line, never a
-- message from inside the library (issue 25: a table-valued query parameter, client.request with
-- a dot, a closed client).
local zuora = require "zuora"

describe("mistakes reported at the caller's line", function()
  local client
  before_each(function()
    client = zuora.new{ base_url = "http://127.0.0.1:9", client_id = "id", client_secret = "secret", max_retries = 0 }
  end)
  after_each(function() client:close() end)

  local here = debug.getinfo(1, "S").short_src

  -- Calls fn (not as a tail call, so the calling line stays on the stack) and returns its error.
  local function raised(fn)
    local ok, err = pcall(fn)
    assert.is_false(ok)
    return tostring(err)
  end

  it("a query parameter that is a table with names", function()
    local line
    local err = raised(function()
      line = debug.getinfo(1, "l").currentline + 1
      local r = client.accounts.retrieve("A1", { filter = { status = "Active" } })
      return r
    end)
    assert.equals(here .. ":" .. line .. ": query: parameter 'filter' is not an array (a query value is a string, "
      .. "number, boolean, decimal or an array of them)", err)
    err = raised(function()
      line = debug.getinfo(1, "l").currentline + 1
      local r = client:request("GET", "/v1/x", { query = { x = { { 1 } } } })
      return r
    end)
    assert.equals(here .. ":" .. line .. ": query: parameter 'x' nests a table (a query value is a string, number, "
      .. "boolean, decimal or an array of them)", err)
  end)

  it("client.request with a dot", function()
    local line
    local err = raised(function()
      line = debug.getinfo(1, "l").currentline + 1
      local r = client.request("GET", "/v1/accounts/A1")
      return r
    end)
    assert.equals(here .. ":" .. line .. ": client.request: call it with a colon, client:request(method, path, opts)",
      err)
  end)

  it("a closed client: one error about the closing, nothing from inside", function()
    client:close()
    local r, err = client.accounts.retrieve("A1")
    assert.is_nil(r)
    assert.equals("closed", err.kind)
    assert.matches("^zuora closed error: the client was closed ", tostring(err))
    assert.not_matches("%.lua:%d+", tostring(err))
    r, err = client:request("GET", "/v1/x")
    assert.is_nil(r)
    assert.equals("closed", err.kind)
  end)
end)
