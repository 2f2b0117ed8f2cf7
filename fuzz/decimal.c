/* libFuzzer target for zuora.decimal's parser and arithmetic: `make fuzz-decimal`.
 * The input is parsed straight from libFuzzer's buffer (no terminator: ASan catches any read past
 * it). A value that parses must print as -?digits[.digits], and that text must parse back to the
 * same text. An input "a,b" whose two halves parse also goes through the arithmetic, checked
 * against itself: (a + b) - b == a, a - b == -(b - a), a * b == b * a, (a * b):div(b) == a,
 * rounding to a scale at least a's gives a back, rounding in every mode stays within one unit of
 * the last kept place, and cmp agrees with the sign of a - b. Errors raised by the module (scale
 * limits) are fine; anything else aborts. */
#include <string.h>
#define FUZZ_NAME "decimal"
#include "lua_target.h"
#include "decimal.h"
#include <lualib.h>

/* The property checks, in Lua over the module (stack index 1). Returns nothing or raises a
 * message starting with "BROKEN" when a property does not hold. */
static const char checks[] =
  "local D, a, b, m = ...\n"
  "local modes = D.modes\n"
  "local function need(c, what) if not c then error('BROKEN ' .. what .. ': ' .. tostring(a) .. ', ' .. tostring(b), 0) end end\n"
  "need((a + b) - b == a, '(a + b) - b')\n"
  "need(a - b == -(b - a), 'a - b')\n"
  "need(a * b == b * a, 'a * b')\n"
  "local c = a:cmp(b)\n"
  "need(c == (a - b):sign(), 'cmp')\n"
  "need((c < 0) == (a < b) and (c <= 0) == (a <= b) and (c == 0) == (a == b), 'comparisons')\n"
  "if b:sign() ~= 0 then need((a * b):div(b, a:scale()) == a, '(a * b):div(b)') end\n"
  "need(a:round(a:scale() + m % 3) == a, 'round up to a larger scale')\n"
  "local s = a:scale() - 1 - m % 4\n"
  "local unit = D('1' .. (s > 0 and ('e-' .. s) or ('e' .. -s)))\n"
  "local r = a:round(s, modes[m % 7 + 1])\n"
  "need((r - a):abs() < unit, 'round within a unit')\n"
  "need(D(tostring(r)) == r and D(tostring(a)) == a, 'text round trip')\n";

static int checks_ref = LUA_NOREF;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fuzz_open(zz_open_decimal);          /* stack: [decimal] */
  luaL_openlibs(L);
  if (luaL_loadbuffer(L, checks, sizeof checks - 1, "checks") != LUA_OK) die(lua_tostring(L, -1));
  checks_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  int top = lua_gettop(L), mt, a_idx = 0, b_idx = 0;
  const char *s = (const char *)data, *comma = memchr(s, ',', size), *why;
  zz_dec_push_mt(L);
  mt = lua_gettop(L);
  /* the whole input, then each half of "a,b" */
  {
    const char *parts[3] = {s, s, comma ? comma + 1 : NULL};
    size_t lens[3] = {size, comma ? (size_t)(comma - s) : 0, comma ? size - (size_t)(comma + 1 - s) : 0};
    int k;
    for (k = 0; k < (comma ? 3 : 1); k++) {
      const zz_dec *d;
      char small[128];
      char *text;
      size_t need, n, j;
      if (zz_dec_push_text(L, parts[k], lens[k], mt, &why) != 0) {
        if (!why || !*why) die("a refusal without a reason");
        continue;
      }
      d = zz_dec_test(L, -1);
      if (!d) die("parsed value is not a decimal");
      need = zz_dec_format_size(d);
      text = need <= sizeof small ? small : (char *)malloc(need);
      if (!text) abort();
      n = zz_dec_format(d, text);
      if (n > need) die("text longer than its size");
      /* -?digits[.digits] with no leading zero before other integer digits */
      j = text[0] == '-' ? 1 : 0;
      if (j >= n || text[j] < '0' || text[j] > '9') die("text does not start with a digit");
      if (text[j] == '0' && j + 1 < n && text[j + 1] != '.') die("leading zero");
      for (; j < n && text[j] >= '0' && text[j] <= '9'; j++) {}
      if (j < n) {
        if (text[j] != '.' || j + 1 >= n) die("bad point");
        for (j++; j < n; j++) if (text[j] < '0' || text[j] > '9') die("non-digit after the point");
      }
      if ((size_t)d->scale != (memchr(text, '.', n) ? n - 1 - (size_t)((char *)memchr(text, '.', n) - text) : 0))
        die("scale differs from the digits after the point");
      /* the text reads back to the same text */
      if (zz_dec_push_text(L, text, n, mt, &why) != 0) die("own text does not parse");
      {
        const zz_dec *e = zz_dec_test(L, -1);
        char again[128];
        char *t2 = need <= sizeof again ? again : (char *)malloc(need);
        size_t n2;
        if (!t2) abort();
        n2 = zz_dec_format(e, t2);
        if (n2 != n || memcmp(t2, text, n) != 0) die("text round trip differs");
        if (t2 != again) free(t2);
      }
      lua_pop(L, 1);
      if (text != small) free(text);
      if (k == 1) a_idx = lua_gettop(L);
      else if (k == 2) b_idx = lua_gettop(L);
      else lua_pop(L, 1);
    }
  }
  if (a_idx && b_idx && size < 600) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, checks_ref);
    lua_pushvalue(L, 1);
    lua_pushvalue(L, a_idx);
    lua_pushvalue(L, b_idx);
    lua_pushinteger(L, size > 0 ? data[0] : 0);
    if (lua_pcall(L, 4, 0, 0) != LUA_OK) {
      const char *msg = lua_tostring(L, -1);
      if (msg && strncmp(msg, "BROKEN", 6) == 0) die(msg);
    }
  }
  lua_settop(L, top);
  return 0;
}
