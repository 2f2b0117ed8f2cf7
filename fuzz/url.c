/* libFuzzer target for core.url (src/url.c): `make fuzz-url`. Every input goes through each
 * function, called the way Lua calls them:
 *  - escape gives only unreserved bytes and %XX (upper-case hex), and unescape gives the input back;
 *  - unescape either succeeds with no more bytes than it was given, or names an offset;
 *  - a query that decodes re-encodes to a query that decodes to the same table, and encoding
 *    that table again gives the same text (encode_query is canonical);
 *  - parse either fails with a message or gives scheme, host and path, and then origin works;
 *  - is_loopback answers a boolean for any bytes.
 * A broken property, a Lua error or a memory error aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_NAME "url"
#include "lua_target.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fuzz_open(zz_open_url);
  return 0;
}

/* Calls url[fn] with the value at index arg; leaves nres results on the stack. A Lua error is a
 * finding: these functions take any string. */
static void call(const char *fn, int arg, int nres) {
  arg = lua_absindex(L, arg);
  lua_getfield(L, 1, fn);
  lua_pushvalue(L, arg);
  if (lua_pcall(L, 1, nres, 0) != LUA_OK) {
    fprintf(stderr, "url.%s raised: %s\n", fn, lua_tostring(L, -1));
    abort();
  }
}

static int is_hex_upper(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

static void check_escape(int s) {
  size_t n, en, i;
  const char *in = lua_tolstring(L, s, &n), *e, *back;
  call("escape", s, 1);
  e = lua_tolstring(L, -1, &en);
  for (i = 0; i < en; i++) {
    char c = e[i];
    if (c == '%') {
      if (en - i < 3 || !is_hex_upper(e[i + 1]) || !is_hex_upper(e[i + 2])) die("escape: bad %XX");
      i += 2;
    } else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                 c == '.' || c == '_' || c == '~')) {
      die("escape: left a reserved byte");
    }
  }
  call("unescape", -1, 2);
  if (!lua_isnil(L, -1)) die("unescape(escape(s)) failed");
  back = lua_tolstring(L, -2, &en);
  if (!back || en != n || memcmp(back, in, n) != 0) die("unescape(escape(s)) ~= s");
  lua_pop(L, 3);
}

static void check_unescape(int s) {
  size_t n, un;
  lua_tolstring(L, s, &n);
  call("unescape", s, 2);
  if (lua_isnil(L, -2)) {
    const char *err = lua_tostring(L, -1);
    if (!err || !strstr(err, "at offset ")) die("unescape: failure without an offset");
  } else {
    if (!lua_isnil(L, -1)) die("unescape: a value and an error");
    lua_tolstring(L, -2, &un);
    if (un > n) die("unescape: longer than its input");
  }
  lua_pop(L, 2);
}

/* Tables from decode_query: string keys, values a string or an array (two or more) of strings. */
static int same_value(int a, int b) {
  size_t i, n;
  if (lua_type(L, a) != lua_type(L, b)) return 0;
  if (lua_type(L, a) == LUA_TSTRING) return lua_rawequal(L, a, b);
  if (lua_type(L, a) != LUA_TTABLE) return 0;
  n = (size_t)lua_rawlen(L, a);
  if (n < 2 || n != (size_t)lua_rawlen(L, b)) return 0;
  for (i = 1; i <= n; i++) {
    int eq;
    lua_rawgeti(L, a, (int)i);
    lua_rawgeti(L, b, (int)i);
    eq = lua_type(L, -1) == LUA_TSTRING && lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    if (!eq) return 0;
  }
  return 1;
}

static int same_query(int a, int b) {
  size_t na = 0, nb = 0;
  a = lua_absindex(L, a);
  b = lua_absindex(L, b);
  lua_pushnil(L);
  while (lua_next(L, a) != 0) {
    int eq;
    na++;
    if (lua_type(L, -2) != LUA_TSTRING) die("decode_query: a key that is not a string");
    lua_pushvalue(L, -2);
    lua_rawget(L, b);
    eq = same_value(lua_gettop(L) - 1, lua_gettop(L));
    lua_pop(L, 2);
    if (!eq) return 0;
  }
  lua_pushnil(L);
  while (lua_next(L, b) != 0) {
    nb++;
    lua_pop(L, 1);
  }
  return na == nb;
}

/* Calls url[fn] on the value at arg, for a function that answers a value or nil and a message.
 * Returns 1 with the value on top of the stack; on a failure checks it has a message, resets the
 * stack to `top` and returns 0. */
static int call_value(const char *fn, int arg, int top) {
  call(fn, arg, 2);
  if (lua_isnil(L, -2)) {
    if (!lua_isstring(L, -1)) {
      char msg[64];
      snprintf(msg, sizeof msg, "%s: failure without a message", fn);
      die(msg);
    }
    lua_settop(L, top);
    return 0;
  }
  lua_pop(L, 1);
  return 1;
}

static void check_query(int s) {
  int top = lua_gettop(L), t, enc;
  size_t n1, n2;
  const char *e1, *e2;
  if (!call_value("decode_query", s, top)) return;
  t = lua_gettop(L);
  call("encode_query", t, 1);
  enc = lua_gettop(L);
  call("decode_query", enc, 2);
  if (lua_isnil(L, -2)) die("decode_query(encode_query(t)) failed");
  lua_pop(L, 1);
  if (!same_query(t, -1)) die("decode_query(encode_query(t)) ~= t");
  call("encode_query", -1, 1);
  e1 = lua_tolstring(L, enc, &n1);
  e2 = lua_tolstring(L, -1, &n2);
  if (n1 != n2 || memcmp(e1, e2, n1) != 0) die("encode_query is not canonical");
  lua_settop(L, top);
}

static void check_parse(int s) {
  int top = lua_gettop(L), u;
  const char *origin, *scheme;
  if (!call_value("parse", s, top)) return;
  u = lua_gettop(L);
  lua_getfield(L, u, "scheme");
  lua_getfield(L, u, "host");
  lua_getfield(L, u, "path");
  if (!lua_isstring(L, -3) || !lua_isstring(L, -2) || !lua_isstring(L, -1)) die("parse: scheme, host or path missing");
  scheme = lua_tostring(L, -3);
  call("is_loopback", -2, 1);
  if (!lua_isboolean(L, -1)) die("is_loopback: not a boolean");
  call("origin", s, 2);
  origin = lua_tostring(L, -2);
  if (!origin || strncmp(origin, scheme, strlen(scheme)) != 0 || !strstr(origin, "://"))
    die("origin: not scheme://host:port for a URL that parses");
  lua_settop(L, top);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  int s;
  lua_settop(L, 1);
  lua_pushlstring(L, (const char *)data, size);
  s = lua_gettop(L);
  check_escape(s);
  check_unescape(s);
  check_query(s);
  check_parse(s);
  call("is_loopback", s, 1);
  if (!lua_isboolean(L, -1)) die("is_loopback: not a boolean");
  lua_settop(L, 1);
  if (lua_gettop(L) == 1) lua_gc(L, LUA_GCSTEP, 0);
  return 0;
}
