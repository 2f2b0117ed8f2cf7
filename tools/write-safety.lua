--- The write-safety verdicts to review: every PUT and DELETE of both catalogues (Billing and
-- Revenue) with `idempotent`, and every non-GET that `reads`, one line each, sorted.
-- spec/catalog_safety_spec.lua compares this listing with spec/data/write-safety.txt, so a new
-- reference version shows each new verdict for review. After reviewing, regenerate the file:
--   LUA_PATH='lua/?.lua;lua/?/init.lua;;' lua5.4 tools/write-safety.lua > spec/data/write-safety.txt
local operations = require "zuora.operations"

local M = {}

--- The sorted lines.
function M.lines()
  local lines = {}
  for _, catalog in ipairs { "zuora.catalog", "zuora.catalog.revenue" } do
    for _, e in ipairs(operations.list(catalog)) do
      if e.method == "PUT" or e.method == "DELETE" or (e.reads and e.method ~= "GET") then
        local verdict = e.idempotent and "idempotent" or "NOT-idempotent"
        if e.reads then verdict = verdict .. ",reads" end
        lines[#lines + 1] = ("%-6s %-76s %-25s %s.%s"):format(e.method, e.path, verdict, e.group, e.name)
      end
    end
  end
  table.sort(lines)
  return lines
end

if not pcall(debug.getlocal, 4, 1) then -- run as a script, not required
  for _, line in ipairs(M.lines()) do print(line) end
end

return M
