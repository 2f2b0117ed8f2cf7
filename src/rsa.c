/* core.rsa: checking RSA signatures with a public key (OpenSSL EVP), for Payment Pages 2.0
 * callbacks (lua/zuora/payment_pages.lua). Two operations:
 *  - verify: a PKCS#1 v1.5 signature over data with a digest (Zuora's advanced signature is
 *    SHA512withRSA);
 *  - recover: the data inside a PKCS#1 v1.5 type-1 block made with the private key (what Zuora's
 *    "SignatureDecrypter" undoes with the public key for the basic signature and the encrypted
 *    payment method id).
 * Every input comes from the network: keys (PEM, or the bare base64 DER Zuora returns as `key`),
 * signatures (base64) and data of any bytes. Anything malformed gives nil, err; only wrong
 * argument types raise. OpenSSL's error queue is cleared after every failure, so nothing is left
 * for the TLS code of libcurl to misread. */
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "base64.h"
#include "buf.h"
#include "core.h"

/* Bounds on what we parse: a key text of at most 16 KiB, RSA moduli of 1024..8192 bits. */
#define ZZ_RSA_MAX_KEY_TEXT (16 * 1024)
#define ZZ_RSA_MIN_BITS 1024
#define ZZ_RSA_MAX_BITS 8192
#define ZZ_RSA_MAX_BYTES (ZZ_RSA_MAX_BITS / 8)

/* Parses a public RSA key: PEM ("BEGIN PUBLIC KEY"), or base64 of a DER SubjectPublicKeyInfo
 * (Zuora's `key`) with any ASCII whitespace inside. Returns the key or NULL with *err set. */
static EVP_PKEY *parse_public_key(const char *s, size_t n, const char **err) {
  EVP_PKEY *pkey = NULL;
  int bits;
  if (n == 0 || n > ZZ_RSA_MAX_KEY_TEXT) {
    *err = "bad public key: empty or longer than 16 KiB";
    return NULL;
  }
  if (memchr(s, '\0', n)) {
    *err = "bad public key: contains a NUL byte";
    return NULL;
  }
  if (n >= 11 && memcmp(s, "-----BEGIN ", 11) == 0) {
    BIO *bio = BIO_new_mem_buf(s, (int)n);
    if (!bio) {
      *err = "out of memory";
      return NULL;
    }
    pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (!pkey) *err = "bad public key: not a PEM public key";
  } else {
    zz_buf text = ZZ_BUF_INIT, der = ZZ_BUF_INIT;
    size_t i;
    int rc = 0;
    for (i = 0; i < n && rc == 0; i++)
      if (!strchr(" \t\r\n", s[i])) rc = zz_buf_add(&text, s + i, 1);
    if (rc != 0) {
      *err = "out of memory";
    } else if (!text.p) {
      *err = "bad public key: empty";
    } else {
      rc = zz_b64_decode(text.p, text.n, ZZ_B64_STRICT, &der, NULL);
      if (rc == ZZ_B64_ENOMEM) {
        *err = "out of memory";
      } else if (rc != ZZ_B64_OK || der.n == 0) {
        *err = "bad public key: neither PEM nor base64";
      } else {
        const unsigned char *p = (const unsigned char *)der.p;
        pkey = d2i_PUBKEY(NULL, &p, (long)der.n);
        if (pkey && p != (const unsigned char *)der.p + der.n) {
          EVP_PKEY_free(pkey); /* trailing bytes after the key */
          pkey = NULL;
        }
        if (!pkey) *err = "bad public key: not a DER SubjectPublicKeyInfo";
      }
    }
    zz_buf_free(&text);
    zz_buf_free(&der);
  }
  if (!pkey) return NULL;
  if (EVP_PKEY_base_id(pkey) != EVP_PKEY_RSA) {
    EVP_PKEY_free(pkey);
    *err = "bad public key: not an RSA key";
    return NULL;
  }
  bits = EVP_PKEY_bits(pkey);
  if (bits < ZZ_RSA_MIN_BITS || bits > ZZ_RSA_MAX_BITS) {
    EVP_PKEY_free(pkey);
    *err = "bad public key: RSA modulus outside 1024..8192 bits";
    return NULL;
  }
  return pkey;
}

/* Decodes a base64 signature (standard alphabet, padded or not) into sig (room for
 * ZZ_RSA_MAX_BYTES); returns its length, or 0 with *err set. */
static size_t decode_signature(const char *s, size_t n, unsigned char *sig, const char **err) {
  zz_buf b = ZZ_BUF_INIT;
  size_t len = 0;
  int rc;
  if (n == 0 || n > (ZZ_RSA_MAX_BYTES / 3 + 1) * 4) {
    *err = "bad signature: empty or too long";
    return 0;
  }
  rc = zz_b64_decode(s, n, ZZ_B64_STRICT, &b, NULL);
  if (rc == ZZ_B64_ENOMEM) *err = "out of memory";
  else if (rc != ZZ_B64_OK) *err = "bad signature: invalid base64";
  else if (b.n == 0 || b.n > ZZ_RSA_MAX_BYTES) *err = "bad signature: wrong length";
  else {
    memcpy(sig, b.p, b.n);
    len = b.n;
  }
  zz_buf_free(&b);
  return len;
}

/* The key and the decoded signature (whose length must be the modulus's), or NULL with *err set. */
static EVP_PKEY *load(const char *key, size_t kn, const char *sigtext, size_t sn, unsigned char *sig, size_t *siglen,
                      const char **err) {
  EVP_PKEY *pkey;
  if (!(*siglen = decode_signature(sigtext, sn, sig, err))) return NULL;
  if (!(pkey = parse_public_key(key, kn, err))) return NULL;
  if (*siglen != (size_t)EVP_PKEY_get_size(pkey)) {
    EVP_PKEY_free(pkey);
    *err = "bad signature: its length is not the key's";
    return NULL;
  }
  return pkey;
}

static int fail(lua_State *L, const char *err) {
  ERR_clear_error();
  lua_pushnil(L);
  lua_pushstring(L, err);
  return 2;
}

/* rsa.verify(public_key, data, signature_base64 [, digest = "sha512"]) -> true | nil, err */
static int l_verify(lua_State *L) {
  static const char *const digests[] = {"sha512", "sha256", NULL};
  size_t kn, dn, sn, siglen;
  const char *key = luaL_checklstring(L, 1, &kn);
  const char *data = luaL_checklstring(L, 2, &dn);
  const char *sigtext = luaL_checklstring(L, 3, &sn);
  int which = luaL_checkoption(L, 4, "sha512", digests);
  unsigned char sig[ZZ_RSA_MAX_BYTES];
  const char *err = NULL;
  EVP_PKEY *pkey;
  EVP_MD_CTX *md;
  int rc = -1;
  if (!(pkey = load(key, kn, sigtext, sn, sig, &siglen, &err))) return fail(L, err);
  md = EVP_MD_CTX_new();
  if (md && EVP_DigestVerifyInit(md, NULL, which == 0 ? EVP_sha512() : EVP_sha256(), NULL, pkey) == 1)
    rc = EVP_DigestVerify(md, sig, siglen, (const unsigned char *)data, dn);
  EVP_MD_CTX_free(md);
  EVP_PKEY_free(pkey);
  if (rc != 1) return fail(L, rc == 0 ? "signature does not verify" : "signature does not verify (malformed)");
  lua_pushboolean(L, 1);
  return 1;
}

/* rsa.recover(public_key, signature_base64) -> data | nil, err: the data of a PKCS#1 v1.5 type-1
 * block (RSA "encryption" with the private key), which only the key pair's owner can make. */
static int l_recover(lua_State *L) {
  size_t kn, sn, siglen, outlen = ZZ_RSA_MAX_BYTES;
  const char *key = luaL_checklstring(L, 1, &kn);
  const char *sigtext = luaL_checklstring(L, 2, &sn);
  unsigned char sig[ZZ_RSA_MAX_BYTES], out[ZZ_RSA_MAX_BYTES];
  const char *err = NULL;
  EVP_PKEY *pkey;
  EVP_PKEY_CTX *ctx;
  int rc = -1;
  if (!(pkey = load(key, kn, sigtext, sn, sig, &siglen, &err))) return fail(L, err);
  ctx = EVP_PKEY_CTX_new(pkey, NULL);
  if (ctx && EVP_PKEY_verify_recover_init(ctx) == 1 && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1)
    rc = EVP_PKEY_verify_recover(ctx, out, &outlen, sig, siglen);
  EVP_PKEY_CTX_free(ctx);
  EVP_PKEY_free(pkey);
  if (rc != 1) return fail(L, "signature does not verify");
  lua_pushlstring(L, (const char *)out, outlen);
  return 1;
}

int zz_open_rsa(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"verify", l_verify},
    {"recover", l_recover},
    {NULL, NULL},
  };
  lua_newtable(L);
  luaL_setfuncs(L, fns, 0);
  return 1;
}
