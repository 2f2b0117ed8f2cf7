--- The simulator's whole state, held in Lua tables of the single nginx worker.
--
-- With one worker every request sees the same module-level tables, so no shared dict is needed.
-- (Several workers would each hold a separate tenant; bin/zuora-sim refuses --workers > 1 for
-- that reason.) `reset()` empties the tenant and the control settings; see docs/zuora-sim.md.
local M = {}

-- Defaults for the settings the control API can change (PUT /__sim/config).
M.DEFAULTS = {
  token_ttl = 3599,          -- seconds an OAuth token lives
  concurrency_limit = 40,    -- in-flight requests beyond which the simulator answers 429
  rate_limit = 0,            -- requests per rate_window (0 = no rate limit, no RateLimit-* headers)
  rate_window = 60,          -- seconds of the fixed rate-limit window
  retry_after = 1,           -- Retry-After (seconds) on 429s it generates
  job_polls = 2,             -- GETs an async job (bill run, data query, order job) needs to finish
  synthetic_rows = 0,        -- rows of the Data Query table sim_synthetic_dated (synthetic.lua)
  locator_ttl = 900,         -- seconds a queryLocator lives without use
  file_url_ttl = 600,        -- seconds a Data Query result URL stays valid
  idempotency_ttl = 86400,   -- seconds an Idempotency-Key is remembered
  errors_as_200 = false,     -- answer v1 business errors with HTTP 200 + success:false
  today = false,             -- "YYYY-MM-DD" to pin the tenant's date; false = the real UTC date
  default_version = "186.0", -- zuora-version assumed when a request carries none
  log_limit = 10000,         -- request log entries kept (oldest dropped)
  -- Callouts (callouts.lua): Zuora's tenant-wide callout options, and how long a "minute" is.
  callout_retry_number = 3,  -- retries after a failed attempt (retryNumber)
  callout_interval_time = 1, -- minutes between attempts (intervalTime)
  callout_interval_scale = 60, -- seconds a minute of intervalTime lasts (0.1 in specs)
  callout_confirm_suc_from_res_content = false, -- success needs a JSON {"success": true} too
  callout_timeout = 10,      -- seconds an attempt waits for the receiver's answer
  -- Zuora Revenue (sim/revenue/):
  revenue_enabled = true,    -- false: every Revenue API request gets 405 (API service not enabled)
  revenue_token_ttl = 1800,  -- seconds a Revenue token (legacy or OneID) lives
  revenue_stage_polls = 2,   -- status reads an upload or job needs to finish (0 = at once)
  revenue_max_uploads = 2,   -- uploads a tenant runs at once; more get 429
}

M.settings = {} -- start-up settings from bin/zuora-sim (credentials, URLs); survive reset

local function fresh_config()
  local c = {}
  for k, v in pairs(M.DEFAULTS) do c[k] = v end
  if M.settings.token_ttl then c.token_ttl = M.settings.token_ttl end
  return c
end

--- Empties the tenant (and, unless `keep_tokens`, the issued tokens), the request log, the
-- faults, idempotency keys and settings. The seeded product catalogue is rebuilt.
function M.reset(opts)
  opts = opts or {}
  M.config = fresh_config()
  M.seq = {}             -- counters for ids and numbers
  M.data = {
    accounts = {}, contacts = {}, payment_methods = {}, products = {}, product_rate_plans = {},
    product_rate_plan_charges = {}, subscriptions = {}, orders = {}, invoices = {}, bill_runs = {},
    payments = {}, refunds = {}, credit_memos = {}, debit_memos = {}, usages = {}, usage_imports = {}, files = {},
    objects = {},        -- generic CRUD objects by type name (lower case) -> id -> record
    async_jobs = {}, query_jobs = {}, locators = {}, operation_jobs = {},
  }
  M.order = {}           -- insertion order per collection: name -> array of ids
  if not opts.keep_tokens then M.tokens = {} end
  M.tokens = M.tokens or {}
  M.log = {}
  M.log_seq = M.log_seq or 0
  M.faults = {}
  M.fault_seq = 0
  M.idem = {}
  M.in_flight = 0
  M.rate = { start = 0, count = 0 }
  M.clock = nil          -- a simulated clock (epoch seconds, frozen) set through /__sim/clock
  M.deleted = {}         -- deleted records by Data Query table (lower case): array of records
  M.query_faults = {}    -- Data Query job faults (/__sim/query-faults)
  require("zuora_sim.seed").catalog(M)
end

function M.next(kind)
  local n = (M.seq[kind] or 0) + 1
  M.seq[kind] = n
  return n
end

-- Ids look like Zuora's: 32 lower-case hex digits. The type code keeps ids of different kinds
-- apart; the counter makes them unique within the run.
local TYPE_CODES = {}
local type_count = 0
function M.new_id(kind)
  local code = TYPE_CODES[kind]
  if not code then
    type_count = type_count + 1
    code = type_count
    TYPE_CODES[kind] = code
  end
  M.id_seq = (M.id_seq or 0) + 1
  return string.format("8ad0%04x%08x%016x", code, 0x5a1e0000, M.id_seq)
end

--- Stores `rec` in collection `name` under rec.id, remembering insertion order.
function M.put(name, rec, key)
  key = key or rec.id
  local coll = M.data[name]
  if coll[key] == nil then
    local ord = M.order[name]
    if not ord then ord = {}; M.order[name] = ord end
    ord[#ord + 1] = key
  end
  coll[key] = rec
  return rec
end

function M.remove(name, key)
  M.data[name][key] = nil
end

--- Records of a collection in insertion order (deleted ones skipped).
function M.list(name, pred)
  local out, coll = {}, M.data[name]
  for _, key in ipairs(M.order[name] or {}) do
    local rec = coll[key]
    if rec ~= nil and (not pred or pred(rec)) then out[#out + 1] = rec end
  end
  return out
end

function M.count(name)
  local n = 0
  for _ in pairs(M.data[name]) do n = n + 1 end
  return n
end

--- Today's date in the tenant ("YYYY-MM-DD").
function M.today()
  if M.config.today then return M.config.today end
  return os.date("!%Y-%m-%d")
end

--- The tenant's clock: the real time, or the simulated one (frozen until advanced) once set.
function M.time()
  return M.clock or os.time()
end

function M.now_iso()
  return os.date("!%Y-%m-%dT%H:%M:%S.000+00:00", M.time())
end

function M.now_stamp()
  return os.date("!%Y-%m-%d %H:%M:%S", M.time())
end

return M
