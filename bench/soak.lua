--- Soak: N calls (default 20,000) through client:map with 32 in flight against zuora-sim, while
-- about 2% of the requests the simulator receives meet a fault. Reports the success rate, the
-- retries, the faults that fired, duplicates (creates that made more than one object; must be 0),
-- creates that succeeded without an object (must be 0), and the client process's RSS along the
-- way (must stay flat once warm: at most max(2 MiB, 5%) more at the end than after the first
-- quarter of the calls). Exits 1 when a must is broken.
--
-- The simulator's faults are rules that fire on the (skip+1)-th matching request; random faults
-- are rules with count 1 and a random skip, installed batch by batch: before each batch of
-- BATCH calls, about RATE x BATCH rules (binomial) with a random skip below BATCH and a random
-- kind; rules left unfired at the end of a batch are removed. The kinds: 503; 502 after the work
-- was done; 429 with Retry-After; a connection reset before, and after the work was done; a body
-- truncated after the work was done; a gateway's HTML page; a plain 500 (not retried: the call
-- fails); 0.3 s of latency; a stall longer than the call timeout (timeout, then a retry that may
-- meet the first attempt still running: 409, retried).
--
-- Calls: 70% accounts.retrieve of a known account, 30% accounts.create of an account with a
-- unique name and its own Idempotency-Key. Duplicates come from the simulator's own records
-- (GET /__sim/state/accounts), counted by name.
--
-- Usage: make soak [SOAK_N=20000 SOAK_CONCURRENCY=32 SOAK_RATE=0.02 SOAK_BATCH=1000 SOAK_SEED=n]
--        make soak-valgrind   (SOAK_VG_N=2000 calls, SOAK_VG_RATE=0.05, under valgrind --leak-check=full)
local simh = require "spec.support.sim"
local simctl = require "spec.support.simctl"
local zuora = require "zuora"

local N = tonumber(os.getenv("SOAK_N")) or 20000
local CONC = tonumber(os.getenv("SOAK_CONCURRENCY")) or 32
local RATE = tonumber(os.getenv("SOAK_RATE")) or 0.02
local BATCH = tonumber(os.getenv("SOAK_BATCH")) or 1000
local SEED = tonumber(os.getenv("SOAK_SEED")) or os.time()
local TIMEOUT = 2
local UNDER_VALGRIND = os.getenv("SOAK_VALGRIND") == "1"

math.randomseed(SEED)

local status_kib = require("bench.lib_proc").status_kib
local function rss_kib() return status_kib("VmRSS") end

local now = require("zuora.core").http.now

local KINDS = {
  { name = "503", rule = { status = 503 } },
  { name = "502 after", rule = { status = 502, phase = "after" } },
  { name = "429", rule = { status = 429, headers = { ["Retry-After"] = "1" } } },
  { name = "reset", rule = { action = "reset" } },
  { name = "reset after", rule = { action = "reset", phase = "after" } },
  { name = "truncate after", rule = { action = "truncate", phase = "after" } },
  { name = "html 502", rule = { action = "html" } },
  { name = "500", rule = { status = 500 } },
  { name = "latency", rule = { latency = 0.3 } },
  { name = "stall", rule = { latency = TIMEOUT + 0.5 } },
}

local s = simh.start()
local ok_run, run_err = pcall(function()
  local ctl = simctl.new(s)
  -- The simulator's own concurrency cap (40) stays above the client's 32; its log is not needed.
  ctl:config{ log_limit = 1000 }

  local stats = { requests = 0, retries = 0, token_requests = 0, retry_wait = 0, resends = 0 }
  local client = zuora.new{ base_url = s.url, client_id = s.client_id, client_secret = s.client_secret,
    -- the default retry settings (3 retries, backoff base 0.5 s, cap 8 s); a short call timeout
    -- so that a stall costs seconds, not a minute
    timeout = TIMEOUT,
    on_request = function(ev)
      if ev.token_request then
        stats.token_requests = stats.token_requests + 1
      else
        stats.requests = stats.requests + 1
        if ev.attempt > 1 then stats.retries = stats.retries + 1 end
      end
    end,
    on_response = function(ev)
      if ev.retry_in then stats.retry_wait = stats.retry_wait + ev.retry_in end
      -- libcurl sends a request again by itself when a reused connection was dead before answering
      if ev.sends and ev.sends > 1 then stats.resends = stats.resends + ev.sends - 1 end
    end }

  -- Accounts to read, made before any fault is armed.
  local known = {}
  for i = 1, 20 do
    local a = assert(client.accounts.create{ name = ("Soak reader %02d"):format(i), currency = "USD",
      billToContact = { firstName = "Ada", lastName = "Lovelace", country = "US" } })
    known[i] = a.accountNumber
  end

  -- The calls, decided up front so a seed replays the same run.
  local items = {}
  for i = 1, N do
    if math.random() < 0.3 then
      items[i] = { create = true, name = ("Soak %d %06d"):format(SEED, i), key = ("soak-%d-%06d"):format(SEED, i) }
    else
      items[i] = { key = known[math.random(#known)] }
    end
  end
  local function call(item)
    if item.create then
      return client.accounts.create({ name = item.name, currency = "USD",
        billToContact = { firstName = "Grace", lastName = "Hopper", country = "US" } },
        { idempotency_key = item.key })
    end
    return client.accounts.retrieve(item.key)
  end

  local rss = {}
  local function sample(at)
    collectgarbage("collect")
    rss[#rss + 1] = { at = at, rss = rss_kib(), lua = collectgarbage("count") }
  end

  local ok, failed, fired, armed = 0, 0, 0, 0
  local fired_by_kind, failed_by_kind = {}, {}
  local created = {} -- name -> accountId the client was given
  local t0 = now()
  sample(0)
  local done = 0
  while done < N do
    local batch = {}
    for i = done + 1, math.min(N, done + BATCH) do batch[#batch + 1] = items[i] end
    -- Arm the batch's faults.
    local rules = {}
    for _ = 1, #batch do
      if math.random() < RATE then
        local kind = KINDS[math.random(#KINDS)]
        local rule = { count = 1, skip = math.random(0, #batch - 1), path = "/v1/**" }
        for k, v in pairs(kind.rule) do rule[k] = v end
        rules[ctl:fault(rule)] = kind.name
        armed = armed + 1
      end
    end
    local results, errs = client:map(batch, call, { concurrency = CONC })
    if next(rules) then
      local listing = ctl:control("GET", "faults").faults or {}
      for _, f in ipairs(listing) do
        local kind = rules[f.id]
        if kind and (f.hits or 0) > 0 then
          fired = fired + 1
          fired_by_kind[kind] = (fired_by_kind[kind] or 0) + 1
        end
      end
    end
    ctl:clear_faults()
    for i, item in ipairs(batch) do
      if results[i] and not errs[i] then
        ok = ok + 1
        if item.create then created[item.name] = results[i].accountId end
      else
        failed = failed + 1
        local e = errs[i]
        local label = tostring(e)
        if type(e) == "table" then label = tostring(e.kind) .. " " .. tostring(e.status or e.reason or "") end
        failed_by_kind[label] = (failed_by_kind[label] or 0) + 1
      end
    end
    done = done + #batch
    sample(done)
    io.write(("  %6d calls  %7.1f s  rss %6d KiB  lua heap %7.0f KiB  ok %d  failed %d\n"):format(done, now() - t0,
      rss[#rss].rss, rss[#rss].lua, ok, failed))
    io.flush()
  end
  local wall = now() - t0

  -- Duplicates and lost creates, from the simulator's records.
  local accounts = ctl:control("GET", "state/accounts")
  local records = accounts.records or accounts.accounts or accounts
  local by_name = {}
  for _, a in pairs(records) do
    if type(a) == "table" and type(a.name) == "string" then
      local list = by_name[a.name] or {}
      list[#list + 1] = a.id
      by_name[a.name] = list
    end
  end
  local creates, duplicates, lost, unacknowledged, mismatched = 0, 0, 0, 0, 0
  for _, item in ipairs(items) do
    if item.create then
      creates = creates + 1
      local list = by_name[item.name] or {}
      if #list > 1 then duplicates = duplicates + 1 end
      if created[item.name] then
        if #list == 0 then lost = lost + 1 end
        if #list == 1 and list[1] ~= created[item.name] then mismatched = mismatched + 1 end
      elseif #list > 0 then
        unacknowledged = unacknowledged + 1
      end
    end
  end

  client:close()
  collectgarbage("collect")

  print(("soak: %d calls (%d creates, %d reads), concurrency %d, fault rate %.3f, batch %d, seed %d%s"):format(N,
    creates, N - creates, CONC, RATE, BATCH, SEED, UNDER_VALGRIND and ", under valgrind" or ""))
  print(("  wall %.1f s, %.0f calls/s"):format(wall, N / wall))
  print(("  succeeded %d (%.2f%%), failed %d"):format(ok, 100 * ok / N, failed))
  local labels = {}
  for k in pairs(failed_by_kind) do labels[#labels + 1] = k end
  table.sort(labels)
  for _, k in ipairs(labels) do print(("    failed: %-28s %d"):format(k, failed_by_kind[k])) end
  print(("  attempts %d (token requests %d), retries %d, libcurl resends %d, backoff waited %.1f s in total"):format(
    stats.requests, stats.token_requests, stats.retries, stats.resends, stats.retry_wait))
  print(("  faults armed %d, fired %d (%.2f%% of attempts)"):format(armed, fired, 100 * fired / stats.requests))
  labels = {}
  for k in pairs(fired_by_kind) do labels[#labels + 1] = k end
  table.sort(labels)
  for _, k in ipairs(labels) do print(("    fired: %-15s %d"):format(k, fired_by_kind[k])) end
  print(("  duplicates %d (must be 0); acknowledged creates without an object %d (must be 0);"
    .. " id mismatches %d (must be 0); failed creates that still made one object %d"):format(duplicates, lost,
    mismatched, unacknowledged))
  -- Warm-up is the first quarter of the calls (connections, token, the allocator's arenas, the
  -- simulator's first faults); from there to the end RSS may move by noise only.
  local base = rss[#rss]
  for _, r in ipairs(rss) do
    if r.at >= N / 4 then base = r; break end
  end
  local last = rss[#rss]
  local growth = last.rss - base.rss
  local allowed = math.max(2048, base.rss // 20)
  local points = {}
  for _, r in ipairs(rss) do points[#points + 1] = ("%d:%d"):format(r.at, r.rss) end
  print(("  rss KiB by calls done: %s"):format(table.concat(points, " ")))
  print(("  rss: start %d KiB, after warm-up (%d calls) %d KiB, end %d KiB: growth %+d KiB (allowed %d)")
    :format(rss[1].rss, base.at, base.rss, last.rss, growth, allowed))
  print(("  lua heap: start %.0f KiB, end %.0f KiB"):format(rss[1].lua, last.lua))
  local bad = duplicates > 0 or lost > 0 or mismatched > 0 or (not UNDER_VALGRIND and growth > allowed)
  if bad then
    print("soak: FAILED")
    return false
  end
  print("soak: ok")
  return true
end)
s:stop()
if not ok_run then
  io.stderr:write("soak: ", tostring(run_err), "\n")
  os.exit(1)
end
if run_err == false then os.exit(1) end
