/* The token-reply scanner (auth_reply.h): a strict reader for the flat JSON object an OAuth token
 * endpoint returns. It accepts exactly one object whose values are strings, numbers, true, false
 * or null; anything nested, any duplicate known key, bad escapes, invalid UTF-8 or trailing bytes
 * reject the reply. Every read is bounds-checked against n, so it is safe on arbitrary input (it
 * gets fuzzed: fuzz/auth.c). */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "auth_reply.h"
#include "base64.h"
#include "utf8.h"

static const char *const field_names[ZZ_REPLY_NFIELDS] = {
  "access_token", "token_type", "expires_in", "error", "error_description", "message", "Message", "exp", "iat",
};

static void skip_ws(zz_reply *sc) {
  while (sc->i < sc->n && (sc->s[sc->i] == ' ' || sc->s[sc->i] == '\t' || sc->s[sc->i] == '\n' || sc->s[sc->i] == '\r'))
    sc->i++;
}

static int fail(zz_reply *sc, const char *msg) {
  if (!sc->err) sc->err = msg;
  return -1;
}

static int hex4(zz_reply *sc, unsigned *out) {
  unsigned v = 0;
  int k;
  if (sc->n - sc->i < 4) return fail(sc, "truncated \\u escape");
  for (k = 0; k < 4; k++) {
    char c = sc->s[sc->i++];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
    else return fail(sc, "bad \\u escape");
  }
  *out = v;
  return 0;
}

/* Reads a string at the cursor (which is on the opening quote) into out (NULL: validate only). */
static int scan_string(zz_reply *sc, zz_buf *out) {
  sc->i++;
  for (;;) {
    unsigned char c;
    if (sc->i >= sc->n) return fail(sc, "unterminated string");
    c = (unsigned char)sc->s[sc->i];
    if (c == '"') {
      sc->i++;
      return 0;
    }
    if (c < 0x20) return fail(sc, "control character in string");
    if (c == '\\') {
      char e;
      unsigned cp;
      if (++sc->i >= sc->n) return fail(sc, "unterminated string");
      e = sc->s[sc->i++];
      switch (e) {
        case '"': case '\\': case '/': cp = (unsigned char)e; break;
        case 'b': cp = '\b'; break;
        case 'f': cp = '\f'; break;
        case 'n': cp = '\n'; break;
        case 'r': cp = '\r'; break;
        case 't': cp = '\t'; break;
        case 'u':
          if (hex4(sc, &cp) != 0) return -1;
          if (cp >= 0xdc00 && cp <= 0xdfff) return fail(sc, "lone surrogate in \\u escape");
          if (cp >= 0xd800 && cp <= 0xdbff) {
            unsigned lo;
            if (sc->n - sc->i < 2 || sc->s[sc->i] != '\\' || sc->s[sc->i + 1] != 'u')
              return fail(sc, "lone surrogate in \\u escape");
            sc->i += 2;
            if (hex4(sc, &lo) != 0) return -1;
            if (lo < 0xdc00 || lo > 0xdfff) return fail(sc, "lone surrogate in \\u escape");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          }
          break;
        default: return fail(sc, "bad escape in string");
      }
      if (out) {
        unsigned char u[4];
        if (zz_buf_add(out, u, zz_utf8_encode(cp, u)) != 0) return fail(sc, "out of memory");
      }
    } else if (c < 0x80) {
      if (out && zz_buf_add(out, &sc->s[sc->i], 1) != 0) return fail(sc, "out of memory");
      sc->i++;
    } else {
      size_t len = (size_t)zz_utf8_len((const unsigned char *)sc->s + sc->i, (const unsigned char *)sc->s + sc->n);
      if (!len) return fail(sc, "invalid UTF-8 in string");
      if (out && zz_buf_add(out, &sc->s[sc->i], len) != 0) return fail(sc, "out of memory");
      sc->i += len;
    }
  }
}

static int digits(zz_reply *sc) {
  size_t start = sc->i;
  while (sc->i < sc->n && sc->s[sc->i] >= '0' && sc->s[sc->i] <= '9') sc->i++;
  return sc->i > start ? 0 : fail(sc, "bad number");
}

/* Validates a JSON number at the cursor; its text goes to out when out is not NULL. */
static int scan_number(zz_reply *sc, zz_buf *out) {
  size_t start = sc->i;
  if (sc->i < sc->n && sc->s[sc->i] == '-') sc->i++;
  if (sc->i < sc->n && sc->s[sc->i] == '0') sc->i++;
  else if (digits(sc) != 0) return -1;
  if (sc->i < sc->n && sc->s[sc->i] == '.') {
    sc->i++;
    if (digits(sc) != 0) return -1;
  }
  if (sc->i < sc->n && (sc->s[sc->i] == 'e' || sc->s[sc->i] == 'E')) {
    sc->i++;
    if (sc->i < sc->n && (sc->s[sc->i] == '+' || sc->s[sc->i] == '-')) sc->i++;
    if (digits(sc) != 0) return -1;
  }
  if (out && zz_buf_add(out, sc->s + start, sc->i - start) != 0) return fail(sc, "out of memory");
  return 0;
}

static int scan_literal(zz_reply *sc, const char *lit) {
  size_t len = strlen(lit);
  if (sc->n - sc->i < len || memcmp(sc->s + sc->i, lit, len) != 0) return fail(sc, "unexpected character");
  sc->i += len;
  return 0;
}

int zz_reply_scan(zz_reply *sc) {
  skip_ws(sc);
  if (sc->i >= sc->n || sc->s[sc->i] != '{') return fail(sc, "not a JSON object");
  sc->i++;
  skip_ws(sc);
  if (sc->i < sc->n && sc->s[sc->i] == '}') {
    sc->i++;
  } else {
    for (;;) {
      zz_buf key = ZZ_BUF_INIT;
      int f = -1, k;
      zz_buf *dst;
      skip_ws(sc);
      if (sc->i >= sc->n || sc->s[sc->i] != '"') return fail(sc, "expected a key");
      if (scan_string(sc, &key) != 0) {
        zz_buf_free(&key);
        return -1;
      }
      for (k = 0; k < ZZ_REPLY_NFIELDS && key.p; k++)
        if (key.n == strlen(field_names[k]) && memcmp(key.p, field_names[k], key.n) == 0) f = k;
      zz_buf_free(&key);
      if (f >= 0) {
        if (sc->seen[f]) return fail(sc, "duplicate key");
        sc->seen[f] = 1;
      }
      dst = f >= 0 ? &sc->val[f] : NULL;
      skip_ws(sc);
      if (sc->i >= sc->n || sc->s[sc->i] != ':') return fail(sc, "expected ':'");
      sc->i++;
      skip_ws(sc);
      if (sc->i >= sc->n) return fail(sc, "truncated");
      switch (sc->s[sc->i]) {
        case '"':
          if (f >= 0) sc->is_string[f] = 1;
          if (scan_string(sc, dst) != 0) return -1;
          break;
        case 't': if (scan_literal(sc, "true") != 0) return -1; break;
        case 'f': if (scan_literal(sc, "false") != 0) return -1; break;
        case 'n': if (scan_literal(sc, "null") != 0) return -1; break;
        case '{': case '[': return fail(sc, "nested value (a token reply is a flat object)");
        default:
          if (scan_number(sc, dst) != 0) return -1;
      }
      skip_ws(sc);
      if (sc->i < sc->n && sc->s[sc->i] == ',') {
        sc->i++;
        continue;
      }
      if (sc->i < sc->n && sc->s[sc->i] == '}') {
        sc->i++;
        break;
      }
      return fail(sc, "expected ',' or '}'");
    }
  }
  skip_ws(sc);
  if (sc->i != sc->n) return fail(sc, "trailing data after the object");
  return 0;
}

/* A zeroed scanner whose value buffers wipe what they held as they grow (values are tokens). */
void zz_reply_init(zz_reply *sc, const char *s, size_t n) {
  int k;
  memset(sc, 0, sizeof *sc);
  for (k = 0; k < ZZ_REPLY_NFIELDS; k++) sc->val[k].wipe = 1;
  sc->s = s ? s : "";
  sc->n = s ? n : 0;
}

void zz_reply_free(zz_reply *sc) {
  int k;
  for (k = 0; k < ZZ_REPLY_NFIELDS; k++) zz_buf_wipe(&sc->val[k]);
}

/* expires_in as seconds: a number or a numeric string within (0, ZZ_AUTH_MAX_LIFETIME], else the default. */
double zz_reply_expires_in(const zz_reply *sc) {
  const zz_buf *v = &sc->val[ZZ_REPLY_EXPIRES_IN];
  char tmp[64], *end;
  double d;
  if (!sc->seen[ZZ_REPLY_EXPIRES_IN] || !v->p || v->n == 0 || v->n >= sizeof tmp) return ZZ_AUTH_DEFAULT_LIFETIME;
  memcpy(tmp, v->p, v->n);
  tmp[v->n] = '\0';
  if (!isdigit((unsigned char)tmp[0])) return ZZ_AUTH_DEFAULT_LIFETIME; /* no sign, no blanks, no hex */
  d = strtod(tmp, &end);
  if (*end != '\0' || !isfinite(d) || d < 1 || d > ZZ_AUTH_MAX_LIFETIME) return ZZ_AUTH_DEFAULT_LIFETIME;
  return floor(d);
}


/* A number field of a scanned object as a double (strings and missing fields give 0). */
static int number_field(const zz_reply *sc, int f, double *out) {
  char tmp[64], *end;
  const zz_buf *v = &sc->val[f];
  if (!sc->seen[f] || sc->is_string[f] || !v->p || v->n == 0 || v->n >= sizeof tmp) return 0;
  memcpy(tmp, v->p, v->n);
  tmp[v->n] = '\0';
  *out = strtod(tmp, &end);
  return *end == '\0' && isfinite(*out);
}

/* The lifetime a JWT declares (exp - iat, both in its payload), or def when it is not a JWT, the
 * claims are missing, or the span is outside 1 s..1 day. Only the span is used, so the server's
 * clock and ours need not agree. */
double zz_reply_jwt_lifetime(const char *tok, double def) {
  const char *p1 = strchr(tok, '.'), *p2;
  zz_buf payload = ZZ_SECRET_BUF_INIT;
  zz_reply sc;
  double exp = 0, iat = 0, life = def;
  if (!p1 || !(p2 = strchr(p1 + 1, '.'))) return def;
  if (zz_b64_decode(p1 + 1, (size_t)(p2 - p1 - 1), ZZ_B64_LOOSE, &payload, NULL) != ZZ_B64_OK || payload.n == 0 || payload.n > ZZ_AUTH_MAX_REPLY_LEN) {
    zz_buf_wipe(&payload);
    return def;
  }
  zz_reply_init(&sc, payload.p, payload.n);
  if (zz_reply_scan(&sc) == 0 && number_field(&sc, ZZ_REPLY_EXP, &exp) && number_field(&sc, ZZ_REPLY_IAT, &iat) && exp - iat >= 1 &&
      exp - iat <= ZZ_AUTH_MAX_LIFETIME)
    life = floor(exp - iat);
  zz_reply_free(&sc);
  zz_buf_wipe(&payload);
  return life;
}
