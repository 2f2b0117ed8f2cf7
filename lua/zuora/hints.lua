--- What to do about an error: a short hint for a zuora.Error (`err.hint`), from a small table
-- keyed by error code, status, category and kind, most specific first. Facts only: each hint says
-- what the failure usually means and where to look; the message of the error says the rest.
local M = {}

-- Whole 8-digit codes that come up often.
M.codes = {
  [90000011] = "the credentials in the request were refused: check the client id and secret, and that "
    .. "they belong to this environment",
  [53100020] = "a field of the subscription in the request has an invalid value (resource 531000 is the "
    .. "subscription); the message names the field",
  [50000040] = "nothing found (a GET or DELETE error names resource 500000): check the id or number, the "
    .. "environment and the entity",
}

M.statuses = {
  [401] = "check the client id and secret, and that they belong to this environment (sandbox and "
    .. "production credentials differ)",
  [403] = "the API user lacks a permission for this call, or Zuora-Entity-Ids names another entity",
  [405] = "this path does not take this method: check the operation (`zuora ops WORDS`)",
  [429] = "Zuora's rate or concurrency limit was reached: lower max_concurrency or spread the calls out",
  [504] = "a gateway stopped waiting, but Zuora may still finish the work: repeat a write only with the "
    .. "same Idempotency-Key",
}

M.categories = {
  permission_denied = "a tenant or user permission is missing: ask a Zuora administrator to enable it",
  authentication_failed = "check the client id and secret, and that they belong to this environment",
  invalid_value = "a value has the wrong format or is not allowed (dates are YYYY-MM-DD); the message "
    .. "names the field",
  unknown_field = "a field named in the request is not known here: check the spelling, or whether it needs a "
    .. "newer zuora_version",
  missing_field = "a required field of the body is missing; help(op) in the REPL lists the required ones",
  missing_parameter = "a required query parameter is missing; the message names it",
  rule_restriction = "a Zuora business rule refused the call; sending it again will not change that",
  not_found = "no such object in this tenant: check the id or number, and the environment",
  unsupported_request = "this endpoint does not take this method",
  lock_contention = "another request, UI action or job is changing the same object; try again shortly",
  internal_error = "an error inside Zuora; Zuora support will ask for the request_id",
  temporary_error = "a temporary failure inside Zuora; try again shortly, and give Zuora support the "
    .. "request_id if it persists",
  rate_limited = "Zuora's rate or concurrency limit was reached: lower max_concurrency or spread the calls out",
  malformed_request = "the body is not valid JSON, or not the shape this operation takes",
  integration_error = "a payment gateway or tax engine failed; the message carries its answer",
}

M.kinds = {
  policy = "refused by this client's own rules (read_only, allow, deny); nothing was sent",
  timeout = "no answer in time: raise the timeout, and repeat a write only with its Idempotency-Key",
}

M.BASE_V1 = "the base URL ends in /v1: drop it (operation paths already start with /v1)"
M.TLS = "the server's certificate could not be verified: give ca_file, or check the base URL"
M.DEADLINE = "the call's deadline passed before it could finish; nothing more was sent after it"

--- The hint for an error's fields (kind, status, code, category, url, reason, deadline), or nil.
-- Most specific first: the client's own refusals and deadlines, a doubled /v1 in the URL, the code,
-- the TLS failure, the status, the category, the kind.
function M.for_error(e)
  if e.kind == "policy" then return M.kinds.policy end
  if e.deadline then return M.DEADLINE end
  -- a doubled /v1 explains whatever the server said about the path it did not know
  if type(e.url) == "string" and e.url:find("^%a[%w+.-]*://[^/]*/v1/v1/") then return M.BASE_V1 end
  local code = tonumber(e.code)
  if code and M.codes[code] then return M.codes[code] end
  if e.reason == "tls" then return M.TLS end
  if e.status and M.statuses[e.status] then return M.statuses[e.status] end
  if e.category and M.categories[e.category] then return M.categories[e.category] end
  return M.kinds[e.kind]
end

return M
