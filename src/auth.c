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
#include "auth_reply.h"
#include "base64.h"
#include "class.h"
#include "core.h"
#include "secret.h"

enum { MODE_OAUTH, MODE_BASIC, MODE_APIKEY, MODE_BEARER, MODE_REVENUE };
static const char *const mode_names[] = {"oauth", "basic", "apikey", "bearer", "revenue", NULL};

#define DEFAULT_MARGIN 300.0
#define MAX_TOKEN_LEN 16384
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

/* --- form encoding for credentials ------------------------------------------------------------ */

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
      if (!(lifetime >= 1 && lifetime <= ZZ_AUTH_MAX_LIFETIME)) luaL_error(L, "auth.new: token_lifetime must be between 1 and 86400");
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
    if (rc == 0) rc = zz_b64_encode(&alt, up.p, up.n);
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


/* Copies a reply's error text into err: printable ASCII only, shortened, secrets redacted. Each
 * value is redacted whole and only then shortened: cut first, a secret straddling the cut would
 * keep its first bytes (no longer the whole secret, so redaction would miss them). */
static void describe_error(const zz_auth *a, const zz_reply *sc, char *err, size_t errlen, size_t at) {
  static const int order[] = {ZZ_REPLY_ERROR, ZZ_REPLY_ERROR_DESC, ZZ_REPLY_MESSAGE, ZZ_REPLY_MESSAGE_CAP};
  zz_buf one = ZZ_SECRET_BUF_INIT, red = ZZ_SECRET_BUF_INIT;
  size_t k, j;
  for (k = 0; k < sizeof order / sizeof order[0]; k++) {
    const zz_buf *v = &sc->val[order[k]];
    if (!sc->is_string[order[k]] || !v->n) continue;
    one.n = 0;
    if (redact_into(a, v->p, v->n, &one) != 0) break;
    if (red.n) zz_buf_adds(&red, ": ");
    zz_buf_add(&red, one.p, one.n > 200 ? 200 : one.n);
  }
  if (red.n) {
    for (j = 0; j < red.n; j++)
      if ((unsigned char)red.p[j] < 0x20 || (unsigned char)red.p[j] > 0x7e) red.p[j] = '?';
    snprintf(err + at, errlen - at, " (%s)", red.p);
  }
  zz_buf_wipe(&one);
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
  zz_reply sc;
  int at, ok;
  zz_reply_init(&sc, body, body && n <= ZZ_AUTH_MAX_REPLY_LEN ? n : 0);
  ok = zz_reply_scan(&sc) == 0;
  at = snprintf(err, errlen, "token request failed: HTTP %ld", status);
  if (ok && at > 0 && (size_t)at < errlen) describe_error(a, &sc, err, errlen, (size_t)at);
  zz_reply_free(&sc);
}

static int accept_oauth(zz_auth *a, long status, const char *body, size_t n, double now, char *err, size_t errlen) {
  zz_reply sc;
  int ok;
  zz_reply_init(&sc, body, n);
  if (sc.n > ZZ_AUTH_MAX_REPLY_LEN) {
    snprintf(err, errlen, "token reply too large (%lu bytes)", (unsigned long)n);
    return -1;
  }
  if (status < 200 || status > 299) {
    refused(a, status, body, n, err, errlen);
    return -1;
  }
  ok = zz_reply_scan(&sc) == 0;
  if (!ok) {
    snprintf(err, errlen, "token reply is not valid: %s at byte %lu", sc.err ? sc.err : "malformed",
             (unsigned long)sc.i);
    zz_reply_free(&sc);
    return -1;
  }
  if (!sc.is_string[ZZ_REPLY_ACCESS_TOKEN] || !token_chars_ok(&sc.val[ZZ_REPLY_ACCESS_TOKEN])) {
    snprintf(err, errlen, "token reply has no usable access_token");
    zz_reply_free(&sc);
    return -1;
  }
  if (sc.seen[ZZ_REPLY_TOKEN_TYPE] &&
      (!sc.is_string[ZZ_REPLY_TOKEN_TYPE] || !sc.val[ZZ_REPLY_TOKEN_TYPE].p || strcasecmp(sc.val[ZZ_REPLY_TOKEN_TYPE].p, "bearer") != 0)) {
    snprintf(err, errlen, "token reply has an unsupported token_type");
    zz_reply_free(&sc);
    return -1;
  }
  drop_token(a);
  a->token = take_secret(&sc.val[ZZ_REPLY_ACCESS_TOKEN]);
  if (!a->token) {
    zz_reply_free(&sc);
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  a->lifetime = zz_reply_expires_in(&sc);
  a->expires_at = now + a->lifetime;
  a->generation++;
  zz_reply_free(&sc);
  return 0;
}

/* --- Revenue: the token in a response header ---------------------------------------------- */

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
  a->lifetime = zz_reply_jwt_lifetime(a->token, a->default_lifetime);
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
  lua_pushinteger(L, ZZ_AUTH_MAX_REPLY_LEN);
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
  zz_newclass(L, ZZ_AUTH_MT, methods, l_index, l_gc, l_tostring);
  lua_newtable(L);
  lua_pushcfunction(L, l_new);
  lua_setfield(L, -2, "new");
  return 1;
}
