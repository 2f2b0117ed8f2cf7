/* core.json encoding: Lua values -> JSON text, refusing anything that would not read back as
 * the same data (NaN/inf, cycles, sparse or mixed tables, non-string keys, invalid UTF-8).
 *
 * A table is walked once with lua_next. If its keys come out as 1, 2, 3, ... it is an array and
 * is written as it goes; if the first key is a string it is an object. Any other order falls
 * back to counting the keys first. Failures unwind with -1 and each level prepends its own
 * step to the error path ("value.items[3].price"). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "class.h"
#include "json.h"
#include "decimal.h"

#define ENCODER_MT "zuora.json.encoder"
#define KEEP_BUFFER (1u << 20)   /* larger buffers are freed after each call */

typedef struct {
  const char *s;
  size_t n;
} skey;

/* Output buffer and key scratch, reused between calls (json.encode's first upvalue). */
typedef struct {
  char *buf;
  size_t len, cap;
  skey *keys;
  size_t nkeys, keycap;
  int busy;             /* an encode is using it: a __gc run inside one may encode again. A
                           memory error raised by Lua mid-encode leaves it set; later calls then
                           use private buffers, which is slower but still correct. */
} encstate;

typedef struct {
  lua_State *L;
  encstate *st;
  int mt_idx;           /* stack index of array_mt */
  int sort_keys;
  const char *indent;
  size_t indent_len;
  const char *reason;
  char reason_buf[112];
  char path[480];       /* filled right to left */
  size_t path_pos;
  int path_cut;
  const void *anc[ZZ_JSON_MAX_DEPTH];   /* tables on the way down, to spot cycles */
} enc;

/* ---- output ---- */

static void grow(enc *e, size_t n) {
  encstate *st = e->st;
  size_t cap = st->cap ? st->cap : 4096;
  char *nb;
  if (n > (size_t)-1 - st->len) cap = 0;
  while (cap && cap - st->len < n) cap = cap <= (size_t)-1 / 2 ? cap * 2 : 0;
  nb = cap ? (char *)realloc(st->buf, cap) : NULL;
  if (!nb) {
    st->busy = 0;
    luaL_error(e->L, "not enough memory");
  }
  st->buf = nb;
  st->cap = cap;
}

static inline char *reserve(enc *e, size_t n) {
  if (e->st->cap - e->st->len < n) grow(e, n);
  return e->st->buf + e->st->len;
}

static inline void put(enc *e, const char *s, size_t n) {
  memcpy(reserve(e, n), s, n);
  e->st->len += n;
}

static inline void put_char(enc *e, char c) {
  *reserve(e, 1) = c;
  e->st->len++;
}

static void newline(enc *e, int depth) {
  size_t i;
  char *w;
  if (!e->indent) return;
  w = reserve(e, 1 + (size_t)depth * e->indent_len);
  *w++ = '\n';
  for (i = 0; i < (size_t)depth; i++) {
    memcpy(w, e->indent, e->indent_len);
    w += e->indent_len;
  }
  e->st->len = (size_t)(w - e->st->buf);
}

/* ---- failures and paths ---- */

static int fail(enc *e, const char *reason) {
  e->reason = reason;
  return -1;
}

static void path_prepend(enc *e, const char *s, size_t n) {
  if (e->path_cut) return;
  if (n > e->path_pos) {
    e->path_cut = 1;
    return;
  }
  e->path_pos -= n;
  memcpy(e->path + e->path_pos, s, n);
}

static void path_index(enc *e, lua_Integer i) {
  char b[32];
  int n = snprintf(b, sizeof b, "[%lld]", (long long)i);
  path_prepend(e, b, (size_t)n);
}

/* ".name" for identifier-like keys, ["any key"] otherwise (shortened, bytes escaped). */
static void path_key(enc *e, const char *s, size_t n) {
  char b[128];
  size_t i, o = 0;
  int ident = n > 0 && n <= 64 && !(s[0] >= '0' && s[0] <= '9');
  for (i = 0; ident && i < n; i++) {
    char c = s[i];
    ident = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  }
  if (ident) {
    path_prepend(e, s, n);
    path_prepend(e, ".", 1);
    return;
  }
  b[o++] = '[';
  b[o++] = '"';
  for (i = 0; i < n && o < sizeof b - 12; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      b[o++] = '\\';
      b[o++] = (char)c;
    } else if (c < 0x20 || c >= 0x7F) {
      o += (size_t)snprintf(b + o, sizeof b - o, "\\x%02X", c);
    } else {
      b[o++] = (char)c;
    }
  }
  if (i < n) {
    memcpy(b + o, "...", 3);
    o += 3;
  }
  b[o++] = '"';
  b[o++] = ']';
  path_prepend(e, b, o);
}

/* Describes the key at idx for messages: 1.5, true, a table, ... */
static void describe_key(enc *e, int idx, const char *what) {
  lua_State *L = e->L;
  char v[48];
  switch (lua_type(L, idx)) {
  case LUA_TNUMBER:
#if ZZ_HAVE_INTEGERS
    if (lua_isinteger(L, idx)) {
      snprintf(v, sizeof v, "%lld", (long long)lua_tointeger(L, idx));
      break;
    }
#endif
    snprintf(v, sizeof v, "%.17g", (double)lua_tonumber(L, idx));
    break;
  case LUA_TBOOLEAN:
    snprintf(v, sizeof v, "%s", lua_toboolean(L, idx) ? "true" : "false");
    break;
  default:
    snprintf(v, sizeof v, "of type %s", luaL_typename(L, idx));
    break;
  }
  snprintf(e->reason_buf, sizeof e->reason_buf, what, v);
  e->reason = e->reason_buf;
}

/* ---- scalars ---- */

#define ONES  0x0101010101010101ull
#define HIGHS 0x8080808080808080ull
static inline uint64_t special8(uint64_t x) {
  uint64_t q = x ^ (ONES * '"'), b = x ^ (ONES * '\\');
  return (x | ((x - ONES * 0x20) & ~x) | ((q - ONES) & ~q) | ((b - ONES) & ~b)) & HIGHS;
}

static const char hexdig[] = "0123456789abcdef";

/* Writes s as a JSON string. Returns -1 (nothing useful written) on invalid UTF-8. */
static int put_string(enc *e, const char *str, size_t n) {
  encstate *st = e->st;
  const unsigned char *p = (const unsigned char *)str, *end = p + n;
  char *w = reserve(e, n + 2);
  *w++ = '"';
  for (;;) {
    const unsigned char *run = p;
    unsigned c;
    while (end - p >= 8) {
      uint64_t x;
      memcpy(&x, p, 8);
      if (special8(x)) break;
      p += 8;
    }
    while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') p++;
    memcpy(w, run, (size_t)(p - run));
    w += p - run;
    if (p >= end) break;
    c = *p;
    if (c >= 0x80) {
      int k = zz_utf8_len(p, end);
      if (!k) {
        st->len = (size_t)(w - st->buf);
        return -1;
      }
      memcpy(w, p, (size_t)k);
      w += k;
      p += k;
      continue;
    }
    /* An escape takes up to 6 bytes where 1 was reserved. */
    st->len = (size_t)(w - st->buf);
    w = reserve(e, (size_t)(end - p) + 7);
    *w++ = '\\';
    switch (c) {
    case '"': *w++ = '"'; break;
    case '\\': *w++ = '\\'; break;
    case '\b': *w++ = 'b'; break;
    case '\f': *w++ = 'f'; break;
    case '\n': *w++ = 'n'; break;
    case '\r': *w++ = 'r'; break;
    case '\t': *w++ = 't'; break;
    default:
      *w++ = 'u';
      *w++ = '0';
      *w++ = '0';
      *w++ = hexdig[c >> 4];
      *w++ = hexdig[c & 15];
      break;
    }
    p++;
  }
  *w++ = '"';
  st->len = (size_t)(w - st->buf);
  return 0;
}

static int put_number(enc *e, int idx) {
  lua_State *L = e->L;
  double v;
#if ZZ_HAVE_INTEGERS
  if (lua_isinteger(L, idx)) {
    char *w = reserve(e, ZZ_JSON_NUMBER_SIZE);
    e->st->len += zz_json_format_int((int64_t)lua_tointeger(L, idx), w);
    return 0;
  }
#endif
  v = (double)lua_tonumber(L, idx);
  if (v != v) return fail(e, "cannot encode NaN");
  if (v - v != 0) return fail(e, v > 0 ? "cannot encode inf" : "cannot encode -inf");
  {
    char *w = reserve(e, ZZ_JSON_NUMBER_SIZE);
    e->st->len += zz_json_format_double(v, w, ZZ_HAVE_INTEGERS);
  }
  return 0;
}

/* ---- tables ---- */

static int put_value(enc *e, int idx, int depth);

/* Is the key at idx the integer i? */
static inline int key_is(lua_State *L, int idx, lua_Integer i) {
#if ZZ_HAVE_INTEGERS
  return lua_isinteger(L, idx) && lua_tointeger(L, idx) == i;
#else
  return lua_type(L, idx) == LUA_TNUMBER && lua_tonumber(L, idx) == (lua_Number)i;
#endif
}

/* A positive integer key (array index), or 0. */
static lua_Integer array_index(lua_State *L, int idx) {
  if (lua_type(L, idx) != LUA_TNUMBER) return 0;
#if ZZ_HAVE_INTEGERS
  if (lua_isinteger(L, idx)) {
    lua_Integer i = lua_tointeger(L, idx);
    return i > 0 ? i : 0;
  }
  return 0;
#else
  {
    lua_Number d = lua_tonumber(L, idx);
    return (d >= 1 && d <= 9007199254740992.0 && d == floor(d)) ? (lua_Integer)d : 0;
  }
#endif
}

/* Elements t[1..n] (keys already checked to be exactly 1..n). */
static int put_dense_array(enc *e, int idx, int depth, lua_Integer n) {
  lua_State *L = e->L;
  lua_Integer i;
  put_char(e, '[');
  for (i = 1; i <= n; i++) {
    if (i > 1) put_char(e, ',');
    newline(e, depth + 1);
    lua_rawgeti(L, idx, (int)i);
    if (put_value(e, lua_gettop(L), depth + 1)) {
      lua_pop(L, 1);
      path_index(e, i);
      return -1;
    }
    lua_pop(L, 1);
  }
  newline(e, depth);
  put_char(e, ']');
  return 0;
}

/* Keys did not come out as 1, 2, 3, ...: count them to tell a dense array from a sparse or
 * mixed table. */
static int put_counted_array(enc *e, int idx, int depth, int marked) {
  lua_State *L = e->L;
  lua_Integer count = 0, max = 0;
  int strings = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_Integer i;
    lua_pop(L, 1);
    if (lua_type(L, -1) == LUA_TSTRING) {
      strings = 1;
    } else if ((i = array_index(L, -1)) > 0) {
      count++;
      if (i > max) max = i;
    } else {
      describe_key(e, -1, "key %s is neither a string nor an array index");
      lua_pop(L, 1);
      return -1;
    }
  }
  if (strings) {
    return fail(e, marked ? "array (json.array_mt) with string keys"
                          : "mixed table (both string keys and array indices)");
  }
  if (count != max) {
    snprintf(e->reason_buf, sizeof e->reason_buf, "sparse array (%lld values, highest index %lld)",
             (long long)count, (long long)max);
    return fail(e, e->reason_buf);
  }
  if (max > 0x7FFFFFFF) return fail(e, "array too long");
  return put_dense_array(e, idx, depth, max);
}

/* Called with the table's first key and value on the stack; they come out in order 1, 2, ... */
static int put_array(enc *e, int idx, int depth, int marked) {
  lua_State *L = e->L;
  size_t start = e->st->len;
  lua_Integer expect = 1;
  put_char(e, '[');
  for (;;) {
    if (!key_is(L, -2, expect)) break;
    if (expect > 1) put_char(e, ',');
    newline(e, depth + 1);
    if (put_value(e, lua_gettop(L), depth + 1)) {
      lua_pop(L, 2);
      path_index(e, expect);
      return -1;
    }
    lua_pop(L, 1);
    expect++;
    if (!lua_next(L, idx)) {
      newline(e, depth);
      put_char(e, ']');
      return 0;
    }
  }
  lua_pop(L, 2);
  e->st->len = start;
  return put_counted_array(e, idx, depth, marked);
}

static int put_key(enc *e, const char *s, size_t n, int depth, int first) {
  if (!first) put_char(e, ',');
  newline(e, depth + 1);
  if (put_string(e, s, n)) {
    path_key(e, s, n);
    return fail(e, "invalid UTF-8 in key");
  }
  if (e->indent) put(e, ": ", 2);
  else put_char(e, ':');
  return 0;
}

static int bad_object_key(enc *e, int key_idx) {
  if (array_index(e->L, key_idx) > 0) return fail(e, "mixed table (both string keys and array indices)");
  describe_key(e, key_idx, "key %s is not a string");
  return -1;
}

/* Called with the table's first key (a string) and value on the stack. */
static int put_object(enc *e, int idx, int depth) {
  lua_State *L = e->L;
  int first = 1;
  put_char(e, '{');
  do {
    size_t n;
    const char *s;
    if (lua_type(L, -2) != LUA_TSTRING) {
      bad_object_key(e, -2);
      lua_pop(L, 2);
      return -1;
    }
    s = lua_tolstring(L, -2, &n);
    if (put_key(e, s, n, depth, first)) {
      lua_pop(L, 2);
      return -1;
    }
    if (put_value(e, lua_gettop(L), depth + 1)) {
      path_key(e, s, n);
      lua_pop(L, 2);
      return -1;
    }
    first = 0;
    lua_pop(L, 1);
  } while (lua_next(L, idx));
  newline(e, depth);
  put_char(e, '}');
  return 0;
}

static int key_cmp(const void *a, const void *b) {
  const skey *x = (const skey *)a, *y = (const skey *)b;
  size_t n = x->n < y->n ? x->n : y->n;
  int c = memcmp(x->s, y->s, n);
  if (c) return c;
  return x->n < y->n ? -1 : x->n > y->n;
}

/* Objects with sort_keys: collect the keys (anchored by the table itself, which nothing changes
 * meanwhile), sort them bytewise, then look each value up. */
static int put_object_sorted(enc *e, int idx, int depth) {
  lua_State *L = e->L;
  encstate *st = e->st;
  size_t base = st->nkeys, count = 0, i;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING) {
      bad_object_key(e, -1);
      lua_pop(L, 1);
      st->nkeys = base;
      return -1;
    }
    if (st->nkeys == st->keycap) {
      size_t cap = st->keycap ? st->keycap * 2 : 64;
      skey *nk = (skey *)realloc(st->keys, cap * sizeof *nk);
      if (!nk) {
        st->busy = 0;
        return luaL_error(L, "not enough memory");
      }
      st->keys = nk;
      st->keycap = cap;
    }
    st->keys[st->nkeys].s = lua_tolstring(L, -1, &st->keys[st->nkeys].n);
    st->nkeys++;
    count++;
  }
  qsort(st->keys + base, count, sizeof(skey), key_cmp);
  put_char(e, '{');
  for (i = 0; i < count; i++) {
    skey k = st->keys[base + i];   /* a copy: nested objects may move the array */
    if (put_key(e, k.s, k.n, depth, i == 0)) {
      st->nkeys = base;
      return -1;
    }
    lua_pushlstring(L, k.s, k.n);
    lua_rawget(L, idx);
    if (put_value(e, lua_gettop(L), depth + 1)) {
      lua_pop(L, 1);
      path_key(e, k.s, k.n);
      st->nkeys = base;
      return -1;
    }
    lua_pop(L, 1);
  }
  st->nkeys = base;
  newline(e, depth);
  put_char(e, '}');
  return 0;
}

static int put_table(enc *e, int idx, int depth) {
  lua_State *L = e->L;
  const void *self = lua_topointer(L, idx);
  int i, marked = 0;
  if (depth >= ZZ_JSON_MAX_DEPTH) return fail(e, "nesting deeper than the limit of 1000");
  for (i = 0; i < depth; i++) {
    if (e->anc[i] == self) return fail(e, "cycle (the table contains itself)");
  }
  e->anc[depth] = self;
  if (!lua_checkstack(L, 6)) return fail(e, "nesting too deep for the Lua stack");
  if (lua_getmetatable(L, idx)) {
    if (lua_rawequal(L, -1, e->mt_idx)) {
      marked = 1;
    } else {
      /* dkjson's marker, so its decoded arrays encode as arrays too */
      const char *t;
      lua_pushliteral(L, "__jsontype");
      lua_rawget(L, -2);
      t = lua_tostring(L, -1);
      marked = t && strcmp(t, "array") == 0;
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  lua_pushnil(L);
  if (!lua_next(L, idx)) {
    put(e, marked ? "[]" : "{}", 2);
    return 0;
  }
  if (!marked && lua_type(L, -2) == LUA_TSTRING) {
    if (e->sort_keys) {
      lua_pop(L, 2);
      return put_object_sorted(e, idx, depth);
    }
    return put_object(e, idx, depth);
  }
  return put_array(e, idx, depth, marked);
}

static int put_value(enc *e, int idx, int depth) {
  lua_State *L = e->L;
  switch (lua_type(L, idx)) {
  case LUA_TSTRING: {
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    if (put_string(e, s, n)) return fail(e, "invalid UTF-8 in string");
    return 0;
  }
  case LUA_TNUMBER:
    return put_number(e, idx);
  case LUA_TTABLE:
    return put_table(e, idx, depth);
  case LUA_TBOOLEAN:
    if (lua_toboolean(L, idx)) put(e, "true", 4);
    else put(e, "false", 5);
    return 0;
  case LUA_TNIL:
    put(e, "null", 4);
    return 0;
  case LUA_TLIGHTUSERDATA: {
    const void *p = lua_touserdata(L, idx);
    if (p == NULL) {
      put(e, "null", 4);
      return 0;
    }
    if (p == (const void *)&zz_json_empty_array_tag) {
      put(e, "[]", 2);
      return 0;
    }
    return fail(e, "cannot encode a light userdata other than json.null or json.empty_array");
  }
  case LUA_TUSERDATA: {
    const zz_dec *d = zz_dec_test(L, idx);
    if (d) {
      /* a zuora.decimal: its digits, verbatim */
      char *w = reserve(e, zz_dec_format_size(d));
      e->st->len += zz_dec_format(d, w);
      return 0;
    }
  }
  /* fall through */
  default:
    snprintf(e->reason_buf, sizeof e->reason_buf, "cannot encode a %s", luaL_typename(L, idx));
    return fail(e, e->reason_buf);
  }
}

/* ---- the encoder state userdata ---- */

static void state_free(encstate *st) {
  free(st->buf);
  free(st->keys);
  st->buf = NULL;
  st->keys = NULL;
  st->len = st->cap = st->nkeys = st->keycap = 0;
}

/* Unreachable means unused: a state in use is json.encode's upvalue or on its stack. */
static int state_gc(lua_State *L) {
  state_free((encstate *)luaL_checkudata(L, 1, ENCODER_MT));
  return 0;
}

static int state_tostring(lua_State *L) {
  encstate *st = (encstate *)luaL_checkudata(L, 1, ENCODER_MT);
  lua_pushfstring(L, ENCODER_MT " (buffer of %d bytes kept)", (int)st->cap);
  return 1;
}

static encstate *new_state(lua_State *L) {
  encstate *st = (encstate *)zz_newudata(L, sizeof *st);
  memset(st, 0, sizeof *st);
  zz_newclass(L, ENCODER_MT, NULL, NULL, state_gc, state_tostring);
  zz_setmetatable(L, ENCODER_MT);
  return st;
}

void zz_json_push_encoder(lua_State *L) {
  new_state(L);
}

int zz_json_l_encode(lua_State *L) {
  encstate *shared = (encstate *)lua_touserdata(L, lua_upvalueindex(1));
  enc e;
  int rc;
  luaL_checkany(L, 1);
  e.L = L;
  e.mt_idx = lua_upvalueindex(2);
  e.sort_keys = 0;
  e.indent = NULL;
  e.indent_len = 0;
  e.reason = NULL;
  e.path_pos = sizeof e.path;
  e.path_cut = 0;
  if (!lua_isnoneornil(L, 2)) {
    int t;
    luaL_checktype(L, 2, LUA_TTABLE);
    e.sort_keys = zz_optboolfield(L, 2, "sort_keys", 0);
    t = zz_getfield(L, 2, "indent");
    if (t == LUA_TNUMBER) {
      static const char spaces[] = "                ";
      lua_Number k = lua_tonumber(L, -1);
      if (!(k >= 0 && k <= 16) || k != (lua_Number)(int)k)
        return luaL_error(L, "option 'indent' must be a string or a number from 0 to 16");
      e.indent = spaces;
      e.indent_len = (size_t)k;
    } else if (t == LUA_TSTRING) {
      size_t i;
      e.indent = lua_tolstring(L, -1, &e.indent_len);   /* stays referenced by opts */
      for (i = 0; i < e.indent_len; i++) {
        char c = e.indent[i];
        if (c != ' ' && c != '\t')
          return luaL_error(L, "option 'indent' must hold only spaces and tabs");
      }
    } else if (t != LUA_TNIL) {
      return luaL_error(L, "option 'indent' must be a string or a number");
    }
    lua_pop(L, 1);
    t = zz_getfield(L, 2, "path");
    if (t != LUA_TNIL && t != LUA_TSTRING) return luaL_error(L, "option 'path' must be a string");
    lua_pop(L, 1);
  }
  lua_settop(L, 2);
  if (shared->busy) {
    e.st = new_state(L);   /* re-entered from a finalizer: use a private buffer */
  } else {
    e.st = shared;
  }
  e.st->busy = 1;
  e.st->len = 0;
  e.st->nkeys = 0;
  rc = put_value(&e, 1, 0);
  if (rc == 0) lua_pushlstring(L, e.st->buf, e.st->len);
  e.st->busy = 0;
  if (e.st->cap > KEEP_BUFFER) state_free(e.st);
  if (rc == 0) return 1;
  {
    const char *root = "value";
    luaL_Buffer b;
    if (!lua_isnoneornil(L, 2) && zz_getfield(L, 2, "path") == LUA_TSTRING) root = lua_tostring(L, -1);
    lua_pushnil(L);
    luaL_buffinit(L, &b);
    luaL_addstring(&b, root);
    if (e.path_cut) luaL_addstring(&b, "...");
    luaL_addlstring(&b, e.path + e.path_pos, sizeof e.path - e.path_pos);
    luaL_addstring(&b, ": ");
    luaL_addstring(&b, e.reason);
    luaL_pushresult(&b);
    return 2;
  }
}
