--- The query subset zuora-sim understands, for ZOQL (Actions query) and Data Query SQL.
--
--   SELECT field, field... FROM Object [WHERE condition] [ORDER BY field [ASC|DESC]] [LIMIT n]
--   condition: comparison | condition AND condition | condition OR condition | NOT condition | (condition)
--   comparison: field (= | != | <> | < | > | <= | >=) literal | field [NOT] LIKE 'pattern'
--               | field IS [NOT] NULL
--   literal: 'string' (a backslash escapes the next character, so \' and \\), number, true,
--            false, null, timestamp 'YYYY-MM-DD HH:MM:SS' (UTC)
-- ZOQL (dialect "zoql") has no `*`, ORDER BY or LIMIT; SQL (dialect "sql") has them. Keywords
-- and field names are case-insensitive; string comparison is case-sensitive; LIKE uses % and _.
-- A comparison with a missing (null) field is false, except `!=`, which is true.
local json = require "zuora_sim.json"
local decimal = require "zuora_sim.decimal"

local M = {}

local KEYWORDS = { select = true, from = true, where = true, ["and"] = true, ["or"] = true, ["not"] = true,
  like = true, is = true, null = true, ["true"] = true, ["false"] = true, order = true, by = true,
  asc = true, desc = true, limit = true }
-- Words that are keywords only in SQL: ZOQL has no ORDER BY or LIMIT, so `select Id from Order`
-- names the Order object there.
local SQL_ONLY = { order = true, by = true, asc = true, desc = true, limit = true }

local function tokenize(s, dialect)
  local toks, i, n = {}, 1, #s
  while i <= n do
    local c = s:sub(i, i)
    if c:match("%s") then
      i = i + 1
    elseif c == "'" then
      local buf, j = {}, i + 1
      while true do
        local d = s:sub(j, j)
        if d == "" then return nil, "unterminated string literal at character " .. i end
        if d == "\\" then
          local e = s:sub(j + 1, j + 1)
          if e == "" then return nil, "unterminated string literal at character " .. i end
          buf[#buf + 1] = e
          j = j + 2
        elseif d == "'" then
          break
        else
          buf[#buf + 1] = d
          j = j + 1
        end
      end
      toks[#toks + 1] = { kind = "string", value = table.concat(buf), pos = i }
      i = j + 1
    elseif c:match("[%d]") or (c == "-" and s:sub(i + 1, i + 1):match("%d")) then
      local num = s:match("^%-?%d+%.?%d*", i)
      toks[#toks + 1] = { kind = "number", value = num, pos = i }
      i = i + #num
    elseif c:match("[%a_]") then
      local word = s:match("^[%w_%.]+", i)
      local lw = word:lower()
      if KEYWORDS[lw] and (dialect == "sql" or not SQL_ONLY[lw]) then
        toks[#toks + 1] = { kind = "kw", value = lw, pos = i }
      else
        toks[#toks + 1] = { kind = "ident", value = word, pos = i }
      end
      i = i + #word
    elseif c == '"' then
      local word = s:match('^"([^"]+)"', i)
      if not word then return nil, "unterminated quoted identifier at character " .. i end
      toks[#toks + 1] = { kind = "ident", value = word, pos = i }
      i = i + #word + 2
    else
      local op = s:match("^[<>!]=", i) or s:match("^<>", i) or s:match("^[=<>(),*]", i)
      if not op then return nil, "unexpected character '" .. c .. "' at " .. i end
      toks[#toks + 1] = { kind = "op", value = op == "<>" and "!=" or op, pos = i }
      i = i + #op
    end
  end
  return toks
end

local Parser = {}
Parser.__index = Parser

function Parser:peek() return self.toks[self.i] end
function Parser:next() local t = self.toks[self.i]; self.i = self.i + 1; return t end
function Parser:fail(msg)
  local t = self:peek()
  error({ zoql = msg .. (t and (" near '" .. t.value .. "'") or " at end of query") }, 0)
end
function Parser:accept(kind, value)
  local t = self:peek()
  if t and t.kind == kind and (value == nil or t.value == value) then self.i = self.i + 1; return t end
  return nil
end
function Parser:expect(kind, value, what)
  return self:accept(kind, value) or self:fail("expected " .. (what or value or kind))
end

function Parser:literal()
  local t = self:next()
  if not t then self:fail("expected a value") end
  if t.kind == "string" then return { kind = "string", value = t.value } end
  if t.kind == "number" then return { kind = "number", value = t.value } end
  -- SQL's `timestamp 'YYYY-MM-DD HH:MM:SS[ +00:00|Z|UTC]'`: compared as the simulator's stored
  -- "YYYY-MM-DD HH:MM:SS" text (UTC), so only a UTC zone is accepted.
  if t.kind == "ident" and t.value:lower() == "timestamp" and self:peek() and self:peek().kind == "string" then
    local text = self:next().value
    local stamp, zone = text:match("^(%d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d)%.?%d*%s*(.-)$")
    if not stamp then
      local day = text:match("^(%d%d%d%d%-%d%d%-%d%d)$")
      if day then stamp, zone = day .. " 00:00:00", "" end
    end
    if not stamp or not (zone == "" or zone == "Z" or zone == "UTC" or zone == "+00:00") then
      self.i = self.i - 1
      self:fail("expected a UTC timestamp 'YYYY-MM-DD HH:MM:SS'")
    end
    return { kind = "string", value = stamp }
  end
  if t.kind == "kw" and (t.value == "true" or t.value == "false") then return { kind = "boolean",
    value = t.value == "true" } end
  if t.kind == "kw" and t.value == "null" then return { kind = "null" } end
  self.i = self.i - 1
  self:fail("expected a value")
end

function Parser:comparison()
  if self:accept("op", "(") then
    local e = self:expr()
    self:expect("op", ")", "')'")
    return e
  end
  if self:accept("kw", "not") then return { op = "not", self:comparison() } end
  local field = self:expect("ident", nil, "a field name").value
  if self:accept("kw", "is") then
    local negate = self:accept("kw", "not") ~= nil
    self:expect("kw", "null", "NULL")
    return { op = negate and "notnull" or "isnull", field = field }
  end
  local negate = self:accept("kw", "not") ~= nil
  if self:accept("kw", "like") then
    local lit = self:literal()
    if lit.kind ~= "string" then self:fail("LIKE needs a string") end
    return { op = negate and "notlike" or "like", field = field, lit = lit }
  end
  if negate then self:fail("expected LIKE after NOT") end
  local t = self:next()
  if not t or t.kind ~= "op" or not ({ ["="] = 1, ["!="] = 1, ["<"] = 1, [">"] = 1, ["<="] = 1,
    [">="] = 1 })[t.value] then
    self.i = self.i - 1
    self:fail("expected a comparison operator")
  end
  return { op = t.value, field = field, lit = self:literal() }
end

function Parser:term()
  local left = self:comparison()
  while self:accept("kw", "and") do left = { op = "and", left, self:comparison() } end
  return left
end

function Parser:expr()
  local left = self:term()
  while self:accept("kw", "or") do left = { op = "or", left, self:term() } end
  return left
end

--- Parses a query. Returns { fields = {...} | "*", object, where, order_by, desc, limit }, or nil
-- and a message.
function M.parse(text, dialect)
  dialect = dialect or "zoql"
  if type(text) ~= "string" or text:match("^%s*$") then return nil, "the query is empty" end
  local toks, err = tokenize(text, dialect)
  if not toks then return nil, err end
  local p = setmetatable({ toks = toks, i = 1 }, Parser)
  local ok, q = pcall(function()
    p:expect("kw", "select", "SELECT")
    local q = { fields = {} }
    if p:accept("op", "*") then
      if dialect == "zoql" then p:fail("ZOQL does not support *; name the fields") end
      q.fields = "*"
    else
      repeat q.fields[#q.fields + 1] = p:expect("ident", nil, "a field name").value until not p:accept("op", ",")
    end
    p:expect("kw", "from", "FROM")
    q.object = p:expect("ident", nil, "an object name").value
    if p:accept("kw", "where") then q.where = p:expr() end
    if dialect == "sql" then
      if p:accept("kw", "order") then
        p:expect("kw", "by", "BY")
        q.order_by = p:expect("ident", nil, "a field name").value
        if p:accept("kw", "desc") then q.desc = true else p:accept("kw", "asc") end
      end
      if p:accept("kw", "limit") then q.limit = tonumber(p:expect("number", nil, "a number").value) end
    end
    if p:peek() then p:fail("unexpected text") end
    return q
  end)
  if not ok then
    if type(q) == "table" and q.zoql then return nil, q.zoql end
    error(q, 0)
  end
  return q
end

local function like_pattern(s)
  local out = s:gsub(".", function(c)
    if c == "%" then return ".*" end
    if c == "_" then return "." end
    if c:match("%w") then return c end
    return "%" .. c
  end)
  return "^" .. out .. "$"
end

local function compare(v, op, lit)
  if lit.kind == "null" then
    if op == "=" then return v == nil end
    if op == "!=" then return v ~= nil end
    return false
  end
  if v == nil then return op == "!=" end
  local c
  if lit.kind == "number" then
    local d = decimal.parse(v)
    if not d then return op == "!=" end
    c = decimal.cmp(d, lit.value)
  elseif lit.kind == "boolean" then
    if type(v) ~= "boolean" then v = tostring(v):lower() == "true" end
    if op == "=" then return v == lit.value end
    if op == "!=" then return v ~= lit.value end
    return false
  else
    local s = json.is_number(v) and v[1] or tostring(v)
    c = s == lit.value and 0 or (s < lit.value and -1 or 1)
  end
  if op == "=" then return c == 0 elseif op == "!=" then return c ~= 0
  elseif op == "<" then return c < 0 elseif op == ">" then return c > 0
  elseif op == "<=" then return c <= 0 else return c >= 0 end
end

--- Evaluates a parsed condition against a record through `get(record, field)`.
function M.eval(e, rec, get)
  if e == nil then return true end
  local op = e.op
  if op == "and" then return M.eval(e[1], rec, get) and M.eval(e[2], rec, get) end
  if op == "or" then return M.eval(e[1], rec, get) or M.eval(e[2], rec, get) end
  if op == "not" then return not M.eval(e[1], rec, get) end
  local v = get(rec, e.field)
  if op == "isnull" then return v == nil end
  if op == "notnull" then return v ~= nil end
  if op == "like" or op == "notlike" then
    local hit = v ~= nil and tostring(json.is_number(v) and v[1] or v):find(like_pattern(e.lit.value)) ~= nil
    if op == "like" then return hit end
    return not hit
  end
  return compare(v, op, e.lit)
end

--- Every field a condition mentions (to check them against the object first).
function M.fields_of(e, out)
  out = out or {}
  if e == nil then return out end
  if e.field then out[#out + 1] = e.field end
  if e[1] then M.fields_of(e[1], out) end
  if e[2] then M.fields_of(e[2], out) end
  return out
end

M.like_pattern = like_pattern

return M
