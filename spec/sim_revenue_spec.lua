-- zuora-sim's Revenue API, driven with curl: credentials, the API switch, upload limits, the
-- two-uploads-at-once limit, stage errors, batches and signed URLs.
local simh = require "spec.support.sim"
local sj = require("spec.support.sim").json

local HEADER = "SO_NUM,SO_LINE_NUM,SO_BOOK_DATE,ITEM_NUM,CUSTOMER_NUM,QUANTITY,UNIT_SELL_PRICE,EXT_SELL_PRICE,"
  .. "CURRENCY,REV_START_DATE,REV_END_DATE,DESCRIPTION\n"
local ROW = "SO-1,1,2024-01-31,SKU,C-1,1,5.00,5.00,USD,,,x\n"

describe("zuora-sim Revenue API", function()
  local s

  lazy_setup(function() s = simh.start() end)
  lazy_teardown(function() if s then s:stop() end end)
  before_each(function() s:reset() end)

  local function authenticate(o)
    o = o or {}
    return s:request{ method = "POST", path = "/api/integration/v1/authenticate", auth = o.auth,
      headers = o.headers or { role = "API Role", clientname = "Default" } }
  end
  local function token() return assert(authenticate().headers["revpro-token"]) end

  local function upload(tok, body, filename, extra)
    local headers = { token = tok, templatename = "SIM Transactions", filename = filename or "f.csv",
      ["Content-Type"] = "text/plain" }
    local o = { method = "POST", path = "/api/integration/v1/csv/upload", auth = "none", headers = headers,
      body = body }
    for k, v in pairs(extra or {}) do o[k] = v end
    return o
  end

  it("authenticates with basic credentials, role and clientname; the JWT comes in Revpro-Token", function()
    local r = authenticate()
    assert.equals(200, r.status)
    assert.equals("Token Generated", r.json.Message)
    local tok = r.headers["revpro-token"]
    local seg = tok:match("^[^.]+%.([^.]+)%.[^.]+$"):gsub("-", "+"):gsub("_", "/")
    local claims = sj.decode(assert(require("zuora.core").crypto.unbase64(seg .. ("="):rep((4 - #seg % 4) % 4))))
    assert.equals(1800, sj.tonumber(claims.exp) - sj.tonumber(claims.iat))
    assert.equals("API Role", claims.role)
    local bad = authenticate{ auth = "none", headers = { role = "API Role", clientname = "Default",
      Authorization = "Basic " .. require("zuora.core").crypto.base64("zuora-sim-user:wrong") } }
    assert.equals(401, bad.status)
    assert.equals("failure", bad.json.status)
    assert.equals(400, authenticate{ headers = { role = "API Role" } }.status)
    local api = s:get("/api/integration/v1/journal/list", { auth = "none", headers = { token = tok } })
    assert.equals(204, api.status)
    assert.equals(401, s:get("/api/integration/v1/journal/list").status) -- Billing's basic auth is not Revenue's
    local none = s:get("/api/integration/v1/journal/list", { auth = "none" })
    assert.equals(401, none.status)
    assert.equals("Failure", none.json.status)
  end)

  it("answers 405 to every Revenue request when the API service is off", function()
    s:config{ revenue_enabled = false }
    for _, r in ipairs {
      authenticate(),
      s:request{ method = "POST", path = "/oauth2/token", auth = "none", body = "grant_type=client_credentials" },
      s:get("/revenue/api/integration/v1/journal/list", { auth = "none" }),
    } do
      assert.equals(405, r.status)
      assert.matches("not enabled for this tenant", r.json.message)
    end
    assert.equals(200, s:get("/v1/catalog/products").status) -- Billing is unaffected
  end)

  it("refuses an upload over 20,000 lines (or 60,000 as a file) whole, before anything is staged", function()
    local tok = token()
    local r = s:request(upload(tok, HEADER .. ROW:rep(20000)))
    assert.equals(400, r.status)
    assert.equals("The upload has 20001 lines; at most 20000 are accepted per request", r.json.message)
    assert.equals(200, s:request(upload(tok, HEADER .. ROW:rep(19999), "ok.csv")).status)
    local path = os.tmpname()
    local f = assert(io.open(path, "wb"))
    f:write(HEADER .. ROW:rep(60000))
    f:close()
    local big = s:request{ method = "POST", path = "/api/integration/v1/upload/file", auth = "none",
      headers = { token = tok, templatename = "SIM Transactions" }, multipart = { "file=@" .. path } }
    os.remove(path)
    assert.equals(400, big.status)
    assert.matches("at most 60000", big.json.message)
    assert.equals(400, s:request(upload(tok, HEADER .. ROW, "ok.csv")).status) -- file names are unique
  end)

  it("runs at most two uploads at once; a third gets 429", function()
    local tok = token()
    s:fault{ method = "POST", path = "/api/integration/v1/csv/upload", latency = 1 }
    local rs = s:parallel{ upload(tok, HEADER .. ROW, "a.csv"), upload(tok, HEADER .. ROW, "b.csv"),
      upload(tok, HEADER .. ROW, "c.csv", { delay = 0.4 }) }
    local got, refused = {}, nil
    for i, r in ipairs(rs) do
      got[i] = r.status
      if r.status == 429 then refused = r end
    end
    table.sort(got)
    assert.same({ 200, 200, 429 }, got) -- whichever came third
    assert.equals("1", refused.headers["retry-after"])
    assert.equals(2, sj.tonumber(s:control("GET", "revenue").uploads_in_flight_max))
  end)

  it("stages good rows, keeps bad ones as stage errors, and answers 204 when there are none", function()
    local tok = token()
    local function get(p) return s:get(p, { auth = "none", headers = { token = tok } }) end
    assert.equals(204, get("/api/integration/v1/stage/error/transaction").status)
    local r = s:request(upload(tok, HEADER .. ROW .. "SO-2,1,2024-02-30,SKU,C,1,1,1,USD,,,\n"))
    local id = sj.tonumber(r.json.result.id)
    assert.equals("In Progress", get("/api/integration/v1/csv/upload/status?id=" .. id).json.result.status)
    local done = get("/api/integration/v1/csv/upload/status?id=" .. id).json.result
    assert.equals("Completed", done.status)
    assert.equals("1 rows staged, 1 rows in error", done.message)
    local errs = get("/api/integration/v1/stage/error/transaction").json.Result
    assert.equals(1, #errs)
    assert.equals("SO_BOOK_DATE is not a date: 2024-02-30", errs[1].error_message)
    assert.equals(204, get("/api/integration/v1/stage/error/event").status)
    assert.equals(400, get("/api/integration/v1/stage/error/invoice").status)
  end)

  it("serves batch files on the files origin, refusing any request that carries credentials", function()
    local tok = token()
    local b = s:control("POST", "revenue/batches", { lines = 4 })
    local signed = s:get("/revenue/api/integration/v2/reports/signedurl/" .. sj.tonumber(b.report_id),
      { auth = "none", headers = { token = tok } }).json.signed_url
    assert.equals(200, s:request{ url = signed, auth = "none" }.status)
    assert.equals(400, s:request{ url = signed, auth = "none", headers = { token = tok } }.status)
    assert.equals(400, s:request{ url = signed }.status) -- basic credentials
    local page = s:get("/api/integration/v1/journal/batch/" .. sj.tonumber(b.id) .. "/1?pagesize=3",
      { auth = "none", headers = { token = tok } }).json
    assert.equals(2, sj.tonumber(page.total_pages))
    assert.equals(3, #page.result)
    assert.equals(400, s:get("/api/integration/v1/journal/batch/" .. sj.tonumber(b.id) .. "/1?pagesize=10001",
      { auth = "none", headers = { token = tok } }).status)
  end)
end)
