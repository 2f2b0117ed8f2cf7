-- zuora.retry_policy on its own: which failures may be repeated for which kind of request, how long
-- to wait, and Retry-After values that try to hurt. No network: the results are the tables the
-- transports hand back (core.http's shape, which the nginx transport copies).
local policy = require "zuora.retry_policy"
local errors = require "zuora.errors"

-- A transport result that never got an answer: libcurl code, sends counted.
local function lost(code, sends, kind)
  return { status = 0, kind = kind or (code == 28 and "timeout" or "transport"), curl_code = code, sends = sends }
end

local function answered(status, data)
  return { status = status, data = data, sends = 1 }
end

-- The zuora.Error the pipeline makes of a result (only what the policy reads).
local function err_of(res, category)
  if res.kind then
    local final = res.kind == "tls" or res.kind == "auth" or res.kind == "file"
    return errors.new{ kind = res.kind == "timeout" and "timeout" or "transport", retryable = not final }
  end
  return errors.new{ status = res.status, category = category }
end

describe("zuora.retry_policy #luajit", function()
  describe("kind", function()
    it("makes GET and HEAD idempotent, and a keyed POST or PATCH keyed", function()
      assert.equals("idempotent", policy.kind("GET"))
      assert.equals("idempotent", policy.kind("HEAD"))
      assert.equals("keyed", policy.kind("POST", false, true))
      assert.equals("keyed", policy.kind("PATCH", nil, true))
    end)

    it("makes PUT and DELETE unsafe unless someone says they are idempotent", function()
      assert.equals("unsafe", policy.kind("PUT"))
      assert.equals("unsafe", policy.kind("DELETE"))
      assert.equals("unsafe", policy.kind("PUT", false))
      assert.equals("idempotent", policy.kind("PUT", true))
      assert.equals("idempotent", policy.kind("DELETE", true))
      -- Zuora honours the key on POST and PATCH only: a PUT carrying one is judged on its own
      assert.equals("unsafe", policy.kind("PUT", false, true))
    end)

    it("makes a POST without an honoured key unsafe (Revenue, or no key)", function()
      assert.equals("unsafe", policy.kind("POST"))
      assert.equals("unsafe", policy.kind("POST", false, false))
      assert.equals("idempotent", policy.kind("POST", true, false)) -- a read sent as POST
    end)
  end)

  describe("never_sent", function()
    it("believes DNS, refused connections and TLS handshakes when nothing was sent", function()
      for _, code in ipairs { 5, 6, 7, 35 } do
        assert.is_true(policy.never_sent(lost(code, 0)), code)
        assert.is_true(policy.never_sent(lost(code, nil)), code) -- a transport that counts no sends
        -- libcurl sent it once on a reused connection, then could not reconnect to resend it
        assert.is_false(policy.never_sent(lost(code, 1)), code)
      end
    end)

    it("counts a timeout only when it struck before the first send (connecting)", function()
      assert.is_true(policy.never_sent(lost(28, 0)))
      assert.is_false(policy.never_sent(lost(28, 1)))
      assert.is_false(policy.never_sent(lost(28, nil)))
    end)

    it("does not believe a reset, an empty reply or a broken receive", function()
      for _, code in ipairs { 52, 55, 56, 18, 92 } do
        assert.is_false(policy.never_sent(lost(code, 1)), code)
        assert.is_false(policy.never_sent(lost(code, nil)), code)
      end
    end)

    it("counts failures before the network (credentials, files) as never sent, and an answer as sent", function()
      assert.is_true(policy.never_sent({ status = 0, kind = "auth", sends = 0 }))
      assert.is_true(policy.never_sent({ status = 0, kind = "file", sends = 0 }))
      assert.is_false(policy.never_sent(answered(503)))
    end)
  end)

  describe("outcome_unknown", function()
    it("is true for lost answers and gateway give-ups, false for answers and unsent requests", function()
      assert.is_true(policy.outcome_unknown(lost(56, 1)))
      assert.is_true(policy.outcome_unknown(lost(28, 1)))
      assert.is_true(policy.outcome_unknown(answered(502)))
      assert.is_true(policy.outcome_unknown(answered(504)))
      assert.is_false(policy.outcome_unknown(answered(503)))
      assert.is_false(policy.outcome_unknown(answered(429)))
      assert.is_false(policy.outcome_unknown(answered(200)))
      assert.is_false(policy.outcome_unknown(lost(7, 0)))
    end)
  end)

  describe("decide", function()
    local function decide(kind, res, category, unsure)
      return policy.decide(kind, res, err_of(res, category), unsure)
    end

    it("repeats idempotent and keyed requests after every retryable failure", function()
      for _, kind in ipairs { "idempotent", "keyed" } do
        for _, res in ipairs { lost(56, 1), lost(28, 1), lost(7, 0), answered(429), answered(502), answered(503),
          answered(504) } do
          assert.is_true((decide(kind, res)), kind .. " " .. tostring(res.curl_code or res.status))
        end
        assert.is_true((decide(kind, answered(409), "lock_contention")))
        assert.is_true((decide(kind, lost(56, 1), nil, true))) -- an earlier lost answer changes nothing
      end
    end)

    it("repeats nothing that is not retryable, whatever the kind", function()
      for _, kind in ipairs { "idempotent", "keyed", "unsafe" } do
        assert.is_false((decide(kind, answered(400), "invalid_value")))
        assert.is_false((decide(kind, answered(500))))
        assert.is_false((decide(kind, answered(404), "not_found")))
        assert.is_false((decide(kind, { status = 0, kind = "tls", curl_code = 60, sends = 0 })))
      end
    end)

    it("repeats an unsafe request only when it never left, or the server said it did nothing", function()
      assert.same({ true, false }, { decide("unsafe", lost(7, 0)) })
      assert.same({ true, false }, { decide("unsafe", lost(6, 0)) })
      assert.same({ true, false }, { decide("unsafe", lost(35, 0)) })
      assert.same({ true, false }, { decide("unsafe", lost(28, 0)) })
      assert.same({ true, false }, { decide("unsafe", answered(429)) })
      assert.same({ true, false }, { decide("unsafe", answered(409), "lock_contention") })
      assert.same({ true, false }, { decide("unsafe", answered(200), "temporary_error") })
      -- an answer lost after sending, a gateway that gave up: maybe done, never repeated
      assert.same({ false, true }, { decide("unsafe", lost(56, 1)) })
      assert.same({ false, true }, { decide("unsafe", lost(52, 1)) })
      assert.same({ false, true }, { decide("unsafe", lost(28, 1)) })
      assert.same({ false, true }, { decide("unsafe", lost(7, 1)) }) -- sent once, then no reconnect
      assert.same({ false, true }, { decide("unsafe", answered(502)) })
      assert.same({ false, true }, { decide("unsafe", answered(504)) })
      -- a 503 without Zuora's word that nothing was done: not repeated, but not unknown either
      assert.same({ false, false }, { decide("unsafe", answered(503)) })
      -- once an attempt may have done the work, even a refusal is not repeated
      assert.same({ false, false }, { decide("unsafe", lost(7, 0), nil, true) })
      assert.same({ false, false }, { decide("unsafe", answered(429), nil, true) })
    end)
  end)

  describe("retry_after", function()
    local NOW = 1700000000 -- 2023-11-14T22:13:20Z

    it("reads delay-seconds and HTTP dates within [0, cap]", function()
      assert.equals(5, policy.retry_after("5", 60))
      assert.equals(2.5, policy.retry_after("2.5", 60))
      assert.equals(60, policy.retry_after("999999", 60))
      assert.equals(7, policy.retry_after(7, 60))
      assert.equals(10, policy.retry_after("Tue, 14 Nov 2023 22:13:30 GMT", 60, NOW))
      assert.equals(0, policy.retry_after("Thu, 01 Jan 1970 00:00:00 GMT", 60, NOW))
      assert.equals(60, policy.retry_after("Fri, 31 Dec 9999 23:59:59 GMT", 60, NOW))
      assert.equals(0, policy.retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 60)) -- against the real clock
    end)

    it("gives a bounded wait or none for hostile values, and never raises", function()
      local hostile = {
        ["Mon, 01 Jan 99999999999 00:00:00 GMT"] = 60, -- a year os.time cannot hold: far away
        ["Mon, 01 Jan 2024 99:00:00 GMT"] = nil, ["Mon, 45 Jan 2024 00:00:00 GMT"] = nil,
        ["Mon, 00 Jan 2024 00:00:00 GMT"] = nil, ["Mon, 01 Foo 2024 00:00:00 GMT"] = nil,
        ["Mon, 01 Jan 2024 00:99:00 GMT"] = nil, ["Mon, 01 Jan 2024 00:00:99 GMT"] = nil,
        ["Mon, 99999999999999999999 Jan 2024 00:00:00 GMT"] = nil,
        -- delay-seconds is digits: signs, exponents and hex are no delay a server means
        ["-5"] = nil, ["-1e999"] = nil, ["nan"] = nil, ["-nan"] = nil, ["inf"] = nil, ["-inf"] = nil,
        ["1e999"] = nil, ["0x7fffffffffffffff"] = nil, ["0x10"] = nil, ["+5"] = nil, ["1e3"] = nil,
        [("9"):rep(400)] = 60, [""] = nil, ["soon"] = nil, ["   "] = nil, ["5 seconds"] = nil, [" 5 "] = 5,
      }
      for value, want in pairs(hostile) do
        local ok, got = pcall(policy.retry_after, value, 60, NOW)
        assert.is_true(ok, value .. ": " .. tostring(got))
        assert.equals(want, got, value)
      end
      for _, v in ipairs { {}, true, 0 / 0, math.huge, -math.huge } do
        local ok, got = pcall(policy.retry_after, v, 60, NOW)
        assert.is_true(ok)
        assert.is_true(got == nil or (got >= 0 and got <= 60), tostring(v))
      end
    end)
  end)

  describe("backoff", function()
    it("waits a uniform share of an exponential ceiling, capped, unless the server said how long", function()
      local function one() return 1 end
      assert.equals(0.5, policy.backoff(1, 0.5, 8, nil, one))
      assert.equals(1, policy.backoff(2, 0.5, 8, nil, one))
      assert.equals(8, policy.backoff(10, 0.5, 8, nil, one))
      assert.equals(0, policy.backoff(3, 0.5, 8, nil, function() return 0 end))
      assert.equals(3, policy.backoff(3, 0.5, 8, 3, one))
      for _ = 1, 100 do
        local w = policy.backoff(4, 0.5, 8)
        assert.is_true(w >= 0 and w <= 4)
      end
    end)
  end)

  describe("one attempt loop", function()
    it("lives in zuora.pipeline alone: no other module of the library repeats a request", function()
      local files = {}
      local p = assert(io.popen("find lua/zuora -name '*.lua' -not -path '*/catalog/*' | sort"))
      for f in p:lines() do files[#files + 1] = f end
      p:close()
      assert.is_true(#files > 30)
      local loops, budgets = {}, {}
      for _, f in ipairs(files) do
        local text = assert(io.open(f)):read("a")
        if text:find("attempt%s*=%s*attempt%s*%+%s*1") then loops[#loops + 1] = f end
        if text:find("%.max_retries") then budgets[#budgets + 1] = f end
      end
      assert.same({ "lua/zuora/pipeline.lua" }, loops)
      assert.same({ "lua/zuora/pipeline.lua" }, budgets)
    end)
  end)
end)
