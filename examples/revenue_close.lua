--- Period close with Zuora Revenue: upload the period's sales transactions (split into parts under
-- the line limit, two uploads at a time), wait for them to stage, check the staging errors, run the
-- accounting transfer, read the GL batch page by page, fetch its CSV through a signed URL (without
-- credentials), and mark the batch transferred.
--
-- `make demo EXAMPLES=examples/revenue_close.lua` runs it against a local zuora-sim, which serves the
-- Revenue API next to Billing. Against a real (sandbox!) tenant set ZUORA_REVENUE_TENANT (or
-- ZUORA_REVENUE_BASE_URL), ZUORA_REVENUE_USERNAME and ZUORA_REVENUE_PASSWORD (or
-- ZUORA_REVENUE_CLIENT_ID and ZUORA_REVENUE_CLIENT_SECRET for OneID), ZUORA_REVENUE_TEMPLATE (your
-- transaction upload template) and ZUORA_REVENUE_CSV (a file in that template's columns):
--   LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="build/lua5.4/?.so;;" lua5.4 examples/revenue_close.lua
-- Without ZUORA_REVENUE_CSV it generates ZUORA_REVENUE_CLOSE_ROWS transactions (default 25000) in
-- zuora-sim's "SIM Transactions" template.
local zuora = require "zuora"

-- The client: ZUORA_REVENUE_* variables; when they name no tenant and ZUORA_BASE_URL is a local
-- zuora-sim, the simulator's Revenue API on that URL with the Billing OAuth client it also accepts.
local function revenue_client()
  local opts = zuora.revenue.env_options()
  if not (opts.base_url or opts.tenant or opts.environment) then
    local base = os.getenv("ZUORA_BASE_URL") or ""
    local host = base:match("^https?://([^/:]+)") or base:match("^https?://%[([^%]]+)%]")
    if not (host and require("zuora.core").url.is_loopback(host)) then
      error("set ZUORA_REVENUE_TENANT or ZUORA_REVENUE_BASE_URL (see the top of this file)", 0)
    end
    opts.base_url = base
    if not (opts.username or opts.client_id or opts.token) then
      opts.client_id, opts.client_secret = os.getenv("ZUORA_CLIENT_ID"), os.getenv("ZUORA_CLIENT_SECRET")
    end
  end
  return zuora.revenue.new(opts)
end

local rev = revenue_client()
print(("revenue:      %s"):format(tostring(rev)))
local today = os.date("!%Y-%m-%d")

-- 1. The transactions: the file given, or generated ones (every 50th with a quoted description
--    that spans two lines and holds a comma and quotes, as real ERP exports do).
local template = os.getenv("ZUORA_REVENUE_TEMPLATE") or "SIM Transactions"
local path = os.getenv("ZUORA_REVENUE_CSV")
if not path then
  path = os.tmpname()
  local rows = tonumber(os.getenv("ZUORA_REVENUE_CLOSE_ROWS") or "25000")
  local f = assert(io.open(path, "wb"))
  f:write("SO_NUM,SO_LINE_NUM,SO_BOOK_DATE,ITEM_NUM,CUSTOMER_NUM,QUANTITY,UNIT_SELL_PRICE,EXT_SELL_PRICE,CURRENCY,"
    .. "REV_START_DATE,REV_END_DATE,DESCRIPTION\n")
  for i = 1, rows do
    local qty, unit = i % 5 + 1, 1000 + i % 900 -- unit price in cents
    local ext = qty * unit
    local desc = i % 50 == 0 and '"Renewal, co-termed\nwith ""Gold"" plan"' or "New subscription"
    f:write(("SO-%06d,1,%s,SKU-%d,C-%04d,%d,%d.%02d,%d.%02d,USD,%s,,%s\n"):format(i, today, i % 7, i % 997, qty,
      math.floor(unit / 100), unit % 100, math.floor(ext / 100), ext % 100, today, desc))
  end
  f:close()
end

-- 2. Upload: parts of at most 20,000 lines, two in flight; each part reported as it goes.
-- File names must be unique in the tenant: one per run.
local filename = ("close-%s-%s.csv"):format(today, require("zuora.core").crypto.uuid4():sub(1, 8))
local report = assert(rev:upload_csv{
  template = template, filename = filename, path = path,
  on_part = function(p)
    if p.status == "uploaded" then
      print(("upload part %d: records %d-%d, %d lines, uploaded (id %s)"):format(p.index, p.first, p.last, p.lines,
        tostring(p.id)))
    else
      print(("upload part %d: %s (%s)"):format(p.index, p.status, tostring(p.err and p.err.message or p.message)))
    end
  end,
})
print(("uploaded:     %d transactions in %d parts"):format(report.records, #report.parts))

-- 3. What failed to stage (Zuora answers 204 when nothing did).
local errors = assert(rev:stage_errors("transaction"))
if #errors == 0 then
  print("stage errors: none")
else
  print(("stage errors: %d, first: line %s %s"):format(#errors, tostring(errors[1].line_num), errors[1].error_message))
end

-- 4. The accounting transfer program for the (first) organization turns staged lines into a batch.
local org = assert(rev.revenue_jobs.list_orgs()).data[1]
local program
for _, p in ipairs(assert(rev.revenue_jobs.list_programs()).data) do
  if p.program_name:find("Accounting Transfer") then program = p end
end
assert(program, "no accounting transfer program is offered to the API")
local job = assert(rev:run_program(org.org_id, program.program_id, {
  { parameter_id = program.parameters[3].id, sequence = 3, parameter_value = "N" },
}, { poll_interval = 0.2 }))
print(("transfer job: %s %s"):format(tostring(job.id), job.status))

-- 5. The GL batch ready to transfer (the job's, or the newest).
local batch
for _, b in ipairs(assert(rev:batches())) do
  if b.id == job.batch_id or not job.batch_id then batch = b end
end
assert(batch, "no GL batch is ready to transfer")
print(("gl batch:     %s %s (report %s)"):format(tostring(batch.id), batch.name, tostring(batch.report_id)))

-- 6. Every line, page by page (10,000 a page); totals in cents (the amounts carry two decimals).
local function cents(x) return x == zuora.json.null and 0 or math.floor(x * 100 + 0.5) end
local rows, pages, dr, cr = 0, 0, 0, 0
for row, page in rev:gl_rows(batch.id) do
  rows, pages = rows + 1, page
  dr, cr = dr + cents(row.dr_amount), cr + cents(row.cr_amount)
end
local function money(c) return ("%d.%02d"):format(math.floor(c / 100), c % 100) end
print(("gl rows:      %d in %d pages, DR %s = CR %s %s"):format(rows, pages, money(dr), money(cr),
  dr == cr and "balanced" or "UNBALANCED"))

-- 7. The same batch as CSV, from its signed URL (no Zuora credentials go there).
local csv_path = os.tmpname()
assert(rev:gl_csv(batch, { output = csv_path }))
local lines = 0
for _ in io.lines(csv_path) do lines = lines + 1 end
print(("gl csv:       %d bytes, %d lines"):format(#assert(io.open(csv_path, "rb")):read("a"), lines))

-- 8. Done: the batch is transferred to the ledger.
assert(rev.transfer_accounting.update_batch_status(batch.id))
print(("transferred:  batch %s"):format(tostring(batch.id)))

os.remove(csv_path)
if not os.getenv("ZUORA_REVENUE_CSV") then os.remove(path) end
rev:close()
