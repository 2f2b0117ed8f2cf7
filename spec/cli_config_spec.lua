-- Where `zuora` gets its client from: profiles in $XDG_CONFIG_HOME/zuora/config.lua (loaded with
-- no globals, refused when a secret is readable by others), ZUORA_* variables and flags.
local simh = require "spec.support.sim"
local cli = require "spec.support.cli"

describe("zuora configuration", function()
  local s, home, acct
  lazy_setup(function()
    s = simh.start()
    acct = s:account{ name = "Profile Co" }
    home = cli.tmpdir()
    os.execute("mkdir -p " .. cli.q(home .. "/zuora"))
  end)
  lazy_teardown(function()
    if s then s:stop() end
    if home then os.execute("rm -rf " .. cli.q(home)) end
  end)

  local function config(text, mode)
    local path = home .. "/zuora/config.lua"
    cli.write(path, text)
    assert(os.execute(("chmod %s %s"):format(mode or "600", cli.q(path))))
    return path
  end

  local function call(args, env)
    args = args or {}
    local full = {}
    for _, a in ipairs(args) do full[#full + 1] = a end
    full[#full + 1] = "call"
    full[#full + 1] = "accounts.retrieve"
    full[#full + 1] = acct.accountNumber
    return cli.run(full, { config_home = home, env = env })
  end

  local function profile(name, fields)
    return ("  [%q] = { base_url = %q, %s },\n"):format(name, s.url, fields)
  end

  it("uses the default profile", function()
    config('default = "sim"\nprofiles = {\n' .. profile("sim", ("client_id = %q, client_secret = %q")
      :format(s.client_id, s.client_secret)) .. "}\n")
    local r = call()
    assert.equals(0, r.code, r.stderr)
    assert.matches('"name": "Profile Co"', r.stdout)
  end)

  it("refuses a group- or world-readable file holding a secret, and says how to fix it", function()
    local path = config('default = "sim"\nprofiles = {\n' .. profile("sim", ("client_id = %q, client_secret = %q")
      :format(s.client_id, s.client_secret)) .. "}\n", "644")
    local r = call()
    assert.equals(1, r.code)
    assert.equals("", r.stdout)
    assert.equals(("zuora: %s holds a secret (client_secret in profile sim) but is readable by everyone "
      .. "(mode 644); run: chmod 600 '%s'\n"):format(path, path), r.stderr)
    os.execute("chmod 640 " .. cli.q(path))
    r = call()
    assert.equals(1, r.code)
    assert.matches("readable by its group %(mode 640%); run: chmod 600", r.stderr)
    os.execute("chmod 600 " .. cli.q(path))
    assert.equals(0, call().code)
  end)

  it("accepts a readable file whose secrets come from env \"NAME\"", function()
    local fields = ('client_id = %q, client_secret = env "SPEC_SECRET"'):format(s.client_id)
    config('return { default = "sim", profiles = {\n' .. profile("sim", fields) .. "} }\n", "644")
    local r = call(nil, { SPEC_SECRET = s.client_secret })
    assert.equals(0, r.code, r.stderr)
    r = call()
    assert.equals(1, r.code)
    assert.equals("zuora: profile sim: client_secret names the variable SPEC_SECRET, which is not set\n", r.stderr)
  end)

  it("refuses a world-writable file", function()
    config('profiles = {}\n', "646")
    local r = call()
    assert.equals(1, r.code)
    assert.matches("is writable by everyone %(mode 646%); run: chmod go%-w", r.stderr)
  end)

  it("runs the file with no globals and a bounded budget", function()
    config('profiles = { x = { base_url = os.getenv("HOME") } }\n')
    local r = call()
    assert.equals(1, r.code)
    assert.matches("config.lua:1: attempt to index a nil value %(global 'os'%)", r.stderr)
    config('while true do end\n')
    r = call()
    assert.equals(1, r.code)
    assert.matches("configuration takes too long to run", r.stderr)
    config('profiles = { x = { base_urll = "https://x" } }\n')
    r = call()
    assert.matches("profile x: unknown option base_urll", r.stderr)
    config('profile = { }\n')
    r = call()
    assert.matches("unknown setting profile", r.stderr)
  end)

  it("layers: ZUORA_* variables over the default profile, --profile over both, flags over all", function()
    config('default = "broken"\nprofiles = {\n'
      .. profile("broken", 'client_id = "nobody", client_secret = env "NOPE_UNSET_VAR"')
      .. profile("good", ("username = %q, password = %q"):format(s.username, s.password))
      .. "}\n")
    local envvars = { ZUORA_CLIENT_ID = s.client_id, ZUORA_CLIENT_SECRET = s.client_secret }
    -- the default profile names an unset variable...
    assert.equals(1, call().code)
    -- ...unless ZUORA_* credentials replace its credentials (the profile's base_url stays)
    envvars.NOPE_UNSET_VAR = "x"
    local r = call(nil, envvars)
    assert.equals(0, r.code, r.stderr)
    s:clear_requests()
    -- --profile wins over the variables: basic credentials, no token request
    r = call({ "--profile", "good" }, { ZUORA_CLIENT_ID = "wrong", ZUORA_CLIENT_SECRET = "wrong" })
    assert.equals(0, r.code, r.stderr)
    local seen = s:requests{ path = "/v1/accounts/*" }
    assert.matches("^Basic ", seen[1].headers.authorization)
    assert.same({}, s:requests{ path = "/oauth/token" })
    -- ZUORA_PROFILE picks a profile like --profile (variables still apply over it)
    r = call(nil, { ZUORA_PROFILE = "good" })
    assert.equals(0, r.code, r.stderr)
    -- --base-url moves the endpoint and keeps the credentials
    r = call({ "--profile", "good", "--base-url", "http://127.0.0.1:9" })
    assert.equals(4, r.code) -- transport
    assert.matches("^zuora transport error.*127%.0%.0%.1:9", r.stderr)
    r = call({ "--profile", "missing" })
    assert.equals("zuora: no profile missing in " .. home .. "/zuora/config.lua (profiles: broken, good)\n", r.stderr)
  end)

  it("--env picks a named environment (bad names are one-line errors)", function()
    local r = cli.run({ "--env", "mars-production", "call", "accounts.retrieve", "A1" },
      { env = { ZUORA_CLIENT_ID = "a", ZUORA_CLIENT_SECRET = "b" } })
    assert.equals(1, r.code)
    assert.matches("^zuora: zuora.new: unknown environment 'mars%-production' %(known: ", r.stderr)
    assert.equals(1, #r.stderr:gsub("[^\n]", ""))
  end)
end)
