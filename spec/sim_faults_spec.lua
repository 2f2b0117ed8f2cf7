-- zuora-sim's fault injection, concurrency cap and Idempotency-Key handling, over real HTTP.
local simh = require "spec.support.sim"
local json = simh.json

describe("zuora-sim faults", function()
  local s
  lazy_setup(function() s = simh.start() end)
  lazy_teardown(function() if s then s:stop() end end)
  before_each(function() s:reset() end)

  it("answers a matching request with the injected status, body and headers, count times", function()
    s:fault{ method = "GET", path = "/v1/accounts/*", status = 429, count = 2,
      headers = { ["Retry-After"] = 7 }, body = { message = "slow down" } }
    local a = s:get("/v1/accounts/A1")
    assert.equals(429, a.status)
    assert.equals("7", a.headers["retry-after"])
    assert.equals("slow down", a.json.message)
    assert.is_string(a.headers["zuora-request-id"])
    assert.equals(429, s:get("/v1/accounts/A2").status)
    assert.equals(404, s:get("/v1/accounts/A3").status) -- the rule is spent
    local log = s:requests{ path = "/v1/accounts/*" }
    assert.equals(1, json.tonumber(log[1].fault))
    assert.equals(json.null, log[3].fault or json.null)
  end)

  it("gives status-only faults a Zuora error body with the matching category", function()
    s:fault{ path = "/v1/catalog/products", status = 503 }
    local res = s:get("/v1/catalog/products")
    assert.equals(503, res.status)
    assert.is_false(res.json.success)
    assert.equals("50000061", json.number_text(res.json.reasons[1].code))
  end)

  it("skips the first matches when asked (fail the second call)", function()
    s:fault{ path = "/v1/catalog/products", status = 500, skip = 1, count = 1 }
    assert.equals(200, s:get("/v1/catalog/products").status)
    assert.equals(500, s:get("/v1/catalog/products").status)
    assert.equals(200, s:get("/v1/catalog/products").status)
  end)

  it("serves a gateway's HTML page", function()
    s:fault{ path = "/v1/**", action = "html", status = 504 }
    local res = s:get("/v1/catalog/products")
    assert.equals(504, res.status)
    assert.matches("^text/html", res.headers["content-type"])
    assert.matches("504 Gateway Timeout", res.body)
  end)

  it("drops the connection without a response", function()
    s:fault{ path = "/v1/catalog/products", action = "reset", count = 1 }
    local res = s:get("/v1/catalog/products")
    assert.equals(0, res.status)
    assert.equals(52, res.curl_exit) -- curl: empty reply from server
    assert.equals(200, s:get("/v1/catalog/products").status)
  end)

  it("truncates a body below its announced length", function()
    s:fault{ path = "/v1/catalog/products", action = "truncate", status = 200, count = 1 }
    local res = s:get("/v1/catalog/products")
    assert.equals(18, res.curl_exit) -- curl: partial file
    local announced = tonumber(res.headers["content-length"])
    assert.is_true(#res.body > 0 and #res.body < announced)
  end)

  it("adds latency, alone or before a fault", function()
    local function timed(f)
      local p = io.popen("date +%s.%N")
      local t0 = tonumber(p:read("l"))
      p:close()
      local res = f()
      p = io.popen("date +%s.%N")
      local t1 = tonumber(p:read("l"))
      p:close()
      return res, t1 - t0
    end
    s:fault{ path = "/v1/catalog/products", latency = 0.4, count = 1 }
    local res, took = timed(function() return s:get("/v1/catalog/products") end)
    assert.equals(200, res.status)
    assert.is_true(took >= 0.35)
    s:fault{ path = "/v1/catalog/products", latency = 0.3, status = 502, count = 1 }
    res, took = timed(function() return s:get("/v1/catalog/products") end)
    assert.equals(502, res.status)
    assert.is_true(took >= 0.25)
  end)

  it("replaces the response after the request ran (phase after): the work is done", function()
    s:fault{ method = "POST", path = "/v1/accounts", status = 504, phase = "after", count = 1, action = "html" }
    local res = s:post("/v1/accounts", { name = "Ghost", currency = "USD" })
    assert.equals(504, res.status)
    assert.equals(1, json.tonumber(s:state().accounts))
  end)

  it("applies faults to the files origin separately", function()
    s:fault{ origin = "files", path = "/**", status = 503, count = 1 }
    local res = s:request{ url = s.files_url .. "/results/abc/x.csv", auth = "none" }
    assert.equals(503, res.status)
    local faults = s:control("GET", "faults").faults
    assert.equals(1, json.tonumber(faults[1].hits))
  end)

  it("lists, deletes and rejects bad rules", function()
    local id = s:fault{ path = "/x", status = 500 }
    assert.equals(1, #s:control("GET", "faults").faults)
    s:control("DELETE", "faults/" .. id)
    assert.equals(0, #s:control("GET", "faults").faults)
    local bad = s:request{ method = "POST", path = "/__sim/faults", auth = "none", json = { path = "/x" } }
    assert.equals(400, bad.status)
    bad = s:request{ method = "POST", path = "/__sim/faults", auth = "none", json = { action = "explode" } }
    assert.equals(400, bad.status)
  end)
end)

describe("zuora-sim concurrency cap", function()
  local s
  lazy_setup(function() s = simh.start() end)
  lazy_teardown(function() if s then s:stop() end end)

  it("answers 429 with Retry-After beyond the cap", function()
    s:config{ concurrency_limit = 1, retry_after = 3 }
    s:fault{ path = "/v1/catalog/products", latency = 0.6 }
    local results = s:parallel{
      { method = "GET", path = "/v1/catalog/products" },
      { method = "GET", path = "/v1/catalog/products" },
      { method = "GET", path = "/v1/catalog/products" },
    }
    local ok, limited = 0, 0
    for _, r in ipairs(results) do
      if r.status == 200 then ok = ok + 1 end
      if r.status == 429 then
        limited = limited + 1
        assert.equals("3", r.headers["retry-after"])
        assert.equals("50000070", json.number_text(r.json.reasons[1].code))
      end
    end
    assert.equals(1, ok)
    assert.equals(2, limited)
    s:clear_faults()
    assert.equals("1", s:get("/v1/catalog/products").headers["concurrency-limit-limit"])
  end)
end)

describe("zuora-sim rate limit", function()
  local s
  lazy_setup(function() s = simh.start() end)
  lazy_teardown(function() if s then s:stop() end end)

  it("is off by default and, when set, counts requests in a window with RateLimit-* headers", function()
    assert.is_nil(s:get("/v1/catalog/products").headers["ratelimit-limit"])
    s:config{ rate_limit = 2, rate_window = 30 }
    local a = s:get("/v1/catalog/products")
    assert.equals("2", a.headers["ratelimit-limit"])
    assert.equals("1", a.headers["ratelimit-remaining"])
    assert.equals(200, s:get("/v1/catalog/products").status)
    local over = s:get("/v1/catalog/products")
    assert.equals(429, over.status)
    assert.equals("0", over.headers["ratelimit-remaining"])
    assert.is_true(tonumber(over.headers["retry-after"]) >= 1)
    assert.matches("70$", json.number_text(over.json.reasons[1].code))
    s:config{ rate_limit = 0 }
    assert.equals(200, s:get("/v1/catalog/products").status)
  end)
end)

describe("zuora-sim Idempotency-Key", function()
  local s
  lazy_setup(function() s = simh.start() end)
  lazy_teardown(function() if s then s:stop() end end)
  before_each(function() s:reset() end)

  local function create(key, name, path)
    return s:post(path or "/v1/accounts", { name = name or "Idem", currency = "USD" },
      { headers = { ["Idempotency-Key"] = key } })
  end

  it("replays the first response and creates nothing more", function()
    local a = create("key-1")
    local b = create("key-1", "Other name")
    assert.equals(200, b.status)
    assert.equals(a.json.accountId, b.json.accountId)
    assert.equals(a.body, b.body)
    assert.equals(1, json.tonumber(s:state().accounts))
    assert.is_true(s:requests{ limit = 1 }[1].replayed)
    assert.are_not.equal(a.json.accountId, create("key-2").json.accountId)
  end)

  it("answers 422 when the key comes back with another method or URL", function()
    create("key-3")
    local res = create("key-3", "x", "/v1/contacts")
    assert.equals(422, res.status)
    assert.is_false(res.json.success)
  end)

  it("answers 409 while the first request is still running", function()
    s:fault{ method = "POST", path = "/v1/accounts", latency = 0.8, count = 1 }
    local body = '{"name":"Slow","currency":"USD"}'
    local results = s:parallel{
      { method = "POST", path = "/v1/accounts", body = body, headers = { ["Idempotency-Key"] = "key-4",
        ["Content-Type"] = "application/json" } },
      { method = "POST", path = "/v1/accounts", body = body, headers = { ["Idempotency-Key"] = "key-4",
        ["Content-Type"] = "application/json" }, delay = 0.2 },
    }
    local statuses = { results[1].status, results[2].status }
    table.sort(statuses)
    assert.same({ 200, 409 }, statuses)
    assert.equals(1, json.tonumber(s:state().accounts))
  end)

  it("forgets a key whose request failed with a 5xx so a retry can succeed", function()
    s:fault{ method = "POST", path = "/v1/accounts", status = 503, count = 1 }
    assert.equals(503, create("key-5").status)
    assert.equals(200, create("key-5").status)
    assert.equals(1, json.tonumber(s:state().accounts))
  end)

  it("replays the stored success after a gateway error hid it", function()
    s:fault{ method = "POST", path = "/v1/accounts", status = 504, phase = "after", count = 1 }
    assert.equals(504, create("key-6").status)
    local again = create("key-6")
    assert.equals(200, again.status)
    assert.equals(1, json.tonumber(s:state().accounts))
  end)

  it("ignores the key on GET and rejects keys over 255 characters", function()
    assert.equals(400, create(string.rep("k", 256)).status)
    local g = s:get("/v1/catalog/products", { headers = { ["Idempotency-Key"] = "key-7" } })
    assert.equals(200, g.status)
    assert.equals(0, json.tonumber(s:state().idempotency_keys))
  end)
end)
