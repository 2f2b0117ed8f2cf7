--- `zuora repl`: a Lua 5.4 prompt with `client`, `zuora`, `json` and `help` ready, and every API
-- group as a global (`accounts.retrieve("A1")`). Results print as sorted, indented JSON (coloured
-- on a terminal), a failed call as its one-line error. With lua-readline on a terminal: line
-- editing, tab completion of globals, groups, operations and fields, and history kept in
-- $XDG_STATE_HOME/zuora/history between sessions. Without a terminal it reads plain lines, prints
-- no prompt, and can be scripted: `echo 'accounts.retrieve("A1")' | zuora repl`.
local zuora = require "zuora"
local errors = require "zuora.errors"
local operations = require "zuora.operations"
local help = require "zuora.cli.help"
local pretty = require "zuora.cli.pretty"
local term = require "zuora.cli.term"
local exit = require "zuora.cli.exit"

local M = {}

local KEYWORDS = { "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in",
  "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while" }

--- The history file: $XDG_STATE_HOME/zuora/history, else ~/.local/state/zuora/history.
function M.history_path(getenv)
  return require("zuora.cli.config").xdg_path("XDG_STATE_HOME", ".local/state", "zuora/history", getenv)
end

local function is_group(v)
  local mt = type(v) == "table" and getmetatable(v)
  return mt and mt.__name == "zuora.group"
end

local function is_client(v)
  return type(v) == "table" and getmetatable(v) == require("zuora.client").Client
end

-- Names under `v` that completion offers after `sep` ("." or ":").
local function members(v, sep)
  local out = {}
  local function add(k) if type(k) == "string" and k:match("^[%a_][%w_]*$") then out[#out + 1] = k end end
  if operations.is_operation(v) then
    if sep == ":" then
      for _, k in ipairs({ "each", "pages", "all", "async", "prepare" }) do add(k) end
    else
      for k in pairs(v.entry) do add(k) end
    end
    return out
  end
  if is_group(v) then
    if sep == "." then for k in pairs(v) do add(k) end end
    return out
  end
  if type(v) == "string" then
    if sep == ":" then for k in pairs(string) do add(k) end end
    return out
  end
  if type(v) ~= "table" then return out end
  local mt = getmetatable(v)
  if is_client(v) then
    if sep == "." then
      for _, g in ipairs(operations.groups()) do add(g) end
    else
      for k, f in pairs(mt) do if type(f) == "function" and not k:find("^__") then add(k) end end
    end
    return out
  end
  for k in pairs(v) do add(k) end
  if mt and type(mt.__index) == "table" then for k in pairs(mt.__index) do add(k) end end
  return out
end

--- Completion candidates for the word `word` (the text before the cursor back to a delimiter).
function M.complete(env, word)
  local base, sep, part = word:match("^(.*)([%.:])([%w_]*)$")
  local candidates = {}
  if not base then
    part = word
    local seen = {}
    local function add(k)
      if type(k) == "string" and not seen[k] and k:match("^[%a_][%w_]*$") then
        seen[k] = true
        candidates[#candidates + 1] = k
      end
    end
    for k in pairs(env) do add(k) end
    for k in pairs(_G) do add(k) end
    for _, k in ipairs(KEYWORDS) do add(k) end
    if rawget(env, "client") ~= nil then for _, g in ipairs(operations.groups()) do add(g) end end
  else
    if not base:match("^[%a_][%w_]*[%w_%.]*$") or base:find("%.%.") then return {} end
    local ok, v = pcall(function()
      local cur
      for name in base:gmatch("[^%.]+") do
        if cur == nil then cur = env[name] else cur = cur[name] end
        if cur == nil then return nil end
      end
      return cur
    end)
    if not ok or v == nil then return {} end
    for _, k in ipairs(members(v, sep)) do candidates[#candidates + 1] = base .. sep .. k end
    part = base .. sep .. part
  end
  local out = {}
  for _, c in ipairs(candidates) do
    if c:sub(1, #part) == part then out[#out + 1] = c end
  end
  table.sort(out)
  return out
end

-- A line that starts with `local` declares a global instead, so `local acct = ...` stays visible to
-- the next line (each line is its own chunk).
local function globalize(src)
  local rest = src:match("^%s*local%s+(function%s.*)$")
  if rest then return rest end
  rest = src:match("^%s*local%s+([%a_][%w_]*%s*[,=].*)$")
  if rest and not rest:find("<", 1, true) then return rest end
  return src
end

-- Compiles `src` as an expression (so `1 + 1` prints 2) or else as statements. Returns the chunk,
-- or nil, message, incomplete (the statement needs more lines).
local function compile(src, env)
  src = globalize(src)
  local chunk = load("return " .. src, "=repl", "t", env)
  if chunk then return chunk end
  local err
  chunk, err = load(src, "=repl", "t", env)
  if chunk then return chunk end
  if err:find("<eof>$") then return nil, err, true end
  return nil, err
end

local function pack(...) return { n = select("#", ...), ... } end

-- A call's `result, nil, meta`: show the result only, keep meta in _meta.
local function is_call_result(r)
  local meta = r[3]
  return r.n == 3 and r[2] == nil and type(meta) == "table" and meta.attempts ~= nil and meta.status ~= nil
end

-- The lines under an error in the REPL: its hint and, for a write whose outcome is unknown, its
-- key and again() (which repeats that request with the same key).
local function advise(err, errout, color)
  for _, line in ipairs(exit.advice(err, "again()  -- the same request with the same Idempotency-Key")) do
    errout:write(term.paint(color, "yellow", line), "\n")
  end
end

--- Prints the values returned by one evaluation; updates _, _err, _meta in env. Returns the exit
-- status of a failure it showed (`nil, err`), else nil.
function M.show(env, r, out, color, errout)
  errout = errout or out
  if r.n == 0 then return end
  if r[1] == nil and r.n >= 2 and r[2] ~= nil then
    env._err = r[2]
    errout:write(term.paint(color, "red", errors.is(r[2]) and tostring(r[2]) or ("nil, " .. tostring(r[2]))), "\n")
    advise(r[2], errout, color)
    return exit.code_of(r[2])
  end
  if is_call_result(r) then
    env._, env._meta = r[1], r[3]
    out:write(pretty.format(r[1], color), "\n")
    return
  end
  env._ = r[1]
  for i = 1, r.n do
    out:write(pretty.format(r[i], color), "\n")
  end
end

local function one_line(msg)
  msg = tostring(msg)
  return (msg:gsub("^repl:%d+: ", ""):gsub("\n.*", ""))
end

--- Watches `client`'s calls (its request and call_one, on the instance): `state.last` is the last
-- call ({method, path, opts, pending, err}). A POST or PATCH gets its Idempotency-Key here, so the
-- key is known even when Ctrl-C stops the call in flight. `state.again()` repeats the last call
-- with the same options and key. Returns state.
function M.watch(client)
  local state = {}
  if type(client) ~= "table" then return state end
  local request, call_one = client.request, client.call_one
  local function finish(call, ...)
    call.pending = false
    if select("#", ...) >= 2 and (...) == nil then call.err = select(2, ...) end
    return ...
  end
  rawset(client, "request", function(self, method, path, opts)
    if type(method) == "string" and (method:upper() == "POST" or method:upper() == "PATCH")
      and (type(opts) ~= "table" or opts.idempotency_key == nil) and (opts == nil or type(opts) == "table") then
      local copy = {}
      for k, v in pairs(opts or {}) do copy[k] = v end
      copy.idempotency_key = require("zuora.core").crypto.uuid4()
      opts = copy
    end
    local call = { method = method, path = path, opts = opts, pending = true }
    state.last = call
    return finish(call, request(self, method, path, opts))
  end)
  if call_one then
    rawset(client, "call_one", function(self, entry, value)
      local call = { method = entry.method, path = entry.path, entry = entry, value = value, pending = true }
      state.last = call
      return finish(call, call_one(self, entry, value))
    end)
  end
  function state.again()
    local call = state.last
    if not call then error("again: no call to repeat", 2) end
    if call.entry then return client:call_one(call.entry, call.value) end
    return client:request(call.method, call.path, call.opts)
  end
  return state
end

local NoClient = { __name = "zuora.no_client" }

--- What `client` is in a session without one: any use raises one sentence saying how to configure
-- a client (`why`: the reason there is none), instead of "attempt to index a nil value".
function M.no_client(why)
  local how = why and tostring(why) or "start the REPL with --sim, set ZUORA_BASE_URL (or ZUORA_ENVIRONMENT), "
    .. "ZUORA_CLIENT_ID and ZUORA_CLIENT_SECRET, or use --profile NAME"
  local msg = "no client in this session (" .. how .. "); or make one here: client = zuora.new{ base_url = ..., "
    .. "client_id = ..., client_secret = ... }"
  NoClient.__index = function() error(msg, 2) end
  NoClient.__tostring = function() return "no client" end
  return setmetatable({ message = msg }, NoClient)
end

local function is_no_client(v) return getmetatable(v) == NoClient end

-- A group global in a session without a client: help(accounts) still explains it, and calling
-- accounts.retrieve(...) says how to configure a client.
local function stub_group(name, stub)
  return setmetatable({}, { __name = "zuora.no_client_group", group = name,
    __index = function(_, op)
      if operations.entry(name, op) then
        return function() error(rawget(stub, "message"), 2) end
      end
      return nil
    end,
    __tostring = function() return name .. " (no client: help(" .. name .. ") lists its operations)" end })
end

--- The REPL's global table: client, zuora, json, decimal, help, the groups; everything else from _G.
-- Without a client, `client` and the groups are stand-ins whose use says how to get one; a
-- `client = zuora.new{...}` typed at the prompt then serves the groups.
function M.environment(client, out, why)
  out = out or io.stdout
  local stub = M.no_client(why)
  local env = { zuora = zuora, json = zuora.json, decimal = zuora.decimal, client = client or stub }
  local stubs = {}
  env.help = function(x)
    local mt = getmetatable(x)
    if mt and mt.__name == "zuora.no_client_group" then x = mt.group end
    local c = rawget(env, "client")
    out:write(help.describe(x, not is_no_client(c) and c or nil), "\n")
  end
  return setmetatable(env, { __index = function(_, k)
    local v = _G[k]
    if v ~= nil then return v end
    if type(k) == "string" and operations.is_group(k) then
      local c = rawget(env, "client")
      if c ~= nil and not is_no_client(c) then return c[k] end
      stubs[k] = stubs[k] or stub_group(k, stub)
      return stubs[k]
    end
    return nil
  end })
end

M.HISTORY_LINES = 1000

-- Names whose assignment puts a credential on the line (`client_secret = "..."`, `password="..."`,
-- `{ token = "..." }`, `t["access_token"] = ...`).
local PRIVATE = { "client_secret", "password", "token", "secret_access_key" }

--- True if `line` assigns a credential: such a line is never written to the history file (nor
-- kept for Up in this session).
function M.private_line(line)
  local l = line:lower()
  for _, name in ipairs(PRIVATE) do
    if l:find(name .. "[\"']?%]?%s*=") then return true end
  end
  return false
end

-- The history file is ours, not lua-readline's: each line is appended as soon as it is entered
-- (so a session that is killed keeps its history), and the file is trimmed when it is loaded.
local function open_history(rl, path)
  local dir = path:match("^(.*)/[^/]*$")
  local function q(x) return "'" .. x:gsub("'", "'\\''") .. "'" end
  -- The file is the user's alone (0600), also when its folder already existed and whatever the
  -- umask: io.open would create it 0644.
  os.execute("mkdir -p -m 700 " .. q(dir) .. " 2>/dev/null; (umask 077; : >> " .. q(path) .. ") 2>/dev/null; chmod 600 "
    .. q(path) .. " 2>/dev/null")
  local lines = {}
  local f = io.open(path, "rb")
  if f then
    for line in f:lines() do lines[#lines + 1] = line end
    f:close()
  end
  local first = math.max(1, #lines - M.HISTORY_LINES + 1)
  if first > 1 then
    f = io.open(path, "wb")
    if f then
      f:write(table.concat(lines, "\n", first), "\n")
      f:close()
    end
  end
  for i = first, #lines do rl.add_history(lines[i]) end
  local previous = lines[#lines]
  return function(line)
    if line:match("^%s*$") or line == previous or M.private_line(line) then return end
    previous = line
    rl.add_history(line)
    local out = io.open(path, "ab")
    if out then
      out:write(line, "\n")
      out:close()
    end
  end
end

M.INTERRUPTED = setmetatable({}, { __tostring = function() return "interrupted" end })

-- Line input: lua-readline on a terminal (editing, completion, history), else plain io.read.
local function line_reader(env, interactive, history)
  if not interactive then
    return function() return io.read("l") end
  end
  local have_rl, rl = pcall(require, "readline")
  if not have_rl then
    return function(text)
      io.stdout:write(text)
      io.stdout:flush()
      return io.read("l")
    end
  end
  rl.set_options{ histfile = "", auto_add = false, completion = true }
  local remember = history and open_history(rl, history) or function(line)
    if line ~= "" and not M.private_line(line) then rl.add_history(line) end
  end
  rl.set_readline_name("zuora")
  rl.set_complete_function(function(text, from, to)
    rl.set_completion_append_character("")
    -- lua-readline passes the word as 1-based `from` and one past its end as `to`.
    return M.complete(env, text:sub(from, to - 1))
  end)
  local interrupt = require("zuora.core").interrupt
  if not (interrupt and interrupt.catch()) then
    return function(prompt)
      -- No core.interrupt: the interpreter's handler raises "interrupted!" once readline returns.
      local ok, line = pcall(rl.readline, prompt)
      if ok then
        if line then remember(line) end
        return line
      end
      if tostring(line):find("interrupted!", 1, true) then return M.INTERRUPTED end
      error(line, 0)
    end, true
  end
  -- readline's callback interface, fed only when the terminal has input: a Ctrl-C while we wait
  -- ends the wait (core.interrupt), and the line typed so far is dropped, as a shell does.
  -- A Ctrl-C must not raise inside readline's callbacks (our line and completion handlers), nor
  -- meet readline's own SIGINT handling: interrupts are deferred (flag only) for the whole read,
  -- SIGINT is blocked while readline reads a key, and wait_readable or take() sees it.
  return function(prompt)
    local line, done, why = nil, false, nil
    interrupt.defer(true)
    rl.handler_install(prompt, function(l)
      line, done = l, true
      rl.handler_remove()
    end)
    while not done do
      local ready
      ready, why = interrupt.wait_readable(0)
      if not ready then break end
      interrupt.shielded(rl.read_char)
    end
    if not done or interrupt.take() then
      -- The handler stays installed: lua-readline's handler_remove closes its terminal stream
      -- before readline restores the terminal through it, which only works once readline has
      -- finished a line. The next handler_install starts a fresh, empty line (leaving that
      -- stream open: one descriptor per Ctrl-C at the prompt).
      if not done and rl.sigcleanup then rl.sigcleanup() end
      io.stdout:write("^C\n")
      io.stdout:flush()
      interrupt.defer(false)
      if done or why == "interrupted" then return M.INTERRUPTED end
      return nil
    end
    interrupt.defer(false)
    if line then remember(line) end
    return line
  end, true
end

M.MAX_LINES = 200

--- A stand-in for `fh` while one result prints on a terminal: the first `max` (MAX_LINES) lines go
-- through, the rest are counted, and finish() says how many were left out and how to see them.
function M.screen(fh, max)
  max = max or M.MAX_LINES
  local w = { lines = 0, dropped = 0 }
  function w.write(self, ...)
    for i = 1, select("#", ...) do
      local s = tostring((select(i, ...)))
      local pos = 1
      while pos <= #s do
        local nl = s:find("\n", pos, true)
        local stop = nl or #s
        if self.lines < max then fh:write(s:sub(pos, stop)) elseif nl then self.dropped = self.dropped + 1 end
        if nl then self.lines = self.lines + 1 end
        pos = stop + 1
      end
    end
    return self
  end
  function w.finish(self, color)
    if self.dropped == 0 then return end
    fh:write(color and term.codes.reset or "", term.paint(color, "dim", ("… %d more lines not shown (%d in all): the "
      .. "value is in _, page(_) shows all of it in a pager"):format(self.dropped, self.lines)), "\n")
  end
  return w
end

--- Shows `x` whole through $PAGER (less -R by default), as the REPL prints it.
function M.page(x, color)
  local text = pretty.format(x, color)
  local pager = os.getenv("PAGER")
  if not pager or pager == "" then pager = "less -R" end
  local p = io.popen(pager, "w")
  if not p then
    io.stdout:write(text, "\n")
    return
  end
  p:write(text, "\n")
  p:close()
end

-- _meta when the value shown is not a call's own (result, nil, meta): what the last response and
-- the error, if any, say about the last call.
local function event_meta(err, last)
  local e = errors.is(err) and err or {}
  return { status = e.status or (last and last.status), request_id = e.request_id or (last and last.request_id),
    attempts = e.attempts or (last and last.attempt), elapsed = last and last.elapsed, method = e.method or
    (last and last.method), url = e.url or (last and last.url), error = err }
end


-- Runs one compiled chunk and shows what it returned (or the error it raised). Returns the exit
-- status of a failure (an error raised, a call's `nil, err` shown), else nil.
local function evaluate(chunk, env, calls, ui, watch)
  for i = #calls, 1, -1 do calls[i] = nil end
  local r = pack(xpcall(chunk, function(e) return e end))
  local response = calls[#calls]
  if not r[1] then
    local e = r[2]
    local text = errors.is(e) and tostring(e) or ("error: " .. one_line(e))
    if exit.interrupted(e) then text = "interrupted" end
    if response then env._meta = event_meta(e, response) end
    io.stderr:write(term.paint(ui.errcolor, "red", text), "\n")
    local last = watch and watch.last
    if exit.interrupted(e) and last and last.pending and last.opts and last.opts.idempotency_key then
      -- Ctrl-C while a write was in flight: it may have reached Zuora
      io.stderr:write(term.paint(ui.errcolor, "yellow", "the write may have been sent: Idempotency-Key "
        .. last.opts.idempotency_key .. "\nrepeat it safely with: again()"), "\n")
    elseif errors.is(e) then
      advise(e, io.stderr, ui.errcolor)
    end
    return exit.code_of(e)
  end
  local values = { n = r.n - 1 }
  for i = 2, r.n do values[i - 1] = r[i] end
  local out = ui.interactive and M.screen(io.stdout) or io.stdout
  local failed = M.show(env, values, out, ui.color, io.stderr)
  if out.finish then out:finish(ui.color) end
  -- a failed call (nil, err), or a value computed from a call: _meta still describes the last call
  local last = response
  if last and not is_call_result(values) then
    env._meta = event_meta(values[1] == nil and values[2] or nil, last)
  end
  -- On a terminal, a dim line under a successful call: what went over the wire.
  if ui.interactive and ui.color and last and not last.error then
    io.stderr:write(term.paint(true, "dim", ("  %s %s · %d ms · request_id %s"):format(last.method,
      tostring(last.status), math.floor((last.elapsed or 0) * 1000 + 0.5),
      (tostring(last.request_id):gsub("%c", " ")))), "\n") -- (the server's text: no escape sequences)
  end
  return failed
end

-- The prompt: against production it says so, in red (readline is told the colour codes take no
-- room on the line, between \1 and \2).
local function prompt(ctx, ui, continued, readline)
  if not ctx.production then return continued and "...> " or "zuora> " end
  local text = continued and "...> " or "zuora[PRODUCTION]> "
  if not ui.color then return text end
  local on, off = term.codes.bold .. term.codes.red, term.codes.reset
  if readline then on, off = "\1" .. on .. "\2", "\1" .. off .. "\2" end
  return on .. text .. off
end

local function client_or_warn(ctx, ui)
  local client, cerr = ctx:client()
  if not client then
    io.stderr:write(term.paint(ui.errcolor, "yellow", "zuora: no client (" .. tostring(cerr) .. "); `client` is nil"),
      "\n")
  end
  return client, cerr
end

--- `zuora run script.lua args...`: runs the file (or stdin for "-") with the REPL's globals, `arg`
-- and `...`. Returns the exit status: that of an error the script raised, else that of its last
-- API call when that call failed (a script that ends without checking still tells the shell), else 0.
function M.run_script(ctx, path, args)
  local ui = { color = term.color(1), errcolor = term.color(2) }
  local client, cerr = client_or_warn(ctx, ui)
  local watch = M.watch(client)
  local env = M.environment(client, nil, cerr)
  env.again = watch.again
  local text, rerr
  if path == "-" then
    text = io.read("a")
  else
    local f
    f, rerr = io.open(path, "rb")
    if f then
      text = f:read("a")
      f:close()
    end
  end
  if not text then
    io.stderr:write("zuora: ", tostring(rerr), "\n")
    return exit.LOCAL
  end
  text = text:gsub("^#![^\n]*", "") -- a shebang line
  local chunk, err = load(text, "@" .. path, "t", env)
  if not chunk then
    io.stderr:write("zuora: ", tostring(err), "\n")
    return exit.LOCAL
  end
  args = args or {}
  local argt = { [0] = path }
  for i, v in ipairs(args) do argt[i] = v end
  env.arg = argt
  local ok, e = xpcall(chunk, function(x) return errors.is(x) and x or debug.traceback(x, 2) end,
    table.unpack(args))
  if not ok then
    if exit.interrupted(e) then
      io.stderr:write("\nzuora: interrupted\n")
      local last = watch.last
      if last and last.pending and last.opts and last.opts.idempotency_key then
        io.stderr:write("the write may have been sent: Idempotency-Key ", last.opts.idempotency_key, "\n")
      end
      return exit.INTERRUPTED
    end
    if errors.is(e) then
      io.stderr:write(tostring(e), "\n")
      advise(e, io.stderr, false)
    else
      io.stderr:write("zuora: ", tostring(e), "\n")
    end
    return exit.code_of(e)
  end
  local last = watch.last
  if last and last.err then
    io.stderr:write("zuora: the script's last API call failed: ", tostring(last.err), "\n")
    return exit.code_of(last.err)
  end
  return exit.OK
end

--- Runs the REPL; returns the exit status: 0 on a terminal; read from a pipe, that of the last
-- line that failed (an error raised or a call's `nil, err`), so a piped script that failed does
-- not look like a success.
function M.run(ctx)
  local ui = { interactive = term.isatty(0), color = term.color(1), errcolor = term.color(2) }
  local client, cerr = client_or_warn(ctx, ui)
  local watch = M.watch(client)
  local env = M.environment(client, nil, cerr)
  env.again = watch.again
  env.page = function(x) M.page(x, ui.color) end
  local status = exit.OK
  local calls = {}
  ctx:on_response(function(ev)
    if not ev.token_request then calls[#calls + 1] = ev end
  end)
  local read, readline = line_reader(env, ui.interactive, ui.interactive and M.history_path() or nil)
  if ui.interactive then
    io.stdout:write(term.paint(ui.color, "dim", ("lua-zuora %s REPL — %s. help() explains, Tab completes, "
      .. "Ctrl-D leaves."):format(zuora.version, client and tostring(client) or "no client")), "\n")
    if ctx.production then
      io.stdout:write(term.paint(ui.color, "red", "This is PRODUCTION: every call reaches live billing data"
        .. (client and client.policy and client.policy.read_only and " (read-only)" or "") .. "."), "\n")
    end
  end
  local buffer, interrupts = nil, 0
  while true do
    -- (a Ctrl-C between two steps of this loop raises "interrupted!" here: a discarded line too)
    local rok, line = pcall(read, prompt(ctx, ui, buffer ~= nil, readline))
    if not rok then
      if not exit.interrupted(line) then error(line, 0) end
      line = M.INTERRUPTED
    end
    if line == nil then break end
    if line == M.INTERRUPTED then
      -- Ctrl-C drops the line; it never ends the session (a --sim tenant would go with it).
      interrupts = interrupts + 1
      if interrupts >= 2 then
        io.stderr:write(term.paint(ui.errcolor, "dim", ctx.sim and "(Ctrl-D leaves; this session's zuora-sim and "
          .. "its tenant stop with it)" or "(Ctrl-D leaves)"), "\n")
      end
      line, buffer = "", nil
    else
      interrupts = 0
    end
    buffer = buffer and (buffer .. "\n" .. line) or line
    if buffer:match("^%s*$") then
      buffer = nil
    else
      local chunk, err, incomplete = compile(buffer, env)
      if not incomplete then -- else keep reading lines
        buffer = nil
        if chunk then
          status = evaluate(chunk, env, calls, ui, watch) or status
        else
          io.stderr:write(term.paint(ui.errcolor, "red", "syntax error: " .. one_line(err)), "\n")
          status = exit.LOCAL
        end
      end
    end
    io.stdout:flush()
  end
  if buffer then -- input ended inside a statement
    io.stderr:write(term.paint(ui.errcolor, "red", "syntax error: the input ended inside a statement"), "\n")
    status = exit.LOCAL
  end
  if ui.interactive then
    io.stdout:write("\n")
    return exit.OK
  end
  return status
end

return M
