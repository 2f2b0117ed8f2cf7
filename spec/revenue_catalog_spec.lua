-- The Revenue catalogue (lua/zuora/catalog/revenue/, generated from tools/revenue-operations.lua):
-- up to date, well-formed names and paths, no group that would hide a client method.
local operations = require "zuora.operations"
local catalog = require "zuora.catalog.revenue"

describe("revenue catalogue #luajit", function()
  it("is what tools/gen-revenue-catalog.lua generates", function()
    local ok = os.execute("lua5.4 tools/gen-revenue-catalog.lua --check")
    assert.truthy(ok == true or ok == 0, "generated files are stale: run make catalog")
  end)

  it("has well-formed entries whose path parameters follow the path", function()
    local seen, total = {}, 0
    for _, g in ipairs(catalog.groups) do
      assert.equals("zuora.catalog.revenue." .. g.name, g.module)
      local entries = require(g.module)
      assert.equals(g.count, #entries)
      for _, e in ipairs(entries) do
        total = total + 1
        assert.equals(g.name, e.group)
        assert.equals("revenue", e.family)
        assert.matches("^[a-z][a-z0-9_]*$", e.name)
        assert.matches("^/api/integration/v%d/", e.path)
        local params = {}
        for p in e.path:gmatch("{([^}]+)}") do params[#params + 1] = p end
        assert.same(params, e.params)
        assert.matches("^https://developer%.zuora%.com/other%-api/revenue/[a-z0-9%-]+/[a-z_]+%.md$", e.doc)
        local key = e.method .. " " .. e.path
        assert.is_nil(seen[key], key)
        seen[key] = true
        assert.equals(e, operations.entry(g.name, e.name, "zuora.catalog.revenue"))
      end
    end
    assert.equals(catalog.count, total)
    assert.equals(28, total)
  end)

  it("has no group named like a revenue client method or a Billing group", function()
    local RevenueClient = require("zuora.revenue.client").RevenueClient
    local billing = {}
    for _, name in ipairs(operations.groups()) do billing[name] = true end
    for _, g in ipairs(catalog.groups) do
      assert.is_nil(rawget(RevenueClient, g.name), g.name)
      assert.is_nil(require("zuora.revenue.client").HELPERS[g.name], g.name)
      assert.is_nil(require("zuora.client").Client[g.name], g.name)
      assert.is_nil(billing[g.name], g.name)
    end
  end)
end)
