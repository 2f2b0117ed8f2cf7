--- zuora.retry_policy: may a failed attempt be sent again, and after how long? Pure functions of
-- the request's kind and the attempt's result: no network, no clock but os.time for HTTP dates,
-- no state. zuora.pipeline asks them after every failed attempt; docs/reliability.md states the
-- rules in prose.
--
-- Kinds of request:
--   "idempotent"  sending it twice leaves the tenant as sending it once (GET, HEAD; a PUT or DELETE
--                 the catalogue says sets or removes state; what a caller of client:request says
--                 with idempotent = true): repeated after any retryable failure;
--   "keyed"       a POST or PATCH carrying an Idempotency-Key that Zuora honours: a repeat with the
--                 same key gets the first answer back, so it is repeated as an idempotent one;
--   "unsafe"      everything else (Zuora's actions such as renew or apply, any write to a host that
--                 honours no key, a PUT or DELETE outside the catalogue): sent on a fresh connection
--                 and repeated only when the failure proves the server never acted on it.
local errors = require "zuora.errors"

local M = {}

-- Methods Zuora honours an Idempotency-Key on (zuora-facts.md).
M.KEYED_METHODS = { POST = true, PATCH = true }
-- Methods idempotent whatever the path.
M.SAFE_METHODS = { GET = true, HEAD = true }

--- The kind of a request: `method`; `idempotent`, the catalogue's or the caller's verdict (nil when
-- neither says: then only GET and HEAD are idempotent); `keyed`, whether it carries an
-- Idempotency-Key the server honours.
function M.kind(method, idempotent, keyed)
  if keyed and M.KEYED_METHODS[method] then return "keyed" end
  if idempotent == nil then idempotent = M.SAFE_METHODS[method] == true end
  return idempotent and "idempotent" or "unsafe"
end

-- libcurl codes of failures before the request could leave: proxy and host name resolution,
-- connection refused or unreachable, TLS handshake (CURLE_COULDNT_RESOLVE_PROXY 5,
-- CURLE_COULDNT_RESOLVE_HOST 6, CURLE_COULDNT_CONNECT 7, CURLE_SSL_CONNECT_ERROR 35). The nginx
-- transport reports the same codes for the same failures.
M.NEVER_SENT_CODES = { [5] = true, [6] = true, [7] = true, [35] = true }
local CURLE_OPERATION_TIMEDOUT = 28

--- Whether a transport result proves the request never reached the server: refused before the
-- network (`auth`, `file`), or one of NEVER_SENT_CODES with no send counted (a transport that
-- counts no sends is believed on the code alone), or a timeout before the first send (connect).
-- `sends` counts the times the request was put on the wire: libcurl may put it there twice (a
-- reused connection found dead), and a code after a first send proves nothing about that send.
function M.never_sent(res)
  local kind = res.kind
  if kind == "auth" or kind == "file" then return true end
  if not kind then return false end
  local sends = res.sends
  if M.NEVER_SENT_CODES[res.curl_code] then return sends == nil or sends == 0 end
  return res.curl_code == CURLE_OPERATION_TIMEDOUT and sends == 0
end

--- Whether an attempt may have done its work without our learning of it: it left (or the transport
-- cannot say) and no answer came back, or a gateway gave up on it (502, 504: the work may go on
-- behind it).
function M.outcome_unknown(res)
  if res.kind then return not M.never_sent(res) end
  return res.status == 502 or res.status == 504
end

--- Whether the server answered itself that it did not do the work and that trying again is right:
-- a 429, or a Zuora error of a retryable category (lock contention, temporary, rate limited) in
-- an answer that is not a gateway's.
local function refused(status, category)
  if status == 429 then return true end
  if status == 502 or status == 504 then return false end
  return category ~= nil and errors.retryable_categories[category] == true
end

--- The decision after a failed attempt of a request of `kind`: `res` is the transport result, `err`
-- the zuora.Error it made (its `retryable`, `status`, `category`), `unsure` whether an earlier
-- attempt's outcome is unknown. Returns retry (boolean) and unknown (this attempt's outcome is
-- unknown). The attempt budget is the caller's.
function M.decide(kind, res, err, unsure)
  local unknown = M.outcome_unknown(res)
  if not err.retryable then return false, unknown end
  if kind ~= "unsafe" then return true, unknown end
  -- An unsafe request is never repeated once the server may have acted on it.
  if unsure or unknown then return false, unknown end
  if res.kind then return M.never_sent(res), false end
  return refused(res.status, err.category), false
end

------------------------------------------------------------------------------------------------
-- How long to wait.

local MONTHS = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6, Jul = 7, Aug = 8, Sep = 9, Oct = 10,
  Nov = 11, Dec = 12 }

-- Days from 1970-01-01 to year-month-day (proleptic Gregorian), by arithmetic: os.time would
-- raise on fields outside the platform's range.
local floor = math.floor
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = floor(y / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

-- Seconds since the epoch of an IMF-fixdate ("Wed, 21 Oct 2015 07:28:00 GMT"), or nil when it is
-- not one or a field is out of range. Years past 9999 are read as 9999 (far away either way).
local function http_date(value)
  local d, mon, y, h, mi, s = value:match("^%s*%a+,%s*(%d+)%s+(%a+)%s+(%d+)%s+(%d+):(%d+):(%d+)%s*GMT%s*$")
  local month = d and MONTHS[mon]
  if not month then return nil end
  d, h, mi, s = tonumber(d), tonumber(h), tonumber(mi), tonumber(s)
  if #y > 4 then y = "9999" end
  y = tonumber(y)
  if d < 1 or d > 31 or h > 23 or mi > 59 or s > 60 then return nil end
  return days_from_civil(y, month, d) * 86400 + h * 3600 + mi * 60 + s
end

--- Seconds a Retry-After header value asks for, within [0, cap], or nil when it says nothing
-- usable. Never raises, whatever the value: delay-seconds (digits, a fraction too; more than
-- cap -> cap; signs, exponents, hex, nan, inf -> nil) or an HTTP date (past -> 0; out-of-range
-- fields -> nil). A number (not a header's text) is taken as is, within [0, cap]. `now`: the
-- current epoch seconds (default os.time()).
function M.retry_after(value, cap, now)
  local t = type(value)
  if t ~= "string" and t ~= "number" then return nil end
  -- delay-seconds is digits only (RFC 9110 10.2.3; a fraction is taken too): tonumber alone would
  -- also read hex, exponents and signs, which no server means as a delay
  local n = t == "number" and value or (value:match("^%s*%d+%.?%d*%s*$") and tonumber(value))
  if not n then
    local at = http_date(value)
    if not at then return nil end
    n = at - (now or os.time())
  end
  if n ~= n then return nil end
  if n < 0 then return 0 end
  if n > cap then return cap end
  return n
end

--- Seconds to wait before attempt `attempt + 1`: `retry_after` when the server gave one, else
-- exponential backoff with full jitter, uniform in [0, min(cap, base * 2^(attempt-1))].
-- `random` defaults to math.random.
function M.backoff(attempt, base, cap, retry_after, random)
  if retry_after then return retry_after end
  local ceiling = base * 2 ^ (attempt - 1)
  if ceiling > cap then ceiling = cap end
  return (random or math.random)() * ceiling
end

return M
