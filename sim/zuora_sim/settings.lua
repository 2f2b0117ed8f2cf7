--- Start-up settings, read from the environment bin/zuora-sim gives nginx (see nginx.conf.in).
local M = {}

M.DEFAULTS = {
  client_id = "zuora-sim-client", client_secret = "zuora-sim-secret",
  username = "zuora-sim-user", password = "zuora-sim-password",
}

function M.from_env()
  local function env(name, default)
    local v = os.getenv("ZUORA_SIM_" .. name)
    if v == nil or v == "" then return default end
    return v
  end
  return {
    client_id = env("CLIENT_ID", M.DEFAULTS.client_id),
    client_secret = env("CLIENT_SECRET", M.DEFAULTS.client_secret),
    username = env("USERNAME", M.DEFAULTS.username),
    password = env("PASSWORD", M.DEFAULTS.password),
    token_ttl = tonumber(env("TOKEN_TTL", "")),
    api_url = env("API_URL", "http://127.0.0.1"),
    files_url = env("FILES_URL", "http://127.0.0.1"),
    ca_file = env("CA_FILE", nil),
    tls = env("CA_FILE", nil) ~= nil,
    state_dir = env("STATE_DIR", nil),
    root = env("ROOT", "."),
    catalog = env("CATALOG", "auto"),
  }
end

return M
