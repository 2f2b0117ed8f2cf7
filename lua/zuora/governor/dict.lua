--- zuora.governor.dict: the shared budget's store in a lua_shared_dict (client option
-- `shared.dict`), for the workers of one nginx. The same operations and semantics as
-- zuora.governor.redis; each operation runs under a short lock in the dict (`add` of a lock key,
-- as lua-resty-lock does), and nothing inside it yields, so it is atomic across the workers. The
-- budget's state is one JSON value per budget: held slots and lease expiry per client, waiting
-- clients with their tickets and wants.
local core = require "zuora.core"

local json = core.json
local ngx = rawget(_G, "ngx")

local M = {}

local Store = {}
Store.__index = Store

-- The dict lock: held for microseconds (no I/O inside); a holder that died releases it on expiry.
local LOCK_TTL = 0.05
local LOCK_TRIES = 200

function M.new(conf, level)
  local dict = ngx and ngx.shared and ngx.shared[conf.dict]
  if not dict then
    error(("zuora.new: shared.dict: no lua_shared_dict named '%s' (declare `lua_shared_dict %s 1m;` in the "
      .. "http block of nginx.conf)"):format(conf.dict, conf.dict), (level or 1) + 1)
  end
  return setmetatable({ dict = dict, kind = "dict" }, Store)
end

local function now_ms()
  ngx.update_time()
  return math.floor(ngx.now() * 1000)
end

-- Runs fn() under the dict lock; returns what it returns, or nil, err.
function Store:_locked(fn)
  local d = self.dict
  for _ = 1, LOCK_TRIES do
    local ok, err = d:add("zuora:budget:lock", true, LOCK_TTL)
    if ok then
      local r1, r2, r3, r4, r5 = fn(d)
      d:delete("zuora:budget:lock")
      return r1, r2, r3, r4, r5
    end
    if err ~= "exists" then return nil, "shared dict: " .. tostring(err) end
    ngx.sleep(0.001)
  end
  return nil, "shared dict: lock busy"
end

local function load(d, key)
  local s = d:get(key)
  local st = s and json.decode(s)
  if type(st) ~= "table" then st = {} end
  st.h, st.a, st.w, st.t = st.h or {}, st.a or {}, st.w or {}, st.t or 0
  return st
end

local function save(d, key, st)
  return d:set(key, json.encode(st, { sort_keys = true }))
end

-- The waiting clients in ticket order.
local function queue(st)
  local q = {}
  for me, w in pairs(st.w) do q[#q + 1] = { me = me, ticket = w[1], want = w[2] } end
  table.sort(q, function(x, y) return x.ticket < y.ticket end)
  return q
end

function Store:take(b, me, _, lease_ms, limit, release, want, rate)
  return self:_locked(function(d)
    local now = now_ms()
    local st = load(d, b.key)
    for p, exp in pairs(st.a) do
      if exp <= now then st.a[p], st.h[p], st.w[p] = nil, nil, nil end
    end
    local r = rate or {}
    local rs = load(d, b.rate_key)
    if r.limit and tonumber(r.remaining) then
      local at, left = now + 1000 * (tonumber(r.reset) or 0), tonumber(r.remaining)
      if (rs.reset_at or 0) > now and math.abs(at - rs.reset_at) < 1500 and (rs.remaining or -1) >= 0 then
        left = math.min(left, rs.remaining)
      end
      rs.limit, rs.remaining, rs.reset_at = tonumber(r.limit), left, at
    end
    if r.concurrency_limit then rs.concurrency_limit = tonumber(r.concurrency_limit) end
    if (r.limited or 0) > 0 then rs.limited = (rs.limited or 0) + r.limited end
    local total = 0
    for _, n in pairs(st.h) do total = total + n end
    local mine = st.h[me] or 0
    local keep = math.max(mine - release, 0)
    total = total - mine + keep
    local grant, hold = 0, 0
    if want > 0 then
      if (rs.remaining or -1) >= 0 and (rs.reset_at or 0) > now and rs.remaining <= 0 then
        hold = rs.reset_at - now
      else
        local ahead = 0
        for _, w in ipairs(queue(st)) do
          if w.me == me then break end
          ahead = ahead + w.want
        end
        grant = math.max(0, math.min(want, limit - total - ahead))
        if (rs.remaining or -1) > 0 and (rs.reset_at or 0) > now then
          grant = math.min(grant, rs.remaining)
          rs.remaining = rs.remaining - grant
        end
      end
    end
    if grant < want then
      if not st.w[me] then st.t = st.t + 1; st.w[me] = { st.t, 0 } end
      st.w[me][2] = want - grant
    else
      st.w[me] = nil
    end
    keep = keep + grant
    st.h[me] = keep > 0 and keep or nil
    st.a[me] = (keep > 0 or grant < want) and (now + lease_ms) or nil
    local waiting = 0
    for _, w in pairs(st.w) do waiting = waiting + w[2] end
    save(d, b.key, st)
    save(d, b.rate_key, rs)
    return grant, total + grant, waiting, hold, waiting - (want - grant)
  end)
end

function Store:stats(b)
  return self:_locked(function(d)
    local st, rs = load(d, b.key), load(d, b.rate_key)
    local total, waiting, parts = 0, 0, 0
    for _, n in pairs(st.h) do total = total + n end
    for _, w in pairs(st.w) do waiting = waiting + w[2] end
    for _ in pairs(st.a) do parts = parts + 1 end
    return { in_flight = total, waiting = waiting, participants = parts, now_ms = now_ms(),
      rate = { limit = rs.limit, remaining = rs.remaining, reset_at = rs.reset_at,
        concurrency_limit = rs.concurrency_limit, limited = rs.limited } }
  end)
end

function Store:token_or_lock(key, value, ttl_ms)
  return self:_locked(function(d)
    local v = d:get(key)
    if v then return "token", v end
    if d:add(key .. ":lock", value, ttl_ms / 1000) then return "lock" end
    return "wait"
  end)
end

function Store:set(key, value, ttl_ms)
  local ok, err = self.dict:set(key, value, ttl_ms / 1000)
  if not ok then return nil, "shared dict: " .. tostring(err) end
  return "OK"
end

function Store:delete_if(key, value)
  return self:_locked(function(d)
    if d:get(key) == value then d:delete(key); return 1 end
    return 0
  end)
end

function Store:close() end

return M
