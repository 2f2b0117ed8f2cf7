/* core.json numbers: the shortest decimal that reads back to the same double, integer digits,
 * and correctly rounded parsing that ignores the process's locale.
 *
 * Formatting a double: common values (integral, or with few decimals, such as money) take an
 * exact fast path made of one multiplication and one division by a power of ten. The rest ask
 * the C library for the correctly rounded N-significant-digit decimal, check each candidate by
 * reading it back, and search for the smallest N that works; every digit string we emit has
 * been proven to read back to the input. */
#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "json.h"

/* The fast paths rely on each double operation being rounded once, to double. That holds
 * unless the compiler evaluates in x87 extended precision. */
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 0
#  define FAST_FP 1
#else
#  define FAST_FP 0
#endif

/* Powers of ten that are exact doubles (10^22 < 2^53 * 2^22). */
static const double pow10_exact[23] = {
  1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
  1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

static const uint64_t pow10_u64[16] = {
  1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull, 100000000ull,
  1000000000ull, 10000000000ull, 100000000000ull, 1000000000000ull, 10000000000000ull,
  100000000000000ull, 1000000000000000ull,
};

/* Decimals the multiply-divide fast path tries before the exact 128-bit one (money has 2). */
#if defined(__SIZEOF_INT128__)
#  define FAST_DECIMALS 4
#else
#  define FAST_DECIMALS 22
#endif

#define TWO53 9007199254740992.0
#define TWO50 1125899906842624.0

static const char digit_pairs[] =
  "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
  "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
  "8081828384858687888990919293949596979899";

/* Writes the digits of u so that they end just before `end`; returns where they start. */
static char *u64_digits(uint64_t u, char *end) {
  char *p = end;
  while (u >= 100) {
    unsigned r = (unsigned)(u % 100);
    u /= 100;
    p -= 2;
    memcpy(p, digit_pairs + 2 * r, 2);
  }
  if (u >= 10) {
    p -= 2;
    memcpy(p, digit_pairs + 2 * u, 2);
  } else {
    *--p = (char)('0' + u);
  }
  return p;
}

size_t zz_json_format_int(int64_t v, char *out) {
  char tmp[24];
  char *end = tmp + sizeof tmp;
  uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
  char *p = u64_digits(u, end);
  size_t n;
  if (v < 0) *--p = '-';
  n = (size_t)(end - p);
  memcpy(out, p, n);
  return n;
}

/* Lays out digits d[0, nd) (no trailing zeros, d[0] != '0') whose decimal point sits after
 * `point` digits (value = 0.d * 10^point). Fixed notation for 1e-4 <= |v| < 1e16, else
 * scientific, as most languages print doubles. */
static size_t layout(char *out, const char *d, int nd, int point, int int_suffix) {
  char *o = out;
  int x = point - 1;                          /* scientific exponent */
  if (x >= -4 && x < 16) {
    if (point <= 0) {
      *o++ = '0';
      *o++ = '.';
      memset(o, '0', (size_t)-point);
      o += -point;
      memcpy(o, d, (size_t)nd);
      o += nd;
    } else if (point < nd) {
      memcpy(o, d, (size_t)point);
      o += point;
      *o++ = '.';
      memcpy(o, d + point, (size_t)(nd - point));
      o += nd - point;
    } else {
      memcpy(o, d, (size_t)nd);
      o += nd;
      memset(o, '0', (size_t)(point - nd));
      o += point - nd;
      if (int_suffix) {
        *o++ = '.';
        *o++ = '0';
      }
    }
  } else {
    char eb[8];
    char *e;
    *o++ = d[0];
    if (nd > 1) {
      *o++ = '.';
      memcpy(o, d + 1, (size_t)(nd - 1));
      o += nd - 1;
    }
    *o++ = 'e';
    *o++ = x < 0 ? '-' : '+';
    e = u64_digits((uint64_t)(x < 0 ? -x : x), eb + sizeof eb);
    memcpy(o, e, (size_t)(eb + sizeof eb - e));
    o += eb + sizeof eb - e;
  }
  return (size_t)(o - out);
}

/* A decimal candidate: digits d[0, nd), value 0.d * 10^point. */
typedef struct {
  char d[24];
  int nd;
  int point;
} decimal;

/* The correctly rounded nsig-digit decimal of v > 0, from the C library. The radix character
 * depends on the locale, so only digits and the exponent are read back. */
static void rounded_digits(double v, int nsig, decimal *r) {
  char buf[64];
  int i = 0, nd = 0;
  snprintf(buf, sizeof buf, "%.*e", nsig - 1, v);
  for (; buf[i] && buf[i] != 'e'; i++) {
    if (buf[i] >= '0' && buf[i] <= '9' && nd < (int)sizeof r->d) r->d[nd++] = buf[i];
  }
  r->nd = nd;
  r->point = (buf[i] == 'e' ? atoi(buf + i + 1) : 0) + 1;
}

/* Reads the candidate back as a double. */
static double value_of(const decimal *r) {
  char buf[48];
  char eb[8];
  char *e;
  int ex = r->point - r->nd;
  size_t n = (size_t)r->nd;
  double v = 0;
  memcpy(buf, r->d, n);
  buf[n++] = 'e';
  if (ex < 0) buf[n++] = '-';
  e = u64_digits((uint64_t)(ex < 0 ? -ex : ex), eb + sizeof eb);
  memcpy(buf + n, e, (size_t)(eb + sizeof eb - e));
  n += (size_t)(eb + sizeof eb - e);
  if (zz_json_strtod(buf, n, &v) != 0) return -1;  /* out of memory: never equal to v */
  return v;
}

/* The next nd-digit decimal above r. */
static void next_up(decimal *r) {
  int i = r->nd - 1;
  while (i >= 0 && r->d[i] == '9') r->d[i--] = '0';
  if (i >= 0) {
    r->d[i]++;
  } else {
    r->d[0] = '1';
    r->point++;
  }
}

/* Does some nsig-digit decimal read back to v? If so, r is the closest such one. Between two
 * doubles the rounding interval is symmetric, so the closest decimal is the one to test; at a
 * power of two (asym) the gap below is half the gap above, so a decimal just above v may read
 * back when the closest one, below v, does not. */
static int fits(double v, int nsig, int asym, decimal *r) {
  double x;
  rounded_digits(v, nsig, r);
  x = value_of(r);
  if (x == v) return 1;
  if (asym && x < v) {
    next_up(r);
    return value_of(r) == v;
  }
  return 0;
}

static size_t format_slow(double v, char *out, int int_suffix) {
  uint64_t bits;
  int asym, lo, hi;
  decimal best, cand;
  memcpy(&bits, &v, sizeof bits);
  /* Mantissa bits all zero and not the smallest normal exponent: the gap below is smaller. */
  asym = (bits & 0xFFFFFFFFFFFFFull) == 0 && (bits >> 52) > 1;
  if (!fits(v, 16, asym, &best)) {
    /* 17 significant digits always identify a double. */
    if (!fits(v, 17, asym, &best)) rounded_digits(v, 17, &best);
  } else if (fits(v, 15, asym, &cand)) {
    /* Fewer digits may do: "fits" only grows with nsig, so search [1, 15]. */
    best = cand;
    lo = 1;
    hi = 15;
    while (lo < hi) {
      int mid = (lo + hi) / 2;
      if (fits(v, mid, asym, &cand)) {
        best = cand;
        hi = mid;
      } else {
        lo = mid + 1;
      }
    }
  }
  while (best.nd > 1 && best.d[best.nd - 1] == '0') best.nd--;
  return layout(out, best.d, best.nd, best.point, int_suffix);
}

#if defined(__SIZEOF_INT128__)
typedef unsigned __int128 u128;

/* Exact shortest digits with 128-bit integers, for 1e-5 <= v < 1e17 that are not integers,
 * powers of two or subnormals (the common case of computed amounts such as 19.99 * 0.19).
 * v = m * 2^-s. Scaled by 10^k (k chosen so that x = v * 10^k lies in [1e17, 1e19)), the
 * doubles next to v are x -+ h with h = 10^k / 2^(s+1), so the decimals that read back as v are
 * exactly the integers in [x - h, x + h] times 10^-k (ends included when m is even, as ties
 * round to even). Computing in units of 2^-(s+1) keeps everything an integer: X = 2m * 10^k,
 * H = 10^k, both below 2^128 since m < 2^53 and 10^k <= 10^22 < 2^74. The fewest digits come
 * from the largest P such that a multiple of 10^P is in the interval; of those, the one
 * nearest x. Returns 0 when v is outside this domain. */
static int shortest_exact(double v, uint64_t *digits, int *point) {
  static const uint64_t p10[20] = {
    1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull, 100000000ull,
    1000000000ull, 10000000000ull, 100000000000ull, 1000000000000ull, 10000000000000ull,
    100000000000000ull, 1000000000000000ull, 10000000000000000ull, 100000000000000000ull,
    1000000000000000000ull, 10000000000000000000ull,
  };
  uint64_t bits, m, q, lo_q, hi_q, c;
  u128 pk, X, r, lo, hi, mask, rest_scaled, half;
  int e, s, k, P;
  memcpy(&bits, &v, sizeof bits);
  m = bits & 0xFFFFFFFFFFFFFull;
  e = (int)((bits >> 52) & 0x7FF);
  if (e == 0 || m == 0) return 0;            /* subnormal, or a power of two (uneven gaps) */
  m |= 1ull << 52;
  e -= 1075;                                  /* v = m * 2^e */
  if (e >= 0 || e < -70) return 0;
  s = -e;
  /* floor(log10(v)) is floor((e + 52) * log10(2)) or one more; either way x < 1e19. */
  k = 17 - (int)floor((e + 52) * 0.30102999566398120);
  if (k < 0 || k > 22) return 0;
  pk = k <= 19 ? (u128)p10[k] : (u128)p10[19] * p10[k - 19];
  X = (u128)m * pk;
  q = (uint64_t)(X >> s);                     /* x = q + r / 2^s */
  r = X & (((u128)1 << s) - 1);
  lo = (X << 1) - pk;
  hi = (X << 1) + pk;
  mask = ((u128)1 << (s + 1)) - 1;
  lo_q = (uint64_t)(lo >> (s + 1));
  if ((lo & mask) != 0 || (m & 1)) lo_q++;    /* ceil, or step off an excluded end */
  hi_q = (uint64_t)(hi >> (s + 1));
  if ((hi & mask) == 0 && (m & 1)) hi_q--;
  if (lo_q > hi_q) return 0;
  for (P = 0; P < 17; P++) {
    uint64_t l2 = lo_q / 10 + (lo_q % 10 != 0), h2 = hi_q / 10;
    if (l2 > h2) break;
    lo_q = l2;
    hi_q = h2;
  }
  if (P >= 17) return 0;
  /* Nearest to x / 10^P: compare the dropped part (rest + r / 2^s) with 10^P / 2. */
  c = q / p10[P];
  rest_scaled = (((u128)(q % p10[P]) << s) + r) << 1;
  half = (u128)p10[P] << s;
  if (rest_scaled > half || (rest_scaled == half && (c & 1))) c++;
  if (c < lo_q) c = lo_q;
  if (c > hi_q) c = hi_q;
  {
    int nd = 1;
    uint64_t t = c;
    while (t >= 10) {
      t /= 10;
      nd++;
    }
    *digits = c;
    *point = nd + P - k;
  }
  return 1;
}
#endif

size_t zz_json_format_double(double v, char *out, int int_suffix) {
  char *o = out;
  if (signbit(v)) {
    *o++ = '-';
    v = -v;
  }
  if (v == 0) {
    memcpy(o, "0.0", 3);
    return (size_t)(o - out) + (int_suffix ? 3 : 1);
  }
#if FAST_FP
  if (v < TWO53) {
    char buf[24];
    char *end = buf + sizeof buf, *d;
    int nd, k;
    if (v == floor(v)) {
      d = u64_digits((uint64_t)v, end);
      nd = (int)(end - d);
      k = nd;
      while (nd > 1 && d[nd - 1] == '0') nd--;
      return (size_t)(o - out) + layout(o, d, nd, k, int_suffix);
    }
    /* v * 10^k < 2^50 means the rounding interval of v, scaled, is narrower than 1/2 and holds
     * at most one integer, which must then be round(v * 10^k). r / 10^k is the correctly rounded
     * value of the decimal r * 10^-k (r and 10^k are exact), so it equals v exactly when that
     * decimal reads back to v. The first k that works gives the fewest digits. */
    for (k = 1; k <= FAST_DECIMALS; k++) {
      double t = v * pow10_exact[k], r;
      if (t >= TWO50) break;
      r = floor(t + 0.5);
      if (r / pow10_exact[k] == v) {
        d = u64_digits((uint64_t)r, end);
        nd = (int)(end - d);
        return (size_t)(o - out) + layout(o, d, nd, nd - k, int_suffix);
      }
    }
  }
#endif
#if defined(__SIZEOF_INT128__)
  {
    uint64_t digits;
    int point;
    if (shortest_exact(v, &digits, &point)) {
      char buf[24];
      char *end = buf + sizeof buf, *d = u64_digits(digits, end);
      return (size_t)(o - out) + layout(o, d, (int)(end - d), point, int_suffix);
    }
  }
#endif
  return (size_t)(o - out) + format_slow(v, o, int_suffix);
}

/* Parsing. strtod follows LC_NUMERIC, which a host program may have changed; strtod_l with a
 * "C" locale object does not. The object is made once per process; two threads racing to make
 * it keep one and free the other. */
static locale_t c_locale = (locale_t)0;

static locale_t get_c_locale(void) {
  locale_t l = __atomic_load_n(&c_locale, __ATOMIC_ACQUIRE);
  if (l == (locale_t)0) {
    locale_t fresh = newlocale(LC_ALL_MASK, "C", (locale_t)0), expected = (locale_t)0;
    if (fresh == (locale_t)0) return fresh;
    if (__atomic_compare_exchange_n(&c_locale, &expected, fresh, 0, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE)) {
      l = fresh;
    } else {
      freelocale(fresh);
      l = expected;
    }
  }
  return l;
}

static double parse_text(char *buf) {
  locale_t c = get_c_locale();
  if (c != (locale_t)0) return strtod_l(buf, NULL, c);
  {
    /* No locale object: write the radix character the current locale expects. */
    const char *dp = localeconv()->decimal_point;
    char *dot = strchr(buf, '.');
    if (dot && dp && dp[0] && !dp[1]) *dot = dp[0];
    return strtod(buf, NULL);
  }
}

#if FAST_FP
/* m * 10^e10 when that is exact with one rounding; returns 0 if not applicable. */
static int fast_value(uint64_t m, long e10, double *out) {
  if (m > (uint64_t)TWO53) return 0;
  if (e10 >= 0 && e10 <= 22) {
    *out = (double)m * pow10_exact[e10];
    return 1;
  }
  if (e10 < 0 && e10 >= -22) {
    *out = (double)m / pow10_exact[-e10];
    return 1;
  }
  if (e10 > 22 && e10 <= 22 + 15) {
    /* Move surplus powers of ten into the mantissa while it stays exact. */
    uint64_t f = pow10_u64[e10 - 22];
    if (m <= (uint64_t)TWO53 / f) {
      *out = (double)(m * f) * pow10_exact[22];
      return 1;
    }
  }
  return 0;
}
#endif

int zz_json_strtod(const char *s, size_t n, double *out) {
  char small[96];
  char *buf = small;
#if FAST_FP
  {
    /* Short numbers with at most 19 significant digits and a small exponent. */
    uint64_t m = 0;
    int nd = 0, neg = 0, esign = 1;
    long frac = 0, ex = 0;
    size_t i = 0;
    int ok = 1, in_frac = 0;
    if (i < n && s[i] == '-') {
      neg = 1;
      i++;
    }
    for (; i < n && ok; i++) {
      char c = s[i];
      if (c >= '0' && c <= '9') {
        if (m == 0 && c == '0') {
          /* leading zero: no significance */
        } else if (nd < 19) {
          m = m * 10 + (uint64_t)(c - '0');
          nd++;
        } else {
          ok = 0;
        }
        if (in_frac) frac++;
      } else if (c == '.') {
        in_frac = 1;
      } else if (c == 'e' || c == 'E') {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) esign = s[i++] == '-' ? -1 : 1;
        for (; i < n; i++) {
          if (ex < 100000) ex = ex * 10 + (s[i] - '0');
        }
        break;
      } else {
        ok = 0;
      }
    }
    if (ok) {
      double v;
      if (m == 0) {
        *out = neg ? -0.0 : 0.0;
        return 0;
      }
      if (fast_value(m, esign * ex - frac, &v)) {
        *out = neg ? -v : v;
        return 0;
      }
    }
  }
#endif
  if (n >= sizeof small) {
    buf = malloc(n + 1);
    if (!buf) return -1;
  }
  memcpy(buf, s, n);
  buf[n] = '\0';
  *out = parse_text(buf);
  if (buf != small) free(buf);
  return 0;
}
