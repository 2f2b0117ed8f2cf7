--- zuora.token: the client's credentials. ensure() makes sure the auth object (core.auth) holds a
-- usable token, fetching one if needed; only one token request is in flight per client (and, with
-- a shared token cache under nginx, per tenant): other callers wait for its outcome instead of
-- sending their own. fetch() sends the token request through zuora.pipeline like any other
-- request, with its own classification: the token endpoint's body stays in C (it may echo
-- credentials), so the auth object's state and the status decide.
local errors = require "zuora.errors"
local pipeline = require "zuora.pipeline"

local M = {}

--- Client:ensure_token([deadline]): true, or nil, err (the failure of the token request this call
-- waited for or made). `deadline` (core.http.now() seconds, the calling request's) bounds the wait
-- for another caller's token request and this caller's own one.
function M.ensure(client, deadline)
  local auth, rt = client.auth, client.rt
  while true do
    if client.closed then return nil, errors.closed() end -- the auth object is wiped
    local state = auth:state(rt.now())
    if state == "ready" then return true end
    if state == "pending" then
      local epoch = client.token_epoch
      -- A token request cannot outlive its timeouts; one pending for longer was abandoned (its
      -- nginx request was aborted): take over instead of waiting forever.
      local limit = client.timeout + client.connect_timeout + 1
      local cut = deadline and deadline - rt.now() < limit
      if cut then limit = math.max(deadline - rt.now(), 0) end
      local settled = rt:wait_until(function() return client.closed or auth:state(rt.now()) ~= "pending" end, limit)
      if client.closed then return nil, errors.closed() end
      if not settled and cut then
        -- our deadline, not the token request, ran out: it stays in flight for the others
        return nil, errors.new{ kind = "timeout", retryable = false, deadline = true,
          message = "no time left before the overall deadline (waiting for a token)" }
      end
      if not settled then auth:fail("token request abandoned") end
      if settled and auth:state(rt.now()) ~= "ready" and client.token_epoch == epoch and client.token_error then
        return nil, client.token_error
      end
    elseif rt.load_token and rt:load_token(auth) then -- luacheck: ignore 542
      -- a token shared by another nginx worker (zuora.ngx.token_cache)
    elseif client.governor and client.governor.tokens and client.governor:load_token(auth) then -- luacheck: ignore 542
      -- a token shared through the shared budget's store (zuora.governor, shared.tokens)
    else
      local ok, err = client:fetch_token(deadline)
      if client.governor and client.governor.tokens then client.governor:token_fetched(auth, ok) end
      if not ok then return nil, err end
    end
  end
end

-- Each attempt asks the auth object for a new token request (which marks it pending); a later
-- attempt finds the token already there when another worker's arrived meanwhile.
local function before(client, req, attempt)
  local auth, rt = client.auth, client.rt
  if attempt > 1 and auth:state(rt.now()) == "ready" then return true end
  local t = assert(auth:token_request(rt.now()))
  for k, v in pairs(t) do req[k] = v end
  req.timeout, req.connect_timeout = client.timeout, client.connect_timeout
  return nil
end

local function classify(client, _, res)
  local auth = client.auth
  local now = client.rt.now()
  if auth:state(now) == "ready" then return true end
  local fields
  if res.kind and res.kind ~= "auth" then
    fields = pipeline.transport_fields(res) -- the token request never got an answer
  else
    -- The token endpoint answered but gave no token. The status decides: 429 and 5xx are worth
    -- another try, the rest is final.
    local status = res.status or 0
    local busy = errors.retryable_statuses[status] or status >= 500
    fields = {
      -- a refusal of the credentials is `auth`; an overloaded or failing endpoint is not
      kind = busy and "api" or "auth", status = status ~= 0 and status or nil,
      message = (res.error and res.error:find("token", 1, true)) and res.error
        or ("token request failed: " .. (res.error or ("HTTP " .. status))),
      retryable = busy and true or false,
    }
  end
  if auth:state(now) == "pending" then auth:fail(fields.message) end
  return nil, fields
end

-- Token requests change no tenant data: repeated like reads, and never "outcome unknown".
local TOKEN = { before = before, classify = classify, mark = "token_request", reads = true }

--- Client:fetch_token([deadline]): one token request, with the pipeline's retries, within the
-- calling request's `deadline` when it has one. true, or nil, err (also kept in client.token_error
-- for the callers waiting on it, unless only this caller's deadline ended it: then they try again).
function M.fetch(client, deadline)
  client.token_epoch = client.token_epoch + 1
  client.token_error = false
  local ok, err = pipeline.run(client, { kind = "idempotent", fresh_connect = false, deadline = deadline }, TOKEN)
  if ok then return true end
  if client.closed then return nil, err end
  local auth = client.auth
  if auth:state(client.rt.now()) == "pending" then auth:fail(err.message) end
  if not err.deadline then client.token_error = err end
  return nil, err
end

return M
