--- Incremental, resumable sync of Zuora objects into a destination (files, SQLite, PostgreSQL).
--
--   local sync = require "zuora.sync"
--   local job = sync.new(client, { objects = { "Account", "Invoice" }, to = "sqlite:billing.db" })
--   local summary = assert(job:run())          -- fetch what changed since the bookmarks
--   for name, b in pairs(job:status()) do print(name, b.window_end, b.lag) end
--
-- For each object, rows changed since its bookmark are fetched through Data Query in windows of
-- UpdatedDate ([start, end), UTC), the live rows and the deleted ones (readDeleted) of a window by
-- two jobs, and written to the destination together with the new bookmark in one commit (one
-- transaction for the databases; data files, then the manifest, for files). A window's commit is
-- the only thing that moves a bookmark, and writing a window twice gives the same result
-- (upsert by id; a window's file is replaced), so a crash at any point neither loses nor
-- duplicates rows: the next run starts again at the bookmark. Windows are halved when a job fails
-- or times out, and doubled while they bring few rows. Several windows of an object, and several
-- objects, run at once (client:map, within the client's max_concurrency). docs/sync.md.
local errors = require "zuora.errors"

local M = {}

M.DEFAULTS = {
  window = 86400,              -- seconds of UpdatedDate per window at the start
  min_window = 1,              -- a failing window this small is an error, not halved further
  max_window = 366 * 86400,    -- windows grow up to this
  grow_below = 10000,          -- a window bringing fewer rows than this doubles the next one
  in_flight = 2,               -- windows of one object fetched at once
  start = "2000-01-01 00:00:00", -- where an object without a bookmark starts
  lag = 0,                     -- seconds before now (or `until`) that a run stops at
  job_timeout = 3600,          -- seconds one Data Query job may take before its window is halved
  deletions = "apply",         -- "apply": remove deleted rows; "flag": keep them with deleted = true
}

local OPTION_TYPES = { objects = "table", to = "any", state = "string", window = "number", min_window = "number",
  max_window = "number", grow_below = "number", in_flight = "number", start = "string", lag = "number",
  ["until"] = "any", job_timeout = "number", deletions = "string", format = "string", columns = "table",
  on_progress = "function", concurrency = "number", interval = "number", max_interval = "number",
  fsync = "boolean", max_windows = "number" }

------------------------------------------------------------------------------------------------
-- Time: UTC "YYYY-MM-DD HH:MM:SS" <-> seconds since the epoch, without the local time zone.

--- Seconds since 1970-01-01 00:00:00 UTC of "YYYY-MM-DD[ HH:MM:SS]" (also with T, or a number);
-- nil when the text is not such a time.
function M.parse_time(s)
  if type(s) == "number" then return math.floor(s) end
  if type(s) ~= "string" then return nil end
  local y, mo, d, rest = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)(.*)$")
  if not y then return nil end
  local h, mi, sec = 0, 0, 0
  if rest ~= "" then
    h, mi, sec = rest:match("^[ T](%d%d):(%d%d):(%d%d)")
    if not h then return nil end
  end
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  local floor = math.floor
  local yy = mo <= 2 and y - 1 or y
  local era = floor(yy / 400)
  local yoe = yy - era * 400
  local doy = floor((153 * (mo + (mo > 2 and -3 or 9)) + 2) / 5) + d - 1
  local days = era * 146097 + yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy - 719468
  return days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(sec)
end

--- "YYYY-MM-DD HH:MM:SS" (UTC) of seconds since the epoch.
function M.format_time(t)
  return os.date("!%Y-%m-%d %H:%M:%S", t)
end

------------------------------------------------------------------------------------------------
-- Destinations

--- Opens a destination from its URL: "dir:PATH" (or "jsonl:PATH", "csv:PATH"), "sqlite:PATH",
-- "postgresql://user@host:port/db" (also postgres://). Returns the destination or nil, err.
function M.open_destination(to, opts)
  opts = opts or {}
  if type(to) == "table" then return to end
  if type(to) ~= "string" or to == "" then return nil, "sync: no destination (to)" end
  local kind, rest = to:match("^(%a+):(.*)$")
  if to:match("^postgres") then
    return require("zuora.sync.sql").open_postgres(to, opts)
  elseif kind == "sqlite" then
    return require("zuora.sync.sql").open_sqlite(rest, opts)
  elseif kind == "dir" or kind == "jsonl" or kind == "csv" then
    local format = opts.format or (kind == "csv" and "csv" or "jsonl")
    return require("zuora.sync.files").open(rest, { format = format, fsync = opts.fsync })
  end
  return nil, "sync: unknown destination " .. to .. " (dir:PATH, sqlite:PATH or postgresql://...)"
end

------------------------------------------------------------------------------------------------

local Sync = {}
Sync.__index = Sync

--- sync.new(client, opts): see docs/sync.md for the options. Bad options raise.
function M.new(client, opts)
  if type(client) ~= "table" or not client.data_query then error("sync.new: expected a client", 2) end
  if type(opts) ~= "table" then error("sync.new: expected an options table", 2) end
  for k, v in pairs(opts) do
    local want = OPTION_TYPES[k]
    if not want then error("sync.new: unknown option " .. tostring(k), 2) end
    if want ~= "any" and type(v) ~= want then
      error(("sync.new: option %s must be a %s, got %s"):format(k, want, type(v)), 2)
    end
  end
  local o = {}
  for k, v in pairs(M.DEFAULTS) do o[k] = v end
  for k, v in pairs(opts) do o[k] = v end
  if type(o.objects) ~= "table" or #o.objects == 0 then error("sync.new: objects must name at least one object", 2) end
  for _, name in ipairs(o.objects) do
    if type(name) ~= "string" or not name:match("^[%a_][%w_]*$") then
      error("sync.new: bad object name " .. tostring(name), 2)
    end
  end
  if o.deletions ~= "apply" and o.deletions ~= "flag" then error("sync.new: deletions must be apply or flag", 2) end
  if not M.parse_time(o.start) then error("sync.new: start must be 'YYYY-MM-DD[ HH:MM:SS]'", 2) end
  if o["until"] ~= nil and not M.parse_time(o["until"]) then
    error("sync.new: until must be 'YYYY-MM-DD[ HH:MM:SS]' or seconds since the epoch", 2)
  end
  if o.window < 1 or o.min_window < 1 or o.max_window < o.min_window then
    error("sync.new: window sizes must be positive, min_window <= max_window", 2)
  end
  o.window = math.min(o.window, o.max_window)
  return setmetatable({ client = client, opts = o }, Sync)
end

function Sync:destination()
  if self.dest then return self.dest end
  local dest, err = M.open_destination(self.opts.to, { format = self.opts.format, fsync = self.opts.fsync,
    deletions = self.opts.deletions })
  if not dest then return nil, errors.new{ kind = "sync", retryable = false, message = tostring(err) } end
  if self.opts.state then dest = require("zuora.sync.files").with_state_file(dest, self.opts.state) end
  self.dest = dest
  return dest
end

function Sync:close()
  if self.dest and self.dest.close then self.dest:close() end
  self.dest = nil
end

local function emit(self, event)
  if self.opts.on_progress then self.opts.on_progress(event) end
end

local function columns_of(self, object)
  local c = self.opts.columns and self.opts.columns[object]
  if type(c) == "table" then return table.concat(c, ", ") end
  return c or "*"
end

--- The Data Query SQL for one window of an object.
function M.window_sql(object, columns, a, b)
  return ("SELECT %s FROM %s WHERE updateddate >= timestamp '%s +00:00' AND updateddate < timestamp '%s +00:00'")
    :format(columns or "*", object:lower(), M.format_time(a), M.format_time(b))
end

-- Whether a failed window should be retried smaller: the job failed or did not finish in time.
local function shrinkable(err)
  if type(err) ~= "table" then return false end
  return err.kind == "timeout" or (err.kind == "api" and err.job ~= nil)
end

-- Runs the two jobs of a window; returns { live = rows, deleted = rows } or nil, err.
function Sync:fetch_window(object, w)
  local o = self.opts
  local sql = M.window_sql(object, columns_of(self, object), w.start, w["end"])
  local function options(deleted)
    return { output_format = "JSON", decimals = true, timeout = o.job_timeout, interval = o.interval,
      max_interval = o.max_interval, read_deleted = deleted or nil }
  end
  -- The deleted rows' job runs beside the live rows' one.
  local other = self.client:spawn(function() return self.client:data_query(sql, options(true)) end)
  local live, err, job = self.client:data_query(sql, options(false))
  local gone, derr, djob = other:wait()
  if not live or not gone then
    if live then live:close() end
    if gone then gone:close() end
    return nil, live and derr or err
  end
  return { live = live, deleted = gone, job_rows = (job.outputRows or 0) + (djob.outputRows or 0) }
end

local function close_fetched(r)
  if type(r) == "table" and r.live then r.live:close(); r.deleted:close() end
end

-- Syncs one object from its bookmark up to `stop`; returns its summary or nil, err.
function Sync:sync_object(dest, object, stop)
  local o = self.opts
  local b = dest:bookmark(object)
  local pos = b and b.window_end and M.parse_time(b.window_end) or M.parse_time(o.start)
  local size = o.window
  -- After a halving, windows grow back only up to the size that last worked in this run, so a
  -- tenant whose jobs fail above some size is not asked for that size again and again.
  local ceiling = o.max_window
  local summary = { object = object, rows = 0, deleted = 0, windows = 0, halved = 0 }
  while pos < stop do
    local windows = {}
    local a = pos
    for _ = 1, math.max(1, o.in_flight) do
      if a >= stop then break end
      local e = math.min(a + size, stop)
      windows[#windows + 1] = { start = a, ["end"] = e }
      a = e
    end
    local results, errs = self.client:map(windows, function(w) return self:fetch_window(object, w) end,
      { concurrency = #windows })
    local all_small = true
    for i, w in ipairs(windows) do
      local r = results[i]
      if not r then
        for j = i + 1, #windows do close_fetched(results[j]) end
        local err = errs[i]
        local width = w["end"] - w.start
        if shrinkable(err) and width > o.min_window then
          size = math.max(o.min_window, math.floor(width / 2))
          ceiling = size
          summary.halved = summary.halved + 1
          emit(self, { type = "sync", object = object, phase = "halved", window = size,
            reason = tostring(err and err.message or err) })
          all_small = false
          break
        end
        return nil, err
      end
      local ok, res, werr = pcall(dest.commit, dest, object, w, r)
      close_fetched(r)
      if not ok or not res then
        for j = i + 1, #windows do close_fetched(results[j]) end
        local e = ok and werr or res
        return nil, errors.is and errors.is(e) and e or errors.new{ kind = "sync", retryable = false,
          message = "sync " .. object .. " " .. M.format_time(w.start) .. " .. " .. M.format_time(w["end"])
            .. ": " .. tostring(type(e) == "table" and e.message or e) }
      end
      pos = w["end"]
      summary.rows = summary.rows + res.rows
      summary.deleted = summary.deleted + res.deleted
      summary.windows = summary.windows + 1
      if res.rows + res.deleted >= o.grow_below then all_small = false end
      emit(self, { type = "sync", object = object, phase = "window", window_start = M.format_time(w.start),
        window_end = M.format_time(w["end"]), rows = res.rows, deleted = res.deleted,
        total = summary.rows, lag = stop - pos })
      if o.max_windows and summary.windows >= o.max_windows then return summary end
    end
    if all_small then size = math.min(ceiling, size * 2) end
  end
  summary.bookmark = M.format_time(pos)
  return summary
end

function Sync:stop_time()
  local u = self.opts["until"]
  local t = u ~= nil and M.parse_time(u) or os.time()
  return t - self.opts.lag
end

--- Fetches every object's changes up to `until` (default now) minus `lag`. Returns a summary
-- { objects = { [name] = { rows, deleted, windows, halved, bookmark } }, rows, deleted } or nil, err.
function Sync:run()
  local dest, err = self:destination()
  if not dest then return nil, err end
  local stop = self:stop_time()
  local results, errs = self.client:map(self.opts.objects, function(name)
    return self:sync_object(dest, name, stop)
  end, { concurrency = self.opts.concurrency or #self.opts.objects })
  local out = { objects = {}, rows = 0, deleted = 0 }
  for i, name in ipairs(self.opts.objects) do
    if not results[i] then return nil, errs[i], out end
    out.objects[name] = results[i]
    out.rows = out.rows + results[i].rows
    out.deleted = out.deleted + results[i].deleted
  end
  return out
end

--- Bookmarks of the configured objects: { [name] = { window_end, last_id, rows, deleted, lag } }
-- (lag: seconds between the bookmark and now; nil for an object never synced).
function Sync:status()
  local dest, err = self:destination()
  if not dest then return nil, err end
  local out = {}
  local now = self.opts["until"] ~= nil and M.parse_time(self.opts["until"]) or os.time()
  for _, name in ipairs(self.opts.objects) do
    local b = dest:bookmark(name)
    local s = { object = name }
    if b then
      for k, v in pairs(b) do s[k] = v end
      s.lag = now - M.parse_time(b.window_end)
    end
    out[name] = s
  end
  return out
end

--- Compares, for every committed window of every object, the live rows Data Query counts with
-- UpdatedDate in the window and the destination's rows (not deleted) in it. Returns
-- { ok = bool, objects = { [name] = { windows = n, mismatches = { {start, end, source, destination} } } } }
-- or nil, err. Run it right after a sync: a row changed since then has left its old window.
function Sync:verify()
  local dest, err = self:destination()
  if not dest then return nil, err end
  local report = { ok = true, objects = {} }
  for _, name in ipairs(self.opts.objects) do
    local windows = dest:windows(name)
    local r = { windows = #windows, mismatches = {} }
    report.objects[name] = r
    local counts, errs = self.client:map(windows, function(w)
      local rows, qerr, job = self.client:data_query(M.window_sql(name, "id", M.parse_time(w.start),
        M.parse_time(w["end"])), { output_format = "CSV", timeout = self.opts.job_timeout,
        interval = self.opts.interval, max_interval = self.opts.max_interval })
      if not rows then return nil, qerr end
      rows:close()
      return job.outputRows
    end, { concurrency = math.max(1, self.opts.in_flight) })
    for i, w in ipairs(windows) do
      if counts[i] == nil then return nil, errs[i] end
      local have = dest:count(name, w.start, w["end"])
      if have ~= counts[i] then
        report.ok = false
        r.mismatches[#r.mismatches + 1] = { start = w.start, ["end"] = w["end"], source = counts[i],
          destination = have }
      end
    end
  end
  return report
end

return M
