--- Derives spec/data/dectest.txt, the General Decimal Arithmetic cases spec/decimal_spec.lua runs
-- against zuora.decimal, from the public .decTest files (Mike Cowlishaw's testcases, speleotrove.com/
-- decimal; CPython keeps a release of them under Lib/test/decimaltestdata/). The committed data
-- came from release 2.62 as github.com/cppalliance/decimal-dectest keeps it (archive/dectest/,
-- commit db67daf), CPython's repository being too large to fetch here. The .decTest files themselves
-- are not part of this repository; point the tool at a copy:
--
--   lua5.4 tools/gen-dectest.lua DIR                  -- a directory holding add.decTest, ...
--   lua5.4 tools/gen-dectest.lua --git GITDIR REV:PATH -- the same files inside a git repository
--
-- Kept: add, subtract, multiply, compare, quantize and divide cases on finite operands whose
-- exponents lie within +-400, under extended arithmetic, in the rounding modes zuora.decimal has,
-- with no condition other than Rounded and Inexact (no overflow, underflow, clamping, invalid
-- operation or division by zero: zuora.decimal has no exponent limits or special values). The
-- data file says for each case how to check it (see its header).
local OPS = { add = true, subtract = true, multiply = true, compare = true, quantize = true, divide = true }
local FILES = { "add", "subtract", "multiply", "compare", "quantize", "divide" }
local MODES = { half_even = true, half_up = true, half_down = true, up = true, down = true, ceiling = true,
  floor = true }
local MAX_EXP = 400

local read
if arg[1] == "--git" then
  local gitdir, where = arg[2], arg[3]
  if not gitdir or not where then error("usage: gen-dectest.lua --git GITDIR REV:PATH") end
  read = function(name)
    local p = assert(io.popen(("git --git-dir=%q show %q"):format(gitdir, where .. "/" .. name .. ".decTest")))
    local text = p:read("a")
    p:close()
    if text == "" then error("cannot read " .. where .. "/" .. name .. ".decTest") end
    return text
  end
elseif arg[1] then
  read = function(name)
    local f = assert(io.open(arg[1] .. "/" .. name .. ".decTest"))
    local text = f:read("a")
    f:close()
    return text
  end
else
  error("usage: gen-dectest.lua DIR | --git GITDIR REV:PATH")
end

-- Splits a case line into words; '...' and "..." quote (doubled quotes inside stand for one).
local function words(line)
  local out, i, n = {}, 1, #line
  while i <= n do
    local c = line:sub(i, i)
    if c:match("%s") then
      i = i + 1
    elseif c == "'" or c == '"' then
      local buf, j = {}, i + 1
      while j <= n do
        local d = line:sub(j, j)
        if d == c then
          if line:sub(j + 1, j + 1) == c then
            buf[#buf + 1] = c
            j = j + 2
          else
            break
          end
        else
          buf[#buf + 1] = d
          j = j + 1
        end
      end
      out[#out + 1] = table.concat(buf)
      i = j + 1
    else
      local j = line:find("%s", i) or n + 1
      out[#out + 1] = line:sub(i, j - 1)
      i = j
    end
  end
  return out
end

-- The exponent of a finite decimal string ("1.23E+5" -> 3), or nil when it is not one we take.
local function exponent(s)
  local int, frac, ex = s:match("^[+-]?(%d*)%.?(%d*)[eE]([+-]?%d+)$")
  if not int then int, frac = s:match("^[+-]?(%d*)%.?(%d*)$") end
  if not int or (int == "" and frac == "") then return nil end
  if s:find("%.") and not s:find("^[+-]?%d*%.%d*") then return nil end
  local e = tonumber(ex or "0") - #frac
  if e > MAX_EXP or e < -MAX_EXP or #s > 200 then return nil end
  return e
end

local ALLOWED = { [""] = true, Rounded = true, ["Inexact Rounded"] = true, ["Rounded Inexact"] = true }

local out, counts = {}, {}
for _, file in ipairs(FILES) do
  local text = read(file)
  local rounding, extended = "half_up", 1
  for line in text:gmatch("[^\n]+") do
    line = line:gsub("%-%-.*$", ""):gsub("%s+$", "")
    local key, value = line:match("^%s*(%a+):%s*(%S+)")
    if key then
      key = key:lower()
      if key == "rounding" then rounding = value:lower() end
      if key == "extended" then extended = tonumber(value) end
    elseif line:match("%S") then
      local w = words(line)
      local id, op = w[1], w[2] and w[2]:lower()
      local arrow
      for i = 3, #w do if w[i] == "->" then arrow = i break end end
      if OPS[op] and arrow and extended == 1 and MODES[rounding] then
        local a, b = w[3], arrow == 5 and w[4] or nil
        local expected = w[arrow + 1]
        local conds = table.concat(w, " ", arrow + 2)
        local ea, eb, ee = exponent(a), b and exponent(b), expected and exponent(expected)
        local fine = ea and (b == nil or eb) and ALLOWED[conds] and (op ~= "quantize" or eb)
        if op == "compare" then fine = fine and (expected == "-1" or expected == "0" or expected == "1")
        else fine = fine and ee end
        if fine and b then
          local rounded = conds ~= ""
          -- How to check: "v" value only; "s" value and scale (digits after the point). The scale
          -- is ours to compare when the expected exponent is not positive and it is fixed by the
          -- operation's rule (operand exponents not positive) or by rounding to a position.
          local how = "v"
          if op ~= "compare" and ee <= 0 then
            if op == "quantize" or op == "divide" or rounded or (ea <= 0 and eb <= 0) then how = "s" end
          end
          local op_name = op == "subtract" and "sub" or op == "multiply" and "mul" or op == "divide" and "div"
            or op == "quantize" and "round" or op == "compare" and "cmp" or op
          -- round (quantize) takes the target scale: the negated exponent of its second operand;
          -- div takes the expected result's scale; add/sub/mul with Rounded round to it.
          local target = op == "quantize" and tostring(-eb) or (op ~= "compare" and (rounded or op == "divide"))
            and tostring(-ee) or "-"
          out[#out + 1] = table.concat({ id, op_name, rounding, a, b, expected, target, how }, " ")
          counts[op_name] = (counts[op_name] or 0) + 1
        end
      end
    end
  end
end

local names = {}
for k, v in pairs(counts) do names[#names + 1] = k .. " " .. v end
table.sort(names)
io.write("# Generated by tools/gen-dectest.lua; do not edit. Cases selected from the General Decimal\n",
  "# Arithmetic testcases (decTest 2.62, (c) Mike Cowlishaw / IBM, speleotrove.com/decimal; read from\n",
  "# github.com/cppalliance/decimal-dectest archive/dectest/; CPython keeps a release of the same files\n",
  "# under Lib/test/decimaltestdata/): add, subtract, multiply, compare, quantize, divide.\n",
  "# Fields: id op mode a b expected target how\n",
  "#   op: add sub mul cmp round (quantize: a rounded to scale `target`) div (a / b to scale `target`)\n",
  "#   mode: rounding mode; target: '-' for exact add/sub/mul and cmp, else the scale to round to\n",
  "#   how: v = compare values only, s = values and scale (digits after the point)\n",
  "# Counts: ", table.concat(names, ", "), "\n")
for _, l in ipairs(out) do io.write(l, "\n") end
