--- Scenarios of spec/adversary_spec.lua, run the same way in plain Lua (libcurl and zuora.async)
-- and inside nginx (cosockets, zuora.ngx.runtime): each takes the spec's arguments (base_url of
-- the hostile server, the credentials, the token it issues) and returns a table of plain values
-- (JSON-encodable) for the spec to check.
local zuora = require "zuora"
local paginate = require "zuora.paginate"

local M = {}

local ngx = rawget(_G, "ngx")
local now = ngx and function() ngx.update_time() return ngx.now() end or require("zuora.core").http.now

local function client(args, extra)
  local o = { base_url = args.base_url, client_id = args.client_id, client_secret = args.client_secret,
    retry_base = 0.001, retry_cap = 0.002, max_retries = 1, timeout = 5 }
  for k, v in pairs(extra or {}) do
    if v == false then o[k] = nil else o[k] = v end
  end
  return zuora.new(o)
end

---------------------------------------------------------------------------------------------------
-- The scanner: every place a server can echo the token or the client secret, and everything the
-- library hands out about those calls (errors and every field, tostring, hook events, meta and
-- its headers and header block, progress events). Successful results are the caller's data and
-- are not scanned (docs/reliability.md).

-- What the echo server can do (see the spec's nginx configuration).
M.ECHO_KINDS = { "text", "json_bad", "reasons", "actions", "errors", "message", "headers", "headers_ok", "redirect" }

function M.scan(args)
  local texts = {}
  local counts = { errors = 0, metas = 0, hooks = 0, progress = 0, token_errors = 0, calls = 0 }
  local function add(where, s) texts[#texts + 1] = { where = where, text = s } end

  local function walk(where, v, depth, visited)
    visited, depth = visited or {}, depth or 10
    local t = type(v)
    if t == "string" then
      add(where, v)
    elseif t == "number" or t == "boolean" or v == nil then -- luacheck: ignore 542
    elseif t == "table" then
      if visited[v] or depth == 0 then return end
      visited[v] = true
      local mt = getmetatable(v)
      if mt and mt.__tostring then add(where .. " (tostring)", tostring(v)) end
      -- meta's headers are made on first read (no __pairs under LuaJIT): read them by name
      if mt and mt.__index and rawget(v, "attempts") ~= nil then
        walk(where .. ".headers", v.headers, depth - 1, visited)
        walk(where .. ".header_block", v.header_block, depth - 1, visited)
        walk(where .. ".request_id", v.request_id, depth - 1, visited)
      end
      for k, x in pairs(v) do
        walk(where .. ".key", k, depth - 1, visited)
        walk(where .. "." .. tostring(k), x, depth - 1, visited)
      end
    else
      add(where .. " (tostring)", tostring(v))
    end
  end

  local function hooks(extra)
    extra = extra or {}
    extra.on_request = function(ev) counts.hooks = counts.hooks + 1; walk("on_request", ev) end
    extra.on_response = function(ev) counts.hooks = counts.hooks + 1; walk("on_response", ev) end
    return extra
  end
  local function progress(ev) counts.progress = counts.progress + 1; walk("progress", ev) end

  local function record(where, _, err, meta)
    counts.calls = counts.calls + 1
    if meta then counts.metas = counts.metas + 1; walk(where .. " meta", meta) end
    if err then
      counts.errors = counts.errors + 1
      walk(where .. " err", err)
      add(where .. " tostring(err)", tostring(err))
    end
  end

  local c = client(args, hooks())
  for off = 0, args.max_offset do
    for _, kind in ipairs(M.ECHO_KINDS) do
      record(kind .. "@" .. off, c:request("GET", "/echo", { query = { off = off, kind = kind },
        on_progress = off % 50 == 0 and progress or nil }))
    end
  end
  c:close()
  -- the token endpoint's refusal, its error_description holding the client secret at every offset
  for off = 0, args.max_offset do
    local t = client(args, hooks{ token_url = args.base_url .. "/oauth/token?off=" .. off, max_retries = 0 })
    local _, err = t:request("GET", "/echo", { query = { kind = "text", off = 0 } })
    if err and err.kind == "auth" then counts.token_errors = counts.token_errors + 1 end
    record("token@" .. off, nil, err)
    t:close()
  end

  -- a Data Query job that fails, echoing them in its id, code and message (progress events and the
  -- error)
  local dq = client(args, hooks{ base_url = args.base_url .. "/dqfail", token_url = args.base_url .. "/oauth/token" })
  local _, jerr = dq:data_query("SELECT 1", { interval = 0.01, timeout = 10, on_progress = progress })
  local job_kind = jerr and jerr.kind
  record("data query", nil, jerr)
  dq:close()

  -- every 8-byte window of either: a cut that keeps a prefix counts too
  local windows = {}
  for _, s in ipairs{ args.token, args.client_secret } do
    for i = 1, #s - 7 do windows[#windows + 1] = s:sub(i, i + 7) end
  end
  local hits, nhits = {}, 0
  for _, t in ipairs(texts) do
    for _, w in ipairs(windows) do
      if t.text:find(w, 1, true) then
        nhits = nhits + 1
        if #hits < 20 then hits[#hits + 1] = t.where .. ": ..." .. w .. "..." end
        break
      end
    end
  end
  counts.texts = #texts
  return { hits = hits, nhits = nhits, counts = counts, job_kind = job_kind }
end

--- The scanner's own check: the same windows in a text that holds the token at `off`.
function M.windows_find(args, text)
  for _, s in ipairs{ args.token, args.client_secret } do
    for i = 1, #s - 7 do
      if text:find(s:sub(i, i + 7), 1, true) then return true end
    end
  end
  return false
end

---------------------------------------------------------------------------------------------------
-- client:close() inside a task while others are in flight.

local function outcome(task)
  local r, e = task:wait()
  if e ~= nil then return type(e) == "table" and e.kind or ("raised: " .. tostring(e)) end
  return "ok: " .. tostring(r)
end

function M.close(args)
  local out = {}
  -- calls in flight, a call after a sleep, a call in its retry backoff, all ended by a close
  do
    local hooks = 0
    local c = client(args, { max_retries = 3, on_request = function() hooks = hooks + 1 end,
      on_response = function() hooks = hooks + 1 end })
    assert(c:request("GET", "/echo", { query = { kind = "plain" } })) -- holds a token now
    local t0 = now()
    local tasks = {
      slow1 = c:spawn(function() return c:request("GET", "/slow") end),
      slow2 = c:spawn(function() return c:request("GET", "/slow") end),
      later = c:spawn(function() c:sleep(0.3); return c:request("GET", "/echo", { query = { kind = "plain" } }) end),
      backoff = c:spawn(function() return c:request("GET", "/busy") end),
      closer = c:spawn(function() c:sleep(0.1); c:close(); return "closed it" end),
    }
    local ok, rerr = pcall(c.run, c)
    out.run = ok and "ok" or tostring(rerr)
    out.elapsed = now() - t0
    out.kinds = {}
    for name, t in pairs(tasks) do out.kinds[name] = outcome(t) end
    local _, err = c:request("GET", "/echo", { query = { kind = "plain" } })
    out.after = err and err.kind or "no error"
  end
  -- a token request in flight, and a call waiting for it
  do
    local c = client(args, { token_url = args.base_url .. "/oauth/token?slow=1" })
    local t0 = now()
    local tasks = {
      fetching = c:spawn(function() return c:request("GET", "/echo", { query = { kind = "plain" } }) end),
      waiting = c:spawn(function() c:sleep(0.05); return c:request("GET", "/echo", { query = { kind = "plain" } }) end),
      closer = c:spawn(function() c:sleep(0.2); c:close(); return "closed it" end),
    }
    local ok, rerr = pcall(c.run, c)
    out.token_run = ok and "ok" or tostring(rerr)
    out.token_elapsed = now() - t0
    out.token_kinds = {}
    for name, t in pairs(tasks) do out.token_kinds[name] = outcome(t) end
  end
  return out
end

---------------------------------------------------------------------------------------------------
-- Paging servers that never get anywhere (each ends with kind "loop"), and ones that do.

M.LOOPS = { "fragment", "amp", "order", "absolute", "dummy", "cursor", "same", "repeat" }

local function timed(fn)
  local t0 = now()
  local res, err = fn()
  return { kind = err and err.kind or "none", message = err and err.message or nil,
    elapsed = now() - t0, items = type(res) == "table" and #res or nil }
end

function M.paging(args)
  local c = client(args, { token = args.token, client_id = false, client_secret = false })
  local out = {}
  for _, name in ipairs(M.LOOPS) do
    out[name] = timed(function() return paginate.all_request(c, "GET", "/page/" .. name, {}, {}) end)
  end
  -- each() raises the loop error after the items it read
  out.dummy_each = timed(function()
    local ok, err = pcall(function() for _ in paginate.each_request(c, "GET", "/page/dummy", {}) do end end)
    if ok then return true end
    return nil, err
  end)
  -- all(limit) on empty pages
  out.dummy_limit = timed(function() return paginate.all_request(c, "GET", "/page/dummy", {}, { limit = 5 }) end)
  -- N is configurable
  out.dummy_3 = timed(function()
    return paginate.all_request(c, "GET", "/page/dummy", {}, { max_empty_pages = 3 })
  end)
  -- queryMore with done = false and the same locator; and with empty batches under new locators
  local function zoql(q)
    return function()
      local ok, err = pcall(function() for _ in c:query(q) do end end)
      if ok then return true end
      return nil, err
    end
  end
  out.locator = timed(zoql("select Id from SameLocator"))
  out.locator_empty = timed(zoql("select Id from EmptyBatches"))
  out.repeat_locator = timed(zoql("select Id from RepeatBatch")) -- the same record under new locators
  -- servers that do progress: pages with items, and a few empty pages before the last
  out.good = timed(function() return paginate.all_request(c, "GET", "/page/good", {}, {}) end)
  out.sparse = timed(function() return paginate.all_request(c, "GET", "/page/sparse", {}, {}) end)
  c:close()
  return out
end

return M
