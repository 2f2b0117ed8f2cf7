/* core.http: response headers. The raw header lines the transfer collected (only the last
 * response's, see zz_http_header_cb) become {lowercased name = trimmed value}; a repeated name
 * joins its non-empty values with ", " (so no value starts or ends with a blank). The same rules
 * answer a single name from the raw lines (zz_http_push_header), for callers that keep the lines
 * and build the table only when it is read.
 * No libcurl and no transfer state in here, so the fuzz target fuzz/headers.c calls it directly. */
#include <string.h>

#include "http.h"

#define NAME_MAX_LEN 128

/* A header line's name (as received) and trimmed value. */
typedef struct {
  const char *name, *v;
  size_t n, vn;
} header_line;

/* The end of the line [p, eol) without its CR. */
static const char *without_cr(const char *p, const char *eol) {
  return eol > p && eol[-1] == '\r' ? eol - 1 : eol;
}

static int status_line(const char *p, const char *line_end) {
  return line_end - p >= 5 && memcmp(p, "HTTP/", 5) == 0;
}

/* The value from just after the colon to the line's end, without blanks at either end. */
static void take_value(header_line *h, const char *v, const char *ve) {
  while (v < ve && (*v == ' ' || *v == '\t')) v++;
  while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
  h->v = v;
  h->vn = (size_t)(ve - v);
}

/* The next line of the block [*pp, end). Returns 0 past the last line. Lines without a colon,
 * with an empty or over-long name, and status lines give h->n == 0 (skip them). */
static int next_line(const char **pp, const char *end, header_line *h) {
  const char *p = *pp, *eol, *line_end, *colon;
  if (p >= end) return 0;
  eol = (const char *)memchr(p, '\n', (size_t)(end - p));
  if (!eol) eol = end;
  *pp = eol + 1;
  h->n = 0;
  line_end = without_cr(p, eol);
  colon = (const char *)memchr(p, ':', (size_t)(line_end - p));
  if (!colon || colon == p || (size_t)(colon - p) >= NAME_MAX_LEN || status_line(p, line_end)) return 1;
  h->name = p;
  h->n = (size_t)(colon - p);
  take_value(h, colon + 1, line_end);
  return 1;
}

/* ASCII-only case folding, the same as the table's lower-casing of names (strncasecmp would
 * follow the locale). */
static int same_name(const char *a, const char *b, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) {
    unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
    if (x >= 'A' && x <= 'Z') x = (unsigned char)(x + 32);
    if (y >= 'A' && y <= 'Z') y = (unsigned char)(y + 32);
    if (x != y) return 0;
  }
  return 1;
}

/* A repeated header's value joined to the one at the top of the stack, which it replaces: an
 * empty value gives way to the next one, an empty repeat adds nothing (RFC 9110, 5.6.1), anything
 * else joins as a list with ", ". */
static void join_repeat(lua_State *L, const header_line *h) {
  if (lua_rawlen(L, -1) == 0) {
    lua_pop(L, 1);
    lua_pushlstring(L, h->v, h->vn);
  } else if (h->vn > 0) {
    lua_pushliteral(L, ", ");
    lua_pushlstring(L, h->v, h->vn);
    lua_concat(L, 3);
  }
}

/* Header names seen so far in this block, to spot a repeated one without asking the table
 * (the usual response repeats nothing). Past SEEN_MAX names every name is looked up instead. */
#define SEEN_MAX 48
typedef struct {
  const char *p[SEEN_MAX]; /* the name as received (case and all) */
  unsigned char n[SEEN_MAX];
  int count;
} seen_names;

/* 1 if the name may already be in the table, 0 if it certainly is not (and remembers it). */
static int maybe_seen(seen_names *s, const char *name, size_t n) {
  int i;
  if (s->count >= SEEN_MAX) return 1;
  for (i = 0; i < s->count; i++)
    if (s->n[i] == n && same_name(s->p[i], name, n)) return 1;
  s->p[s->count] = name;
  s->n[s->count++] = (unsigned char)n;
  return 0;
}

void zz_http_push_headers(lua_State *L, const char *p, size_t len) {
  const char *end, *q;
  int lines = 0;
  seen_names seen;
  header_line h;
  if (!p || len == 0) {
    lua_newtable(L);
    return;
  }
  end = p + len;
  seen.count = 0;
  /* Sized for every line (the status line and the blank one included), so filling it never
   * rehashes: a response has a handful of headers and the slack costs less than regrowing. */
  for (q = p; q < end && (q = (const char *)memchr(q, '\n', (size_t)(end - q))) != NULL; q++) lines++;
  lua_createtable(L, 0, lines > 2 ? lines - 2 : 0);
  while (next_line(&p, end, &h)) {
    char name[NAME_MAX_LEN];
    size_t k;
    if (h.n == 0) continue;
    for (k = 0; k < h.n; k++) name[k] = (char)((h.name[k] >= 'A' && h.name[k] <= 'Z') ? h.name[k] + 32 : h.name[k]);
    lua_pushlstring(L, name, h.n);
    if (!maybe_seen(&seen, h.name, h.n)) {
      lua_pushlstring(L, h.v, h.vn);
    } else {
      lua_pushvalue(L, -1);
      lua_rawget(L, -3);
      if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushlstring(L, h.v, h.vn);
      } else {
        join_repeat(L, &h);
      }
    }
    lua_rawset(L, -3);
  }
}

/* Whether the line [p, eol) is a header named `name` (filling h's value if so): what next_line
 * would make of it, without next_line's work on the lines that do not match. */
static int line_is(const char *p, const char *eol, const char *name, size_t n, header_line *h) {
  const char *line_end;
  if ((size_t)(eol - p) <= n || p[n] != ':' || !same_name(p, name, n)) return 0;
  line_end = without_cr(p, eol);
  if (status_line(p, line_end)) return 0;
  take_value(h, p + n + 1, line_end);
  return 1;
}

void zz_http_push_header(lua_State *L, const char *p, size_t len, const char *name, size_t n) {
  const char *end;
  header_line h;
  int found = 0;
  /* no table key is empty, has a colon or is that long */
  if (!p || n == 0 || n >= NAME_MAX_LEN || memchr(name, ':', n)) {
    lua_pushnil(L);
    return;
  }
  end = p + len;
  while (p < end) {
    const char *eol = (const char *)memchr(p, '\n', (size_t)(end - p));
    if (!eol) eol = end;
    if (line_is(p, eol, name, n, &h)) {
      if (found) {
        join_repeat(L, &h);
      } else {
        lua_pushlstring(L, h.v, h.vn);
        found = 1;
      }
    }
    p = eol + 1;
  }
  if (!found) lua_pushnil(L);
}

void zz_http_push_header_names(lua_State *L, const char *p, size_t len, const char *const *names,
                               const size_t *ns, int count) {
  const char *block = p, *end = p ? p + len : NULL;
  const char *first[ZZ_HEADER_NAMES_MAX];
  size_t firstn[ZZ_HEADER_NAMES_MAX];
  unsigned char repeated[ZZ_HEADER_NAMES_MAX];
  header_line h;
  int i;
  for (i = 0; i < count; i++) {
    first[i] = NULL;
    firstn[i] = 0;
    repeated[i] = 0;
  }
  /* one pass over the lines, testing each against every name as zz_http_push_header would */
  while (p && p < end) {
    const char *eol = (const char *)memchr(p, '\n', (size_t)(end - p));
    if (!eol) eol = end;
    for (i = 0; i < count; i++) {
      size_t n = ns[i];
      if (n == 0 || n >= NAME_MAX_LEN || memchr(names[i], ':', n)) continue;
      if (line_is(p, eol, names[i], n, &h)) {
        if (first[i]) {
          repeated[i] = 1;
        } else {
          first[i] = h.v;
          firstn[i] = h.vn;
        }
      }
    }
    p = eol + 1;
  }
  for (i = 0; i < count; i++) {
    if (repeated[i]) {
      zz_http_push_header(L, block, len, names[i], ns[i]); /* the rare repeat: joined as there */
    } else if (first[i]) {
      lua_pushlstring(L, first[i], firstn[i]);
    } else {
      lua_pushnil(L);
    }
  }
}
