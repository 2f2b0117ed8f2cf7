/* core.crypto: random ids and bytes from OpenSSL's CSPRNG, SHA-256, HMAC-SHA256, hex and base64,
 * and a constant-time comparison. Everything takes and returns Lua strings of raw bytes. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <string.h>

#include "base64.h"
#include "core.h"

/* The largest random(n) we hand out in one call; more is a programming mistake. */
#define ZZ_RANDOM_MAX (1024 * 1024)

static int l_uuid4(lua_State *L) {
  static const char hexd[] = "0123456789abcdef";
  unsigned char r[16];
  char out[36];
  int i, j = 0;
  if (RAND_bytes(r, sizeof r) != 1) return luaL_error(L, "crypto.uuid4: RAND_bytes failed");
  r[6] = (unsigned char)((r[6] & 0x0f) | 0x40); /* version 4 */
  r[8] = (unsigned char)((r[8] & 0x3f) | 0x80); /* RFC 4122 variant */
  for (i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out[j++] = '-';
    out[j++] = hexd[r[i] >> 4];
    out[j++] = hexd[r[i] & 15];
  }
  lua_pushlstring(L, out, sizeof out);
  return 1;
}

static int l_random(lua_State *L) {
  lua_Number n = luaL_checknumber(L, 1);
  unsigned char *p;
  size_t len;
  if (!(n >= 0 && n <= ZZ_RANDOM_MAX) || n != (lua_Number)(size_t)n)
    return luaL_argerror(L, 1, "expected an integer between 0 and 1048576");
  len = (size_t)n;
  p = (unsigned char *)zz_newudata(L, len ? len : 1); /* scratch owned by the GC */
  if (len && RAND_bytes(p, (int)len) != 1) return luaL_error(L, "crypto.random: RAND_bytes failed");
  lua_pushlstring(L, (const char *)p, len);
  return 1;
}

static int l_sha256(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  if (EVP_Digest(s, n, md, &mdlen, EVP_sha256(), NULL) != 1)
    return luaL_error(L, "crypto.sha256: digest failed");
  lua_pushlstring(L, (const char *)md, mdlen);
  return 1;
}

static int l_hmac_sha256(lua_State *L) {
  size_t kn, n;
  const char *k = luaL_checklstring(L, 1, &kn);
  const char *s = luaL_checklstring(L, 2, &n);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  if (kn > 0x7fffffff) return luaL_argerror(L, 1, "key too long");
  if (!HMAC(EVP_sha256(), k, (int)kn, (const unsigned char *)s, n, md, &mdlen))
    return luaL_error(L, "crypto.hmac_sha256: HMAC failed");
  lua_pushlstring(L, (const char *)md, mdlen);
  OPENSSL_cleanse(md, sizeof md);
  return 1;
}

/* hmac(algorithm, key, data): HMAC with one of the digests callers configure by name ("sha1",
 * "sha256", "sha384", "sha512"; case-insensitive, "SHA-256" accepted); an unknown name is the
 * caller's mistake and raises. */
static int l_hmac(lua_State *L) {
  static const struct { const char *name; const EVP_MD *(*md)(void); } known[] = {
    {"sha1", EVP_sha1}, {"sha256", EVP_sha256}, {"sha384", EVP_sha384}, {"sha512", EVP_sha512},
  };
  size_t an, kn, n, i, j = 0;
  const char *a = luaL_checklstring(L, 1, &an);
  const char *k = luaL_checklstring(L, 2, &kn);
  const char *s = luaL_checklstring(L, 3, &n);
  const EVP_MD *md = NULL;
  char name[8];
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int outlen = 0;
  for (i = 0; i < an && j < sizeof name - 1; i++) {
    char c = a[i];
    if (c == '-') continue;
    name[j++] = (char)((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
  }
  name[j] = '\0';
  if (i == an)
    for (i = 0; i < sizeof known / sizeof known[0]; i++)
      if (strcmp(name, known[i].name) == 0) md = known[i].md();
  if (!md) return luaL_argerror(L, 1, "expected sha1, sha256, sha384 or sha512");
  if (kn > 0x7fffffff) return luaL_argerror(L, 2, "key too long");
  if (!HMAC(md, k, (int)kn, (const unsigned char *)s, n, out, &outlen))
    return luaL_error(L, "crypto.hmac: HMAC failed");
  lua_pushlstring(L, (const char *)out, outlen);
  OPENSSL_cleanse(out, sizeof out);
  return 1;
}

static int l_hex(lua_State *L) {
  static const char hexd[] = "0123456789abcdef";
  size_t n, i;
  const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (i = 0; i < n; i++) {
    luaL_addchar(&b, hexd[s[i] >> 4]);
    luaL_addchar(&b, hexd[s[i] & 15]);
  }
  luaL_pushresult(&b);
  return 1;
}

static int l_base64(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  zz_buf b = ZZ_BUF_INIT;
  if (zz_b64_encode(&b, s, n) != 0) {
    zz_buf_free(&b);
    return luaL_error(L, "crypto.base64: out of memory");
  }
  lua_pushlstring(L, b.p ? b.p : "", b.n);
  zz_buf_free(&b);
  return 1;
}

/* Strict standard-alphabet decoding (ZZ_B64_STRICT): one encoding per value. */
static int l_unbase64(lua_State *L) {
  size_t n, at = 0;
  const char *s = luaL_checklstring(L, 1, &n);
  zz_buf b = ZZ_BUF_INIT;
  int rc = zz_b64_decode(s, n, ZZ_B64_STRICT, &b, &at);
  if (rc == ZZ_B64_ENOMEM) {
    zz_buf_free(&b);
    return luaL_error(L, "crypto.unbase64: out of memory");
  }
  if (rc != ZZ_B64_OK) {
    zz_buf_free(&b);
    lua_pushnil(L);
    if (rc == ZZ_B64_ECHAR) lua_pushfstring(L, "invalid base64: unexpected character at offset %d", (int)at);
    else lua_pushfstring(L, "invalid base64: %s", zz_b64_error(rc));
    return 2;
  }
  lua_pushlstring(L, b.p ? b.p : "", b.n);
  zz_buf_free(&b);
  return 1;
}

/* Equal-length strings are compared in constant time; a length difference is not secret. */
static int l_equal(lua_State *L) {
  size_t an, bn;
  const char *a = luaL_checklstring(L, 1, &an);
  const char *b = luaL_checklstring(L, 2, &bn);
  lua_pushboolean(L, an == bn && CRYPTO_memcmp(a, b, an) == 0);
  return 1;
}

int zz_open_crypto(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"uuid4", l_uuid4},
    {"random", l_random},
    {"sha256", l_sha256},
    {"hmac_sha256", l_hmac_sha256},
    {"hmac", l_hmac},
    {"hex", l_hex},
    {"base64", l_base64},
    {"unbase64", l_unbase64},
    {"equal", l_equal},
    {NULL, NULL},
  };
  lua_newtable(L);
  luaL_setfuncs(L, fns, 0);
  return 1;
}
