/* core.http: the response header table. The raw header lines the transfer collected (only the
 * last response's, see zz_http_header_cb) become {lowercased name = trimmed value}; a repeated
 * name joins its non-empty values with ", " (so no value starts or ends with a blank).
 * No libcurl and no transfer state in here, so the fuzz target fuzz/headers.c calls it directly. */
#include <string.h>
#include <strings.h>

#include "http.h"

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
    if (s->n[i] == n && strncasecmp(s->p[i], name, n) == 0) return 1;
  s->p[s->count] = name;
  s->n[s->count++] = (unsigned char)n;
  return 0;
}

void zz_http_push_headers(lua_State *L, const zz_buf *h) {
  const char *p = h->p, *end, *q;
  int lines = 0;
  seen_names seen;
  if (!p) {
    lua_newtable(L);
    return;
  }
  seen.count = 0;
  end = p + h->n;
  /* Sized for every line (the status line and the blank one included), so filling it never
   * rehashes: a response has a handful of headers and the slack costs less than regrowing. */
  for (q = p; q < end && (q = (const char *)memchr(q, '\n', (size_t)(end - q))) != NULL; q++) lines++;
  lua_createtable(L, 0, lines > 2 ? lines - 2 : 0);
  while (p < end) {
    const char *eol = (const char *)memchr(p, '\n', (size_t)(end - p)), *colon, *v, *ve;
    const char *line_end;
    size_t k;
    char name[128];
    if (!eol) eol = end;
    line_end = eol;
    if (line_end > p && line_end[-1] == '\r') line_end--;
    colon = (const char *)memchr(p, ':', (size_t)(line_end - p));
    if (colon && colon > p && (size_t)(colon - p) < sizeof name && !(p[0] == 'H' && line_end - p >= 5 && memcmp(p, "HTTP/", 5) == 0)) {
      for (k = 0; k < (size_t)(colon - p); k++) name[k] = (char)((p[k] >= 'A' && p[k] <= 'Z') ? p[k] + 32 : p[k]);
      v = colon + 1;
      ve = line_end;
      while (v < ve && (*v == ' ' || *v == '\t')) v++;
      while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
      lua_pushlstring(L, name, k);
      if (!maybe_seen(&seen, p, k)) {
        lua_pushlstring(L, v, (size_t)(ve - v));
        lua_rawset(L, -3);
        p = eol + 1;
        continue;
      }
      lua_pushvalue(L, -1);
      lua_rawget(L, -3);
      if (lua_isnil(L, -1) || lua_rawlen(L, -1) == 0) {
        lua_pop(L, 1);
        lua_pushlstring(L, v, (size_t)(ve - v));
      } else if (ve == v) { /* an empty list element adds nothing (RFC 9110, 5.6.1) */
        lua_pop(L, 2);
        p = eol + 1;
        continue;
      } else { /* repeated header: join as a list, as HTTP allows */
        lua_pushliteral(L, ", ");
        lua_pushlstring(L, v, (size_t)(ve - v));
        lua_concat(L, 3);
      }
      lua_rawset(L, -3);
    }
    p = eol + 1;
  }
}
