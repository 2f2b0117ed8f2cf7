--- The client inside nginx against hand-written cosocket code (issue 28). Starts its own pair of
-- nginx on loopback: an upstream serving a 1.1 KB account JSON at GET /v1/accounts/A00000001, and a
-- front nginx with ONE worker whose locations each fetch that account from the upstream:
--
--   proxy_pass   nginx's proxy module (keep-alive upstream pool): the floor;
--   cosocket     hand-written cosocket GET (bench/lib_openresty.lua): keep-alive pool, head read to
--                the blank line, Content-Length, body decoded with lua-cjson;
--   zjson        the same decoded with zuora.json;
--   client       client.accounts.retrieve("A00000001"), the client made in init_worker_by_lua
--                (bearer `token`, base_url the upstream).
--
-- wrk -t1 -c16 drives each for DURATION seconds, cases taking turns over ROUNDS rounds after a
-- warm-up; the table gives the median requests/s and the client's ratio to the cosocket+cjson
-- handler (median of the per-round ratios); and the front worker's CPU time per request (from
-- /proc, so other load on the machine does not count), the steadier figure on a shared machine.
-- Then per-request allocations (collectgarbage("count") over N calls with the GC stopped) and
-- the LuaJIT side of the client's path: jit.v (trace aborts, and which are NYI) and jit.p (where
-- the time goes) over PROFILE_N sequential calls.
-- Usage: make bench BENCH=openresty   [DURATION=3 ROUNDS=3 PROFILE_N=20000 in the environment;
-- EXTRA_CASES=send adds rt:send of the client's request alone, runtime and transport without the
-- pipeline; SEQ_ONLY=1 skips the wrk rounds; INSTR=1 adds instruction counts under valgrind (INSTR_N);
-- KEEP=1 keeps the profile files and prints their folder]
local nginx = require "spec.support.nginx"
local openresty = require "spec.support.openresty"
local support = require "bench.lib_support"

local DURATION = tonumber(os.getenv("DURATION")) or 3
local ROUNDS = tonumber(os.getenv("ROUNDS")) or 3
local PROFILE_N = tonumber(os.getenv("PROFILE_N")) or 20000
local ALLOC_N = 2000
local CASES = { "proxy_pass", "cosocket", "zjson", "client" }
for name in (os.getenv("EXTRA_CASES") or ""):gmatch("%S+") do CASES[#CASES + 1] = name end
local LABEL = {
  proxy_pass = "proxy_pass",
  cosocket = "hand-written cosocket + cjson",
  zjson = "hand-written cosocket + zuora.json",
  client = "client.accounts.retrieve",
  send = "client.rt:send (runtime + transport)",
}

assert(support.sh("command -v wrk"), "wrk missing (Debian package wrk; tools/deps.sh installs it)")

-- The account document, 1.1 KB (the 1 KB one of the other benchmarks with more notes).
local doc = support.account_json():gsub('"notes":"', '"notes":"' .. ("y"):rep(100), 1)
local root = assert(support.sh("mktemp -d /tmp/zuora-bench.XXXXXX")):match("%S+")
local docfile = assert(io.open(root .. "/A00000001", "wb"))
docfile:write(doc)
docfile:close()

local upstream = nginx.start{ vars = { docroot = root }, http = [[
  server {
    listen 127.0.0.1:${port1};
    keepalive_requests 1000000;
    location /v1/accounts/ { alias ${docroot}/; default_type application/json; }
  }
]] }

local tmp = assert(support.sh("mktemp -d /tmp/zuora-prof.XXXXXX")):match("%S+")
os.execute("chmod 777 '" .. tmp .. "'")
local FRONT = [[
  lua_socket_log_errors off;
  upstream up { server 127.0.0.1:${up}; keepalive 64; }
  init_worker_by_lua_block { require("bench.lib_openresty").init(${up}, "${vlog}") }
  server {
    listen 127.0.0.1:${port1};
    keepalive_requests 1000000;
    location = /proxy_pass {
      proxy_pass http://up/v1/accounts/A00000001;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
    location = /cosocket { content_by_lua_block { require("bench.lib_openresty").serve("cosocket") } }
    location = /zjson { content_by_lua_block { require("bench.lib_openresty").serve("zjson") } }
    location = /client { content_by_lua_block { require("bench.lib_openresty").serve("client") } }
    location = /send { content_by_lua_block { require("bench.lib_openresty").serve("send") } }
    location = /alloc {
      content_by_lua_block {
        require("bench.lib_openresty").alloc(ngx.var.arg_name, tonumber(ngx.var.arg_n))
      }
    }
    location = /cpu {
      content_by_lua_block {
        require("bench.lib_openresty").cpu(ngx.var.arg_names, tonumber(ngx.var.arg_n), tonumber(ngx.var.arg_rounds))
      }
    }
    location = /loop {
      content_by_lua_block { require("bench.lib_openresty").loop(ngx.var.arg_name, tonumber(ngx.var.arg_n)) }
    }
    location = /profile {
      content_by_lua_block {
        require("bench.lib_openresty").profile(tonumber(ngx.var.arg_n), ngx.var.arg_mode, ngx.var.arg_out)
      }
    }
  }
]]
local front = openresty.start{ vars = { up = upstream.port, vlog = tmp .. "/v.txt" }, http = FRONT }

-- Stops both nginx and removes the document and (unless KEEP) the profile folder.
local function finish()
  front:stop()
  upstream:stop()
  os.execute("rm -rf '" .. root .. "'")
  if os.getenv("KEEP") then
    print("profile files kept in " .. tmp)
  else
    os.execute("rm -rf '" .. tmp .. "'")
  end
end

local function get(path)
  return support.sh(("curl -sf --max-time 600 '%s%s'"):format(front.url, path))
end

-- Every case answers the account number (proxy_pass: the document) before anything is measured.
for _, name in ipairs(CASES) do
  local out = get("/" .. name)
  if not (out and out:find("A00000001", 1, true)) then
    io.stderr:write(name, " failed: ", tostring(out), "\n", front:errlog(), "\n")
    finish()
    os.exit(1)
  end
end

-- The front worker's CPU time (user + system, seconds) from /proc: per request, it does not
-- depend on how busy the rest of the machine is, as requests/s on 2 shared cores does.
local worker = tonumber((support.sh(("pgrep -P %d"):format(front:pid())) or ""):match("%d+"))
local TICK = tonumber(support.sh("getconf CLK_TCK")) or 100
local function cpu()
  local f = assert(io.open("/proc/" .. worker .. "/stat"))
  local stat = f:read("a")
  f:close()
  local fields = {}
  for v in stat:match("%) (.*)"):gmatch("%S+") do fields[#fields + 1] = v end
  return (tonumber(fields[12]) + tonumber(fields[13])) / TICK -- utime, stime (fields 14 and 15)
end

local cpu_per = {} -- name -> list of worker CPU microseconds per request
local function wrk(name, seconds)
  local c0 = cpu()
  local out = support.sh(("wrk -t1 -c16 -d%ds '%s/%s' 2>&1"):format(seconds, front.url, name)) or ""
  local used = cpu() - c0
  local count = tonumber(out:match("(%d+) requests in"))
  if count and count > 0 then
    cpu_per[name] = cpu_per[name] or {}
    table.insert(cpu_per[name], used * 1e6 / count)
  end
  local rps = tonumber(out:match("Requests/sec:%s*([%d%.]+)"))
  local bad = out:match("Non%-2xx or 3xx responses:%s*(%d+)") or out:match("Socket errors:[^\n]*")
  if not rps or bad then
    io.stderr:write("wrk on /", name, ": ", out, "\n", front:errlog(), "\n")
    finish()
    os.exit(1)
  end
  return rps
end

local median = support.median

-- SEQ_ONLY=1: only the sequential figures (and what follows), no wrk rounds.
if not os.getenv("SEQ_ONLY") then
  for _, name in ipairs(CASES) do wrk(name, 1) end -- warm-up (JIT traces, pools)
  cpu_per = {}

  local rps = {}
  for _, name in ipairs(CASES) do rps[name] = {} end
  local ratios = {}
  for round = 1, ROUNDS do
    -- the order turns each round, so slow spells of the shared machine do not always hit one case
    for i = 0, #CASES - 1 do
      local name = CASES[(i + round - 1) % #CASES + 1]
      table.insert(rps[name], wrk(name, DURATION))
    end
    ratios[#ratios + 1] = rps.client[round] / rps.cosocket[round]
  end

  print(("wrk -t1 -c16, %d s per case, %d rounds in turns, one front worker; median requests/s"):format(
    DURATION, ROUNDS))
  -- One line a case: the median of `by[name]`, its ratio to the cosocket+cjson handler's, the rounds.
  local function table_of(by, line, digits)
    local base = median(by.cosocket)
    for _, name in ipairs(CASES) do
      local m = median(by[name])
      local each = {}
      for i, v in ipairs(by[name]) do each[i] = ("%." .. digits .. "f"):format(v) end
      print(line:format(LABEL[name], m, m / base, 1e6 / m, table.concat(each, ", ")))
    end
  end
  table_of(rps, "  %-36s %9.0f  %.2fx cosocket+cjson  %6.1f us/req  (%s)", 0)
  print("front worker CPU per request (user + system, /proc), median over the rounds:")
  table_of(cpu_per, "  %-36s %6.1f us  %.2fx cosocket+cjson  %.0f/s at full CPU  (%s)", 1)
  local cr = {}
  for i = 1, #cpu_per.client do cr[i] = cpu_per.cosocket[i] / cpu_per.client[i] end
  local crs = {}
  for i, v in ipairs(cr) do crs[i] = ("%.3f"):format(v) end
  print(("client throughput at its CPU cost / cosocket+cjson's: %.3f (per round %s)"):format(median(cr),
    table.concat(crs, ", ")))
  local rr = {}
  for i, v in ipairs(ratios) do rr[i] = ("%.3f"):format(v) end
  print(("client / cosocket+cjson: %.3f (median of the per-round ratios %s)"):format(median(ratios),
    table.concat(rr, ", ")))
end

-- Sequential calls inside the worker, its thread CPU time over blocks of SEQ_N calls, the handlers
-- taking turns (M.cpu in bench/lib_openresty.lua): no wrk, no other request sharing the worker, so
-- the steadiest figure of the client's own cost.
local SEQ_N = tonumber(os.getenv("SEQ_N")) or 2000
local SEQ_ROUNDS = tonumber(os.getenv("SEQ_ROUNDS")) or 10
local seq_names = {}
for _, name in ipairs(CASES) do if name ~= "proxy_pass" then seq_names[#seq_names + 1] = name end end
local seq = {}
for line in (get(("/cpu?names=%s&n=%d&rounds=%d"):format(table.concat(seq_names, ","), SEQ_N, SEQ_ROUNDS))
    or ""):gmatch("[^\n]+") do
  local name, rest = line:match("^(%S+)%s+(.*)$")
  if name then
    seq[name] = {}
    for v in rest:gmatch("%S+") do table.insert(seq[name], tonumber(v)) end
  end
end
if seq.cosocket and seq.client then
  print(("\nsequential calls, worker thread CPU a call (blocks of %d calls in turns, %d rounds; median):"):format(
    SEQ_N, SEQ_ROUNDS))
  local base = median(seq.cosocket)
  for _, name in ipairs(seq_names) do
    local m = median(seq[name])
    print(("  %-36s %6.2f us  %+6.2f us over cosocket+cjson  (%s)"):format(LABEL[name], m, m - base,
      table.concat(seq[name], ", ")))
  end
  local sr = {}
  for i = 1, #seq.client do sr[i] = seq.cosocket[i] / seq.client[i] end
  local srs = {}
  for i, v in ipairs(sr) do srs[i] = ("%.3f"):format(v) end
  print(("client throughput at its CPU cost / cosocket+cjson's, sequential: %.3f (per round %s)"):format(
    median(sr), table.concat(srs, ", ")))
end

-- Instructions a call (INSTR=1; valgrind): the same front once more, as one nginx process under
-- callgrind, instrumentation off while each handler warms up (JIT traces), then INSTR_N sequential
-- calls counted (user space: the system calls' own work is not in them). The steadiest figure of
-- all on a shared machine: the runs differ by about 1%.
if os.getenv("INSTR") then
  assert(support.sh("command -v valgrind && command -v callgrind_control"), "INSTR=1 needs valgrind")
  local INSTR_N = tonumber(os.getenv("INSTR_N")) or 2000
  local cg = openresty.start{ vars = { up = upstream.port, vlog = "" }, http = FRONT, wait = 60,
    wrap = ("valgrind --tool=callgrind --smc-check=all --dump-instr=no --instr-atstart=no "
      .. "--callgrind-out-file=%s/cg.out.%%p"):format(tmp) }
  local pid = cg:pid()
  local function ctl(arg) support.sh(("callgrind_control %s %d >/dev/null 2>&1"):format(arg, pid)) end
  local function loop(name, n)
    return support.sh(("curl -sf --max-time 900 '%s/loop?name=%s&n=%d'"):format(cg.url, name, n))
  end
  local per = {}
  for _, name in ipairs(seq_names) do
    loop(name, INSTR_N)
    ctl("-i on")
    loop(name, 50)
    ctl("-z")
    assert(loop(name, INSTR_N), "/loop failed under valgrind: " .. cg:errlog())
    ctl("-d")
    ctl("-i off")
    local file = (support.sh(("ls -t '%s'/cg.out.%d.* | head -1"):format(tmp, pid)) or ""):match("%S+")
    local f = assert(io.open(file))
    local total
    for line in f:lines() do total = line:match("^summary:%s*(%d+)") or line:match("^totals:%s*(%d+)") or total end
    f:close()
    per[name] = tonumber(total) / INSTR_N
  end
  cg:stop()
  print(("\ninstructions a call (callgrind, user space, %d sequential calls each after a warm-up):"):format(INSTR_N))
  for _, name in ipairs(seq_names) do
    print(("  %-36s %8.0f  %+7.0f over cosocket+cjson  %.3fx"):format(LABEL[name], per[name],
      per[name] - per.cosocket, per[name] / per.cosocket))
  end
  print(("client throughput at its instruction cost / cosocket+cjson's: %.3f"):format(per.cosocket / per.client))
end

print(("\nallocations per call (collectgarbage(\"count\") over %d sequential calls, GC stopped)"):format(ALLOC_N))
for _, name in ipairs(seq_names) do
  local out = get(("/alloc?name=%s&n=%d"):format(name, ALLOC_N))
  print(("  %-36s %8s bytes"):format(LABEL[name], out and out:match("%S+") or "?"))
end

-- LuaJIT: trace aborts (jit.v) and where the time goes (jit.p), over sequential client calls.
local vlog = support.sh("cat '" .. tmp .. "/v.txt' 2>/dev/null") or ""
local aborts, nyi, total = {}, 0, 0
for line in vlog:gmatch("[^\n]+") do
  local at, why = line:match("^%[TRACE %-%-%-[^%]]-%s(%S+:%d+)%s%-%-%s(.-)%s*$")
  if at then
    total = total + 1
    local key = at .. " -- " .. why
    aborts[key] = (aborts[key] or 0) + 1
    if why:find("NYI", 1, true) then nyi = nyi + 1 end
  end
end
local traces = select(2, vlog:gsub("%[TRACE%s+%d+", ""))
print(("\njit.v over the whole run (every handler; locations name the file): %d traces compiled, "
  .. "%d aborts (%d NYI); the most frequent:"):format(traces, total, nyi))
local keys = {}
for k in pairs(aborts) do keys[#keys + 1] = k end
table.sort(keys, function(a, b) return aborts[a] > aborts[b] end)
for i = 1, math.min(#keys, 15) do print(("  %5d  %s"):format(aborts[keys[i]], keys[i])) end

local PMODE = os.getenv("PROFILE_MODE") or "Fi1"
get(("/profile?n=%d&mode=%s&out=%s/p.txt"):format(PROFILE_N, PMODE, tmp))
print(("\njit.p (mode %s) over %d client calls:"):format(PMODE, PROFILE_N))
for line in (support.sh("head -25 '" .. tmp .. "/p.txt' 2>/dev/null") or ""):gmatch("[^\n]+") do
  print("  " .. line)
end
get(("/profile?n=%d&mode=%s&out=%s/pvm.txt"):format(PROFILE_N, "v", tmp))
print(("\njit.p (v: VM states) over %d client calls:"):format(PROFILE_N))
for line in (support.sh("head -8 '" .. tmp .. "/pvm.txt' 2>/dev/null") or ""):gmatch("[^\n]+") do
  print("  " .. line)
end
finish()
