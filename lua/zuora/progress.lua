--- Progress events for long transfers, iterations and jobs: one table shape for every
-- `on_progress` callback, so a progress bar can be drawn without knowing what is running.
--
-- Every event has `kind` ("transfer", "pages", "query", "job", "rows"), `current` and `total`
-- (a number, or nil when unknown) in `unit` ("bytes", "items", "records", "seconds"), `done`
-- (true on the last event of the thing reported) and `elapsed` (seconds since it started); each kind
-- adds its own fields (docs/bulk.md lists them). A callback that raises stops what it watches:
-- the error propagates to the caller (for a transfer, the transfer is cancelled first).
local now = require("zuora.core").http.now

local M = {}

--- Checks an on_progress option: nil or a function. Raises (at `level`) otherwise.
function M.check(fn, level)
  if fn ~= nil and type(fn) ~= "function" then
    error("on_progress must be a function, got " .. type(fn), (level or 1) + 1)
  end
  return fn
end

--- The raw transport callback (dl_now, dl_total, ul_now, ul_total, finished) -> the user's
-- callback with a "transfer" event. `u` is the URL shown (already redacted).
function M.transfer(fn, u)
  local t0 = now()
  local last_dl, last_ul, last_dlt, last_ult = 0, 0, nil, nil
  return function(dl, dlt, ul, ult, finished)
    dl, ul = dl or last_dl, ul or last_ul
    dlt, ult = dlt or last_dlt, ult or last_ult
    last_dl, last_ul, last_dlt, last_ult = dl, ul, dlt, ult
    -- While a request body is still going out the upload is what moves; then the download.
    local up = ult ~= nil and ult > 0 and ul < ult and dl == 0
    if finished and ult ~= nil and ult > 0 and dl == 0 then up = true end
    fn{
      kind = "transfer", url = u,
      direction = up and "upload" or "download",
      received = dl, expected = dlt, sent = ul, to_send = ult,
      current = up and ul or dl, total = up and ult or dlt, unit = "bytes",
      done = finished and true or false, elapsed = now() - t0,
    }
  end
end

--- An event of `kind` with the given fields, stamped with `elapsed` since `t0`.
function M.event(kind, t0, fields)
  fields.kind = kind
  fields.elapsed = now() - t0
  if fields.done == nil then fields.done = false end
  return fields
end

M.now = now

return M
