--- `zuora ops [words...]`: search the catalogue. An exact `group.op` prints that operation in
-- detail, an exact group name lists the group, anything else lists every operation whose
-- group.name, method, path or title contains all the words. No match is a failure (exit 1).
local help = require "zuora.cli.help"

local M = {}

function M.run(ctx, a)
  local pattern = table.concat(a.pattern or {}, " ")
  local exact = help.find(pattern)
  if exact then
    io.stdout:write(help.operation(exact), "\n")
    return 0
  end
  local group = pattern:match("^%s*([%w_]+)%s*$") and help.group(pattern:match("^%s*(.-)%s*$"))
  if group then
    io.stdout:write(group, "\n")
    return 0
  end
  local found, recipe = help.search(pattern), help.recipes(pattern)
  if #found == 0 and not recipe then
    ctx:fail(("no operation matches %q"):format(pattern))
    return 1
  end
  if #found > 0 then io.stdout:write(help.list(found), "\n") end
  if #found > 1 then ctx:note(("%d operations"):format(#found)) end
  -- (on stderr, so stdout stays one operation a line for scripts)
  if recipe then ctx:note(recipe) end
  return 0
end

return M
