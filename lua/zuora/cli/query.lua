--- Bulk reads from the command line:
--   zuora query "select Id, Name from Account where Status = ?" Active [--format json|jsonl|csv] [--output f]
--   zuora data-query "SELECT id, name FROM account" [--format csv|tsv|json] [--output f]
--   zuora export invoices --account A00000001 --since 2024-01-01 [--fields a,b] [--where cond]
-- ZOQL goes through client:query (query, then queryMore until done); Data Query through
-- client:data_query, which submits the job, polls it and downloads the result file. Rows stream
-- to the output as they arrive, so memory does not grow with the result; a progress line on a
-- terminal's stderr shows rows, bytes, rate and elapsed time.
local errors = require "zuora.errors"
local output = require "zuora.cli.output"
local exit = require "zuora.cli.exit"

local M = {}

local function strip_position(msg)
  return (tostring(msg):gsub("^[^\n]-%.lua:%d+: ", ""))
end

-- stdout, or an output.atomic file (the target keeps its old content until the export is whole).
local function open_output(path)
  if not path or path == "-" then return io.stdout, nil end
  local file, err = output.atomic(path)
  if not file then return nil, err end
  return file.fh, file
end

-- The format a file name asks for when --format is not given: x.csv -> csv, and so on.
local function inferred(path, formats)
  local ext = type(path) == "string" and path:match("%.(%w+)$")
  return ext and formats[ext:lower()] or nil
end
local ZOQL_EXT = { csv = "csv", json = "json", jsonl = "jsonl", ndjson = "jsonl" }
local DQ_EXT = { csv = "csv", tsv = "tsv", json = "json", jsonl = "json", ndjson = "json" }

local function feature(client, name)
  local ok, fn = pcall(function() return client[name] end)
  return ok and type(fn) == "function" and fn or nil
end

-- Streams the records of a ZOQL query into a writer. Returns the exit status.
local function stream_zoql(ctx, client, zoql, binds, a, label, columns)
  local run_query = feature(client, "query")
  if not run_query then
    ctx:fail("this build of lua-zuora has no client:query (the bulk-read features); cannot run ZOQL")
    return 1
  end
  local format = a.format or inferred(a.output, ZOQL_EXT) or "json"
  if not output.FORMATS[format] then
    ctx:fail("--format must be json, jsonl or csv")
    return 1
  end
  local fh, opened = open_output(a.output)
  if not fh then
    ctx:fail("cannot write " .. tostring(a.output) .. ": " .. tostring(opened))
    return 1
  end
  if ctx.flags.trace then
    local ok, text = pcall(require("zuora.query").bind, zoql, table.unpack(binds, 1, binds.n or #binds))
    io.stderr:write("zoql: ", ok and text or zoql, "\n")
  end
  local w = output.new(format, fh, { columns = columns or output.select_fields(zoql), csv_safe = a.csv_safe })
  local bar = ctx:progress(label)
  local ok, err = pcall(function()
    for rec in run_query(client, zoql, table.unpack(binds, 1, binds.n or #binds)) do
      w:write(rec)
      bar:update{ rows = w.rows, bytes = w.bytes }
    end
    w:close()
    if opened then
      local done, cerr = opened:commit()
      if not done then error(cerr, 0) end
    end
  end)
  if not ok then
    if opened then opened:abort() end
    bar:abort()
    if exit.interrupted(err) then
      io.stderr:write("\nzuora: interrupted\n")
      return exit.INTERRUPTED
    end
    return ctx:fail_error(errors.is(err) and err or strip_position(err))
  end
  bar:update{ rows = w.rows, bytes = w.bytes }
  bar:finish("done")
  if opened then ctx:note(("wrote %d record%s to %s"):format(w.rows, w.rows == 1 and "" or "s", a.output)) end
  return 0
end

--- `zuora query ZOQL [values...]`
function M.query(ctx, a)
  local client, err = ctx:client()
  if not client then
    ctx:fail(err)
    return 1
  end
  local binds = { n = #(a.values or {}) }
  for i, v in ipairs(a.values or {}) do binds[i] = v end
  return stream_zoql(ctx, client, a.zoql, binds, a, "query")
end

local DQ_FORMATS = { csv = "CSV", tsv = "TSV", json = "JSON" }

local function file_size(path)
  local f = io.open(path, "rb")
  if not f then return 0 end
  local n = f:seek("end")
  f:close()
  return n or 0
end

-- The result file onto stdout; true or nil, message (a full disk, a closed pipe).
local function copy_to_stdout(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local ok = true
  while ok do
    local chunk = f:read(65536)
    if not chunk then break end
    ok, err = io.stdout:write(chunk)
  end
  f:close()
  if ok then ok, err = io.stdout:flush() end
  return ok, err
end

--- `zuora data-query SQL`: the result file as Zuora produces it (CSV, TSV or JSON lines).
function M.data_query(ctx, a)
  local client, err = ctx:client()
  if not client then
    ctx:fail(err)
    return 1
  end
  local run = feature(client, "data_query")
  if not run then
    ctx:fail("this build of lua-zuora has no client:data_query (the bulk-read features); cannot run Data Query")
    return 1
  end
  local format = DQ_FORMATS[a.format or inferred(a.output, DQ_EXT) or "csv"]
  if not format then
    ctx:fail("--format must be csv, tsv or json")
    return 1
  end
  local to_stdout = not a.output or a.output == "-"
  local path = to_stdout and os.tmpname() or a.output
  local bar = ctx:progress("data query", { rows = false })
  local opts = { output_format = format, output = path }
  if a.timeout then opts.timeout = a.timeout end
  -- The library's progress events (docs/bulk.md): the job's status while it runs, then the
  -- download's bytes.
  opts.on_progress = function(ev)
    if ev.kind == "job" then
      bar:update{ status = ev.status and tostring(ev.status):lower() or nil }
    elseif ev.kind == "transfer" then
      bar:update{ bytes = ev.current, bytes_total = ev.total, status = ev.done and "downloaded" or "downloading" }
    elseif ev.kind == "rows" then
      bar:update{ rows = ev.current }
    end
  end
  local job_id
  local show = opts.on_progress
  opts.on_progress = function(ev)
    if ev.kind == "job" and ev.id then job_id = ev.id end
    return show(ev)
  end
  local ok, res, qerr = pcall(run, client, a.sql, opts)
  if not ok or res == nil then
    bar:abort()
    if to_stdout then os.remove(path) end
    local e = ok and qerr or res
    if not ok and exit.interrupted(e) then return M.cancel_job(ctx, job_id) end
    return ctx:fail_error(errors.is(e) and e or strip_position(e))
  end
  local size = file_size(path)
  bar:update{ bytes = size }
  bar:finish("done")
  if to_stdout then
    local ok_out, werr = copy_to_stdout(path)
    os.remove(path)
    if not ok_out then
      ctx:fail("cannot write the result to stdout: " .. tostring(werr))
      return 1
    end
  else
    ctx:note(("wrote %s (%d bytes)"):format(path, size))
  end
  return 0
end

--- After Ctrl-C during a Data Query: cancels job `id` on the server (as the library does at its
-- timeout) and says so, with the id. The session's client was stopped in the middle of a
-- transfer, so a new one does it; cancelling the command's own job is allowed under --read-only
-- (it stops a read, it changes no data). Returns the exit status for an interruption.
function M.cancel_job(ctx, id)
  io.stderr:write("\nzuora: interrupted\n")
  if not id then
    io.stderr:write("zuora: the job's id was not known yet, so nothing was cancelled; if it was submitted, "
      .. "`zuora call data_queries.list_jobs` shows it\n")
    return exit.INTERRUPTED
  end
  local client, err = ctx:fresh_client{ read_only = false, max_retries = 1, deadline = 10 }
  local res
  if client then
    res, err = client:request("DELETE", "/query/jobs/{job-id}", { path = { ["job-id"] = id } })
    client:close()
  end
  if res ~= nil then
    io.stderr:write("zuora: cancelled data query job ", id, "\n")
  else
    io.stderr:write("zuora: could not cancel data query job ", id, ": ", tostring(err), "\n")
  end
  io.stderr:flush()
  return exit.INTERRUPTED
end

-- The objects `zuora export` knows: ZOQL object, default fields, the field that holds the account
-- id, and the date field --since compares.
M.EXPORTS = {
  accounts = { object = "Account", account = "Id", date = "CreatedDate",
    fields = { "Id", "AccountNumber", "Name", "Status", "Currency", "Balance", "CreatedDate" } },
  contacts = { object = "Contact", account = "AccountId", date = "CreatedDate",
    fields = { "Id", "AccountId", "FirstName", "LastName", "WorkEmail", "Country" } },
  subscriptions = { object = "Subscription", account = "AccountId", date = "SubscriptionStartDate",
    fields = { "Id", "Name", "AccountId", "Status", "TermType", "SubscriptionStartDate", "TermEndDate", "AutoRenew" } },
  orders = { object = "Order", account = "AccountId", date = "OrderDate",
    fields = { "Id", "OrderNumber", "AccountId", "OrderDate", "Status" } },
  invoices = { object = "Invoice", account = "AccountId", date = "InvoiceDate",
    fields = { "Id", "InvoiceNumber", "AccountId", "InvoiceDate", "DueDate", "Status", "Amount", "Balance" } },
  ["invoice-items"] = { object = "InvoiceItem", account = "AccountId", date = "ServiceStartDate",
    fields = { "Id", "InvoiceId", "SubscriptionId", "ChargeName", "ChargeAmount", "Quantity", "UnitPrice",
      "ServiceStartDate", "ServiceEndDate" } },
  payments = { object = "Payment", account = "AccountId", date = "EffectiveDate",
    fields = { "Id", "PaymentNumber", "AccountId", "Amount", "EffectiveDate", "Status", "Type" } },
  refunds = { object = "Refund", account = "AccountId", date = "RefundDate",
    fields = { "Id", "RefundNumber", "AccountId", "Amount", "RefundDate", "Status", "Type" } },
  ["credit-memos"] = { object = "CreditMemo", account = "AccountId", date = "MemoDate",
    fields = { "Id", "MemoNumber", "AccountId", "Amount", "MemoDate", "Status" } },
  usage = { object = "Usage", account = "AccountId", date = "StartDateTime",
    fields = { "Id", "AccountNumber", "SubscriptionNumber", "ChargeNumber", "Quantity", "UOM", "StartDateTime",
      "Status" } },
}

--- The names `zuora export` accepts, sorted.
function M.export_names()
  local names = {}
  for k in pairs(M.EXPORTS) do names[#names + 1] = k end
  table.sort(names)
  return names
end

-- An account number (A00000001) becomes the account id ZOQL filters need.
local function account_id(client, key)
  if key:match("^%x+$") and #key == 32 then return key end
  local acct, err = client.accounts.retrieve(key)
  if not acct then return nil, err end
  local id = type(acct.basicInfo) == "table" and acct.basicInfo.id
  if type(id) ~= "string" then return nil, "account " .. key .. ": no id in the answer" end
  return id
end

local DAYS = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }

--- True if `s` is a calendar date written YYYY-MM-DD (2024-02-29 yes, 2023-02-29 and 2024-13-45 no).
function M.valid_date(s)
  local y, m, d = tostring(s):match("^(%d%d%d%d)%-(%d%d)%-(%d%d)$")
  y, m, d = tonumber(y), tonumber(m), tonumber(d)
  if not y or m < 1 or m > 12 or d < 1 then return false end
  local leap = (y % 4 == 0 and y % 100 ~= 0) or y % 400 == 0
  return d <= ((m == 2 and leap) and 29 or DAYS[m])
end

--- Builds the ZOQL statement and its bound values for an export, or nil, message. `resolve`
-- turns an account key into an id (nil: use the key as given).
function M.export_query(a, resolve)
  local spec = M.EXPORTS[a.object]
  if not spec then return nil, "export: unknown object " .. tostring(a.object) .. " (one of "
    .. table.concat(M.export_names(), ", ") .. ")" end
  local fields = spec.fields
  if a.fields then
    fields = {}
    for f in a.fields:gmatch("[^,%s]+") do
      if not f:match("^[%a_][%w_%.]*$") then return nil, "export: bad field name " .. f end
      fields[#fields + 1] = f
    end
    if #fields == 0 then return nil, "export: --fields is empty" end
  end
  local where, binds = {}, { n = 0 }
  local function bind(v) binds.n = binds.n + 1; binds[binds.n] = v end
  if a.account then
    local id, err = a.account, nil
    if resolve then id, err = resolve(a.account) end
    if not id then return nil, err end
    where[#where + 1] = spec.account .. " = ?"
    bind(id)
  end
  if a.since then
    if not M.valid_date(a.since) then
      return nil, "export: --since expects a date, YYYY-MM-DD, got " .. a.since
    end
    where[#where + 1] = spec.date .. " >= ?"
    bind(a.since)
  end
  if a.where then where[#where + 1] = "(" .. a.where .. ")" end
  local zoql = "select " .. table.concat(fields, ", ") .. " from " .. spec.object
  if #where > 0 then zoql = zoql .. " where " .. table.concat(where, " and ") end
  return zoql, binds, fields
end

--- `zuora export OBJECT`
function M.export(ctx, a)
  local client, err = ctx:client()
  if not client then
    ctx:fail(err)
    return 1
  end
  local zoql, binds, fields = M.export_query(a, function(key) return account_id(client, key) end)
  if not zoql then
    return ctx:fail_error(binds)
  end
  a.csv_safe = not a.no_csv_safe -- on unless turned off: exports are opened in spreadsheets
  return stream_zoql(ctx, client, zoql, binds, a, "export " .. a.object, fields)
end

return M
