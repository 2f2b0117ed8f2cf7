--- Terminal facts for the CLI: which standard streams are terminals, whether to use colour, how
-- wide the screen is, and the ANSI sequences the CLI uses. Plain Lua 5.4 has no isatty, so the
-- answer comes from `test -t` in a shell that inherits our descriptors (once per stream).
local M = {}

local tty_cache = {}

--- True if file descriptor `fd` (0, 1 or 2) is a terminal.
function M.isatty(fd)
  local v = tty_cache[fd]
  if v == nil then
    local ok = os.execute("test -t " .. math.tointeger(fd))
    v = ok == true or ok == 0
    tty_cache[fd] = v
  end
  return v
end

--- Overrides what isatty reports (the CLI's --progress and the specs use it).
function M.set_tty(fd, v) tty_cache[fd] = v end

--- True if output to `fd` should be coloured: a terminal, no NO_COLOR, and not TERM=dumb.
function M.color(fd)
  local no = os.getenv("NO_COLOR")
  if no and no ~= "" then return false end
  if os.getenv("TERM") == "dumb" then return false end
  return M.isatty(fd)
end

--- Columns of the terminal on stderr (COLUMNS, else stty, else 80).
function M.width()
  if M._width then return M._width end
  local w = tonumber(os.getenv("COLUMNS") or "")
  if not w then
    local p = io.popen("stty size </dev/tty 2>/dev/null")
    if p then
      local out = p:read("a") or ""
      p:close()
      w = tonumber(out:match("%d+%s+(%d+)"))
    end
  end
  M._width = (w and w >= 20) and w or 80
  return M._width
end

M.codes = {
  reset = "\27[0m", bold = "\27[1m", dim = "\27[2m", red = "\27[31m", green = "\27[32m",
  yellow = "\27[33m", blue = "\27[34m", magenta = "\27[35m", cyan = "\27[36m",
}

--- `s` wrapped in the colour `name` when `on`, else `s` unchanged.
function M.paint(on, name, s)
  if not on then return s end
  return M.codes[name] .. s .. M.codes.reset
end

return M
