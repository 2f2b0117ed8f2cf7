--- How the CLI shows values: indented, key-sorted JSON through the library's own codec (so every
-- digit of an amount or id comes out exactly as it went in), coloured token by token on a
-- terminal; zuora.Error values as their one-line form; anything JSON cannot hold (functions,
-- operation objects, mixed tables) as a short Lua description.
local json = require("zuora.core").json
local errors = require "zuora.errors"
local term = require "zuora.cli.term"

local M = {}

local PRETTY = { indent = "  ", sort_keys = true }

--- Colours a JSON text: keys, strings, numbers and literals each in their own colour.
function M.colorize(text)
  local c = term.codes
  local out, i, n = {}, 1, #text
  while i <= n do
    local ch = text:sub(i, i)
    if ch == '"' then
      local j = i + 1
      while j <= n do
        local cj = text:sub(j, j)
        if cj == "\\" then j = j + 2
        elseif cj == '"' then break
        else j = j + 1 end
      end
      local s = text:sub(i, j)
      local k = j + 1
      while text:sub(k, k) == " " do k = k + 1 end
      local colour = text:sub(k, k) == ":" and c.blue or c.green
      out[#out + 1] = colour .. s .. c.reset
      i = j + 1
    elseif ch:find("[%-%d]") then
      local s = text:match("^%-?[%d.eE+%-]+", i)
      out[#out + 1] = c.yellow .. s .. c.reset
      i = i + #s
    elseif ch == "t" or ch == "f" or ch == "n" then
      local s = text:match("^%a+", i)
      out[#out + 1] = c.magenta .. s .. c.reset
      i = i + #s
    else
      local s = text:match("^[^\"%-%dtfn]+", i)
      out[#out + 1] = s
      i = i + #s
    end
  end
  return table.concat(out)
end

local function is_identifier(s)
  return type(s) == "string" and s:match("^[%a_][%w_]*$") ~= nil
end

-- A Lua-ish description of a value JSON cannot hold; cycles and depth are bounded.
local function describe(v, depth, seen, indent)
  local t = type(v)
  if t == "string" then return ("%q"):format(v) end
  if t ~= "table" then return tostring(v) end
  local mt = getmetatable(v)
  if mt and mt.__tostring then return tostring(v) end
  if seen[v] then return "<cycle>" end
  if depth > 3 then return "{...}" end
  seen[v] = true
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then return ta < tb end
    if ta == "number" or ta == "string" then return a < b end
    return tostring(a) < tostring(b)
  end)
  if #keys == 0 then
    seen[v] = nil
    return "{}"
  end
  local inner = indent .. "  "
  local parts = {}
  for _, k in ipairs(keys) do
    local key = is_identifier(k) and k or ("[" .. describe(k, depth + 1, seen, inner) .. "]")
    parts[#parts + 1] = inner .. key .. " = " .. describe(v[k], depth + 1, seen, inner)
  end
  seen[v] = nil
  return "{\n" .. table.concat(parts, ",\n") .. "\n" .. indent .. "}"
end

--- The text for `v`; `color` colours JSON output.
function M.format(v, color)
  if v == nil then return "nil" end
  if errors.is(v) then return tostring(v) end
  local t = type(v)
  if t == "function" or t == "thread" or (t == "userdata" and v ~= json.null) then return tostring(v) end
  if t == "table" then
    local mt = getmetatable(v)
    if mt and mt.__tostring and mt ~= json.array_mt then return tostring(v) end
  end
  local text = json.encode(v, PRETTY)
  if not text then return describe(v, 0, {}, "") end
  if color then text = M.colorize(text) end
  return text
end

--- Compact JSON (one line, keys sorted) for `v`, or nil, err.
function M.compact(v)
  return json.encode(v, { sort_keys = true })
end

return M
