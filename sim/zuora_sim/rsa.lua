--- zuora-sim's RSA key pair and its uses (LuaJIT FFI to the system libcrypto, as zlib.lua does for
-- zlib): the simulator signs Payment Pages 2.0 signatures and callbacks with its own private key,
-- made once per run on first use (one worker holds the tenant, see state.lua) and its public half
-- written to STATE_DIR/rsa/public.pem. The operations Zuora uses:
--  - private_encrypt: a PKCS#1 v1.5 type-1 block of the data (RSA with the private key, what
--    Zuora's SignatureDecrypter undoes with the public key): page signatures, basic callback
--    signatures, the advanced callback's encrypted payment method id;
--  - sign: SHA512withRSA (the advanced callback signature);
--  - public_decrypt: the other side of private_encrypt, for POST /v1/rsa-signatures/decrypt.
local ffi = require "ffi"

-- Each declaration alone: another module (ngx.ssl) may have declared some already.
for _, decl in ipairs {
  "void *BIO_new(const void *type);",
  "const void *BIO_s_mem(void);",
  "int BIO_free(void *a);",
  "long BIO_ctrl(void *bp, int cmd, long larg, void *parg);",
  "void *BIO_new_mem_buf(const void *buf, int len);",
  "int PEM_write_bio_PUBKEY(void *bp, void *x);",
  "void *d2i_PUBKEY(void **a, const unsigned char **pp, long length);",
  "void *PEM_read_bio_PUBKEY(void *bp, void **x, void *cb, void *u);",
  "int i2d_PUBKEY(void *a, unsigned char **pp);",
  "void EVP_PKEY_free(void *pkey);",
  "int EVP_PKEY_get_size(const void *pkey);",
  "void *EVP_PKEY_CTX_new(void *pkey, void *e);",
  "void *EVP_PKEY_CTX_new_id(int id, void *e);",
  "void EVP_PKEY_CTX_free(void *ctx);",
  "int EVP_PKEY_keygen_init(void *ctx);",
  "int EVP_PKEY_CTX_set_rsa_keygen_bits(void *ctx, int bits);",
  "int EVP_PKEY_keygen(void *ctx, void **ppkey);",
  "int EVP_PKEY_CTX_set_rsa_padding(void *ctx, int pad);",
  "int EVP_PKEY_sign_init(void *ctx);",
  "int EVP_PKEY_sign(void *ctx, unsigned char *sig, size_t *siglen, const unsigned char *tbs, size_t tbslen);",
  "int EVP_PKEY_verify_recover_init(void *ctx);",
  "int EVP_PKEY_verify_recover(void *ctx, unsigned char *rout, size_t *routlen, const unsigned char *sig, size_t n);",
  "void *EVP_MD_CTX_new(void);",
  "void EVP_MD_CTX_free(void *ctx);",
  "const void *EVP_sha512(void);",
  "int EVP_DigestSignInit(void *ctx, void **pctx, const void *type, void *e, void *pkey);",
  "int EVP_DigestSign(void *ctx, unsigned char *sigret, size_t *siglen, const unsigned char *tbs, size_t tbslen);",
  "void ERR_clear_error(void);",
  "void CRYPTO_free(void *ptr, const char *file, int line);",
} do
  pcall(ffi.cdef, decl)
end

local ok, C = pcall(ffi.load, "crypto")
if not ok then C = ffi.load("libcrypto.so.3") end

local EVP_PKEY_RSA, RSA_PKCS1_PADDING, BIO_CTRL_INFO = 6, 1, 3

local M = { BITS = 2048 }

local key -- the simulator's key pair (EVP_PKEY*, freed by the GC)
local public_b64, public_pem

local function fail(what)
  C.ERR_clear_error()
  return nil, what
end

local function bio_string(bio)
  local p = ffi.new("char *[1]")
  local n = C.BIO_ctrl(bio, BIO_CTRL_INFO, 0, p)
  return ffi.string(p[0], n)
end

--- Makes the key pair (first call only) and returns the public key as Zuora hands it out: base64
-- of the DER SubjectPublicKeyInfo, no PEM armour.
function M.public_key()
  if key then return public_b64 end
  local ctx = C.EVP_PKEY_CTX_new_id(EVP_PKEY_RSA, nil)
  local out = ffi.new("void *[1]")
  local good = ctx ~= nil and C.EVP_PKEY_keygen_init(ctx) == 1 and C.EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, M.BITS) == 1
    and C.EVP_PKEY_keygen(ctx, out) == 1
  if ctx ~= nil then C.EVP_PKEY_CTX_free(ctx) end
  if not good then error("zuora-sim: RSA key generation failed") end
  key = ffi.gc(out[0], C.EVP_PKEY_free)
  local der = ffi.new("unsigned char *[1]")
  local n = C.i2d_PUBKEY(key, der)
  if n <= 0 then error("zuora-sim: cannot encode the public key") end
  public_b64 = ngx.encode_base64(ffi.string(der[0], n))
  C.CRYPTO_free(der[0], nil, 0)
  local bio = C.BIO_new(C.BIO_s_mem())
  if bio ~= nil and C.PEM_write_bio_PUBKEY(bio, key) == 1 then public_pem = bio_string(bio) end
  if bio ~= nil then C.BIO_free(bio) end
  return public_b64
end

--- The public key as PEM (made with the pair).
function M.public_pem()
  M.public_key()
  return public_pem
end

--- Base64 of the PKCS#1 type-1 block of `data` under the private key; nil, err when data is too
-- long for the key (Zuora then answers a null signature).
function M.private_encrypt(data)
  M.public_key()
  local ctx = C.EVP_PKEY_CTX_new(key, nil)
  local size = C.EVP_PKEY_get_size(key)
  local out, len = ffi.new("unsigned char[?]", size), ffi.new("size_t[1]", size)
  local good = ctx ~= nil and C.EVP_PKEY_sign_init(ctx) == 1
    and C.EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 and C.EVP_PKEY_sign(ctx, out, len, data, #data) == 1
  if ctx ~= nil then C.EVP_PKEY_CTX_free(ctx) end
  if not good then return fail("data too long for the key") end
  return ngx.encode_base64(ffi.string(out, len[0]))
end

--- Base64 of the SHA512withRSA signature of `data`.
function M.sign(data)
  M.public_key()
  local md = C.EVP_MD_CTX_new()
  local size = C.EVP_PKEY_get_size(key)
  local out, len = ffi.new("unsigned char[?]", size), ffi.new("size_t[1]", size)
  local good = md ~= nil and C.EVP_DigestSignInit(md, nil, C.EVP_sha512(), nil, key) == 1
    and C.EVP_DigestSign(md, out, len, data, #data) == 1
  if md ~= nil then C.EVP_MD_CTX_free(md) end
  if not good then return fail("signing failed") end
  return ngx.encode_base64(ffi.string(out, len[0]))
end

--- The data of a private_encrypt block, with the public key `public` (base64 DER or PEM, as a
-- caller of /v1/rsa-signatures/decrypt gives it); nil, err when either does not parse or match.
function M.public_decrypt(public, signature_b64)
  local pkey
  if public:find("^%-%-%-%-%-BEGIN ") then
    local bio = C.BIO_new_mem_buf(public, #public)
    if bio == nil then return fail("out of memory") end
    pkey = C.PEM_read_bio_PUBKEY(bio, nil, nil, nil)
    C.BIO_free(bio)
  else
    local der = ngx.decode_base64((public:gsub("%s", "")))
    if not der then return fail("publicKey is not base64") end
    local p = ffi.new("const unsigned char *[1]", ffi.cast("const unsigned char *", der))
    pkey = C.d2i_PUBKEY(nil, p, #der)
  end
  if pkey == nil then return fail("publicKey is not an RSA public key") end
  pkey = ffi.gc(pkey, C.EVP_PKEY_free)
  local sig = ngx.decode_base64((signature_b64:gsub(" ", "+")))
  local size = C.EVP_PKEY_get_size(pkey)
  if not sig or #sig ~= size then return fail("signature is not base64 of the key's size") end
  local ctx = C.EVP_PKEY_CTX_new(pkey, nil)
  local out, len = ffi.new("unsigned char[?]", size), ffi.new("size_t[1]", size)
  local good = ctx ~= nil and C.EVP_PKEY_verify_recover_init(ctx) == 1
    and C.EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1
    and C.EVP_PKEY_verify_recover(ctx, out, len, sig, #sig) == 1
  if ctx ~= nil then C.EVP_PKEY_CTX_free(ctx) end
  if not good then return fail("signature does not match the public key") end
  return ffi.string(out, len[0])
end

return M
