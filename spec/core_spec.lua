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

  -- One helper builds every userdata class (src/class.c): the same metatable shape on 5.4 and
  -- LuaJIT, whose luaL_newmetatable does not set __name.
  it("gives every userdata class a __name, __gc, __tostring and (5.4) __close", function()
    local objects = {
      ["zuora.http"] = core.http.new(),
      ["zuora.auth"] = core.auth.new { mode = "bearer", token = "t0k3n-for-the-spec" },
      ["zuora.inflate"] = core.inflate.new(),
      ["zuora.json.encoder"] = select(2, debug.getupvalue(core.json.encode, 1)),
    }
    for name, obj in pairs(objects) do
      local mt = getmetatable(obj)
      assert.equals(name, mt.__name)
      assert.is_function(mt.__gc, name)
      assert.is_function(mt.__tostring, name)
      assert.matches(name, tostring(obj), 1, true)
      if _VERSION == "Lua 5.4" then assert.equals(mt.__gc, mt.__close, name) end
    end
    -- zuora.decimal comes from the same helper, without __gc: it holds nothing outside the Lua heap
    local dmt = debug.getmetatable(core.decimal(1))
    assert.equals("zuora.decimal", dmt.__name)
    assert.is_nil(dmt.__gc)
    assert.is_function(dmt.__tostring)
    objects["zuora.http"]:close()
    objects["zuora.auth"]:close()
    objects["zuora.inflate"]:close()
  end)

  it("is the same version the Lua layer reports", function()
    local zuora = require "zuora"
    assert.equals(core.version, zuora.version)
  end)
end)
