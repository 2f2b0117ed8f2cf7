-- `make install` gives a working `zuora` and `zuora-sim` outside the checkout; `make uninstall`
-- takes them away. (#noasan: it installs the normal lua5.4 build, which test-asan does not make.)
local cli = require "spec.support.cli"
local LUA = require "spec.support.lua"

describe("make install #noasan", function()
  local dest
  lazy_setup(function() dest = cli.tmpdir() end)
  lazy_teardown(function() if dest then os.execute("rm -rf " .. cli.q(dest)) end end)

  local function make(target)
    local p = io.popen(("make -s --no-print-directory %s LUA=lua5.4 DESTDIR=%s PREFIX=/usr/local 2>&1; echo \" $?\"")
      :format(target, cli.q(dest)))
    local out = p:read("a")
    p:close()
    return out, tonumber(out:match("(%d+)%s*$"))
  end

  -- Runs the installed command from / with only the installed library on the Lua paths.
  local function installed(args)
    local prefix = dest .. "/usr/local"
    local cmd = ("cd / && env -u ZUORA_BASE_URL -u ZUORA_CLIENT_ID -u ZUORA_CLIENT_SECRET "
      .. "LUA_PATH=%s LUA_CPATH=%s XDG_CONFIG_HOME=/nonexistent %s %s/bin/zuora %s 2>&1; echo \" $?\""):format(
      cli.q(prefix .. "/share/lua/5.4/?.lua;" .. prefix .. "/share/lua/5.4/?/init.lua;/usr/share/lua/5.4/?.lua"),
      cli.q(prefix .. "/lib/lua/5.4/?.so;/usr/lib/x86_64-linux-gnu/lua/5.4/?.so"), cli.q(LUA), cli.q(prefix),
      table.concat(args, " "))
    local p = io.popen(cmd)
    local out = p:read("a")
    p:close()
    return out, tonumber(out:match("(%d+)%s*$"))
  end

  it("installs the command, the simulator and its files; uninstall removes them", function()
    local out, code = make("install")
    assert.equals(0, code, out)
    local prefix = dest .. "/usr/local"
    for _, f in ipairs({ "/bin/zuora", "/bin/zuora-sim", "/share/zuora/sim/nginx.conf.in",
      "/share/zuora/sim/zuora_sim/server.lua", "/share/zuora/lua/zuora/catalog/init.lua",
      "/share/lua/5.4/zuora/cli/main.lua", "/lib/lua/5.4/zuora/core.so" }) do
      assert.is_string(cli.read(prefix .. f), f)
    end

    out, code = installed({ "ops", "accounts.retrieve" })
    assert.equals(0, code, out)
    assert.matches("^accounts.retrieve — Retrieve an account", out)

    -- the installed zuora-sim finds its files and serves the whole catalogue
    out, code = installed({ "--sim", "-q", "call", "workflows.list" })
    assert.equals(0, code, out)
    assert.matches('"data": %[', out) -- (the generic catalogue answers a list)

    out, code = make("uninstall")
    assert.equals(0, code, out)
    for _, f in ipairs({ "/bin/zuora", "/bin/zuora-sim", "/share/zuora", "/share/lua/5.4/zuora" }) do
      assert.is_false(os.execute("test -e " .. cli.q(prefix .. f)) == true, f)
    end
  end)
  it("make install PREFIX=~/.local gives a zuora that finds its own modules without LUA_PATH", function()
    local prefix = dest .. "/home/.local"
    local p = io.popen(("make -s --no-print-directory install LUA=lua5.4 PREFIX=%s 2>&1; echo \" $?\""):format(
      cli.q(prefix)))
    local out = p:read("a")
    p:close()
    assert.equals(0, tonumber(out:match("(%d+)%s*$")), out)
    p = io.popen(("cd / && env -u LUA_PATH -u LUA_CPATH -u ZUORA_BASE_URL XDG_CONFIG_HOME=/nonexistent %s "
      .. "--sim -q call accounts.retrieve A00000001 2>&1; echo \" $?\""):format(cli.q(prefix .. "/bin/zuora")))
    out = p:read("a")
    p:close()
    assert.equals(0, tonumber(out:match("(%d+)%s*$")), out)
    assert.matches('"accountNumber": "A00000001"', out)
  end)
end)
