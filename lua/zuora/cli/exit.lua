--- Exit statuses of the `zuora` command (DESIGN.md, docs/cli.md), so a script can branch on the
-- kind of failure, and the lines that tell the user what to do after one.
local errors = require "zuora.errors"

local M = {
  OK = 0,          -- success
  LOCAL = 1,       -- usage, configuration, a local file, a Lua error
  AUTH = 2,        -- credentials refused
  CLIENT = 3,      -- the API said no: 4xx, `success: false`, a failed job
  SERVER = 4,      -- 5xx, transport, timeout, an answer that cannot be read
  POLICY = 5,      -- refused by the client's rules (read-only, deny) or a declined confirmation
  INTERRUPTED = 130,
}

--- The exit status for a failure value (a zuora.Error, or anything else: LOCAL).
function M.code_of(err)
  if not errors.is(err) then
    if type(err) == "string" and err:find("interrupted!", 1, true) then return M.INTERRUPTED end
    return M.LOCAL
  end
  local kind = err.kind
  if kind == "policy" then return M.POLICY end
  if kind == "auth" or err.status == 401 then return M.AUTH end
  if kind == "cancelled" then return M.INTERRUPTED end
  if kind == "api" then
    if err.status and err.status >= 500 then return M.SERVER end
    return M.CLIENT
  end
  if kind == "limit" or kind == "file" then return M.LOCAL end
  return M.SERVER -- transport, timeout, decode
end

--- True when `e` (an error value or message) is the interpreter's Ctrl-C.
function M.interrupted(e)
  return not errors.is(e) and tostring(e):find("interrupted!", 1, true) ~= nil
end

local function shell_quote(s)
  if s:match("^[%w@%%+=:,./_-]+$") then return s end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end
M.shell_quote = shell_quote

--- The command line `argv` (arg-style array, without the program) with `--idempotency-key key`
-- in place of any key it had: the command that repeats a write safely.
function M.repeat_command(argv, key)
  local parts = { "zuora" }
  local i = 1
  while i <= #argv do
    local a = argv[i]
    if a == "--idempotency-key" then
      i = i + 1
    elseif not a:find("^%-%-idempotency%-key=") then
      parts[#parts + 1] = shell_quote(a)
    end
    i = i + 1
  end
  parts[#parts + 1] = "--idempotency-key"
  parts[#parts + 1] = shell_quote(key)
  return table.concat(parts, " ")
end

--- The lines shown under an error: its hint, and for a write whose outcome is unknown its key and
-- `again` (how to repeat it safely). Returns an array of strings.
function M.advice(err, again)
  local lines = {}
  if errors.is(err) and err.hint then lines[#lines + 1] = "hint: " .. err.hint end
  if errors.is(err) and err.outcome_unknown and err.idempotency_key then
    lines[#lines + 1] = "the write may have been done: Idempotency-Key " .. err.idempotency_key
    if again then lines[#lines + 1] = "repeat it safely with: " .. again end
  end
  return lines
end

return M
