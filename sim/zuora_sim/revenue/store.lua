--- The Revenue side of the simulated tenant: upload templates, uploads, staged rows, stage errors,
-- GL transfer batches, reports and jobs. It lives in state.data.revenue, so /__sim/reset (which
-- replaces state.data) empties it too; it is created on first use.
local state = require "zuora_sim.state"

local M = {}

-- Upload templates the tenant knows (in Zuora Revenue they are made in the UI). Columns are
-- matched case-insensitively, in any order; every column must be present and no other.
M.TEMPLATES = {
  ["SIM Transactions"] = { kind = "transaction", columns = { "SO_NUM", "SO_LINE_NUM", "SO_BOOK_DATE", "ITEM_NUM",
    "CUSTOMER_NUM", "QUANTITY", "UNIT_SELL_PRICE", "EXT_SELL_PRICE", "CURRENCY", "REV_START_DATE", "REV_END_DATE",
    "DESCRIPTION" },
    required = { "SO_NUM", "SO_LINE_NUM", "SO_BOOK_DATE", "EXT_SELL_PRICE", "CURRENCY" },
    numbers = { "QUANTITY", "UNIT_SELL_PRICE", "EXT_SELL_PRICE" }, dates = { "SO_BOOK_DATE", "REV_START_DATE",
      "REV_END_DATE" } },
  ["SIM Events"] = { kind = "event", columns = { "EVENT_NAME", "SO_NUM", "SO_LINE_NUM", "EVENT_DATE", "PERCENTAGE" },
    required = { "EVENT_NAME", "SO_NUM", "SO_LINE_NUM", "EVENT_DATE" }, numbers = { "PERCENTAGE" },
    dates = { "EVENT_DATE" } },
}

M.ORG = { org_id = 1, org_name = "SIM Organization" }

-- Programs the API can start (ids as in Zuora's examples; parameters are the simulator's).
M.PROGRAMS = {
  { program_id = 149, program_name = "Revpro3.0 Accounting Transfer Master", transfers = true, parameters = {
    { id = 228, mandatory = "N", name = "CRITERIA NAME", sequence = 1, type = "VARCHAR2" },
    { id = 229, mandatory = "N", name = "CRITERIA VALUE", sequence = 2, type = "VARCHAR2" },
    { id = 230, mandatory = "N", name = "EXCLUDE FLAG", sequence = 3, type = "VARCHAR2" } } },
  { program_id = 151, program_name = "RevPro3.0 Event Process Master", parameters = {
    { id = 240, mandatory = "N", name = "EVENT NAME", sequence = 1, type = "VARCHAR2" } } },
}

local function fresh()
  return {
    seq = { upload = 1000, batch = 10000, report = 20000, job = 26000, error = 0, collection = 500 },
    uploads = {}, upload_order = {}, filenames = {},
    staged = { transaction = {}, event = {} },
    errors = { transaction = {}, event = {} },
    batches = {}, batch_order = {},
    reports = {}, report_files = {},
    jobs = {}, collections = {},
    uploads_max = 0,
  }
end

--- The Revenue store of the current tenant.
function M.get()
  local d = state.data
  if not d.revenue then d.revenue = fresh() end
  return d.revenue
end

function M.next(kind)
  local r = M.get()
  r.seq[kind] = r.seq[kind] + 1
  return r.seq[kind]
end

--- "DD-MON-YYYY" (Zuora Revenue's date style) of a "YYYY-MM-DD" date.
local MON = { "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC" }
function M.oracle_date(iso)
  local y, m, d = iso:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)")
  return ("%s-%s-%s"):format(d, MON[tonumber(m)], y)
end

--- A "YYYY-MM-DD" date from "YYYY-MM-DD", "DD-MON-YYYY" or "MM/DD/YYYY"; nil otherwise.
function M.parse_date(s)
  local util = require "zuora_sim.util"
  if type(s) ~= "string" then return nil end
  if util.valid_date(s) and #s == 10 then return s end
  local d, mon, y = s:match("^(%d%d)%-(%a%a%a)%-(%d%d%d%d)$")
  if d then
    for i, name in ipairs(MON) do
      if name == mon:upper() then
        local iso = ("%s-%02d-%s"):format(y, i, d)
        return util.valid_date(iso) and iso or nil
      end
    end
    return nil
  end
  local m, dd, yy = s:match("^(%d%d)/(%d%d)/(%d%d%d%d)$")
  if m then
    local iso = ("%s-%s-%s"):format(yy, m, dd)
    return util.valid_date(iso) and iso or nil
  end
  return nil
end

return M
