--- Spec helper: a real PostgreSQL server (Debian's postgresql package) on a scratch data folder and
-- a free loopback port, for specs of the postgresql destinations. PostgreSQL refuses to run as
-- root: as root, the server runs as the `postgres` system user (runuser), on a folder it owns.
--
--   local pg = require("spec.support.postgres").start()   -- nil, reason when PostgreSQL is missing
--   pg.url   -- postgresql://zuora@127.0.0.1:PORT/postgres
--   pg:psql("SELECT 1"); pg:stop()
local fs = require "spec.support.fs"
local nginx = require "spec.support.nginx"

local M = {}

local q, sh, sh_read = fs.q, fs.sh, fs.sh_read

--- The folder holding initdb and pg_ctl, or nil.
function M.bindir()
  local out = sh_read("ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1") or ""
  out = out:gsub("%s+$", "")
  if out ~= "" and fs.read(out .. "/initdb") ~= nil then return out end
  return nil
end

local Pg = {}
Pg.__index = Pg

local function as_owner(self, cmd)
  if self.user then return "runuser -u " .. self.user .. " -- " .. cmd end
  return cmd
end

function M.start()
  local bin = M.bindir()
  if not bin then return nil, "PostgreSQL is not installed (tools/deps.sh installs it)" end
  local dir = fs.tmpdir("pg")
  local self = setmetatable({ dir = dir, bin = bin, data = dir .. "/data" }, Pg)
  if fs.is_root() then
    self.user = "postgres"
    sh("chown postgres " .. q(dir))
  end
  assert(sh(as_owner(self, ("%s -D %s -U zuora --auth=trust --locale=C -E UTF8 >%s 2>&1"):format(q(bin .. "/initdb"),
    q(self.data), q(dir .. "/initdb.log")))), "initdb failed: " .. tostring(fs.read(dir .. "/initdb.log")))
  -- A port found free can be taken before the server binds it: a second try on another port.
  local started
  for _ = 1, 3 do
    self.port = nginx.free_port()
    local opts = ("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=on"):format(self.port, dir)
    started = sh(as_owner(self, ("%s -D %s -o %s -l %s -w -t 120 start >/dev/null 2>&1"):format(q(bin .. "/pg_ctl"),
      q(self.data), q(opts), q(dir .. "/server.log"))))
    if started then break end
    sh(as_owner(self, ("%s -D %s -m immediate stop >/dev/null 2>&1"):format(q(bin .. "/pg_ctl"), q(self.data))))
  end
  assert(started, "pg_ctl start failed: " .. tostring(fs.read(dir .. "/server.log")))
  self.url = ("postgresql://zuora@127.0.0.1:%d/postgres"):format(self.port)
  return self
end

--- Runs SQL through psql; returns its output (unaligned, tuples only).
function Pg:psql(sql)
  return sh_read(("%s -X -A -t -q -h 127.0.0.1 -p %d -U zuora -d postgres -c %s 2>&1"):format(
    q(self.bin .. "/psql"), self.port, q(sql)))
end

function Pg:stop()
  sh(as_owner(self, ("%s -D %s -m immediate stop >/dev/null 2>&1"):format(q(self.bin .. "/pg_ctl"), q(self.data))))
  sh("rm -rf " .. q(self.dir))
end

return M
