/* core.auth: a sans-IO credential holder. Secrets are copied into C memory at `new` and wiped on
 * free; the libcurl transport adds them to requests itself (auth.h), so on that path neither a
 * secret nor an access token ever becomes a Lua string. Time is always passed in (`now`), which
 * keeps the state machine deterministic and testable.
 *
 * Two modes exchange credentials for a token: `oauth` (client credentials; the token comes in a
 * JSON body) and `revenue` (Zuora Revenue's legacy authenticate call: HTTP basic plus `role` and
 * `clientname` headers; the token comes back in a response header and goes out as `token`). */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "core.h"
#include "secret.h"

enum { MODE_OAUTH, MODE_BASIC, MODE_APIKEY, MODE_BEARER, MODE_REVENUE };
static const char *const mode_names[] = {"oauth", "basic", "apikey", "bearer", "revenue", NULL};

#define DEFAULT_MARGIN 300.0
/* A reply whose expires_in is missing, not a number, below 1 s or above a day gets this lifetime:
 * short, so a token of unknown age is replaced soon. */
#define DEFAULT_LIFETIME 300.0
#define MAX_LIFETIME 86400.0
#define MAX_TOKEN_LEN 16384
#define MAX_REPLY_LEN 65536
#define REDACTED "[redacted]"
/* Revenue's legacy tokens live about 30 minutes; used when the token itself does not say. */
#define REVENUE_LIFETIME 1800.0
#define REVENUE_TOKEN_HEADER "Revpro-Token"

struct zz_auth {
  int mode;
  int pending;      /* a token request is in flight */
  int closed;       /* __gc ran: everything below is wiped */
  char *id;         /* client_id, username or access key id */
  char *secret;     /* client_secret, password, secret access key or the fixed bearer token */
  char *alt_secret; /* the secret as it appears on the wire: form-encoded or base64 user:pass */
  char *token_url;
  char *token;      /* current access token (oauth, revenue), NULL when none */
  char *role, *clientname; /* revenue: the authenticate call's headers (not secret) */
  char *token_header;      /* revenue: the response header carrying the token */
  double expires_at, lifetime, margin, default_lifetime;
  long long generation;
};

static zz_auth *check(lua_State *L, int idx) {
  zz_auth *a = (zz_auth *)luaL_checkudata(L, idx, ZZ_AUTH_MT);
  if (a->closed) luaL_error(L, "auth object is closed");
  return a;
}

zz_auth *zz_auth_check(lua_State *L, int idx) {
  return check(L, idx);
}

void zz_slist_wipe(struct curl_slist *list) {
  struct curl_slist *p;
  for (p = list; p; p = p->next)
    if (p->data) OPENSSL_cleanse(p->data, strlen(p->data));
  curl_slist_free_all(list);
}

static void wipe_all(zz_auth *a) {
  zz_secret_free(&a->id);
  zz_secret_free(&a->secret);
  zz_secret_free(&a->alt_secret);
  zz_secret_free(&a->token);
  free(a->token_url);
  free(a->role);
  free(a->clientname);
  free(a->token_header);
  a->token_url = a->role = a->clientname = a->token_header = NULL;
}

/* --- state -------------------------------------------------------------------------------- */

/* Whether this mode trades credentials for a token (and so has a token request and a state). */
static int exchanges(const zz_auth *a) {
  return a->mode == MODE_OAUTH || a->mode == MODE_REVENUE;
}

/* Seconds before expiry at which a token stops being used. */
static double early(const zz_auth *a) {
  double half = a->lifetime / 2;
  return a->margin < half ? a->margin : half;
}

static int token_usable(const zz_auth *a, double now) {
  return a->token != NULL && now < a->expires_at - early(a);
}

static const char *state_name(const zz_auth *a, double now) {
  if (!exchanges(a)) return "ready";
  if (a->pending) return "pending";
  return token_usable(a, now) ? "ready" : "need_token";
}

static void drop_token(zz_auth *a) {
  zz_secret_free(&a->token);
  a->expires_at = a->lifetime = 0;
}

/* --- base64 and form encoding for credentials --------------------------------------------- */

static int add_b64(zz_buf *b, const unsigned char *s, size_t n) {
  static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t i;
  char q[4];
  for (i = 0; i < n; i += 3) {
    unsigned long v = (unsigned long)s[i] << 16;
    if (i + 1 < n) v |= (unsigned long)s[i + 1] << 8;
    if (i + 2 < n) v |= s[i + 2];
    q[0] = tbl[(v >> 18) & 63];
    q[1] = tbl[(v >> 12) & 63];
    q[2] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
    q[3] = i + 2 < n ? tbl[v & 63] : '=';
    if (zz_buf_add(b, q, 4) != 0) return -1;
  }
  return 0;
}

/* application/x-www-form-urlencoded: unreserved bytes as they are, everything else %XX. */
static int add_form(zz_buf *b, const char *s) {
  static const char hexd[] = "0123456789ABCDEF";
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      if (zz_buf_add(b, s, 1) != 0) return -1;
    } else {
      char e[3];
      e[0] = '%', e[1] = hexd[c >> 4], e[2] = hexd[c & 15];
      if (zz_buf_add(b, e, 3) != 0) return -1;
    }
  }
  return 0;
}

/* Moves a wipe-managed buffer's contents into a zz_secret string. */
static char *take_secret(zz_buf *b) {
  char *s = zz_secret_dup(b->p ? b->p : "", b->n);
  zz_buf_wipe(b);
  return s;
}

/* --- new ---------------------------------------------------------------------------------- */

/* A required string option without CR, LF or NUL (they would break the header it goes into). */
static const char *opt_string(lua_State *L, const char *k, int required) {
  size_t n, i;
  const char *s;
  int t = zz_getfield(L, 1, k);
  if (t == LUA_TNIL) {
    lua_pop(L, 1);
    if (required) luaL_error(L, "auth.new: option '%s' is required", k);
    return NULL;
  }
  if (t != LUA_TSTRING) luaL_error(L, "auth.new: option '%s' must be a string", k);
  s = lua_tolstring(L, -1, &n);
  if (n == 0 && required) luaL_error(L, "auth.new: option '%s' must not be empty", k);
  for (i = 0; i < n; i++)
    if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0') luaL_error(L, "auth.new: option '%s' contains CR, LF or NUL", k);
  lua_pop(L, 1); /* the string stays alive in the options table */
  return s;
}

/* A header name: an HTTP token (letters, digits and !#$%&'*+-.^_`|~). */
static int header_name_ok(const char *s) {
  if (!*s) return 0;
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s)) return 0;
  return 1;
}

static double opt_margin(lua_State *L) {
  double margin = zz_optnumfield(L, 1, "refresh_margin", DEFAULT_MARGIN);
  if (!(margin >= 0 && margin <= 86400)) luaL_error(L, "auth.new: refresh_margin must be between 0 and 86400");
  return margin;
}

static int l_new(lua_State *L) {
  zz_auth *a;
  const char *id = NULL, *secret = NULL, *url = NULL;
  const char *role = NULL, *clientname = NULL, *theader = NULL;
  int mode;
  double margin = DEFAULT_MARGIN, lifetime = REVENUE_LIFETIME;
  zz_buf alt = ZZ_SECRET_BUF_INIT;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_getfield(L, 1, "mode");
  mode = luaL_checkoption(L, -1, NULL, mode_names);
  lua_pop(L, 1);
  switch (mode) {
    case MODE_OAUTH:
      id = opt_string(L, "client_id", 1);
      secret = opt_string(L, "client_secret", 1);
      url = opt_string(L, "token_url", 1);
      margin = opt_margin(L);
      break;
    case MODE_REVENUE:
      id = opt_string(L, "username", 1);
      secret = opt_string(L, "password", 1);
      if (strchr(id, ':')) luaL_error(L, "auth.new: a basic-auth username cannot contain ':'");
      url = opt_string(L, "token_url", 1);
      role = opt_string(L, "role", 0);
      clientname = opt_string(L, "clientname", 0);
      theader = opt_string(L, "token_header", 0);
      if (theader && !header_name_ok(theader)) luaL_error(L, "auth.new: token_header must be a header name");
      lifetime = zz_optnumfield(L, 1, "token_lifetime", REVENUE_LIFETIME);
      if (!(lifetime >= 1 && lifetime <= MAX_LIFETIME)) luaL_error(L, "auth.new: token_lifetime must be between 1 and 86400");
      margin = opt_margin(L);
      break;
    case MODE_BASIC:
      id = opt_string(L, "username", 1);
      secret = opt_string(L, "password", 1);
      if (strchr(id, ':')) luaL_error(L, "auth.new: a basic-auth username cannot contain ':'");
      break;
    case MODE_APIKEY:
      id = opt_string(L, "access_key_id", 1);
      secret = opt_string(L, "secret_access_key", 1);
      break;
    default:
      secret = opt_string(L, "token", 1);
      break;
  }
  a = (zz_auth *)zz_newudata(L, sizeof *a);
  memset(a, 0, sizeof *a);
  a->mode = mode;
  a->margin = margin;
  a->default_lifetime = lifetime;
  zz_setmetatable(L, ZZ_AUTH_MT);
  /* From here on __gc owns whatever we allocate. */
  if (id && !(a->id = zz_secret_dup(id, strlen(id)))) return luaL_error(L, "auth.new: out of memory");
  if (!(a->secret = zz_secret_dup(secret, strlen(secret)))) return luaL_error(L, "auth.new: out of memory");
  if (url && !(a->token_url = zz_secret_dup(url, strlen(url)))) return luaL_error(L, "auth.new: out of memory");
  if (mode == MODE_REVENUE) {
    if (!role) role = "API Role";
    if (!clientname) clientname = "Default";
    if (!theader) theader = REVENUE_TOKEN_HEADER;
    if (!(a->role = zz_secret_dup(role, strlen(role))) || !(a->clientname = zz_secret_dup(clientname, strlen(clientname))) ||
        !(a->token_header = zz_secret_dup(theader, strlen(theader))))
      return luaL_error(L, "auth.new: out of memory");
  }
  if (mode == MODE_OAUTH) {
    if (add_form(&alt, secret) != 0) goto oom;
  } else if (mode == MODE_BASIC || mode == MODE_REVENUE) {
    zz_buf up = ZZ_SECRET_BUF_INIT;
    int rc = zz_buf_adds(&up, id) | zz_buf_add(&up, ":", 1) | zz_buf_adds(&up, secret);
    if (rc == 0) rc = add_b64(&alt, (const unsigned char *)up.p, up.n);
    zz_buf_wipe(&up);
    if (rc != 0) goto oom;
  }
  if (alt.n && !(a->alt_secret = take_secret(&alt))) goto oom;
  zz_buf_wipe(&alt);
  return 1;
oom:
  zz_buf_wipe(&alt);
  return luaL_error(L, "auth.new: out of memory");
}

/* --- credentials for requests ------------------------------------------------------------- */

/* Appends "prefix value" to list through a wiped scratch buffer. */
static int append_line(struct curl_slist **list, const char *prefix, const char *value) {
  zz_buf b = ZZ_SECRET_BUF_INIT;
  struct curl_slist *n = NULL;
  if (zz_buf_adds(&b, prefix) == 0 && zz_buf_adds(&b, value) == 0) n = curl_slist_append(*list, b.p);
  zz_buf_wipe(&b);
  if (!n) return -1;
  *list = n;
  return 0;
}

int zz_auth_add_headers(zz_auth *a, double now, struct curl_slist **list, long long *gen, const char **err) {
  int rc;
  if (a->closed) {
    *err = "auth object is closed";
    return -1;
  }
  *gen = a->generation;
  switch (a->mode) {
    case MODE_OAUTH:
      if (!token_usable(a, now)) {
        *err = a->pending ? "no usable access token (a token request is pending)" : "no usable access token";
        return -1;
      }
      rc = append_line(list, "Authorization: Bearer ", a->token);
      break;
    case MODE_REVENUE:
      if (!token_usable(a, now)) {
        *err = a->pending ? "no usable Revenue token (an authenticate request is pending)" : "no usable Revenue token";
        return -1;
      }
      rc = append_line(list, "token: ", a->token);
      break;
    case MODE_BEARER: rc = append_line(list, "Authorization: Bearer ", a->secret); break;
    case MODE_BASIC: rc = append_line(list, "Authorization: Basic ", a->alt_secret); break;
    default:
      rc = append_line(list, "apiAccessKeyId: ", a->id);
      if (rc == 0) rc = append_line(list, "apiSecretAccessKey: ", a->secret);
      break;
  }
  if (rc != 0) *err = "out of memory";
  return rc;
}

int zz_auth_has_token_body(const zz_auth *a) {
  return !a->closed && exchanges(a);
}

int zz_auth_token_headers(zz_auth *a, struct curl_slist **list) {
  if (a->closed || !exchanges(a)) return -1;
  if (a->mode != MODE_REVENUE) return 0;
  return append_line(list, "Authorization: Basic ", a->alt_secret);
}

int zz_auth_token_body(zz_auth *a, zz_buf *b) {
  if (a->closed || !exchanges(a)) return -1;
  if (a->mode == MODE_REVENUE) return 0; /* the authenticate call has an empty body */
  if (zz_buf_adds(b, "grant_type=client_credentials&client_id=") != 0 || add_form(b, a->id) != 0 ||
      zz_buf_adds(b, "&client_secret=") != 0 || zz_buf_adds(b, a->alt_secret) != 0)
    return -1;
  return 0;
}

void zz_auth_fail(zz_auth *a) {
  if (!a->closed) a->pending = 0;
}

/* --- redaction ---------------------------------------------------------------------------- */

/* Appends s[0..n) to out with every secret and token replaced by [redacted]. */
static int redact_into(const zz_auth *a, const char *s, size_t n, zz_buf *out) {
  const char *secrets[3];
  size_t lens[3], k, nsec = 0, i = 0;
  secrets[nsec++] = a->secret;
  secrets[nsec++] = a->alt_secret;
  secrets[nsec++] = a->token;
  for (k = 0; k < nsec; k++) lens[k] = secrets[k] ? strlen(secrets[k]) : 0;
  while (i < n) {
    size_t best = 0;
    for (k = 0; k < nsec; k++)
      if (lens[k] > best && lens[k] <= n - i && memcmp(s + i, secrets[k], lens[k]) == 0) best = lens[k];
    if (best) {
      if (zz_buf_adds(out, REDACTED) != 0) return -1;
      i += best;
    } else {
      if (zz_buf_add(out, s + i, 1) != 0) return -1;
      i++;
    }
  }
  return 0;
}

/* --- the token reply scanner -------------------------------------------------------------- */
/* A strict reader for the flat JSON object an OAuth token endpoint returns. It accepts exactly
 * one object whose values are strings, numbers, true, false or null; anything nested, any
 * duplicate known key, bad escapes, invalid UTF-8 or trailing bytes reject the reply. Every read
 * is bounds-checked against n, so it is safe on arbitrary input (it gets fuzzed). */

enum { F_ACCESS_TOKEN, F_TOKEN_TYPE, F_EXPIRES_IN, F_ERROR, F_ERROR_DESC, F_MESSAGE, F_MESSAGE_CAP, F_EXP, F_IAT,
  F_COUNT };
static const char *const field_names[F_COUNT] = {
  "access_token", "token_type", "expires_in", "error", "error_description", "message", "Message", "exp", "iat",
};

typedef struct {
  const char *s;
  size_t n, i;
  const char *err;
  int seen[F_COUNT];
  int is_string[F_COUNT];
  zz_buf val[F_COUNT]; /* decoded string value, or the number's text */
} scanner;

static void skip_ws(scanner *sc) {
  while (sc->i < sc->n && (sc->s[sc->i] == ' ' || sc->s[sc->i] == '\t' || sc->s[sc->i] == '\n' || sc->s[sc->i] == '\r'))
    sc->i++;
}

static int fail(scanner *sc, const char *msg) {
  if (!sc->err) sc->err = msg;
  return -1;
}

static int hex4(scanner *sc, unsigned *out) {
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

static int add_utf8(zz_buf *b, unsigned cp) {
  char u[4];
  size_t len;
  if (cp < 0x80) u[0] = (char)cp, len = 1;
  else if (cp < 0x800) u[0] = (char)(0xc0 | (cp >> 6)), u[1] = (char)(0x80 | (cp & 0x3f)), len = 2;
  else if (cp < 0x10000)
    u[0] = (char)(0xe0 | (cp >> 12)), u[1] = (char)(0x80 | ((cp >> 6) & 0x3f)), u[2] = (char)(0x80 | (cp & 0x3f)), len = 3;
  else
    u[0] = (char)(0xf0 | (cp >> 18)), u[1] = (char)(0x80 | ((cp >> 12) & 0x3f)),
    u[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), u[3] = (char)(0x80 | (cp & 0x3f)), len = 4;
  return zz_buf_add(b, u, len);
}

/* Length of the valid UTF-8 sequence starting at p (at most `left` bytes), or 0. */
static size_t utf8_len(const unsigned char *p, size_t left) {
  size_t len, k;
  unsigned cp;
  if (p[0] < 0xc2 || p[0] > 0xf4) return 0;
  len = p[0] < 0xe0 ? 2 : p[0] < 0xf0 ? 3 : 4;
  if (left < len) return 0;
  for (k = 1; k < len; k++)
    if ((p[k] & 0xc0) != 0x80) return 0;
  cp = len == 2 ? (p[0] & 0x1fu) << 6 | (p[1] & 0x3fu)
     : len == 3 ? (p[0] & 0x0fu) << 12 | (p[1] & 0x3fu) << 6 | (p[2] & 0x3fu)
                : (p[0] & 0x07u) << 18 | (p[1] & 0x3fu) << 12 | (p[2] & 0x3fu) << 6 | (p[3] & 0x3fu);
  if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
    return 0;
  return len;
}

/* Reads a string at the cursor (which is on the opening quote) into out (NULL: validate only). */
static int scan_string(scanner *sc, zz_buf *out) {
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
      if (out && add_utf8(out, cp) != 0) return fail(sc, "out of memory");
    } else if (c < 0x80) {
      if (out && zz_buf_add(out, &sc->s[sc->i], 1) != 0) return fail(sc, "out of memory");
      sc->i++;
    } else {
      size_t len = utf8_len((const unsigned char *)sc->s + sc->i, sc->n - sc->i);
      if (!len) return fail(sc, "invalid UTF-8 in string");
      if (out && zz_buf_add(out, &sc->s[sc->i], len) != 0) return fail(sc, "out of memory");
      sc->i += len;
    }
  }
}

static int digits(scanner *sc) {
  size_t start = sc->i;
  while (sc->i < sc->n && sc->s[sc->i] >= '0' && sc->s[sc->i] <= '9') sc->i++;
  return sc->i > start ? 0 : fail(sc, "bad number");
}

/* Validates a JSON number at the cursor; its text goes to out when out is not NULL. */
static int scan_number(scanner *sc, zz_buf *out) {
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

static int scan_literal(scanner *sc, const char *lit) {
  size_t len = strlen(lit);
  if (sc->n - sc->i < len || memcmp(sc->s + sc->i, lit, len) != 0) return fail(sc, "unexpected character");
  sc->i += len;
  return 0;
}

static int scan_reply(scanner *sc) {
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
      for (k = 0; k < F_COUNT && key.p; k++)
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
static void scanner_start(scanner *sc) {
  int k;
  memset(sc, 0, sizeof *sc);
  for (k = 0; k < F_COUNT; k++) sc->val[k].wipe = 1;
}

static void scanner_free(scanner *sc) {
  int k;
  for (k = 0; k < F_COUNT; k++) zz_buf_wipe(&sc->val[k]);
}

/* expires_in as seconds: a number or a numeric string within (0, MAX_LIFETIME], else the default. */
static double parse_lifetime(const scanner *sc) {
  const zz_buf *v = &sc->val[F_EXPIRES_IN];
  char tmp[64], *end;
  double d;
  if (!sc->seen[F_EXPIRES_IN] || !v->p || v->n == 0 || v->n >= sizeof tmp) return DEFAULT_LIFETIME;
  memcpy(tmp, v->p, v->n);
  tmp[v->n] = '\0';
  if (!isdigit((unsigned char)tmp[0])) return DEFAULT_LIFETIME; /* no sign, no blanks, no hex */
  d = strtod(tmp, &end);
  if (*end != '\0' || !isfinite(d) || d < 1 || d > MAX_LIFETIME) return DEFAULT_LIFETIME;
  return floor(d);
}

/* Copies a reply's error text into err: printable ASCII only, shortened, secrets redacted. */
static void describe_error(const zz_auth *a, const scanner *sc, char *err, size_t errlen, size_t at) {
  static const int order[] = {F_ERROR, F_ERROR_DESC, F_MESSAGE, F_MESSAGE_CAP};
  zz_buf raw = ZZ_SECRET_BUF_INIT, red = ZZ_SECRET_BUF_INIT;
  size_t k, j;
  for (k = 0; k < sizeof order / sizeof order[0]; k++) {
    const zz_buf *v = &sc->val[order[k]];
    if (!sc->is_string[order[k]] || !v->n) continue;
    if (raw.n) zz_buf_adds(&raw, ": ");
    zz_buf_add(&raw, v->p, v->n > 200 ? 200 : v->n);
  }
  if (raw.n && redact_into(a, raw.p, raw.n, &red) == 0 && red.n) {
    for (j = 0; j < red.n; j++)
      if ((unsigned char)red.p[j] < 0x20 || (unsigned char)red.p[j] > 0x7e) red.p[j] = '?';
    snprintf(err + at, errlen - at, " (%s)", red.p);
  }
  zz_buf_wipe(&raw);
  zz_buf_wipe(&red);
}

static int token_chars_ok(const zz_buf *t) {
  size_t k;
  if (!t->p || t->n == 0 || t->n > MAX_TOKEN_LEN) return 0;
  for (k = 0; k < t->n; k++)
    if ((unsigned char)t->p[k] < 0x21 || (unsigned char)t->p[k] > 0x7e) return 0;
  return 1;
}

/* The start of an error for a refused token request: the status and what the body says. */
static void refused(const zz_auth *a, long status, const char *body, size_t n, char *err, size_t errlen) {
  scanner sc;
  int at, ok;
  scanner_start(&sc);
  sc.s = body ? body : "";
  sc.n = body && n <= MAX_REPLY_LEN ? n : 0;
  ok = scan_reply(&sc) == 0;
  at = snprintf(err, errlen, "token request failed: HTTP %ld", status);
  if (ok && at > 0 && (size_t)at < errlen) describe_error(a, &sc, err, errlen, (size_t)at);
  scanner_free(&sc);
}

static int accept_oauth(zz_auth *a, long status, const char *body, size_t n, double now, char *err, size_t errlen) {
  scanner sc;
  int ok;
  scanner_start(&sc);
  sc.s = body ? body : "";
  sc.n = body ? n : 0;
  if (sc.n > MAX_REPLY_LEN) {
    snprintf(err, errlen, "token reply too large (%lu bytes)", (unsigned long)n);
    return -1;
  }
  if (status < 200 || status > 299) {
    refused(a, status, body, n, err, errlen);
    return -1;
  }
  ok = scan_reply(&sc) == 0;
  if (!ok) {
    snprintf(err, errlen, "token reply is not valid: %s at byte %lu", sc.err ? sc.err : "malformed",
             (unsigned long)sc.i);
    scanner_free(&sc);
    return -1;
  }
  if (!sc.is_string[F_ACCESS_TOKEN] || !token_chars_ok(&sc.val[F_ACCESS_TOKEN])) {
    snprintf(err, errlen, "token reply has no usable access_token");
    scanner_free(&sc);
    return -1;
  }
  if (sc.seen[F_TOKEN_TYPE] &&
      (!sc.is_string[F_TOKEN_TYPE] || !sc.val[F_TOKEN_TYPE].p || strcasecmp(sc.val[F_TOKEN_TYPE].p, "bearer") != 0)) {
    snprintf(err, errlen, "token reply has an unsupported token_type");
    scanner_free(&sc);
    return -1;
  }
  drop_token(a);
  a->token = take_secret(&sc.val[F_ACCESS_TOKEN]);
  if (!a->token) {
    scanner_free(&sc);
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  a->lifetime = parse_lifetime(&sc);
  a->expires_at = now + a->lifetime;
  a->generation++;
  scanner_free(&sc);
  return 0;
}

/* --- Revenue: the token in a response header ---------------------------------------------- */

/* Decodes base64url (the alphabet of JWT segments; '+' and '/' tolerated, '=' padding ignored)
 * into out. Returns 0, or -1 on a byte outside the alphabet or when out of memory. */
static int unbase64url(const char *s, size_t n, zz_buf *out) {
  unsigned long acc = 0;
  int bits = 0;
  size_t i;
  for (i = 0; i < n; i++) {
    char c = s[i], byte;
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '-' || c == '+') v = 62;
    else if (c == '_' || c == '/') v = 63;
    else if (c == '=') continue;
    else return -1;
    acc = (acc << 6) | (unsigned long)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      byte = (char)((acc >> bits) & 0xff);
      if (zz_buf_add(out, &byte, 1) != 0) return -1;
    }
  }
  return 0;
}

/* A number field of a scanned object as a double (strings and missing fields give 0). */
static int number_field(const scanner *sc, int f, double *out) {
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
static double jwt_lifetime(const char *tok, double def) {
  const char *p1 = strchr(tok, '.'), *p2;
  zz_buf payload = ZZ_SECRET_BUF_INIT;
  scanner sc;
  double exp = 0, iat = 0, life = def;
  if (!p1 || !(p2 = strchr(p1 + 1, '.'))) return def;
  if (unbase64url(p1 + 1, (size_t)(p2 - p1 - 1), &payload) != 0 || payload.n == 0 || payload.n > MAX_REPLY_LEN) {
    zz_buf_wipe(&payload);
    return def;
  }
  scanner_start(&sc);
  sc.s = payload.p;
  sc.n = payload.n;
  if (scan_reply(&sc) == 0 && number_field(&sc, F_EXP, &exp) && number_field(&sc, F_IAT, &iat) && exp - iat >= 1 &&
      exp - iat <= MAX_LIFETIME)
    life = floor(exp - iat);
  scanner_free(&sc);
  zz_buf_wipe(&payload);
  return life;
}

static int accept_revenue(zz_auth *a, long status, const char *tok, size_t tn, const char *body, size_t n, double now,
                          char *err, size_t errlen) {
  zz_buf t = ZZ_SECRET_BUF_INIT;
  if (status < 200 || status > 299) {
    refused(a, status, body, n, err, errlen);
    return -1;
  }
  if (!tok) {
    snprintf(err, errlen, "authenticate reply has no %s header", a->token_header);
    return -1;
  }
  if (zz_buf_add(&t, tok, tn) != 0) {
    zz_buf_wipe(&t);
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  if (!token_chars_ok(&t)) {
    zz_buf_wipe(&t);
    snprintf(err, errlen, "authenticate reply has no usable %s header", a->token_header);
    return -1;
  }
  drop_token(a);
  a->token = take_secret(&t);
  if (!a->token) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  a->lifetime = jwt_lifetime(a->token, a->default_lifetime);
  a->expires_at = now + a->lifetime;
  a->generation++;
  return 0;
}

/* Finds the header `name` in raw header lines, copies its (trimmed) value into out and removes
 * every such line from h, wiping the bytes, so the token never reaches the Lua result table.
 * Returns 1 when found, 0 when not, -1 when out of memory. */
static int take_header(zz_buf *h, const char *name, zz_buf *out) {
  size_t nl = strlen(name), i = 0;
  int found = 0;
  while (h->p && i < h->n) {
    char *line = h->p + i;
    char *eol = (char *)memchr(line, '\n', h->n - i);
    size_t len = eol ? (size_t)(eol - line) + 1 : h->n - i;
    if (len > nl && strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
      const char *v = line + nl + 1, *ve = line + len;
      while (ve > v && (ve[-1] == '\n' || ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) ve--;
      while (v < ve && (*v == ' ' || *v == '\t')) v++;
      if (out->p) OPENSSL_cleanse(out->p, out->cap);
      out->n = 0;
      if (zz_buf_add(out, v, (size_t)(ve - v)) != 0) return -1;
      found = 1;
      memmove(line, line + len, h->n - i - len);
      h->n -= len;
      OPENSSL_cleanse(h->p + h->n, len);
      h->p[h->n] = '\0';
      continue;
    }
    i += len;
  }
  return found;
}

int zz_auth_accept_reply(zz_auth *a, long status, const char *body, size_t n, double now, char *err, size_t errlen) {
  if (a->closed) {
    snprintf(err, errlen, "auth object is closed");
    return -1;
  }
  a->pending = 0;
  if (a->mode == MODE_REVENUE) return accept_revenue(a, status, NULL, 0, body, n, now, err, errlen);
  if (a->mode != MODE_OAUTH) {
    snprintf(err, errlen, "auth mode '%s' takes no token replies", mode_names[a->mode]);
    return -1;
  }
  return accept_oauth(a, status, body, n, now, err, errlen);
}

int zz_auth_accept_response(zz_auth *a, long status, zz_buf *hdrs, const char *body, size_t n, double now, char *err,
                            size_t errlen) {
  zz_buf tok = ZZ_SECRET_BUF_INIT;
  int found, rc;
  if (a->closed || a->mode != MODE_REVENUE) return zz_auth_accept_reply(a, status, body, n, now, err, errlen);
  a->pending = 0;
  found = take_header(hdrs, a->token_header, &tok);
  if (found < 0) {
    zz_buf_wipe(&tok);
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  rc = accept_revenue(a, status, found ? (tok.p ? tok.p : "") : NULL, tok.n, body, n, now, err, errlen);
  zz_buf_wipe(&tok);
  return rc;
}

/* --- Lua methods -------------------------------------------------------------------------- */

static double check_now(lua_State *L, int idx) {
  lua_Number now = luaL_checknumber(L, idx);
  if (!isfinite(now)) luaL_argerror(L, idx, "now must be a finite number");
  return now;
}

static int l_state(lua_State *L) {
  zz_auth *a = check(L, 1);
  lua_pushstring(L, state_name(a, check_now(L, 2)));
  return 1;
}

static int l_token_request(lua_State *L) {
  zz_auth *a = check(L, 1);
  double now = check_now(L, 2);
  if (!exchanges(a)) return luaL_error(L, "auth:token_request: mode '%s' has no token request", mode_names[a->mode]);
  if (a->pending) {
    lua_pushnil(L);
    lua_pushliteral(L, "a token request is already pending");
    return 2;
  }
  (void)now;
  a->pending = 1;
  lua_createtable(L, 0, 6);
  lua_pushliteral(L, "POST");
  lua_setfield(L, -2, "method");
  lua_pushstring(L, a->token_url);
  lua_setfield(L, -2, "url");
  lua_createtable(L, 3, 0);
  if (a->mode == MODE_REVENUE) {
    /* role and clientname are not secrets; the basic credentials are added in C (auth.h) */
    lua_pushfstring(L, "role: %s", a->role);
    lua_rawseti(L, -2, 1);
    lua_pushfstring(L, "clientname: %s", a->clientname);
    lua_rawseti(L, -2, 2);
  } else {
    lua_pushliteral(L, "Content-Type: application/x-www-form-urlencoded");
    lua_rawseti(L, -2, 1);
  }
  lua_pushliteral(L, "Accept: application/json");
  lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
  lua_setfield(L, -2, "headers");
  lua_pushinteger(L, MAX_REPLY_LEN);
  lua_setfield(L, -2, "max_body");
  lua_pushvalue(L, 1);
  lua_setfield(L, -2, "token_for");
  return 1;
}

/* The value of header `name` in a Lua table of headers (any case of the name; a list of values
 * gives its last), or NULL. The value stays on the stack while the caller uses it. */
static const char *lua_header(lua_State *L, int idx, const char *name, size_t *len) {
  const char *found = NULL;
  idx = lua_absindex(L, idx);
  if (!lua_istable(L, idx)) return NULL;
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    if (lua_type(L, -2) == LUA_TSTRING && strcasecmp(lua_tostring(L, -2), name) == 0) {
      if (lua_istable(L, -1)) lua_rawgeti(L, -1, (lua_Integer)lua_rawlen(L, -1));
      else lua_pushvalue(L, -1);
      if (lua_type(L, -1) == LUA_TSTRING) {
        found = lua_tolstring(L, -1, len);
        lua_insert(L, -3); /* keep the string below the key and value */
        lua_pop(L, 2);
        return found;
      }
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  return NULL;
}

static int l_accept(lua_State *L) {
  zz_auth *a = check(L, 1);
  lua_Integer status = luaL_checkinteger(L, 2);
  size_t n = 0, tn = 0;
  const char *body = luaL_optlstring(L, 3, "", &n);
  double now = check_now(L, 5);
  char err[512];
  if (a->mode == MODE_REVENUE) {
    const char *tok = lua_header(L, 4, a->token_header, &tn);
    a->pending = 0;
    if (accept_revenue(a, (long)status, tok, tn, body, n, now, err, sizeof err) != 0) {
      lua_pushnil(L);
      lua_pushstring(L, err);
      return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
  }
  if (zz_auth_accept_reply(a, (long)status, body, n, now, err, sizeof err) != 0) {
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}

static int l_fail(lua_State *L) {
  zz_auth *a = check(L, 1);
  luaL_optstring(L, 2, NULL);
  zz_auth_fail(a);
  return 0;
}

/* Pushes the header lines of `list` as an array and frees (wipes) the list. */
static int push_lines(lua_State *L, struct curl_slist *list) {
  struct curl_slist *p;
  int i = 1;
  lua_newtable(L);
  for (p = list; p; p = p->next) {
    lua_pushstring(L, p->data);
    lua_rawseti(L, -2, i++);
  }
  zz_slist_wipe(list);
  return 1;
}

static int l_headers(lua_State *L) {
  zz_auth *a = check(L, 1);
  double now = check_now(L, 2);
  struct curl_slist *list = NULL;
  long long gen;
  const char *err;
  if (zz_auth_add_headers(a, now, &list, &gen, &err) != 0) {
    zz_slist_wipe(list);
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  return push_lines(L, list);
}

static int l_token_headers(lua_State *L) {
  zz_auth *a = check(L, 1);
  struct curl_slist *list = NULL;
  if (!exchanges(a)) return luaL_error(L, "auth:token_headers: mode '%s' has no token request", mode_names[a->mode]);
  if (zz_auth_token_headers(a, &list) != 0) {
    zz_slist_wipe(list);
    return luaL_error(L, "auth:token_headers: out of memory");
  }
  return push_lines(L, list);
}

static int l_token_body(lua_State *L) {
  zz_auth *a = check(L, 1);
  zz_buf b = ZZ_SECRET_BUF_INIT;
  if (!exchanges(a)) return luaL_error(L, "auth:token_body: mode '%s' has no token request", mode_names[a->mode]);
  if (zz_auth_token_body(a, &b) != 0) {
    zz_buf_wipe(&b);
    return luaL_error(L, "auth:token_body: out of memory");
  }
  lua_pushlstring(L, b.p, b.n);
  zz_buf_wipe(&b);
  return 1;
}

static int l_generation(lua_State *L) {
  zz_auth *a = check(L, 1);
  lua_pushinteger(L, (lua_Integer)a->generation);
  return 1;
}

static int l_invalidate(lua_State *L) {
  zz_auth *a = check(L, 1);
  lua_Integer gen = luaL_checkinteger(L, 2);
  int dropped = exchanges(a) && a->token && (long long)gen == a->generation;
  if (dropped) drop_token(a);
  lua_pushboolean(L, dropped);
  return 1;
}

static int l_expires_in(lua_State *L) {
  zz_auth *a = check(L, 1);
  double now = check_now(L, 2);
  if (!exchanges(a) || !a->token) {
    lua_pushnil(L);
    return 1;
  }
  lua_pushnumber(L, a->expires_at - now);
  return 1;
}

static int l_redact(lua_State *L) {
  zz_auth *a = check(L, 1);
  size_t n;
  const char *s = luaL_checklstring(L, 2, &n);
  zz_buf out = ZZ_SECRET_BUF_INIT;
  if (redact_into(a, s, n, &out) != 0) {
    zz_buf_wipe(&out);
    return luaL_error(L, "auth:redact: out of memory");
  }
  lua_pushlstring(L, out.p ? out.p : "", out.n);
  zz_buf_wipe(&out);
  return 1;
}

static int l_tostring(lua_State *L) {
  zz_auth *a = (zz_auth *)luaL_checkudata(L, 1, ZZ_AUTH_MT);
  if (a->closed) lua_pushliteral(L, "zuora.auth (closed)");
  else if (!exchanges(a)) lua_pushfstring(L, "zuora.auth (%s)", mode_names[a->mode]);
  else if (a->pending)
    lua_pushfstring(L, "zuora.auth (%s, token request pending, generation %d)", mode_names[a->mode], (int)a->generation);
  else if (a->token) lua_pushfstring(L, "zuora.auth (%s, token generation %d)", mode_names[a->mode], (int)a->generation);
  else lua_pushfstring(L, "zuora.auth (%s, no token)", mode_names[a->mode]);
  return 1;
}

static int l_gc(lua_State *L) {
  zz_auth *a = (zz_auth *)luaL_checkudata(L, 1, ZZ_AUTH_MT);
  if (!a->closed) {
    wipe_all(a);
    a->closed = 1;
  }
  return 0;
}

static int l_index(lua_State *L) {
  zz_auth *a = (zz_auth *)luaL_checkudata(L, 1, ZZ_AUTH_MT);
  const char *k = lua_tostring(L, 2);
  if (k && strcmp(k, "mode") == 0) {
    lua_pushstring(L, mode_names[a->mode]);
    return 1;
  }
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(1));
  return 1;
}

int zz_open_auth(lua_State *L) {
  static const luaL_Reg methods[] = {
    {"state", l_state},
    {"token_request", l_token_request},
    {"accept", l_accept},
    {"fail", l_fail},
    {"headers", l_headers},
    {"token_body", l_token_body},
    {"token_headers", l_token_headers},
    {"generation", l_generation},
    {"invalidate", l_invalidate},
    {"expires_in", l_expires_in},
    {"redact", l_redact},
    {"close", l_gc},
    {NULL, NULL},
  };
  if (luaL_newmetatable(L, ZZ_AUTH_MT)) {
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_pushcclosure(L, l_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushcfunction(L, l_gc);
    lua_setfield(L, -2, "__gc");
#if LUA_VERSION_NUM >= 504
    lua_pushcfunction(L, l_gc);
    lua_setfield(L, -2, "__close");
#endif
    lua_pushliteral(L, "zuora.auth");
    lua_setfield(L, -2, "__name");
  }
  lua_pop(L, 1);
  lua_newtable(L);
  lua_pushcfunction(L, l_new);
  lua_setfield(L, -2, "new");
  return 1;
}
