--- zuora.async: tasks as coroutines over the C transport's non-blocking half (plain Lua / LuaJIT).
--
-- A Loop owns one `core.http` transport. Code running inside one of its tasks yields while it
-- waits (for a transfer, a sleep, a condition or another task); code running anywhere else blocks,
-- but drives the loop while it waits, so tasks spawned earlier make progress meanwhile. Yielding
-- happens only here, in Lua; the C core never yields.
local core = require "zuora.core"

local now = core.http.now
local unpack = table.unpack or unpack -- luacheck: ignore 143
local pack = table.pack or function(...) return { n = select("#", ...), ... } end

local M = {}

local Loop = {}
Loop.__index = Loop

local Task = {}
Task.__index = Task
Task.__name = "zuora.Task"

-- The longest single wait in the poll loop; bounds how late a condition change is noticed.
local MAX_WAIT = 0.5

--- A new loop over `transport` (a core.http object). opts.max_concurrency caps the requests in
-- flight (default: no cap).
function M.new(transport, opts)
  opts = opts or {}
  return setmetatable({
    t = transport,
    tasks = setmetatable({}, { __mode = "k" }), -- coroutine -> task
    ready = {},       -- queue of { task, n, values... } to resume
    ready_head = 1,
    waiting = {},     -- transfer id -> task waiting for it
    finished = {},    -- transfer id -> result, for callers blocking outside tasks
    sleepers = {},    -- binary heap of { at, seq, task }
    seq = 0,
    conds = {},       -- { pred, task } waiting for a predicate
    inflight = 0,
    limit = opts.max_concurrency or math.huge,
    slot_queue = {},  -- tasks or blocking markers waiting for a concurrency slot
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
  -- two statements: in `h[1], h[n] = h[n], nil` the order of the stores is undefined, and with
  -- one element Lua stores nil first, leaving the popped sleeper in place for ever
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

------------------------------------------------------------------------------------------------
-- Running tasks.

--- The task running the caller, or nil when the caller is not inside one of this loop's tasks.
function Loop:current()
  local co = coroutine.running()
  return co and self.tasks[co] or nil
end

local YIELD = {} -- the only value our tasks yield; anything else is a misuse

function Loop:_wake(task, ...)
  self.ready[#self.ready + 1] = pack(task, ...)
end

local function finish(self, task, ok, ...)
  task.done = true
  if ok then
    task.results = pack(...)
  else
    task.error = (...)
  end
  for _, w in ipairs(task.waiters) do self:_wake(w) end
  task.waiters = {}
end

function Loop:_resume(task, ...)
  if task.done then return end
  local co = task.co
  local r = pack(coroutine.resume(co, ...))
  if coroutine.status(co) == "dead" then
    finish(self, task, unpack(r, 1, r.n))
  elseif r[2] ~= YIELD then
    -- The task yielded on its own (a bare coroutine.yield inside a task): nothing will resume it.
    finish(self, task, false, "zuora.async: a task yielded outside the client (use coroutine.wrap "
      .. "for your own coroutines inside tasks)")
  end
end

function Loop:_run_ready()
  -- Tasks woken while this batch runs go to the next batch, so one busy task cannot starve the poll.
  local batch = self.ready
  if #batch == 0 then return end
  self.ready = {}
  for i = 1, #batch do
    local item = batch[i]
    self:_resume(item[1], unpack(item, 2, item.n))
  end
end

--- Suspends the current task until something wakes it; returns the values it is woken with.
function Loop:_suspend()
  return coroutine.yield(YIELD)
end

------------------------------------------------------------------------------------------------
-- The driver.

function Loop:_dispatch()
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
    local keep = {}
    for _, c in ipairs(self.conds) do
      if c.pred() then self:_wake(c.task) else keep[#keep + 1] = c end
    end
    self.conds = keep
  end
end

--- One turn: run ready tasks, wait for transfers/timers (at most until `deadline`), dispatch.
function Loop:step(deadline)
  self:_run_ready()
  self:_dispatch()
  self:_run_ready()
  local timeout = 0
  if #self.ready == 0 then
    local t = now()
    timeout = MAX_WAIT
    local s = self.sleepers[1]
    if s then timeout = math.min(timeout, s.at - t) end
    if deadline then timeout = math.min(timeout, deadline - t) end
    if timeout < 0 then timeout = 0 end
    if self.t:running() == 0 and not s and not deadline and #self.conds == 0 then
      return false -- nothing can ever make progress
    end
  end
  self.t:poll(timeout)
  self:_dispatch()
  return true
end

--- Drives the loop until pred() is true (blocking callers only). `deadline` (absolute, from
-- `now()`) is a time by which pred may become true on its own (a sleep).
function Loop:_block_until(pred, deadline)
  while not pred() do
    if not self:step(deadline) and not pred() then
      error("zuora.async: deadlock: waiting for something no task or transfer can provide", 3)
    end
  end
end

--- Runs until every task has finished and no transfer is left (what a script calls at its end).
function Loop:run()
  self:_block_until(function()
    return #self.ready == 0 and self.t:running() == 0 and next(self.waiting) == nil
      and self.sleepers[1] == nil and #self.conds == 0
  end)
end

------------------------------------------------------------------------------------------------
-- What the client calls: these yield inside tasks and block (driving the loop) elsewhere.

function Loop:_acquire()
  if self.inflight < self.limit then
    self.inflight = self.inflight + 1
    return
  end
  local task = self:current()
  if task then
    self.slot_queue[#self.slot_queue + 1] = task
    self:_suspend() -- the releaser hands its slot over
  else
    local marker = { granted = false }
    self.slot_queue[#self.slot_queue + 1] = marker
    self:_block_until(function() return marker.granted end)
  end
end

function Loop:_release()
  local nxt = table.remove(self.slot_queue, 1)
  if not nxt then
    self.inflight = self.inflight - 1
  elseif getmetatable(nxt) == Task then
    self:_wake(nxt)
  else
    nxt.granted = true
  end
end

--- Submits a core.http request and returns its result table once finished.
function Loop:send(req)
  -- Fast path: a call outside any task while nothing else is going on has nobody to share the
  -- loop with, so the transport's own blocking perform drives it (fewer turns through Lua).
  if #self.ready == 0 and self.inflight == 0 and self.sleepers[1] == nil and #self.conds == 0
    and not self:current() and self.t:running() == 0 then
    return self.t:perform(req)
  end
  self:_acquire()
  local ok, id, serr = pcall(self.t.submit, self.t, req)
  if not ok or not id then
    self:_release()
    if not ok then error(id, 0) end -- bad arguments: the caller's mistake, raise it
    return { error = serr or "submit failed", kind = "transport", status = 0 }
  end
  local task = self:current()
  local res
  if task then
    self.waiting[id] = task
    res = self:_suspend()
  else
    self:_block_until(function() return self.finished[id] ~= nil end)
    res = self.finished[id]
    self.finished[id] = nil
  end
  self:_release()
  return res
end

--- Sleeps `seconds` without stopping other tasks.
function Loop:sleep(seconds)
  local task = self:current()
  if task then
    self.seq = self.seq + 1
    heap_push(self.sleepers, { at = now() + math.max(seconds, 0), seq = self.seq, task = task })
    self:_suspend()
  elseif seconds > 0 then
    local at = now() + seconds
    self:_block_until(function() return now() >= at end, at)
  end
end

--- Waits until pred() is true (checked after every loop turn).
function Loop:wait_until(pred)
  if pred() then return end
  local task = self:current()
  if task then
    self.conds[#self.conds + 1] = { pred = pred, task = task }
    self:_suspend()
  else
    self:_block_until(pred)
  end
end

------------------------------------------------------------------------------------------------
-- Tasks.

--- Starts fn(...) as a task; it first runs at the next loop turn. Returns the task.
function Loop:spawn(fn, ...)
  if type(fn) ~= "function" and not (getmetatable(fn) or {}).__call then
    error("spawn: expected a function", 2)
  end
  local task = setmetatable({ loop = self, waiters = {}, done = false }, Task)
  task.co = coroutine.create(function(...) return fn(...) end)
  self.tasks[task.co] = task
  self:_wake(task, ...)
  return task
end

--- Waits for the task and returns what its function returned; if it raised, returns nil, err.
function Task:wait()
  if not self.done then
    local loop = self.loop
    local cur = loop:current()
    if cur == self then error("a task cannot wait for itself", 2) end
    if cur then
      self.waiters[#self.waiters + 1] = cur
      loop:_suspend()
    else
      loop:_block_until(function() return self.done end)
    end
  end
  if self.error ~= nil then return nil, self.error end
  return unpack(self.results, 1, self.results.n)
end

--- True once the task has finished (returned or raised).
function Task:is_done()
  return self.done
end

function Task:__tostring()
  return "zuora.Task<" .. (self.done and (self.error ~= nil and "failed" or "done") or "running") .. ">"
end

--- Runs every function as a task and returns an array of packed returns ({n = ..., ...}); a
-- function that raised gives {n = 2, nil, err}.
function Loop:gather(fns)
  local tasks = {}
  for i, fn in ipairs(fns) do tasks[i] = self:spawn(fn) end
  local out = {}
  for i, task in ipairs(tasks) do out[i] = pack(task:wait()) end
  return out
end

--- Calls fn(item, index) for every item with at most `concurrency` running at once. Returns
-- results and errs, both indexed like `items` (errs[i] is set when fn returned nil, err or raised).
function Loop:map(items, fn, opts)
  local concurrency = (opts and opts.concurrency) or 8
  if type(concurrency) ~= "number" or concurrency < 1 then error("map: concurrency must be >= 1", 2) end
  local results, errs, nexti, n = {}, {}, 1, #items
  local function worker()
    while nexti <= n do
      local i = nexti
      nexti = nexti + 1
      local ok, r, e = pcall(fn, items[i], i)
      if not ok then
        errs[i] = r
      else
        results[i] = r
        if r == nil then errs[i] = e end
      end
    end
  end
  local workers = {}
  for w = 1, math.min(concurrency, n) do workers[w] = self:spawn(worker) end
  for _, w in ipairs(workers) do w:wait() end
  return results, errs
end

return M
