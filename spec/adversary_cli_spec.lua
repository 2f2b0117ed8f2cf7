-- The command line against hostile data (issue 21): `zuora export` writes CSV a spreadsheet opens
-- without running formulas an attacker put in Zuora fields (--csv-safe, on by default), and the
-- REPL's history file is the user's alone (0600, whatever its folder) and never holds a line that
-- assigns a credential; a server's terminal escape sequences (in a request id, an error message)
-- never reach the terminal through --trace or the error line.
local simh = require "spec.support.sim"
local cli = require "spec.support.cli"
local nginx = require "spec.support.nginx"

local NAMES = { "=HYPERLINK(\"http://evil.example\",\"x\")", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)",
  "\tTabbed", "\rReturn", "-12.50", "Plain Co" }

describe("the command line against hostile data", function()
  local s, env
  lazy_setup(function()
    s = simh.start()
    env = { ZUORA_BASE_URL = s.url, ZUORA_CLIENT_ID = s.client_id, ZUORA_CLIENT_SECRET = s.client_secret }
    for _, name in ipairs(NAMES) do s:account{ name = name } end
  end)
  lazy_teardown(function() if s then s:stop() end end)

  -- The Name column of `zuora export accounts --format csv` (plus `extra`), by account name as created.
  local function names(extra)
    local args = { "export", "accounts", "--format", "csv", "--fields", "Name" }
    for _, a in ipairs(extra or {}) do args[#args + 1] = a end
    local r = cli.run(args, { env = env })
    assert.equals(0, r.code, r.stderr)
    local lines = {}
    -- cells may be quoted and hold CR: split on the record ends (CRLF) only
    for rec in r.stdout:gmatch("(.-)\r\n") do lines[#lines + 1] = rec end
    assert.equals("Name", lines[1])
    local set = {}
    for i = 2, #lines do set[lines[i]] = true end
    return set
  end

  it("export --format csv neutralises cells that start like a formula, by default", function()
    local got = names()
    assert.is_true(got["'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")"] or
      got["\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\""], "=HYPERLINK")
    assert.is_true(got["'+cmd|' /C calc'!A0"], "+cmd")
    assert.is_true(got["'-2+3"], "-2+3")
    assert.is_true(got["'@SUM(A1:A9)"], "@SUM")
    assert.is_true(got["'\tTabbed"], "tab")
    assert.is_true(got["\"'\rReturn\""], "CR")
    assert.is_true(got["-12.50"], "a number written as text stays as it is")
    assert.is_true(got["Plain Co"])
    -- --csv-safe says the same explicitly
    assert.same(got, names{ "--csv-safe" })
  end)

  it("export --no-csv-safe writes every cell as Zuora holds it", function()
    local got = names{ "--no-csv-safe" }
    assert.is_true(got["\"=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\""], "=HYPERLINK")
    assert.is_true(got["+cmd|' /C calc'!A0"])
    assert.is_true(got["-2+3"])
    assert.is_true(got["@SUM(A1:A9)"])
    assert.is_true(got["\"\tTabbed\""] or got["\tTabbed"])
  end)

  it("creates the REPL history 0600 in a folder that already exists, and leaves credential lines out", function()
    local state = cli.tmpdir()
    finally(function() os.execute("rm -rf " .. cli.q(state)) end)
    -- the folder exists already (0755), and the umask would give a new file 0644
    assert(os.execute("mkdir -p -m 755 " .. cli.q(state .. "/zuora")))
    local t = cli.pty({ "repl" }, { env = env, state_home = state })
    t:expect("zuora> ")
    for _, line in ipairs{ "6 * 7", 'client_secret = "s3cr3t-one"', 'local o = { password = "s3cr3t-two" }',
      'o["token"] = "s3cr3t-three"', 'TOKEN="s3cr3t-four"', "1 + 1" } do
      t:send(line .. "\r")
      t:expect("zuora> ")
    end
    t:send("\4")
    t:close()
    local path = state .. "/zuora/history"
    local p = assert(io.popen("stat -c %a " .. cli.q(path)))
    local mode = p:read("l")
    p:close()
    assert.equals("600", mode)
    assert.equals("6 * 7\n1 + 1\n", cli.read(path))
  end)

  it("prints no terminal escape sequence a server sends in a request id or an error message", function()
    local srv = nginx.start{ ports = 1, http = [[
      server {
        listen 127.0.0.1:${port1};
        location = /oauth/token { content_by_lua_block {
          ngx.header["Content-Type"] = "application/json"
          ngx.print('{"access_token":"tok-1","token_type":"bearer","expires_in":3600}')
        } }
        location /v1/ { content_by_lua_block {
          -- raw (ngx.header would percent-encode the escape characters)
          local fail = ngx.var.uri == "/v1/fail"
          local body = fail and '{"success":false,"reasons":[{"code":50000040,"message":"\\u001b]0;x\\u0007gone"}]}'
            or '{"success":true}'
          local sock = ngx.req.socket(true)
          sock:send((fail and "HTTP/1.1 400 Bad Request" or "HTTP/1.1 200 OK")
            .. "\r\nContent-Type: application/json\r\nZuora-Request-Id: \27]0;retitled\7\27[2Jrid\r\n"
            .. "Content-Length: " .. #body .. "\r\nConnection: close\r\n\r\n" .. body)
          ngx.exit(444)
        } }
      }
    ]] }
    finally(function() srv:stop() end)
    local e = { ZUORA_BASE_URL = srv.url, ZUORA_CLIENT_ID = "c", ZUORA_CLIENT_SECRET = "s" }
    for _, path in ipairs{ "/v1/ok", "/v1/fail" } do
      local r = cli.run({ "--trace", "call", "GET", path }, { env = e })
      assert.matches("request_id=", r.stderr)
      assert.is_nil((r.stdout .. r.stderr):find("\27", 1, true), r.stderr)
      assert.is_nil((r.stdout .. r.stderr):find("\7", 1, true), r.stderr)
    end
  end)

  it("turns an existing history file readable by others into 0600", function()
    local state = cli.tmpdir()
    finally(function() os.execute("rm -rf " .. cli.q(state)) end)
    local path = cli.q(state .. "/zuora/history")
    assert(os.execute("mkdir -p " .. cli.q(state .. "/zuora") .. " && echo '2 + 2' > " .. path
      .. " && chmod 644 " .. path))
    local t = cli.pty({ "repl" }, { env = env, state_home = state })
    t:expect("zuora> ")
    t:send("\4")
    t:close()
    local p = assert(io.popen("stat -c %a " .. cli.q(state .. "/zuora/history")))
    local mode = p:read("l")
    p:close()
    assert.equals("600", mode)
  end)
end)
