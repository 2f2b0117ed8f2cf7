--- `zuora sync`: keeps a copy of Zuora objects up to date in files or a database (zuora.sync).
--
--   zuora sync --objects Account,Invoice,Payment --to sqlite:billing.db
--   zuora sync --objects Account --to dir:out/ --status
--   zuora sync --objects Account --to postgresql://me@localhost/billing --verify
local errors = require "zuora.errors"
local json = require("zuora.core").json

local M = {}

local function split(list)
  local out = {}
  for name in tostring(list or ""):gmatch("[^,%s]+") do out[#out + 1] = name end
  return out
end

local function duration(s)
  if not s then return "-" end
  if s < 120 then return s .. "s" end
  if s < 7200 then return math.floor(s / 60) .. "m" end
  if s < 172800 then return math.floor(s / 3600) .. "h" end
  return math.floor(s / 86400) .. "d"
end

--- Builds zuora.sync's options from the parsed arguments; nil, message when one is bad.
function M.options(a)
  local objects = split(a.objects)
  if #objects == 0 then return nil, "--objects: name at least one object (e.g. Account,Invoice)" end
  local o = { objects = objects, to = a.to, state = a.state, format = a.format, deletions = a.deletions,
    start = a.start, ["until"] = a["until"] }
  if not o.to then return nil, "--to: where to write (dir:PATH, sqlite:PATH or postgresql://...)" end
  for _, k in ipairs{ "window", "max_window", "lag", "in_flight", "job_timeout", "max_windows" } do
    local v = a[k]
    if v ~= nil then
      local n = tonumber(v)
      if not n or n <= 0 then return nil, "--" .. k:gsub("_", "-") .. " must be a positive number" end
      o[k] = n
    end
  end
  if o.format and o.format ~= "jsonl" and o.format ~= "csv" then return nil, "--format must be jsonl or csv" end
  if o.deletions and o.deletions ~= "apply" and o.deletions ~= "flag" then
    return nil, "--deletions must be apply or flag"
  end
  return o
end

local function print_status(st, objects)
  io.stdout:write(("%-24s %-20s %12s %10s %8s  %s\n"):format("object", "synced up to", "rows", "deleted", "lag",
    "last id"))
  for _, name in ipairs(objects) do
    local s = st[name]
    io.stdout:write(("%-24s %-20s %12s %10s %8s  %s\n"):format(name, s.window_end or "never", tostring(s.rows or 0),
      tostring(s.deleted or 0), duration(s.lag), tostring(s.last_id or "-")))
  end
end

function M.run(ctx, a)
  local o, msg = M.options(a)
  if not o then ctx:fail(msg); return 1 end
  local client, cerr = ctx:client()
  if not client then ctx:fail(cerr); return 1 end
  local sync = require "zuora.sync"
  local bar = ctx:progress("sync")
  -- One line for the run: every row so far, then each object's rows and how far it has come
  -- (its lag behind the end of the run, or "done").
  local totals, lags, line = {}, {}, nil
  o.on_progress = function(ev)
    if ev.phase == "window" then
      totals[ev.object], lags[ev.object] = ev.total, ev.lag
      local n, parts = 0, {}
      for _, name in ipairs(o.objects) do
        n = n + (totals[name] or 0)
        local lag = lags[name]
        parts[#parts + 1] = ("%s %d%s"):format(name, totals[name] or 0,
          lag == nil and " ..." or (lag <= 0 and " done" or (" -" .. duration(lag))))
      end
      line = table.concat(parts, " | ")
      bar:update{ rows = n, status = line }
    elseif ev.phase == "halved" then
      ctx:note(("%s: a job failed or timed out; windows of %s now (%s)"):format(ev.object, duration(ev.window),
        ev.reason))
    end
  end
  local ok, job = pcall(sync.new, client, o)
  if not ok then ctx:fail(tostring(job):gsub("^.-:%d+: ", "")); return 1 end
  local status = 0
  local run_ok, perr = pcall(function()
    if a.status then
      local st, err = job:status()
      if not st then status = ctx:fail_error(err); return end
      if a.json then io.stdout:write(assert(json.encode(st, { sort_keys = true })), "\n")
      else print_status(st, o.objects) end
      return
    end
    local summary, err = job:run()
    if not summary then
      bar:abort()
      status = ctx:fail_error(errors.is(err) and err or errors.new{ kind = "sync", message = tostring(err) })
      return
    end
    bar:finish(line or "done")
    for _, name in ipairs(o.objects) do
      local s = summary.objects[name]
      ctx:note(("%s: %d rows, %d deleted, %d windows%s, synced up to %s"):format(name, s.rows, s.deleted,
        s.windows, s.halved > 0 and (", " .. s.halved .. " halved") or "", tostring(s.bookmark)))
    end
    if a.json then io.stdout:write(assert(json.encode(summary, { sort_keys = true })), "\n") end
    if a.verify then
      local report, verr = job:verify()
      if not report then status = ctx:fail_error(verr); return end
      for _, name in ipairs(o.objects) do
        local r = report.objects[name]
        ctx:note(("verify %s: %d windows, %d mismatches"):format(name, r.windows, #r.mismatches))
        for _, m in ipairs(r.mismatches) do
          io.stderr:write(("zuora: verify %s %s .. %s: Zuora has %d rows, the destination %d\n"):format(name,
            m.start, m["end"], m.source, m.destination))
        end
      end
      if not report.ok then status = 1 end
    end
  end)
  job:close()
  if not run_ok then
    bar:abort()
    if tostring(perr):find("interrupted!", 1, true) then
      io.stderr:write("\nzuora: interrupted; bookmarks hold the last committed window, run again to resume\n")
      return require("zuora.cli.exit").INTERRUPTED
    end
    ctx:fail(tostring(perr))
    return 1
  end
  return status
end

return M
