--- The client inside a libuv program (luv): Zuora calls run as client tasks; a uv poll handle on
-- the client's pollfd and a uv timer for its timeout() drive the client's loop.
--
-- Needs lua-luv (Debian package). `make demo EXAMPLES=examples/luv_loop.lua` runs it against a
-- local zuora-sim; elsewhere set ZUORA_BASE_URL (or ZUORA_ENVIRONMENT), ZUORA_CLIENT_ID and
-- ZUORA_CLIENT_SECRET.
local uv = require "luv"
local zuora = require "zuora"

local client = zuora.from_env{ max_concurrency = 4 }

local names = {}
for i = 1, 3 do
  client:spawn(function()
    local products = assert(client.catalog.list_products{ pageSize = 10 })
    names[i] = #products.products .. " products"
  end)
end

-- The bridge: run a step whenever the fd is readable or the client's next timer is due; re-arm
-- the timer after every step, stop both handles when the client has nothing left to do.
local loop = client:pollable()
local poll = uv.new_poll(loop:pollfd())
local timer = uv.new_timer()
local function drive()
  if not client:step(0) then
    poll:stop()
    timer:stop()
    return
  end
  local t = loop:timeout()
  timer:start(t and math.ceil(t * 1000) or 1000, 0, drive)
end
poll:start(loop:events(), drive)
drive()

-- Something uv-native keeps running meanwhile.
local ticks = 0
local ticker = uv.new_timer()
ticker:start(10, 10, function()
  ticks = ticks + 1
  if ticks == 3 then ticker:stop() end
end)

uv.run()
for i = 1, 3 do print(("call %d: %s"):format(i, names[i])) end
print(("uv ticks meanwhile: %d"):format(ticks))
