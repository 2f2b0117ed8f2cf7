--- Progress events for long transfers, iterations and jobs: one table shape for every
-- `on_progress` callback, so a progress bar can be drawn without knowing what is running.
--
-- Every event has `kind` ("transfer", "pages", "query", "job", "rows"), `current` and `total`
-- (a number, or nil when unknown) in `unit` ("bytes", "items", "records", "seconds"), `done`
-- (true on the last event of the thing reported) and `elapsed` (seconds since it started); each kind
-- adds its own fields (docs/bulk.md lists them). Callbacks observe, like the client's hooks: one
-- that raises is reported on stderr and the work goes on (a drawing bug must not abort a download
-- of a million rows); to stop early, break out of the loop.
local now = require("zuora.core").http.now

local M = {}

-- How often a running transfer's byte counts are reported.
M.EVERY = 0.25

--- Calls fn(event), reporting an error on stderr instead of raising it.
function M.call(fn, event)
  local ok, err = pcall(fn, event)
  if not ok then io.stderr:write("zuora: on_progress failed: ", tostring(err), "\n") end
end

--- Checks an on_progress option: nil or a function. Raises (at `level`) otherwise.
function M.check(fn, level)
  if fn ~= nil and type(fn) ~= "function" then
    error("on_progress must be a function, got " .. type(fn), (level or 1) + 1)
  end
  return fn
end

--- The raw transport callback (dl_now, dl_total, ul_now, ul_total, finished, ok) -> the user's
-- callback with a "transfer" event. `u` is the URL shown (already redacted).
function M.transfer(fn, u)
  local t0 = now()
  local last_dl, last_ul, last_dlt, last_ult = 0, 0, nil, nil
  return function(dl, dlt, ul, ult, finished, ok)
    dl, ul = dl or last_dl, ul or last_ul
    dlt = dlt or last_dlt
    if last_ult and (not ult or last_ult > ult) then ult = last_ult end
    if finished and ok then
      -- all of it went both ways
      dlt = dlt or dl
      if ult then ul = ult end
    end
    last_dl, last_ul, last_dlt, last_ult = dl, ul, dlt, ult
    -- An upload while the request body goes out, and at the end when more was sent than received.
    local up = ult ~= nil and ult > 0 and (ul < ult or (finished and ult >= dl))
    M.call(fn, {
      kind = "transfer", url = u,
      direction = up and "upload" or "download",
      received = dl, expected = dlt, sent = ul, to_send = ult,
      current = up and ul or dl, total = up and ult or dlt, unit = "bytes",
      done = finished and true or false, elapsed = now() - t0,
    })
  end
end

local function file_size(path)
  local f = io.open(path, "rb")
  if not f then return 0 end
  local n = f:seek("end") or 0
  f:close()
  return n
end

-- The bytes of a request's payload: what an upload's total is when the transfer was too quick
-- for the transport to be asked (libcurl's own count, when seen, also holds multipart framing).
local function payload_size(req)
  if type(req.body) == "string" then return #req.body end
  if req.body_file then return file_size(req.body_file) end
  local n = 0
  for _, part in ipairs(req.multipart or {}) do
    n = n + (part.data and #part.data or (part.path and file_size(part.path) or 0))
  end
  return n
end

--- Sends the transport request `req` through the runtime `rt` (the client's scheduler) while
-- `req.on_progress` (a function made by M.transfer) is told the byte counts about every M.EVERY
-- seconds, and once more when the transfer is over. A watcher task reads the counts from the
-- transport; a runtime without them (OpenResty) gets the final report only.
function M.watch(rt, req)
  local report = req.on_progress
  local t = rt.t
  local res
  local watchable = (type(t) == "userdata" or type(t) == "table") and t.progress ~= nil
  if not watchable then
    res = rt:send(req)
  else
    local state = {}
    req.on_submit = function(id) state.id = id end
    -- spawned before the send, so the loop is busy and the transfer goes through submit
    rt:spawn(function()
      while true do
        rt:sleep(M.EVERY)
        if state.done then return end
        if state.id then
          local dl, dlt, ul, ult = t:progress(state.id)
          if dl and not state.done then report(dl, dlt, ul, ult, false) end
        end
      end
    end)
    res = rt:send(req)
    state.done = true
    req.on_submit = nil
  end
  local size = payload_size(req)
  report(res.bytes, nil, nil, size > 0 and size or nil, true, res.kind == nil)
  return res
end

--- Reports an event of `kind` with the given fields, stamped with `elapsed` since `t0`, to fn.
function M.emit(fn, kind, t0, fields)
  fields.kind = kind
  fields.elapsed = now() - t0
  if fields.done == nil then fields.done = false end
  M.call(fn, fields)
end

M.now = now

return M
