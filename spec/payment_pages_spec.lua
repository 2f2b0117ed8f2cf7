-- Payment Pages 2.0: core.rsa on inputs from the network, and the whole flow against zuora-sim over
-- real HTTP: the client asks for a page signature, a simulated submit of the hosted page redirects
-- to the callback with a signed query, verify_callback accepts it and refuses it tampered, under
-- another key, or too old.
local core = require "zuora.core"
local fs = require "spec.support.fs"

local rsa = core.rsa

-- Key pairs and signatures made by the openssl command, independent of the code under test.
local dir = fs.tmpdir("pp-spec")
local function openssl(args) assert(fs.sh("openssl " .. args .. " 2>/dev/null"), "openssl " .. args) end
local function keypair(name, spec)
  local key, pub = dir .. "/" .. name .. ".key", dir .. "/" .. name .. ".pub"
  openssl(("genpkey -algorithm %s -out %s"):format(spec or "RSA -pkeyopt rsa_keygen_bits:2048", fs.q(key)))
  openssl(("pkey -in %s -pubout -out %s"):format(fs.q(key), fs.q(pub)))
  return key, fs.read(pub)
end
local function b64(path) return (core.crypto.base64(fs.read(path))) end
local function sign_sha512(key, data)
  fs.write(dir .. "/data", data)
  openssl(("dgst -sha512 -sign %s -out %s %s"):format(fs.q(key), fs.q(dir .. "/sig"), fs.q(dir .. "/data")))
  return b64(dir .. "/sig")
end
local function private_encrypt(key, data)
  fs.write(dir .. "/data", data)
  openssl(("pkeyutl -sign -inkey %s -pkeyopt rsa_padding_mode:pkcs1 -in %s -out %s"):format(fs.q(key),
    fs.q(dir .. "/data"), fs.q(dir .. "/sig")))
  return b64(dir .. "/sig")
end
-- The bare base64 DER body of a PEM public key (what Zuora returns as `key`).
local function der_b64(pem) return (pem:gsub("%-%-%-%-%-[^\n]*%-%-%-%-%-", ""):gsub("%s", "")) end

describe("core.rsa #luajit", function()
  local key, pub = keypair("a")
  local _, other = keypair("b")

  it("verifies SHA512withRSA and SHA256withRSA signatures with a PEM or bare base64 DER key", function()
    local sig = sign_sha512(key, "a#b#c")
    assert.is_true(rsa.verify(pub, "a#b#c", sig))
    assert.is_true(rsa.verify(der_b64(pub), "a#b#c", sig, "sha512"))
    fs.write(dir .. "/data", "x")
    openssl(("dgst -sha256 -sign %s -out %s %s"):format(fs.q(key), fs.q(dir .. "/sig"), fs.q(dir .. "/data")))
    assert.is_true(rsa.verify(pub, "x", b64(dir .. "/sig"), "sha256"))
  end)

  it("refuses changed data, another key and the wrong digest with nil, err", function()
    local sig = sign_sha512(key, "a#b#c")
    local ok, err = rsa.verify(pub, "a#b#d", sig)
    assert.is_nil(ok)
    assert.equals("signature does not verify", err)
    assert.is_nil((rsa.verify(other, "a#b#c", sig)))
    assert.is_nil((rsa.verify(pub, "a#b#c", sig, "sha256")))
  end)

  it("recovers what the private key encrypted, and only with the matching public key", function()
    local sig = private_encrypt(key, "/cb#T#tok#1#page")
    assert.equals("/cb#T#tok#1#page", rsa.recover(pub, sig))
    local plain, err = rsa.recover(other, sig)
    assert.is_nil(plain)
    assert.equals("signature does not verify", err)
  end)

  it("answers nil, err for malformed keys and signatures, never raising", function()
    local sig = sign_sha512(key, "d")
    local cases = {
      { pub, "!!!not base64", "bad signature: invalid base64" },
      { pub, "QUJD", "bad signature: its length is not the key's" },
      { pub, "", "bad signature: empty or too long" },
      { pub, ("A"):rep(5000), "bad signature: empty or too long" },
      { "garbage key", sig, "bad public key: neither PEM nor base64" },
      { "", sig, "bad public key: empty or longer than 16 KiB" },
      { "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", sig, "bad public key: not a PEM public key" },
      { "QUJDRA==", sig, "bad public key: not a DER SubjectPublicKeyInfo" },
      { der_b64(pub) .. "AAAA", sig, "bad public key: not a DER SubjectPublicKeyInfo" },
      { "ab\0cd", sig, "bad public key: contains a NUL byte" },
    }
    for _, c in ipairs(cases) do
      local ok, err = rsa.verify(c[1], "d", c[2])
      assert.is_nil(ok, c[3])
      assert.equals(c[3], err)
      local plain, err2 = rsa.recover(c[1], c[2])
      assert.is_nil(plain, c[3])
      assert.equals(c[3], err2)
    end
    -- An EC key is a public key, but not RSA.
    local _, ec = keypair("ec", "EC -pkeyopt ec_paramgen_curve:prime256v1")
    assert.same({ nil, "bad public key: not an RSA key" }, { rsa.verify(ec, "d", sig) })
    -- Small RSA moduli are refused.
    local _, small = keypair("small", "RSA -pkeyopt rsa_keygen_bits:512")
    assert.same({ nil, "bad public key: RSA modulus outside 1024..8192 bits" }, { rsa.verify(small, "d", sig) })
  end)

  it("raises for arguments of the wrong type", function()
    assert.has_error(function() rsa.verify(nil, "d", "s") end)
    assert.has_error(function() rsa.verify(pub, "d", "s", "md5") end)
    assert.has_error(function() rsa.recover(pub, {}) end)
  end)
end)

describe("Payment Pages 2.0 against zuora-sim", function()
  local zuora = require "zuora"
  local simh = require "spec.support.sim"
  local pp = zuora.payment_pages
  local s, client
  local PAGE = "8a8aa0000000000000000000000pp001"
  local CALLBACK = "https://shop.example/pp/callback"
  local ADVANCED = { signature_type = "advanced", callback_path = "/pp/callback" }
  local BASIC = { callback_path = "/pp/callback" }

  lazy_setup(function()
    s = simh.start()
    client = zuora.new { base_url = s.url, client_id = s.client_id, client_secret = s.client_secret }
  end)
  lazy_teardown(function()
    if client then client:close() end
    if s then s:stop() end
  end)

  -- The page's signature from the simulator (through the client), then a simulated submit of the
  -- hosted page with `form`; returns the callback's query parameters, and the page's key.
  local function submit(form)
    local signature, token, tenant, key = client:payment_page_signature {
      page_id = PAGE, uri = s.url .. "/apps/PublicHostedPageLite.do" }
    assert.is_string(signature, token)
    local fields = { id = PAGE, tenantId = tenant, token = token, signature = signature, callbackUrl = CALLBACK,
      creditCardNumber = "4111111111111111", creditCardExpirationMonth = "12", creditCardExpirationYear = "2031",
      creditCardHolderName = "Ada Lovelace" }
    for k, v in pairs(form or {}) do fields[k] = v end
    local res = s:request { method = "POST", path = "/apps/PublicHostedPageLite.do", auth = "none",
      headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }, body = core.url.encode_query(fields) }
    assert.equals(302, res.status, res.body)
    local location = res.headers.location
    assert.equals(CALLBACK .. "?", location:sub(1, #CALLBACK + 1))
    return core.url.decode_query(location:match("%?(.*)$")), key, tenant
  end

  it("issues a page signature the public key opens, and the decrypt route agrees", function()
    local signature, token, tenant, key = client:payment_page_signature {
      page_id = PAGE, uri = s.url .. "/apps/PublicHostedPageLite.do", payment_gateway = "Sim Gateway" }
    assert.equals(32, #token)
    local plain = assert(rsa.recover(key, signature))
    local path, t, tok, ts, page, extra = plain:match("^([^#]*)#([^#]*)#([^#]*)#(%d+)#([^#]*)#(.*)$")
    assert.equals("/apps/PublicHostedPageLite.do", path)
    assert.equals(tenant, t)
    assert.equals(token, tok)
    assert.equals(PAGE, page)
    assert.equals("paymentGateway=Sim Gateway", extra) -- snake_case options go out in camelCase
    assert.is_true(math.abs(tonumber(ts) / 1000 - os.time()) < 60)
    local reply = assert(client.rsa_signatures.decrypt { method = "POST", publicKey = key, signature = signature })
    assert.equals(plain, reply.decryptedSignature)
  end)

  it("answers nil, err when Zuora signs nothing (fields too long), and decrypt refuses another key", function()
    local ok, err = client:payment_page_signature { page_id = PAGE, uri = s.url .. "/apps/x", note = ("n"):rep(300) }
    assert.is_nil(ok)
    assert.equals("api", err.kind)
    assert.matches("no signature in the reply", err.message)
    local signature = client:payment_page_signature { page_id = PAGE, uri = s.url .. "/apps/x" }
    local _, other = keypair("decrypt")
    local reply, derr = client.rsa_signatures.decrypt {
      method = "POST", publicKey = der_b64(other), signature = signature }
    assert.is_nil(reply)
    assert.equals(400, derr.status)
  end)

  it("verifies a basic callback, whose payment method the API then returns", function()
    local account = s:account()
    local params, key, tenant = submit { field_accountId = account.accountId }
    assert.equals("true", params.success)
    local fields, err = pp.verify_callback(params, key, { callback_path = "/pp/callback", page_id = PAGE })
    assert.is_nil(err)
    assert.equals("basic", fields.signature_type)
    assert.equals(tenant, fields.tenant_id)
    assert.equals(PAGE, fields.page_id)
    assert.equals("/pp/callback", fields.callback_path)
    assert.is_true(fields.age > -2 and fields.age < 60) -- os.time() has whole seconds
    local pm = assert(client.payment_methods.retrieve(fields.ref_id))
    assert.equals(account.accountId, pm.accountKey)
    assert.equals("************1111", pm.cardNumber)
  end)

  it("verifies an advanced callback and decrypts its payment method id", function()
    local params, key = submit { signatureType = "advanced", field_passthrough1 = "order-42",
      field_passthrough3 = "a#b" }
    assert.is_nil(params.refId:match("^2c"))  -- the id travels encrypted
    local fields = assert(pp.verify_callback(params, key, ADVANCED))
    assert.equals("order-42", fields.passthrough[1])
    assert.equals("a#b", fields.passthrough[3])
    assert.is_nil(fields.passthrough[2])
    local pm = assert(client.payment_methods.retrieve(fields.payment_method_id))
    assert.equals(fields.payment_method_id, pm.id)
  end)

  it("verifies a failed submit's advanced callback, error code included", function()
    local params, key = submit { signatureType = "advanced", creditCardNumber = "1234" }
    assert.equals("false", params.success)
    local fields = assert(pp.verify_callback(params, key, ADVANCED))
    assert.equals("HostedPageFieldValidationError", fields.error_code)
    assert.is_nil(fields.payment_method_id)
    params.errorCode = "NoError"
    assert.is_nil((pp.verify_callback(params, key, ADVANCED)))
  end)

  it("refuses a tampered parameter", function()
    local params, key = submit()
    for name, value in pairs { token = ("x"):rep(32), timestamp = tostring(os.time() * 1000), pageId = "other",
      tenantId = "1" } do
      local copy = {}
      for k, v in pairs(params) do copy[k] = v end
      copy[name] = value
      local ok, err = pp.verify_callback(copy, key, BASIC)
      assert.is_nil(ok, name)
      assert.matches("does not match the signed value", err)
    end
    -- The callback path and the expected page are checked when given.
    assert.is_nil((pp.verify_callback(params, key, { callback_path = "/elsewhere" })))
    assert.is_nil((pp.verify_callback(params, key, { callback_path = "/pp/callback", page_id = "another-page" })))
    local aparams, akey = submit { signatureType = "advanced", field_passthrough1 = "order-42" }
    local opts = { signature_type = "advanced", callback_path = "/pp/callback" }
    for name, value in pairs { field_passthrough1 = "order-43", refId = params.signature, token = ("y"):rep(32) } do
      local copy = {}
      for k, v in pairs(aparams) do copy[k] = v end
      copy[name] = value
      local ok, err = pp.verify_callback(copy, akey, opts)
      assert.is_nil(ok, name)
      assert.equals("payment page signature: signature does not verify", err)
    end
    -- A basic check of an advanced callback (or the reverse) fails too: the signature type is the
    -- receiver's setting, never the caller's.
    assert.is_nil((pp.verify_callback(aparams, akey, BASIC)))
    assert.is_nil((pp.verify_callback(params, key, opts)))
  end)

  it("refuses the page signature (which every browser gets) presented as a basic callback", function()
    local signature, token, tenant, key = client:payment_page_signature {
      page_id = PAGE, uri = s.url .. "/apps/PublicHostedPageLite.do" }
    local ts = assert(rsa.recover(key, signature)):match("^[^#]*#[^#]*#[^#]*#(%d+)#")
    local forged = { signature = signature, token = token, timestamp = ts, tenantId = tenant, pageId = PAGE,
      success = "true", refId = "2c92c0f8000000000000000000000001" }
    local ok, err = pp.verify_callback(forged, key, { callback_path = "/pp/callback", page_id = PAGE })
    assert.is_nil(ok)
    assert.equals("payment page signature: callback path does not match the signed value", err)
    -- without the expected path nothing tells the two apart: that is a caller's mistake, raised
    assert.has_error(function() pp.verify_callback(forged, key, { page_id = PAGE, tenant_id = tenant }) end,
      "verify_callback: opts.callback_path is required (a page signature would pass for a callback)")
  end)

  it("refuses a callback under another public key", function()
    local params = submit()
    local _, other = keypair("wrong")
    local ok, err = pp.verify_callback(params, other, BASIC)
    assert.is_nil(ok)
    assert.equals("payment page signature: signature does not verify", err)
  end)

  it("refuses a signature six minutes old, and takes it within a longer max_age", function()
    local params, key = submit { simAge = "360" }
    local ok, err = pp.verify_callback(params, key, BASIC)
    assert.is_nil(ok)
    assert.matches("^payment page signature: signature expired %(3[56]%d s old, max_age 300 s%)$", err)
    assert.is_table((pp.verify_callback(params, key, { callback_path = "/pp/callback", max_age = 400 })))
    -- ... and one stamped ahead of our clock.
    assert.matches("in the future",
      select(2, pp.verify_callback(params, key, { callback_path = "/pp/callback", now = os.time() - 3600 })))
  end)

  it("answers nil, err for malformed callbacks and raises on misuse", function()
    local params, key = submit()
    local function with(name, value)
      local copy = {}
      for k, v in pairs(params) do copy[k] = v end
      copy[name] = value
      return copy
    end
    assert.equals("callback has no signature", select(2, pp.verify_callback(with("signature", nil), key, BASIC)))
    assert.equals("payment page signature: bad signature: invalid base64",
      select(2, pp.verify_callback(with("signature", "%%%"), key, BASIC)))
    assert.matches("repeated", select(2, pp.verify_callback(with("token", { "a", "b" }), key, BASIC)))
    assert.equals("payment page signature: bad public key: neither PEM nor base64",
      select(2, pp.verify_callback(params, "not a key", BASIC)))
    -- A '+' turned into a space by a form decoder is put back.
    assert.is_table((pp.verify_callback(with("signature", params.signature:gsub("%+", " ")), key, BASIC)))
    assert.has_error(function() pp.verify_callback("x", key) end, "verify_callback: params must be a table")
    assert.has_error(function() pp.verify_callback(params, nil) end,
      "verify_callback: public_key must be a non-empty string")
    assert.has_error(function() pp.verify_callback(params, key, { signature_type = "fancy" }) end)
    assert.has_error(function() pp.verify_callback(params, key, { signature_type = "advanced" }) end,
      "verify_callback: an advanced signature needs opts.callback_path")
    assert.has_error(function() pp.verify_callback(params, key, { max_age = -1 }) end)
    assert.has_error(function() client:payment_page_signature { uri = "x" } end,
      "payment_page_signature: page_id must be a non-empty string")
  end)

  it("refuses a page token twice, and a signature it did not issue", function()
    local signature, token, tenant = client:payment_page_signature { page_id = PAGE, uri = s.url .. "/apps/x" }
    local form = core.url.encode_query { id = PAGE, tenantId = tenant, token = token, signature = signature,
      callbackUrl = CALLBACK, creditCardNumber = "4111111111111111", creditCardExpirationMonth = "1",
      creditCardExpirationYear = "2031" }
    local function post(body)
      return s:request { method = "POST", path = "/apps/PublicHostedPageLite.do", auth = "none",
        headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }, body = body }
    end
    -- The page itself (GET) is a form carrying the parameters, escaped, without API credentials.
    local page = s:request { path = "/apps/PublicHostedPageLite.do?id=" .. PAGE .. "&token=%3Cb%3E", auth = "none" }
    assert.equals(200, page.status)
    assert.matches('<input type="hidden" name="token" value="&lt;b&gt;">', page.body, 1, true)
    assert.equals(403, post(form:gsub("signature=[^&]*", "signature=AAAA")).status)
    assert.equals(302, post(form).status)
    assert.equals(403, post(form).status)
  end)
end)

describe("the Payment Pages example (examples/openresty/payment_pages.conf)", function()
  local simh = require "spec.support.sim"
  local openresty = require "spec.support.openresty"
  local json = simh.json
  local s, srv
  local PAGE = "8a8aa0000000000000000000000pp002"

  lazy_setup(function()
    s = simh.start()
    srv = openresty.start_conf { conf = "examples/openresty/payment_pages.conf", vars = { workers = 1 },
      env = { ZUORA_BASE_URL = s.url, ZUORA_CLIENT_ID = s.client_id, ZUORA_CLIENT_SECRET = s.client_secret,
        ZUORA_PAGE_ID = PAGE, ZUORA_HOSTED_PAGE_URL = s.url .. "/apps/PublicHostedPageLite.do",
        ZUORA_SIGNATURE_TYPE = "advanced" } }
  end)
  lazy_teardown(function()
    if srv then srv:stop() end
    if s then s:stop() end
  end)

  local function get(url) return openresty.parallel { { url = url } }[1] end

  -- Renders the page for `account`, submits the hosted form with its parameters (the browser's
  -- part), and returns the callback URL Zuora redirected to.
  local function pay(account, card)
    local page = get(srv.url .. "/pay?account=" .. account)
    assert.equals(200, page.status, page.body)
    local params = json.decode(page.body:match('<script type="application/json" id="zuora%-params">(.-)</script>'))
    assert.equals(PAGE, params.id)
    assert.equals(srv.url .. "/pay/callback", params.callbackUrl)
    local form = {}
    for _, k in ipairs { "id", "tenantId", "token", "signature", "callbackUrl", "signatureType", "field_accountId" } do
      form[k] = params[k]
    end
    form.creditCardNumber, form.creditCardExpirationMonth, form.creditCardExpirationYear = card, "12", "2031"
    local res = s:request { method = "POST", path = "/apps/PublicHostedPageLite.do", auth = "none",
      headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }, body = core.url.encode_query(form) }
    assert.equals(302, res.status, res.body)
    return res.headers.location
  end

  it("verifies the callback, fetches the new payment method, and takes each callback once", function()
    local account = s:account().accountId
    local callback = pay(account, "5555555555554444")
    local r = get(callback)
    assert.equals(200, r.status, r.body)
    local body = json.decode(r.body)
    assert.equals(account, body.account)
    assert.equals("CreditCard", body.type)
    assert.equals("************4444", body.card)
    assert.equals("advanced", body.signature_type)
    assert.equals(1, #s:requests { method = "GET", path = "/v1/payment-methods/" .. body.payment_method })
    assert.equals(409, get(callback).status)
  end)

  it("refuses a tampered callback and reports a refused card", function()
    local account = s:account().accountId
    local callback = pay(account, "4111111111111111")
    local tampered = callback:gsub("timestamp=(%d+)", function(ts) return "timestamp=" .. (tonumber(ts) + 1) end)
    assert.equals(403, get(tampered).status)
    assert.equals(200, get(callback).status)
    local refused = get(pay(account, "1234"))
    assert.equals(422, refused.status)
    assert.equals("HostedPageFieldValidationError", json.decode(refused.body).error)
  end)
end)
