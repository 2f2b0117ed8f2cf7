-- zuora.callouts without nginx: receiver:handle(req) on request tables. What a server answers
-- Zuora for each kind of delivery (the end-to-end specs with nginx and zuora-sim are
-- spec/callouts_e2e_spec.lua).
local callouts = require "zuora.callouts"
local core = require "zuora.core"

local crypto, json = core.crypto, core.json

local AUTH = "Basic " .. crypto.base64("zuora:s3cret")

local function receiver(opts)
  local r = { runs = {}, logs = {} }
  local o = { basic = { username = "zuora", password = "s3cret" }, key = function(e) return e.params.InvoiceId end,
    handle = function(event, client)
      r.runs[#r.runs + 1] = event
      if r.on_run then return r.on_run(event, client) end
    end,
    log = function(level, msg) r.logs[#r.logs + 1] = level .. " " .. msg end }
  for k, v in pairs(opts or {}) do o[k] = v end
  if o.basic == false then o.basic = nil end
  if o.key == false then o.key = nil end
  r.receiver = callouts.new(o)
  return r
end

local function deliver(r, req)
  req.method = req.method or "POST"
  req.path = req.path or "/zuora/callouts"
  req.headers = req.headers or { Authorization = AUTH }
  local status, body, headers, after = r.receiver:handle(req)
  return status, json.decode(body), headers, after
end

describe("zuora.callouts #luajit", function()
  it("handles an event once; a retry with a new request id is answered 200 without running it again", function()
    local r = receiver()
    local status, body, headers = deliver(r, { query = "InvoiceId=I-1",
      headers = { Authorization = AUTH, ["Zuora-Request-Id"] = "aaa" } })
    assert.equals(200, status)
    assert.same({ success = true }, body)
    assert.equals("application/json", headers["Content-Type"])
    assert.equals(1, #r.runs)
    assert.equals("aaa", r.runs[1].request_id)
    assert.equals("I-1", r.runs[1].params.InvoiceId)
    status, body = deliver(r, { query = "InvoiceId=I-1",
      headers = { Authorization = AUTH, ["Zuora-Request-Id"] = "bbb" } })
    assert.equals(200, status)
    assert.same({ success = true }, body)
    assert.equals(1, #r.runs)
    deliver(r, { query = "InvoiceId=I-2" })
    assert.equals(2, #r.runs)
  end)

  it("answers 500 when the handler fails (raises, false, or nil, err) and runs it again on the retry", function()
    for _, failure in ipairs({ function() error("boom") end, function() return false end,
      function() return nil, "no invoice" end }) do
      local r = receiver()
      r.on_run = failure
      local status, body = deliver(r, { query = "InvoiceId=I-1" })
      assert.equals(500, status)
      assert.is_false(body.success)
      r.on_run = nil
      assert.equals(200, (deliver(r, { query = "InvoiceId=I-1" })))
      assert.equals(2, #r.runs)
      assert.equals(200, (deliver(r, { query = "InvoiceId=I-1" })))
      assert.equals(2, #r.runs)
      assert.matches("handler failed", r.logs[1])
    end
  end)

  it("answers 409 to a duplicate that arrives while the first delivery is being handled", function()
    local r = receiver()
    local inner
    r.on_run = function()
      if not inner then inner = { deliver(r, { query = "InvoiceId=I-1" }) } end
    end
    assert.equals(200, (deliver(r, { query = "InvoiceId=I-1" })))
    assert.equals(409, inner[1])
    assert.equals(1, #r.runs)
  end)

  it("takes parameters from the query, a form body or a JSON body, merged", function()
    local r = receiver({ key = function(e) return e.params.id end })
    deliver(r, { query = "id=1&a=x+y", body = "b=%C3%A9&c=", headers = { Authorization = AUTH,
      ["Content-Type"] = "application/x-www-form-urlencoded" } })
    assert.same({ id = "1", a = "x y", b = "é", c = "" }, r.runs[1].params)
    deliver(r, { query = "id=2", body = '{"InvoiceId": "I-9", "amount": 10.5, "nested": {"k": [1]}}',
      headers = { Authorization = AUTH, ["Content-Type"] = "application/json; charset=utf-8" } })
    assert.equals("I-9", r.runs[2].params.InvoiceId)
    assert.equals(10.5, r.runs[2].params.amount)
    assert.equals(1, r.runs[2].params.nested.k[1])
    -- Another body type: no parameters from it, handed over as is.
    deliver(r, { query = "id=3", body = "<xml/>", headers = { Authorization = AUTH, ["Content-Type"] = "text/xml" } })
    assert.equals("<xml/>", r.runs[3].body)
  end)

  it("refuses malformed parameters with 400, before running anything", function()
    local r = receiver()
    local cases = {
      { query = "InvoiceId=%zz" },
      { query = "InvoiceId=1&InvoiceId=2" },
      { query = "InvoiceId=1", body = '{"InvoiceId": "2"}' },
      { body = '{"InvoiceId": ', headers = { Authorization = AUTH, ["Content-Type"] = "application/json" } },
      { body = '["I-1"]', headers = { Authorization = AUTH, ["Content-Type"] = "application/json" } },
      { body = "InvoiceId=%",
        headers = { Authorization = AUTH, ["Content-Type"] = "application/x-www-form-urlencoded" } },
    }
    for i, c in ipairs(cases) do
      local status, body = deliver(r, c)
      assert.equals(400, status, "case " .. i)
      assert.matches("^malformed parameters: ", body.error)
    end
    assert.equals(0, #r.runs)
    -- a parameter name with a newline (percent-decoded) forges no log line
    local n = #r.logs
    deliver(r, { query = "a=1&a%0D%0A2026/12/07 [error] forged=1&a%0D%0A2026/12/07 [error] forged=2" })
    assert.equals(n + 1, #r.logs)
    assert.is_nil(r.logs[#r.logs]:find("%c"))
    -- An event without identity (the key function returns nothing) is refused too.
    assert.equals(400, (deliver(r, { query = "Other=1" })))
  end)

  it("refuses a wrong method (405 with Allow) and an oversized body (413)", function()
    local r = receiver({ max_body = 10, methods = { "POST", "PUT" } })
    local status, _, headers = deliver(r, { method = "GET", query = "InvoiceId=1" })
    assert.equals(405, status)
    assert.equals("POST, PUT", headers.Allow)
    assert.equals(413, (deliver(r, { query = "InvoiceId=1", body = ("x"):rep(11) })))
    assert.equals(200, (deliver(r, { method = "PUT", query = "InvoiceId=1", body = ("x"):rep(10) })))
  end)

  it("refuses missing, malformed and wrong basic credentials with 401, logging no secret", function()
    local r = receiver()
    for _, h in ipairs({ {}, { Authorization = "Bearer x" }, { Authorization = "Basic !!!" },
      { Authorization = "Basic " .. crypto.base64("zuora:hunter2") },
      { Authorization = "Basic " .. crypto.base64("other:s3cret") },
      { Authorization = { AUTH, AUTH } } }) do
      local status, _, headers = deliver(r, { query = "InvoiceId=1", headers = h })
      assert.equals(401, status)
      assert.equals('Basic realm="zuora-callouts"', headers["WWW-Authenticate"])
    end
    assert.equals(0, #r.runs)
    local all = table.concat(r.logs, "\n")
    assert.matches("401 wrong basic credentials", all, 1, true)
    assert.is_nil(all:find("hunter2", 1, true))
    assert.is_nil(all:find("s3cret", 1, true))
    assert.is_nil(all:find(crypto.base64("zuora:hunter2"), 1, true))
  end)

  describe("HMAC", function()
    local data = "POST\n/zuora/callouts\nI-1\n"
    local function sig(alg, enc, d)
      local mac = crypto.hmac(alg, "hmac-key", d or data)
      return enc == "hex" and crypto.hex(mac) or crypto.base64(mac)
    end

    it("checks a template-built signature in base64 or hex, with a prefix, for each algorithm", function()
      for _, alg in ipairs({ "sha1", "sha256", "sha384", "sha512" }) do
        for _, enc in ipairs({ "base64", "hex" }) do
          local r = receiver({ basic = false, hmac = { key = "hmac-key", header = "X-Signature", algorithm = alg,
            encoding = enc, prefix = "v1=", data = "{{method}}\n{{path}}\n{{param.InvoiceId}}\n" } })
          local ok = deliver(r, { query = "InvoiceId=I-1", headers = { ["x-signature"] = "v1=" .. sig(alg, enc) } })
          assert.equals(200, ok, alg .. " " .. enc)
          local bad = deliver(r, { query = "InvoiceId=I-2", headers = { ["X-Signature"] = "v1=" .. sig(alg, enc) } })
          assert.equals(401, bad)
          assert.equals(401, (deliver(r, { query = "InvoiceId=I-1", headers = { ["X-Signature"] = sig(alg, enc) } })))
          assert.equals(401, (deliver(r, { query = "InvoiceId=I-1", headers = {} })))
          assert.equals(1, #r.runs)
        end
      end
    end)

    it("takes the signed data from a function, and combines with basic auth", function()
      local r = receiver({ hmac = { key = "hmac-key", header = "X-Signature",
        data = function(e) return e.body .. "|" .. e.headers["x-date"] end } })
      local body = '{"InvoiceId": "I-1"}'
      local headers = { Authorization = AUTH, ["X-Date"] = "Mon", ["Content-Type"] = "application/json",
        ["X-Signature"] = sig("sha256", "base64", body .. "|Mon") }
      assert.equals(200, (deliver(r, { body = body, headers = headers })))
      headers.Authorization = nil
      assert.equals(401, (deliver(r, { body = body, headers = headers })))
    end)

    it("by default identifies an HMAC-checked event by what is signed: unsigned parameters make no new event",
      function()
      local r = receiver({ basic = false, key = false, hmac = { key = "hmac-key", header = "X-Signature",
        data = "{{method}}\n{{path}}\n{{param.InvoiceId}}\n" } })
      -- a captured delivery, replayed with parameters the signature does not cover
      for _, q in ipairs({ "InvoiceId=I-1", "InvoiceId=I-1&x=1", "InvoiceId=I-1&x=2", "InvoiceId=I-1&Amount=999" }) do
        assert.equals(200, (deliver(r, { query = q, headers = { ["X-Signature"] = sig("sha256", "base64") } })), q)
      end
      assert.equals(1, #r.runs)
      -- another signed event is another identity
      assert.equals(200, (deliver(r, { query = "InvoiceId=I-2",
        headers = { ["X-Signature"] = sig("sha256", "base64", "POST\n/zuora/callouts\nI-2\n") } })))
      assert.equals(2, #r.runs)
    end)

    it("covers the other template placeholders: uri, query, body, request_id, header.X", function()
      local r = receiver({ basic = false, hmac = { key = "hmac-key", header = "X-Signature",
        data = "{{uri}}|{{query}}|{{body}}|{{request_id}}|{{header.X-Date}}|{{param.missing}}" } })
      local d = "/zuora/callouts?InvoiceId=I-1|InvoiceId=I-1|{}|rid|Mon|"
      assert.equals(200, (deliver(r, { query = "InvoiceId=I-1", body = "{}", headers = { ["Zuora-Request-Id"] = "rid",
        ["X-Date"] = "Mon", ["Content-Type"] = "application/json", ["X-Signature"] = sig("sha256", "base64", d) } })))
    end)
  end)

  it("mode after: answers 200 first and hands back the run; done only after it succeeds", function()
    local r = receiver({ mode = "after" })
    local status, body, _, after = deliver(r, { query = "InvoiceId=I-1" })
    assert.equals(200, status)
    assert.same({ success = true }, body)
    assert.equals(0, #r.runs)
    assert.equals(409, (deliver(r, { query = "InvoiceId=I-1" }))) -- not run yet: in progress
    r.on_run = function() error("down") end
    local ok, err = after()
    assert.is_nil(ok)
    assert.matches("down", err)
    r.on_run = nil
    -- Failed in the background: the marker is gone, so the next delivery runs it.
    local _, _, _, again = deliver(r, { query = "InvoiceId=I-1" })
    assert.is_true(again())
    assert.equals(200, (deliver(r, { query = "InvoiceId=I-1" })))
    local _, _, _, none = deliver(r, { query = "InvoiceId=I-1" })
    assert.is_nil(none)
    -- after(false): the server could not schedule it; a retry may run it.
    local _, _, _, given_up = deliver(r, { query = "InvoiceId=I-2" })
    given_up(false)
    local _, _, _, retried = deliver(r, { query = "InvoiceId=I-2" })
    assert.is_function(retried)
    assert.equals(2, #r.runs)
  end)

  it("passes the client to the handler, and by default identifies an event by method, path and parameters",
    function()
      local client = {}
      local seen
      local r = callouts.new{ basic = { username = "zuora", password = "s3cret" },
        handle = function(_, c) seen = c end, client = client }
      local function d(q, rid)
        return (r:handle{ method = "POST", path = "/cb", query = q,
          headers = { authorization = AUTH, ["zuora-request-id"] = rid } })
      end
      assert.equals(200, d("b=2&a=1", "r1"))
      assert.equals(client, seen)
      seen = nil
      assert.equals(200, d("a=1&b=2", "r2")) -- the same event: same parameters in another order
      assert.is_nil(seen)
      assert.equals(200, d("a=1&b=3", "r3"))
      assert.equals(client, seen)
    end)

  it("uses a custom store with the lua_shared_dict interface", function()
    local calls = {}
    local inner = callouts.memory_store()
    local store = setmetatable({}, { __index = function(_, m)
      return function(_, ...) calls[#calls + 1] = m; return inner[m](inner, ...) end
    end })
    local r = receiver({ dedupe = { store = store }, ttl = 60, lock_ttl = 5 })
    deliver(r, { query = "InvoiceId=I-1" })
    deliver(r, { query = "InvoiceId=I-1" })
    assert.same({ "add", "set", "add", "get" }, calls)
    local failing = { add = function() return nil, "no memory" end, get = function() end, set = function() end,
      delete = function() end }
    r = receiver({ dedupe = { store = failing } })
    assert.equals(503, (deliver(r, { query = "InvoiceId=I-1" })))
  end)

  it("raises on configuration mistakes, at the caller", function()
    local function h() end
    local bad = {
      { handle = h },                                                   -- no auth at all
      { basic = { username = "u" }, handle = h },
      { basic = { username = "u", password = "p" } },                   -- no handle
      { basic = { username = "u", password = "p" }, handle = h, mode = "later" },
      { hmac = { key = "k", header = "X", data = "{{nope}}" }, handle = h },
      { hmac = { key = "k", header = "X", data = "x", algorithm = "md5" }, handle = h },
      { hmac = { key = "k", header = "X", data = "x", encoding = "b32" }, handle = h },
      { hmac = { key = "k", header = "X" }, handle = h },
      { basic = { username = "u", password = "p" }, handle = h, dedupe = { redis = "http://x" } },
      { basic = { username = "u", password = "p" }, handle = h, dedupe = { store = {} } },
      { basic = { username = "u", password = "p" }, handle = h, ttl = 0 },
      { basic = { username = "u", password = "p" }, handle = h, methods = { "post" } },
    }
    for i, o in ipairs(bad) do
      local ok, err = pcall(function() local rcv = callouts.new(o); return rcv end)
      assert.is_false(ok, "case " .. i)
      assert.matches("^spec/callouts_spec.lua:%d+: callouts", err)
    end
    assert.has_no.errors(function()
      callouts.new{ insecure_no_auth = true, handle = h }
      callouts.new{ basic = { username = "u", password = "p" }, handle = h,
        dedupe = { redis = "redis://:pw@127.0.0.1:6390/2" } }
    end)
  end)
end)
