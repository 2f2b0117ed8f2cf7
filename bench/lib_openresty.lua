--- Handlers of bench/openresty.lua, loaded inside the front nginx (one worker). Each handler does
-- one GET of the account from the upstream nginx and returns its accountNumber; the locations
-- print it, and the /alloc and /profile locations call them in a loop.
--
--   cosocket: hand-written HTTP/1.1 over a cosocket: keep-alive pool (setkeepalive), the head read
--             up to the blank line, Content-Length read, the body decoded with lua-cjson;
--   zjson:    the same, decoded with zuora.json;
--   client:   client.accounts.retrieve("A00000001"), the client made in init_worker (M.init).
local cjson = require "cjson.safe"
local zjson = require("zuora.core").json

local ngx = rawget(_G, "ngx")
local tcp = ngx.socket.tcp
local tonumber, match = tonumber, string.match

local M = {}

local HOST, PORT, REQUEST
local client, accounts

--- Called from init_worker_by_lua: the upstream's port; makes the client. With `vlog`, jit.v
-- reports every trace event of the worker's life to that file (so the aborts of the first calls,
-- which blacklist code for good, are in it).
function M.init(port, vlog)
  if vlog and vlog ~= "" then require("jit.v").on(vlog) end
  HOST, PORT = "127.0.0.1", port
  REQUEST = "GET /v1/accounts/A00000001 HTTP/1.1\r\nHost: 127.0.0.1:" .. port
    .. "\r\nAccept: application/json\r\nAuthorization: Bearer bench-token\r\n\r\n"
  client = require("zuora").new{ base_url = "http://127.0.0.1:" .. port, token = "bench-token" }
  accounts = client.accounts
end

local function get(decode)
  local sock = tcp()
  sock:settimeout(10000)
  local ok, err = sock:connect(HOST, PORT, { pool = "bench", pool_size = 64 })
  if not ok then return nil, err end
  ok, err = sock:send(REQUEST)
  if not ok then return nil, err end
  local head
  head, err = sock:receiveuntil("\r\n\r\n")()
  if not head then return nil, err end
  local length = tonumber(match(head, "\r\n[Cc]ontent%-[Ll]ength:%s*(%d+)"))
  if not length then return nil, "no Content-Length" end
  local body
  body, err = sock:receive(length)
  if not body then return nil, err end
  sock:setkeepalive(60000, 64)
  local doc = decode(body)
  if not doc then return nil, "bad JSON" end
  return doc.basicInfo.accountNumber
end

local cjson_decode, zjson_decode = cjson.decode, zjson.decode

function M.cosocket() return get(cjson_decode) end
function M.zjson() return get(zjson_decode) end

function M.client()
  local doc, err = accounts.retrieve("A00000001")
  if not doc then return nil, tostring(err) end
  return doc.basicInfo.accountNumber
end

-- Not a case of the table: the runtime and transport alone (rt:send of the request the client
-- builds for retrieve), to split the client's cost (CASES="... send" in the environment).
local send_req
function M.send()
  if not send_req then
    send_req = { method = "GET", url = client.base_url .. "/v1/accounts/A00000001", timeout = client.timeout,
      connect_timeout = client.connect_timeout, decode = true, auth = client.auth, headers = client.base_headers,
      header_block = true, kind = "idempotent", fresh_connect = false }
  end
  local res = client.rt:send(send_req)
  if res.kind or res.status ~= 200 then return nil, res.error or res.status end
  return res.data.basicInfo.accountNumber
end

--- content handler: /<name> answers the handler's accountNumber.
function M.serve(name)
  local v, err = M[name]()
  if not v then
    ngx.status = 502
    ngx.say(err)
    return
  end
  ngx.say(v)
end

--- /alloc?name=...&n=...: KB allocated per call over n calls (GC stopped meanwhile, after warming).
function M.alloc(name, n)
  local f = M[name]
  for _ = 1, 100 do f() end
  collectgarbage("collect")
  collectgarbage("stop")
  local before = collectgarbage("count")
  for _ = 1, n do f() end
  local after = collectgarbage("count")
  collectgarbage("restart")
  ngx.say(("%.1f"):format((after - before) * 1024 / n))
end

-- The worker's CPU time (seconds): clock_gettime(CLOCK_THREAD_CPUTIME_ID) through the FFI (nginx's
-- worker runs its Lua on one thread), with the declarations zuora.ngx.clock makes.
local thread_cpu
do
  local ffi = require "ffi"
  require "zuora.ngx.clock"
  pcall(ffi.cdef, "struct zuora_ngx_timespec { long tv_sec; long tv_nsec; };"
    .. "int clock_gettime(int clk_id, struct zuora_ngx_timespec *tp);")
  local ts = ffi.new("struct zuora_ngx_timespec")
  function thread_cpu()
    ffi.C.clock_gettime(3, ts) -- CLOCK_THREAD_CPUTIME_ID
    return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
  end
end

--- /cpu?names=a,b&n=...&rounds=...: CPU microseconds a call of each handler, sequential calls
-- (one at a time, so no other request shares the worker), the handlers taking turns in blocks of
-- n calls over `rounds` rounds; one line a handler: the per-round figures. Pairs of blocks close
-- in time are what to compare: both see the same machine.
function M.cpu(names, n, rounds)
  local list = {}
  for name in names:gmatch("[^,]+") do list[#list + 1] = name end
  for _, name in ipairs(list) do for _ = 1, 200 do M[name]() end end
  local per = {}
  for _, name in ipairs(list) do per[name] = {} end
  for round = 1, rounds do
    for i = 0, #list - 1 do
      local name = list[(i + round - 1) % #list + 1]
      local f = M[name]
      local t0 = thread_cpu()
      for _ = 1, n do f() end
      table.insert(per[name], ("%.2f"):format((thread_cpu() - t0) * 1e6 / n))
    end
  end
  for _, name in ipairs(list) do ngx.say(name, " ", table.concat(per[name], " ")) end
end

--- /loop?name=...&n=...: n sequential calls of the handler (the instruction counts' unit of work).
function M.loop(name, n)
  local f = M[name]
  for _ = 1, n do assert(f()) end
  ngx.say("ok")
end

--- /profile?n=...&mode=...&out=...: n calls of `client` under jit.p in that mode, output to the
-- file `out`.
function M.profile(n, mode, out)
  local f = M.client
  for _ = 1, 200 do f() end
  local p = require "jit.p"
  p.start(mode, out)
  for _ = 1, n do f() end
  p.stop()
  ngx.say("ok")
end

return M
