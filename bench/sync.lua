--- zuora.sync throughput and memory: syncing a generated Data Query table (zuora-sim's
-- sim_synthetic_dated: ROWS rows, one a second, with id, account, amount (a decimal), note and
-- updateddate) to SQLite and to JSON-lines files, in windows of WINDOW rows, IN_FLIGHT at once.
-- Each case runs in a fresh child process, so its VmHWM (peak resident set) is its own; the case
-- runs at ROWS/10 rows too, to show memory flat in the number of rows.
-- "CPU s" is the syncing process's own processor time (os.clock): on a loaded machine the wall
-- clock mostly measures the wait for a core and the simulator generating the rows.
-- Usage: make bench BENCH=sync   [ROWS=1000000 WINDOW=100000 IN_FLIGHT=2 CASES="sqlite,files"]
local LUA = arg[-1] or "lua5.4"

local ROWS = tonumber(os.getenv("ROWS")) or 1000000
local WINDOW = tonumber(os.getenv("WINDOW")) or 100000
local IN_FLIGHT = tonumber(os.getenv("IN_FLIGHT")) or 2

local status_kib = require("bench.lib_proc").status_kib
local function hwm_kb() return status_kib("VmHWM") end

if arg[1] == "child" then
  local kind, url, rows, dir = arg[2], arg[3], tonumber(arg[4]), arg[5]
  local sync = require "zuora.sync"
  local now = require("zuora.core").http.now
  local client = require("zuora").new{ base_url = url, client_id = "zuora-sim-client",
    client_secret = "zuora-sim-secret", timeout = 600 }
  local to = kind == "sqlite" and ("sqlite:" .. dir .. "/bench.db") or ("dir:" .. dir .. "/out")
  local base = sync.parse_time("2020-01-01 00:00:00")
  local job = sync.new(client, { objects = { "sim_synthetic_dated" }, to = to, start = "2020-01-01 00:00:00",
    ["until"] = base + rows, window = WINDOW, max_window = WINDOW, grow_below = 0, in_flight = IN_FLIGHT,
    interval = 0.02, max_interval = 0.1 })
  local t0 = now()
  local summary = assert(job:run())
  local dt = now() - t0
  job:close()
  local windows = summary.objects.sim_synthetic_dated.windows
  io.stdout:write(("%d %.3f %d %d %.3f\n"):format(summary.rows, dt, hwm_kb(), windows, os.clock()))
  os.exit(0)
end

local simh = require "spec.support.sim"
local fs = require "spec.support.fs"
local s = simh.start()
local ok, err = pcall(function()
  local cases = {}
  for name in (os.getenv("CASES") or "sqlite,files"):gmatch("[^,]+") do cases[#cases + 1] = name end
  print(("sync of sim_synthetic_dated: windows of %d rows, %d in flight"):format(WINDOW, IN_FLIGHT))
  print(("%-8s %10s %8s %10s %8s %12s %12s %8s"):format("case", "rows", "seconds", "rows/s", "CPU s", "rows/CPU s",
    "peak RSS MB", "windows"))
  for _, kind in ipairs(cases) do
    for _, rows in ipairs{ math.floor(ROWS / 10), ROWS } do
      s:config{ synthetic_rows = rows, job_polls = 0 }
      local dir = fs.tmpdir("bench-sync")
      local p = assert(io.popen(("%s bench/sync.lua child %s '%s' %d '%s'"):format(LUA, kind, s.url, rows, dir)))
      local out = p:read("a")
      p:close()
      local n, dt, kb, windows, cpu = out:match("^(%d+) ([%d.]+) (%d+) (%d+) ([%d.]+)")
      if not n then error(kind .. ": " .. out) end
      n, dt, cpu = tonumber(n), tonumber(dt), tonumber(cpu)
      print(("%-8s %10d %8.2f %10.0f %8.2f %12.0f %12.1f %8d"):format(kind, n, dt, n / dt, cpu, n / cpu,
        tonumber(kb) / 1024, tonumber(windows)))
      os.execute("rm -rf '" .. dir .. "'")
    end
  end
end)
s:stop()
if not ok then io.stderr:write(tostring(err), "\n"); os.exit(1) end
