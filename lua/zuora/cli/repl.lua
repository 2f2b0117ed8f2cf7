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
    if rawget(env, "client") then for _, g in ipairs(operations.groups()) do add(g) end end
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

--- Prints the values returned by one evaluation; updates _, _err, _meta in env.
function M.show(env, r, out, color, errout)
  errout = errout or out
  if r.n == 0 then return end
  if r[1] == nil and r.n >= 2 and r[2] ~= nil then
    env._err = r[2]
    errout:write(term.paint(color, "red", errors.is(r[2]) and tostring(r[2]) or ("nil, " .. tostring(r[2]))), "\n")
    return
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

--- The REPL's global table: client, zuora, json, help, the groups; everything else from _G.
function M.environment(client, out)
  out = out or io.stdout
  local env = { zuora = zuora, json = zuora.json, client = client }
  env.help = function(x)
    out:write(help.describe(x, client), "\n")
  end
  return setmetatable(env, { __index = function(_, k)
    local v = _G[k]
    if v ~= nil then return v end
    if client and type(k) == "string" and operations.is_group(k) then return client[k] end
    return nil
  end })
end

M.HISTORY_LINES = 1000

-- The history file is ours, not lua-readline's: each line is appended as soon as it is entered
-- (so a session that is killed keeps its history), and the file is trimmed when it is loaded.
local function open_history(rl, path)
  local dir = path:match("^(.*)/[^/]*$")
  os.execute("mkdir -p -m 700 '" .. dir:gsub("'", "'\\''") .. "' 2>/dev/null")
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
    if line:match("^%s*$") or line == previous then return end
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
    return function(prompt)
      io.stdout:write(prompt)
      io.stdout:flush()
      return io.read("l")
    end
  end
  rl.set_options{ histfile = "", auto_add = false, completion = true }
  local remember = history and open_history(rl, history) or function(line)
    if line ~= "" then rl.add_history(line) end
  end
  rl.set_readline_name("zuora")
  rl.set_complete_function(function(text, from, to)
    rl.set_completion_append_character("")
    -- lua-readline passes the word as 1-based `from` and one past its end as `to`.
    return M.complete(env, text:sub(from, to - 1))
  end)
  return function(prompt)
    -- Ctrl-C at the prompt: the interpreter's handler raises "interrupted!" once readline returns.
    local ok, line = pcall(rl.readline, prompt)
    if ok then
      if line then remember(line) end
      return line
    end
    if tostring(line):find("interrupted!", 1, true) then return M.INTERRUPTED end
    error(line, 0)
  end
end

-- Runs one compiled chunk and shows what it returned (or the error it raised).
local function evaluate(chunk, env, calls, ui)
  for i = #calls, 1, -1 do calls[i] = nil end
  local r = pack(xpcall(chunk, function(e) return e end))
  if not r[1] then
    local e = r[2]
    local text = errors.is(e) and tostring(e) or ("error: " .. one_line(e))
    if not errors.is(e) and tostring(e):find("interrupted!", 1, true) then text = "interrupted" end
    io.stderr:write(term.paint(ui.errcolor, "red", text), "\n")
    return
  end
  local values = { n = r.n - 1 }
  for i = 2, r.n do values[i - 1] = r[i] end
  M.show(env, values, io.stdout, ui.color, io.stderr)
  -- On a terminal, a dim line under a successful call: what went over the wire.
  local last = calls[#calls]
  if ui.interactive and ui.color and last and not last.error then
    io.stderr:write(term.paint(true, "dim", ("  %s %s · %d ms · request_id %s"):format(last.method,
      tostring(last.status), math.floor((last.elapsed or 0) * 1000 + 0.5), tostring(last.request_id))), "\n")
  end
end

--- Runs the REPL; returns the exit status.
function M.run(ctx)
  local client, cerr = ctx:client()
  local ui = { interactive = term.isatty(0), color = term.color(1), errcolor = term.color(2) }
  if not client then
    io.stderr:write(term.paint(ui.errcolor, "yellow", "zuora: no client (" .. tostring(cerr) .. "); `client` is nil"),
      "\n")
  end
  local env = M.environment(client)
  local calls = {}
  ctx:on_response(function(ev)
    if not ev.token_request then calls[#calls + 1] = ev end
  end)
  local read = line_reader(env, ui.interactive, ui.interactive and M.history_path() or nil)
  if ui.interactive then
    io.stdout:write(term.paint(ui.color, "dim", ("lua-zuora %s REPL — %s. help() explains, Tab completes, "
      .. "Ctrl-D leaves."):format(zuora.version, client and tostring(client) or "no client")), "\n")
  end
  local buffer
  while true do
    local line = read(buffer and "...> " or "zuora> ")
    if line == nil then break end
    if line == M.INTERRUPTED then
      io.stderr:write(term.paint(ui.errcolor, "yellow", "interrupted: line discarded"), "\n")
      line, buffer = "", nil
    end
    buffer = buffer and (buffer .. "\n" .. line) or line
    if buffer:match("^%s*$") then
      buffer = nil
    else
      local chunk, err, incomplete = compile(buffer, env)
      if not incomplete then -- else keep reading lines
        buffer = nil
        if chunk then
          evaluate(chunk, env, calls, ui)
        else
          io.stderr:write(term.paint(ui.errcolor, "red", "syntax error: " .. one_line(err)), "\n")
        end
      end
    end
    io.stdout:flush()
  end
  if ui.interactive then io.stdout:write("\n") end
  return 0
end

return M
