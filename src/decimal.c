/* zuora.decimal: exact decimal numbers for money (docs/decimal.md).
 *
 * A value is a single userdata holding a small header and its coefficient in base-10^9 limbs
 * (decimal.h). The userdata is sized to the coefficient when it is made, so a 2-decimal amount
 * of up to 18 digits takes 24 bytes, any length works, and nothing lives outside the Lua heap:
 * no __gc is needed. Base 10^9 keeps scale changes, rounding and printing digit-oriented (a
 * shift of k digits is a limb move and one short multiplication or division).
 *
 * Intermediate coefficients (operands brought to a common scale, division's working copies) live
 * in stack arrays when small and in scratch userdata otherwise, so an error raised half-way (out
 * of memory) leaks nothing. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "class.h"
#include "decimal.h"
#include "json.h"

#define BASE 1000000000u
#define LDIG 9              /* decimal digits per limb */
#define SMALL 40            /* limbs of the on-stack scratch arrays (360 digits) */

static const uint32_t pow10_32[10] = {
  1u, 10u, 100u, 1000u, 10000u, 100000u, 1000000u, 10000000u, 100000000u, 1000000000u,
};

/* Registry key of the metatable (its address). */
static const char mt_key = 0;

/* A read-only view of a value (a userdata's, or an integer's converted on the stack). */
typedef struct {
  const uint32_t *d;
  uint32_t n;
  int32_t scale;
  int neg;
} dview;

enum { R_HALF_EVEN, R_HALF_UP, R_HALF_DOWN, R_UP, R_DOWN, R_CEILING, R_FLOOR };
static const char *const mode_names[] = {
  "half_even", "half_up", "half_down", "up", "down", "ceiling", "floor", NULL,
};

/* ---- limb arithmetic (magnitudes) ---- */

static uint32_t trim(const uint32_t *a, uint32_t n) {
  while (n > 0 && a[n - 1] == 0) n--;
  return n;
}

static int cmp_mag(const uint32_t *a, uint32_t na, const uint32_t *b, uint32_t nb) {
  if (na != nb) return na < nb ? -1 : 1;
  while (na-- > 0) {
    if (a[na] != b[na]) return a[na] < b[na] ? -1 : 1;
  }
  return 0;
}

/* out = a + b (out has room for max(na, nb) + 1 limbs; may alias a). Returns its length. */
static uint32_t add_mag(const uint32_t *a, uint32_t na, const uint32_t *b, uint32_t nb, uint32_t *out) {
  uint32_t i, n = na > nb ? na : nb, carry = 0;
  for (i = 0; i < n; i++) {
    uint32_t s = carry + (i < na ? a[i] : 0) + (i < nb ? b[i] : 0);
    carry = s >= BASE;
    out[i] = carry ? s - BASE : s;
  }
  if (carry) out[n++] = 1;
  return n;
}

/* out = a - b with a >= b (out has room for na limbs; may alias a). */
static uint32_t sub_mag(const uint32_t *a, uint32_t na, const uint32_t *b, uint32_t nb, uint32_t *out) {
  uint32_t i, borrow = 0;
  for (i = 0; i < na; i++) {
    uint32_t s = (i < nb ? b[i] : 0) + borrow;
    borrow = a[i] < s;
    out[i] = borrow ? a[i] + BASE - s : a[i] - s;
  }
  return trim(out, na);
}

/* out = a * b (out has room for na + nb limbs, must not alias). */
static uint32_t mul_mag(const uint32_t *a, uint32_t na, const uint32_t *b, uint32_t nb, uint32_t *out) {
  uint32_t i, j;
  if (na == 0 || nb == 0) return 0;
  memset(out, 0, (size_t)(na + nb) * sizeof *out);
  for (i = 0; i < na; i++) {
    uint64_t carry = 0, ai = a[i];
    if (ai == 0) continue;
    for (j = 0; j < nb; j++) {
      uint64_t t = out[i + j] + ai * b[j] + carry;
      out[i + j] = (uint32_t)(t % BASE);
      carry = t / BASE;
    }
    for (j = i + nb; carry; j++) {
      uint64_t t = out[j] + carry;
      out[j] = (uint32_t)(t % BASE);
      carry = t / BASE;
    }
  }
  return trim(out, na + nb);
}

/* out = a * m + add (m, add < BASE; out has room for na + 1; may alias a). */
static uint32_t mul_small(const uint32_t *a, uint32_t na, uint32_t m, uint32_t add, uint32_t *out) {
  uint64_t carry = add;
  uint32_t i;
  for (i = 0; i < na; i++) {
    uint64_t t = (uint64_t)a[i] * m + carry;
    out[i] = (uint32_t)(t % BASE);
    carry = t / BASE;
  }
  if (carry) out[na++] = (uint32_t)carry;
  return trim(out, na);
}

/* out = a / m, returns the remainder (0 < m <= BASE; out has room for na; may alias a). */
static uint32_t div_small(const uint32_t *a, uint32_t na, uint32_t m, uint32_t *out, uint32_t *nout) {
  uint64_t rem = 0;
  uint32_t i = na;
  while (i-- > 0) {
    uint64_t cur = rem * BASE + a[i];
    out[i] = (uint32_t)(cur / m);
    rem = cur % m;
  }
  *nout = trim(out, na);
  return (uint32_t)rem;
}

/* Limbs needed for a * 10^k. */
static size_t shifted_size(uint32_t na, uint32_t k) {
  return na == 0 ? 0 : (size_t)na + k / LDIG + 1;
}

/* out = a * 10^k (out has room for shifted_size; must not alias). */
static uint32_t shift_up(const uint32_t *a, uint32_t na, uint32_t k, uint32_t *out) {
  uint32_t q = k / LDIG;
  if (na == 0) return 0;
  memset(out, 0, (size_t)q * sizeof *out);
  return q + mul_small(a, na, pow10_32[k % LDIG], 0, out + q);
}

/* The k-th decimal digit of a (0 = units) and whether any digit below it is non-zero. */
static unsigned digit_at(const uint32_t *a, uint32_t na, uint32_t k, int *sticky) {
  uint32_t li = k / LDIG, r = k % LDIG, i;
  unsigned dig;
  if (li >= na) {
    *sticky = na > 0;
    return 0;
  }
  dig = (a[li] / pow10_32[r]) % 10;
  *sticky = (a[li] % pow10_32[r]) != 0;
  for (i = 0; i < li && !*sticky; i++) *sticky = a[i] != 0;
  return dig;
}

/* out = a / 10^k, truncated (out has room for na; may alias a). */
static uint32_t shift_down(const uint32_t *a, uint32_t na, uint32_t k, uint32_t *out) {
  uint32_t q = k / LDIG, n;
  if (q >= na) return 0;
  memmove(out, a + q, (size_t)(na - q) * sizeof *out);
  div_small(out, na - q, pow10_32[k % LDIG], out, &n);
  return n;
}

/* Knuth's algorithm D in base 10^9: q = u / v, r = u % v, for nv >= 2 and nu >= nv. work has
 * room for nu + 1 + nv limbs, q for nu - nv + 1, r for nv. Returns the lengths via nq, nr. */
static void div_long(const uint32_t *u, uint32_t nu, const uint32_t *v, uint32_t nv,
                     uint32_t *q, uint32_t *nq, uint32_t *r, uint32_t *nr, uint32_t *work) {
  uint32_t *un = work, *vn = work + nu + 1;
  uint32_t f = BASE / (v[nv - 1] + 1), j, i, n;
  uint64_t vt, vs;
  n = mul_small(u, nu, f, 0, un);
  while (n < nu + 1) un[n++] = 0;
  mul_small(v, nv, f, 0, vn);       /* stays nv limbs: the top limb becomes >= BASE / 2 */
  vt = vn[nv - 1];
  vs = vn[nv - 2];
  j = nu - nv + 1;
  while (j-- > 0) {
    uint64_t num = (uint64_t)un[j + nv] * BASE + un[j + nv - 1];
    uint64_t qhat = num / vt, rhat = num % vt;
    int64_t k = 0, t;
    while (qhat >= BASE || qhat * vs > rhat * BASE + un[j + nv - 2]) {
      qhat--;
      rhat += vt;
      if (rhat >= BASE) break;
    }
    for (i = 0; i < nv; i++) {
      uint64_t p = qhat * vn[i];
      t = (int64_t)un[i + j] - k - (int64_t)(p % BASE);
      k = (int64_t)(p / BASE);
      if (t < 0) {
        int64_t b = (-t + BASE - 1) / BASE;
        t += b * (int64_t)BASE;
        k += b;
      }
      un[i + j] = (uint32_t)t;
    }
    t = (int64_t)un[j + nv] - k;
    if (t < 0) {
      /* qhat was one too large: add v back */
      uint32_t carry = 0;
      qhat--;
      for (i = 0; i < nv; i++) {
        uint32_t s = un[i + j] + vn[i] + carry;
        carry = s >= BASE;
        un[i + j] = carry ? s - BASE : s;
      }
      t += carry;
    }
    un[j + nv] = (uint32_t)t;
    q[j] = (uint32_t)qhat;
  }
  *nq = trim(q, nu - nv + 1);
  div_small(un, nv, f, r, nr);
}

/* ---- values ---- */

/* Every Lua-facing function of this file has the metatable as its upvalue 1: a decimal is
 * recognised and made without a registry lookup (a third of the cost of a small addition). */
#define MT_UPVALUE lua_upvalueindex(1)

static zz_dec *new_dec(lua_State *L, size_t cap) {
  zz_dec *d;
  if (cap > 0x7FFFFFFF / sizeof(uint32_t)) luaL_error(L, "zuora.decimal: number too large");
  d = (zz_dec *)zz_newudata(L, sizeof(zz_dec) + cap * sizeof(uint32_t));
  d->scale = 0;
  d->n = 0;
  d->neg = 0;
  d->cap = (uint32_t)cap;
  lua_pushvalue(L, MT_UPVALUE);
  lua_setmetatable(L, -2);
  return d;
}

/* The decimal at idx (> 0), or NULL; for functions with the metatable as upvalue 1. */
static const zz_dec *to_dec(lua_State *L, int idx) {
  const zz_dec *d = NULL;
  if (lua_getmetatable(L, idx)) {
    if (lua_rawequal(L, -1, MT_UPVALUE)) d = (const zz_dec *)lua_touserdata(L, idx);
    lua_pop(L, 1);
  }
  return d;
}

/* Scratch limbs: `small` when they fit, else a userdata left on the stack (freed by the GC). */
static uint32_t *scratch(lua_State *L, uint32_t *small, size_t need) {
  if (need <= SMALL) return small;
  if (need > 0x7FFFFFFF / sizeof(uint32_t)) luaL_error(L, "zuora.decimal: number too large");
  return (uint32_t *)zz_newudata(L, need * sizeof(uint32_t));
}

static dview view_of(const zz_dec *d) {
  dview v;
  v.d = zz_dec_limbs(d);
  v.n = d->n;
  v.scale = d->scale;
  v.neg = (int)d->neg;
  return v;
}

/* Finishes a result: sets sign and scale (zero is never negative). */
static void finish(zz_dec *d, uint32_t n, int32_t scale, int neg) {
  d->n = n;
  d->scale = scale;
  d->neg = n > 0 && neg;
}

/* Pushes a decimal copied from limbs a[0, n). */
static zz_dec *push_limbs(lua_State *L, const uint32_t *a, uint32_t n, int32_t scale, int neg) {
  zz_dec *d = new_dec(L, n);
  if (n) memcpy(zz_dec_limbs(d), a, (size_t)n * sizeof *a);
  finish(d, n, scale, neg);
  return d;
}

void zz_dec_push_mt(lua_State *L) {
  ZZ_RAWGETP(L, LUA_REGISTRYINDEX, &mt_key);
  if (lua_type(L, -1) == LUA_TTABLE) return;
  lua_pop(L, 1);
  lua_pushcfunction(L, zz_open_decimal);     /* builds and registers the metatable */
  lua_call(L, 0, 1);
  lua_pop(L, 1);
  ZZ_RAWGETP(L, LUA_REGISTRYINDEX, &mt_key);
}

const zz_dec *zz_dec_test(lua_State *L, int idx) {
  const zz_dec *d;
  idx = lua_absindex(L, idx);
  if (lua_type(L, idx) != LUA_TUSERDATA || !lua_getmetatable(L, idx)) return NULL;
  ZZ_RAWGETP(L, LUA_REGISTRYINDEX, &mt_key);
  d = lua_rawequal(L, -1, -2) ? (const zz_dec *)lua_touserdata(L, idx) : NULL;
  lua_pop(L, 2);
  return d;
}

/* ---- text ---- */

int zz_dec_push_text(lua_State *L, const char *s, size_t len, int mt_idx, const char **why) {
  size_t i = 0, first = 0, ndig = 0, nfrac = 0, sig, total, pos, nsig = 0;
  uint64_t small = 0;                       /* the significant digits while there are <= 18 */
  int neg = 0, seen_point = 0, esign = 1;
  long ex = 0;
  long long scale;
  zz_dec *d;
  uint32_t *limb, acc = 0, cap;
  *why = "not a decimal number";
  if (mt_idx > LUA_REGISTRYINDEX) mt_idx = lua_absindex(L, mt_idx);   /* not an upvalue index */
  if (i < len && (s[i] == '-' || s[i] == '+')) neg = s[i++] == '-';
  first = i;
  for (; i < len; i++) {
    char c = s[i];
    if (c >= '0' && c <= '9') {
      ndig++;
      nfrac += (size_t)seen_point;
      if (nsig || c != '0') {
        if (++nsig <= 18) small = small * 10 + (uint64_t)(c - '0');
      }
    } else if (c == '.' && !seen_point) {
      seen_point = 1;
    } else {
      break;
    }
  }
  if (ndig == 0) return -1;
  pos = i;                                   /* end of the digits */
  if (i < len && (s[i] == 'e' || s[i] == 'E')) {
    size_t e0;
    i++;
    if (i < len && (s[i] == '+' || s[i] == '-')) esign = s[i++] == '-' ? -1 : 1;
    e0 = i;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
      if (ex <= ZZ_DEC_MAX_EXP) ex = ex * 10 + (s[i] - '0');
    }
    if (i == e0) return -1;
    if (ex > ZZ_DEC_MAX_EXP) {
      *why = "exponent out of range";
      return -1;
    }
  }
  if (i != len) return -1;
  scale = (long long)nfrac - esign * ex;
  if (scale > ZZ_DEC_MAX_SCALE) {
    *why = "scale out of range";
    return -1;
  }
  if (nsig <= 18 && scale >= 0) {
    /* the common case (amounts): two limbs at most, from the digits already read */
    d = (zz_dec *)zz_newudata(L, sizeof(zz_dec) + (nsig > 9 ? 2 : nsig > 0) * sizeof(uint32_t));
    lua_pushvalue(L, mt_idx);
    lua_setmetatable(L, -2);
    limb = zz_dec_limbs(d);
    d->cap = nsig > 9 ? 2 : nsig > 0;
    if (nsig > 0) limb[0] = (uint32_t)(small % BASE);
    if (nsig > 9) limb[1] = (uint32_t)(small / BASE);
    finish(d, trim(limb, d->cap), (int32_t)scale, neg);
    return 0;
  }
  /* significant digits: skip leading zeros (and the point among them) */
  i = first;
  while (i < pos && (s[i] == '0' || s[i] == '.')) i++;
  sig = 0;
  {
    size_t k;
    for (k = i; k < pos; k++) sig += s[k] != '.';
  }
  total = sig == 0 ? 0 : sig + (size_t)(scale < 0 ? -scale : 0);
  cap = (uint32_t)((total + LDIG - 1) / LDIG);
  d = (zz_dec *)zz_newudata(L, sizeof(zz_dec) + (size_t)cap * sizeof(uint32_t));
  lua_pushvalue(L, mt_idx);
  lua_setmetatable(L, -2);
  d->cap = cap;
  limb = zz_dec_limbs(d);
  /* digits from the most significant: position p (from the right) goes to limb p / 9 */
  {
    size_t p = total, left = total % LDIG ? total % LDIG : LDIG;
    uint32_t li = cap;
    for (; i < pos || p > 0; i++) {
      unsigned dig;
      if (i < pos) {
        if (s[i] == '.') continue;
        dig = (unsigned)(s[i] - '0');
      } else {
        dig = 0;                             /* zeros a positive exponent adds */
      }
      if (p == 0) break;
      acc = acc * 10 + dig;
      p--;
      if (--left == 0) {
        limb[--li] = acc;
        acc = 0;
        left = LDIG;
      }
    }
  }
  finish(d, trim(limb, cap), (int32_t)(scale < 0 ? 0 : scale), neg);
  return 0;
}

static unsigned ndigits32(uint32_t x) {
  unsigned k = 1;
  while (k < 10 && x >= pow10_32[k]) k++;
  return k;
}

size_t zz_dec_format_size(const zz_dec *d) {
  return (size_t)d->n * LDIG + (size_t)d->scale + 4;
}

size_t zz_dec_format(const zz_dec *d, char *out) {
  const uint32_t *a = zz_dec_limbs(d);
  size_t nd, lead;
  char *o = out, *dig;
  uint32_t li;
  if (d->neg) *o++ = '-';
  /* write the coefficient's digits, then move them into place */
  nd = d->n ? (size_t)(d->n - 1) * LDIG + ndigits32(a[d->n - 1]) : 0;
  lead = nd <= (size_t)d->scale ? (size_t)d->scale + 1 - nd : 0;   /* zeros in front */
  memset(o, '0', lead);
  dig = o + lead;
  if (d->n) {
    char *w = dig + nd;
    for (li = 0; li < d->n; li++) {
      uint32_t x = a[li];
      unsigned k = li + 1 < d->n ? LDIG : ndigits32(x);
      while (k-- > 0) {
        *--w = (char)('0' + x % 10);
        x /= 10;
      }
    }
  }
  nd += lead;
  if (d->scale > 0) {
    size_t ip = nd - (size_t)d->scale;
    memmove(o + ip + 1, o + ip, (size_t)d->scale);
    o[ip] = '.';
    nd++;
  }
  return (size_t)(o - out) + nd;
}

static void push_string(lua_State *L, const zz_dec *d) {
  char small[64];
  size_t need = zz_dec_format_size(d);
  char *buf = need <= sizeof small ? small : (char *)zz_newudata(L, need);
  size_t n = zz_dec_format(d, buf);
  lua_pushlstring(L, buf, n);
  if (buf != small) lua_remove(L, -2);
}

/* ---- operands ---- */

/* An operand as a view. Decimals as they are; integers converted into `tmp` (3 limbs); strings
 * parsed (the new value is left on the stack); anything else raises. */
static dview operand(lua_State *L, int idx, uint32_t *tmp, const char *what) {
  dview v;
  const zz_dec *d = to_dec(L, idx);
  if (d) return view_of(d);
  if (lua_type(L, idx) == LUA_TNUMBER) {
    uint64_t u;
    int neg;
#if ZZ_HAVE_INTEGERS
    lua_Integer i;
    if (!lua_isinteger(L, idx)) goto is_float;
    i = lua_tointeger(L, idx);
    neg = i < 0;
    u = neg ? 0 - (uint64_t)i : (uint64_t)i;
#else
    lua_Number x = lua_tonumber(L, idx);
    if (!(x == floor(x) && fabs(x) <= 9007199254740992.0)) goto is_float;
    neg = x < 0;
    u = (uint64_t)(neg ? -x : x);
#endif
    v.n = 0;
    while (u) {
      tmp[v.n++] = (uint32_t)(u % BASE);
      u /= BASE;
    }
    v.d = tmp;
    v.scale = 0;
    v.neg = neg && v.n > 0;
    return v;
  is_float:
    luaL_error(L, "zuora.decimal: %s is a float (%s); floats are inexact, pass the amount as a "
               "string such as \"0.1\"", what, lua_tostring(L, idx));
  }
  if (lua_type(L, idx) == LUA_TSTRING) {
    size_t n;
    const char *s = lua_tolstring(L, idx, &n), *why;
    if (zz_dec_push_text(L, s, n, MT_UPVALUE, &why) != 0) {
      lua_pushlstring(L, s, n > 40 ? 40 : n);
      luaL_error(L, "zuora.decimal: %s for %s: \"%s%s\"", why, what, lua_tostring(L, -1),
                 n > 40 ? "..." : "");
    }
    return view_of((const zz_dec *)lua_touserdata(L, -1));
  }
  luaL_error(L, "zuora.decimal: %s must be a decimal, an integer or a string, got %s", what,
             luaL_typename(L, idx));
  memset(&v, 0, sizeof v);   /* not reached */
  return v;
}

/* A scale argument (optional: def). */
static int32_t scale_arg(lua_State *L, int idx, int32_t def) {
  lua_Number x;
  if (lua_isnoneornil(L, idx)) return def;
  if (lua_type(L, idx) != LUA_TNUMBER) luaL_argerror(L, idx, "scale must be an integer");
  x = lua_tonumber(L, idx);
  if (x != floor(x) || fabs(x) > ZZ_DEC_MAX_SCALE)
    luaL_argerror(L, idx, "scale must be an integer from -100000 to 100000");
  return (int32_t)x;
}

/* ---- operations ---- */

/* a +- b */
static int op_add(lua_State *L, int negate_b) {
  uint32_t t1[3], t2[3], s1[SMALL], s2[SMALL];
  dview a = operand(L, 1, t1, "left operand"), b = operand(L, 2, t2, "right operand");
  int32_t sc = a.scale > b.scale ? a.scale : b.scale;
  const uint32_t *x = a.d, *y = b.d;
  uint32_t nx = a.n, ny = b.n, n;
  int bneg = negate_b ? !b.neg : b.neg;
  zz_dec *r;
  if (a.scale < sc) {
    uint32_t *w = scratch(L, s1, shifted_size(nx, (uint32_t)(sc - a.scale)));
    nx = shift_up(x, nx, (uint32_t)(sc - a.scale), w);
    x = w;
  }
  if (b.scale < sc) {
    uint32_t *w = scratch(L, s2, shifted_size(ny, (uint32_t)(sc - b.scale)));
    ny = shift_up(y, ny, (uint32_t)(sc - b.scale), w);
    y = w;
  }
  r = new_dec(L, (nx > ny ? nx : ny) + 1);
  if (a.neg == bneg || ny == 0) {
    n = add_mag(x, nx, y, ny, zz_dec_limbs(r));
    finish(r, n, sc, nx ? a.neg : bneg);
  } else if (cmp_mag(x, nx, y, ny) >= 0) {
    n = sub_mag(x, nx, y, ny, zz_dec_limbs(r));
    finish(r, n, sc, a.neg);
  } else {
    n = sub_mag(y, ny, x, nx, zz_dec_limbs(r));
    finish(r, n, sc, bneg);
  }
  return 1;
}

static int l_add(lua_State *L) { return op_add(L, 0); }
static int l_sub(lua_State *L) { return op_add(L, 1); }

static int l_mul(lua_State *L) {
  uint32_t t1[3], t2[3];
  dview a = operand(L, 1, t1, "left operand"), b = operand(L, 2, t2, "right operand");
  int64_t sc = (int64_t)a.scale + b.scale;
  zz_dec *r;
  if (sc > ZZ_DEC_MAX_SCALE) return luaL_error(L, "zuora.decimal: product's scale above 100000");
  r = new_dec(L, (size_t)a.n + b.n);
  finish(r, mul_mag(a.d, a.n, b.d, b.n, zz_dec_limbs(r)), (int32_t)sc, a.neg != b.neg);
  return 1;
}

/* Three-way comparison of two values. */
static int compare(lua_State *L, const dview *a, const dview *b) {
  uint32_t s[SMALL];
  int sa = a->n ? (a->neg ? -1 : 1) : 0, sb = b->n ? (b->neg ? -1 : 1) : 0, c;
  if (sa != sb) return sa < sb ? -1 : 1;
  if (sa == 0) return 0;
  if (a->scale == b->scale) {
    c = cmp_mag(a->d, a->n, b->d, b->n);
  } else if (a->scale < b->scale) {
    uint32_t k = (uint32_t)(b->scale - a->scale), *w = scratch(L, s, shifted_size(a->n, k));
    uint32_t n = shift_up(a->d, a->n, k, w);
    c = cmp_mag(w, n, b->d, b->n);
  } else {
    uint32_t k = (uint32_t)(a->scale - b->scale), *w = scratch(L, s, shifted_size(b->n, k));
    uint32_t n = shift_up(b->d, b->n, k, w);
    c = cmp_mag(a->d, a->n, w, n);
  }
  return sa < 0 ? -c : c;
}

static int cmp_args(lua_State *L) {
  uint32_t t1[3], t2[3];
  dview a = operand(L, 1, t1, "left operand"), b = operand(L, 2, t2, "right operand");
  return compare(L, &a, &b);
}

static int l_eq(lua_State *L) { lua_pushboolean(L, cmp_args(L) == 0); return 1; }
static int l_lt(lua_State *L) { lua_pushboolean(L, cmp_args(L) < 0); return 1; }
static int l_le(lua_State *L) { lua_pushboolean(L, cmp_args(L) <= 0); return 1; }
static int l_cmp(lua_State *L) { lua_pushinteger(L, cmp_args(L)); return 1; }

static int l_unm(lua_State *L) {
  uint32_t t[3];
  dview a = operand(L, 1, t, "operand");
  push_limbs(L, a.d, a.n, a.scale, !a.neg);
  return 1;
}

static int l_abs(lua_State *L) {
  uint32_t t[3];
  dview a = operand(L, 1, t, "operand");
  if (!a.neg && to_dec(L, 1)) {
    lua_settop(L, 1);
    return 1;
  }
  push_limbs(L, a.d, a.n, a.scale, 0);
  return 1;
}

/* Should the magnitude q (already truncated) grow by one? dig/sticky describe what was dropped
 * (rel: -1 below half, 0 exactly half, 1 above half; inexact: anything dropped). */
static int round_up(int mode, int neg, int rel, int inexact, int q_odd) {
  if (!inexact) return 0;
  switch (mode) {
  case R_HALF_EVEN: return rel > 0 || (rel == 0 && q_odd);
  case R_HALF_UP: return rel >= 0;
  case R_HALF_DOWN: return rel > 0;
  case R_UP: return 1;
  case R_DOWN: return 0;
  case R_CEILING: return !neg;
  default: return neg;  /* R_FLOOR */
  }
}

/* Pushes m * 10^up (m given as limbs), with the scale and sign given. */
static void push_scaled(lua_State *L, const uint32_t *m, uint32_t n, uint32_t up, int32_t scale, int neg) {
  zz_dec *r = new_dec(L, shifted_size(n, up));
  finish(r, shift_up(m, n, up, zz_dec_limbs(r)), scale, neg);
}

static int l_round(lua_State *L) {
  uint32_t t[3], s[SMALL];
  dview a = operand(L, 1, t, "value");
  int32_t sc = scale_arg(L, 2, 0);
  int mode = luaL_checkoption(L, 3, "half_even", mode_names);
  int32_t keep = sc < 0 ? 0 : sc;
  if (sc >= a.scale) {
    push_scaled(L, a.d, a.n, (uint32_t)(sc - a.scale), sc, a.neg);
    return 1;
  }
  {
    uint32_t k = (uint32_t)(a.scale - sc), n, *w = scratch(L, s, (size_t)a.n + 1);
    int sticky, rel;
    unsigned dig = digit_at(a.d, a.n, k - 1, &sticky);
    rel = dig > 5 || (dig == 5 && sticky) ? 1 : dig == 5 ? 0 : -1;
    n = shift_down(a.d, a.n, k, w);
    if (round_up(mode, a.neg, rel, dig || sticky, n && (w[0] & 1))) {
      uint32_t one = 1;
      n = add_mag(w, n, &one, 1, w);
    }
    push_scaled(L, w, n, sc < 0 ? (uint32_t)-sc : 0, keep, a.neg);
  }
  return 1;
}

/* self / other rounded to `scale` digits (default: self's scale). */
static int l_div(lua_State *L) {
  uint32_t t1[3], t2[3], s1[SMALL], s2[SMALL], s3[SMALL], s4[SMALL], s5[SMALL];
  dview a = operand(L, 1, t1, "dividend"), b = operand(L, 2, t2, "divisor");
  int32_t sc = scale_arg(L, 3, a.scale);
  int mode = luaL_checkoption(L, 4, "half_even", mode_names);
  int64_t e = (int64_t)sc + b.scale - a.scale;   /* q = a.d * 10^e / b.d */
  const uint32_t *u = a.d, *v = b.d;
  uint32_t nu = a.n, nv = b.n, *q, *r, nq, nr;
  int rel, inexact, neg = a.neg != b.neg;
  int32_t keep = sc < 0 ? 0 : sc;
  if (nv == 0) return luaL_error(L, "zuora.decimal: division by zero");
  if (e > 2 * ZZ_DEC_MAX_SCALE || e < -2 * ZZ_DEC_MAX_SCALE)
    return luaL_error(L, "zuora.decimal: division's scale out of range");
  if (e > 0) {
    uint32_t *w = scratch(L, s1, shifted_size(nu, (uint32_t)e));
    nu = shift_up(u, nu, (uint32_t)e, w);
    u = w;
  } else if (e < 0) {
    uint32_t *w = scratch(L, s2, shifted_size(nv, (uint32_t)-e));
    nv = shift_up(v, nv, (uint32_t)-e, w);
    v = w;
  }
  q = scratch(L, s3, (size_t)nu + 2);
  r = scratch(L, s4, (size_t)nv + 1);
  if (cmp_mag(u, nu, v, nv) < 0) {
    nq = 0;
    memcpy(r, u, (size_t)nu * sizeof *u);
    nr = nu;
  } else if (nv == 1) {
    r[0] = div_small(u, nu, v[0], q, &nq);
    nr = trim(r, 1);
  } else {
    uint32_t *work = scratch(L, s5, (size_t)nu + 1 + nv);
    div_long(u, nu, v, nv, q, &nq, r, &nr, work);
  }
  inexact = nr != 0;
  if (inexact) {
    /* compare 2r with v */
    nr = add_mag(r, nr, r, nr, r);
    rel = cmp_mag(r, nr, v, nv);
  } else {
    rel = -1;
  }
  if (round_up(mode, neg, rel, inexact, nq && (q[0] & 1))) {
    uint32_t one = 1;
    nq = add_mag(q, nq, &one, 1, q);
  }
  push_scaled(L, q, nq, sc < 0 ? (uint32_t)-sc : 0, keep, neg);
  return 1;
}

static const zz_dec *check_dec(lua_State *L, int idx) {
  const zz_dec *d = to_dec(L, idx);
  if (!d) luaL_argerror(L, idx, lua_pushfstring(L, "zuora.decimal expected, got %s", luaL_typename(L, idx)));
  return d;
}

static int l_tostring(lua_State *L) {
  push_string(L, check_dec(L, 1));
  return 1;
}

static int l_tonumber(lua_State *L) {
  const zz_dec *d = check_dec(L, 1);
  double v = 0;
  size_t n;
  const char *s;
  push_string(L, d);
  s = lua_tolstring(L, -1, &n);
  if (zz_json_strtod(s, n, &v) != 0) return luaL_error(L, "not enough memory");
  lua_pushnumber(L, (lua_Number)v);
  return 1;
}

static int l_scale(lua_State *L) {
  lua_pushinteger(L, check_dec(L, 1)->scale);
  return 1;
}

static int l_sign(lua_State *L) {
  const zz_dec *d = check_dec(L, 1);
  lua_pushinteger(L, d->n == 0 ? 0 : d->neg ? -1 : 1);
  return 1;
}

static int l_is_integer(lua_State *L) {
  const zz_dec *d = check_dec(L, 1);
  int sticky = 0;
  if (d->scale > 0) digit_at(zz_dec_limbs(d), d->n, (uint32_t)d->scale, &sticky);
  lua_pushboolean(L, !sticky);
  return 1;
}

static int l_concat(lua_State *L) {
  int i;
  for (i = 1; i <= 2; i++) {
    const zz_dec *d = to_dec(L, i);
    if (d) {
      push_string(L, d);
    } else if (lua_type(L, i) == LUA_TSTRING || lua_type(L, i) == LUA_TNUMBER) {
      lua_pushvalue(L, i);
    } else {
      return luaL_error(L, "attempt to concatenate a %s value with a zuora.decimal", luaL_typename(L, i));
    }
  }
  lua_concat(L, 2);
  return 1;
}

static int l_nodiv(lua_State *L) {
  return luaL_error(L, "zuora.decimal: '/' would have to guess a scale; use d:div(other, scale, mode)");
}

/* zuora.decimal(x): a decimal from a string or an integer (or the decimal itself). */
static int l_new(lua_State *L) {
  uint32_t t[3];
  int idx = 1;
  dview a;
  if (lua_isnone(L, 1)) return luaL_argerror(L, 1, "string or integer expected");
  if (to_dec(L, idx)) {
    lua_settop(L, idx);
    return 1;
  }
  a = operand(L, idx, t, "value");
  if (lua_type(L, idx) != LUA_TSTRING) push_limbs(L, a.d, a.n, a.scale, a.neg);
  return 1;
}

static int l_is(lua_State *L) {
  lua_pushboolean(L, to_dec(L, 1) != NULL);
  return 1;
}

static int l_call(lua_State *L) {
  lua_remove(L, 1);            /* the module table */
  return l_new(L);
}

static const luaL_Reg methods[] = {
  {"div", l_div},
  {"round", l_round},
  {"cmp", l_cmp},
  {"abs", l_abs},
  {"tonumber", l_tonumber},
  {"scale", l_scale},
  {"sign", l_sign},
  {"is_integer", l_is_integer},
  {NULL, NULL},
};

/* Set again over what the class helper made, with the metatable as upvalue 1 (see MT_UPVALUE). */
static const luaL_Reg metamethods[] = {
  {"__add", l_add},
  {"__sub", l_sub},
  {"__mul", l_mul},
  {"__div", l_nodiv},
  {"__unm", l_unm},
  {"__eq", l_eq},
  {"__lt", l_lt},
  {"__le", l_le},
  {"__concat", l_concat},
  {"__tostring", l_tostring},
  {NULL, NULL},
};

static const luaL_Reg module_funcs[] = {
  {"new", l_new},
  {"is", l_is},
  {"add", l_add},
  {"sub", l_sub},
  {"mul", l_mul},
  {NULL, NULL},
};

/* Builds the metatable once (zz_newclass registers it under ZZ_DECIMAL_NAME; it is also kept
 * under mt_key, a faster lookup than by name) and returns the module table: new, is, modes, and __call = new. */
int zz_open_decimal(lua_State *L) {
  ZZ_RAWGETP(L, LUA_REGISTRYINDEX, &mt_key);
  if (lua_type(L, -1) != LUA_TTABLE) {
    lua_pop(L, 1);
    zz_newclass(L, ZZ_DECIMAL_NAME, methods, NULL, NULL, l_tostring);   /* no __gc: nothing to free */
    luaL_getmetatable(L, ZZ_DECIMAL_NAME);
    /* the functions again, now with the metatable as upvalue 1 */
    lua_pushvalue(L, -1);
    luaL_setfuncs(L, metamethods, 1);
    lua_getfield(L, -1, "__index");
    lua_pushvalue(L, -2);
    luaL_setfuncs(L, methods, 1);
    lua_pop(L, 1);
    lua_pushliteral(L, "zuora.decimal");
    lua_setfield(L, -2, "__metatable");
    lua_pushvalue(L, -1);
    ZZ_RAWSETP(L, LUA_REGISTRYINDEX, &mt_key);
  }
  /* stack: mt */
  lua_createtable(L, 0, 12);
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, methods, 1);
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, module_funcs, 1);
  lua_pushinteger(L, ZZ_DEC_MAX_EXP);
  lua_setfield(L, -2, "max_exponent");
  lua_pushinteger(L, ZZ_DEC_MAX_SCALE);
  lua_setfield(L, -2, "max_scale");
  {
    int i;
    lua_createtable(L, 7, 0);
    for (i = 0; mode_names[i]; i++) {
      lua_pushstring(L, mode_names[i]);
      lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "modes");
  }
  lua_createtable(L, 0, 1);
  lua_pushvalue(L, -3);
  lua_pushcclosure(L, l_call, 1);
  lua_setfield(L, -2, "__call");
  lua_setmetatable(L, -2);
  lua_remove(L, -2);   /* mt */
  return 1;
}
