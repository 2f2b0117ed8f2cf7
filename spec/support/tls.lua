--- A throwaway certificate authority and a server certificate for 127.0.0.1/localhost, made with
-- the openssl CLI in a fresh temporary directory, for specs that need real TLS.
--
--   local tls = require "spec.support.tls"
--   local pki = tls.make()   --> { dir, ca_file, cert, key, ca_path }
--   ...
--   pki:remove()
local fs = require "spec.support.fs"

local M = {}

local function run(cmd)
  local ok = os.execute(cmd .. " >/dev/null 2>&1")
  if ok ~= true and ok ~= 0 then error("command failed: " .. cmd, 2) end
end

local PKI = {}
PKI.__index = PKI

function PKI:remove()
  os.execute("rm -rf '" .. self.dir .. "'")
end

--- Creates the CA and the server certificate (EC P-256, valid for two days). `ca_path` is a
-- directory holding the CA under its OpenSSL hash name, for CAPATH-style configuration.
function M.make()
  local dir = fs.tmpdir("tls")
  fs.write(dir .. "/server.ext", "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
    .. "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
  local ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
  run(("cd '%s' && openssl req -x509 %s -keyout ca.key -out ca.crt -days 2 -subj '/CN=lua-zuora test CA'")
    :format(dir, ec))
  run(("cd '%s' && openssl req %s -keyout server.key -out server.csr -subj '/CN=localhost'"):format(dir, ec))
  run(("cd '%s' && openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 "
    .. "-extfile server.ext -out server.crt"):format(dir))
  run(("mkdir -p '%s/capath' && cp '%s/ca.crt' '%s/capath/' && openssl rehash '%s/capath'")
    :format(dir, dir, dir, dir))
  return setmetatable({ dir = dir, ca_file = dir .. "/ca.crt", cert = dir .. "/server.crt",
    key = dir .. "/server.key", ca_path = dir .. "/capath" }, PKI)
end

return M
