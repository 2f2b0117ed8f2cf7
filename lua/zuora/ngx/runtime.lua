--- zuora.ngx.runtime: the client's runtime inside ngx_lua (nginx / OpenResty). Requests go over
-- cosockets (zuora.ngx.http), tasks are ngx.thread light threads, sleeping is ngx.sleep. Nothing
-- here blocks the worker, and libcurl is never used. It offers what zuora.async offers (send,
-- sleep, wait_until, spawn, gather, map, run), with the same semantics where ngx_lua allows;
-- the differences are listed in docs/concurrency.md.
local detect = require "zuora.ngx.detect"
local http = require "zuora.ngx.http"
local taskset = require "zuora.taskset"

local ngx = rawget(_G, "ngx")
local semaphore = require "ngx.semaphore"

local now = require("zuora.ngx.clock").now
local unpack = table.unpack or unpack -- luacheck: ignore 143
local pack = table.pack or function(...) return { n = select("#", ...), ... } end

local M = {}

local Runtime = {}
Runtime.__index = Runtime
M.Runtime = Runtime

local Task = {}
Task.__index = Task
Task.__name = "zuora.Task"
M.Task = Task

-- How often a wait_until re-checks its condition without being notified.
local COND_RECHECK = 0.1
-- Longest single wait on a semaphore (the loops around them re-check and wait again).
local SEMA_WAIT = 5

-- Raised inside a task that was cancelled from a coroutine other than its parent (ngx_lua lets
-- only the parent kill a light thread): it stops the task at its next call into the client.
local CANCELLED = setmetatable({}, { __tostring = function() return "zuora: task cancelled" end })

-- Per-request bookkeeping (tasks spawned in this request, for run()) lives in ngx.ctx under a
-- private key.
local CTX_KEY = {}

--- A runtime for `client` (a zuora Client under construction) with the client's options.
function M.new(client, opts, level)
  level = (level or 1) + 1
  if opts.ca_file or opts.ca_path then
    error("zuora.new: ca_file and ca_path cannot be applied per connection under OpenResty: name the CA in "
      .. "nginx.conf with lua_ssl_trusted_certificate (verification stays on)", level)
  end
  local self = setmetatable({
    http_opts = { insecure = opts.insecure, max_body = opts.max_body, keepalive_timeout = 60, pool_size = 64 },
    by_co = setmetatable({}, { __mode = "k" }), -- coroutine -> task
    conds = {},                                 -- semaphores of wait_until callers
    waiting = 0,                                -- how many there are
    leases = {},                                -- concurrency slots in use
  }, Runtime)
  if opts.max_concurrency then
    self.limit = opts.max_concurrency
    self.slots = assert(semaphore.new(opts.max_concurrency))
  end
  if opts.token_cache then
    if client.mode ~= "oauth" then
      error("zuora.new: token_cache needs OAuth credentials (client_id and client_secret)", level)
    end
    self.cache = require("zuora.ngx.token_cache").new(opts.token_cache, {
      token_url = opts.token_url or (client.base_url .. "/oauth/token"),
      client_id = opts.client_id, client_secret = opts.client_secret,
      refresh_margin = client.refresh_margin,
      lock_ttl = client.timeout + client.connect_timeout + 1,
    }, level)
  end
  return self
end

Runtime.now = now -- called as rt.now(), a plain function

------------------------------------------------------------------------------------------------
-- Tasks and cancellation checks.

--- The task running the caller, or nil.
function Runtime:current()
  return self.by_co[coroutine.running()]
end

-- Every entry point checks the phase (a clear error instead of ngx_lua's "API disabled") and
-- stops a task that was cancelled from outside its parent. The coroutine is looked up only once
-- a task was ever spawned (coroutine.running is not compiled by LuaJIT: it would cut the trace of
-- every call).
local COSOCKET_PHASES = detect.COSOCKET_PHASES
local function enter(self, what)
  if not COSOCKET_PHASES[ngx.get_phase()] then detect.check_phase(what, 3) end
  if not self.spawned then return nil end
  local task = self.by_co[coroutine.running()]
  if task and task.cancel_requested then error(CANCELLED, 0) end
  return task
end

local function request_tasks()
  local ctx = ngx.ctx
  local list = ctx[CTX_KEY]
  if not list then
    list = {}
    ctx[CTX_KEY] = list
  end
  return list
end

function Runtime:_finish(task, status, results, err)
  if task.done then return end
  task.done, task.status, task.results, task.error = true, status, results, err
  for sema in pairs(task.watchers) do sema:post(1) end
  task.watchers = {}
end

local is_callable, safe_tostring = taskset.is_callable, taskset.safe_tostring

--- Starts fn(...) as a task on an ngx.thread; like zuora.async, fn does not run before spawn
-- returns (it starts when the caller next waits or calls ngx_lua).
function Runtime:spawn(fn, ...)
  enter(self, "spawn")
  if not is_callable(fn) then error("spawn: expected a function", 2) end
  local task = setmetatable({ rt = self, done = false, status = "pending", watchers = {} }, Task)
  local args = pack(...)
  local function on_error(e)
    if e ~= CANCELLED then task.traceback = debug.traceback(safe_tostring(e), 2) end
    return e
  end
  local th, err = ngx.thread.spawn(function()
    -- Give control back at once (ngx_lua resumes the thread at the spawner's next ngx_lua call
    -- or wait), so spawn returns before fn runs, as in the plain Lua runtime.
    coroutine.yield()
    if task.done then return end -- cancelled before it started
    local r = pack(xpcall(fn, on_error, unpack(args, 1, args.n)))
    if r[1] then
      self:_finish(task, "done", r, nil)
    elseif r[2] ~= CANCELLED then
      self:_finish(task, "failed", nil, r[2])
    end
  end)
  if not th then error("spawn: " .. tostring(err), 2) end
  task.thread = th
  self.by_co[th] = task
  self.spawned = true
  local list = request_tasks()
  list[#list + 1] = task
  return task
end

--- Waits until pred() is true; pred is re-checked whenever one of `tasks` finishes.
function Runtime:_wait_for(tasks, pred)
  enter(self, "waiting for tasks")
  while not pred() do
    local sema = semaphore.new(0)
    local pending = 0
    for _, t in ipairs(tasks) do
      if not t.done then
        t.watchers[sema] = true
        pending = pending + 1
      end
    end
    if pending == 0 then error("zuora: waiting for finished tasks whose condition never holds", 2) end
    sema:wait(SEMA_WAIT)
    for _, t in ipairs(tasks) do t.watchers[sema] = nil end
    enter(self, "waiting for tasks")
  end
end

--- Waits for the task; returns its function's returns, or nil, err (raised value, or an error
-- of kind "cancelled").
function Task:wait()
  self.observed = true
  if not self.done then
    local rt = self.rt
    if rt:current() == self then error("a task cannot wait for itself", 2) end
    rt:_wait_for({ self }, function() return self.done end)
  end
  if self.status ~= "done" then return nil, self.error end
  return unpack(self.results, 2, self.results.n)
end

--- Cancels the task. From the coroutine that spawned it, at once (ngx.thread.kill); from any
-- other coroutine, wait() reports the cancellation at once and the thread stops at its next
-- call into the client. Returns true if the task was still running.
function Task:cancel(reason)
  if self.done then return false end
  local rt = self.rt
  if rt:current() == self then error("a task cannot cancel itself (return from it instead)", 2) end
  if ngx.thread.kill(self.thread) then
    -- The thread is gone: give back what it held.
    if self.lease then rt:_release(self.lease, self) end
    if self.token_auth then
      self.token_auth:fail("token request cancelled")
      self.token_auth = nil
      if rt.cache then rt.cache:unlock() end
    end
  else
    -- Not our child: it keeps its slot until its current request ends, then stops.
    self.cancel_requested = true
  end
  rt:_finish(self, "cancelled", nil, taskset.cancelled(type(reason) == "string" and reason or nil))
  return true
end

function Task:is_done()
  return self.done
end

function Task:__tostring()
  return "zuora.Task<" .. self.status .. ">"
end

--- Waits for every task spawned in this request (or timer); raises if one failed and nobody
-- waited for it.
function Runtime:run()
  enter(self, "run")
  if self:current() then error("run() cannot be called from inside a task (use wait or gather)", 2) end
  local list = request_tasks()
  self:_wait_for(list, function()
    for _, t in ipairs(list) do if not t.done then return false end end
    return true
  end)
  local failed = {}
  for _, t in ipairs(list) do
    if t.status == "failed" and not t.observed then failed[#failed + 1] = t end
    t.observed = true
  end
  ngx.ctx[CTX_KEY] = nil
  if #failed > 0 then
    local first = failed[1]
    local msg = ("%d task(s) failed and nobody waited for them; the first: %s"):format(#failed,
      tostring(first.error))
    if first.traceback then msg = msg .. "\n" .. first.traceback end
    error(msg, 2)
  end
  return true
end

function Runtime:gather(fns, opts)
  enter(self, "gather")
  return taskset.gather(self, fns, opts, 2)
end

function Runtime:map(items, fn, opts)
  enter(self, "map")
  return taskset.map(self, items, fn, opts, 2)
end

------------------------------------------------------------------------------------------------
-- Sleeping and conditions.

--- Sleeps without blocking the worker (ngx.sleep).
function Runtime:sleep(seconds)
  if type(seconds) ~= "number" or seconds ~= seconds then error("sleep: seconds must be a number", 2) end
  enter(self, "sleep")
  ngx.sleep(math.max(seconds, 0))
  enter(self, "sleep")
end

-- Wakes every wait_until caller so it re-checks its condition (after each finished request).
-- self.waiting counts the callers registered in self.conds (an empty loop is not free either).
function Runtime:_notify()
  if self.waiting == 0 then return end
  for sema in pairs(self.conds) do sema:post(1) end
end

--- Waits until pred() is true, at most `timeout` seconds when given. Returns true, or false on
-- timeout.
function Runtime:wait_until(pred, timeout)
  enter(self, "wait_until")
  if pred() then return true end
  local deadline = timeout and now() + timeout
  while true do
    local sema = semaphore.new(0)
    self.conds[sema], self.waiting = true, self.waiting + 1
    local wait = COND_RECHECK
    if deadline then wait = math.max(0.001, math.min(wait, deadline - now())) end
    sema:wait(wait)
    self.conds[sema], self.waiting = nil, self.waiting - 1
    enter(self, "wait_until")
    if pred() then return true end
    if deadline and now() >= deadline then return false end
  end
end

------------------------------------------------------------------------------------------------
-- The concurrency cap: a semaphore of max_concurrency slots. A slot taken by a light thread that
-- nginx killed (its request was aborted) would never come back, so each slot is a lease that
-- expires when the request holding it must be over (its own timeouts) and is reclaimed then.

function Runtime:_acquire(task, req)
  if not self.slots then return nil end
  while true do
    local ok = self.slots:wait(SEMA_WAIT)
    if ok then break end
    local t = now()
    for lease in pairs(self.leases) do
      if lease.expires <= t then
        self.leases[lease] = nil
        self.slots:post(1)
      end
    end
    enter(self, "a Zuora call")
  end
  local lease = { expires = now() + (req.timeout or 60) + (req.connect_timeout or 10) + 5 }
  self.leases[lease] = true
  if task then task.lease = lease end
  return lease
end

function Runtime:_release(lease, task)
  if task then task.lease = nil end
  if lease and self.leases[lease] then
    self.leases[lease] = nil
    self.slots:post(1)
  end
end

------------------------------------------------------------------------------------------------
-- Sending.

--- client:close() calls it: requests in flight end with a result of kind "closed" when they come
-- back, and none starts afterwards.
function Runtime:close()
  self.closed = true
  self:_notify() -- retry waits (wait_until) look again
end

-- No usable credentials: nothing was sent (as core.http's result for the same failure).
local function auth_failure(msg)
  return { id = 0, status = 0, headers = {}, kind = "auth", error = msg, time = 0, bytes = 0, sends = 0 }
end

--- Performs a core.http-style request table over a cosocket; returns a core.http-style result.
-- `auth = a` adds a's credential headers; `token_for = a` sends a's token request and feeds the
-- reply to `a` (the reply body, which holds the token, is not returned).
local function closed_result()
  return { id = 0, status = 0, headers = {}, kind = "closed", error = "the client was closed", time = 0, bytes = 0 }
end

function Runtime:send(req)
  if self.closed then return closed_result() end
  local task = enter(self, "a Zuora call")
  local lease = self:_acquire(task, req)
  local body, extra, gen = nil, nil, nil
  if req.auth then
    local err
    -- the credential lines go out after the request's own (http.request's `extra`)
    extra, err = req.auth:headers(now())
    if not extra then
      self:_release(lease, task)
      return auth_failure(err)
    end
    gen = req.auth:generation()
  end
  local a = req.token_for
  if a then
    body = a:token_body()
    if task then task.token_auth = a end
  end
  local ok, res = pcall(http.request, req, self.http_opts, nil, body, extra)
  if task then task.token_auth = nil end
  if self.closed then -- client:close() ran meanwhile: its auth object is wiped, the answer is moot
    self:_release(lease, task)
    if a and self.cache then self.cache:unlock() end
    return closed_result()
  end
  if task and task.cancel_requested then -- cancelled meanwhile from outside: drop the answer, stop
    self:_release(lease, task)
    if a then
      if ok and not res.kind then a:accept(res.status, res.body or "", res.headers, now()) else a:fail("cancelled") end
      if self.cache then self.cache:unlock() end
    end
    error(CANCELLED, 0)
  end
  self:_release(lease, task)
  if not ok then
    if a then a:fail("token request failed") end
    if a and self.cache then self.cache:unlock() end
    error(res, 0)
  end
  res.auth_generation = gen
  if a then
    if res.kind then
      a:fail(res.error)
    else
      local accepted, err = a:accept(res.status, res.body or "", res.headers, now())
      if accepted then
        if self.cache then self.cache:store(a, res.body) end
      else
        res.kind, res.error = "auth", err
      end
    end
    if self.cache then self.cache:unlock() end
    res.body, res.data, res.json_error = nil, nil, nil
  end
  self:_notify()
  return res
end

--- With a shared token cache: loads a token another worker fetched into `auth`, or waits while
-- another worker fetches one. Returns true when the caller should look at auth's state again,
-- false when it should fetch the token itself (it then holds the shared lock).
function Runtime:load_token(auth)
  -- Checked here too, before the client marks a token request pending (it would stay pending).
  enter(self, "a Zuora call")
  if not self.cache then return false end
  return self.cache:load(auth, function(what) return enter(self, what) end)
end

------------------------------------------------------------------------------------------------
-- The pollable face belongs to the plain Lua runtime: under OpenResty nginx is the event loop.

local function no_pollable()
  error("zuora: under OpenResty nginx runs the event loop: there is no pollfd/step (use ngx.thread, "
    .. "client:spawn and client:gather)", 3)
end
Runtime.pollfd, Runtime.events, Runtime.timeout, Runtime.step = no_pollable, no_pollable, no_pollable, no_pollable

return M
