/* core.json decoding: strict RFC 8259 text -> Lua values, from any (pointer, length) buffer.
 *
 * The parser is iterative: open containers live on the Lua stack (an object also keeps its
 * members there until it closes, see DEFER_MAX) and a small frame array remembers each one's
 * kind and element count, so deep input costs no C stack and the depth limit is the only
 * limit. Strings without escapes are pushed straight from the input; numbers without a
 * fraction or exponent that fit become integers (Lua 5.3+). */
#include <stdio.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include "json.h"
#include "decimal.h"

typedef struct {
  lua_Integer n;      /* elements (arrays) or members (objects) so far */
  int is_array;
  int hint;           /* size of the last array closed at this depth (objects are sized exactly) */
  int pending;        /* object whose members still wait on the stack (its table not made yet) */
  int base;           /* stack index of the object's slot (its members sit above it) */
} frame;

/* An object keeps up to this many members as key/value pairs on the Lua stack and makes its
 * table when it closes, sized exactly: filling a table key by key would regrow it (and rehash
 * every key) at 1, 2, 4, 8... members. Larger objects get their table at this point. */
#define DEFER_MAX 32
/* Free stack slots an object with pending members keeps: a member (2) and making the table (3). */
#define DEFER_ROOM 9

#define INLINE_FRAMES 32

typedef struct {
  lua_State *L;
  const unsigned char *start, *end;
  int mt_idx;         /* stack index of array_mt */
  int dec_mt_idx;     /* stack index of zuora.decimal's metatable, or 0: numbers become doubles */
  size_t zeros_left;  /* digits positive exponents may still add (decimals), see DEC_ZEROS_BASE */
  int frames_slot;    /* stack index anchoring a grown frame array */
  int max_depth;
  frame *frames;
  size_t frames_cap;
  const char *reason;
  const unsigned char *at;
  char reason_buf[64];
  frame inline_frames[INLINE_FRAMES];
} dec;

/* Records the first failure; the parser then unwinds. Always returns -1. */
static int fail(dec *d, const unsigned char *at, const char *reason) {
  d->reason = reason;
  d->at = at;
  return -1;
}

/* "unexpected character 'x'" / "unexpected byte 0xNN" / "unexpected end of input". */
static int fail_char(dec *d, const unsigned char *at, const char *expected) {
  if (at >= d->end) {
    snprintf(d->reason_buf, sizeof d->reason_buf, "unexpected end of input%s%s",
             expected ? ", expected " : "", expected ? expected : "");
    d->at = d->end;
  } else {
    if (*at >= 0x20 && *at < 0x7F)
      snprintf(d->reason_buf, sizeof d->reason_buf, "unexpected character '%c'%s%s", *at,
               expected ? ", expected " : "", expected ? expected : "");
    else
      snprintf(d->reason_buf, sizeof d->reason_buf, "unexpected byte 0x%02X%s%s", *at,
               expected ? ", expected " : "", expected ? expected : "");
    d->at = at;
  }
  d->reason = d->reason_buf;
  return -1;
}

static inline const unsigned char *skip_ws(const unsigned char *p, const unsigned char *end) {
  while (p < end && *p <= ' ' && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
  return p;
}

/* Skips the bytes of a string that need no closer look: returns the first one that is a
 * control character, '"', '\\' or >= 0x80 (or end). Strings are most of a Zuora body, so this
 * goes 16 bytes at a time with SSE2 (always there on x86-64; a signed compare below 0x20 catches
 * control bytes and, being negative, every byte >= 0x80) and 8 at a time elsewhere. */
#define ONES  0x0101010101010101ull
#define HIGHS 0x8080808080808080ull
static inline const unsigned char *skip_plain(const unsigned char *p, const unsigned char *end) {
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'), space = _mm_set1_epi8(0x20);
  while (end - p >= 16) {
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, bslash)),
                             _mm_cmplt_epi8(x, space));
    int bits = _mm_movemask_epi8(m);
    if (bits) return p + __builtin_ctz((unsigned)bits);
    p += 16;
  }
#endif
  while (end - p >= 8) {
    uint64_t x, q, b;
    memcpy(&x, p, 8);
    q = x ^ (ONES * '"'), b = x ^ (ONES * '\\');
    if ((x | ((x - ONES * 0x20) & ~x) | ((q - ONES) & ~q) | ((b - ONES) & ~b)) & HIGHS) break;
    p += 8;
  }
  while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') p++;
  return p;
}

/* Output of a string with escapes: a stack chunk, spilling into a luaL_Buffer only for long
 * strings. Nothing else is pushed while a string is built, as luaL_Buffer requires. */
typedef struct {
  lua_State *L;
  size_t n;
  int spilled;
  luaL_Buffer b;
  char chunk[512];
} sbuf;

static void sb_add(sbuf *sb, const void *s, size_t n) {
  if (sb->n + n <= sizeof sb->chunk) {
    memcpy(sb->chunk + sb->n, s, n);
    sb->n += n;
    return;
  }
  if (!sb->spilled) {
    luaL_buffinit(sb->L, &sb->b);
    sb->spilled = 1;
  }
  luaL_addlstring(&sb->b, sb->chunk, sb->n);
  sb->n = 0;
  if (n > sizeof sb->chunk) {
    luaL_addlstring(&sb->b, (const char *)s, n);
  } else {
    memcpy(sb->chunk, s, n);
    sb->n = n;
  }
}

static void sb_push(sbuf *sb) {
  if (!sb->spilled) {
    lua_pushlstring(sb->L, sb->chunk, sb->n);
  } else {
    luaL_addlstring(&sb->b, sb->chunk, sb->n);
    luaL_pushresult(&sb->b);
  }
}

/* Four hex digits at p: 0 and the value, -1 for a non-hex byte, -2 if the input ends first. */
static int hex4(const unsigned char *p, const unsigned char *end, unsigned *out) {
  unsigned v = 0;
  int i;
  for (i = 0; i < 4; i++) {
    unsigned c;
    if (p + i >= end) return -2;
    c = p[i];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= c - '0';
    else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') v |= (c | 0x20) - 'a' + 10;
    else return -1;
  }
  *out = v;
  return 0;
}

/* The rest of a string from its first escape at p (run = start of bytes not yet copied). */
static int string_escaped(dec *d, const unsigned char *run, const unsigned char *p,
                          const unsigned char **next) {
  const unsigned char *end = d->end;
  sbuf sb;
  sb.L = d->L;
  sb.n = 0;
  sb.spilled = 0;
  for (;;) {
    unsigned c;
    p = skip_plain(p, end);
    if (p > run) sb_add(&sb, run, (size_t)(p - run));
    if (p >= end) goto bad_end;
    c = *p;
    if (c == '"') break;
    if (c == '\\') {
      unsigned char out[4];
      unsigned cp, lo;
      if (end - p < 2) goto bad_end;
      switch (p[1]) {
      case '"': case '\\': case '/': out[0] = p[1]; sb_add(&sb, out, 1); p += 2; break;
      case 'b': sb_add(&sb, "\b", 1); p += 2; break;
      case 'f': sb_add(&sb, "\f", 1); p += 2; break;
      case 'n': sb_add(&sb, "\n", 1); p += 2; break;
      case 'r': sb_add(&sb, "\r", 1); p += 2; break;
      case 't': sb_add(&sb, "\t", 1); p += 2; break;
      case 'u':
        switch (hex4(p + 2, end, &cp)) {
        case -1: fail(d, p, "invalid \\u escape (4 hex digits expected)"); goto bad;
        case -2: goto bad_end;
        default: break;
        }
        if (cp >= 0xDC00 && cp <= 0xDFFF) { fail(d, p, "lone low surrogate in \\u escape"); goto bad; }
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          if (end - p < 12 || p[6] != '\\' || p[7] != 'u' || hex4(p + 8, end, &lo) != 0 ||
              lo < 0xDC00 || lo > 0xDFFF) {
            fail(d, p, "high surrogate not followed by a low surrogate \\u escape");
            goto bad;
          }
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          p += 6;
        }
        sb_add(&sb, out, zz_utf8_encode(cp, out));
        p += 6;
        break;
      default:
        fail(d, p, "invalid escape in string");
        goto bad;
      }
    } else if (c < 0x20) {
      fail(d, p, "control character in string (must be escaped)");
      goto bad;
    } else {
      int k = zz_utf8_len(p, end);
      if (!k) { fail(d, p, "invalid UTF-8 in string"); goto bad; }
      p += k;
      run = p - k;
      continue;
    }
    run = p;
  }
  sb_push(&sb);
  *next = p + 1;
  return 0;
bad_end:
  fail(d, end, "unterminated string");
bad:
  return -1;   /* the caller resets the stack, luaL_Buffer's entries included */
}

/* A string starting at the '"' at q; pushes it and returns the position after the closing quote. */
static int string_value(dec *d, const unsigned char *q, const unsigned char **next) {
  const unsigned char *p = q + 1, *end = d->end;
  for (;;) {
    unsigned c;
    p = skip_plain(p, end);
    if (p >= end) return fail(d, end, "unterminated string");
    c = *p;
    if (c == '"') {
      lua_pushlstring(d->L, (const char *)(q + 1), (size_t)(p - q - 1));
      *next = p + 1;
      return 0;
    }
    if (c == '\\') return string_escaped(d, q + 1, p, next);
    if (c < 0x20) return fail(d, p, "control character in string (must be escaped)");
    {
      int k = zz_utf8_len(p, end);
      if (!k) return fail(d, p, "invalid UTF-8 in string");
      p += k;
    }
  }
}

/* With decimals, a positive exponent becomes zeros of the coefficient: "1e9999" (6 bytes) holds
 * 10,000 digits, so a body of such numbers would take ~650 times its size in memory. A document's
 * numbers may add DEC_ZEROS_BASE digits, plus DEC_ZEROS_PER_BYTE per byte of its text, in all. */
#define DEC_ZEROS_BASE 100000
#define DEC_ZEROS_PER_BYTE 4

/* The zeros the positive exponent of a valid JSON number adds to its coefficient (0 for a zero). */
static size_t exponent_zeros(const unsigned char *p, const unsigned char *end) {
  size_t nfrac = 0, ex = 0;
  int frac = 0, nonzero = 0;
  for (; p < end && *p != 'e' && *p != 'E'; p++) {
    if (*p == '.') frac = 1;
    else if (*p >= '0' && *p <= '9') {
      nfrac += (size_t)frac;
      nonzero |= *p != '0';
    }
  }
  if (p == end || !nonzero) return 0;
  p++;
  if (*p == '-') return 0;
  if (*p == '+') p++;
  for (; p < end; p++) {
    if (ex < 1000000) ex = ex * 10 + (size_t)(*p - '0');
  }
  return ex > nfrac ? ex - nfrac : 0;
}

/* With decimals: the number's digits as a zuora.decimal, exactly as written. */
static int decimal_value(dec *d, const unsigned char *start, const unsigned char *end) {
  const char *why;
  size_t zeros = exponent_zeros(start, end);
  if (zeros > d->zeros_left) return fail(d, start, "numbers with exponents expand beyond the decimal budget");
  d->zeros_left -= zeros;
  if (zz_dec_push_text(d->L, (const char *)start, (size_t)(end - start), d->dec_mt_idx, &why) != 0) {
    snprintf(d->reason_buf, sizeof d->reason_buf, "number %s for a decimal", why);
    return fail(d, start, d->reason_buf);
  }
  return 0;
}

static int number_value(dec *d, const unsigned char *p, const unsigned char **next) {
  const unsigned char *start = p, *end = d->end;
  uint64_t m = 0;
  int nd = 0, neg = 0, is_float = 0, many = 0;
  double v;
  if (*p == '-') {
    neg = 1;
    p++;
  }
  if (p < end && *p == '0') {
    p++;
    if (p < end && *p >= '0' && *p <= '9') return fail(d, p - 1, "leading zero in number");
  } else if (p < end && *p >= '1' && *p <= '9') {
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
      if (nd < 19) {
        m = m * 10 + (uint64_t)(*p - '0');
        nd++;
      } else {
        many = 1;
      }
    }
  } else {
    return fail_char(d, p, "a digit");
  }
  if (p < end && *p == '.') {
    is_float = 1;
    p++;
    if (p >= end || *p < '0' || *p > '9') return fail_char(d, p, "a digit after '.'");
    while (p < end && *p >= '0' && *p <= '9') p++;
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    is_float = 1;
    p++;
    if (p < end && (*p == '+' || *p == '-')) p++;
    if (p >= end || *p < '0' || *p > '9') return fail_char(d, p, "a digit in the exponent");
    while (p < end && *p >= '0' && *p <= '9') p++;
  }
  *next = p;
  if (d->dec_mt_idx && (is_float || many)) return decimal_value(d, start, p);
#if ZZ_HAVE_INTEGERS
  if (!is_float && !many) {
    if (!neg && m <= (uint64_t)LUA_MAXINTEGER) {
      lua_pushinteger(d->L, (lua_Integer)m);
      return 0;
    }
    if (neg && m <= (uint64_t)LUA_MAXINTEGER + 1) {
      lua_pushinteger(d->L, m == (uint64_t)LUA_MAXINTEGER + 1 ? LUA_MININTEGER : -(lua_Integer)m);
      return 0;
    }
  }
#else
  if (!is_float && !many && m <= 9007199254740992ull) {
    lua_pushnumber(d->L, neg ? -(double)m : (double)m);
    return 0;
  }
#endif
  if (d->dec_mt_idx) return decimal_value(d, start, p);   /* an integer beyond 64 (53) bits */
  if (zz_json_strtod((const char *)start, (size_t)(p - start), &v) != 0)
    return luaL_error(d->L, "not enough memory");
  if (v - v != 0) return fail(d, start, "number out of range for a double");
  lua_pushnumber(d->L, v);
  return 0;
}

static int literal(dec *d, const unsigned char *p, const char *word, size_t n,
                   const unsigned char **next) {
  if ((size_t)(d->end - p) < n || memcmp(p, word, n) != 0) return fail(d, p, "invalid literal");
  *next = p + n;
  return 0;
}

/* Makes room for one more open container. */
static int push_frame(dec *d, size_t depth, const unsigned char *p) {
  if (depth >= (size_t)d->max_depth) {
    snprintf(d->reason_buf, sizeof d->reason_buf, "nesting deeper than the limit of %d", d->max_depth);
    return fail(d, p, d->reason_buf);
  }
  if (!lua_checkstack(d->L, DEFER_ROOM)) return fail(d, p, "nesting too deep for the Lua stack");
  if (depth == d->frames_cap) {
    size_t cap = d->frames_cap * 4;
    frame *nf;
    if (cap > (size_t)d->max_depth) cap = (size_t)d->max_depth;
    nf = (frame *)zz_newudata(d->L, cap * sizeof(frame));
    memcpy(nf, d->frames, d->frames_cap * sizeof(frame));
    memset(nf + d->frames_cap, 0, (cap - d->frames_cap) * sizeof(frame));
    lua_replace(d->L, d->frames_slot);    /* the old array, if a userdata, becomes garbage */
    d->frames = nf;
    d->frames_cap = cap;
  }
  return 0;
}

/* Makes the table of an object whose members wait on the stack above its slot, puts it in the
 * slot and drops the members (needs 3 free slots). */
static void make_object(lua_State *L, frame *f, int size) {
  int i, top = lua_gettop(L);
  lua_createtable(L, 0, size);
  for (i = f->base + 1; i < top; i += 2) {
    lua_pushvalue(L, i);
    lua_pushvalue(L, i + 1);
    lua_rawset(L, -3);
  }
  lua_replace(L, f->base);
  lua_settop(L, f->base);
  f->pending = 0;
}

static int parse(dec *d) {
  lua_State *L = d->L;
  const unsigned char *p = d->start, *end = d->end;
  size_t depth = 0;
  frame *f;

  if (end - p >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF) p += 3;  /* UTF-8 BOM */

value:
  p = skip_ws(p, end);
  if (p >= end) return fail_char(d, p, "a value");
  switch (*p) {
  case '{':
    if (push_frame(d, depth, p)) return -1;
    f = &d->frames[depth];
    p = skip_ws(p + 1, end);
    if (p < end && *p == '}') {
      lua_createtable(L, 0, 0);
      p++;
      goto done;
    }
    lua_pushnil(L);                     /* the slot its table takes when it closes */
    f->base = lua_gettop(L);
    f->pending = 1;
    f->is_array = 0;
    f->n = 0;
    depth++;
    goto key;
  case '[':
    if (push_frame(d, depth, p)) return -1;
    f = &d->frames[depth];
    lua_createtable(L, f->hint, 0);
    lua_pushvalue(L, d->mt_idx);
    lua_setmetatable(L, -2);
    f->is_array = 1;
    f->n = 0;
    depth++;
    p = skip_ws(p + 1, end);
    if (p < end && *p == ']') {
      p++;
      depth--;
      goto done;
    }
    goto value;
  case '"':
    if (string_value(d, p, &p)) return -1;
    goto done;
  case 't':
    if (literal(d, p, "true", 4, &p)) return -1;
    lua_pushboolean(L, 1);
    goto done;
  case 'f':
    if (literal(d, p, "false", 5, &p)) return -1;
    lua_pushboolean(L, 0);
    goto done;
  case 'n':
    if (literal(d, p, "null", 4, &p)) return -1;
    lua_pushlightuserdata(L, NULL);
    goto done;
  case '-': case '0': case '1': case '2': case '3': case '4':
  case '5': case '6': case '7': case '8': case '9':
    if (number_value(d, p, &p)) return -1;
    goto done;
  default:
    return fail_char(d, p, "a value");
  }

done:   /* a value is on top of the stack */
  if (depth == 0) {
    p = skip_ws(p, end);
    if (p < end) return fail(d, p, "unexpected data after the JSON value");
    return 0;
  }
  f = &d->frames[depth - 1];
  p = skip_ws(p, end);
  if (f->is_array) {
    lua_rawseti(L, -2, ++f->n);
    if (p < end && *p == ',') {
      p++;
      goto value;
    }
    if (p < end && *p == ']') {
      p++;
      f->hint = f->n < 64 ? (int)f->n : 64;
      depth--;
      goto done;
    }
    return fail_char(d, p, "',' or ']'");
  }
  f->n++;
  if (!f->pending) {
    lua_rawset(L, -3);
  } else if (f->n >= DEFER_MAX || !lua_checkstack(L, DEFER_ROOM)) {
    make_object(L, f, 2 * DEFER_MAX);
  }
  if (p < end && *p == ',') {
    p = skip_ws(p + 1, end);
    goto key;
  }
  if (p < end && *p == '}') {
    p++;
    if (f->pending) make_object(L, f, (int)f->n);
    depth--;
    goto done;
  }
  return fail_char(d, p, "',' or '}'");

key:
  if (p >= end || *p != '"') return fail_char(d, p, "a string key");
  if (string_value(d, p, &p)) return -1;
  p = skip_ws(p, end);
  if (p >= end || *p != ':') return fail_char(d, p, "':'");
  p++;
  goto value;
}

/* Decodes with array_mt at stack index mt_idx; leaves the stack as it found it plus the
 * results (value, or nil and message). */
static int decode_with(lua_State *L, const char *s, size_t n, int max_depth, int mt_idx,
                       int dec_mt_idx) {
  dec d;
  int base;
  char pos[24];
  d.L = L;
  d.start = (const unsigned char *)s;
  d.end = d.start + n;
  d.mt_idx = lua_absindex(L, mt_idx);
  d.dec_mt_idx = dec_mt_idx ? lua_absindex(L, dec_mt_idx) : 0;
  d.zeros_left = DEC_ZEROS_BASE + (n < ((size_t)-1 - DEC_ZEROS_BASE) / DEC_ZEROS_PER_BYTE ? n * DEC_ZEROS_PER_BYTE
                                                                                       : 0);
  d.max_depth = max_depth > 0 ? max_depth : ZZ_JSON_MAX_DEPTH;
  d.frames = d.inline_frames;
  d.frames_cap = INLINE_FRAMES;
  memset(d.inline_frames, 0, sizeof d.inline_frames);
  d.reason = NULL;
  d.at = NULL;
  luaL_checkstack(L, 8, "json.decode");
  lua_pushnil(L);                       /* slot for a grown frame array */
  base = lua_gettop(L);
  d.frames_slot = base;
  if (parse(&d) == 0) {
    lua_replace(L, base);               /* the value takes the slot's place */
    return 1;
  }
  lua_settop(L, base - 1);
  lua_pushnil(L);
  snprintf(pos, sizeof pos, "%zu", (size_t)(d.at - d.start) + 1);
  lua_pushfstring(L, "%s at byte %s", d.reason, pos);
  return 0;
}

int zz_json_decode_opts(lua_State *L, const char *s, size_t n, int max_depth, int decimals) {
  int ok;
  zz_json_push_array_mt(L);
  if (decimals) zz_dec_push_mt(L);
  ok = decode_with(L, s, n, max_depth, decimals ? -2 : -1, decimals ? -1 : 0);
  lua_remove(L, ok ? -2 : -3);          /* array_mt (or the decimal metatable) */
  if (decimals) lua_remove(L, ok ? -2 : -3);
  return ok;
}

int zz_json_decode(lua_State *L, const char *s, size_t n, int max_depth) {
  return zz_json_decode_opts(L, s, n, max_depth, 0);
}

int zz_json_l_decode(lua_State *L) {
  size_t n;
  const char *s;
  int max_depth = ZZ_JSON_MAX_DEPTH, decimals = 0;
  if (lua_type(L, 1) != LUA_TSTRING)
    return luaL_argerror(L, 1, lua_pushfstring(L, "string expected, got %s", luaL_typename(L, 1)));
  s = lua_tolstring(L, 1, &n);
  if (!lua_isnoneornil(L, 2)) {
    lua_Number md;
    luaL_checktype(L, 2, LUA_TTABLE);
    md = zz_optnumfield(L, 2, "max_depth", ZZ_JSON_MAX_DEPTH);
    if (!(md >= 1 && md <= 0x7FFFFFFF) || md != (lua_Number)(int)md)
      return luaL_error(L, "option 'max_depth' must be a positive integer");
    max_depth = (int)md;
    decimals = zz_optboolfield(L, 2, "decimals", 0);
  }
  if (decimals) {
    lua_settop(L, 2);
    zz_dec_push_mt(L);                  /* index 3 */
  }
  return decode_with(L, s, n, max_depth, lua_upvalueindex(1), decimals ? 3 : 0) ? 1 : 2;
}
