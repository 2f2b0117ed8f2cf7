--- zuora.pipeline: the one attempt loop. Every request the library puts on the network comes
-- through M.run: API calls (client:request, client:call_one), token requests (zuora.token), Data
-- Query result files (zuora.data_query) and signed-URL downloads (zuora.revenue.download); Revenue
-- uploads and Data Query polling are API calls. Per attempt: credentials (make sure a token is
-- ready), the on_request hook, the transfer through the client's runtime (`rt:send`), same-origin
-- redirects of GET/HEAD, classification into a value or zuora.Error fields, the on_response hook,
-- then the decision of zuora.retry_policy: retry after a backoff with jitter or Retry-After, refresh
-- the token once after a 401, or fail (with outcome_unknown when a write may have been done).
--
-- What differs between those calls is a profile (`how`), a static table made once:
--   classify(client, req, res) -> value | nil, fields   (default: client:classify, the API's)
--   credentials = true   ensure a token before each attempt, refresh it once after a 401
--   before(client, req, attempt) -> nil to go on, or value, err to end the call with
--   mark = "token_request" | "download"   a flag set in the hook events
--   reads = true   its failures never say outcome_unknown (token requests)
--   rails = true   the client's safety rails apply (zuora.access: read_only, allow, deny; dry runs)
-- A request table carries what the policy needs: `kind` ("idempotent" | "keyed" | "unsafe", see
-- zuora.retry_policy; prepare sets it), `fresh_connect` (unsafe requests get a connection of their
-- own, where libcurl never resends), optional `deadline` (core.http.now() seconds: no attempt
-- starts after it, each attempt's timeout ends at it).
local core = require "zuora.core"
local access = require "zuora.access"
local errors = require "zuora.errors"
local hints = require "zuora.hints"
local policy = require "zuora.retry_policy"
local redact = require "zuora.redact"

local url = core.url
local parse_headers, header_value = core.http.parse_headers, core.http.header
local SAFE_METHODS = policy.SAFE_METHODS

local M = {}

------------------------------------------------------------------------------------------------
-- Response headers.

-- A transport result's response headers. The libcurl transport, asked with `header_block`, gives
-- the raw header lines instead of the table: one header is read straight from them, and the
-- table is built only if something wants all of them (a hook; meta.headers is zuora.redact's).
local function res_headers(res)
  local h = rawget(res, "headers")
  if h == nil then
    local block = rawget(res, "header_block")
    if block then
      h = parse_headers(block)
      rawset(res, "headers", h)
    end
  end
  return h
end
M.res_headers = res_headers

local function res_header(res, name)
  local h = res.headers
  if h then return h[name] end
  local block = res.header_block
  if block then return header_value(block, name) end
  return nil
end
M.res_header = res_header

------------------------------------------------------------------------------------------------
-- Classification.

-- The first 200 bytes of a body or header for an error, redacted whole before the cut (a token
-- straddling the cut would otherwise keep its first bytes).
local snippet = redact.snippet

-- Error fields of a result that never got an HTTP answer (or was refused before the network).
local function transport_fields(res)
  local kind = res.kind
  local fields = {
    kind = kind == "timeout" and "timeout" or "transport",
    message = res.error or kind,
    reason = kind,
    status = res.status ~= 0 and res.status or nil,
  }
  if kind == "file" then
    -- A local file (output, body_file, multipart) failed: not the network's fault, and whatever
    -- status the handle holds is not this failure's.
    fields.kind, fields.status = "file", nil
  end
  if kind == "tls" or kind == "too_large" or kind == "file" then fields.retryable = false end
  if kind == "auth" then fields.kind, fields.retryable = "auth", false end
  return fields
end
M.transport_fields = transport_fields

--- An API call's result or error: returns value, nil or nil, fields (zuora.Error fields).
-- (Client:classify; zuora.revenue's classify builds on it.)
function M.classify(client, req, res)
  if res.kind then return nil, transport_fields(res) end
  local status = res.status
  local data = res.data
  if status >= 200 and status < 300 then
    if req.output and res.output then return res.output end
    if data ~= nil then
      -- the usual answer, an object without a failure flag, needs no closer look
      if type(data) == "table" and data.success ~= false and data.Success ~= false and data[1] == nil then
        return data
      end
      local f = errors.parse_body(data, status)
      if f then return nil, f end
      return data
    end
    if res.json_error then
      return nil, { kind = "decode", message = "response is not valid JSON: " .. res.json_error,
        body = snippet(client.auth, res.body), retryable = false }
    end
    if res.body and res.body ~= "" then
      -- A catalogue operation that answers JSON got a web page (a captive portal, a login proxy):
      -- handing the page back as the result would only fail later, further from the cause.
      local ct = res_header(res, "content-type")
      if req.op and not req.op.accept and ct and ct:lower():find("text/html", 1, true) then
        return nil, { kind = "decode", message = "expected JSON, got " .. ct, body = snippet(client.auth, res.body),
          retryable = false }
      end
      return res.body
    end
    return true
  end
  local fields = errors.parse_body(data, status)
  if not fields then
    local ct = res_header(res, "content-type") or ""
    fields = {
      message = ("HTTP %d%s"):format(status, ct ~= "" and (" (" .. ct .. ")") or ""),
      body = snippet(client.auth, res.body),
    }
  end
  if status >= 300 and status < 400 then
    -- Not followed (another origin, or a method other than GET/HEAD): say where it pointed.
    local loc = res_header(res, "location")
    fields.message = ("HTTP %d redirect to %s not followed"):format(status,
      type(loc) == "string" and redact.url(snippet(client.auth, loc)) or "nowhere")
    fields.retryable = false
  end
  if status == 401 or status == 403 and fields.category == "authentication_failed" then
    fields.kind = "auth"
  end
  return nil, fields
end

--- A signed-URL download's result (object storage, no Zuora credential): `res` itself on a 2xx,
-- else error fields, with the Code and Message of storage's XML error body. `label` starts the
-- message ("result file").
function M.classify_storage(res, label)
  if res.kind then
    local fields = transport_fields(res)
    fields.message = label .. ": " .. tostring(fields.message)
    return nil, fields
  end
  local status = res.status
  if status >= 200 and status < 300 then return res end
  local body = type(res.body) == "string" and res.body or ""
  local msg = body:match("<Message>([^<]*)</Message>")
  local h = res_headers(res)
  return nil, { kind = "api", status = status, code = body:match("<Code>([^<]*)</Code>"),
    message = label .. ": HTTP " .. status .. ((msg and msg ~= "") and (": " .. msg) or ""),
    request_id = h and (h["x-amz-request-id"] or h["x-request-id"]) }
end

------------------------------------------------------------------------------------------------
-- Hooks.

local function run_hook(hook, event)
  local ok, err = pcall(hook, event)
  if not ok then
    -- A failing hook must not turn a completed billing call into an error (the caller might
    -- retry a create that already happened), so it is reported and the call goes on.
    io.stderr:write("zuora: hook failed: ", tostring(err), "\n")
  end
end
M.run_hook = run_hook

------------------------------------------------------------------------------------------------
-- Redirects.

-- Redirects are followed only for these methods, only on the client's own origin, at most this often.
local FOLLOW_METHODS = SAFE_METHODS
local MAX_REDIRECTS = 5

--- The absolute URL a Location header points at, resolved against the request's URL, or nil.
local function resolve_location(base, loc)
  if type(loc) ~= "string" or loc == "" or loc:find("[%c ]") then return nil end
  local target
  if loc:find("^%a[%w+.-]*:") then
    target = loc
  elseif loc:sub(1, 2) == "//" then
    target = base:match("^(%a[%w+.-]*:)") .. loc
  elseif loc:sub(1, 1) == "/" then
    target = url.origin(base) .. loc
  else
    target = base:gsub("[?#].*$", ""):gsub("[^/]*$", "") .. loc
  end
  return url.parse(target) and target or nil
end
M.resolve_location = resolve_location

--- Follows same-origin redirects of GET and HEAD requests (credentials go only where they came
-- from). Returns the final result and the requests put on the wire on the way.
local function follow(client, req, res)
  local sends, hops = 0, 0
  while res.status and res.status >= 300 and res.status < 400 and not res.kind and hops < MAX_REDIRECTS do
    local target = resolve_location(req.url, res_header(res, "location"))
    if not target or url.origin(target) ~= client.origin then break end
    hops = hops + 1
    local hop = {}
    for k, v in pairs(req) do hop[k] = v end
    hop.url = target
    res = client.rt:send(hop)
    sends = sends + (res.sends or 1)
  end
  return res, sends
end

------------------------------------------------------------------------------------------------
-- The loop.

--- The profile of API calls (client:request, client:call_one).
M.API = { credentials = true, rails = true }

local function no_time_left(req, shown)
  return errors.new{ kind = "timeout", retryable = false, method = req.method, url = shown, deadline = true,
    message = "no time left before the overall deadline" }
end

-- A 2xx body streams to `path` through a temporary file made next to it: nil, message when no file
-- can be made there. Checked before anything is sent, so a POST is not done with its answer lost.
local function output_unwritable(path)
  local probe = path .. ".part-check-" .. core.crypto.hex(core.crypto.random(4))
  local f, err = io.open(probe, "wb")
  if not f then
    return ("cannot write the answer to %s: %s"):format(path, tostring(err):gsub("^[^:]*: ", ""))
  end
  f:close()
  os.remove(probe)
  return nil
end

--- Sends `req` (a transport request table) as profile `how` says, with hooks and retries.
-- Returns value, nil, meta ({status, headers, header_block, request_id, attempts, sends, elapsed,
-- gone}) or nil, err (a zuora.Error with attempts, sends, idempotency_key, outcome_unknown; of
-- kind "closed" once client:close() ran).
function M.run(client, req, how)
  if req.output then
    local why = output_unwritable(req.output)
    if why then
      return nil, errors.new{ kind = "file", message = why, retryable = false, method = req.method,
        url = client:redacted_url(req.url), attempts = 0, sends = 0 }
    end
  end
  if how.rails and (client.guarded or req.dry_run ~= nil) then
    -- The safety rails, before anything of the call is sent (not even a token request).
    local refused = client.policy and client.policy:check(req.method, access.path_of(req.url, client.base_url),
      req.op)
    if refused then
      refused.method, refused.url = req.method, client:redacted_url(req.url)
      return nil, errors.new(refused)
    end
    local dry = req.dry_run
    if dry == nil then dry = client.dry_run end
    if dry then return require("zuora.dryrun").describe(client, req) end
  end
  local rt = client.rt
  local kind = req.kind
  if kind == nil then -- prepare and call_one set both; requests made elsewhere get them here
    kind = policy.kind(req.method, nil, req.idempotency_key ~= nil)
    req.kind = kind
    if req.fresh_connect == nil then req.fresh_connect = kind == "unsafe" end
  end
  local classify, before, deadline = how.classify, how.before, req.deadline
  local timeout0 = deadline and req.timeout
  local attempt, refreshed = 0, false
  local clipped = false -- this attempt's timeout is the time left before the deadline
  -- sends: requests put on the wire over all attempts (libcurl may resend one by itself);
  -- unsure: an attempt may have done the work although we never heard the answer.
  local sends, unsure = 0, false
  local hooks = client.on_request or client.on_response
  -- the shared budget (zuora.governor): API calls and token requests hold a slot while in flight
  local gov = client.governor
  if gov and how.mark == "download" then gov = false end
  local op, hook_url
  while true do
    attempt = attempt + 1
    -- client:close() (from another task) ends the call; its auth object is wiped by then
    if client.closed then return nil, errors.closed(req.method, redact.url(req.url), attempt - 1, sends) end
    if before then
      local value, err = before(client, req, attempt)
      if value ~= nil or err ~= nil then return value, err end
    end
    if hooks and not hook_url then
      hook_url = client:redacted_url(req.url)
      local e = req.op
      op = e and (e.group and (e.group .. "." .. e.name) or e.name) or nil
    end
    if deadline then
      local left = deadline - rt.now()
      if left <= 0 then
        local err = no_time_left(req, hook_url or client:redacted_url(req.url))
        err.attempts, err.sends = attempt - 1, sends
        return nil, err
      end
      local own = timeout0 or req.timeout -- a token request's `before` sets its timeout each attempt
      clipped = not (own and own > 0 and own < left)
      req.timeout = clipped and left or own
    end
    if how.credentials and client.uses_tokens then
      local ok, aerr = client:ensure_token(deadline)
      if not ok then
        aerr.attempts, aerr.sends = attempt, sends
        return nil, aerr
      end
    end
    if client.on_request then
      local event = { method = req.method, url = hook_url,
        headers = redact.header_lines(req.headers or {}, client.auth),
        attempt = attempt, op = op, idempotency_key = req.idempotency_key }
      if how.mark then event[how.mark] = true end
      run_hook(client.on_request, event)
    end
    local t0 = hooks and rt.now()
    local res, slot, ticket
    if gov then
      slot, ticket = gov:acquire(req)
      if not slot then
        ticket.attempts, ticket.sends, ticket.method = attempt, sends, req.method
        ticket.url = hook_url or client:redacted_url(req.url)
        return nil, ticket
      end
    end
    if req.on_progress then res = require("zuora.progress").watch(rt, req) else res = rt:send(req) end
    if slot then gov:release(slot, ticket, res) end
    if client.closed then return nil, errors.closed(req.method, redact.url(req.url), attempt, sends + 1) end
    sends = sends + (res.sends or 1)
    local status = res.status
    if status and status >= 300 and status < 400 and not res.kind and FOLLOW_METHODS[req.method] then
      local hop_sends
      res, hop_sends = follow(client, req, res)
      sends = sends + hop_sends
    end
    local value, fields
    if classify then value, fields = classify(client, req, res) else value, fields = client:classify(req, res) end
    local gone = false
    if value == nil and req.method == "DELETE" and res.status == 404 and kind == "idempotent"
      and (unsure or (res.sends or 1) > 1) then -- (sends > 1: the transport repeated it on a new connection)
      -- An earlier send of this DELETE may have removed the object: it is gone, as asked.
      value, fields, gone = true, nil, true
    end

    if value ~= nil then
      local elapsed = res.time or 0
      if client.on_response then
        local event = { method = req.method, url = hook_url, status = res.status, attempt = attempt,
          headers = redact.response_headers(res, client.auth), elapsed = rt.now() - t0,
          request_id = redact.text(client.auth, res_header(res, "zuora-request-id")),
          op = op, sends = res.sends }
        if how.mark then event[how.mark] = true end
        run_hook(client.on_response, event)
      end
      -- meta's headers are shown redacted, made when first read (zuora.redact)
      -- (request_id too: a server could put anything in that header)
      return value, nil, redact.meta(client.auth, { status = res.status, attempts = attempt,
        sends = sends, elapsed = elapsed, gone = gone or nil }, res)
    end

    local request_id = res_header(res, "zuora-request-id")
    -- (a local file's failure has no status: the handle may still hold an earlier call's)
    if fields.kind ~= "file" then fields.status = fields.status or (res.status ~= 0 and res.status or nil) end
    fields.method = req.method
    fields.url = hook_url or client:redacted_url(req.url)
    fields.request_id = fields.request_id or request_id
    fields.attempts = attempt
    fields.sends = sends
    redact.fields(client.auth, fields) -- every string a server put there (reasons, results, ...)
    local err = errors.new(fields)
    err.idempotency_key = req.idempotency_key
    if clipped and res.kind == "timeout" then
      -- the deadline cut this attempt short: whatever the policy decides, the deadline ended it
      err.deadline, err.retryable = true, false
      err.hint = hints.for_error(err)
    end

    local retry, unknown = policy.decide(kind, res, err, unsure)
    if unknown then unsure = true end
    -- A write that fails after an attempt whose answer was lost may have been done: say so, and
    -- give back its key, so the caller can repeat it later with the same key (Zuora then answers
    -- with the first attempt's result instead of doing it twice).
    if unsure and not SAFE_METHODS[req.method] and not how.reads then err.outcome_unknown = true end
    -- An unsafe request the policy will not repeat is not worth another try by the caller either.
    if kind == "unsafe" and not retry then err.retryable = false end

    local again, retry_in, free = false, nil, false
    if res.status == 401 and how.credentials and client.uses_tokens and not refreshed then
      -- The token was revoked or expired early: get a new one once, without counting an attempt.
      refreshed, again, retry_in, free = true, true, 0, true
      -- the generation whose credentials this attempt carried, so a newer token survives
      client.auth:invalidate(res.auth_generation or client.auth:generation())
    elseif retry and attempt <= client.max_retries then
      again = true
      retry_in = policy.backoff(attempt, client.retry_base, client.retry_cap,
        policy.retry_after(res_header(res, "retry-after"), client.retry_after_cap))
      if deadline and rt.now() + retry_in >= deadline then
        -- No time for another attempt: the call ends now (not at the deadline), as a timeout that
        -- keeps what the last answer said (status, code, request id) and how long it asked to wait.
        err.message = ("deadline: no time for another attempt (next in %.3g s): %s"):format(retry_in,
          tostring(err.message))
        again, retry_in = false, nil
        err.kind, err.deadline, err.retryable = "timeout", true, false
        err.hint = hints.for_error(err)
      end
    end
    if client.on_response then
      local event = { method = req.method, url = hook_url, status = res.status, attempt = attempt,
        headers = redact.response_headers(res, client.auth), elapsed = rt.now() - t0,
        request_id = redact.text(client.auth, request_id), op = op,
        error = err, retry_in = retry_in, sends = res.sends }
      if how.mark then event[how.mark] = true end
      run_hook(client.on_response, event)
    end
    if not again then return nil, err end
    if free then attempt = attempt - 1 end
    -- the wait is cut short by client:close() (from another task)
    if retry_in > 0 then rt:wait_until(function() return client.closed end, retry_in) end
  end
end

return M
