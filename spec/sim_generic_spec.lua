-- zuora-sim's generic resources (sim/zuora_sim/generic.lua, families.lua, shapes.lua): every resource
-- family of the catalogue that no hand-written handler serves is stateful. Families are found here from
-- the catalogue's paths on their own (a POST on a collection path with a GET on the item path below
-- it, both served generically per /__sim/served); through each one a record is created, read back,
-- updated, found in the list, deleted, and then gone; a second record made first survives all of it.
local simh = require "spec.support.sim"
local catalog = require "zuora.catalog"
local json = simh.json

local function norm(path) return (path:gsub("{[^}]+}", "{}")) end

--- The path with every parameter filled with a fixed value (so nested collections line up).
local function fill(path)
  local i = 0
  return (path:gsub("{[^}]+}", function() i = i + 1; return "p" .. i end))
end

--- Whether some array in the answer (top level or one level down) holds an object with this id.
local function lists_id(doc, id)
  if type(doc) ~= "table" then return false end
  for _, v in pairs(doc) do
    if type(v) == "table" and getmetatable(v) == json.array_mt then
      for _, x in ipairs(v) do
        if type(x) == "table" and x.id == id then return true end
      end
    end
  end
  return false
end

describe("zuora-sim generic resource families", function()
  local s
  local served = {}
  local families = {}

  lazy_setup(function()
    s = simh.start()
    for _, o in ipairs(s:control("GET", "served").operations) do served[o.method .. " " .. o.path] = o.served end
    local by_path = {}
    for _, g in ipairs(catalog.groups) do
      for _, op in ipairs(require(g.module)) do
        local how = served[op.method .. " " .. op.path]
        if how ~= "hand-written" then
          by_path[op.method .. " " .. norm(op.path)] = { op = op, served = how }
        end
      end
    end
    for key, v in pairs(by_path) do
      local path = key:match("^POST (.*)$")
      if path and not path:find("{}$") and by_path["GET " .. path .. "/{}"] then
        families[#families + 1] = {
          path = path, create = v, retrieve = by_path["GET " .. path .. "/{}"],
          update = by_path["PUT " .. path .. "/{}"] or by_path["PATCH " .. path .. "/{}"],
          list = by_path["GET " .. path], delete = by_path["DELETE " .. path .. "/{}"],
        }
      end
    end
    table.sort(families, function(a, b) return a.path < b.path end)
  end)
  lazy_teardown(function() if s then s:stop() end end)

  it("serves every catalogue operation: hand-written, spec-shaped or stateful-generic", function()
    local view = s:control("GET", "served")
    assert.equals(catalog.count, json.tonumber(view.total))
    local sum = 0
    for how, n in pairs(view.counts) do
      assert.is_true(how == "hand-written" or how == "spec-shaped" or how == "stateful-generic")
      sum = sum + json.tonumber(n)
    end
    assert.equals(catalog.count, sum)
    assert.equals("hand-written", served["POST /v1/accounts"])
    assert.equals("spec-shaped", served["POST /v1/journal-runs"])
  end)

  it("finds generic families in the catalogue", function()
    assert.is_true(#families >= 35, "only " .. #families .. " families")
  end)

  it("creates, reads, updates, lists and deletes through each generic family", function()
    local problems = {}
    for n, f in ipairs(families) do
      local function bad(msg) problems[#problems + 1] = f.path .. ": " .. msg end
      local base = fill(f.path)
      local body = { name = "Generic " .. n, description = "made by sim_generic_spec" }
      for _, r in ipairs(f.create.op.required or {}) do if body[r] == nil then body[r] = "value of " .. r end end
      local keep = s:post(base, body)
      local made = s:post(base, body)
      local id = made.json and made.json.id
      if made.status >= 300 or type(id) ~= "string" or not id:match("^%x+$") or #id ~= 32 then
        bad("create answered " .. made.status .. " " .. tostring(made.body))
      else
        local got = s:get(base .. "/" .. id)
        if got.status ~= 200 or got.json.id ~= id then bad("retrieve answered " .. got.status .. " " .. got.body) end
        if f.retrieve.served == "stateful-generic" and got.json.name ~= body.name then
          bad("retrieve lost the name: " .. got.body)
        end
        if f.update then
          local upd = s:request{ method = f.update.op.method, path = base .. "/" .. id,
            json = { description = "updated" } }
          if upd.status >= 300 then bad("update answered " .. upd.status .. " " .. upd.body) end
          local again = s:get(base .. "/" .. id)
          if again.status ~= 200 then bad("retrieve after update answered " .. again.status) end
          if f.retrieve.served == "stateful-generic" and (again.json.description ~= "updated"
            or again.json.name ~= body.name) then
            bad("update not kept: " .. again.body)
          end
        end
        if f.list then
          local list = s:get(base .. "?pageSize=40")
          if list.status ~= 200 then bad("list answered " .. list.status .. " " .. list.body)
          elseif (f.list.served == "stateful-generic" or lists_id(list.json, keep.json.id))
            and not lists_id(list.json, id) then
            bad("list does not hold the record: " .. list.body)
          end
        end
        if f.delete then
          local del = s:delete(base .. "/" .. id)
          if del.status >= 300 then bad("delete answered " .. del.status .. " " .. del.body) end
          local gone = s:get(base .. "/" .. id)
          local code = gone.json and gone.json.reasons and gone.json.reasons[1].code
          -- v1 codes end in the category (40); the notifications and events APIs name it.
          local not_found = code == "ObjectNotFound"
            or (json.is_number(code) and json.number_text(code):sub(-2) == "40")
          if gone.status ~= 404 or not not_found then
            bad("deleted record still answers " .. gone.status)
          end
        end
        -- The first record lived through all of it.
        local kept = s:get(base .. "/" .. tostring(keep.json.id))
        if kept.status ~= 200 or kept.json.id ~= keep.json.id then bad("the other record is gone: " .. kept.status) end
      end
    end
    assert(#problems == 0, #problems .. " problem(s):\n" .. table.concat(problems, "\n"))
  end)

  it("shapes answers by the older spec: its success status, required fields with their types and enums", function()
    -- The facts derived from the spec (tools/gen-sim-shapes.lua) are the reference here: every
    -- spec-shaped POST on a path without parameters, sent an empty object, must answer with the spec's status
    -- and each required top-level field of the schema present, typed as the schema says.
    local shapes = dofile("sim/zuora_sim/shapes_gen.lua")
    local TYPE = {
      s = function(v) return type(v) == "string" end, b = function(v) return type(v) == "boolean" end,
      n = function(v) return json.is_number(v) end, i = function(v) return json.is_number(v) end,
      a = function(v) return getmetatable(v) == json.array_mt end,
      o = function(v) return type(v) == "table" and getmetatable(v) ~= json.array_mt and not json.is_number(v) end,
    }
    local problems, checked = {}, 0
    for _, g in ipairs(catalog.groups) do
      for _, op in ipairs(require(g.module)) do
        local shape = op.spec_id and shapes[op.spec_id]
        if op.method == "POST" and not op.path:find("{", 1, true) and not op.content and shape and shape.b
          and shape.b.t == "o" and served["POST " .. op.path] == "spec-shaped" then
          checked = checked + 1
          local res = s:post(fill(op.path), {})
          local name = g.name .. "." .. op.name
          if res.status ~= shape.s then
            problems[#problems + 1] = name .. ": status " .. res.status .. ", the spec says " .. shape.s
          else
            for _, field in ipairs(shape.b.r or {}) do
              local node, v = shape.b.p and shape.b.p[field], res.json[field]
              if v == nil then
                problems[#problems + 1] = name .. ": required " .. field .. " missing"
              elseif node and node.t and v ~= json.null and not TYPE[node.t](v) then
                problems[#problems + 1] = name .. ": " .. field .. " is not of type " .. node.t
              elseif node and node.e and type(v) == "string" then
                local ok = false
                for _, e in ipairs(node.e) do ok = ok or e == v end
                if not ok then problems[#problems + 1] = name .. ": " .. field .. " = " .. v .. " is no enum value" end
              end
            end
          end
        end
      end
    end
    assert.is_true(checked >= 20, "only " .. checked .. " operations checked")
    assert(#problems == 0, #problems .. " problem(s):\n" .. table.concat(problems, "\n"))
  end)

  it("actions change a status where the title says so, and refuse a repeat", function()
    local made = s:post("/v1/journal-runs", { journalEntryDate = "2024-01-31",
      transactionTypes = { { type = "Invoice Item" } } })
    assert.equals(200, made.status)
    local number = made.json.journalRunNumber
    assert.matches("^JR%-%d%d%d%d%d%d%d%d$", number)
    assert.equals(made.json.id, s:get("/v1/journal-runs/" .. number).json.id)
    assert.equals(200, s:put("/v1/journal-runs/" .. number .. "/cancel").status)
    assert.equals("Cancelled", s:get("/v1/journal-runs/" .. number).json.status)
    local again = s:put("/v1/journal-runs/" .. number .. "/cancel")
    assert.equals(400, again.status)
    assert.is_false(again.json.success)
    assert.equals("30", json.number_text(again.json.reasons[1].code):sub(-2))
    local missing = s:put("/v1/journal-runs/JR-99999999/cancel")
    assert.equals(404, missing.status)
  end)

  it("pages generic lists with nextPage URLs", function()
    local base = "/v1/sequence-sets"
    for i = 1, 3 do assert.equals(200, s:post(base, { name = "page " .. i }).status) end
    local first = s:get(base .. "?pageSize=2")
    assert.equals(200, first.status)
    assert.is_string(first.json.nextPage)
    assert.matches("page=2", first.json.nextPage)
  end)
end)
