--- zuora.Error: every failure the client reports, whatever its source.
--
-- Fields: kind ("api", "transport", "timeout", "auth", "decode", "policy", "limit", "loop" (paging
-- that makes no progress), "closed" (the client was closed while the call was in flight),
-- "cancelled", "file" (a local file: an output that cannot be written, a body_file or multipart
-- file that cannot be read)), status, code, category,
-- message, reasons, request_id, process_id, retryable, method, url, attempts, sends,
-- idempotency_key and outcome_unknown (a write that may have been done although the call failed),
-- hint (what to do about it, from zuora.hints), and for some shapes `results` (the whole Actions
-- reply) or `body` (the first bytes of a non-JSON body).
-- `tostring(err)` is one readable line. Errors never carry credentials: URLs and bodies pass
-- through the client's redaction before they are stored here.
local hints = require "zuora.hints"

local Error = {}
Error.__index = Error
Error.__name = "zuora.Error"

local M = { Error = Error }

-- The last two digits of an 8-digit Zuora error code name its category.
M.categories = {
  [10] = "permission_denied",
  [11] = "authentication_failed",
  [20] = "invalid_value",
  [21] = "unknown_field",
  [22] = "missing_field",
  [23] = "missing_parameter",
  [30] = "rule_restriction",
  [40] = "not_found",
  [45] = "unsupported_request",
  [50] = "lock_contention",
  [60] = "internal_error",
  [61] = "temporary_error",
  [70] = "rate_limited",
  [90] = "malformed_request",
  [99] = "integration_error",
}

-- Symbolic codes of the CRUD and Actions error shape, mapped onto the same categories.
M.symbolic = {
  API_DISABLED = "permission_denied",
  PERMISSION_DENIED = "permission_denied",
  INVALID_LOGIN = "authentication_failed",
  INVALID_SESSION = "authentication_failed",
  INVALID_VALUE = "invalid_value",
  INVALID_TYPE = "invalid_value",
  INVALID_ID = "invalid_value",
  DUPLICATE_VALUE = "invalid_value",
  INVALID_VERSION = "invalid_value",
  INVALID_FIELD = "unknown_field",
  MISSING_REQUIRED_VALUE = "missing_field",
  CANNOT_DELETE = "rule_restriction",
  TRANSACTION_FAILED = "rule_restriction",
  MAX_RECORDS_EXCEEDED = "rule_restriction",
  NOT_FOUND = "not_found",
  LOCK_COMPETITION = "lock_contention",
  UNKNOWN_ERROR = "internal_error",
  TRANSACTION_TERMINATED = "temporary_error",
  SERVER_UNAVAILABLE = "temporary_error",
  TEMPORARY_ERROR = "temporary_error",
  REQUEST_EXCEEDED_LIMIT = "rate_limited",
  REQUEST_EXCEEDED_RATE = "rate_limited",
  MALFORMED_QUERY = "malformed_request",
  INVALID_QUERY_LOCATOR = "invalid_value",
  CREDIT_CARD_PROCESSING_FAILURE = "integration_error",
}

-- Categories worth another attempt, and the HTTP statuses that are.
M.retryable_categories = { lock_contention = true, temporary_error = true, rate_limited = true }
M.retryable_statuses = { [429] = true, [502] = true, [503] = true, [504] = true }

--- The category name of a numeric (8-digit) or symbolic error code, or nil.
function M.category_of(code)
  local n = tonumber(code)
  if n then return M.categories[math.floor(n) % 100] end
  if type(code) == "string" then return M.symbolic[code:upper()] end
  return nil
end

--- Builds an Error from a table of fields (copied).
function M.new(fields)
  local e = setmetatable({}, Error)
  for k, v in pairs(fields) do e[k] = v end
  e.kind = e.kind or "api"
  if e.category == nil and e.code ~= nil then e.category = M.category_of(e.code) end
  if e.retryable == nil then
    e.retryable = e.kind == "transport" or e.kind == "timeout"
      or (e.status ~= nil and M.retryable_statuses[e.status] == true)
      or (e.category ~= nil and M.retryable_categories[e.category] == true)
  end
  e.message = e.message or "unknown error"
  if e.hint == nil then e.hint = hints.for_error(e) end
  return e
end

--- The error of a call ended by client:close() (from another task, or before it was made).
function M.closed(method, url, attempts, sends)
  return M.new{ kind = "closed", message = "the client was closed", retryable = false, method = method, url = url,
    attempts = attempts, sends = sends }
end

--- True if `x` is a zuora.Error.
function M.is(x)
  return getmetatable(x) == Error
end

function Error:__tostring()
  local head = "zuora " .. self.kind .. " error"
  local what = {}
  if self.status and self.status ~= 0 then what[#what + 1] = tostring(self.status) end
  if self.category then what[#what + 1] = self.category end
  if self.code then what[#what + 1] = "(" .. tostring(self.code) .. ")" end
  local line = head .. (#what > 0 and (" " .. table.concat(what, " ")) or "") .. ": " .. tostring(self.message)
  local extra = {}
  if self.method and self.url then extra[#extra + 1] = self.method .. " " .. self.url end
  if self.request_id then extra[#extra + 1] = "request_id=" .. self.request_id end
  if self.attempts and self.attempts > 1 then extra[#extra + 1] = "attempts=" .. self.attempts end
  if self.outcome_unknown then extra[#extra + 1] = "outcome unknown" end
  if #extra > 0 then line = line .. " [" .. table.concat(extra, ", ") .. "]" end
  -- One line, and nothing a terminal would act on: the message, code and request id are the
  -- server's text, and a hostile one sends newlines and escape sequences (ESC ]0; retitles the
  -- window, ESC [2J clears it) that the CLI and logs would print as they are.
  if line:find("%c") then line = line:gsub("%c", " ") end
  return line
end

Error.__concat = function(a, b)
  return tostring(a) .. tostring(b)
end

--- Parses Zuora's error shapes out of a decoded response body. Returns a table of Error fields
-- (code, message, reasons, process_id, results) when `data` says the call failed, else nil.
-- Shapes: v1 `{success = false, reasons = {{code, message}}, processId}`; CRUD/Actions
-- `{Success = false, Errors = {{Code, Message}}}` or an array of such results; `{message}`
-- alone (gateway and 401 replies, only when the status is not 2xx); `{errors = {...}}`.
function M.parse_body(data, status)
  if type(data) ~= "table" then return nil end
  local ok_status = status >= 200 and status < 300

  if data.success == false or data.Success == false then
    local reasons = {}
    for _, r in ipairs(type(data.reasons) == "table" and data.reasons or {}) do
      if type(r) == "table" then reasons[#reasons + 1] = { code = r.code, message = r.message } end
    end
    for _, r in ipairs(type(data.Errors) == "table" and data.Errors or {}) do
      if type(r) == "table" then reasons[#reasons + 1] = { code = r.Code, message = r.Message } end
    end
    local first = reasons[1] or {}
    return {
      code = first.code,
      message = first.message or data.message or "request failed",
      reasons = reasons,
      process_id = data.processId,
    }
  end

  -- Actions (create/update/delete/amend/subscribe) answer an array of per-object results.
  if data[1] ~= nil and type(data[1]) == "table" then
    local failed
    for _, r in ipairs(data) do
      if type(r) == "table" and (r.Success == false or r.success == false) then
        failed = failed or r
      end
    end
    if failed then
      local f = M.parse_body(failed, status)
      f.results = data
      return f
    end
    return nil
  end

  if not ok_status then
    if type(data.errors) == "table" and type(data.errors[1]) == "table" then
      local reasons = {}
      for _, r in ipairs(data.errors) do
        reasons[#reasons + 1] = { code = r.code or r.Code, message = r.message or r.Message }
      end
      return { code = reasons[1].code, message = reasons[1].message or "request failed", reasons = reasons }
    end
    local msg = data.message or data.Message or data.error_description or data.error
    return { message = type(msg) == "string" and msg or ("HTTP " .. status) }
  end
  return nil
end

return M
