--- The catalogue as the CLI teaches it: `zuora ops` searches it, the REPL's help(x) explains a
-- group or an operation (method, path, parameters, what the older OpenAPI spec knows about its
-- query and body, the documentation link, and how to call it from Lua and from the shell).
local operations = require "zuora.operations"

local M = {}

local BODY_METHODS = { POST = true, PUT = true, PATCH = true }

local function catalog() return require "zuora.catalog" end

--- The catalogue entries of group `name` (nil when there is no such group).
function M.group_entries(name)
  for _, g in ipairs(catalog().groups) do
    if g.name == name then return require(g.module), g end
  end
  return nil
end

--- Every catalogue entry, in reference order.
function M.all_entries()
  local out = {}
  for _, g in ipairs(catalog().groups) do
    for _, e in ipairs(require(g.module)) do out[#out + 1] = e end
  end
  return out
end

--- The Lua name of a path parameter: account-key -> account_key (as operation signatures say).
M.arg_name = operations.arg_name

function M.full_name(e) return e.group .. "." .. e.name end

--- `client.group.op(a, b, body, options)`: print(op)'s signature, with the client in front.
function M.signature(e) return "client." .. operations.signature(e) end

--- `zuora call group.op <a> <b> [--data JSON]`
function M.shell_usage(e)
  local parts = { "zuora call " .. M.full_name(e) }
  for _, p in ipairs(e.params) do parts[#parts + 1] = "<" .. p .. ">" end
  if BODY_METHODS[e.method] and not e.no_body then parts[#parts + 1] = "--data '{...}'" end
  if e.query and #e.query > 0 then parts[#parts + 1] = "[--query " .. e.query[1] .. "=...]" end
  return table.concat(parts, " ")
end

local function wrap_list(label, items, width)
  local lines, line = {}, label
  for i, item in ipairs(items) do
    local piece = item .. (i < #items and ", " or "")
    if #line + #piece > width and line ~= label then
      lines[#lines + 1] = (line:gsub("%s+$", ""))
      line = (" "):rep(#label) .. piece
    else
      line = line .. piece
    end
  end
  lines[#lines + 1] = line
  return table.concat(lines, "\n")
end

--- Several lines describing one operation entry.
function M.operation(e)
  local lines = {
    ("%s — %s"):format(M.full_name(e), e.title),
    ("  %s %s"):format(e.method, e.path),
    "  lua:    " .. M.signature(e),
    "  shell:  " .. M.shell_usage(e),
  }
  if #e.params > 0 then
    local ps = {}
    for i, p in ipairs(e.params) do
      local fmt = e.path_formats and e.path_formats[i]
      ps[i] = p .. ((fmt and fmt ~= "") and (" (" .. fmt .. ")") or "")
    end
    lines[#lines + 1] = wrap_list("  path parameters: ", ps, 100)
  end
  if BODY_METHODS[e.method] then
    if e.no_body then
      lines[#lines + 1] = "  body: none"
    elseif e.content then
      lines[#lines + 1] = "  body: " .. e.content
    else
      local known = e.required and #e.required > 0
      lines[#lines + 1] = "  body: JSON object" .. (known and "" or " (no required fields known)")
    end
    if e.required and #e.required > 0 then lines[#lines + 1] = wrap_list("  required fields: ", e.required, 100) end
  end
  if e.query and #e.query > 0 then lines[#lines + 1] = wrap_list("  query parameters: ", e.query, 100) end
  if e.required_query and #e.required_query > 0 then
    lines[#lines + 1] = wrap_list("  required query: ", e.required_query, 100)
  end
  if e.min_version then lines[#lines + 1] = "  zuora-version: " .. tostring(e.min_version) .. " or later advised" end
  if e.doc and e.doc ~= "" then lines[#lines + 1] = "  docs: " .. e.doc end
  return table.concat(lines, "\n")
end

--- The operations of a group, one a line.
function M.group(name)
  local entries, g = M.group_entries(name)
  if not entries then return nil end
  local rows, w = {}, 0
  for i, e in ipairs(entries) do
    local sig = operations.signature(e):sub(#e.group + 2) -- as print(client.<group>) shows it
    rows[i] = { sig, e }
    if #sig > w then w = #sig end
  end
  local lines = { ("%s — %s, %d operation%s (help(client.%s.<name>) for one)"):format(name, g.title, #entries,
    #entries == 1 and "" or "s", name) }
  for _, r in ipairs(rows) do
    lines[#lines + 1] = ("  %-" .. w .. "s  %-6s %s  %s"):format(r[1], r[2].method, r[2].path, r[2].title)
  end
  return table.concat(lines, "\n")
end

--- Catalogue entries matching `pattern`: every space-separated word must occur (ignoring case) in
-- the operation's group.name, method, path or title. No pattern matches everything.
function M.search(pattern)
  local words = {}
  for w in (pattern or ""):lower():gmatch("%S+") do words[#words + 1] = w end
  local out = {}
  for _, e in ipairs(M.all_entries()) do
    local hay = (M.full_name(e) .. " " .. e.method .. " " .. e.path .. " " .. e.title):lower()
    local ok = true
    for _, w in ipairs(words) do
      if not hay:find(w, 1, true) then ok = false break end
    end
    if ok then out[#out + 1] = e end
  end
  return out
end

-- Tasks that take more than one operation, found by the words people search with: a PDF of an
-- invoice or memo is a file listed by <group>.list_files and downloaded by files.retrieve.
M.RECIPES = {}
for _, doc in ipairs({ { "invoice", "invoices", "invoiceKey", "an invoice" },
  { "credit memo", "credit_memos", "creditMemoKey", "a credit memo" },
  { "debit memo", "debit_memos", "debitMemoKey", "a debit memo" } }) do
  local words, group, key, what = doc[1], doc[2], doc[3], doc[4]
  M.RECIPES[#M.RECIPES + 1] = { words = words .. " pdf", text = table.concat({
    "To download the PDF of " .. what .. " (two calls):",
    ("  1. %s.list_files(%s): its files; each pdfFileUrl ends in the file id"):format(group,
      key:gsub("Key$", "_key"):gsub("(%u)", function(c) return "_" .. c:lower() end)),
    "  2. files.retrieve(file_id, nil, { output = \"doc.pdf\" }): streams the PDF into doc.pdf",
    ("  shell: zuora call %s.list_files <%s>, then zuora call files.retrieve <file-id> -o doc.pdf"):format(group, key),
  }, "\n"), ops = { group .. ".list_files", "files.retrieve" } }
end

--- The recipes whose words all occur in `pattern` (any case), as text; nil if none.
function M.recipes(pattern)
  local hay, out = " " .. (pattern or ""):lower():gsub("[%s_%.]+", " ") .. " ", {}
  for _, r in ipairs(M.RECIPES) do
    local all = true
    for w in r.words:gmatch("%S+") do
      if not (hay:find(" " .. w .. " ", 1, true) or hay:find(" " .. w .. "s ", 1, true)) then all = false end
    end
    if all then out[#out + 1] = r.text end
  end
  return #out > 0 and table.concat(out, "\n") or nil
end

--- Entries as aligned lines: name, method, path, title.
function M.list(entries)
  local w = 0
  for _, e in ipairs(entries) do w = math.max(w, #M.full_name(e)) end
  w = math.min(w, 48)
  local lines = {}
  for i, e in ipairs(entries) do
    lines[i] = ("%-" .. w .. "s  %-6s %s  %s"):format(M.full_name(e), e.method, e.path, e.title)
  end
  return table.concat(lines, "\n")
end

local distance = require("zuora.options").distance

--- Up to three operation names close to a mistyped `group.op` (nearest first).
function M.suggest(name)
  local scored = {}
  for _, e in ipairs(M.all_entries()) do
    local full = M.full_name(e)
    local d = distance(name, full)
    if d <= math.max(2, math.floor(#name / 4)) then scored[#scored + 1] = { d, full } end
  end
  table.sort(scored, function(x, y) return x[1] < y[1] or (x[1] == y[1] and x[2] < y[2]) end)
  local out = {}
  for i = 1, math.min(3, #scored) do out[i] = scored[i][2] end
  return out
end

--- The entry for "group.op", or nil.
function M.find(full)
  local g, n = tostring(full):match("^([%w_]+)%.([%w_]+)$")
  if not g then return nil end
  return operations.entry(g, n)
end

M.INTRO = [[
The REPL is Lua 5.4 with these ready:
  client      a zuora client for this session (print(client) shows where it points)
  zuora       the library (zuora.new{...}, zuora.operations(), zuora.errors)
  json        the codec: json.encode(v), json.decode(s), json.null
  decimal     exact amounts: decimal("0.10") + 1, d:round(2), d:div(3, 2) (answers hold them)
  <group>     every API group is also a global: accounts.retrieve("A00000001")
  help(x)     explain a group or an operation: help(accounts), help(client.accounts.create),
              help "invoices.list_items", help "pattern words" searches the catalogue
  _ , _err    the last result and the last error; _meta: status, request id, elapsed time
  again()     repeat the last call with the same options and Idempotency-Key (after a write
              whose outcome is unknown: Zuora answers with the first result, nothing twice)

A call returns its decoded JSON (amounts as decimals, digit for digit), printed as sorted,
indented JSON; a failure prints one line with the error's code, category and request id, and a
hint when there is one. Tab
completes groups, operations and fields; history is kept between sessions. Ctrl-D leaves.

]]

--- help(x) text for whatever `x` is.
function M.describe(x, client)
  if x == nil then
    return M.INTRO .. wrap_list("Groups: ", operations.groups(), 100)
  end
  if operations.is_operation(x) then return M.operation(x.entry) end
  if type(x) == "string" then
    local e = M.find(x)
    if e then return M.operation(e) end
    local g = M.group(x)
    if g then return g end
    local found, recipe = M.search(x), M.recipes(x)
    local text
    if #found == 0 then text = not recipe and ("no operation matches " .. ("%q"):format(x)) or nil
    elseif #found == 1 then text = M.operation(found[1])
    else text = M.list(found) end
    if recipe then text = text and (text .. "\n\n" .. recipe) or recipe end
    return text
  end
  if type(x) == "table" then
    local mt = getmetatable(x)
    if mt and mt.__name == "zuora.group" then
      for _, op in pairs(x) do
        if operations.is_operation(op) then return M.group(op.group) end
      end
    end
    if x == client then
      return tostring(client) .. "\n" .. "groups: " .. table.concat(operations.groups(), " ")
        .. "\nmethods: client:request(method, path, opts), client:spawn(fn, ...), client:gather{...}, "
        .. "client:map(items, fn, opts), client:query(zoql, ...), client:data_query(sql, opts)"
    end
  end
  return "help: no help for " .. tostring(x) .. " (try help(), help(accounts), help \"invoice pdf\")"
end

return M
