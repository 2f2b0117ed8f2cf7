/* core.http's internal API: the transport and transfer structures shared by http.c (the Lua
 * API), http_submit.c (building transfers from request tables) and http_xfer.c (libcurl
 * callbacks, transfer lifetime and the event loop). */
#ifndef ZUORA_HTTP_H
#define ZUORA_HTTP_H

#include <stdio.h>
#include <curl/curl.h>

#include "auth.h"
#include "buf.h"
#include "compat.h"

#define ZZ_HTTP_MT "zuora.http"
#define ZZ_HTTP_DEFAULT_MAX_BODY (256.0 * 1024 * 1024)
#define ZZ_HTTP_DEFAULT_CONNECT_TIMEOUT 10.0
/* Response header limits: a hostile server cannot make us buffer more than this. */
#define ZZ_HTTP_MAX_HEADER_LINES 500
#define ZZ_HTTP_MAX_HEADER_BYTES (64 * 1024)
#define ZZ_HTTP_POOL_MAX 32

enum { ZZ_HTTP_ABORT_NONE, ZZ_HTTP_ABORT_TOO_LARGE, ZZ_HTTP_ABORT_HEADERS, ZZ_HTTP_ABORT_FILE, ZZ_HTTP_ABORT_NOMEM };

typedef struct zz_transport zz_transport;

typedef struct zz_xfer {
  struct zz_xfer *prev, *next; /* in the transport's running or done list */
  zz_transport *t;
  lua_Integer id;
  CURL *easy;
  int added;                /* in the multi handle */
  struct curl_slist *headers;
  curl_mime *mime;
  zz_buf body;              /* request body (a copy, or the token form built in C) */
  FILE *upload;             /* body_file */
  zz_buf resp;              /* response body kept in memory */
  zz_buf hdrs;              /* header lines of the last response */
  size_t header_lines;
  curl_off_t bytes, max_body;
  char *output, *tmp_path;  /* 2xx bodies stream to tmp_path, renamed to output when complete */
  FILE *out;
  int decided, to_file;
  int decode;               /* 1: JSON bodies decoded, 2: with zuora.decimal numbers */
  int header_block;         /* give the raw header lines, not the table (built later if read) */
  int abort_reason;
  CURLcode code;
  const char *kind;         /* NULL on success */
  char msg[256];            /* our own error text when we failed the transfer */
  char errbuf[CURL_ERROR_SIZE];
  int auth_ref, token_ref;  /* registry references keeping auth objects alive while in flight */
  zz_auth *token_for;
  long long auth_gen;
  int has_auth_gen;
  int sends;                /* times libcurl put the request on the wire (it resends on a dead reused connection) */
  int plain;                /* set only the options every request sets: the handle can be pooled without a reset */
} zz_xfer;

typedef struct {
  zz_xfer *head, *tail;
  size_t n;
} zz_xlist;

struct zz_transport {
  CURLM *multi;
  int epfd;
  int timer_set;
  double timer_at;
  zz_xlist running, done;
  CURL *pool[ZZ_HTTP_POOL_MAX];
  unsigned char pool_ready[ZZ_HTTP_POOL_MAX]; /* pooled handle still holds the transport's own options */
  int npool;
  lua_Integer next_id;
  char *ca_file, *ca_path;
  /* Proxies from the environment, read once when the transport is made (libcurl would call
   * getenv several times on every transfer): per scheme, "" for none, and the no_proxy list. */
  char *proxy_http, *proxy_https, *no_proxy;
  int insecure, http2, closed;
  double max_body, timeout, connect_timeout;
};

/* --- lists -------------------------------------------------------------------------------- */

static inline void zz_list_push(zz_xlist *l, zz_xfer *x) {
  x->prev = l->tail;
  x->next = NULL;
  if (l->tail) l->tail->next = x;
  else l->head = x;
  l->tail = x;
  l->n++;
}

static inline void zz_list_remove(zz_xlist *l, zz_xfer *x) {
  if (x->prev) x->prev->next = x->next;
  else l->head = x->next;
  if (x->next) x->next->prev = x->prev;
  else l->tail = x->prev;
  x->prev = x->next = NULL;
  l->n--;
}

static inline zz_xfer *zz_list_find(const zz_xlist *l, lua_Integer id) {
  zz_xfer *x;
  for (x = l->head; x; x = x->next)
    if (x->id == id) return x;
  return NULL;
}

/* Monotonic clock in seconds (CLOCK_MONOTONIC); the `now` that core.auth's methods take. */
double zz_now(void);

/* http_xfer.c: libcurl callbacks (they never touch Lua). */
size_t zz_http_write_cb(char *ptr, size_t size, size_t nmemb, void *ud);
size_t zz_http_header_cb(char *ptr, size_t size, size_t nitems, void *ud);
size_t zz_http_read_cb(char *ptr, size_t size, size_t nitems, void *ud);
int zz_http_prereq_cb(void *ud, char *conn_primary_ip, char *conn_local_ip, int conn_primary_port, int conn_local_port);
int zz_http_socket_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp);
int zz_http_timer_cb(CURLM *m, long timeout_ms, void *userp);

/* http_headers.c: pushes the table of the raw header lines p[0..len) ({} when there are none),
 * or the value of the one header `name` (nil when absent; a repeated one joined as the table joins). */
void zz_http_push_headers(lua_State *L, const char *p, size_t len);
void zz_http_push_header(lua_State *L, const char *p, size_t len, const char *name, size_t n);
/* Several names at once, one pass over the lines: pushes `count` values (each as
 * zz_http_push_header would push it), count <= ZZ_HEADER_NAMES_MAX. */
#define ZZ_HEADER_NAMES_MAX 8
void zz_http_push_header_names(lua_State *L, const char *p, size_t len, const char *const *names,
                               const size_t *ns, int count);

/* http_xfer.c: transfer lifetime and the event loop. zz_http_easy_get sets *ready when the handle
 * already carries the transport's own options (from an earlier plain transfer). */
CURL *zz_http_easy_get(zz_transport *t, int *ready);
void zz_http_xfer_free(lua_State *L, zz_transport *t, zz_xfer *x);
void zz_http_fail_early(zz_transport *t, zz_xfer *x, const char *kind);
void zz_http_drive(zz_transport *t, double wait_s);

/* http_submit.c: validates the request table at index r (raising on mistakes) and starts the
 * transfer; it may already be in the done list when it failed before reaching libcurl. hold:
 * the transfer outlives the call (submit), so it references the request's auth object; a
 * blocking perform, during which the request table keeps it alive, passes 0. */
zz_xfer *zz_http_submit(lua_State *L, zz_transport *t, int r, int hold);

/* http_submit.c: option readers shared with http.new (they raise on bad values). */
double zz_http_check_seconds(lua_State *L, int idx, const char *k, double def);
double zz_http_check_max_body(lua_State *L, int idx, double def);

#endif
