--- Keeps a local SQLite copy of billing objects up to date with zuora.sync (docs/sync.md): a
-- first run copies everything changed since yesterday, a second run brings only what changed in
-- between (here: one renamed account), and the status shows each object's bookmark and lag.
--
-- `make demo EXAMPLES=examples/sync_billing.lua` runs it against a local zuora-sim; against a
-- tenant, set ZUORA_ENVIRONMENT or ZUORA_BASE_URL, ZUORA_CLIENT_ID and ZUORA_CLIENT_SECRET. The
-- database is the first argument (default: a temporary file). Needs lua-sql-sqlite3.
local zuora = require "zuora"
local sync = require "zuora.sync"

local client = zuora.from_env{}
local db = arg and arg[1] or (os.tmpname() .. ".db")
local yesterday = os.date("!%Y-%m-%d", os.time() - 86400)

-- Something to copy: two accounts (each with a bill-to contact).
local ids = {}
for i = 1, 2 do
  local acct = assert(client.accounts.create{ name = "Sync Demo " .. i, currency = "USD", billCycleDay = 1,
    billToContact = { firstName = "Ada", lastName = "Sync " .. i, country = "US" } })
  ids[i] = acct.accountId
end
client:sleep(1.1) -- a run stops at the current second: rows written in it come with the next run

local function run(label)
  local job = sync.new(client, { objects = { "Account", "Contact", "Payment" }, to = "sqlite:" .. db,
    start = yesterday, in_flight = 2, interval = 0.2, max_interval = 2 })
  local summary = assert(job:run())
  for _, name in ipairs{ "Account", "Contact", "Payment" } do
    local s = summary.objects[name]
    print(("%-7s %-8s %3d rows %3d deleted in %2d windows"):format(label, name, s.rows, s.deleted, s.windows))
  end
  return job
end

run("first")
assert(client.accounts.update(ids[1], { name = "Sync Demo 1 (renamed)" }))
client:sleep(1.1)
local job = run("again")
local status = job:status()
for _, name in ipairs{ "Account", "Contact", "Payment" } do
  local s = status[name]
  print(("status  %-8s synced up to %s, lag %ds, %d rows in all"):format(name, s.window_end, s.lag, s.rows))
end
local report = assert(job:verify())
print("verify  " .. (report.ok and "the copy matches Zuora" or "MISMATCH"))
job:close()
print("copy    " .. db)
