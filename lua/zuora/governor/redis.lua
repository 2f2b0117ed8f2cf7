--- zuora.governor.redis: the shared budget's store in Redis (client option `shared.redis`), for
-- processes on any machines. Every operation that changes the budget is one Lua script run in
-- Redis (EVALSHA, loaded with SCRIPT LOAD, loaded again after a NOSCRIPT), so each acquire and
-- release is one atomic round trip. Outside nginx the connection is the C core's core.redis
-- (hiredis) with short timeouts: a call blocks the process for at most `timeout` seconds. Inside
-- nginx it is resty.redis over cosockets (Debian: lua-nginx-redis).
--
-- Keys, under the prefix P = "zuora:budget:<key>" (the budget) and "<P>:<name>" per budget
-- ("main", or "oq" for object queries):
--   <B>:held   hash   participant -> slots it holds
--   <B>:alive  zset   participant -> lease expiry (ms); a participant whose lease ran out loses
--                      its slots (a crashed process cannot keep them)
--   <B>:wq     zset   participant -> ticket: the participants waiting, first come first served
--   <B>:want   hash   participant -> slots it waits for
--   <B>:ticket string the ticket counter
--   <P>:rate   hash   what responses said: RateLimit-*, Concurrency-Limit-Limit, 429s counted
--   <P>:token  string the shared OAuth token (JSON), expiring with it; <P>:token:lock
local core = require "zuora.core"
local rurl = require "zuora.redis"

local ngx = rawget(_G, "ngx")

local M = {}

local Store = {}
Store.__index = Store

-- take(me, now_ms, lease_ms, limit, release, want, [rate fields])
--   -> { granted, in_flight, waiting, hold_ms, others_waiting }
-- Releases `release` slots of participant `me`, then grants up to `want` to it when the free
-- slots are not owed to participants that waited longer, and renews its lease.
local TAKE = [[
local b, r = KEYS[1], KEYS[2]
-- Redis's clock, the one clock every participant shares (ARGV[2] is the caller's, unused here)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local me, lease, limit = ARGV[1], tonumber(ARGV[3]), tonumber(ARGV[4])
local rel, want = tonumber(ARGV[5]), tonumber(ARGV[6])
local held, alive, wq, wants = b .. ':held', b .. ':alive', b .. ':wq', b .. ':want'
for _, d in ipairs(redis.call('ZRANGEBYSCORE', alive, '-inf', now)) do
  redis.call('HDEL', held, d); redis.call('HDEL', wants, d); redis.call('ZREM', wq, d); redis.call('ZREM', alive, d)
end
if ARGV[7] and ARGV[7] ~= '' and tonumber(ARGV[8]) then
  -- Within the same window an answer may be older than grants made since: keep the lower count.
  local at, left = now + 1000 * tonumber(ARGV[9]), tonumber(ARGV[8])
  local old_at = tonumber(redis.call('HGET', r, 'reset_at') or '0')
  local old_left = tonumber(redis.call('HGET', r, 'remaining') or '-1')
  if old_at > now and math.abs(at - old_at) < 1500 and old_left >= 0 then left = math.min(left, old_left) end
  redis.call('HSET', r, 'limit', ARGV[7], 'remaining', left, 'reset_at', at)
end
if ARGV[10] and ARGV[10] ~= '' then redis.call('HSET', r, 'concurrency_limit', ARGV[10]) end
if ARGV[11] and ARGV[11] ~= '0' then redis.call('HINCRBY', r, 'limited', tonumber(ARGV[11])) end
local total, mine = 0, 0
for i, v in ipairs(redis.call('HGETALL', held)) do
  if i % 2 == 0 then
    total = total + tonumber(v)
  end
end
mine = tonumber(redis.call('HGET', held, me) or '0')
local keep = math.max(mine - rel, 0)
total = total - mine + keep
local grant, hold = 0, 0
if want > 0 then
  local remaining = tonumber(redis.call('HGET', r, 'remaining') or '-1')
  local reset_at = tonumber(redis.call('HGET', r, 'reset_at') or '0')
  if remaining >= 0 and reset_at > now and remaining <= 0 then
    hold = reset_at - now
  else
    local free = limit - total
    local ahead = 0
    local rank = redis.call('ZRANK', wq, me)
    local before = {}
    if not rank then before = redis.call('ZRANGE', wq, 0, -1)
    elseif rank > 0 then before = redis.call('ZRANGE', wq, 0, rank - 1) end
    for _, w in ipairs(before) do ahead = ahead + tonumber(redis.call('HGET', wants, w) or '0') end
    grant = math.max(0, math.min(want, free - ahead))
    if remaining > 0 and reset_at > now then
      grant = math.min(grant, remaining)
      redis.call('HSET', r, 'remaining', remaining - grant)
    end
  end
  if grant < want then
    if not redis.call('ZSCORE', wq, me) then redis.call('ZADD', wq, redis.call('INCR', b .. ':ticket'), me) end
    redis.call('HSET', wants, me, want - grant)
  else
    redis.call('ZREM', wq, me); redis.call('HDEL', wants, me)
  end
else
  redis.call('ZREM', wq, me); redis.call('HDEL', wants, me)
end
keep = keep + grant
if keep > 0 then redis.call('HSET', held, me, keep) else redis.call('HDEL', held, me) end
if keep > 0 or grant < want then redis.call('ZADD', alive, now + lease, me) else redis.call('ZREM', alive, me) end
redis.call('PEXPIRE', b .. ':ticket', 86400000)
local waiting = 0
for i, v in ipairs(redis.call('HGETALL', wants)) do if i % 2 == 0 then waiting = waiting + tonumber(v) end end
-- the 5th value: slots other participants wait for (this one's own want left out)
return { grant, total + grant, waiting, hold, waiting - (want - grant) }
]]

-- stats(now) -> { in_flight, waiting, participants, rate hash as a flat array }
local STATS = [[
local b, r = KEYS[1], KEYS[2]
local total, waiting = 0, 0
for i, v in ipairs(redis.call('HGETALL', b .. ':held')) do if i % 2 == 0 then total = total + tonumber(v) end end
for i, v in ipairs(redis.call('HGETALL', b .. ':want')) do if i % 2 == 0 then waiting = waiting + tonumber(v) end end
local t = redis.call('TIME')
return { total, waiting, redis.call('ZCARD', b .. ':alive'), redis.call('HGETALL', r),
  tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) }
]]

-- Deletes KEYS[1] if it still holds ARGV[1] (a lock or a token entry someone else may have replaced).
local DEL_IF = [[
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
]]

-- The shared token, or the lock to fetch it, in one step: {"token", value} | {"lock"} | {"wait"}.
-- (A GET and then a SET NX would let a client find no token, then take the lock just released
-- by the client that stored one, and fetch a second token.)
local TOKEN = [[
local v = redis.call('GET', KEYS[1])
if v then return { 'token', v } end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return { 'lock' } end
return { 'wait' }
]]

local SCRIPTS = { take = TAKE, stats = STATS, del_if = DEL_IF, token = TOKEN }

--- A store for `conf` (the `shared` option): conf.redis (URL), conf.timeout (seconds per call).
function M.new(conf, level)
  local r = rurl.parse_url(conf.redis, "zuora.new: shared.redis", (level or 1) + 1)
  r.timeout = conf.timeout or 0.5
  r.shas = {}
  r.ngx = ngx ~= nil and ngx.socket ~= nil
  return setmetatable(r, Store)
end

-- Outside nginx: one hiredis connection per store, made again after a failure.
function Store:_conn()
  local c = self.c
  if c and c:is_open() then return c end
  local err
  c, err = core.redis.connect(self.host, self.port, self.timeout)
  if not c then return nil, err end
  if self.password then
    local ok, aerr = c:call("AUTH", self.password)
    if not ok then c:close(); return nil, "redis auth: " .. tostring(aerr) end
  end
  if self.db then
    local ok, serr = c:call("SELECT", self.db)
    if not ok then c:close(); return nil, "redis select: " .. tostring(serr) end
  end
  self.c, self.shas = c, {}
  return c
end

local function ngx_null(v)
  if v == nil or v == ngx.null then return false end
  return v
end

--- One command: returns its reply (false for Redis nil), or nil, err, "io" | "reply".
function Store:call(...)
  if self.ngx then
    local red, err = rurl.ngx_connect(self, math.floor(self.timeout * 1000))
    if not red then return nil, err, "io" end
    local cmd = select(1, ...)
    local res, rerr = red[cmd:lower()](red, select(2, ...))
    if res == nil then
      red:close()
      local io = rerr and (rerr == "timeout" or rerr == "closed" or rerr:find("^connect")) or false
      return nil, "redis: " .. tostring(rerr), io and "io" or "reply"
    end
    red:set_keepalive(10000, 64)
    if type(res) == "table" then
      for i = 1, #res do res[i] = ngx_null(res[i]) end
    end
    return ngx_null(res)
  end
  local c, err = self:_conn()
  if not c then return nil, err, "io" end
  return c:call(...)
end

local function unpack_keys(keys, ...)
  if #keys == 1 then return keys[1], ... end
  return keys[1], keys[2], ...
end

--- Runs script `name` with keys and args: EVALSHA, loading the script on first use and again
-- after Redis forgot it (a restart, SCRIPT FLUSH).
function Store:script(name, keys, ...)
  for _ = 1, 2 do
    local sha = self.shas[name]
    if not sha then
      local err, how
      sha, err, how = self:call("SCRIPT", "LOAD", SCRIPTS[name])
      if not sha then return nil, err, how end
      if type(sha) ~= "string" then return nil, "redis: unexpected reply to SCRIPT LOAD", "reply" end
      self.shas[name] = sha
    end
    local res, err, how = self:call("EVALSHA", sha, #keys, unpack_keys(keys, ...))
    if res ~= nil or not (err and err:find("NOSCRIPT", 1, true)) then return res, err, how end
    self.shas[name] = nil
  end
  return nil, "redis: script could not be loaded", "reply"
end

-- Whether `res` is an array whose first `n` items are numbers (a Redis that answers something else,
-- a proxy or a fake, counts as failed instead of raising in the caller).
local function numbers(res, n)
  if type(res) ~= "table" then return false end
  for i = 1, n do if type(res[i]) ~= "number" then return false end end
  return true
end

local UNEXPECTED = "redis: unexpected reply to a script"

function Store:take(b, me, now_ms, lease_ms, limit, release, want, rate)
  local r = rate or {}
  local res, err = self:script("take", { b.key, b.rate_key }, me, now_ms, lease_ms, limit, release, want,
    r.limit or "", r.remaining or "", r.reset or "0", r.concurrency_limit or "", r.limited or 0)
  if not res then return nil, err end
  if not numbers(res, 5) then return nil, UNEXPECTED end
  return res[1], res[2], res[3], res[4], res[5]
end

function Store:stats(b)
  local res, err = self:script("stats", { b.key, b.rate_key })
  if not res then return nil, err end
  if not numbers(res, 3) or (res[4] and type(res[4]) ~= "table") then return nil, UNEXPECTED end
  local rate = {}
  local flat = res[4] or {}
  for i = 1, #flat, 2 do rate[flat[i]] = tonumber(flat[i + 1]) or flat[i + 1] end
  return { in_flight = res[1], waiting = res[2], participants = res[3], rate = rate, now_ms = res[5] }
end

--- The token stored under `key`, else the lock `key .. ":lock"` taken with `value` for `ttl_ms`:
-- "token", stored value | "lock" | "wait" | nil, err.
function Store:token_or_lock(key, value, ttl_ms)
  local res, err = self:script("token", { key, key .. ":lock" }, value, math.max(1, math.floor(ttl_ms)))
  if not res then return nil, err end
  if type(res) ~= "table" or (res[1] ~= "token" and res[1] ~= "lock" and res[1] ~= "wait")
      or (res[1] == "token" and type(res[2]) ~= "string") then
    return nil, UNEXPECTED
  end
  return res[1], res[2]
end

function Store:set(key, value, ttl_ms)
  return self:call("SET", key, value, "PX", math.max(1, math.floor(ttl_ms)))
end

function Store:delete_if(key, value)
  return self:script("del_if", { key }, value)
end

function Store:close()
  if self.c then self.c:close() end
  self.c = nil
end

M.SCRIPTS = SCRIPTS
return M
