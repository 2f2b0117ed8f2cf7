--- Generic answers for every catalogue operation the simulator has no hand-written handler for.
--
-- At start-up the operation catalogue (lua/zuora/catalog/, generated from the reference index) is
-- loaded when present, and each operation gets a route that answers with a Zuora-shaped success
-- echoing what it received. Unknown paths then get a Zuora-shaped 404 (or 405 for a known path
-- with another method). Without a catalogue, every request that no handler takes is echoed.
local json = require "zuora_sim.json"

local M = {}

local function echo(req)
  local body = req.body
  local decoded
  if body and body ~= "" then
    decoded = json.decode(body)
    if decoded == nil then decoded = body end
  end
  local query = json.object()
  for k, v in pairs(req.query) do query[k] = type(v) == "table" and json.array(v) or v end
  local params = json.object()
  for k, v in pairs(req.params or {}) do params[k] = v end
  local op = req.route and req.route.opts.operation
  local result = json.object(
    "success", true,
    "processId", require("zuora_sim.errors").process_id(),
    "echo", json.object(
      "generic", true,
      "operation", op and json.object("group", op.group, "name", op.name, "method", op.method,
        "path", op.path, "title", op.title) or nil,
      "method", req.method, "path", req.path, "pathParams", params, "query", query, "body", decoded))
  -- Creating operations answer with an id, as most of Zuora's do.
  if req.method == "POST" then result.id = require("zuora_sim.state").new_id("generic") end
  return 200, result
end
M.echo = echo

--- Registers one generic route per catalogue operation, or a catch-all when there is none.
function M.register(router, settings)
  local count = 0
  if settings.catalog ~= "none" then
    local ok, catalog = pcall(require, "zuora.catalog")
    if ok and type(catalog) == "table" and type(catalog.groups) == "table" then
      for _, g in ipairs(catalog.groups) do
        local okg, ops = pcall(require, g.module)
        if okg and type(ops) == "table" then
          for _, op in ipairs(ops) do
            if type(op.method) == "string" and type(op.path) == "string" then
              router.add(op.method:upper(), op.path, echo, { generic = true,
                operation = { group = g.name, name = op.name, method = op.method, path = op.path, title = op.title } })
              count = count + 1
            end
          end
        end
      end
    end
  end
  settings.catalog_operations = count
  if count == 0 then
    -- No catalogue: answer anything (up to 12 segments deep) generically.
    for depth = 1, 12 do
      local segs = {}
      for i = 1, depth do segs[i] = "{p" .. i .. "}" end
      local template = "/" .. table.concat(segs, "/")
      for _, method in ipairs({ "GET", "POST", "PUT", "PATCH", "DELETE" }) do
        router.add(method, template, echo, { generic = true })
      end
    end
  end
  return count
end

return M
