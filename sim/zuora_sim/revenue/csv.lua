--- zuora-sim's CSV reader for Revenue uploads (RFC 4180: quoted fields may hold commas, line
-- breaks and doubled quotes). Independent of the client's splitter on purpose: the simulator is
-- the peer the client is tested against. Pure Lua.
local M = {}

local find, sub = string.find, string.sub

--- Physical lines of `text`: line breaks, plus one for a last line without its break.
function M.count_lines(text)
  local _, n = text:gsub("\n", "")
  if #text > 0 and sub(text, -1) ~= "\n" then n = n + 1 end
  return n
end

--- Parses `text` into rows (arrays of field strings), each with `.line` (the line it starts on).
-- Returns rows, or nil and a message naming the line of the first problem. Blank lines are skipped.
function M.parse(text)
  local rows, row = {}, {}
  local i, n, line, row_line = 1, #text, 1, 1
  local function end_row()
    if not (#row == 1 and row[1] == "") then
      row.line = row_line
      rows[#rows + 1] = row
    end
    row = {}
  end
  while i <= n do
    local c = sub(text, i, i)
    local value
    if c == '"' then
      -- a quoted field: up to the quote that is not doubled
      local parts, j = {}, i + 1
      while true do
        local q = find(text, '"', j, true)
        if not q then return nil, ("line %d: a quoted field never ends"):format(line) end
        local chunk = sub(text, j, q - 1)
        local _, breaks = chunk:gsub("\n", "")
        line = line + breaks
        parts[#parts + 1] = chunk
        if sub(text, q + 1, q + 1) == '"' then
          parts[#parts + 1] = '"'
          j = q + 2
        else
          i = q + 1
          break
        end
      end
      value = table.concat(parts)
      local nxt = sub(text, i, i)
      if nxt ~= "" and nxt ~= "," and nxt ~= "\n" and not (nxt == "\r" and sub(text, i + 1, i + 1) == "\n") then
        return nil, ("line %d: text after a closing quote"):format(line)
      end
    else
      local e = find(text, '[,\n"]', i) or (n + 1)
      if sub(text, e, e) == '"' then return nil, ("line %d: a quote inside an unquoted field"):format(line) end
      value = sub(text, i, e - 1)
      if sub(value, -1) == "\r" and sub(text, e, e) == "\n" then value = sub(value, 1, -2) end
      i = e
    end
    row[#row + 1] = value
    local sep = sub(text, i, i)
    if sep == "\r" then i = i + 1; sep = sub(text, i, i) end
    if sep == "," then
      i = i + 1
      if i > n then row[#row + 1] = "" end
    elseif sep == "\n" then
      end_row()
      i = i + 1
      line = line + 1
      row_line = line
    end
  end
  if #row > 0 then end_row() end
  return rows
end

return M
