--- The one list of names a client uses for itself: its methods, its fields (set or possibly
-- absent) and its options. A catalogue group can never take one of these names: the catalogue
-- generators (tools/gen-catalog.lua, tools/gen-revenue-catalog.lua) refuse it, so a group can never
-- hide a method. The client's __index reads the same list: a name on it that the client does not
-- hold is nil, any other name that is not a group raises with a suggestion (`client.acounts`).
-- A new client method or field goes here first (the generators and the specs then check it).
-- Pure Lua, no C module: the generators load it with plain lua5.4.
local options = require "zuora.options"

local M = {}

local function set(list)
  local s = {}
  for name in list:gmatch("[%w_]+") do s[name] = true end
  return s
end

--- Every client (Billing and Revenue): methods, then fields.
M.client = set [[
  request prepare classify call_one url_for redacted_url send_request fetch_token ensure_token
  spawn gather map sleep run query data_query wait_job upload_usage payment_page_signature pollable step close budget
  operations_list new from_env config options wait revenue ensure_token

  base_url origin mode token_epoch token_error on_request on_response track_id uses_tokens
  has_version auth base_headers rt transport product max_uploads timeout connect_timeout
  max_retries retry_base retry_cap retry_after_cap refresh_margin catalog_module idempotency_keys policy
  dry_run deadline guarded decimals governor closed
]]
for name in pairs(options.spec) do M.client[name] = true end

--- What a Zuora Revenue client adds (zuora.revenue.client's helpers and options).
M.revenue = set [[
  upload_csv upload_status stage_errors batches gl_rows gl_csv run_program download wait_for_upload
]]
for name in pairs(M.client) do M.revenue[name] = true end
for name in pairs(require("zuora.revenue.options").spec) do M.revenue[name] = true end

--- " (did you mean 'x'?)" for `name` among `names` (an array), or "".
function M.suggest(name, names)
  local s = {}
  for _, n in ipairs(names) do s[n] = true end
  return options.suggest(name, s)
end

return M
