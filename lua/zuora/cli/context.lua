--- What every subcommand shares: the parsed flags, the client (built on first use from profile,
-- ZUORA_* variables and flags), the session's zuora-sim, request tracing, and the rules for
-- progress output. `ctx:close()` stops anything the command started.
local zuora = require "zuora"
local config = require "zuora.cli.config"
local term = require "zuora.cli.term"
local progress = require "zuora.cli.progress"
local exit = require "zuora.cli.exit"

local M = {}

local Context = {}
Context.__index = Context

--- `flags`: the parsed command line; `env`: { root =, bindir = } from bin/zuora; `argv`: the
-- command line as given (for the command that repeats a write safely).
function M.new(flags, env, argv)
  return setmetatable({ flags = flags, bindir = env and env.bindir, root = env and env.root,
    listeners = {}, request_listeners = {}, argv = argv or {} }, Context)
end

--- Writes "zuora: msg" to stderr.
function Context:fail(msg)
  io.stderr:write("zuora: ", tostring(msg), "\n")
  io.stderr:flush()
end

--- Writes a failure on stderr: a zuora.Error as its own one line, then its hint and, for a write
-- whose outcome is unknown, its Idempotency-Key and `again` (the command that repeats it safely;
-- default: this command line with that key); anything else as "zuora: msg". Returns the exit
-- status for it (zuora.cli.exit).
function Context:fail_error(err, again)
  if require("zuora.errors").is(err) then
    io.stderr:write(tostring(err), "\n")
    if err.outcome_unknown and err.idempotency_key and again == nil then
      again = exit.repeat_command(self.argv, err.idempotency_key)
    end
    for _, line in ipairs(exit.advice(err, again)) do io.stderr:write(line, "\n") end
    io.stderr:flush()
  else
    self:fail(err)
  end
  return exit.code_of(err)
end

--- Writes an informational line to stderr unless --quiet.
function Context:note(msg)
  if self.flags.quiet then return end
  io.stderr:write(msg, "\n")
  io.stderr:flush()
end

--- Registers fn(event) to see every response of the session's client (the REPL's status line).
function Context:on_response(fn) self.listeners[#self.listeners + 1] = fn end

--- Registers fn(event) to see every request of the session's client as it leaves.
function Context:on_request(fn) self.request_listeners[#self.request_listeners + 1] = fn end

local function trace_request(ev)
  if ev.token_request then
    io.stderr:write("> ", ev.method, " ", ev.url, " (token)\n")
  else
    io.stderr:write("> ", ev.method, " ", ev.url, ev.attempt and ev.attempt > 1 and (" (attempt " .. ev.attempt .. ")")
      or "", "\n")
  end
  io.stderr:flush()
end

local function trace_response(ev)
  local parts = { "< " .. tostring(ev.status or "-") }
  if ev.elapsed then parts[#parts + 1] = ("%.0f ms"):format(ev.elapsed * 1000) end
  -- (the server's text: a terminal escape sequence in it would reach the terminal)
  if ev.request_id then parts[#parts + 1] = "request_id=" .. tostring(ev.request_id):gsub("%c", " ") end
  if ev.error then parts[#parts + 1] = tostring(ev.error.category or ev.error.kind) end
  if ev.retry_in then parts[#parts + 1] = ("retry in %.1f s"):format(ev.retry_in) end
  io.stderr:write(table.concat(parts, "  "), "\n")
  io.stderr:flush()
end

--- Client options for this invocation, or nil, message (starts zuora-sim for --sim).
function Context:client_options()
  local path = config.path()
  local cfg, err = config.load(path)
  if not cfg then return nil, err end
  local f = self.flags
  local sim_info
  if f.sim then
    local s, serr = self:start_sim()
    if not s then return nil, serr end
    sim_info = { url = s.url, client_id = s.client_id, client_secret = s.client_secret }
  end
  local opts, info = config.client_options(cfg, {
    profile = f.profile, env = f.env, base_url = f.base_url, zuora_version = f.zuora_version, sim = sim_info,
    read_only = f.read_only,
  })
  if not opts then return nil, info end
  self.config_info = info
  self.production = info.production
  return opts
end

--- The session's client, or nil, message.
function Context:client()
  if self._client then return self._client end
  if self._client_error then return nil, self._client_error end
  local opts, err = self:client_options()
  if opts then
    local listeners, trace, rlisteners = self.listeners, self.flags.trace, self.request_listeners
    opts.on_request = function(ev)
      if trace then trace_request(ev) end
      for _, fn in ipairs(rlisteners) do fn(ev) end
    end
    -- Amounts keep the digits the server sent, in every output and in the REPL (docs/decimal.md).
    if opts.decimals == nil then opts.decimals = true end
    opts.on_response = function(ev)
      if trace then trace_response(ev) end
      for _, fn in ipairs(listeners) do fn(ev) end
    end
    local ok, c = pcall(zuora.new, opts)
    if ok then
      self._client = c
      return c
    end
    err = tostring(c):gsub("^[^\n]-:%d+: ", "")
  end
  self._client_error = err
  return nil, err
end

--- A new client with the session's options (never the session's own one), `changes` applied
-- (a value of false removes an option); or nil, message. For work after an interruption, when
-- the session's client may be in the middle of a transfer.
function Context:fresh_client(changes)
  local opts, err = self:client_options()
  if not opts then return nil, err end
  for k, v in pairs(changes or {}) do
    if v == false then opts[k] = nil else opts[k] = v end
  end
  local ok, c = pcall(zuora.new, opts)
  if not ok then return nil, tostring(c) end
  return c
end

--- Starts the session's zuora-sim (once).
function Context:start_sim()
  if self.sim then return self.sim end
  local s, err = require("zuora.cli.sim").start(self.bindir)
  if not s then return nil, err end
  self.sim = s
  -- A small tenant (account A00000001, a subscription, a paid invoice), so help()'s examples work.
  local seeded, serr = s:seed()
  if not seeded then
    self.sim = nil
    s:stop()
    return nil, "zuora-sim started but its tenant could not be seeded: " .. tostring(serr)
  end
  if not self.flags.quiet and term.isatty(2) then
    io.stderr:write(term.paint(term.color(2), "dim", "zuora-sim at " .. s.url .. " (stopped when this command ends)"),
      "\n")
  end
  return s
end

--- True when progress should be drawn: --progress forces it, --quiet silences it, otherwise only
-- when stderr is a terminal.
function Context:progress_enabled()
  if self.flags.quiet then return false end
  if self.flags.progress then return true end
  return term.isatty(2)
end

--- A progress line for `label` (inactive when progress is off); `opts` as progress.new.
function Context:progress(label, opts)
  local tty = term.isatty(2)
  return progress.new{ label = label, enabled = self:progress_enabled(), tty = tty,
    width = tty and term.width() or 100, rows = not (opts and opts.rows == false) }
end

--- Stops the session's simulator and releases the client.
function Context:close()
  if self._client then
    pcall(self._client.close, self._client)
    self._client = nil
  end
  if self.sim then
    self.sim:stop()
    self.sim = nil
  end
end

return M
