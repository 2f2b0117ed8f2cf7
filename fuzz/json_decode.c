/* libFuzzer target for core.json's decoder: `make fuzz-json` (FUZZ_SECONDS=600 for a long run).
 * Each input is decoded straight from libFuzzer's buffer, which has no NUL terminator and ends
 * exactly at the input's end (ASan catches any read past it). A decoded value must encode, and
 * re-encoding what that encoding decodes to must give the same text; the same holds when decoding
 * with decimals, and a lone plain fraction then encodes verbatim; anything else aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core.h"
#include "json.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static lua_State *L;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  L = luaL_newstate();
  if (!L) abort();
  zz_open_json(L);                  /* stack: [json] */
  lua_getfield(L, 1, "encode");     /* stack: [json, encode] */
  lua_createtable(L, 0, 1);         /* stack: [json, encode, {sort_keys = true}] */
  lua_pushboolean(L, 1);
  lua_setfield(L, -2, "sort_keys");
  lua_createtable(L, 0, 2);         /* stack: [..., {sort_keys = true, indent = "\t"}] */
  lua_pushboolean(L, 1);
  lua_setfield(L, -2, "sort_keys");
  lua_pushliteral(L, "\t");
  lua_setfield(L, -2, "indent");
  return 0;
}

/* encode(value at idx, opts at stack index opts) -> pushes the text; aborts on failure. */
static const char *encode(int idx, int opts, size_t *n) {
  idx = lua_absindex(L, idx);
  lua_pushvalue(L, 2);
  lua_pushvalue(L, idx);
  lua_pushvalue(L, opts);
  lua_call(L, 2, 2);
  if (lua_type(L, -2) != LUA_TSTRING) {
    fprintf(stderr, "decoded value does not encode: %s\n", lua_tostring(L, -1));
    abort();
  }
  lua_pop(L, 1);
  return lua_tolstring(L, -1, n);
}

/* Is s[0, n) a plain JSON number with a fraction and no exponent, other than a negative zero
 * ("-12.50", "0.10")? Such a document encodes back verbatim when decoded with decimals. */
static int plain_fraction(const char *s, size_t n) {
  size_t i = 0, point = 0;
  int nonzero = 0;
  if (i < n && s[i] == '-') i++;
  if (i >= n || s[i] < '0' || s[i] > '9' || (s[i] == '0' && i + 1 < n && s[i + 1] != '.')) return 0;
  for (; i < n; i++) {
    if (s[i] == '.' && !point) point = i;
    else if (s[i] < '0' || s[i] > '9') return 0;
    else nonzero |= s[i] != '0';
  }
  return point && point + 1 < n && (s[0] != '-' || nonzero);
}

/* With decimals (zuora.decimal numbers): the value encodes, the text decodes again with decimals
 * and re-encodes to the same text; a lone plain fraction comes back verbatim. */
static void check_decimals(const char *data, size_t size, int depth) {
  size_t n1, n2;
  const char *once, *twice;
  if (!zz_json_decode_opts(L, data, size, depth, 1)) {
    if (lua_type(L, -1) != LUA_TSTRING || lua_type(L, -2) != LUA_TNIL) abort();
    return;
  }
  once = encode(-1, 3, &n1);
  if (plain_fraction(data, size) && (n1 != size || memcmp(once, data, size) != 0)) {
    fprintf(stderr, "decimal not verbatim:\n%.*s\n%.*s\n", (int)size, data, (int)n1, once);
    abort();
  }
  if (!zz_json_decode_opts(L, once, n1, depth, 1)) {
    fprintf(stderr, "re-decoding with decimals failed: %s\n", lua_tostring(L, -1));
    abort();
  }
  twice = encode(-1, 3, &n2);
  if (n1 != n2 || memcmp(once, twice, n1) != 0) {
    fprintf(stderr, "unstable round trip with decimals:\n%.*s\n%.*s\n", (int)n1, once, (int)n2, twice);
    abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  int top = lua_gettop(L);
  /* The first byte also picks a small depth limit now and then. */
  int depth = (size > 0 && data[0] == ' ') ? 3 : 1000;
  if (zz_json_decode(L, (const char *)data, size, depth)) {
    size_t n1, n2, n3;
    int value = lua_gettop(L);
    const char *once = encode(value, 3, &n1), *twice, *pretty;
    if (!zz_json_decode(L, once, n1, depth)) {
      fprintf(stderr, "re-decoding failed: %s\n", lua_tostring(L, -1));
      abort();
    }
    twice = encode(-1, 3, &n2);
    if (n1 != n2 || memcmp(once, twice, n1) != 0) {
      fprintf(stderr, "unstable round trip:\n%.*s\n%.*s\n", (int)n1, once, (int)n2, twice);
      abort();
    }
    /* Pretty output holds the same data. */
    pretty = encode(value, 4, &n3);
    if (!zz_json_decode(L, pretty, n3, depth)) {
      fprintf(stderr, "pretty output does not decode: %s\n", lua_tostring(L, -1));
      abort();
    }
    twice = encode(-1, 3, &n2);
    if (n1 != n2 || memcmp(once, twice, n1) != 0) {
      fprintf(stderr, "pretty round trip differs:\n%.*s\n%.*s\n", (int)n1, once, (int)n2, twice);
      abort();
    }
  } else if (lua_type(L, -1) != LUA_TSTRING || lua_type(L, -2) != LUA_TNIL) {
    abort();
  }
  lua_settop(L, top);
  check_decimals((const char *)data, size, depth);
  lua_settop(L, top);
  return 0;
}
