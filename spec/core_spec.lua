-- The C core loads under the interpreter running the suite (Lua 5.4 or LuaJIT) and says what it is.
describe("zuora.core #luajit", function()
  local core = require "zuora.core"

  it("reports a semantic version string", function()
    assert.is_string(core.version)
    assert.matches("^%d+%.%d+%.%d+$", core.version)
  end)

  it("was built for the Lua running it", function()
    local running = _VERSION:match("%d+%.%d+")
    assert.equals(running, core.lua_version)
  end)

  it("gathers its modules as tables", function()
    for _, name in ipairs { "json", "http", "auth", "crypto", "url" } do
      assert.is_table(core[name], name)
    end
  end)

  it("is the same version the Lua layer reports", function()
    local zuora = require "zuora"
    assert.equals(core.version, zuora.version)
  end)
end)
