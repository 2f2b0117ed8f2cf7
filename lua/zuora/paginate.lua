--- Pagination: `op:each(...)`, `op:pages(...)`, `op:all(...)` for every list operation, and the
-- same loops over any request (`paginate.each_request(client, method, path, opts)`).
--
-- Zuora pages in three ways, told apart by the page itself (no per-operation code):
--   * v1 lists answer `nextPage` as a URL (absolute, or a path): it is followed as given, on the
--     client's own origin only (credentials never go to another host);
--   * object queries (`/object-query/...`) answer `nextPage` as a token, passed back as `cursor`;
--   * Actions queries answer `done` and a `queryLocator`, continued with `/v1/action/queryMore`.
-- A page's items are its `data` array, or else its one array-valued field (`options.items` names
-- the field when a page has several). Every page goes through `client:request`, so retries,
-- credentials and hooks apply per page; a page that fails ends the loop with that error (`each`
-- and `pages` raise it, `all` returns nil, err). Memory holds one page at a time (except `all`).
--
-- Paging options ride in the call's `options` table next to the operation's own and are removed
-- before the call: `limit` (all: most items to collect, default 10000), `items` (the array field),
-- `on_progress` (a "pages" event after each page; docs/bulk.md), `max_empty_pages` (below).
--
-- Paging that makes no progress ends with an error of kind "loop" (docs/reliability.md): a page
-- asks for a request already made (compared normalised: without fragment, empty `&` pieces,
-- parameters in any order, an absolute same-origin URL the same as its path), a queryLocator
-- comes back with the same batch it came with before, or `max_empty_pages` pages in a row
-- (default M.MAX_EMPTY_PAGES, 10) have no items, or the items of the page before, yet still name
-- a next page.
local core = require "zuora.core"
local errors = require "zuora.errors"
local progress = require "zuora.progress"

local json, url = core.json, core.url
local array_mt = json.array_mt
local unpack = table.unpack or unpack -- luacheck: ignore 143

local M = {}

M.DEFAULT_LIMIT = 10000
--- Pages in a row without items that still name a next page before paging ends with kind "loop".
M.MAX_EMPTY_PAGES = 10

local PAGING_OPTIONS = { limit = "number", items = "string", on_progress = "function", max_empty_pages = "number" }
-- Options that carry over from the first request to the ones that fetch further pages.
local CARRIED = { "headers", "zuora_version", "track_id", "timeout", "op" }

local BRACES = { ["{"] = "%7B", ["}"] = "%7D" }

local QUERY_MORE = { group = "actions", name = "query_more", method = "POST", path = "/v1/action/queryMore" }

local function is_array(v)
  return type(v) == "table" and (getmetatable(v) == array_mt or (v[1] ~= nil and next(v, #v) == nil))
end

local function page_error(msg)
  return errors.new{ kind = "decode", message = msg, retryable = false }
end

local function loop_error(msg)
  return errors.new{ kind = "loop", message = "pagination loop: " .. msg, retryable = false }
end

local function hexbyte(h) return string.char(tonumber(h, 16)) end
local function unreserved(c)
  if c:find("^[%w%-%._~]$") then return c end
  return nil
end

--- The request a paging step makes, as one string that is the same for requests a server cannot
-- tell apart: `path` (a path or an absolute URL on `origin`) without its fragment, the origin
-- dropped, parameters sorted and empty `&` pieces removed, percent-encoded unreserved characters
-- decoded and hex digits upper-cased; `extra` (a cursor, a body) appended.
function M.normalise(method, path, origin, extra)
  path = path:gsub("#.*$", "")
  if path:find("^%a[%w+.-]*://") then
    local parsed = url.parse(path)
    if parsed and origin and url.origin(path) == origin then
      path = (parsed.path or "/") .. (parsed.query and ("?" .. parsed.query) or "")
    end
  end
  local p, q = path:match("^([^?]*)%??(.*)$")
  local function canon(s)
    return (s:gsub("%%(%x%x)", function(h)
      return unreserved(hexbyte(h)) or ("%" .. h:upper())
    end))
  end
  local params = {}
  for piece in q:gmatch("[^&]+") do params[#params + 1] = canon(piece) end
  table.sort(params)
  return method .. " " .. canon(p) .. "?" .. table.concat(params, "&") .. (extra and ("\0" .. extra) or "")
end

--- The items of a decoded page, or nil, err. `name` is the array field to use, when given.
function M.items_of(page, name)
  if name then
    if type(page) ~= "table" then return nil, page_error("the response is not a page of items") end
    local v = page[name]
    if v == nil or v == json.null then return setmetatable({}, array_mt) end
    if not is_array(v) then return nil, page_error("the page's field '" .. name .. "' is not an array") end
    return v
  end
  if is_array(page) then return page end
  if type(page) ~= "table" then return nil, page_error("the response is not a page of items") end
  if is_array(page.data) then return page.data end
  local found, names = nil, {}
  for k, v in pairs(page) do
    if type(k) == "string" and is_array(v) then
      found = v
      names[#names + 1] = k
    end
  end
  if #names > 1 then
    table.sort(names)
    return nil, page_error("the page has several arrays (" .. table.concat(names, ", ")
      .. "): name the one to iterate with options.items")
  end
  return found or setmetatable({}, array_mt)
end

local function carry(opts)
  local o = {}
  for _, k in ipairs(CARRIED) do o[k] = opts[k] end
  return o
end

local function copy(t)
  local o = {}
  for k, v in pairs(t or {}) do o[k] = v end
  return o
end

---------------------------------------------------------------------------------------------------
-- The pager: fetches one page after another; nil, err style.

local Pager = {}
Pager.__index = Pager

--- A pager over `method path` with client:request options `opts` (not modified). popts: items,
-- on_progress, kind ("pages" or "query" for the progress events), name (for messages).
function M.request_pages(client, method, path, opts, popts)
  popts = popts or {}
  progress.check(popts.on_progress, 2)
  return setmetatable({
    client = client, method = method, path = path, opts = opts or {}, popts = popts,
    pages = 0, count = 0, seen = {}, finished = false, t0 = progress.now(), empty = 0,
    max_empty = popts.max_empty_pages or M.MAX_EMPTY_PAGES,
  }, Pager)
end

-- Records request `key`; nil, a loop error when it was made before.
function Pager:remember(key, what)
  if self.seen[key] then
    return nil, loop_error("the server asked for the same " .. what .. " again")
  end
  self.seen[key] = true
  return true
end

-- A short summary of a batch of items: their count and first and last item, as JSON.
local function fingerprint(items)
  local n = #items
  if n == 0 then return "0" end
  local a = json.encode(items[1], { sort_keys = true }) or "?"
  local b = json.encode(items[n], { sort_keys = true }) or "?"
  return n .. "\0" .. a .. "\0" .. b
end

-- The request that fetches the page after `page` (whose items are `items`), or nil when `page`
-- was the last; nil, err when the page asks for something the client will not do.
function Pager:next_request(page, items)
  if type(page) ~= "table" or is_array(page) then return nil end
  local np = page.nextPage
  if type(np) == "string" and np ~= "" then
    local cursor_style = self.path:find("^/object%-query/") or not (np:find("^https?://") or np:find("^/"))
    local ok, lerr = self:remember(cursor_style and ("cursor " .. np)
      or M.normalise(self.method, np, self.client.origin), "nextPage")
    if not ok then return nil, lerr end
    if cursor_style then
      local o = copy(self.opts)
      o.query = copy(self.opts.query)
      o.query.cursor = np
      o.idempotency_key = nil
      return { method = self.method, path = self.path, opts = o }
    end
    -- A URL no request can carry (a space, a control character) is the server's mistake: an error
    -- here, not a raise from the transport; braces are sent encoded (not read as a path template).
    if np:find("[%c ]") then
      return nil, errors.new{ kind = "api", retryable = false,
        message = "refusing to follow a nextPage with a space or control character" }
    end
    np = np:gsub("[{}]", BRACES)
    if np:find("^https?://") and url.origin(np) ~= self.client.origin then
      return nil, errors.new{ kind = "api", retryable = false,
        message = "refusing to follow nextPage to another origin (" .. tostring(url.origin(np))
          .. "; the client's is " .. self.client.origin .. ")" }
    end
    local o = carry(self.opts)
    if self.method ~= "GET" and self.method ~= "DELETE" then o.body = self.opts.body end
    return { method = self.method, path = np, opts = o }
  end
  local loc = page.queryLocator
  if page.done == false or (page.done == nil and type(loc) == "string" and loc ~= "") then
    if type(loc) ~= "string" or loc == "" then
      return nil, page_error("the query is not done but the reply has no queryLocator")
    end
    -- A server may keep one locator for a whole query (zuora-sim does) and move it along; the
    -- same locator with the same batch again is a query going nowhere.
    local mark = fingerprint(items)
    if self.seen["locator " .. loc] == mark then
      return nil, loop_error("the server sent the same queryLocator with the same batch again")
    end
    self.seen["locator " .. loc] = mark
    local o = carry(self.opts)
    o.body = { queryLocator = loc }
    o.op = QUERY_MORE
    return { method = "POST", path = "/v1/action/queryMore", opts = o }
  end
  return nil
end

--- The next page and its items, or nil when there are no more pages, or nil, err.
function Pager:fetch()
  if self.pending_err then
    local err = self.pending_err
    self.pending_err = nil
    return nil, err
  end
  if self.finished then return nil end
  local req = self.nxt
  if not req then
    req = { method = self.method, path = self.path, opts = self.opts }
    -- the first request counts too: a nextPage naming it is a loop
    local ok, u = pcall(self.client.url_for, self.client, self.path, self.opts.path, self.opts.query)
    if ok and type(u) == "string" then self.seen[M.normalise(self.method, u, self.client.origin)] = true end
  end
  local page, err = self.client:request(req.method, req.path, req.opts)
  if page == nil then
    self.finished = true
    return nil, err
  end
  if require("zuora.dryrun").is(page) then
    -- a dry run (docs/client.md): the first request's description is the one item, and the end
    self.finished = true
    return page, { page }
  end
  local items, ierr = M.items_of(page, self.popts.items)
  if not items then
    self.finished = true
    return nil, ierr
  end
  -- A page whose continuation is refused still counts: its items come first, the error next.
  local nxt, nerr = self:next_request(page, items)
  if nxt and not nerr then
    -- pages without items, or with the previous page's items again (under a new nextPage or
    -- locator, e.g. a dummy parameter that changes), that still name a next page: a server that
    -- never gets anywhere
    local mark = #items > 0 and fingerprint(items) or nil
    local again = mark ~= nil and mark == self.last_mark
    self.last_mark = mark
    self.empty = (#items == 0 or again) and self.empty + 1 or 0
    if self.empty >= self.max_empty then
      local what = again and "%d pages in a row repeated the items before them yet named a next page"
        or "%d pages in a row had no items yet named a next page"
      nxt, nerr = nil, loop_error((what .. " (max_empty_pages)"):format(self.empty))
    end
  end
  self.pending_err = nerr
  self.nxt = nxt
  self.finished = nxt == nil or nerr ~= nil
  self.pages = self.pages + 1
  self.count = self.count + #items
  local fn = self.popts.on_progress
  if fn then
    local kind = self.popts.kind or "pages"
    -- an Actions query's `size` is its total; a v1 page's fields say nothing reliable about one
    local total = kind == "query" and type(page) == "table" and tonumber(page.size) or nil
    progress.emit(fn, kind, self.t0, { current = self.count, total = total,
      unit = kind == "query" and "records" or "items", pages = self.pages, items = self.count,
      op = self.popts.name, done = self.finished })
  end
  return page, items
end

--- Iterator over items; raises a zuora.Error when a page fails.
function Pager:each()
  local items, i, n = nil, 0, 0
  return function()
    while true do
      if i < n then
        i = i + 1
        return items[i]
      end
      local page, its = self:fetch()
      if page == nil then
        if its ~= nil then error(its, 0) end
        return nil
      end
      items, i, n = its, 0, #its
    end
  end
end

--- Iterator over pages (page, items); raises a zuora.Error when a page fails.
function Pager:iter_pages()
  return function()
    local page, its = self:fetch()
    if page == nil then
      if its ~= nil then error(its, 0) end
      return nil
    end
    return page, its
  end
end

--- Every item, or nil, err. More than `limit` items is an error of kind "limit".
function Pager:all(limit)
  limit = limit or M.DEFAULT_LIMIT
  local out, n = setmetatable({}, array_mt), 0
  while true do
    local page, its = self:fetch()
    if page == nil then
      if its ~= nil then return nil, its end
      return out
    end
    if n + #its > limit then
      return nil, errors.new{ kind = "limit", retryable = false,
        message = ("%s has more than %d items (limit); raise options.limit or iterate with each()"):format(
          self.popts.name or (self.method .. " " .. self.path), limit) }
    end
    for k = 1, #its do out[n + k] = its[k] end
    n = n + #its
  end
end

---------------------------------------------------------------------------------------------------
-- Operation objects: op:each / op:pages / op:all (see lua/zuora/operations.lua).

-- Splits the call's arguments: paging options come out of the options table (a copy is made;
-- the caller's table is never modified). Raises on bad paging options.
local function split(op, level, ...)
  local n = select("#", ...)
  local args = { ... }
  local np = #op.params
  local popts = {}
  local options = args[np + 2]
  if type(options) == "table" then
    local rest, any = {}, false
    for k, v in pairs(options) do
      local want = PAGING_OPTIONS[k]
      if want then
        if type(v) ~= want then
          error(("%s.%s: option %s must be a %s, got %s"):format(op.group, op.name, k, want, type(v)), level + 1)
        end
        popts[k] = v
        any = true
      else
        rest[k] = v
      end
    end
    if any then args[np + 2] = rest end
  end
  if popts.limit and (popts.limit < 0 or popts.limit ~= popts.limit) then
    error(("%s.%s: option limit must be a number >= 0"):format(op.group, op.name), level + 1)
  end
  if popts.max_empty_pages and not (popts.max_empty_pages >= 1 and popts.max_empty_pages % 1 == 0) then
    error(("%s.%s: option max_empty_pages must be an integer >= 1"):format(op.group, op.name), level + 1)
  end
  popts.name = op.group .. "." .. op.name
  -- Argument mistakes raise at the caller's line, with the operation's own message.
  local ok, opts = pcall(op.prepare, op, unpack(args, 1, n))
  if not ok then
    error((tostring(opts):gsub("^[^\n]-:%d+: ", "")), level + 1)
  end
  return opts, popts
end

local function pager_for(op, client, level, ...)
  local opts, popts = split(op, level + 1, ...)
  return M.request_pages(client, op.method, op.path, opts, popts), popts
end

--- op:each(...): iterator over the items of every page. Raises a zuora.Error if a page fails.
function M.each(op, client, ...)
  return (pager_for(op, client, 3, ...)):each()
end

--- op:pages(...): iterator over pages, yielding (page, items). Raises a zuora.Error if a page fails.
function M.pages(op, client, ...)
  return (pager_for(op, client, 3, ...)):iter_pages()
end

--- op:all(...): every item in one array, or nil, err (kind "limit" beyond options.limit).
function M.all(op, client, ...)
  local pager, popts = pager_for(op, client, 3, ...)
  return pager:all(popts.limit)
end

---------------------------------------------------------------------------------------------------
-- Any request (for endpoints the catalogue lacks): opts as for client:request, popts as above.

function M.each_request(client, method, path, opts, popts)
  return M.request_pages(client, method, path, opts, popts):each()
end

function M.pages_request(client, method, path, opts, popts)
  return M.request_pages(client, method, path, opts, popts):iter_pages()
end

function M.all_request(client, method, path, opts, popts)
  return M.request_pages(client, method, path, opts, popts):all(popts and popts.limit)
end

M.Pager = Pager

return M
