--- zuora.sync's database destinations, SQLite and PostgreSQL, through LuaSQL (Debian's
-- lua-sql-sqlite3 and lua-sql-postgres).
--
-- One table per object (the object's name in lower case), keyed by `id`, upserted
-- (INSERT ... ON CONFLICT (id) DO UPDATE, which both databases speak). Columns are created as rows
-- bring them, typed from the values Data Query sends (JSON): numbers NUMERIC (PostgreSQL; in SQLite
-- decimals TEXT holding the exact digits, integers no declared type), booleans BOOLEAN, the rest TEXT.
-- Deleted rows are deleted (deletions = "apply") or kept with deleted = true ("flag").
-- Bookmarks live in `_zuora_sync`, the committed windows in `_zuora_sync_windows`, both written
-- in the window's own transaction: the bookmark moves exactly when the rows are durable.
local core = require "zuora.core"

local json, decimal = core.json, core.decimal
local sync_time -- zuora.sync (time helpers), loaded lazily: zuora.sync requires this module

local M = {}

local BATCH = 200
-- LuaJIT has no math.type; its numbers are doubles, and a whole one is an integer here.
local mtype = math.type or function(v) return v % 1 == 0 and "integer" or "float" end

local Sql = {}
Sql.__index = Sql

local function ident(name)
  if type(name) ~= "string" or not name:match("^[%a_][%w_]*$") then
    error("sync: column or table name not usable in SQL: " .. tostring(name), 0)
  end
  return '"' .. name:lower() .. '"'
end

local function str(s)
  if s:find("\0", 1, true) then error("sync: a value holds a NUL byte", 0) end
  if s:find("'", 1, true) then s = s:gsub("'", "''") end
  return "'" .. s .. "'"
end

local function literal(v)
  if v == nil or v == json.null then return "NULL" end
  local t = type(v)
  if t == "boolean" then return v and "TRUE" or "FALSE" end
  if t == "number" then
    if type(v) == "number" and mtype(v) == "integer" then return tostring(v) end
    return str(string.format("%.17g", v))
  end
  if t == "string" then return str(v) end
  if decimal.is(v) then return str(tostring(v)) end
  return str(assert(json.encode(v, { sort_keys = true })))
end

-- A column's type comes from the first value it gets, and a later value of the same field may be
-- a decimal where the first was a whole amount (100, then 12.50): so an integer makes a NUMERIC
-- column in PostgreSQL (exact for both) and a column of no declared type in SQLite (no affinity:
-- each value kept as it came, integers as integers, decimals as TEXT with their exact digits;
-- INTEGER affinity would turn '12.50' into the float 12.5).
function Sql:type_of(v)
  if type(v) == "number" and mtype(v) == "integer" then return self.pg and "NUMERIC" or "" end
  if decimal.is(v) or type(v) == "number" then return self.pg and "NUMERIC" or "TEXT" end
  if type(v) == "boolean" then return self.pg and "BOOLEAN" or "INTEGER" end
  return "TEXT"
end

local function run(self, sql)
  local r, err = self.conn:execute(sql)
  if r == nil then error("sync: " .. (self.pg and "postgresql" or "sqlite") .. ": " .. tostring(err), 0) end
  return r
end

-- Runs a statement; a cursor it returns (PRAGMA answers one) is closed at once.
function Sql:exec(sql)
  local r = run(self, sql)
  if type(r) == "userdata" then r:close(); return 0 end
  return r
end

function Sql:rows_of(sql)
  local cur = run(self, sql)
  local out = {}
  if type(cur) ~= "userdata" then return out end
  while true do
    local row = cur:fetch({}, "n")
    if not row then break end
    out[#out + 1] = row
  end
  cur:close()
  return out
end

local function setup(self)
  self:exec([[CREATE TABLE IF NOT EXISTS "_zuora_sync" (object TEXT PRIMARY KEY, window_end TEXT, last_id TEXT,
    rows BIGINT, deleted BIGINT)]])
  self:exec([[CREATE TABLE IF NOT EXISTS "_zuora_sync_windows" (object TEXT, window_start TEXT, window_end TEXT,
    rows BIGINT, deleted BIGINT, job_rows BIGINT, PRIMARY KEY (object, window_start))]])
  self.columns = {}
  return self
end

--- Opens (creating) an SQLite database file.
function M.open_sqlite(path, opts)
  local ok, luasql = pcall(require, "luasql.sqlite3")
  if not ok then return nil, "sqlite destination needs LuaSQL (Debian: apt-get install lua-sql-sqlite3)" end
  if not path or path == "" then return nil, "sqlite destination: no file" end
  local env = luasql.sqlite3()
  local conn, err = env:connect(path)
  if not conn then env:close(); return nil, "sqlite " .. path .. ": " .. tostring(err) end
  local self = setmetatable({ env = env, conn = conn, deletions = (opts or {}).deletions or "apply" }, Sql)
  local sok, serr = pcall(function()
    self:exec("PRAGMA busy_timeout = 10000")
    self:exec("PRAGMA journal_mode = WAL")
    self:exec("PRAGMA synchronous = FULL") -- a commit is on disk when it returns
    setup(self)
  end)
  if not sok then self:close(); return nil, serr end
  return self
end

--- Opens a PostgreSQL database from a postgresql:// URL (libpq's URI syntax).
function M.open_postgres(url, opts)
  local ok, luasql = pcall(require, "luasql.postgres")
  if not ok then return nil, "postgresql destination needs LuaSQL (Debian: apt-get install lua-sql-postgres)" end
  local env = luasql.postgres()
  -- libpq takes a connection URI where a database name is expected (PQsetdbLogin).
  local conn, err = env:connect(url)
  if not conn then
    env:close()
    return nil, "postgresql: " .. tostring(err):gsub("postgres[%w]*://[^%s]*", "<url>")
  end
  local self = setmetatable({ env = env, conn = conn, pg = true, deletions = (opts or {}).deletions or "apply" }, Sql)
  local sok, serr = pcall(function()
    self:exec("SET client_min_messages = warning")
    -- Values are '...' literals with quotes doubled: with standard_conforming_strings off (a
    -- database, role or server setting) a backslash would escape a quote and a value could run as SQL.
    self:exec("SET standard_conforming_strings = on")
    setup(self)
  end)
  if not sok then self:close(); return nil, serr end
  return self
end

function Sql:close()
  if self.conn then self.conn:close(); self.conn = nil end
  if self.env then self.env:close(); self.env = nil end
end

function Sql:bookmark(object)
  local r = self:rows_of('SELECT window_end, last_id, rows, deleted FROM "_zuora_sync" WHERE object = '
    .. str(object))[1]
  if not r then return nil end
  return { window_end = r[1], last_id = r[2], rows = tonumber(r[3]), deleted = tonumber(r[4]) }
end

function Sql:windows(object)
  local out = {}
  for _, r in ipairs(self:rows_of('SELECT window_start, window_end, rows, deleted, job_rows FROM "_zuora_sync_windows" '
      .. "WHERE object = " .. str(object) .. " ORDER BY window_start")) do
    out[#out + 1] = { start = r[1], ["end"] = r[2], rows = tonumber(r[3]), deleted = tonumber(r[4]),
      job_rows = tonumber(r[5]) }
  end
  return out
end

-- The known columns of a table (nil when it does not exist yet).
function Sql:table_columns(tname)
  local cols = self.columns[tname]
  if cols then return cols end
  local rows
  if self.pg then
    rows = self:rows_of("SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
      .. "AND table_name = " .. str(tname))
  else
    rows = self:rows_of("PRAGMA table_info(" .. ident(tname) .. ")")
    for i, r in ipairs(rows) do rows[i] = { r[2] } end
  end
  if #rows == 0 then return nil end
  cols = {}
  for _, r in ipairs(rows) do cols[r[1]] = true end
  self.columns[tname] = cols
  return cols
end

-- Creates the table, or adds the columns `row` brings that it lacks.
function Sql:ensure(tname, row)
  local cols = self:table_columns(tname)
  if not cols then
    self:exec("CREATE TABLE IF NOT EXISTS " .. ident(tname) .. " (id TEXT PRIMARY KEY)")
    cols = { id = true }
    self.columns[tname] = cols
  end
  for k, v in pairs(row) do
    local name = k:lower()
    if not cols[name] then
      self:exec("ALTER TABLE " .. ident(tname) .. " ADD COLUMN " .. ident(name) .. " " .. self:type_of(v))
      cols[name] = true
    end
  end
end

-- Upserts rows (all with the same columns `names`).
function Sql:upsert(tname, names, batch)
  local qnames, sets = {}, {}
  for i, n in ipairs(names) do
    qnames[i] = ident(n)
    if n ~= "id" then sets[#sets + 1] = qnames[i] .. " = excluded." .. qnames[i] end
  end
  local values = {}
  for i, row in ipairs(batch) do
    local cells = {}
    for j, n in ipairs(names) do cells[j] = literal(row[n]) end
    values[i] = "(" .. table.concat(cells, ", ") .. ")"
  end
  self:exec("INSERT INTO " .. ident(tname) .. " (" .. table.concat(qnames, ", ") .. ") VALUES "
    .. table.concat(values, ", ") .. " ON CONFLICT (id) DO "
    .. (#sets > 0 and ("UPDATE SET " .. table.concat(sets, ", ")) or "NOTHING"))
end

local function row_names(row)
  local names = {}
  for k in pairs(row) do names[#names + 1] = k end
  table.sort(names)
  return names
end

-- Whether `row` has exactly the columns `names` (rows of one job all do: checked without allocating).
local function same_columns(row, names)
  if not names then return false end
  local n = 0
  for _ in pairs(row) do n = n + 1 end
  if n ~= #names then return false end
  for i = 1, n do if row[names[i]] == nil then return false end end
  return true
end

local function later(date, id, last_date, last_id)
  return last_date == nil or date > last_date or (date == last_date and id > last_id)
end

--- Writes one window and its bookmark in one transaction.
function Sql:commit(object, w, fetched)
  sync_time = sync_time or require "zuora.sync"
  local tname = object:lower()
  local flag = self.deletions == "flag"
  local counts = { rows = 0, deleted = 0 }
  local ok, err = pcall(function()
    self:exec("BEGIN")
    local batch, names = {}, nil
    local last_id, last_date
    local function flush()
      if #batch > 0 then self:upsert(tname, names, batch) end
      batch = {}
    end
    local function add(row)
      if type(row.id) ~= "string" then error("sync: a " .. object .. " row has no id", 0) end
      local d = tostring(row.updateddate)
      if later(d, row.id, last_date, last_id) then last_date, last_id = d, row.id end
      if not same_columns(row, names) then
        flush()
        self:ensure(tname, row)
        names = row_names(row)
      end
      batch[#batch + 1] = row
      if #batch >= BATCH then flush() end
    end
    for row in fetched.live do
      if flag then row.deleted = false end
      add(row)
      counts.rows = counts.rows + 1
    end
    flush()
    local ids = {}
    local function drop()
      if #ids > 0 and self:table_columns(tname) then
        self:exec("DELETE FROM " .. ident(tname) .. " WHERE id IN (" .. table.concat(ids, ", ") .. ")")
      end
      ids = {}
    end
    for row in fetched.deleted do
      counts.deleted = counts.deleted + 1
      if flag then
        row.deleted = true
        add(row)
      else
        if type(row.id) ~= "string" then error("sync: a deleted " .. object .. " row has no id", 0) end
        ids[#ids + 1] = str(row.id)
        if #ids >= BATCH then drop() end
      end
    end
    flush()
    drop()
    if fetched.job_rows and counts.rows + counts.deleted ~= fetched.job_rows then
      error(("sync: %s window %s held %d rows, the jobs reported %d"):format(object, sync_time.format_time(w.start),
        counts.rows + counts.deleted, fetched.job_rows), 0)
    end
    counts.last_id = last_id
    local we = str(sync_time.format_time(w["end"]))
    self:exec('INSERT INTO "_zuora_sync" (object, window_end, last_id, rows, deleted) VALUES ('
      .. str(object) .. ", " .. we .. ", " .. literal(last_id) .. ", " .. counts.rows .. ", " .. counts.deleted
      .. ") ON CONFLICT (object) DO UPDATE SET window_end = excluded.window_end, "
      .. 'last_id = COALESCE(excluded.last_id, "_zuora_sync".last_id), rows = "_zuora_sync".rows + excluded.rows, '
      .. 'deleted = "_zuora_sync".deleted + excluded.deleted')
    self:exec('INSERT INTO "_zuora_sync_windows" (object, window_start, window_end, rows, deleted, job_rows) VALUES ('
      .. str(object) .. ", " .. str(sync_time.format_time(w.start)) .. ", " .. we .. ", " .. counts.rows .. ", "
      .. counts.deleted .. ", " .. literal(fetched.job_rows) .. ") ON CONFLICT (object, window_start) DO UPDATE SET "
      .. "window_end = excluded.window_end, rows = excluded.rows, deleted = excluded.deleted, "
      .. "job_rows = excluded.job_rows")
    self:exec("COMMIT")
  end)
  if not ok then
    pcall(self.exec, self, "ROLLBACK")
    self.columns = {} -- DDL of the rolled back transaction is gone too
    return nil, err
  end
  return counts
end

--- Rows (not deleted) with UpdatedDate in [a, b) ("YYYY-MM-DD HH:MM:SS" text).
function Sql:count(object, a, b)
  local tname = object:lower()
  local cols = self:table_columns(tname)
  if not cols then return 0 end
  local where = " WHERE updateddate >= " .. str(a) .. " AND updateddate < " .. str(b)
  if cols.deleted then where = where .. " AND (deleted IS NULL OR deleted = FALSE)" end
  local r = self:rows_of("SELECT count(*) FROM " .. ident(tname) .. where)[1]
  return tonumber(r[1])
end

--- Every row of an object's table as id -> { column = text } (for specs and checks).
function Sql:materialize(object)
  local tname = object:lower()
  local out = {}
  if not self:table_columns(tname) then return out end
  local cur = run(self, "SELECT * FROM " .. ident(tname))
  while true do
    local row = cur:fetch({}, "a")
    if not row then break end
    out[row.id] = row
  end
  cur:close()
  return out
end

return M
