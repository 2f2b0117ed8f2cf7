--- A shared OAuth token for every nginx worker, kept in a lua_shared_dict (client option
-- `token_cache = "<dict name>"`). One worker fetches the token (a lock in the dict makes the
-- others wait for it instead of fetching their own); the others load it into their auth object.
--
-- The entry is keyed by an HMAC of the credentials (the key reveals nothing about the secret),
-- holds the access token, the wall-clock time until which it may be used (the client's refresh
-- margin already taken off) and a random stamp, and expires from the dict with the token. The
-- token is a secret: see docs/concurrency.md ("The shared token cache") for what storing it in
-- shared memory means.
local core = require "zuora.core"

local json, crypto = core.json, core.crypto
local mono = core.http.now
local ngx = rawget(_G, "ngx")

local M = {}

local Cache = {}
Cache.__index = Cache

-- A cached token this close to the end of its usable life is left alone (fetch a new one).
local MIN_LEFT = 2

local function wall()
  ngx.update_time()
  return ngx.now()
end

--- A cache over the shared dict `name`. o: token_url, client_id, client_secret, refresh_margin,
-- lock_ttl (seconds a fetch may take before its lock lapses).
function M.new(name, o, level)
  local dict = ngx.shared and ngx.shared[name]
  if not dict then
    error(("zuora.new: token_cache: no lua_shared_dict named '%s' (declare `lua_shared_dict %s 1m;` "
      .. "in the http block of nginx.conf)"):format(tostring(name), tostring(name)), (level or 1) + 1)
  end
  local key = "zuora-token:" .. crypto.hex(crypto.hmac_sha256(o.client_secret,
    "lua-zuora token cache\n" .. o.token_url .. "\n" .. o.client_id))
  return setmetatable({
    dict = dict, key = key, lock_key = key .. ":lock",
    margin = o.refresh_margin or 300, lock_ttl = o.lock_ttl or 71,
    last_stamp = nil,  -- the entry this worker's auth object holds (loaded or stored)
    lock_value = nil,  -- set while this worker holds the fetch lock
  }, Cache)
end

function Cache:_get()
  local v = self.dict:get(self.key)
  if type(v) ~= "string" then return nil end
  local e = json.decode(v)
  if type(e) ~= "table" or type(e.t) ~= "string" or type(e.u) ~= "number" or type(e.s) ~= "string" then
    return nil
  end
  return e
end

-- Feeds entry `e` to `auth` with a lifetime chosen so that auth stops using it when the entry's
-- usable time ends: auth refreshes min(margin, life/2) before expiry.
local function feed(self, auth, e, left)
  local life = left >= self.margin and (left + self.margin) or (2 * left)
  life = math.floor(math.min(life, 86400))
  local body = json.encode{ access_token = e.t, token_type = "bearer", expires_in = life }
  return auth:accept(200, body, nil, mono())
end

M.feed = feed -- zuora.governor feeds tokens from Redis the same way

--- Makes `auth` (in state need_token) usable from the dict if it can. Returns true when the
-- caller should look at auth's state again (a token was loaded, or another task of this worker
-- took over), false when the caller must fetch the token itself: it then holds the lock, which
-- the runtime releases after the token request (unlock). `enter` is called after each wait
-- (phase and cancellation checks).
function Cache:load(auth, enter)
  local delay = 0.005
  while true do
    if auth:state(mono()) ~= "need_token" then return true end
    local e = self:_get()
    local left = e and (e.u - wall())
    if e and left > MIN_LEFT then
      if e.s == self.last_stamp then
        -- This worker already used that token and its auth object dropped it (a 401): the token
        -- was revoked, so nobody should use it any more.
        local cur = self:_get()
        if cur and cur.s == e.s then self.dict:delete(self.key) end
      elseif feed(self, auth, e, left) then
        self.last_stamp = e.s
        return true
      else
        self.dict:delete(self.key) -- not a usable token
      end
    end
    local mine = crypto.hex(crypto.random(8))
    local ok, err = self.dict:add(self.lock_key, mine, self.lock_ttl)
    if ok then
      self.lock_value = mine
      return false
    end
    if err ~= "exists" then return false end -- the dict is full: fetch without the lock
    ngx.sleep(delay)
    delay = math.min(delay * 2, 0.1)
    enter("waiting for a token from another worker")
  end
end

--- Stores the token `auth` just accepted (its reply body is `body`) for the other workers.
function Cache:store(auth, body)
  local reply = json.decode(body or "")
  if type(reply) ~= "table" or type(reply.access_token) ~= "string" then return end
  local life = auth:expires_in(mono())
  if not life or life <= MIN_LEFT then return end
  local usable = life - math.min(self.margin, life / 2)
  local stamp = crypto.hex(crypto.random(8))
  local value = json.encode{ t = reply.access_token, u = wall() + usable, s = stamp }
  if self.dict:set(self.key, value, life) then self.last_stamp = stamp end
end

--- Releases the fetch lock if this worker holds it.
function Cache:unlock()
  local mine = self.lock_value
  if not mine then return end
  self.lock_value = nil
  if self.dict:get(self.lock_key) == mine then self.dict:delete(self.lock_key) end
end

return M
