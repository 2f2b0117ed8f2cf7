--- `zuora call group.op args... [--data JSON|@file] [--query k=v] [--header 'K: V'] [--output f] [--raw]`:
-- one operation, its JSON on stdout, exit status as zuora.cli.exit (--dry-run prints the request
-- instead; a write to production asks first). `zuora call METHOD /path` reaches an
-- endpoint the catalogue lacks. The --data text is sent exactly as given (after a check that it is
-- JSON), so no amount is reparsed into a double on the way.
local json = require("zuora.core").json
local operations = require "zuora.operations"
local help = require "zuora.cli.help"
local pretty = require "zuora.cli.pretty"
local term = require "zuora.cli.term"
local exit = require "zuora.cli.exit"
local access = require "zuora.access"
local dryrun = require "zuora.dryrun"

local M = {}

local METHODS = { GET = true, POST = true, PUT = true, PATCH = true, DELETE = true, HEAD = true, OPTIONS = true }
local BODY_METHODS = { POST = true, PUT = true, PATCH = true }
local KEYED_METHODS = { POST = true, PATCH = true } -- the library sends an Idempotency-Key on these

local function read_file(path)
  if path == "-" then return io.read("a") end
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local s = f:read("a")
  f:close()
  return s
end

--- The --data argument as JSON text and its decoded value, or nil, message.
function M.data(arg)
  local text = arg
  if arg:sub(1, 1) == "@" then
    local err
    text, err = read_file(arg:sub(2))
    if not text then return nil, "--data: " .. tostring(err) end
  end
  local value, err = json.decode(text)
  if value == nil then return nil, "--data is not JSON: " .. tostring(err) end
  if type(value) ~= "table" then return nil, "--data must be a JSON object or array" end
  return text, value
end

--- `k=v` strings into a query table (a repeated key becomes an array), or nil, message.
function M.query(list)
  local q = {}
  for _, kv in ipairs(list or {}) do
    local k, v = kv:match("^([^=]+)=(.*)$")
    if not k then return nil, "--query expects key=value, got " .. kv end
    local old = q[k]
    if old == nil then q[k] = v
    elseif type(old) == "table" then old[#old + 1] = v
    else q[k] = { old, v } end
  end
  return q
end

--- `Name: value` strings into a header table, or nil, message.
function M.headers(list)
  local h = {}
  for _, line in ipairs(list or {}) do
    local k, v = line:match("^([%w%-_]+):%s*(.*)$")
    if not k then return nil, "--header expects 'Name: value', got " .. line end
    h[k] = v
  end
  return h
end

local function merge_into(dst, src)
  for k, v in pairs(src) do
    if dst[k] ~= nil then return nil, "query parameter " .. k .. " given twice" end
    dst[k] = v
  end
  return dst
end

--- Builds {method, path, opts} for client:request from the parsed arguments, or nil, message.
function M.plan(a)
  local target, rest = a.target, a.args or {}
  local opts = {}
  local query, err = M.query(a.query)
  if not query then return nil, err end
  local headers
  headers, err = M.headers(a.header)
  if not headers then return nil, err end
  if next(headers) then opts.headers = headers end
  if a.idempotency_key then opts.idempotency_key = a.idempotency_key end
  if a.output then opts.output = a.output end
  if a.raw then opts.raw = true end
  if a.dry_run then opts.dry_run = true end
  local text, value
  if a.data then
    text, value = M.data(a.data)
    if not text then return nil, value end
  end

  local method, path
  if METHODS[target:upper()] then
    method, path = target:upper(), rest[1]
    if not path or path:sub(1, 1) ~= "/" then return nil, "call " .. method .. " needs a path starting with /" end
    if #rest > 1 then return nil, "call " .. method .. " takes one path; put query parameters in --query" end
  else
    local g, n = target:match("^([%w_]+)%.([%w_]+)$")
    local entry = g and operations.entry(g, n)
    if not entry then
      local near = help.suggest(target)
      local hint = #near > 0 and (" (did you mean " .. table.concat(near, ", ") .. "?)") or ""
      return nil, "no operation " .. target .. hint .. "; `zuora ops WORDS` searches the catalogue"
    end
    if #rest ~= #entry.params then
      return nil, ("%s takes %d path argument%s (%s), got %d\nusage: %s"):format(target, #entry.params,
        #entry.params == 1 and "" or "s", #entry.params > 0 and table.concat(entry.params, ", ") or "none",
        #rest, help.shell_usage(entry))
    end
    method, path = entry.method, entry.path
    local params = {}
    for i, p in ipairs(entry.params) do params[p] = rest[i] end
    opts.path = params
    opts.op = entry
  end
  if value ~= nil then
    if BODY_METHODS[method] then
      opts.body = text
      opts.content_type = "application/json"
    else
      if getmetatable(value) == json.array_mt then return nil, "--data for " .. method .. " must be a JSON object" end
      local ok
      ok, err = merge_into(query, value)
      if not ok then return nil, err end
    end
  end
  if next(query) then opts.query = query end
  if KEYED_METHODS[method] and not opts.idempotency_key then
    -- chosen here rather than by the library, so that it can be shown even when Ctrl-C stops the call
    opts.idempotency_key = require("zuora.core").crypto.uuid4()
  end
  return { method = method, path = path, opts = opts }
end

--- True when the planned call can change data (zuora.access decides, as for read-only clients).
function M.is_write(plan)
  local entry = plan.opts.op or access.lookup(plan.method, plan.path)
  return not access.is_read(plan.method, entry)
end

-- Against production, a write goes out only when the user says so: --yes, or "y" on a terminal.
-- Returns true, or nil and the exit status.
local function confirmed(ctx, plan, client)
  if not ctx.production or ctx.flags.yes or plan.opts.dry_run or not M.is_write(plan) then return true end
  -- a call the client's own policy refuses is not worth a question: the library says no
  if client.policy and client.policy:check(plan.method, plan.path, plan.opts.op) then return true end
  local entry = plan.opts.op
  local what = ("%s %s%s"):format(plan.method, plan.path, entry and (" (" .. entry.group .. "." .. entry.name .. ")")
    or "")
  if not (term.isatty(0) and term.isatty(2)) then
    ctx:fail(("refusing to send %s to production (%s) without confirmation: no terminal to ask on; add --yes")
      :format(what, client.base_url))
    return nil, exit.POLICY
  end
  io.stderr:write(term.paint(term.color(2), "red", ("PRODUCTION %s"):format(client.base_url)), "\n",
    ("zuora: %s can change data. Send it? [y/N] "):format(what))
  io.stderr:flush()
  local answer = io.read("l")
  if answer and (answer:lower() == "y" or answer:lower() == "yes") then return true end
  ctx:fail("not sent")
  return nil, exit.POLICY
end

local function looks_binary(s)
  return s:find("[%z\1-\8\14-\31\127]") ~= nil
end

--- Runs `zuora call`; returns the exit status.
function M.run(ctx, a)
  local plan, err = M.plan(a)
  if not plan then
    ctx:fail(err)
    return exit.LOCAL
  end
  local client
  client, err = ctx:client()
  if not client then
    ctx:fail(err)
    return exit.LOCAL
  end
  local go, status = confirmed(ctx, plan, client)
  if not go then return status end
  local key = plan.opts.idempotency_key
  local ok, result, cerr, meta = pcall(client.request, client, plan.method, plan.path, plan.opts)
  if not ok then
    if exit.interrupted(result) then
      io.stderr:write("\nzuora: interrupted\n")
      if key and M.is_write(plan) then
        io.stderr:write("the write may have been sent: Idempotency-Key ", key, "\n",
          "repeat it safely with: ", exit.repeat_command(ctx.argv, key), "\n")
      end
      return exit.INTERRUPTED
    end
    ctx:fail(tostring(result):gsub("^[^\n]-:%d+: ", ""))
    return exit.LOCAL
  end
  if result == nil then
    return ctx:fail_error(cerr)
  end
  if dryrun.is(result) then
    io.stdout:write(tostring(result), "\n")
    io.stdout:flush()
    return exit.OK
  end
  if a.output then
    local f = io.open(a.output, "rb")
    local size = f and f:seek("end") or 0
    if f then f:close() end
    ctx:note(("wrote %s (%d bytes)"):format(a.output, size))
    return 0
  end
  local wok, werr = true, nil
  if type(result) == "string" then
    if a.raw or not term.isatty(1) or not looks_binary(result) then
      wok, werr = io.stdout:write(result)
      if wok and term.isatty(1) and result:sub(-1) ~= "\n" and result ~= "" then wok, werr = io.stdout:write("\n") end
    else
      ctx:fail(("the answer is %d bytes of binary data (%s); use --output FILE"):format(#result,
        meta and meta.headers and meta.headers["content-type"] or "unknown type"))
      return exit.LOCAL
    end
  elseif result ~= true then
    wok, werr = io.stdout:write(pretty.format(result, term.color(1)), "\n")
  end
  if wok then wok, werr = io.stdout:flush() end
  if not wok then
    ctx:fail("cannot write the answer to stdout: " .. tostring(werr))
    return 1
  end
  return 0
end

return M
