--- Progress lines for long operations, on stderr: rows, bytes, rate and elapsed time (and a bar
-- when the total is known). On a terminal the line redraws in place ten times a second; forced on
-- elsewhere (`--progress` into a log) it prints a plain line each second instead. Disabled, every
-- method does nothing, so callers never test whether progress is on.
local now = require("zuora.core").http.now

local M = {}

local Progress = {}
Progress.__index = Progress

--- `opts`: label, enabled, tty (redraw in place), stream (io.stderr), width (columns), clock,
-- rows (false: the operation has no rows to count until they arrive, e.g. a file download).
function M.new(opts)
  opts = opts or {}
  local clock = opts.clock or now
  return setmetatable({
    label = opts.label or "", enabled = opts.enabled and true or false, tty = opts.tty and true or false,
    stream = opts.stream or io.stderr, width = opts.width or 80, clock = clock,
    start = clock(), last = -math.huge, rows = 0, bytes = 0, drawn = false, count_rows = opts.rows ~= false,
  }, Progress)
end

--- 1234567 -> "1,234,567"
function M.group_digits(n)
  local s = tostring(math.floor(n))
  local sign, digits = s:match("^(%-?)(%d+)$")
  if not digits then return s end
  return sign .. digits:reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^,", "")
end

--- 3500000 -> "3.3 MiB"
function M.bytes(n)
  if n < 1024 then return ("%d B"):format(math.floor(n)) end
  local units = { "KiB", "MiB", "GiB", "TiB" }
  local v, i = n / 1024, 1
  while v >= 1024 and i < #units do v, i = v / 1024, i + 1 end
  return ("%.1f %s"):format(v, units[i])
end

--- 65 -> "01:05"; 3700 -> "1:01:40"
function M.clock_text(s)
  s = math.floor(s)
  local h, m, sec = math.floor(s / 3600), math.floor(s % 3600 / 60), s % 60
  if h > 0 then return ("%d:%02d:%02d"):format(h, m, sec) end
  return ("%02d:%02d"):format(m, sec)
end

--- The status text for the current counters (also used for the final line).
function Progress:text()
  local elapsed = self.clock() - self.start
  local parts = { self.label }
  local done_, total = self.rows, self.total
  if not (total and total > 0) then done_, total = self.bytes, self.bytes_total end
  if total and total > 0 then
    local frac = math.min(1, done_ / total)
    local n = 20
    local full = math.floor(frac * n + 0.5)
    parts[#parts + 1] = ("[%s%s] %3d%%"):format(("#"):rep(full), ("-"):rep(n - full), math.floor(frac * 100))
  end
  if self.rows > 0 or (self.bytes <= 0 and self.count_rows) then
    parts[#parts + 1] = M.group_digits(self.rows) .. (self.rows == 1 and " row" or " rows")
  end
  if self.bytes > 0 then parts[#parts + 1] = M.bytes(self.bytes) end
  if elapsed > 0.05 then
    if self.rows > 0 then
      parts[#parts + 1] = M.group_digits(self.rows / elapsed) .. " rows/s"
    elseif self.bytes > 0 then
      parts[#parts + 1] = M.bytes(self.bytes / elapsed) .. "/s"
    end
  end
  parts[#parts + 1] = M.clock_text(elapsed)
  if self.status then parts[#parts + 1] = self.status end
  local line = table.concat(parts, "  ")
  if #line > self.width - 1 then line = line:sub(1, self.width - 1) end
  return line
end

function Progress:draw(final)
  if self.tty then
    self.stream:write("\r", self:text(), "\27[K", final and "\n" or "")
  else
    self.stream:write(self:text(), "\n")
  end
  self.stream:flush()
  self.drawn = true
end

--- Updates counters (`rows`, `bytes`, `total` rows, `bytes_total`, `status`; absent fields keep
-- their value) and
-- redraws when enough time has passed.
function Progress:update(t)
  if not self.enabled then return end
  if t then
    if t.rows then self.rows = t.rows end
    if t.bytes then self.bytes = t.bytes end
    if t.total then self.total = t.total end
    if t.bytes_total then self.bytes_total = t.bytes_total end
    if t.status then self.status = t.status end
  end
  local at = self.clock()
  if at - self.last >= (self.tty and 0.1 or 1) then
    self.last = at
    self:draw(false)
  end
end

--- Adds to the counters.
function Progress:add(rows, bytes)
  if not self.enabled then return end
  self:update{ rows = self.rows + (rows or 0), bytes = self.bytes + (bytes or 0) }
end

--- Draws the final line (`status` replaces the status text).
function Progress:finish(status)
  if not self.enabled or self.finished then return end
  self.finished = true
  if status then self.status = status end
  self:draw(true)
end

--- Clears the line without a final report (before an error message).
function Progress:abort()
  if not self.enabled or self.finished then return end
  self.finished = true
  if self.tty and self.drawn then
    self.stream:write("\r\27[K")
    self.stream:flush()
  end
end

return M
