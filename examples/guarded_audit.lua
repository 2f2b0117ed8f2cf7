--- An audit script that cannot hurt the tenant it runs against: a read-only client with a
-- deadline on every call lists the accounts with a balance, and shows (without sending) the
-- write a follow-up job would make. See docs/client.md, "Safety rails".
--
-- `make demo EXAMPLES=examples/guarded_audit.lua` runs it against a local zuora-sim; against a
-- tenant, set ZUORA_ENVIRONMENT or ZUORA_BASE_URL, ZUORA_CLIENT_ID and ZUORA_CLIENT_SECRET and run
--   LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="build/lua5.4/?.so;;" lua5.4 examples/guarded_audit.lua
local zuora = require "zuora"

-- read_only: every call that can change data is refused before it is sent; queries still run.
-- deadline: no call (retries and waits included) takes longer than 20 seconds.
local client = zuora.from_env{ read_only = true, deadline = 20 }

-- 1. Reads: a ZOQL query (it travels as a POST, and still runs).
local owing, total = 0, 0
for acct in client:query("select Id, AccountNumber, Name, Balance from Account where Status = ?", "Active") do
  total = total + 1
  if (tonumber(acct.Balance) or 0) > 0 then
    owing = owing + 1
    print(("owes:     %s  %-30s %s"):format(acct.AccountNumber, acct.Name, zuora.json.encode(acct.Balance)))
  end
end
print(("accounts: %d active, %d with a balance"):format(total, owing))

-- 2. A write is refused, with a reason and a hint, and nothing reaches Zuora.
local _, err = client.accounts.update("A00000001", { notes = "audited" })
print(("refused:  %s (rule %s)"):format(err.kind, err.rule))
print(("hint:     %s"):format(err.hint))

-- 3. What the follow-up job would send, exactly, without sending it (a client without
--    read_only would describe it just the same).
local writer = zuora.from_env{ dry_run = true }
local req = writer.accounts.update("A00000001", { notes = "audited" })
print(("dry run:  %s %s"):format(req.method, req.url))
print(("body:     %s"):format(req.body))
