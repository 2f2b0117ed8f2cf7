--- gather and map over any runtime (zuora.async in plain Lua, zuora.ngx.runtime under OpenResty).
--
-- A runtime offers spawn(fn, ...) -> task (task:wait(), task:cancel(), task.done, task.status),
-- and _wait_for(tasks, pred): wait until pred() is true, re-checking whenever one of `tasks`
-- finishes. Both runtimes share these two functions so their semantics cannot drift apart.
local errors = require "zuora.errors"

local pack = table.pack or function(...) return { n = select("#", ...), ... } end

local M = {}

--- The error a cancelled task's wait() returns (kind "cancelled", never retryable).
function M.cancelled(reason)
  return errors.new{ kind = "cancelled", message = reason or "task cancelled", retryable = false }
end

--- True when `err` is the error of a cancelled task.
function M.is_cancelled(err)
  return errors.is(err) and err.kind == "cancelled"
end

--- True when `fn` can be called (a function, or a table or userdata with __call): what spawn takes.
function M.is_callable(fn)
  if type(fn) == "function" then return true end
  local mt = getmetatable(fn)
  return type(mt) == "table" and mt.__call ~= nil
end

--- tostring(e) for an error a task raised, even when its __tostring raises.
function M.safe_tostring(e)
  local ok, s = pcall(tostring, e)
  return ok and s or "(error object)"
end

local function check_opts(opts, what, level)
  if opts == nil then return {} end
  if type(opts) ~= "table" then error(what .. ": options must be a table", level + 1) end
  for k in pairs(opts) do
    if k ~= "concurrency" and k ~= "cancel_on_error" then
      error(what .. ": unknown option '" .. tostring(k) .. "'", level + 1)
    end
  end
  return opts
end

-- A packed return counts as a failure when the function raised, or returned nil plus an error.
local function failed(p)
  return p[1] == nil and p[2] ~= nil
end

--- Runs every function as a task and returns an array of packed returns ({n = ..., ...}) in the
-- order of `fns`. A function that raised gives {n = 2, nil, err}. With opts.cancel_on_error the
-- first failure (a raise, or nil plus an error) cancels the functions still running; their
-- entries are {n = 2, nil, <cancelled error>}.
function M.gather(rt, fns, opts, level)
  level = (level or 1) + 1
  if type(fns) ~= "table" then error("gather: expected an array of functions", level) end
  opts = check_opts(opts, "gather", level)
  local n = #fns
  for i = 1, n do
    local f = fns[i]
    if not M.is_callable(f) then
      error("gather: element " .. i .. " is not a function", level)
    end
  end
  local tasks = {}
  for i = 1, n do
    tasks[i] = rt:spawn(fns[i])
    tasks[i].observed = true -- gather reports its errors itself
  end
  local out = {}
  if opts.cancel_on_error then
    local broken = false
    rt:_wait_for(tasks, function()
      local all = true
      for i = 1, n do
        local t = tasks[i]
        if t.done then
          if t.status == "failed" or (t.status == "done" and failed(pack(t:wait()))) then broken = true end
        else
          all = false
        end
      end
      return all or broken
    end)
    if broken then
      for i = 1, n do
        if not tasks[i].done then tasks[i]:cancel("cancelled: another function of the gather failed") end
      end
    end
  end
  for i = 1, n do out[i] = pack(tasks[i]:wait()) end
  return out
end

--- Calls fn(item, index) for every item of the array `items`, at most opts.concurrency (default
-- 8) at once. Returns results, errs: both indexed like `items`; results[i] is fn's first return,
-- errs[i] is set when fn raised (the error value) or returned nil plus an error. With
-- opts.cancel_on_error the first error stops the map: calls still running are cancelled and
-- items not yet started are skipped; both get the cancelled error in errs.
function M.map(rt, items, fn, opts, level)
  level = (level or 1) + 1
  if type(items) ~= "table" then error("map: expected an array of items", level) end
  if not M.is_callable(fn) then
    error("map: expected a function", level)
  end
  opts = check_opts(opts, "map", level)
  local concurrency = opts.concurrency or 8
  if type(concurrency) ~= "number" or concurrency < 1 or concurrency ~= math.floor(concurrency) then
    error("map: concurrency must be an integer >= 1", level)
  end
  local cancel_on_error = opts.cancel_on_error
  local n = #items
  local results, errs = {}, {}
  local nexti, stop = 1, false
  local current = {} -- worker number -> index it is working on

  local function worker(w)
    while not stop and nexti <= n do
      local i = nexti
      nexti = nexti + 1
      current[w] = i
      local ok, r, e = pcall(fn, items[i], i)
      current[w] = nil
      if not ok then
        errs[i] = r
      else
        results[i] = r
        if r == nil then errs[i] = e end
      end
      if errs[i] ~= nil and cancel_on_error then stop = true end
    end
  end

  local workers = {}
  for w = 1, math.min(concurrency, n) do
    workers[w] = rt:spawn(worker, w)
    workers[w].observed = true
  end
  rt:_wait_for(workers, function()
    if stop then return true end
    for _, t in ipairs(workers) do if not t.done then return false end end
    return true
  end)
  if stop then
    local cancelled = M.cancelled("cancelled: another item of the map failed")
    for w, t in ipairs(workers) do
      if not t.done then
        local i = current[w]
        t:cancel("cancelled: another item of the map failed")
        if i then errs[i] = cancelled end
      end
    end
    for i = nexti, n do errs[i] = cancelled end
    nexti = n + 1
  end
  for _, t in ipairs(workers) do
    local ok, err = t:wait()
    -- A worker only fails if the runtime itself broke (fn's errors are caught above).
    if ok == nil and err ~= nil and not M.is_cancelled(err) then error(err, 0) end
  end
  return results, errs
end

return M
