-- zuora.Error: Zuora's error shapes become one error type with a category users can branch on.
local errors = require "zuora.errors"

describe("zuora.errors #luajit", function()
  it("derives the category from the last two digits of an 8-digit code", function()
    local expected = {
      [53100010] = "permission_denied", [90000011] = "authentication_failed", [53100320] = "invalid_value",
      [53100021] = "unknown_field", [50000022] = "missing_field", [50000023] = "missing_parameter",
      [58730030] = "rule_restriction", [50000040] = "not_found", [50000045] = "unsupported_request",
      [50000050] = "lock_contention", [50000060] = "internal_error", [50000061] = "temporary_error",
      [50000070] = "rate_limited", [50000090] = "malformed_request", [50000099] = "integration_error",
    }
    for code, category in pairs(expected) do
      assert.equals(category, errors.category_of(code), tostring(code))
      assert.equals(category, errors.category_of(tostring(code)), tostring(code))
    end
    assert.is_nil(errors.category_of(50000077))
  end)

  it("marks lock contention, temporary errors and rate limits retryable, and nothing else in the api kind",
    function()
      for code, retry in pairs { [50000050] = true, [50000061] = true, [50000070] = true, [50000060] = false,
        [53100320] = false, [50000040] = false } do
        assert.equals(retry, errors.new{ status = 200, code = code, message = "m" }.retryable, tostring(code))
      end
      for status, retry in pairs { [429] = true, [502] = true, [503] = true, [504] = true, [500] = false,
        [400] = false, [404] = false } do
        assert.equals(retry, errors.new{ status = status, message = "m" }.retryable, tostring(status))
      end
      assert.is_true(errors.new{ kind = "transport", message = "reset" }.retryable)
      assert.is_true(errors.new{ kind = "timeout", message = "slow" }.retryable)
    end)

  it("reads the v1 shape: success false with reasons and processId", function()
    local f = errors.parse_body({ success = false, processId = "P1",
      reasons = { { code = 53100320, message = "bad termType" }, { code = 53100022, message = "x" } } }, 200)
    assert.equals(53100320, f.code)
    assert.equals("bad termType", f.message)
    assert.equals("P1", f.process_id)
    assert.equals(2, #f.reasons)
    assert.equals("invalid_value", errors.new(f).category)
  end)

  it("reads the CRUD shape with symbolic codes", function()
    local f = errors.parse_body({ Success = false, Errors = { { Code = "INVALID_VALUE", Message = "nope" } } }, 200)
    assert.equals("INVALID_VALUE", f.code)
    assert.equals("nope", f.message)
    assert.equals("invalid_value", errors.new(f).category)
  end)

  it("reads an Actions array and keeps every result when one fails", function()
    local data = { { Success = true, Id = "1" }, { Success = false, Errors = { { Code = "LOCK_COMPETITION",
      Message = "busy" } } } }
    local f = errors.parse_body(data, 200)
    assert.equals("busy", f.message)
    assert.equals(data, f.results)
    assert.is_true(errors.new(f).retryable)
    assert.is_nil(errors.parse_body({ { Success = true, Id = "1" } }, 200))
  end)

  it("reads a bare message only when the status is an error", function()
    assert.same({ message = "Authentication error" }, errors.parse_body({ message = "Authentication error" }, 401))
    assert.is_nil(errors.parse_body({ message = "hello" }, 200))
    assert.is_nil(errors.parse_body({ success = true }, 200))
  end)

  it("prints one line with status, category, code, request and request id", function()
    local e = errors.new{ status = 400, code = 53100320, message = "bad termType", method = "POST",
      url = "https://rest.zuora.com/v1/subscriptions", request_id = "R-1", attempts = 2 }
    local s = tostring(e)
    assert.equals("zuora api error 400 invalid_value (53100320): bad termType "
      .. "[POST https://rest.zuora.com/v1/subscriptions, request_id=R-1, attempts=2]", s)
    assert.is_nil(s:find("\n"))
    -- the server's text with newlines and terminal escape sequences still prints as one plain line
    local hostile = errors.new{ status = 400, code = "E\27[31m1", message = "a\n\27]0;pwned\7\27[2Jb",
      request_id = "R\r\n2" }
    assert.equals("zuora api error 400 (E [31m1): a  ]0;pwned  [2Jb [request_id=R  2]", tostring(hostile))
    assert.is_true(errors.is(e))
    assert.is_false(errors.is({}))
  end)
end)
