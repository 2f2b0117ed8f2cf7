/* core.url: percent-encoding, query strings, URL parsing (libcurl's URL API), origins and the
 * loopback test that decides where plain http is allowed. */
#include <arpa/inet.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <curl/curl.h>

#include "core.h"
#include "decimal.h"

static int unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

static void add_escaped(luaL_Buffer *b, const char *s, size_t n) {
  static const char hexd[] = "0123456789ABCDEF";
  size_t i;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (unreserved(c)) {
      luaL_addchar(b, (char)c);
    } else {
      luaL_addchar(b, '%');
      luaL_addchar(b, hexd[c >> 4]);
      luaL_addchar(b, hexd[c & 15]);
    }
  }
}

static int hexval(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Percent-decodes s into b; `plus` turns '+' into a space (form encoding). Returns the offset of
 * a malformed escape, or -1 when all went well. */
static long add_unescaped(luaL_Buffer *b, const char *s, size_t n, int plus) {
  size_t i;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '%') {
      int hi, lo;
      if (n - i < 3) return (long)i;
      hi = hexval((unsigned char)s[i + 1]);
      lo = hexval((unsigned char)s[i + 2]);
      if (hi < 0 || lo < 0) return (long)i;
      luaL_addchar(b, (char)(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus) {
      luaL_addchar(b, ' ');
    } else {
      luaL_addchar(b, (char)c);
    }
  }
  return -1;
}

static int l_escape(lua_State *L) {
  size_t n, i;
  const char *s = luaL_checklstring(L, 1, &n);
  luaL_Buffer b;
  /* Ids and keys are mostly plain already: hand back the same string instead of a copy. */
  for (i = 0; i < n && unreserved((unsigned char)s[i]); i++) {}
  if (i == n && lua_type(L, 1) == LUA_TSTRING) {
    lua_settop(L, 1);
    return 1;
  }
  luaL_buffinit(L, &b);
  add_escaped(&b, s, n);
  luaL_pushresult(&b);
  return 1;
}

static int l_unescape(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  luaL_Buffer b;
  long bad;
  luaL_buffinit(L, &b);
  bad = add_unescaped(&b, s, n, 0);
  if (bad >= 0) {
    luaL_pushresult(&b);
    lua_pushnil(L);
    lua_pushfstring(L, "invalid percent-escape at offset %d", (int)bad);
    return 2;
  }
  luaL_pushresult(&b);
  return 1;
}

/* --- encode_query ------------------------------------------------------------------------ */

typedef struct {
  const char *k, *v; /* v points into a Lua string, or is NULL when the value is in num */
  size_t kn, vn;
  lua_Integer pos;   /* position within an array value, so repeated keys keep their order */
  char num[40];
} qentry;

static int qentry_cmp(const void *pa, const void *pb) {
  const qentry *a = (const qentry *)pa, *b = (const qentry *)pb;
  size_t m = a->kn < b->kn ? a->kn : b->kn;
  int c = memcmp(a->k, b->k, m);
  if (c != 0) return c;
  if (a->kn != b->kn) return a->kn < b->kn ? -1 : 1;
  return a->pos < b->pos ? -1 : a->pos > b->pos;
}

/* Formats a number so it reads back to the same value: integers plainly, floats in the
 * shortest %.Ng form that round-trips. NaN and infinities have no query form. */
static void format_number(lua_State *L, int idx, const char *key, char *out, size_t cap) {
  lua_Number d;
  int prec;
#if ZZ_HAVE_INTEGERS
  if (lua_isinteger(L, idx)) {
    snprintf(out, cap, LUA_INTEGER_FMT, (LUAI_UACINT)lua_tointeger(L, idx));
    return;
  }
#endif
  d = lua_tonumber(L, idx);
  if (isnan(d) || isinf(d)) luaL_error(L, "url.encode_query: value of '%s' is not a finite number", key);
  if (d == floor(d) && fabs(d) < 9007199254740992.0) {
    snprintf(out, cap, "%.0f", d);
    return;
  }
  for (prec = 15; prec <= 17; prec++) {
    snprintf(out, cap, "%.*g", prec, d);
    if (strtod(out, NULL) == d) return;
  }
}

/* Checks a scalar at idx and fills e's value; raises for any other type. A zuora.decimal's text
 * is kept alive in the table at stack index `anchor`. */
static void qentry_value(lua_State *L, int idx, const char *key, qentry *e, int anchor) {
  const zz_dec *d;
  switch (lua_type(L, idx)) {
    case LUA_TSTRING: e->v = lua_tolstring(L, idx, &e->vn); break;
    case LUA_TBOOLEAN:
      e->v = lua_toboolean(L, idx) ? "true" : "false";
      e->vn = strlen(e->v);
      break;
    case LUA_TNUMBER:
      format_number(L, idx, key, e->num, sizeof e->num);
      e->v = NULL; /* means: the value is in num (entries move while sorting) */
      e->vn = strlen(e->num);
      break;
    case LUA_TUSERDATA:
      if ((d = zz_dec_test(L, idx)) != NULL) {
        char *w = (char *)zz_newudata(L, zz_dec_format_size(d));   /* scratch for the text */
        lua_pushlstring(L, w, zz_dec_format(d, w));
        lua_remove(L, -2);
        e->v = lua_tolstring(L, -1, &e->vn);
        lua_rawseti(L, anchor, (int)lua_rawlen(L, anchor) + 1);
        break;
      }
      /* fall through */
    default:
      luaL_error(L, "url.encode_query: value of '%s' must be a string, number, boolean, decimal or array of them (got %s)",
                 key, luaL_typename(L, idx));
  }
}

/* Number of entries an array value contributes; raises when it is not a plain array. */
static lua_Integer array_len(lua_State *L, int idx, const char *key) {
  lua_Integer n = (lua_Integer)lua_rawlen(L, idx), count = 0;
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    lua_Number kn;
    if (lua_type(L, -2) != LUA_TNUMBER) luaL_error(L, "url.encode_query: value of '%s' is not an array", key);
    kn = lua_tonumber(L, -2);
    if (kn != floor(kn) || kn < 1 || kn > (lua_Number)n)
      luaL_error(L, "url.encode_query: value of '%s' is not an array", key);
    count++;
    lua_pop(L, 1);
  }
  if (count != n) luaL_error(L, "url.encode_query: value of '%s' is not an array", key);
  return n;
}

static int l_encode_query(lua_State *L) {
  size_t count = 0, i = 0;
  qentry *es;
  luaL_Buffer b;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  /* Pass 1: validate and count. */
  lua_pushnil(L);
  while (lua_next(L, 1) != 0) {
    const char *key;
    if (lua_type(L, -2) != LUA_TSTRING) luaL_error(L, "url.encode_query: keys must be strings");
    key = lua_tostring(L, -2);
    if (lua_type(L, -1) == LUA_TTABLE) count += (size_t)array_len(L, lua_gettop(L), key);
    else count++;
    lua_pop(L, 1);
  }
  es = (qentry *)zz_newudata(L, (count ? count : 1) * sizeof *es); /* index 2, owned by the GC */
  lua_newtable(L);                                                  /* index 3: decimals' texts */
  /* Pass 2: fill. Strings stay alive as keys/values of table 1. */
  lua_pushnil(L);
  while (lua_next(L, 1) != 0) {
    size_t kn;
    const char *key = lua_tolstring(L, -2, &kn);
    if (lua_type(L, -1) == LUA_TTABLE) {
      lua_Integer j, n = (lua_Integer)lua_rawlen(L, -1);
      for (j = 1; j <= n; j++) {
        lua_rawgeti(L, -1, (int)j);
        if (lua_type(L, -1) == LUA_TTABLE) luaL_error(L, "url.encode_query: value of '%s' nests a table", key);
        es[i].k = key, es[i].kn = kn, es[i].pos = j;
        qentry_value(L, -1, key, &es[i], 3);
        i++;
        lua_pop(L, 1);
      }
    } else {
      es[i].k = key, es[i].kn = kn, es[i].pos = 0;
      qentry_value(L, -1, key, &es[i], 3);
      i++;
    }
    lua_pop(L, 1);
  }
  qsort(es, i, sizeof *es, qentry_cmp);
  luaL_buffinit(L, &b);
  for (count = 0; count < i; count++) {
    if (count) luaL_addchar(&b, '&');
    add_escaped(&b, es[count].k, es[count].kn);
    luaL_addchar(&b, '=');
    add_escaped(&b, es[count].v ? es[count].v : es[count].num, es[count].vn);
  }
  luaL_pushresult(&b);
  return 1;
}

/* --- decode_query ------------------------------------------------------------------------ */

/* Pushes the decoded form of s[0..n) or returns the offset of a bad escape. */
static long push_unescaped(lua_State *L, const char *s, size_t n) {
  luaL_Buffer b;
  long bad;
  luaL_buffinit(L, &b);
  bad = add_unescaped(&b, s, n, 1);
  luaL_pushresult(&b);
  return bad;
}

static int l_decode_query(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n), *end = s + n, *p = s;
  lua_newtable(L); /* 2: result */
  if (n > 0 && *p == '?') p++;
  while (p < end) {
    const char *amp = memchr(p, '&', (size_t)(end - p)), *eq;
    if (!amp) amp = end;
    if (amp > p) {
      eq = memchr(p, '=', (size_t)(amp - p));
      if (push_unescaped(L, p, (size_t)((eq ? eq : amp) - p)) >= 0 ||
          push_unescaped(L, eq ? eq + 1 : amp, eq ? (size_t)(amp - eq - 1) : 0) >= 0) {
        lua_pushnil(L);
        lua_pushfstring(L, "invalid percent-escape in query near offset %d", (int)(p - s));
        return 2;
      }
      /* stack: result, key, value */
      lua_pushvalue(L, -2);
      lua_rawget(L, 2);
      if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_rawset(L, 2);
      } else if (lua_type(L, -1) == LUA_TTABLE) {
        lua_insert(L, -2);
        lua_rawseti(L, -2, (int)lua_rawlen(L, -2) + 1);
        lua_pop(L, 2);
      } else {
        lua_createtable(L, 2, 0);
        lua_insert(L, -2);
        lua_rawseti(L, -2, 1);      /* {old} */
        lua_insert(L, -2);          /* key, {old}, value */
        lua_rawseti(L, -2, 2);      /* key, {old, value} */
        lua_rawset(L, 2);
      }
    }
    p = amp + 1;
  }
  lua_settop(L, 2);
  return 1;
}

/* --- parse / origin / is_loopback -------------------------------------------------------- */

static char *get_part(CURLU *u, CURLUPart what, unsigned flags) {
  char *v = NULL;
  if (curl_url_get(u, what, &v, flags) != CURLUE_OK) return NULL;
  return v;
}

/* Parses s with libcurl's URL parser; pushes the table or nil, err. */
static int parse_into(lua_State *L, const char *s) {
  CURLU *u = curl_url();
  CURLUcode rc;
  char *scheme, *host, *port, *path, *query, *fragment;
  size_t i, hn;
  if (!u) return luaL_error(L, "url.parse: out of memory");
  rc = curl_url_set(u, CURLUPART_URL, s, 0);
  if (rc != CURLUE_OK) {
    curl_url_cleanup(u);
    lua_pushnil(L);
    lua_pushfstring(L, "invalid URL: %s", curl_url_strerror(rc));
    return 2;
  }
  scheme = get_part(u, CURLUPART_SCHEME, 0);
  host = get_part(u, CURLUPART_HOST, 0);
  port = get_part(u, CURLUPART_PORT, CURLU_DEFAULT_PORT);
  path = get_part(u, CURLUPART_PATH, 0);
  query = get_part(u, CURLUPART_QUERY, 0);
  fragment = get_part(u, CURLUPART_FRAGMENT, 0);
  curl_url_cleanup(u);
  if (!scheme || !host || !*host) {
    curl_free(scheme), curl_free(host), curl_free(port), curl_free(path), curl_free(query), curl_free(fragment);
    lua_pushnil(L);
    lua_pushliteral(L, "invalid URL: no host");
    return 2;
  }
  lua_createtable(L, 0, 6);
  lua_pushstring(L, scheme);
  lua_setfield(L, -2, "scheme");
  hn = strlen(host);
  for (i = 0; i < hn; i++) host[i] = (char)tolower((unsigned char)host[i]);
  if (hn >= 2 && host[0] == '[' && host[hn - 1] == ']') lua_pushlstring(L, host + 1, hn - 2);
  else lua_pushlstring(L, host, hn);
  lua_setfield(L, -2, "host");
  if (port) {
    lua_pushinteger(L, (lua_Integer)strtol(port, NULL, 10));
    lua_setfield(L, -2, "port");
  }
  lua_pushstring(L, path ? path : "/");
  lua_setfield(L, -2, "path");
  if (query) {
    lua_pushstring(L, query);
    lua_setfield(L, -2, "query");
  }
  if (fragment) {
    lua_pushstring(L, fragment);
    lua_setfield(L, -2, "fragment");
  }
  curl_free(scheme), curl_free(host), curl_free(port), curl_free(path), curl_free(query), curl_free(fragment);
  return 1;
}

static int l_parse(lua_State *L) {
  return parse_into(L, luaL_checkstring(L, 1));
}

static int l_origin(lua_State *L) {
  const char *host;
  if (parse_into(L, luaL_checkstring(L, 1)) == 2) return 2;
  lua_getfield(L, -1, "host");
  host = lua_tostring(L, -1);
  lua_getfield(L, -2, "scheme");
  lua_getfield(L, -3, "port");
  if (strchr(host, ':'))
    lua_pushfstring(L, "%s://[%s]:%s", lua_tostring(L, -2), host, lua_tostring(L, -1));
  else
    lua_pushfstring(L, "%s://%s:%s", lua_tostring(L, -2), host, lua_tostring(L, -1));
  return 1;
}

/* Loopback: localhost (any case), 127.0.0.0/8 as a dotted quad, ::1 (bracketed or not) and the
 * IPv4-mapped form of a 127/8 address. Not "localhost." with its trailing dot: libcurl resolves
 * "localhost" itself but sends "localhost." to DNS (and nginx sends every name to its resolver),
 * where any answer may come back, so plain http to it could carry a secret off the machine. */
static int is_loopback(const char *host, size_t n) {
  char tmp[64];
  unsigned char a6[16];
  struct in_addr a4;
  static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (n >= 2 && host[0] == '[' && host[n - 1] == ']') host++, n -= 2;
  if (n == 0 || n >= sizeof tmp || memchr(host, '\0', n)) return 0;
  memcpy(tmp, host, n);
  tmp[n] = '\0';
  if (strcasecmp(tmp, "localhost") == 0) return 1;
  if (inet_pton(AF_INET, tmp, &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
  if (inet_pton(AF_INET6, tmp, a6) == 1) {
    static const unsigned char one[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    if (memcmp(a6, one, 16) == 0) return 1;
    return memcmp(a6, mapped, 12) == 0 && a6[12] == 127;
  }
  return 0;
}

static int l_is_loopback(lua_State *L) {
  size_t n;
  const char *h = luaL_checklstring(L, 1, &n);
  lua_pushboolean(L, is_loopback(h, n));
  return 1;
}

int zz_open_url(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"escape", l_escape},
    {"unescape", l_unescape},
    {"encode_query", l_encode_query},
    {"decode_query", l_decode_query},
    {"parse", l_parse},
    {"origin", l_origin},
    {"is_loopback", l_is_loopback},
    {NULL, NULL},
  };
  lua_newtable(L);
  luaL_setfuncs(L, fns, 0);
  return 1;
}
