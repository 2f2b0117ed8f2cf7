--- zuora.governor: one tenant's budget shared by many clients (client option `shared`,
-- docs/concurrency.md "The shared budget"). Zuora limits each tenant, not each client: requests in
-- flight (40 by default), a rate window, the token endpoint. With `shared`, every client using the
-- same store and key holds a lease on a slot for each request it has in flight:
--
--   * a client's slots are a lease with an expiry, renewed by each round trip to the store and by
--     a heartbeat while requests run; a process that died loses them when the lease runs out;
--   * a request waits for a slot in its client's own queue (FIFO); one round trip to the store
--     asks for as many slots as the queue holds, and a release asks for the next ones in the same
--     round trip. Free slots go to the clients that have waited longest (a ticket per waiting
--     client), so clients are served first come, first served;
--   * responses' RateLimit-* and Concurrency-Limit-Limit headers are published to the store; when
--     the rate window's remaining budget is used up, no slot is granted until the window resets;
--   * with `tokens = true` one client fetches the OAuth token under a lock in the store and the
--     others load it (zuora.token asks here first);
--   * a store that fails or is slow (each call bounded by `timeout`) is reported once on stderr;
--     the client then runs on its own `max_concurrency` (or fails its calls with `required`) and
--     tries the store again after a pause. A request is never sent twice or dropped because of it.
--
-- Stores: zuora.governor.redis (`shared.redis`, any processes) and zuora.governor.dict
-- (`shared.dict`, the workers of one nginx). Only API calls and token requests take slots
-- (signed-URL downloads go to object storage, not to Zuora's API).
local core = require "zuora.core"
local errors = require "zuora.errors"

local crypto = core.crypto
local mono = core.http.now

local M = {}

local Gov = {}
Gov.__index = Gov

-- While a client's queue waits for slots, it asks the store again this often (a release in this
-- client asks at once). Short: a freed slot sits idle at most this long.
local POLL = 0.005
-- A slot a request gives back goes straight to the next request of the same client, without a
-- round trip, when no other client waited at the last round trip, made at most this long ago.
local HANDOFF = 0.02
-- After the store failed, calls run on the local cap for this long before the store is tried again.
local RETRY_STORE = 0.5
-- A token loaded from the store this close to its end is left alone (fetch a new one).
local MIN_LEFT = 2

local LOCAL = { name = "local" } -- the budget of a request that runs on the local cap only

local OPTS = { redis = "string", dict = "string", concurrency = "number", tokens = "boolean", key = "string",
  required = "boolean", object_query_concurrency = "number", lease = "number", timeout = "number" }

local function wall()
  local ngx = rawget(_G, "ngx")
  if ngx and ngx.now then ngx.update_time(); return ngx.now() end
  return os.time()
end

--- Checks the `shared` option (raises at `level` on a mistake).
function M.check(shared, level)
  level = (level or 1) + 1
  if type(shared) ~= "table" then error("zuora.new: shared must be a table", level) end
  for k, v in pairs(shared) do
    local want = OPTS[k]
    if not want then error("zuora.new: shared: unknown option '" .. tostring(k) .. "'", level) end
    if type(v) ~= want then error(("zuora.new: shared.%s must be a %s"):format(k, want), level) end
  end
  if (shared.redis == nil) == (shared.dict == nil) then
    error("zuora.new: shared needs exactly one of redis = \"redis://host:port/db\" or dict = \"<lua_shared_dict>\"",
      level)
  end
  for _, k in ipairs{ "concurrency", "object_query_concurrency" } do
    local v = shared[k]
    if v ~= nil and (v < 1 or v % 1 ~= 0) then
      error("zuora.new: shared." .. k .. " must be a positive integer", level)
    end
  end
  if shared.concurrency == nil then error("zuora.new: shared.concurrency is required (the tenant's cap)", level) end
  for _, k in ipairs{ "lease", "timeout" } do
    if shared[k] ~= nil and shared[k] <= 0 then error("zuora.new: shared." .. k .. " must be > 0", level) end
  end
end

--- The governor of `client` for option `shared` (checked). `creds` = { base_url, client_id,
-- client_secret, token_url } (the secret only keys the HMAC of the store's key; it is not kept).
function M.new(client, shared, creds, level)
  level = (level or 1) + 1
  M.check(shared, level)
  local store
  if shared.dict then
    store = require("zuora.governor.dict").new(shared, level)
  else
    store = require("zuora.governor.redis").new(shared, level)
  end
  -- The store's key names the tenant and the credentials without revealing either.
  local key = shared.key or crypto.hex(crypto.hmac_sha256(creds.client_id or creds.base_url,
    "lua-zuora shared budget\n" .. creds.base_url .. "\n" .. (creds.client_id or ""))):sub(1, 32)
  local prefix = "zuora:budget:" .. key
  local function budget(name, limit)
    return { name = name, limit = limit, key = prefix .. ":" .. name, rate_key = prefix .. ":rate",
      queue = {}, held = 0, rel = 0, last = 0, holders = {} }
  end
  local self = setmetatable({
    client = client, store = store, prefix = prefix,
    me = ("%s:%s"):format(tostring(wall()), crypto.hex(crypto.random(8))),
    lease = shared.lease or 10,
    required = shared.required or false,
    main = budget("main", shared.concurrency),
    oq = shared.object_query_concurrency and budget("oq", shared.object_query_concurrency) or false,
    down_until = false, said = false,
    limited = 0, -- 429s seen by this client, published with the next release
    tokens = false,
  }, Gov)
  if shared.tokens then
    if not (creds.client_id and creds.client_secret) then
      error("zuora.new: shared.tokens needs OAuth credentials (client_id and client_secret)", level)
    end
    self.tokens = {
      key = prefix .. ":token:" .. crypto.hex(crypto.hmac_sha256(creds.client_secret,
        "lua-zuora shared token\n" .. creds.token_url .. "\n" .. creds.client_id)):sub(1, 32),
      margin = client.refresh_margin, last_stamp = false, lock = false,
    }
  end
  return self
end

------------------------------------------------------------------------------------------------
-- Store failures.

function Gov:_down()
  local d = self.down_until
  if not d then return false end
  if mono() < d then return true end
  self.down_until = false
  return false
end

function Gov:_failed(err)
  self.down_until = mono() + RETRY_STORE
  if not self.said then
    self.said = true
    io.stderr:write(("zuora: shared budget unavailable (%s); %s\n"):format(tostring(err),
      self.required and "calls fail until it is back (shared.required)"
        or "using this client's own max_concurrency until it is back"))
  end
  -- whoever waits for a slot from the store runs on the local cap now (or fails, with required)
  for _, b in ipairs{ self.main, self.oq or nil } do
    local q = b.queue
    b.queue = {}
    for _, w in ipairs(q) do w.granted = LOCAL end
  end
end

function Gov:_ok()
  if self.said then
    self.said = false
    io.stderr:write("zuora: shared budget available again\n")
  end
end

------------------------------------------------------------------------------------------------
-- Slots.

local function alive(w)
  local t = w.task
  return not (t and t.done)
end

-- Asks the store for as many slots as `b`'s queue waits for, releasing `b.rel` slots and
-- publishing `rate` in the same round trip; hands the granted slots out in queue order.
function Gov:_take(b, rate)
  if self.busy then return end -- a round trip is under way (nginx: it yields); it serves the queue
  local q = b.queue
  local want = 0
  local kept = {}
  for _, w in ipairs(q) do
    if alive(w) then kept[#kept + 1] = w; want = want + 1 end
  end
  b.queue, q = kept, kept
  -- slots held by tasks that were cancelled while their request ran
  for w, t in pairs(b.holders) do
    if t.done then b.holders[w] = nil; b.held = b.held - 1; b.rel = b.rel + 1 end
  end
  if want == 0 and b.rel == 0 and not rate then return end
  local rel = b.rel
  self.busy = true
  local now = self.client.rt.now()
  b.last = now
  local granted, in_flight, waiting, hold, others = self.store:take(b, self.me, math.floor(wall() * 1000),
    math.floor(self.lease * 1000), b.limit, rel, want, rate)
  self.busy = false
  if not granted then
    self:_failed(in_flight)
    return
  end
  self:_ok()
  b.rel = b.rel - rel
  b.in_flight, b.waiting, b.hold, b.others = in_flight, waiting, hold, others
  self.renewed = now
  local i = 1
  while granted > 0 and q[i] do
    local w = q[i]
    if alive(w) then
      w.granted = b
      b.held = b.held + 1
      granted = granted - 1
    end
    i = i + 1
  end
  if granted > 0 then b.rel = b.rel + granted end -- nobody left to take them: give them back next time
  local rest = {}
  for j = i, #q do rest[#rest + 1] = q[j] end
  b.queue = rest
end

-- Keeps this client's lease alive while it holds slots (a long request makes no round trip).
function Gov:_heartbeat()
  if self.hb then return end
  local rt = self.client.rt
  if not self.client.transport then return end -- nginx: no light thread outlives its request
  self.hb = true
  rt:spawn(function()
    local period = self.lease / 3
    while self.main.held > 0 or (self.oq and self.oq.held > 0) do
      rt:wait_until(function() return self.main.held == 0 and not (self.oq and self.oq.held > 0) end, period)
      if rt.now() - (self.renewed or 0) >= period and not self:_down() then
        for _, b in ipairs{ self.main, self.oq or nil } do
          if b.held > 0 then self:_take(b, {}) end
        end
      end
    end
    self.hb = false
  end)
end

--- Waits for a slot for `req`. Returns the budget the slot came from (LOCAL when the store is
-- not available), or nil, err when the store is required and not available.
function Gov:acquire(req)
  local b = self.main
  if self.oq and req.url and req.url:find("/object-query/", 1, true) then b = self.oq end
  if self.closed then return LOCAL end -- the call ends with the client's `closed` error
  if self:_down() then
    if self.required then return nil, self:_unavailable() end
    return LOCAL
  end
  local rt = self.client.rt
  local w = { granted = false, task = rt.current and rt:current() or nil }
  b.queue[#b.queue + 1] = w
  self:_take(b)
  -- Only the head of the queue asks the store again after a short wait (one round trip serves the
  -- whole queue); the others sleep until they are granted a slot or become the head.
  local function granted() return w.granted ~= false end
  local function granted_or_head() return w.granted ~= false or b.queue[1] == w end
  while not w.granted do
    if b.queue[1] == w then
      local wait = POLL
      if b.hold and b.hold > 0 then wait = math.min(b.hold / 1000, 1) end
      rt:wait_until(granted, wait)
      if not w.granted and rt.now() - b.last >= POLL * 0.8 then self:_take(b) end
    else
      rt:wait_until(granted_or_head)
    end
  end
  if w.granted == LOCAL then
    if self.required then return nil, self:_unavailable() end
    return LOCAL
  end
  if w.task then b.holders[w] = w.task end
  self:_heartbeat()
  return b, w
end

function Gov:_unavailable()
  return errors.new{ kind = "transport", retryable = true, message = "shared budget unavailable (shared.required)" }
end

local function header(res, name)
  return require("zuora.pipeline").res_header(res, name)
end

--- Gives back the slot of a request that finished with `res`, publishing what its headers said.
function Gov:release(b, w, res)
  if self.closed then return end
  if b == LOCAL then
    if res and res.status == 429 then self.limited = self.limited + 1 end
    return
  end
  if w then b.holders[w] = nil end
  local rate
  if res and res.status then
    local limit = header(res, "ratelimit-limit")
    local conc = header(res, "concurrency-limit-limit")
    if conc == self.conc_seen then conc = nil else self.conc_seen = conc end -- publish changes only
    if res.status == 429 then self.limited = self.limited + 1 end
    if limit or conc or self.limited > 0 then
      rate = { concurrency_limit = conc, limited = self.limited }
      if limit then
        rate.limit, rate.remaining = limit, header(res, "ratelimit-remaining") or ""
        rate.reset = header(res, "ratelimit-reset") or "0"
      end
      self.limited = 0
    end
  end
  -- Nobody else waited at the last round trip (at most HANDOFF ago): the slot goes straight to the
  -- next request of this client's queue, without a round trip (the lease stays renewed by the
  -- heartbeat and by the round trip due every HANDOFF). Otherwise it goes back to the store,
  -- where the client that waited longest gets it.
  if not rate and b.others == 0 and self.client.rt.now() - b.last < HANDOFF then
    local q = b.queue
    while q[1] do
      local nxt = table.remove(q, 1)
      if alive(nxt) then nxt.granted = b; return end
    end
  end
  b.held = b.held - 1
  b.rel = b.rel + 1
  if self:_down() then return end
  self:_take(b, rate)
end

--- What the store knows: { in_flight, waiting, limit, participants, rate = {limit, remaining,
-- reset_at, concurrency_limit, limited}, shared = true } (nil, err when it cannot be reached).
function Gov:budget()
  local out = { shared = true, store = self.store.kind or "redis" }
  for _, b in ipairs{ self.main, self.oq or nil } do
    local s, err = self.store:stats(b)
    if not s then return nil, err end
    local t = { in_flight = s.in_flight, waiting = s.waiting, limit = b.limit, participants = s.participants,
      mine = b.held }
    if b == self.main then
      for k, v in pairs(t) do out[k] = v end
      local r = s.rate
      out.limits_seen = { rate_limit = r.limit, rate_remaining = r.remaining,
        rate_reset_in = r.reset_at and math.max(0, (r.reset_at - s.now_ms) / 1000) or nil,
        concurrency_limit = r.concurrency_limit }
      out.limited = r.limited or 0
    else
      out.object_query = t
    end
  end
  return out
end

------------------------------------------------------------------------------------------------
-- One OAuth token for all (shared.tokens).

local json = core.json

-- Feeds a stored token to `auth` so that auth stops using it when its usable time ends (the
-- shared dict's token cache does the same).
local feed = require("zuora.ngx.token_cache").feed

--- Makes client.auth usable with the token in the store if there is one. Returns true when the
-- caller should look at auth's state again, false when it must fetch the token itself (it then
-- holds the store's lock, given back by token_fetched).
function Gov:load_token(auth)
  local tk = self.tokens
  if not tk or self:_down() then return false end
  local rt = self.client.rt
  local started = rt.now()
  local delay = 0.005
  while true do
    if auth:state(mono()) ~= "need_token" then return true end
    local mine = crypto.hex(crypto.random(8))
    local lock_ttl = (self.client.timeout + self.client.connect_timeout + 1) * 1000
    local what, v = self.store:token_or_lock(tk.key, mine, lock_ttl)
    -- false tells the caller to fetch the token itself: only right when no other task of this
    -- client started a token request meanwhile (during a round trip or a wait)
    if what == nil then self:_failed(v); return auth:state(mono()) ~= "need_token" end
    -- Inside nginx the round trip yields: another light thread of this client may have stored or
    -- loaded a token meanwhile (and the entry's stamp is then ours without any 401).
    if auth:state(mono()) ~= "need_token" then
      if what == "lock" then self.store:delete_if(tk.key .. ":lock", mine) end
      return true
    end
    if what == "lock" then
      tk.lock = mine
      return false
    end
    local e = what == "token" and json.decode(v)
    if type(e) == "table" and type(e.t) == "string" and type(e.u) == "number" and type(e.s) == "string" then
      local left = e.u - wall()
      if e.s == tk.last_stamp or left <= MIN_LEFT then
        -- this client used that token and dropped it (a 401): revoked for everyone; or it is
        -- about to end: fetch the next one
        self.store:delete_if(tk.key, v)
        delay = 0
      elseif feed(tk, auth, e, left) then
        tk.last_stamp = e.s
        return true
      else
        self.store:delete_if(tk.key, v) -- not a usable token
        delay = 0
      end
    elseif what == "token" then
      self.store:delete_if(tk.key, v) -- not a token entry of ours
      delay = 0
    end
    if rt.now() - started > lock_ttl / 1000 then return auth:state(mono()) ~= "need_token" end
    if delay > 0 then rt:sleep(delay) end
    delay = math.min(math.max(delay, 0.0025) * 2, 0.02)
  end
end

--- After this client's own token request: store the token for the others (when it worked) and
-- give the lock back.
function Gov:token_fetched(auth, ok)
  local tk = self.tokens
  if not tk then return end
  if ok then
    local lines = auth:headers(mono())
    local token = lines and lines[1] and lines[1]:match("^Authorization: Bearer (.+)$")
    local life = auth:expires_in(mono())
    if token and life and life > MIN_LEFT then
      local usable = life - math.min(tk.margin, life / 2)
      local stamp = crypto.hex(crypto.random(8))
      local value = json.encode{ t = token, u = wall() + usable, s = stamp }
      if self.store:set(tk.key, value, life * 1000) then tk.last_stamp = stamp end
    end
  end
  if tk.lock then
    self.store:delete_if(tk.key .. ":lock", tk.lock)
    tk.lock = false
  end
end

--- Gives every slot this client holds back to the store and closes the connection (client:close).
-- Requests still in flight end with a `closed` error; their releases are then no-ops.
function Gov:close()
  if self.closed then return end
  for _, b in ipairs{ self.main, self.oq or nil } do
    b.rel, b.held, b.queue, b.holders = b.rel + b.held, 0, {}, {}
    if b.rel > 0 and not self:_down() then self:_take(b) end
  end
  self.closed = true
  self.store:close()
end

M.LOCAL = LOCAL
return M
