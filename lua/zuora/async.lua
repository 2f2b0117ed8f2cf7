--- zuora.async: the curl runtime — tasks as coroutines over the C transport's non-blocking half
-- (plain Lua / LuaJIT). Its Loop implements the runtime interface the pipeline uses (send, now,
-- sleep, wait_until, spawn, gather, map, run; docs/ARCHITECTURE.md, "The runtime interface"), as
-- zuora.ngx.runtime does inside nginx.
--
-- A Loop owns one `core.http` transport. Code running inside one of its tasks yields while it
-- waits (for a transfer, a sleep, a condition, a concurrency slot or another task); code running
-- anywhere else blocks, but drives the loop while it waits, so tasks spawned earlier make progress
-- meanwhile. Yielding happens only here, in Lua; the C core never yields. The semantics (start
-- order, errors, cancellation, caps) are described in docs/concurrency.md.
local core = require "zuora.core"
local taskset = require "zuora.taskset"

local now = core.http.now
local running = coroutine.running
local unpack = table.unpack or unpack -- luacheck: ignore 143
local pack = table.pack or function(...) return { n = select("#", ...), ... } end

local M = {}

local Loop = {}
Loop.__index = Loop
M.Loop = Loop

local Task = {}
Task.__index = Task
Task.__name = "zuora.Task"
M.Task = Task

-- With only wait_until conditions pending, how often they are re-checked (they normally change
-- when a task runs or a transfer ends, which re-checks them at once).
local COND_RECHECK = 0.5
-- The longest single poll while transfers run and no timer is due (poll returns early anyway
-- when a transfer finishes).
local MAX_WAIT = 1

local YIELD = {} -- the only value our tasks yield; anything else is a misuse

-- The result of a transfer that client:close() ended.
local function closed_result()
  return { id = 0, status = 0, headers = {}, kind = "closed", error = "the client was closed", time = 0 }
end

--- A new loop over `transport` (a core.http object). opts.max_concurrency caps the requests in
-- flight (default: no cap).
function M.new(transport, opts)
  opts = opts or {}
  return setmetatable({
    t = transport,
    tasks = setmetatable({}, { __mode = "k" }), -- coroutine -> task
    ready = {},       -- tasks to resume at the next turn (wake values in task.wake_a/b)
    waiting = {},     -- transfer id -> task waiting for it
    finished = {},    -- transfer id -> result, for callers blocking outside tasks
    sleepers = {},    -- binary heap of { at, seq, task }
    seq = 0,
    conds = {},       -- { pred, task, at } waiting for a predicate (at: optional deadline)
    inflight = 0,
    limit = opts.max_concurrency or math.huge,
    slot_queue = {},  -- tasks or blocking markers waiting for a concurrency slot, FIFO
    live = 0,         -- tasks not finished yet
    failed = {},      -- tasks that raised while nobody waited for them (reported by run)
  }, Loop)
end

M.now = now
Loop.now = now -- called as loop.now(), a plain function

------------------------------------------------------------------------------------------------
-- Heap of sleepers ordered by wake time (then by arrival, so equal times keep order).

local function before(a, b)
  return a.at < b.at or (a.at == b.at and a.seq < b.seq)
end

local function heap_push(h, item)
  h[#h + 1] = item
  local i = #h
  while i > 1 do
    local p = math.floor(i / 2)
    if before(h[p], h[i]) then break end
    h[p], h[i] = h[i], h[p]
    i = p
  end
end

local function heap_pop(h)
  local top, n = h[1], #h
  -- Two statements: in `h[1], h[n] = h[n], nil` the order of the stores is unspecified, and with
  -- one element the item would stay in the heap.
  h[1] = h[n]
  h[n] = nil
  n = n - 1
  local i = 1
  while true do
    local l, r, m = 2 * i, 2 * i + 1, i
    if l <= n and before(h[l], h[m]) then m = l end
    if r <= n and before(h[r], h[m]) then m = r end
    if m == i then break end
    h[m], h[i] = h[i], h[m]
    i = m
  end
  return top
end

local function remove_value(list, v)
  if not list then return end
  for i = #list, 1, -1 do
    if list[i] == v then table.remove(list, i) end
  end
end

------------------------------------------------------------------------------------------------
-- Running tasks.

--- The task running the caller, or nil when the caller is not directly inside one of this
-- loop's tasks (outside any task, or inside a coroutine of its own that a task resumed: such
-- code cannot yield to the loop, so it blocks and drives the loop like a plain caller).
function Loop:current()
  local co = running()
  return co and self.tasks[co] or nil
end

function Loop:_wake(task, a, b)
  if task.queued or task.done then return end
  task.queued, task.wake_a, task.wake_b = true, a, b
  self.ready[#self.ready + 1] = task
end

--- Suspends `task` (the caller) until something wakes it; `kind`/`ref` say what it waits for, so
-- that cancel can undo the registration. Returns the values it is woken with.
function Loop:_park(task, kind, ref)
  task.parked, task.parked_ref = kind, ref
  local a, b = coroutine.yield(YIELD)
  task.parked, task.parked_ref = nil, nil
  return a, b
end

function Loop:_finish(task, status, results, err)
  if task.done then return end
  task.done, task.status, task.results, task.error = true, status, results, err
  self.live = self.live - 1
  local waiters = task.waiters
  task.waiters = nil
  for _, w in ipairs(waiters) do self:_wake(w) end
  if status == "failed" and not task.observed then
    -- Kept for run(); bounded, so a long-running program that never calls run() does not grow.
    if #self.failed < 100 then
      self.failed[#self.failed + 1] = task
    else
      self.failed_more = (self.failed_more or 0) + 1
    end
  end
end

function Loop:_resume(task)
  if task.done then return end
  local co = task.co
  local a, b = task.wake_a, task.wake_b
  task.queued, task.wake_a, task.wake_b = false, nil, nil
  local ok, y = coroutine.resume(co, a, b)
  if task.done then return end
  if not ok then
    -- Only reachable if the task's wrapper itself failed (out of memory): report it as a failure.
    self:_finish(task, "failed", nil, y)
  elseif coroutine.status(co) == "dead" then
    self:_finish(task, "done", pack(true), nil)
  elseif y ~= YIELD then
    -- A bare coroutine.yield inside a task: nothing would ever resume it.
    if coroutine.close then coroutine.close(co) end
    self:_finish(task, "failed", nil, "zuora.async: a task yielded outside the client (use your own "
      .. "coroutine.wrap for generators inside tasks)")
  elseif task.cancel_pending then
    self:_cancel_now(task, task.cancel_pending)
  end
end

function Loop:_run_ready()
  -- Tasks woken while this batch runs go to the next batch, so one busy task cannot starve the poll.
  local batch = self.ready
  if #batch == 0 then return end
  self.ready = {}
  for i = 1, #batch do self:_resume(batch[i]) end
end

------------------------------------------------------------------------------------------------
-- The driver.

--- Collects finished transfers, due sleepers and true conditions; wakes their tasks.
function Loop:_collect()
  local results = self.t:results()
  for i = 1, #results do
    local res = results[i]
    local task = self.waiting[res.id]
    if task then
      self.waiting[res.id] = nil
      self:_wake(task, res)
    else
      self.finished[res.id] = res
    end
  end
  local h = self.sleepers
  if h[1] then
    local t = now()
    while h[1] and h[1].at <= t do
      local s = heap_pop(h)
      if not s.cancelled then self:_wake(s.task) end
    end
  end
  if #self.conds > 0 then
    local keep, t = {}, nil
    for _, c in ipairs(self.conds) do
      if not c.cancelled then
        if c.pred() then
          self:_wake(c.task, true)
        elseif c.at and c.at <= (t or now()) then
          t = t or now()
          self:_wake(c.task, false)
        else
          keep[#keep + 1] = c
        end
      end
    end
    self.conds = keep
  end
end

-- Seconds until the next timer (sleeper, condition deadline or `deadline`), capped by `cap`;
-- nil when nothing is scheduled at all.
function Loop:_next_wait(deadline, cap)
  local wait = cap
  local t = now()
  local s = self.sleepers[1]
  if s then wait = math.min(wait or math.huge, s.at - t) end
  if deadline then wait = math.min(wait or math.huge, deadline - t) end
  for _, c in ipairs(self.conds) do
    wait = math.min(wait or math.huge, COND_RECHECK, c.at and (c.at - t) or COND_RECHECK)
  end
  if wait and wait < 0 then wait = 0 end
  return wait
end

--- One turn: run ready tasks, wait for transfers and timers (at most until `deadline`, at most
-- `cap` seconds), wake what is due. Returns false when nothing could ever make progress. A
-- blocked caller passes its `pred`: when running the tasks made it true, the turn ends early.
function Loop:_turn(deadline, cap, pred)
  self:_run_ready()
  self:_collect()
  if pred and pred() then return true end
  local wait = 0
  if #self.ready == 0 then
    wait = self:_next_wait(deadline, cap)
    if wait == nil then
      if self.t:running() == 0 then return false end
      wait = MAX_WAIT
    end
  end
  self.t:poll(wait)
  self:_collect()
  return true
end

--- Drives the loop until pred() is true (callers outside tasks only). `deadline` (absolute, from
-- `now()`) is a time by which pred may become true on its own (a sleep).
function Loop:_block_until(pred, deadline)
  while not pred() do
    if not self:_turn(deadline, nil, pred) and not pred() then
      error("zuora.async: deadlock: waiting for something no task or transfer can provide", 3)
    end
  end
end

--- True while tasks are unfinished or transfers are running.
function Loop:busy()
  return self.live > 0 or #self.ready > 0 or self.t:running() > 0 or next(self.waiting) ~= nil
end

--- Runs until every task has finished. Raises if a task failed (raised an error) and nobody
-- waited for it, so that no error is lost; the message names the first such error.
function Loop:run()
  if self:current() then error("run() cannot be called from inside a task (use wait or gather)", 2) end
  self:_block_until(function() return self.live == 0 and #self.ready == 0 end)
  local failed = {}
  for _, task in ipairs(self.failed) do
    if not task.observed then failed[#failed + 1] = task end
    task.observed = true
  end
  local more = self.failed_more or 0
  self.failed, self.failed_more = {}, nil
  if #failed > 0 then
    local first = failed[1]
    local msg = ("%d task(s) failed and nobody waited for them; the first: %s"):format(#failed + more,
      tostring(first.error))
    if first.traceback then msg = msg .. "\n" .. first.traceback end
    error(msg, 2)
  end
  return true
end

------------------------------------------------------------------------------------------------
-- The pollable face, for foreign event loops (cqueues convention: pollfd, events, timeout).

--- A file descriptor that becomes readable when a transfer needs attention (epoll, Linux).
function Loop:pollfd()
  return self.t:pollfd()
end

--- The events to wait for on pollfd(): always "r".
function Loop:events()
  return "r"
end

--- Seconds until the loop needs step() even if pollfd() stays quiet: 0 when tasks are ready to
-- run, nil when nothing is scheduled.
function Loop:timeout()
  if #self.ready > 0 then return 0 end
  local wait = self:_next_wait(nil, nil)
  local tt = self.t:timeout()
  if tt and (wait == nil or tt < wait) then wait = tt end
  return wait
end

--- Runs one turn without blocking longer than `timeout` seconds (default 0): resumes ready tasks,
-- collects finished transfers and due timers. Returns busy() (true while work remains).
function Loop:step(timeout)
  if self:current() then error("step() cannot be called from inside a task", 2) end
  if timeout ~= nil and (type(timeout) ~= "number" or timeout < 0) then
    error("step: timeout must be a number >= 0", 2)
  end
  self:_turn(nil, timeout or 0)
  self:_run_ready()
  return self:busy()
end

------------------------------------------------------------------------------------------------
-- What the client calls: these yield inside tasks and block (driving the loop) elsewhere.

function Loop:_acquire(task)
  if self.inflight < self.limit then
    self.inflight = self.inflight + 1
    if task then task.holds_slot = true end
    return
  end
  if task then
    self.slot_queue[#self.slot_queue + 1] = task
    self:_park(task, "slot", nil) -- the releaser hands its slot over (and sets holds_slot)
  else
    local marker = { granted = false }
    self.slot_queue[#self.slot_queue + 1] = marker
    self:_block_until(function() return marker.granted end)
  end
end

function Loop:_release(task)
  if task then task.holds_slot = false end
  local nxt = table.remove(self.slot_queue, 1)
  if not nxt then
    self.inflight = self.inflight - 1
  elseif getmetatable(nxt) == Task then
    nxt.holds_slot = true
    self:_wake(nxt)
  else
    nxt.granted = true
  end
end

--- Submits a core.http request and returns its result table once finished.
function Loop:send(req)
  if self.closed then return closed_result() end -- (the transport is an empty stand-in now)
  local co = running()
  local task = co and self.tasks[co] or nil -- self:current(), inlined on the hot path
  -- Fast path: a call outside any task while nothing else is going on has nobody to share the
  -- loop with, so the transport's own blocking perform drives it (fewer turns through Lua). Idle:
  -- no task ready, no slot taken, no sleeper, no condition, no transfer (cheapest checks first).
  if not task and self.inflight == 0 and #self.ready == 0 and self.sleepers[1] == nil and #self.conds == 0
    and self.t:running() == 0 then
    return self.t:perform(req)
  end
  self:_acquire(task)
  local ok, id, serr = pcall(self.t.submit, self.t, req)
  if not ok or not id then
    self:_release(task)
    if not ok then error(id, 0) end -- bad arguments: the caller's mistake, raise it
    return { error = serr or "submit failed", kind = "transport", status = 0 }
  end
  if req.on_submit then req.on_submit(id) end -- zuora.progress watches the transfer by its id
  local res
  if task then
    self.waiting[id] = task
    res = self:_park(task, "transfer", id)
  else
    self:_block_until(function() return self.finished[id] ~= nil or self.closed end)
    res = self.finished[id] or closed_result()
    self.finished[id] = nil
  end
  self:_release(task)
  return res
end

--- Sleeps `seconds` without stopping other tasks. Inside a task, sleep(0) lets the others run.
function Loop:sleep(seconds)
  if type(seconds) ~= "number" or seconds ~= seconds then error("sleep: seconds must be a number", 2) end
  local task = self:current()
  if task then
    self.seq = self.seq + 1
    local entry = { at = now() + math.max(seconds, 0), seq = self.seq, task = task }
    heap_push(self.sleepers, entry)
    self:_park(task, "sleep", entry)
  elseif seconds > 0 then
    local at = now() + seconds
    self:_block_until(function() return now() >= at end, at)
  end
end

--- Waits until pred() is true, at most `timeout` seconds when given. pred is checked after every
-- loop turn. Returns true, or false when the timeout passed first.
function Loop:wait_until(pred, timeout)
  if pred() then return true end
  local deadline = timeout and now() + timeout
  local task = self:current()
  if task then
    local c = { pred = pred, task = task, at = deadline }
    self.conds[#self.conds + 1] = c
    return (self:_park(task, "cond", c))
  end
  local expired = false
  self:_block_until(function()
    if pred() then return true end
    if deadline and now() >= deadline then expired = true end
    return expired
  end, deadline)
  return not expired
end

--- Waits until pred() is true; pred is re-checked whenever one of `tasks` finishes.
function Loop:_wait_for(tasks, pred)
  local cur = self:current()
  if not cur then return self:_block_until(pred) end
  while not pred() do
    local pending = {}
    for _, t in ipairs(tasks) do
      if not t.done then
        t.waiters[#t.waiters + 1] = cur
        pending[#pending + 1] = t
      end
    end
    if #pending == 0 then error("zuora.async: waiting for finished tasks whose condition never holds", 2) end
    self:_park(cur, "tasks", pending)
    for _, t in ipairs(pending) do remove_value(t.waiters, cur) end
  end
end

------------------------------------------------------------------------------------------------
-- Closing.

-- The stand-in a closed loop polls (it never carries a transfer): one for the whole process, made
-- on first use, so closing clients does not leave an epoll descriptor each until the collector.
local stand_in
local function closed_transport()
  stand_in = stand_in or core.http.new{}
  return stand_in
end

--- Ends every transfer in flight with a result of kind "closed" (the tasks waiting for them go
-- on, and the client turns it into a `closed` error), then swaps the transport, which the client
-- closes next, for an empty one: the loop keeps running the tasks' sleeps and waits without
-- touching a closed transport. `client:close()` calls it, also from inside a task.
function Loop:close()
  if self.closed then return end
  self.closed = true
  local t = self.t
  for id, task in pairs(self.waiting) do
    self.waiting[id] = nil
    pcall(t.cancel, t, id)
    self:_wake(task, closed_result())
  end
  self.finished = {}
  self.t = closed_transport()
end

------------------------------------------------------------------------------------------------
-- Tasks.

local is_callable, safe_tostring = taskset.is_callable, taskset.safe_tostring

--- Starts fn(...) as a task; it first runs at the next loop turn (spawn never runs fn before it
-- returns). Returns the task.
function Loop:spawn(fn, ...)
  if not is_callable(fn) then error("spawn: expected a function", 2) end
  local task = setmetatable({ loop = self, waiters = {}, done = false, status = "pending" }, Task)
  local args = pack(...)
  local function on_error(e)
    task.traceback = debug.traceback(safe_tostring(e), 2)
    return e
  end
  task.co = coroutine.create(function()
    local r = pack(xpcall(fn, on_error, unpack(args, 1, args.n)))
    if r[1] then
      self:_finish(task, "done", r, nil)
    else
      self:_finish(task, "failed", nil, r[2])
    end
  end)
  self.tasks[task.co] = task
  self.live = self.live + 1
  self:_wake(task)
  return task
end

--- Waits for the task and returns what its function returned. If it raised, returns nil, err
-- (the raised value, unchanged); if it was cancelled, nil and an error of kind "cancelled".
function Task:wait()
  self.observed = true
  if not self.done then
    local loop = self.loop
    local cur = loop:current()
    if cur == self then error("a task cannot wait for itself", 2) end
    loop:_wait_for({ self }, function() return self.done end)
  end
  if self.status ~= "done" then return nil, self.error end
  return unpack(self.results, 2, self.results.n)
end

--- Cancels the task: the request it waits for is aborted (a write may or may not have reached
-- Zuora), its sleep or wait ends, and its coroutine is closed (to-be-closed variables run on Lua
-- 5.4). wait() then returns nil and an error of kind "cancelled". Returns true if the task was
-- still running, false if it had already finished.
function Task:cancel(reason)
  if self.done then return false end
  local loop = self.loop
  if loop:current() == self then error("a task cannot cancel itself (return from it instead)", 2) end
  if coroutine.status(self.co) ~= "suspended" then
    -- It is running further up the stack (it resumed a coroutine that called us): cancel it as
    -- soon as it yields back to the loop.
    self.cancel_pending = reason or true
    return true
  end
  loop:_cancel_now(self, reason)
  return true
end

function Loop:_cancel_now(task, reason)
  local kind, ref = task.parked, task.parked_ref
  if kind == "transfer" then
    self.waiting[ref] = nil
    self.t:cancel(ref) -- also puts an auth object back to need_token if this was its token request
  elseif kind == "slot" then
    remove_value(self.slot_queue, task)
  elseif kind == "sleep" or kind == "cond" then
    ref.cancelled = true
  elseif kind == "tasks" then
    for _, t in ipairs(ref) do remove_value(t.waiters, task) end
  end
  if task.holds_slot then self:_release(task) end
  task.queued = false
  if coroutine.close then coroutine.close(task.co) end
  self:_finish(task, "cancelled", nil, taskset.cancelled(type(reason) == "string" and reason or nil))
end

--- True once the task has finished (returned, raised or was cancelled).
function Task:is_done()
  return self.done
end

function Task:__tostring()
  return "zuora.Task<" .. self.status .. ">"
end

--- Runs every function as a task; returns an array of packed returns (see zuora.taskset).
function Loop:gather(fns, opts)
  return taskset.gather(self, fns, opts, 2)
end

--- Calls fn(item, index) for every item, at most opts.concurrency at once (see zuora.taskset).
function Loop:map(items, fn, opts)
  return taskset.map(self, items, fn, opts, 2)
end

return M
