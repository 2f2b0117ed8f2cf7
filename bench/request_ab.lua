--- This checkout's client against another build of itself, in the same run: "does a change make
-- the single request slower?" with the machine's load taken out. Two worker processes, one per
-- build, each holding a client (`zuora.new{base_url, token}`) on the static nginx of
-- bench/request.lua, take turns doing N `client.accounts.retrieve(key)` calls; a raw libcurl round
-- (bench/lib_support.lua's same-request peer) runs between them. Every round thus has both builds
-- within half a second of each other, and the median of the round-by-round ratios (this / base)
-- cancels load that comes and goes, which the separate runs of bench/request.lua cannot.
--
-- Usage: BASE=<git revision> make bench BENCH=request_ab     (checked out and built in a temporary
--        worktree, removed afterwards)
--    or: BASE_DIR=<a built checkout> make bench BENCH=request_ab
--        [N=500 ROUNDS=41 in the environment]
-- Internal: lua5.4 bench/request_ab.lua --worker <base_url> <commands fifo> <answers fifo>
local support = require "bench.lib_support"

if arg[1] == "--worker" then
  local zuora = require "zuora"
  local http = require("zuora.core").http
  local client = zuora.new{ base_url = arg[2], token = "bench-token" }
  local accounts = client.accounts
  local commands = assert(io.open(arg[3], "r"))
  local answers = assert(io.open(arg[4], "w"))
  answers:setvbuf("line")
  for line in commands:lines() do
    local n = tonumber(line)
    if not n then break end
    local t0 = http.now()
    for _ = 1, n do
      local acct = accounts.retrieve(support.KEY)
      if not acct or acct.basicInfo.balance ~= 1234.56 then error("call failed") end
    end
    answers:write(("%.6f\n"):format(http.now() - t0))
  end
  client:close()
  os.exit(0)
end

local N = tonumber(os.getenv("N")) or 500
local ROUNDS = tonumber(os.getenv("ROUNDS")) or 41
local q = require("spec.support.fs").q

local here = assert(support.sh("pwd")):match("[^\n]+")
local base_dir, made = os.getenv("BASE_DIR"), nil
if not base_dir then
  local rev = os.getenv("BASE")
  if not rev then error("set BASE=<git revision> or BASE_DIR=<a built checkout>", 0) end
  made = assert(support.sh("mktemp -d /tmp/zuora-ab.XXXXXX")):match("%S+") .. "/base"
  assert(support.sh(("git worktree add --detach %s %s >/dev/null 2>&1 && make -C %s build >/dev/null 2>&1")
    :format(q(made), q(rev), q(made))), "could not check out and build " .. rev)
  base_dir = made
end
local label = { "base " .. (os.getenv("BASE") or base_dir), "this checkout" }

local srv = support.serve_account()
local fifos = assert(support.sh("mktemp -d /tmp/zuora-ab-fifo.XXXXXX")):match("%S+")
local workers = {}
local ok, err = pcall(function()
  for i, dir in ipairs { base_dir, here } do
    local cmds, answers = fifos .. "/cmd" .. i, fifos .. "/ans" .. i
    assert(support.sh(("mkfifo %s %s"):format(q(cmds), q(answers))))
    -- each worker runs its own build's modules and C core, from its own directory
    os.execute(("cd %s && LUA_PATH=%s LUA_CPATH=%s lua5.4 %s --worker %s %s %s &"):format(q(dir),
      q(dir .. "/lua/?.lua;" .. dir .. "/lua/?/init.lua;" .. dir .. "/?.lua;;"), q(dir .. "/build/lua5.4/?.so;;"),
      q(here .. "/bench/request_ab.lua"), q(srv.url), q(cmds), q(answers)))
    local w = { cmds = assert(io.open(cmds, "w")) }
    w.cmds:setvbuf("line")
    w.answers = assert(io.open(answers, "r"))
    workers[i] = w
  end
  local function round(i)
    workers[i].cmds:write(N, "\n")
    return assert(tonumber(workers[i].answers:read("l")), "a worker died")
  end
  local same = support.same_request_args(require("zuora").new{ base_url = srv.url, token = "bench-token" },
    "bench-token")
  round(1); round(2) -- warm-up
  local base, this, raw, ratio, base_raw, this_raw = {}, {}, {}, {}, {}, {}
  for r = 1, ROUNDS do
    if r % 2 == 1 then -- who goes first alternates
      base[r] = round(1); raw[r] = support.raw_round(srv.account_url, N, same); this[r] = round(2)
    else
      this[r] = round(2); raw[r] = support.raw_round(srv.account_url, N, same); base[r] = round(1)
    end
    ratio[r], base_raw[r], this_raw[r] = this[r] / base[r], base[r] / raw[r], this[r] / raw[r]
  end
  local m = support.median
  print(("%d rounds of %d sequential account retrieves, builds taking turns"):format(ROUNDS, N))
  print(("%-40s %10s %14s"):format("", "per call", "/ raw same"))
  print(("%-40s %8.1f us %14.3f"):format(label[1], m(base) / N * 1e6, m(base_raw)))
  print(("%-40s %8.1f us %14.3f"):format(label[2], m(this) / N * 1e6, m(this_raw)))
  print(("%-40s %8.1f us"):format("raw libcurl, same request", m(raw) / N * 1e6))
  print(("this / base, median of round ratios: %.3f"):format(m(ratio)))
end)
for _, w in pairs(workers) do
  pcall(function() w.cmds:write("stop\n"); w.cmds:close(); w.answers:close() end)
end
srv.stop()
os.execute("rm -rf " .. q(fifos))
if made then os.execute(("git worktree remove --force %s; rm -rf %s"):format(q(made), q(made:match("^(.*)/base$")))) end
if not ok then error(err, 0) end
