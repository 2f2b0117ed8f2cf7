--- The Zuora client: construction (options, credentials, runtime), catalogue groups as fields,
-- and the entry points of a call. The rooms of a call (docs/ARCHITECTURE.md): zuora.prepare builds
-- the request table, zuora.pipeline runs the attempts (hooks, transfer, classification, retries),
-- zuora.retry_policy decides what may be repeated, zuora.token keeps the credentials usable.
local core = require "zuora.core"
local environments = require "zuora.environments"
local options = require "zuora.options"
local pipeline = require "zuora.pipeline"
local policy = require "zuora.retry_policy"
local prepare = require "zuora.prepare"
local redact = require "zuora.redact"
local token = require "zuora.token"
local access = require "zuora.access"

local url = core.url
local run, API = pipeline.run, pipeline.API
local compile, segment = prepare.compile, prepare.segment
local check_header_value, version_string = prepare.check_header_value, prepare.version_string

local M = {}

local Client = {}
M.Client = Client

local DEFAULTS = {
  timeout = 60, connect_timeout = 10, max_retries = 3,
  retry_base = 0.5, retry_cap = 8, retry_after_cap = 60, refresh_margin = 300,
}

------------------------------------------------------------------------------------------------
------------------------------------------------------------------------------------------------
-- Construction.

--- Hook: the runtime a new client runs on (send, sleep, wait_until, spawn, gather, map, run).
-- Inside ngx_lua: cosockets and ngx.thread (zuora.ngx.runtime); elsewhere: libcurl's multi handle
-- under coroutine tasks (zuora.async). The `transport` option ("curl" | "ngx") forces one.
function M.make_runtime(self, opts, level)
  if require("zuora.ngx.detect").wanted(opts.transport, (level or 1) + 1) then
    return require("zuora.ngx.runtime").new(self, opts, (level or 1) + 1)
  end
  local transport = core.http.new{
    ca_file = opts.ca_file, ca_path = opts.ca_path, insecure = opts.insecure,
    max_body = opts.max_body, http2 = opts.http2,
  }
  self.transport = transport
  return require("zuora.async").new(transport, { max_concurrency = opts.max_concurrency })
end

--- The part of construction every client on this pipeline shares (zuora.revenue.client too): a
-- client of metatable `mt` at `base` with credential `mode`, `fields` (the product's own), and the
-- pipeline options of `opts` with their defaults. Give it `auth`, then call M.finish.
function M.construct(mt, opts, mode, base, fields)
  local self = {
    base_url = base,
    origin = url.origin(base),
    mode = mode,
    token_epoch = 0, token_error = false,
    closed = false, -- client:close() ran: every call ends with a `closed` error (zuora.pipeline)
  }
  for k, v in pairs(fields) do self[k] = v end
  for k, v in pairs(DEFAULTS) do self[k] = opts[k] or v end
  -- Absent optional fields are false, not nil: reading a nil field would fall through __index
  -- into the group lookup on every call.
  self.on_request, self.on_response = opts.on_request or false, opts.on_response or false
  self.track_id = opts.track_id or false
  -- Safety rails (zuora.access, zuora.dryrun): checked where every API call passes, at the start
  -- of zuora.pipeline.run.
  self.policy = access.new(opts, rawget(mt, "catalog_module"))
  self.dry_run = opts.dry_run or false
  self.guarded = (self.policy or self.dry_run) and true or false -- zuora.pipeline's one test of both
  self.decimals = opts.decimals or false
  self.deadline = opts.deadline or false -- seconds a whole call may take (zuora.pipeline)
  self.governor = false -- the shared budget (zuora.governor), when opts.shared is given
  -- The methods every call goes through, on the instance: a method missing there costs a call of
  -- __index (which also finds catalogue groups) on each use. `mt` may override them (zuora.revenue).
  self.request, self.prepare, self.classify, self.call_one = mt.request, mt.prepare, mt.classify, mt.call_one
  self.idempotency_keys = self.idempotency_keys or false
  return setmetatable(self, mt)
end

--- Finishes a client M.construct made: checks track_id, sets the base header lines (User-Agent,
-- naming `product` when given; Accept; then `extra`) and the runtime. Raises (at `level`).
function M.finish(self, opts, level, product, extra)
  level = (level or 1) + 1
  if opts.track_id then prepare.check_track_id(opts.track_id, level) end
  local info = core.http.info()
  local ua = opts.user_agent and (opts.user_agent .. " ") or ""
  ua = ua .. ("lua-zuora/%s%s (%s; libcurl/%s)"):format(core.version, product and (" " .. product) or "",
    _VERSION, info.version)
  local lines = { "User-Agent: " .. ua, "Accept: application/json" }
  for _, line in ipairs(extra or {}) do lines[#lines + 1] = line end
  self.base_headers = lines
  self.rt = M.make_runtime(self, opts, level)
  return self
end

--- Builds a client; see zuora.new for the options. Raises on any configuration mistake.
function M.new(opts, level)
  level = (level or 1) + 1
  local mode = options.check(opts, level)

  local base = opts.base_url or environments[opts.environment]
  if not base then
    local names = {}
    for name in pairs(environments) do names[#names + 1] = name end
    table.sort(names)
    error("zuora.new: unknown environment '" .. opts.environment .. "' (known: " .. table.concat(names, ", ") .. ")",
      level)
  end
  base = options.base_url("zuora.new", base, level)

  local self = M.construct(Client, opts, mode, base, {
    -- Modes whose credentials are tokens the client fetches (and must refresh) itself.
    uses_tokens = mode == "oauth",
    has_version = opts.zuora_version ~= nil,
    catalog_module = "zuora.catalog",
    idempotency_keys = true, -- Zuora honours them on POST and PATCH
  })
  self.auth = core.auth.new{
    mode = mode,
    client_id = opts.client_id, client_secret = opts.client_secret,
    token_url = opts.token_url or (base .. "/oauth/token"),
    refresh_margin = self.refresh_margin,
    username = opts.username, password = opts.password,
    access_key_id = opts.access_key_id, secret_access_key = opts.secret_access_key,
    token = opts.token,
  }
  if opts.shared then
    self.governor = require("zuora.governor").new(self, opts.shared, { base_url = base,
      client_id = opts.client_id, client_secret = opts.client_secret,
      token_url = opts.token_url or (base .. "/oauth/token") }, level)
  end

  local lines = {}
  if opts.zuora_version then
    local v = version_string(opts.zuora_version)
    check_header_value("zuora-version", v, level)
    lines[#lines + 1] = "zuora-version: " .. v
  end
  if opts.entity_ids then
    local ids = type(opts.entity_ids) == "table" and table.concat(opts.entity_ids, ",") or opts.entity_ids
    check_header_value("Zuora-Entity-Ids", ids, level)
    lines[#lines + 1] = "Zuora-Entity-Ids: " .. ids
  end
  return M.finish(self, opts, level, nil, lines)
end

M.check_track_id = prepare.check_track_id

function Client:__tostring()
  return ("zuora.Client<%s %s>"):format(self.base_url, self.mode)
end

--- A name the client does not hold: a method, a catalogue group (made on first use), nil for a
-- name of zuora.reserved (a field this client lacks), else an error naming the closest group
-- (`client.acounts`), as a typo inside a group does. `catalog` and `methods` serve zuora.revenue.
function M.lookup(self, key, catalog, reserved)
  if type(key) ~= "string" then return nil end
  local operations = require "zuora.operations"
  local group = operations.group(self, key, catalog)
  if group then
    rawset(self, key, group)
    return group
  end
  if reserved[key] then return nil end
  error(("zuora: the client has no method or group '%s'%s (zuora.operations() lists the groups)"):format(key,
    require("zuora.reserved").suggest(key, operations.groups(catalog))), 2) -- 2: __index tail-calls here
end

local RESERVED = require("zuora.reserved").client

function Client:__index(key)
  local method = Client[key]
  if method ~= nil then return method end
  return M.lookup(self, key, nil, RESERVED)
end


------------------------------------------------------------------------------------------------
-- The rooms of a call, as methods (a client type may replace one: zuora.revenue replaces
-- classify and fetch_token).

Client.prepare = prepare.prepare
Client.url_for = prepare.url_for
Client.classify = pipeline.classify
Client.ensure_token = token.ensure
Client.fetch_token = token.fetch

function Client:redacted_url(u)
  -- a closed client's auth object holds nothing to redact with (and its URLs never held a secret)
  if self.closed then return redact.url(u) end
  return self.auth:redact(redact.url(u))
end

------------------------------------------------------------------------------------------------
-- Calls.

-- Methods a one-value call may send without prepare: no body, never an Idempotency-Key.
local ONE_VALUE_METHODS = { GET = true, DELETE = true }

-- Catalogue entry -> its path template when a call given only its path value may skip prepare
-- (the entry's own part of call_one's test, done once), or false.
local one_value = setmetatable({}, { __mode = "k" })

local function one_value_template(entry)
  local t = compile(entry.path)
  local ok = ONE_VALUE_METHODS[entry.method] and #t == 3 and t[2] == entry.params[1] and t or false
  one_value[entry] = ok
  return ok
end

--- Calls catalogue operation `entry` with `value` as its one path parameter and nothing else:
-- the same as request(entry.method, entry.path, {path = {[entry.params[1]] = value}, op = entry}),
-- which is what it does for anything unusual. zuora.operations comes here for every call given
-- only its path value. For the commonest of them, a GET or DELETE such as
-- `accounts.retrieve("A1")`, it builds the request table prepare would build and hands it to the
-- same pipeline, without the two option tables and the tests of options that are not there (8% of
-- such a call's instructions, docs/benchmarks.md). That short way needs: one path parameter, a
-- non-empty string value, no client track_id (its header line is added per call) nor deadline, and the
-- library's own request and prepare (a client type or a caller that replaces either keeps its
-- own way). An entry's body type and Accept are not its
-- business: prepare never reads them (request_opts does, which is why zuora.operations sends
-- only calls of entries without them here).
function Client:call_one(entry, value)
  local t = one_value[entry]
  if t == nil then t = one_value_template(entry) end
  if not t or self.track_id or self.deadline or self.request ~= Client.request or self.prepare ~= Client.prepare
    or type(value) ~= "string" or value == "" then
    return self:request(entry.method, entry.path, { path = { [entry.params[1]] = value }, op = entry })
  end
  -- a GET, or a DELETE (idempotent, as every DELETE of the catalogue): one kind, no fresh connection
  local idempotent = entry.idempotent
  return run(self, { method = entry.method, url = self.base_url .. t[1] .. segment(value) .. t[3],
    timeout = self.timeout, connect_timeout = self.connect_timeout, decode = true, auth = self.auth,
    decimals = self.decimals or nil, headers = self.base_headers, op = entry, header_block = true,
    kind = idempotent and "idempotent" or "unsafe", fresh_connect = not idempotent or nil }, API)
end

--- Calls any endpoint: `client:request("GET", "/v1/accounts/{key}", {path = {key = "A1"}})`.
-- opts: path, query, body (table -> JSON, or a string with content_type), headers,
-- idempotency_key, zuora_version, track_id, timeout, output (stream a 2xx body to this file and
-- return the path), raw (return the body undecoded), decimals (answer's numbers as zuora.decimal),
-- multipart, body_file (with content_type), on_progress (transfer progress events, docs/bulk.md),
-- idempotent (true: a PUT or DELETE the catalogue does not know may be sent twice; false: never
-- repeat this one once it may have arrived).
-- Returns result, nil, meta ({status, headers, request_id, attempts, sends, elapsed}) or nil, err.
function Client:request(method, path, opts)
  if type(self) ~= "table" then -- client.request(...): no client came first
    error("client.request: call it with a colon, client:request(method, path, opts)", 2)
  end
  local req = self:prepare(method, path, opts, 2)
  req.header_block = true -- the response's header table only if it is read (see pipeline.res_headers)
  return run(self, req, API)
end

------------------------------------------------------------------------------------------------
-- Concurrency (see zuora.async).

--- Runs fn(...) as a task; calls inside it yield instead of blocking. Returns the task.
function Client:spawn(fn, ...)
  return self.rt:spawn(fn, ...)
end

--- Runs the functions concurrently; returns an array of packed returns in the same order.
-- opts.cancel_on_error: the first failure cancels the others (docs/concurrency.md).
function Client:gather(fns, opts)
  if type(fns) ~= "table" then error("gather: expected an array of functions", 2) end
  return self.rt:gather(fns, opts)
end

--- Calls fn(item, i) for every item, at most opts.concurrency at once (default 8).
-- Returns results, errs indexed like items. opts.cancel_on_error stops at the first error.
function Client:map(items, fn, opts)
  if type(items) ~= "table" then error("map: expected items and a function", 2) end
  return self.rt:map(items, fn, opts)
end

--- Sleeps without blocking other tasks.
function Client:sleep(seconds)
  return self.rt:sleep(seconds)
end

--- Waits for every task to finish; raises if one failed and nobody waited for it.
function Client:run()
  return self.rt:run()
end

------------------------------------------------------------------------------------------------
-- Bulk reads and async work (the logic lives in zuora.query, zuora.data_query, zuora.jobs and
-- zuora.files; docs/bulk.md).

--- Iterates the records of a ZOQL query (query, then queryMore until done); `?` placeholders are
-- bound from the extra arguments. Raises a zuora.Error when a batch fails.
function Client:query(zoql, ...)
  return require("zuora.query").pager(self, 2, zoql, ...):each()
end

--- Runs a Data Query job to completion and returns an iterator over its rows (or, with
-- opts.output, the path of the saved file), nil, job; or nil, err.
function Client:data_query(sql, opts)
  return require("zuora.data_query").run(self, sql, opts)
end

--- Waits for an async job (an id for /v1/async-jobs/{id}, or a status path); returns its final
-- reply or nil, err.
function Client:wait_job(target, opts)
  return require("zuora.jobs").wait(self, target, opts)
end

--- Uploads a usage CSV file (multipart, streamed from disk); with opts.wait, also waits for the
-- import to finish. Returns the reply (or the final import status) or nil, err.
function Client:upload_usage(path, opts)
  return require("zuora.files").upload_usage(self, path, opts)
end

--- Payment Pages 2.0: signature, token, tenant_id, key for a hosted page (zuora.payment_pages).
function Client:payment_page_signature(opts) return require("zuora.payment_pages").signature(self, opts, 2) end
--- The pollable face for foreign event loops (plain Lua runtime): an object with pollfd(),
-- events() and timeout() in the cqueues convention, and step(timeout). Wait until pollfd() is
-- readable or timeout() seconds passed, then call step(). See docs/concurrency.md.
function Client:pollable() return self.rt end

--- Runs ready tasks and finished transfers, waiting at most `timeout` seconds (default 0).
-- Returns true while tasks or transfers remain.
function Client:step(timeout) return self.rt:step(timeout) end

--- What the shared budget's store knows (zuora.governor): in_flight, waiting, limit, participants,
-- mine, limits_seen, limited (429s), object_query; or, without `shared`, this client's own view
-- ({shared = false, max_concurrency, in_flight}). nil, err when the store cannot be reached.
function Client:budget()
  if self.governor then return self.governor:budget() end
  local rt = self.rt
  return { shared = false, max_concurrency = rt.limit ~= math.huge and rt.limit or nil, in_flight = rt.inflight }
end

--- Releases the transport (connections, handles) and wipes the credentials and token the C core
-- holds (without waiting for the garbage collector). The client is unusable afterwards.
function Client:close()
  if self.governor then self.governor:close() end
  self.closed = true
  -- Calls other tasks have in flight end with a `closed` error (not a raise in the loop).
  if self.rt and self.rt.close then self.rt:close() end
  if self.transport then
    self.transport:close()
    self.transport = nil
  end
  if self.auth then self.auth:close() end
end

-- `local client <close> = zuora.new{...}` (Lua 5.4) closes it when the block ends.
Client.__close = Client.close

--- Seconds a Retry-After value asks for, within [0, cap], or nil (zuora.retry_policy.retry_after).
M.retry_after_seconds = policy.retry_after
-- For clients of other Zuora products built on this pipeline (zuora.revenue).
M.DEFAULTS = DEFAULTS
M.run_hook = pipeline.run_hook

return M
