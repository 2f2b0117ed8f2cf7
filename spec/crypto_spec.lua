-- core.crypto: known-answer vectors (FIPS 180-2, RFC 4231, RFC 4648) and the properties callers rely on.
describe("core.crypto #luajit", function()
  local crypto = require "zuora.core".crypto

  it("makes RFC 4122 version-4 UUIDs that do not repeat", function()
    local seen = {}
    for _ = 1, 1000 do
      local id = crypto.uuid4()
      assert.matches("^%x%x%x%x%x%x%x%x%-%x%x%x%x%-4%x%x%x%-[89ab]%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$", id)
      assert.is_nil(seen[id])
      seen[id] = true
    end
  end)

  it("returns n random bytes and refuses silly sizes", function()
    assert.equals(0, #crypto.random(0))
    assert.equals(32, #crypto.random(32))
    assert.are_not.equal(crypto.random(16), crypto.random(16))
    assert.has_error(function() crypto.random(-1) end)
    assert.has_error(function() crypto.random(1.5) end)
    assert.has_error(function() crypto.random(2 ^ 40) end)
  end)

  it("hashes with SHA-256", function()
    assert.equals("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", crypto.hex(crypto.sha256("")))
    assert.equals("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", crypto.hex(crypto.sha256("abc")))
    assert.equals(32, #crypto.sha256(("a"):rep(100000)))
  end)

  it("computes HMAC-SHA256 (RFC 4231 test cases 1 and 2)", function()
    assert.equals("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
      crypto.hex(crypto.hmac_sha256(("\11"):rep(20), "Hi There")))
    assert.equals("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
      crypto.hex(crypto.hmac_sha256("Jefe", "what do ya want for nothing?")))
  end)

  it("computes HMAC with a named digest (RFC 2202 / RFC 4231 \"Jefe\" cases); an unknown one raises", function()
    local msg = "what do ya want for nothing?"
    assert.equals("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79", crypto.hex(crypto.hmac("sha1", "Jefe", msg)))
    assert.equals("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
      crypto.hex(crypto.hmac("SHA-256", "Jefe", msg)))
    assert.equals("af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649",
      crypto.hex(crypto.hmac("sha384", "Jefe", msg)))
    assert.equals("164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
      .. "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
      crypto.hex(crypto.hmac("SHA512", "Jefe", msg)))
    for _, bad in ipairs({ "md5", "sha", "sha256x", "", "sha-2-5-6-and-more" }) do
      assert.has_error(function() crypto.hmac(bad, "k", "d") end)
    end
  end)

  it("encodes hex in lower case", function()
    assert.equals("00ff10", crypto.hex("\0\255\16"))
    assert.equals("", crypto.hex(""))
  end)

  it("round-trips base64 (RFC 4648 vectors) and rejects malformed input", function()
    local vectors = { [""] = "", f = "Zg==", fo = "Zm8=", foo = "Zm9v", foob = "Zm9vYg==", fooba = "Zm9vYmE=",
      foobar = "Zm9vYmFy" }
    for plain, enc in pairs(vectors) do
      assert.equals(enc, crypto.base64(plain))
      assert.equals(plain, crypto.unbase64(enc))
    end
    assert.equals("fo", crypto.unbase64("Zm8")) -- padding may be left off
    local bytes = {}
    for i = 0, 255 do bytes[#bytes + 1] = string.char(i) end
    bytes = table.concat(bytes)
    assert.equals(bytes, crypto.unbase64(crypto.base64(bytes)))
    for _, bad in ipairs { "Zm9v YmFy", "Zm9=", "Z", "Zm8==", "Zg=a", "Zh==", "Zm9v\n", "Zm-v" } do
      local v, err = crypto.unbase64(bad)
      assert.is_nil(v, bad)
      assert.matches("invalid base64", err)
    end
  end)

  it("compares strings", function()
    assert.is_true(crypto.equal("secret", "secret"))
    assert.is_false(crypto.equal("secret", "secreT"))
    assert.is_false(crypto.equal("secret", "secret2"))
    assert.is_true(crypto.equal("", ""))
    assert.is_true(crypto.equal("a\0b", "a\0b"))
    assert.is_false(crypto.equal("a\0b", "a\0c"))
  end)
end)
