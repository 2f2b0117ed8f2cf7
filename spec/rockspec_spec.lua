-- The rockspec builds with the Makefile (one list of sources and flags), names every runtime
-- dependency, and is what tools/gen-rockspec.lua writes. (`.ci/run` also runs `luarocks make`
-- into a scratch tree and starts the installed command.)
describe("rockspec", function()
  local function load_rockspec()
    local env = {}
    local chunk = assert(loadfile("rockspec/zuora-scm-1.rockspec", "t", env))
    chunk()
    return env
  end

  it("builds and installs through the Makefile's rock targets, so the flags are make's", function()
    local spec = load_rockspec()
    assert.equals("make", spec.build.type)
    assert.equals("rock", spec.build.build_target)
    assert.equals("rock-install", spec.build.install_target)
    assert.equals("$(LUA_INCDIR)", spec.build.build_variables.LUA_INCDIR)
    local makefile = assert(io.open("Makefile")):read("a")
    assert.matches("\nrock:\n", makefile)
    assert.matches("\nrock%-install:\n", makefile)
    -- the dry run of the rock target compiles every C source with the Makefile's flags
    local p = io.popen("make -n rock ROCK_BUILD=build/rock-dry LUA_INCDIR=/usr/include/lua5.4 2>&1")
    local plan = p:read("a")
    p:close()
    for src in io.popen("ls src/*.c"):lines() do
      assert.matches("%-c " .. src:gsub("%p", "%%%0") .. " ", plan)
    end
    assert.matches("%-fvisibility=hidden", plan)
    assert.matches("%-I/usr/include/lua5%.4", plan)
    assert.matches("%-lcurl .*%-lhiredis", plan) -- linked as make links it
  end)

  it("lists every runtime dependency", function()
    local spec = load_rockspec()
    assert.same({ "lua >= 5.1", "argparse" }, spec.dependencies)
  end)

  it("is what tools/gen-rockspec.lua writes", function()
    assert.is_true(os.execute("lua5.4 tools/gen-rockspec.lua --check"))
  end)
end)
