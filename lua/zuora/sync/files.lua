--- zuora.sync's files destination: one file per object and window (JSON lines or CSV) under
-- DIR/<Object>/, plus DIR/manifest.json listing the committed windows and each object's bookmark.
--
-- A commit writes the window's file as a temporary file, flushes it to disk and renames it into
-- place, then does the same with the manifest. Only files the manifest lists are committed: a
-- file left by a run killed before its manifest was written is removed when the directory is
-- opened again, and a window written again replaces its file. So a crash at any point loses and
-- duplicates nothing. Deleted rows are written after the window's live rows with `deleted: true`.
local core = require "zuora.core"

local json = core.json
local sync_time -- zuora.sync's time helpers, loaded lazily (zuora.sync requires this module)

local M = {}

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- Flushes files (and the folders holding them) to disk: coreutils' `sync FILE...` calls fsync on
-- each (Lua has no fsync of its own).
local function fsync(paths, enabled)
  if enabled == false then return true end
  local parts = {}
  for i, p in ipairs(paths) do parts[i] = q(p) end
  local ok = os.execute("sync -- " .. table.concat(parts, " ") .. " 2>/dev/null")
  return ok == true or ok == 0
end

local function read_all(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- Writes `path` whole or not at all: a temporary file beside it, fsync, rename, fsync the folder.
local function write_atomic(path, writer, do_fsync)
  local tmp = path:gsub("([^/]+)$", ".%1.part")
  local f, err = io.open(tmp, "wb")
  if not f then return nil, err end
  local ok, werr = pcall(writer, f)
  local cok, cerr = f:close()
  if not ok or not cok then
    os.remove(tmp)
    return nil, ok and cerr or werr
  end
  if not fsync({ tmp }, do_fsync) then os.remove(tmp); return nil, "cannot fsync " .. tmp end
  local rok, rerr = os.rename(tmp, path)
  if not rok then os.remove(tmp); return nil, rerr end
  fsync({ (path:match("^(.*)/[^/]+$") or ".") }, do_fsync)
  return true
end

local function mkdir(path)
  return os.execute("mkdir -p -- " .. q(path))
end

local function list_dir(path)
  local out = {}
  local p = io.popen("ls -A -- " .. q(path) .. " 2>/dev/null")
  if not p then return out end
  for line in p:lines() do out[#out + 1] = line end
  p:close()
  return out
end

local function csv_cell(v)
  if v == nil or v == json.null then return "" end
  if type(v) == "table" and not core.decimal.is(v) then v = json.encode(v) end
  local s = tostring(v)
  if s:find('[,"\r\n]') then return '"' .. s:gsub('"', '""') .. '"' end
  return s
end

local function stamp(t) return (sync_time.format_time(t):gsub("[-:]", ""):gsub(" ", "T")) end

local Files = {}
Files.__index = Files

--- Opens (creating) the directory; opts.format "jsonl" (default) or "csv", opts.fsync (default true).
function M.open(dir, opts)
  sync_time = sync_time or require "zuora.sync"
  opts = opts or {}
  if dir == nil or dir == "" then return nil, "files destination: no directory" end
  dir = dir:gsub("/+$", "")
  if dir == "" then dir = "/" end
  if opts.format ~= nil and opts.format ~= "jsonl" and opts.format ~= "csv" then
    return nil, "files destination: format must be jsonl or csv"
  end
  mkdir(dir)
  local self = setmetatable({ dir = dir, format = opts.format or "jsonl", fsync = opts.fsync }, Files)
  local text = read_all(dir .. "/manifest.json")
  if text then
    local m, err = json.decode(text)
    if type(m) ~= "table" then
      return nil, "files destination: bad manifest " .. dir .. "/manifest.json: " .. tostring(err)
    end
    self.manifest = m
    if m.format and m.format ~= self.format then self.format = m.format end
  else
    self.manifest = { version = 1, format = self.format, objects = {} }
  end
  self:clean()
  return self
end

-- Removes the files no committed window lists (left by a run that stopped before its manifest).
function Files:clean()
  for _, object in ipairs(list_dir(self.dir)) do
    if object:match("^[%a_][%w_]*$") then
      local listed = {}
      local m = self.manifest.objects[object]
      for _, w in ipairs(m and m.windows or {}) do if w.file then listed[w.file] = true end end
      for _, name in ipairs(list_dir(self.dir .. "/" .. object)) do
        if not listed[object .. "/" .. name] then os.remove(self.dir .. "/" .. object .. "/" .. name) end
      end
    end
  end
  os.remove(self.dir .. "/.manifest.json.part")
end

function Files:bookmark(object)
  local m = self.manifest.objects[object]
  if not m or not m.window_end then return nil end
  return { window_end = m.window_end, last_id = m.last_id, rows = m.rows, deleted = m.deleted }
end

function Files:windows(object)
  local m = self.manifest.objects[object]
  return m and m.windows or {}
end

local function write_rows(self, f, fetched, rows_out)
  local header
  local last_id, last_date = nil, nil
  local function put(row, deleted)
    if deleted then row.deleted = true end
    local id, date = row.id, row.updateddate
    if type(id) == "string" and (last_date == nil or tostring(date) > last_date
      or (tostring(date) == last_date and id > last_id)) then
      last_id, last_date = id, tostring(date)
    end
    if self.format == "csv" then
      if not header then
        header = {}
        for k in pairs(row) do if k ~= "deleted" then header[#header + 1] = k end end
        table.sort(header)
        header[#header + 1] = "deleted"
        local cells = {}
        for i, c in ipairs(header) do cells[i] = csv_cell(c) end
        f:write(table.concat(cells, ","), "\r\n")
      end
      local cells = {}
      for i, c in ipairs(header) do
        local v = row[c]
        if c == "deleted" and v == nil then v = false end
        cells[i] = csv_cell(v)
      end
      assert(f:write(table.concat(cells, ","), "\r\n"))
    else
      assert(f:write(assert(json.encode(row, { sort_keys = true })), "\n"))
    end
  end
  for row in fetched.live do put(row, false); rows_out.rows = rows_out.rows + 1 end
  for row in fetched.deleted do put(row, true); rows_out.deleted = rows_out.deleted + 1 end
  rows_out.last_id = last_id
end

--- Writes one window (fetched.live and fetched.deleted row iterators) and moves the bookmark.
function Files:commit(object, w, fetched)
  local rel = object .. "/" .. stamp(w.start) .. "-" .. stamp(w["end"]) .. "."
    .. (self.format == "csv" and "csv" or "jsonl")
  mkdir(self.dir .. "/" .. object)
  local counts = { rows = 0, deleted = 0 }
  local ok, err = write_atomic(self.dir .. "/" .. rel, function(f) write_rows(self, f, fetched, counts) end, self.fsync)
  if not ok then return nil, err end
  if counts.rows + counts.deleted == 0 then
    os.remove(self.dir .. "/" .. rel) -- an empty window is listed in the manifest, without a file
    rel = nil
  elseif fetched.job_rows and counts.rows + counts.deleted ~= fetched.job_rows then
    os.remove(self.dir .. "/" .. rel)
    return nil, ("%s: the window held %d rows, the jobs reported %d"):format(rel, counts.rows + counts.deleted,
      fetched.job_rows)
  end
  local m = self.manifest.objects[object] or { windows = {}, rows = 0, deleted = 0 }
  self.manifest.objects[object] = m
  -- A window written again (same start) replaces the listing of the earlier one.
  local windows = m.windows
  while #windows > 0 and sync_time.parse_time(windows[#windows].start) >= w.start do
    local old = table.remove(windows)
    if old.file and old.file ~= rel then os.remove(self.dir .. "/" .. old.file) end
  end
  windows[#windows + 1] = { start = sync_time.format_time(w.start), ["end"] = sync_time.format_time(w["end"]),
    file = rel, rows = counts.rows, deleted = counts.deleted, job_rows = fetched.job_rows }
  m.window_end = sync_time.format_time(w["end"])
  m.last_id = counts.last_id or m.last_id
  m.rows = (m.rows or 0) + counts.rows
  m.deleted = (m.deleted or 0) + counts.deleted
  local text = assert(json.encode(self.manifest, { sort_keys = true, indent = 1 }))
  ok, err = write_atomic(self.dir .. "/manifest.json", function(f) assert(f:write(text, "\n")) end, self.fsync)
  if not ok then return nil, err end
  return counts
end

--- The rows the destination holds now for `object`: id -> row (later windows replace earlier
-- rows; deleted rows removed unless keep_deleted). Reads every listed file.
function Files:materialize(object, keep_deleted)
  local out = {}
  local rows = require "zuora.rows"
  for _, w in ipairs(self:windows(object)) do
    if not w.file then goto continue end
    local it = assert(rows.open(self.dir .. "/" .. w.file, { format = self.format == "csv" and "CSV" or "JSON",
      compression = "NONE", decimals = true }))
    for row in it do
      local deleted = row.deleted == true or row.deleted == "true"
      if deleted and not keep_deleted then out[row.id] = nil else out[row.id] = row end
    end
    ::continue::
  end
  return out
end

function Files:count(object, a, b)
  local n = 0
  for _, row in pairs(self:materialize(object)) do
    local d = tostring(row.updateddate)
    if d >= a and d < b then n = n + 1 end
  end
  return n
end

function Files:close() end

------------------------------------------------------------------------------------------------
-- `state = FILE`: bookmarks kept in a JSON file of their own, written (atomically) after the
-- destination committed the window. A crash between the two makes the next run write that window
-- again, which the destinations absorb (upsert by id; the file replaced).

local StateFile = {}
StateFile.__index = function(self, k)
  local v = StateFile[k]
  if v ~= nil then return v end
  local d = rawget(self, "dest")[k]
  if type(d) == "function" then return function(_, ...) return d(rawget(self, "dest"), ...) end end
  return d
end

function M.with_state_file(dest, path)
  sync_time = sync_time or require "zuora.sync"
  local s = read_all(path)
  local st = s and json.decode(s)
  if type(st) ~= "table" then st = { version = 1, objects = {} } end
  return setmetatable({ dest = dest, path = path, st = st }, StateFile)
end

function StateFile:bookmark(object)
  return self.st.objects[object]
end

function StateFile:commit(object, w, fetched)
  local counts, err = self.dest:commit(object, w, fetched)
  if not counts then return nil, err end
  local b = self.st.objects[object] or { rows = 0, deleted = 0 }
  b.window_end = sync_time.format_time(w["end"])
  b.last_id = counts.last_id or b.last_id
  b.rows, b.deleted = b.rows + counts.rows, b.deleted + counts.deleted
  self.st.objects[object] = b
  local text = assert(json.encode(self.st, { sort_keys = true, indent = 1 }))
  local ok, werr = write_atomic(self.path, function(f) assert(f:write(text, "\n")) end, self.dest.fsync)
  if not ok then return nil, werr end
  return counts
end

return M
