/* libFuzzer target for core.rsa (src/rsa.c): `make fuzz-rsa`. The first byte picks the key: even,
 * the fixed 1024-bit key below (the rest of the input is the signature); odd, a key from the
 * input itself (up to the first NUL; what follows is the signature). Each input goes through
 * verify (sha512 and sha256) and recover, called the way Lua calls them. Properties:
 *  - nothing raises: every result is true or a string, or nil and a one-line message;
 *  - OpenSSL's error queue is empty after every call (nothing left for libcurl's TLS to misread);
 *  - with the fixed key, the one SHA512withRSA signature of "fuzz" that verifies is GOOD_SIG
 *    (PKCS#1 v1.5 is deterministic and base64 decoding is strict: one encoding per value), and
 *    recover gives at most modulus - 11 bytes.
 * A broken property, a Lua error or a memory error aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>

#define FUZZ_NAME "rsa"
#include "lua_target.h"

static const char KEY[] =
  "-----BEGIN PUBLIC KEY-----\n"
  "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQCmzUMow1viDn7/lX2XhH48vR7g\n"
  "hpLCCyGtHpQBRzETGjbrw5qIbIvgB/Wrmajy2C3xyaFxaJddBkwzert9754Iq/Zr\n"
  "1mZaLD3wg0y3B1ZFYctmTUr97P/UaTTSp7sppoH2C+ElvODXTCnObYuQKXFo8EtG\n"
  "Q1ScCqElqlPx51K0tQIDAQAB\n"
  "-----END PUBLIC KEY-----\n";
static const char GOOD_SIG[] =
  "VNrNGBsrYJH/TDGpHKy7mTFxZIQTfV/5RfM/gRQuOVODE7LF8lgwn0bLGioDVZEBWT4ii4JPigAQn9mOmCZS1iekaRFaxTy5Wl9pZcdPKClAGxs1"
  "VynjTgCyRLWbxqKX138M3Losnj0gdoiUXXkefaArIAHjVElkYtrHoO8IELY=";

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fuzz_open(zz_open_rsa);
  return 0;
}

/* rsa[fn](key, [data,] sig [, digest]): returns 1 when it succeeded (result left on the stack). */
static int call(const char *fn, const char *key, size_t kn, const char *sig, size_t sn, const char *digest) {
  int nargs = 2, ok;
  lua_getfield(L, 1, fn);
  lua_pushlstring(L, key, kn);
  if (digest) {
    lua_pushliteral(L, "fuzz");
    nargs++;
  }
  lua_pushlstring(L, sig, sn);
  if (digest) {
    lua_pushstring(L, digest);
    nargs++;
  }
  if (lua_pcall(L, nargs, 2, 0) != LUA_OK) {
    fprintf(stderr, "rsa.%s raised: %s\n", fn, lua_tostring(L, -1));
    abort();
  }
  if (ERR_peek_error() != 0) die("OpenSSL error queue left non-empty");
  if (lua_isnil(L, -2)) {
    size_t mn;
    const char *m = lua_tolstring(L, -1, &mn);
    if (!m || mn == 0 || memchr(m, '\n', mn)) die("failure without a one-line message");
    ok = 0;
  } else {
    if (strcmp(fn, "recover") == 0 ? lua_type(L, -2) != LUA_TSTRING : lua_toboolean(L, -2) != 1)
      die("success of the wrong type");
    ok = 1;
  }
  return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *p = (const char *)data + 1, *key = KEY, *sig;
  size_t kn = sizeof KEY - 1, sn;
  int fixed;
  if (size < 1) return 0;
  fixed = (data[0] & 1) == 0;
  if (fixed) {
    sig = p, sn = size - 1;
  } else {
    const char *nul = (const char *)memchr(p, '\0', size - 1);
    key = p, kn = nul ? (size_t)(nul - p) : size - 1;
    sig = nul ? nul + 1 : p + kn, sn = size - 1 - kn - (nul ? 1 : 0);
  }
  lua_settop(L, 1);
  if (call("verify", key, kn, sig, sn, "sha512") && fixed &&
      (sn != sizeof GOOD_SIG - 1 || memcmp(sig, GOOD_SIG, sn) != 0))
    die("a signature other than GOOD_SIG verifies under the fixed key");
  lua_settop(L, 1);
  call("verify", key, kn, sig, sn, "sha256");
  lua_settop(L, 1);
  if (call("recover", key, kn, sig, sn, NULL) && fixed && lua_rawlen(L, -2) > 128 - 11)
    die("recover gave more than the modulus allows");
  lua_settop(L, 1);
  return 0;
}
