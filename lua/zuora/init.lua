--- lua-zuora: a Zuora client for Lua.
-- `local zuora = require "zuora"`; see README.md and docs/ for the whole interface.
local core = require "zuora.core"

local zuora = {
  version = core.version,
  json = core.json,
}

return zuora
