-- zuora-sim with an operation catalogue: every catalogue operation answers (generically when no
-- handler exists); paths outside it get Zuora-shaped 404/405 errors.
local simh = require "spec.support.sim"
local fs = require "spec.support.fs"
local json = simh.json

local CATALOG = {
  ["init.lua"] = [[return { groups = {
    { name = "accounts", title = "Accounts", module = "zuora.catalog.accounts" },
    { name = "journal_runs", title = "Journal Runs", module = "zuora.catalog.journal_runs" } } }]],
  ["accounts.lua"] = [[return {
    { name = "create", method = "POST", path = "/v1/accounts", params = {}, title = "Create an account" },
    { name = "retrieve", method = "GET", path = "/v1/accounts/{account-key}", params = { "account-key" },
      title = "Retrieve an account" } }]],
  ["journal_runs.lua"] = [[return {
    { name = "create", method = "POST", path = "/v1/journal-runs", params = {}, title = "Create a journal run" },
    { name = "retrieve", method = "GET", path = "/v1/journal-runs/{jr-number}", params = { "jr-number" },
      title = "Retrieve a journal run" } }]],
}

describe("zuora-sim with a catalogue", function()
  local s, dir
  lazy_setup(function()
    dir = fs.tmpdir("sim-catalog")
    fs.sh("mkdir -p " .. dir .. "/zuora/catalog")
    for name, text in pairs(CATALOG) do fs.write(dir .. "/zuora/catalog/" .. name, text) end
    s = simh.start{ args = { "--catalog", dir } }
  end)
  lazy_teardown(function()
    if s then s:stop() end
    if dir then os.execute("rm -rf " .. dir) end
  end)

  it("loads the catalogue's operations", function()
    assert.equals(4, json.tonumber(s:control("GET", "info").catalog_operations))
  end)

  it("answers operations without a handler statefully, noting the operation in the request log", function()
    local missing = s:get("/v1/journal-runs/JR%2F1?x=y")
    assert.equals(404, missing.status)
    assert.matches("JR/1", missing.json.reasons[1].message, 1, true)
    local log = s:requests{ path = "/v1/journal-runs/*" }
    local extra = log[#log].extra
    assert.equals("JR/1", extra.path_params["jr-number"])
    assert.equals("journal_runs.retrieve", extra.operation)
    assert.equals("stateful-generic", extra.served)
    local created = s:post("/v1/journal-runs", { journalEntryDate = "2024-01-31" })
    assert.matches("^%x+$", created.json.id)
    assert.is_nil(created.json.echo)
    local got = s:get("/v1/journal-runs/" .. created.json.id)
    assert.equals(200, got.status)
    assert.equals("2024-01-31", got.json.journalEntryDate)
  end)

  it("keeps the stateful handlers for operations that have one", function()
    local res = s:post("/v1/accounts", { name = "Real", currency = "USD" })
    assert.matches("^A%d+$", res.json.accountNumber)
    assert.is_nil(res.json.echo)
  end)

  it("answers unknown paths with 404 and unknown methods with 405, both Zuora-shaped", function()
    local nf = s:get("/v1/no-such-thing")
    assert.equals(404, nf.status)
    assert.matches("40$", json.number_text(nf.json.reasons[1].code))
    local na = s:delete("/v1/journal-runs")
    assert.equals(405, na.status)
    assert.matches("45$", json.number_text(na.json.reasons[1].code))
    local crud = s:get("/v1/object/nothing/123")
    assert.is_false(crud.json.Success)
  end)
end)
