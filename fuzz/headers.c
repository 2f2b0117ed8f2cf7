/* libFuzzer target for response header handling: `make fuzz-headers`. The input is what a
 * server sends as its header block. It is cut into lines the way libcurl hands them over (each
 * ends at its '\n'; a last piece without one comes as is) and fed to the transfer's header
 * callback (src/http_xfer.c), then the collected lines become the result's header table
 * (src/http_headers.c), as a finished transfer does. Then a Revenue auth object takes its token
 * header out of the same lines (src/auth.c, zz_auth_accept_response). Properties:
 *  - the callback keeps at most ZZ_HTTP_MAX_HEADER_BYTES and ZZ_HTTP_MAX_HEADER_LINES, and refuses (returns
 *    something other than the line's length) exactly when a line would go past them;
 *  - table keys are non-empty, lower-case, under 128 bytes, without ':' or line breaks; values
 *    have no line break and no blank at either end;
 *  - looking one name up in the raw lines (zz_http_push_header, what the client does instead of
 *    building the table) gives the table's value for every key, in upper case too, and nil for
 *    names the table does not have;
 *  - looking several up in one pass (zz_http_push_header_names) gives what one-name lookups give;
 *  - after the token is taken, no line names the token header any more and the table has no
 *    such key, so the token never reaches Lua.
 * A broken property, a Lua error or a memory error aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "auth.h"
#include "http.h"

#define FUZZ_NAME "headers"
#include "lua_target.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fuzz_open(zz_open_auth);
  return 0;
}

/* A fresh Revenue auth object on the stack (the token is per object, so inputs stay independent). */
static zz_auth *new_revenue(void) {
  lua_getfield(L, 1, "new");
  lua_createtable(L, 0, 4);
  lua_pushliteral(L, "revenue");
  lua_setfield(L, -2, "mode");
  lua_pushliteral(L, "fuzz-user");
  lua_setfield(L, -2, "username");
  lua_pushliteral(L, "fuzz-password");
  lua_setfield(L, -2, "password");
  lua_pushliteral(L, "https://revenue.invalid/api/integration/v1/authenticate");
  lua_setfield(L, -2, "token_url");
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) die(lua_tostring(L, -1));
  return zz_auth_check(L, -1);
}

/* Length of the line at p, through its '\n' (the rest, when there is none). */
static size_t line_len(const char *p, size_t left) {
  const char *nl = (const char *)memchr(p, '\n', left);
  return nl ? (size_t)(nl - p) + 1 : left;
}

/* Does the one-name lookup in h give `want` (NULL: nil)? */
static int lookup_is(const zz_buf *h, const char *name, size_t n, const char *want, size_t wn) {
  size_t gn;
  const char *got;
  int same;
  zz_http_push_header(L, h->p, h->n, name, n);
  got = lua_tolstring(L, -1, &gn);
  same = want ? (got && gn == wn && memcmp(got, want, wn) == 0) : got == NULL;
  lua_pop(L, 1);
  return same;
}

static void check_table(int t, const zz_buf *h) {
  char upper[128];
  lua_pushnil(L);
  while (lua_next(L, t) != 0) {
    size_t kn, vn, i;
    const char *k, *v;
    if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING) die("a key or value that is not a string");
    k = lua_tolstring(L, -2, &kn);
    v = lua_tolstring(L, -1, &vn);
    if (kn == 0 || kn >= 128) die("header name empty or too long");
    for (i = 0; i < kn; i++)
      if ((k[i] >= 'A' && k[i] <= 'Z') || k[i] == ':' || k[i] == '\n') die("header name not lower-case or has ':' or LF");
    if (memchr(v, '\n', vn)) die("header value has a line feed");
    if (vn && (v[0] == ' ' || v[0] == '\t' || v[vn - 1] == ' ' || v[vn - 1] == '\t')) die("header value not trimmed");
    if (!lookup_is(h, k, kn, v, vn)) die("one-name lookup differs from the table");
    for (i = 0; i < kn; i++) upper[i] = (char)((k[i] >= 'a' && k[i] <= 'z') ? k[i] - 32 : k[i]);
    if (!lookup_is(h, upper, kn, v, vn)) die("one-name lookup differs from the table (upper case)");
    lua_pop(L, 1);
  }
}

/* Names from the input itself (each line's text up to its first colon, up to 127 bytes) that the
 * table lacks must not be found by the one-name lookup either. */
static void check_absent(int t, const zz_buf *h) {
  size_t i = 0;
  while (h->p && i < h->n) {
    const char *line = h->p + i;
    size_t len = line_len(line, h->n - i), k;
    char lower[128];
    for (k = 0; k < len && k < sizeof lower && line[k] != ':'; k++)
      lower[k] = (char)((line[k] >= 'A' && line[k] <= 'Z') ? line[k] + 32 : line[k]);
    if (k > 0 && k < sizeof lower) {
      lua_pushlstring(L, lower, k);
      lua_rawget(L, t);
      if (lua_isnil(L, -1) && !lookup_is(h, lower, k, NULL, 0)) die("one-name lookup found a name the table lacks");
      lua_pop(L, 1);
    }
    i += len;
  }
}

/* Up to ZZ_HEADER_NAMES_MAX - 1 of the table's keys and one absent name, looked up in one pass,
 * give what one-name lookups give. */
static void check_names(int t, const zz_buf *h) {
  const char *names[ZZ_HEADER_NAMES_MAX];
  size_t ns[ZZ_HEADER_NAMES_MAX];
  int count = 0, i, base;
  lua_pushnil(L);
  while (count < ZZ_HEADER_NAMES_MAX - 1 && lua_next(L, t) != 0) {
    names[count] = lua_tolstring(L, -2, &ns[count]); /* the table keeps the key alive */
    count++;
    lua_pop(L, 1);
  }
  if (count == ZZ_HEADER_NAMES_MAX - 1) lua_pop(L, 1); /* the key lua_next left */
  names[count] = "x-fuzz-absent";
  ns[count] = strlen(names[count]);
  count++;
  base = lua_gettop(L);
  zz_http_push_header_names(L, h->p, h->n, names, ns, count);
  for (i = 0; i < count; i++) {
    size_t wn = 0;
    const char *want = lua_tolstring(L, base + 1 + i, &wn);
    if (!lookup_is(h, names[i], ns[i], want, wn)) die("several-name lookup differs from one-name lookups");
  }
  lua_settop(L, base);
}

/* Does any line of h start with "<name>:" (any case)? */
static int has_line(const zz_buf *h, const char *name) {
  size_t nl = strlen(name), i = 0;
  while (h->p && i < h->n) {
    const char *line = h->p + i;
    size_t len = line_len(line, h->n - i);
    if (len > nl && strncasecmp(line, name, nl) == 0 && line[nl] == ':') return 1;
    i += len;
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  zz_xfer x;
  zz_auth *a;
  size_t pos = 0;
  long status = 200;
  char err[256];
  int refused = 0;
  lua_settop(L, 1);
  if (size > 0) status = 100 + data[0] % 5 * 100 + data[0] / 5 % 3; /* 1xx..5xx: 100 101 102 200 ... */
  memset(&x, 0, sizeof x);
  while (pos < size) {
    size_t len = line_len((const char *)data + pos, size - pos);
    size_t before_n = x.hdrs.n, before_lines = x.header_lines, got;
    int restart = len >= 5 && memcmp(data + pos, "HTTP/", 5) == 0;
    /* the callback gets a private copy, exactly len bytes, as libcurl's buffer would be */
    char *line = (char *)malloc(len);
    if (!line) abort();
    memcpy(line, data + pos, len);
    got = zz_http_header_cb(line, 1, len, &x);
    free(line);
    if (restart) before_n = 0, before_lines = 0;
    if (got != len) {
      if (before_lines + 1 <= ZZ_HTTP_MAX_HEADER_LINES && len <= (size_t)ZZ_HTTP_MAX_HEADER_BYTES - before_n)
        die("callback refused a line within the limits");
      if (x.abort_reason != ZZ_HTTP_ABORT_HEADERS) die("callback refused a line without saying why");
      refused = 1;
      break;
    }
    if (before_lines + 1 > ZZ_HTTP_MAX_HEADER_LINES || len > (size_t)ZZ_HTTP_MAX_HEADER_BYTES - before_n)
      die("callback took a line past the limits");
    pos += len;
  }
  /* a refused line is counted but not kept */
  if (x.hdrs.n > ZZ_HTTP_MAX_HEADER_BYTES || x.header_lines > (size_t)ZZ_HTTP_MAX_HEADER_LINES + (size_t)refused) die("limits exceeded");
  if (!refused && pos != size) die("lost input");

  zz_http_push_headers(L, x.hdrs.p, x.hdrs.n);
  check_table(lua_gettop(L), &x.hdrs);
  check_absent(lua_gettop(L), &x.hdrs);
  check_names(lua_gettop(L), &x.hdrs);
  lua_pop(L, 1);

  /* The revenue token header leaves the lines before they become a table. */
  a = new_revenue();
  zz_auth_accept_response(a, status, &x.hdrs, "", 0, 1000.0, err, sizeof err);
  if (has_line(&x.hdrs, "Revpro-Token")) die("token header line left in the headers");
  if (x.hdrs.p && strlen(x.hdrs.p) > x.hdrs.n) die("header buffer not terminated at its length");
  zz_http_push_headers(L, x.hdrs.p, x.hdrs.n);
  check_table(lua_gettop(L), &x.hdrs);
  lua_getfield(L, -1, "revpro-token");
  if (!lua_isnil(L, -1)) die("token header in the Lua table");
  zz_buf_wipe(&x.hdrs);
  lua_settop(L, 1);
  lua_gc(L, LUA_GCSTEP, 0);
  return 0;
}
