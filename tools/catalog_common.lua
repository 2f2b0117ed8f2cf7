--- What the catalogue generators share (tools/gen-catalog.lua for Billing, tools/gen-revenue-catalog.lua
-- for Revenue, and the literals of tools/gen-openapi-facts.lua): Lua literals, names, the module
-- files they write, and writing or --check'ing those files.
local files = require "files"

local M = {}

--- Lua's reserved words (a group or operation name may not be one).
M.KEYWORDS = {}
for kw in ([[and break do else elseif end false for function goto if in local nil not or repeat
  return then true until while]]):gmatch("%a+") do M.KEYWORDS[kw] = true end

--- `s` as a Lua string literal.
function M.q(s) return string.format("%q", s) end

--- An array of strings as a Lua table literal ("{}" when empty).
function M.qlist(t)
  local out = {}
  for i, v in ipairs(t) do out[i] = M.q(v) end
  if #out == 0 then return "{}" end
  return "{ " .. table.concat(out, ", ") .. " }"
end

--- A string-to-string map as a Lua table literal, keys sorted (stable output).
function M.qmap(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  local out = {}
  for i, k in ipairs(keys) do out[i] = "[" .. M.q(k) .. "] = " .. M.q(t[k]) end
  return "{ " .. table.concat(out, ", ") .. " }"
end

--- The names of a path template's parameters, in order: "/v1/a/{id}/b/{n}" -> {"id", "n"}.
function M.path_params(path)
  local out = {}
  for p in path:gmatch("{([^}]+)}") do out[#out + 1] = p end
  return out
end

--- Lua-friendly argument names for the documented call shape: account-key -> account_key.
function M.arg_name(p)
  return (p:gsub("(%l)(%u)", "%1_%2"):lower():gsub("[^%w]+", "_"))
end

--- The documented arguments of a call: path parameters, then body (POST/PUT/PATCH) or query, then options.
function M.call_args(params, method)
  local args = {}
  for _, p in ipairs(params) do args[#args + 1] = M.arg_name(p) end
  local body = method == "POST" or method == "PUT" or method == "PATCH"
  args[#args + 1] = body and "body" or "query"
  args[#args + 1] = "options"
  return table.concat(args, ", ")
end

--- A generated group module: `header` (its first line), then `return {` with one line an operation.
function M.render_group(header, op_lines)
  local lines = { header, "return {" }
  for _, l in ipairs(op_lines) do lines[#lines + 1] = l end
  lines[#lines + 1] = "}"
  lines[#lines + 1] = ""
  return table.concat(lines, "\n")
end

--- A generated catalogue's init.lua: `header` and `comments` (lines), then version, count and the
-- groups, each with its module `prefix .. name`.
function M.render_init(header, comments, version, total, groups, prefix)
  local lines = { header }
  for _, c in ipairs(comments) do lines[#lines + 1] = c end
  lines[#lines + 1] = "return {"
  lines[#lines + 1] = "  version = " .. M.q(version) .. ","
  lines[#lines + 1] = "  count = " .. total .. ","
  lines[#lines + 1] = "  groups = {"
  for _, g in ipairs(groups) do
    lines[#lines + 1] = ("    { name = %s, title = %s, module = %s, count = %d },"):format(
      M.q(g.name), M.q(g.title), M.q(prefix .. g.name), #g.ops)
  end
  lines[#lines + 1] = "  },"
  lines[#lines + 1] = "}"
  lines[#lines + 1] = ""
  return table.concat(lines, "\n")
end

--- Writes `outputs` ({path, text} pairs) and removes the .lua files directly in `dir` that are no
-- longer generated (subdirectories hold other catalogues). Returns how many files changed. With
-- `check`, writes nothing and exits: 1 naming the stale files (rerun with `regen`), else 0.
function M.emit(outputs, dir, check, regen)
  local wanted = {}
  for _, o in ipairs(outputs) do wanted[o[1]] = true end
  local strays = {}
  for _, path in ipairs(files.list(dir, "%.lua$")) do
    if not wanted[path] and not path:find("/", #dir + 2, true) then strays[#strays + 1] = path end
  end

  if check then
    local stale = {}
    for _, o in ipairs(outputs) do
      if files.read(o[1]) ~= o[2] then stale[#stale + 1] = o[1] end
    end
    for _, path in ipairs(strays) do stale[#stale + 1] = path .. " (no longer generated)" end
    if #stale > 0 then
      io.stderr:write("stale generated files (run ", regen, "):\n  ", table.concat(stale, "\n  "), "\n")
      os.exit(1)
    end
    os.exit(0)
  end

  os.execute("mkdir -p " .. dir)
  local written = 0
  for _, o in ipairs(outputs) do
    if files.write_if_changed(o[1], o[2]) then written = written + 1 end
  end
  for _, path in ipairs(strays) do os.remove(path); written = written + 1 end
  return written
end

---------------------------------------------------------------------------------------------------
-- Write safety: `idempotent` and `reads` of every entry (DESIGN.md, "Additions of the second round").
---------------------------------------------------------------------------------------------------

--- The last literal segment of a path template, and whether it ends the path:
-- "/v1/x/{id}/renew" -> "renew", true; "/v1/x/{id}" -> "x", false.
function M.last_literal(path)
  local last, at_end = nil, false
  for seg in path:gmatch("[^/]+") do
    if seg:find("^{") then at_end = false else last, at_end = seg, true end
  end
  return last, at_end
end

--- `idempotent, reads` of an operation, by the rule over the path's last segment and the
-- overrides `ov` (tools/catalog-overrides.lua: ov.idempotent, ov.reads, ov.action_segments,
-- ov.state_segments, ov.read_segments). Returns nil, message for a PUT or DELETE ending in a
-- segment the rule does not know: a new reference version then stops the generator until
-- someone decides.
--   idempotent: every GET (and HEAD); a PUT or DELETE on a resource (`.../{id}`) or on a segment
--     that names state (`.../customFields`); false for POST, PATCH and every action, whatever its
--     method: a last segment in action_segments (`.../renew`, `.../write-off`), or one whose first
--     word is (`.../execute_invoice_payment/{id}`).
--   reads: every GET; a POST or PUT ending in a query or preview segment (`.../query`,
--     `.../queryMore`, `.../preview`, `.../list`), plus the overrides.
function M.write_safety(method, path, ov)
  local key = method .. " " .. path
  local last, at_end = M.last_literal(path)
  local word = last and last:match("^[^-_]+")
  local action = last ~= nil and (ov.action_segments[last] or ov.action_segments[word]) == true
  local idempotent, reads
  if method == "GET" or method == "HEAD" then
    idempotent, reads = true, true
  elseif method == "PUT" or method == "DELETE" then
    if action then
      idempotent = false
    elseif not at_end or ov.state_segments[last] or ov.read_segments[last] then
      idempotent = true
    elseif ov.idempotent[key] == nil then
      return nil, ("%s: is its last segment '%s' an action or state? Add it to action_segments or "
        .. "state_segments (or the operation to idempotent) in tools/catalog-overrides.lua"):format(key, last)
    end
  else
    idempotent = false
  end
  if reads == nil then reads = at_end and ov.read_segments[last] == true and method ~= "DELETE" end
  if ov.idempotent[key] ~= nil then idempotent = ov.idempotent[key] end
  if ov.reads[key] ~= nil then reads = ov.reads[key] end
  return idempotent, reads
end

return M
