/* libFuzzer target for core.auth's token replies (src/auth.c, src/auth_reply.c): `make fuzz-auth`. The first byte
 * picks the mode (OAuth or Revenue) and the status; the rest is "<header lines>\n\n<body>" (no
 * blank line: all body). Each input gets a fresh auth object that already holds a known token
 * from a good reply, then the fuzzed reply goes through zz_auth_accept_response as the transport
 * delivers it. Properties:
 *  - accepted: the new token is 1..16384 printable bytes and goes out in the credential header;
 *    the lifetime (expires_in, or a Revenue JWT's exp - iat) is a whole number of seconds in
 *    1..86400; the generation went up by one;
 *  - refused: the old token, its generation and its expiry are unchanged; the message is one
 *    line and never holds the client secret, the password, or the old token;
 *  - redact() of the input never leaves the secret or the current token in its output;
 *  - Revenue: the token header line is gone from the header lines afterwards.
 * A broken property, a Lua error or a memory error aborts. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "auth.h"
#include "buf.h"

#define FUZZ_NAME "auth"
#include "lua_target.h"

#define SECRET "fuzz-client-secret-7Qx"
#define PASSWORD "fuzz-password-9Kd"
#define OLD_TOKEN "old-token-3fA9b2"
#define NOW 1000.0

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fuzz_open(zz_open_auth);
  return 0;
}

static void setstr(const char *k, const char *v) {
  lua_pushstring(L, v);
  lua_setfield(L, -2, k);
}

/* Pushes a new auth object of the mode and returns it. */
static zz_auth *new_auth(int revenue) {
  lua_getfield(L, 1, "new");
  lua_createtable(L, 0, 5);
  if (revenue) {
    setstr("mode", "revenue");
    setstr("username", "fuzz-user");
    setstr("password", PASSWORD);
    setstr("token_url", "https://revenue.invalid/api/integration/v1/authenticate");
  } else {
    setstr("mode", "oauth");
    setstr("client_id", "fuzz-client");
    setstr("client_secret", SECRET);
    setstr("token_url", "https://rest.invalid/oauth/token");
  }
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) die(lua_tostring(L, -1));
  return zz_auth_check(L, -1);
}

/* obj:name(args already pushed after the object copy) with nargs arguments and nres results. */
static void method(int obj, const char *name, int nargs, int nres) {
  lua_getfield(L, obj, name);
  lua_insert(L, -1 - nargs);
  lua_pushvalue(L, obj);
  lua_insert(L, -1 - nargs);
  if (lua_pcall(L, nargs + 1, nres, 0) != LUA_OK) die(lua_tostring(L, -1));
}

static double expires_in(int obj) {
  double d;
  lua_pushnumber(L, NOW);
  method(obj, "expires_in", 1, 1);
  d = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : -1;
  lua_pop(L, 1);
  return d;
}

static long long generation(int obj) {
  long long g;
  method(obj, "generation", 0, 1);
  g = (long long)lua_tointeger(L, -1);
  lua_pop(L, 1);
  return g;
}

/* The credential header line the object would add now (pushed; nil when none). */
static const char *credential(int obj) {
  lua_pushnumber(L, NOW);
  method(obj, "headers", 1, 2);
  lua_pop(L, 1);
  if (!lua_istable(L, -1)) return NULL;
  lua_rawgeti(L, -1, 1);
  lua_remove(L, -2);
  return lua_tostring(L, -1);
}

static int contains(const char *s, size_t n, const char *needle) {
  size_t k = strlen(needle), i;
  for (i = 0; k <= n && i <= n - k; i++)
    if (memcmp(s + i, needle, k) == 0) return 1;
  return 0;
}

/* Does any stretch of s between "[redacted]" markers hold needle? (A marker's own letters may
 * spell a short token, so the markers themselves are not searched.) */
static int leaks(const char *s, size_t n, const char *needle) {
  static const char mark[] = "[redacted]";
  const size_t mn = sizeof mark - 1;
  size_t start = 0, i = 0;
  while (i <= n) {
    if (i == n || (n - i >= mn && memcmp(s + i, mark, mn) == 0)) {
      if (contains(s + start, i - start, needle)) return 1;
      if (i == n) break;
      i += mn;
      start = i;
    } else {
      i++;
    }
  }
  return 0;
}

static void check_redact(int obj, const uint8_t *data, size_t size, const char *secret, const char *token) {
  size_t n;
  const char *out;
  lua_pushlstring(L, (const char *)data, size);
  method(obj, "redact", 1, 1);
  out = lua_tolstring(L, -1, &n);
  if (leaks(out, n, secret)) die("redact left the secret");
  if (token && leaks(out, n, token)) die("redact left the token");
  lua_pop(L, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const long statuses[] = {200, 201, 204, 299, 400, 401, 403, 429, 500, 503, 199, 300};
  int revenue, obj, rc;
  long status;
  zz_auth *a;
  zz_buf hdrs = ZZ_BUF_INIT;
  const uint8_t *body = data, *sep;
  size_t bn = size;
  char err[512];
  const char *cred, *secret;
  double old_exp;
  long long gen;
  lua_settop(L, 1);
  if (size < 1) return 0;
  revenue = data[0] & 1;
  status = statuses[(data[0] >> 1) % (sizeof statuses / sizeof statuses[0])];
  body = data + 1;
  bn = size - 1;
  sep = bn >= 2 ? (const uint8_t *)memmem(body, bn, "\n\n", 2) : NULL;
  if (sep) {
    if (zz_buf_add(&hdrs, body, (size_t)(sep - body) + 1) != 0) abort();
    bn -= (size_t)(sep - body) + 2;
    body = sep + 2;
  }
  secret = revenue ? PASSWORD : SECRET;
  a = new_auth(revenue);
  obj = lua_gettop(L);

  /* A known token first, so a refused reply can be checked for leaving it alone. */
  if (revenue) {
    zz_buf h = ZZ_BUF_INIT;
    zz_buf_adds(&h, "HTTP/1.1 200 OK\r\nRevpro-Token: " OLD_TOKEN "\r\n\r\n");
    rc = zz_auth_accept_response(a, 200, &h, "", 0, NOW, err, sizeof err);
    zz_buf_wipe(&h);
  } else {
    static const char good[] = "{\"access_token\":\"" OLD_TOKEN "\",\"token_type\":\"bearer\",\"expires_in\":3599}";
    rc = zz_auth_accept_response(a, 200, NULL, good, sizeof good - 1, NOW, err, sizeof err);
  }
  if (rc != 0) die(err);
  old_exp = expires_in(obj);
  gen = generation(obj);

  err[0] = '\0';
  rc = zz_auth_accept_response(a, status, &hdrs, (const char *)body, bn, NOW, err, sizeof err);
  if (rc == 0) {
    double life = expires_in(obj);
    size_t tn, k;
    const char *tok;
    if (status < 200 || status > 299) die("accepted a reply with a non-2xx status");
    if (!(life >= 1 && life <= 86400) || life != floor(life)) die("lifetime outside 1..86400 or not whole");
    if (generation(obj) != gen + 1) die("generation did not go up by one");
    cred = credential(obj);
    if (!cred) die("no credential after an accepted reply");
    tok = strchr(cred, ' ');
    if (!tok) die("malformed credential line");
    if (!revenue) tok = strchr(tok + 1, ' '); /* "Authorization: Bearer <token>" */
    if (!tok) die("malformed credential line");
    tok++;
    tn = strlen(tok);
    if (tn == 0 || tn > 16384) die("token length outside 1..16384");
    for (k = 0; k < tn; k++)
      if ((unsigned char)tok[k] < 0x21 || (unsigned char)tok[k] > 0x7e) die("token has a byte outside 0x21..0x7e");
    check_redact(obj, data, size, secret, tok);
    lua_pop(L, 1);
  } else {
    size_t k, en = strlen(err);
    if (en == 0) die("refused without a message");
    for (k = 0; k < en; k++)
      if ((unsigned char)err[k] < 0x20 || (unsigned char)err[k] == 0x7f) die("control byte in the message");
    if (strstr(err, secret) || strstr(err, OLD_TOKEN)) die("message holds a secret or the old token");
    if (generation(obj) != gen || expires_in(obj) != old_exp) die("a refused reply changed the token");
    cred = credential(obj);
    if (!cred || !strstr(cred, OLD_TOKEN)) die("a refused reply lost the old token");
    lua_pop(L, 1);
    check_redact(obj, data, size, secret, OLD_TOKEN);
  }
  if (revenue && hdrs.p) {
    size_t i = 0;
    while (i < hdrs.n) {
      const char *line = hdrs.p + i, *eol = (const char *)memchr(line, '\n', hdrs.n - i);
      size_t len = eol ? (size_t)(eol - line) + 1 : hdrs.n - i;
      if (len > 12 && strncasecmp(line, "Revpro-Token", 12) == 0 && line[12] == ':') die("token header line left behind");
      i += len;
    }
  }
  zz_buf_wipe(&hdrs);
  lua_settop(L, 1);
  lua_gc(L, LUA_GCSTEP, 0);
  return 0;
}
