--- The client inside a cqueues program: Zuora calls run as client tasks, and cqueues drives the
-- client's loop through its pollable (pollfd/events/timeout), next to cqueues' own coroutines.
--
-- Needs lua-cqueues (Debian package). `make demo EXAMPLES=examples/cqueues_loop.lua` runs it
-- against a local zuora-sim; elsewhere set ZUORA_BASE_URL (or ZUORA_ENVIRONMENT),
-- ZUORA_CLIENT_ID and ZUORA_CLIENT_SECRET.
local cqueues = require "cqueues"
local zuora = require "zuora"

local client = zuora.from_env{ max_concurrency = 4 }

-- The Zuora work: three calls at once, as client tasks.
local names = {}
for i = 1, 3 do
  client:spawn(function()
    local products = assert(client.catalog.list_products{ pageSize = 10 })
    names[i] = #products.products .. " products"
  end)
end

local cq = cqueues.new()

-- The bridge: one cqueues coroutine runs the client's loop whenever its fd or timer is due.
local loop = client:pollable()
cq:wrap(function()
  while client:step(0) do cqueues.poll(loop) end
end)

-- Something cqueues-native keeps running meanwhile.
local ticks = 0
cq:wrap(function()
  for _ = 1, 3 do
    ticks = ticks + 1
    cqueues.sleep(0.01)
  end
end)

assert(cq:loop())
for i = 1, 3 do print(("call %d: %s"):format(i, names[i])) end
print(("cqueues ticks meanwhile: %d"):format(ticks))
