--- `make demo`: the quickstart against a local zuora-sim.
-- The simulator and the client pipeline land with their issues; until then this checks the build.
local core = require "zuora.core"
print(("lua-zuora core %s built for Lua %s"):format(core.version, core.lua_version))
