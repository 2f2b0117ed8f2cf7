-- Write safety in the catalogue: every entry says whether it is `idempotent` and whether it only
-- `reads`; every PUT and DELETE (and every read that travels as another method) is listed with its
-- verdict against spec/data/write-safety.txt, so a new reference version shows each new one for
-- review. Also: one reserved list of client names, so no group can hide a method, and a typo of a
-- group name raises with a suggestion.
package.path = "tools/?.lua;" .. package.path
local zuora = require "zuora"
local operations = require "zuora.operations"
local reserved = require "zuora.reserved"
local safety = require "write-safety"
local overrides = require "catalog-overrides"

local CATALOGS = { "zuora.catalog", "zuora.catalog.revenue" }

local function read_lines(path)
  local out = {}
  for line in assert(io.open(path)):lines() do
    if line ~= "" then out[#out + 1] = line end
  end
  return out
end

local function find(catalog, group, name)
  for _, e in ipairs(operations.list(catalog)) do
    if e.group == group and e.name == name then return e end
  end
end

describe("catalogue write safety", function()
  it("gives every entry of both catalogues a boolean idempotent and reads, and zuora.operations() carries them",
    function()
      local n = 0
      for _, catalog in ipairs(CATALOGS) do
        local idx = require(catalog)
        for _, g in ipairs(idx.groups) do
          for _, e in ipairs(require(g.module)) do
            n = n + 1
            assert.is_boolean(e.idempotent, e.group .. "." .. e.name)
            assert.is_boolean(e.reads, e.group .. "." .. e.name)
          end
        end
      end
      assert.is_true(n > 700)
      for _, op in ipairs(zuora.operations()) do
        assert.is_boolean(op.idempotent)
        assert.is_boolean(op.reads)
      end
    end)

  it("makes every GET an idempotent read and no POST or PATCH idempotent", function()
    for _, catalog in ipairs(CATALOGS) do
      for _, e in ipairs(operations.list(catalog)) do
        local where = e.method .. " " .. e.path
        if e.method == "GET" then
          assert.is_true(e.idempotent and e.reads, where)
        elseif e.method == "POST" or e.method == "PATCH" then
          assert.is_false(e.idempotent, where)
        end
        if e.method == "DELETE" then assert.is_false(e.reads, where) end
      end
    end
  end)

  it("lists every PUT and DELETE and every non-GET read with the verdict spec/data/write-safety.txt expects",
    function()
      local want, got = read_lines("spec/data/write-safety.txt"), safety.lines()
      local in_want, in_got = {}, {}
      for _, l in ipairs(want) do in_want[l] = true end
      for _, l in ipairs(got) do in_got[l] = true end
      local diff = {}
      for _, l in ipairs(got) do
        if not in_want[l] then diff[#diff + 1] = "+ " .. l end
      end
      for _, l in ipairs(want) do
        if not in_got[l] then diff[#diff + 1] = "- " .. l end
      end
      assert(#diff == 0, "write-safety verdicts differ from spec/data/write-safety.txt (review each, then "
        .. "regenerate it, see tools/write-safety.lua):\n" .. table.concat(diff, "\n"))
      assert.is_true(#got > 180)
    end)

  it("treats Zuora's actions as not idempotent, whatever their method", function()
    for _, name in ipairs { "subscriptions.renew", "subscriptions.cancel", "subscriptions.suspend",
      "subscriptions.resume", "payments.apply", "payments.unapply", "invoices.write_off", "invoices.reverse",
      "credit_memos.apply", "credit_memos.post", "debit_memos.unpost", "payments.transfer",
      "configurable_payment_retry.execute_invoice_payment", "subscriptions.update", "orders.create" } do
      local g, n = name:match("^(.-)%.(.*)$")
      local e = assert(find("zuora.catalog", g, n), name)
      assert.is_false(e.idempotent, name)
      assert.is_false(e.reads, name)
    end
    for _, name in ipairs { "accounts.update", "accounts.delete", "contacts.update", "invoices.update",
      "orders.update_custom_fields" } do
      local g, n = name:match("^(.-)%.(.*)$")
      assert.is_true(assert(find("zuora.catalog", g, n), name).idempotent, name)
    end
  end)

  it("marks the reads that travel as POST", function()
    for _, name in ipairs { "actions.query", "actions.query_more", "data_queries.submit", "orders.preview",
      "subscriptions.preview", "operations.generate_billing_preview", "billing_preview_run.create",
      "commerce.query_plans" } do
      local g, n = name:match("^(.-)%.(.*)$")
      local e = assert(find("zuora.catalog", g, n), name)
      assert.is_true(e.reads, name)
      assert.is_false(e.idempotent, name) -- a POST still: its Idempotency-Key protects it
    end
    assert.is_true(find("zuora.catalog.revenue", "bi_views_v1", "retrieve_fields").reads)
    assert.is_false(find("zuora.catalog.revenue", "inbound", "create_upload").reads)
  end)

  it("has no override that names no operation (it would rot silently)", function()
    local known = {}
    for _, catalog in ipairs(CATALOGS) do
      for _, e in ipairs(operations.list(catalog)) do known[e.method .. " " .. e.path] = true end
    end
    for _, t in ipairs { overrides.idempotent, overrides.reads } do
      for key in pairs(t) do assert.is_true(known[key] == true, key) end
    end
  end)
end)

describe("client names", function()
  it("keeps every group name off the one reserved list", function()
    for _, g in ipairs(operations.groups()) do assert.is_nil(reserved.client[g], g) end
    for _, g in ipairs(operations.groups("zuora.catalog.revenue")) do assert.is_nil(reserved.revenue[g], g) end
  end)

  it("lists every method of both client types", function()
    local Client = require("zuora.client").Client
    for k, v in pairs(Client) do
      if type(v) == "function" and not k:find("^__") then assert.is_true(reserved.client[k], k) end
    end
    local RevenueClient = require("zuora.revenue.client").RevenueClient
    for k, v in pairs(RevenueClient) do
      if type(v) == "function" and not k:find("^__") then assert.is_true(reserved.revenue[k], k) end
    end
    for k in pairs(require("zuora.revenue.client").HELPERS) do assert.is_true(reserved.revenue[k], k) end
  end)

  it("raises on a misspelt group with a suggestion, like a misspelt operation", function()
    local c = zuora.new { base_url = "http://127.0.0.1:9", token = "t" }
    local ok, err = pcall(function() return c.acounts end)
    assert.is_false(ok)
    assert.matches("acounts", err)
    assert.matches("did you mean 'accounts'", err, 1, true)
    assert.matches("catalog_safety_spec", err) -- raised at the caller's line
    ok, err = pcall(function() return c.accounts.retrive end)
    assert.is_false(ok)
    assert.matches("retrive", err)
    -- groups and methods still work, and a field the client may lack is plain nil
    assert.is_table(c.accounts)
    assert.is_function(c.request)
    assert.is_nil(c.product)
    assert.is_nil(c[1])
    c:close()
  end)

  it("raises on a misspelt group of a revenue client", function()
    local rev = zuora.revenue.new { base_url = "http://127.0.0.1:9", token = "t" }
    local ok, err = pcall(function() return rev.inbond end)
    assert.is_false(ok)
    assert.matches("did you mean 'inbound'", err, 1, true)
    assert.is_table(rev.inbound)
    assert.is_function(rev.upload_csv)
    rev:close()
  end)
end)
