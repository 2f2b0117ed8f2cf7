/* core.http: the libcurl transport. One multi handle per transport object drives every transfer
 * through libcurl's socket API: curl tells us which sockets to watch (socket_cb) and when to wake
 * it (timer_cb); we keep those sockets in an epoll set, whose fd is what foreign event loops poll.
 * Callbacks only move bytes into C buffers; Lua sees results when it asks (results/perform).
 * Easy handles are pooled; connections live in the multi handle's cache, so keep-alive and HTTP/2
 * multiplexing work across requests. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>

#include "auth.h"
#include "buf.h"
#include "core.h"
#include "http.h"
#include "json.h"

#define ZZ_HTTP_MT "zuora.http"
#define DEFAULT_MAX_BODY (256.0 * 1024 * 1024)
#define DEFAULT_CONNECT_TIMEOUT 10.0
/* Response header limits: a hostile server cannot make us buffer more than this. */
#define MAX_HEADER_LINES 500
#define MAX_HEADER_BYTES (64 * 1024)
#define POOL_MAX 32
#define JSON_MAX_DEPTH 1000

enum { ABORT_NONE, ABORT_TOO_LARGE, ABORT_HEADERS, ABORT_FILE, ABORT_NOMEM };

typedef struct transport transport;

typedef struct xfer {
  struct xfer *prev, *next; /* in the transport's running or done list */
  transport *t;
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
  int decode;
  int abort_reason;
  CURLcode code;
  const char *kind;         /* NULL on success */
  char msg[256];            /* our own error text when we failed the transfer */
  char errbuf[CURL_ERROR_SIZE];
  int auth_ref, token_ref;  /* registry references keeping auth objects alive while in flight */
  zz_auth *token_for;
  long long auth_gen;
  int has_auth_gen;
} xfer;

typedef struct {
  xfer *head, *tail;
  size_t n;
} xlist;

struct transport {
  CURLM *multi;
  int epfd;
  int timer_set;
  double timer_at;
  xlist running, done;
  CURL *pool[POOL_MAX];
  int npool;
  lua_Integer next_id;
  char *ca_file, *ca_path;
  int insecure, http2, closed;
  double max_body, timeout, connect_timeout;
};

double zz_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --- lists -------------------------------------------------------------------------------- */

static void list_push(xlist *l, xfer *x) {
  x->prev = l->tail;
  x->next = NULL;
  if (l->tail) l->tail->next = x;
  else l->head = x;
  l->tail = x;
  l->n++;
}

static void list_remove(xlist *l, xfer *x) {
  if (x->prev) x->prev->next = x->next;
  else l->head = x->next;
  if (x->next) x->next->prev = x->prev;
  else l->tail = x->prev;
  x->prev = x->next = NULL;
  l->n--;
}

static xfer *list_find(const xlist *l, lua_Integer id) {
  xfer *x;
  for (x = l->head; x; x = x->next)
    if (x->id == id) return x;
  return NULL;
}

/* --- libcurl callbacks (no Lua in here) --------------------------------------------------- */

static int open_output(xfer *x) {
  size_t n = strlen(x->output);
  int fd;
  x->tmp_path = (char *)malloc(n + 16);
  if (!x->tmp_path) return -1;
  memcpy(x->tmp_path, x->output, n);
  memcpy(x->tmp_path + n, ".part-XXXXXX", 13);
  fd = mkstemp(x->tmp_path);
  if (fd < 0) {
    snprintf(x->msg, sizeof x->msg, "cannot create a file next to %s: %s", x->output, strerror(errno));
    free(x->tmp_path);
    x->tmp_path = NULL;
    return -1;
  }
  x->out = fdopen(fd, "wb");
  if (!x->out) {
    snprintf(x->msg, sizeof x->msg, "cannot open %s: %s", x->tmp_path, strerror(errno));
    close(fd);
    unlink(x->tmp_path);
    free(x->tmp_path);
    x->tmp_path = NULL;
    return -1;
  }
  return 0;
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *ud) {
  xfer *x = (xfer *)ud;
  size_t n = size * nmemb;
  if (!x->decided) {
    long status = 0;
    x->decided = 1;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    if (x->output && status >= 200 && status <= 299) {
      if (open_output(x) != 0) {
        x->abort_reason = ABORT_FILE;
        return 0;
      }
      x->to_file = 1;
    }
  }
  if ((curl_off_t)n > x->max_body - x->bytes) {
    x->abort_reason = ABORT_TOO_LARGE;
    return 0;
  }
  x->bytes += (curl_off_t)n;
  if (x->to_file) {
    if (fwrite(ptr, 1, n, x->out) != n) {
      snprintf(x->msg, sizeof x->msg, "cannot write %s: %s", x->output, strerror(errno));
      x->abort_reason = ABORT_FILE;
      return 0;
    }
  } else if (zz_buf_add(&x->resp, ptr, n) != 0) {
    x->abort_reason = ABORT_NOMEM;
    return 0;
  }
  return n;
}

static size_t header_cb(char *ptr, size_t size, size_t nitems, void *ud) {
  xfer *x = (xfer *)ud;
  size_t n = size * nitems;
  if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0) { /* a new response (after 1xx): start over */
    x->hdrs.n = 0;
    x->header_lines = 0;
  }
  if (++x->header_lines > MAX_HEADER_LINES || n > MAX_HEADER_BYTES - x->hdrs.n) {
    x->abort_reason = ABORT_HEADERS;
    return 0;
  }
  if (zz_buf_add(&x->hdrs, ptr, n) != 0) {
    x->abort_reason = ABORT_NOMEM;
    return 0;
  }
  return n;
}

static size_t read_cb(char *ptr, size_t size, size_t nitems, void *ud) {
  xfer *x = (xfer *)ud;
  size_t n = fread(ptr, 1, size * nitems, x->upload);
  if (n == 0 && ferror(x->upload)) return CURL_READFUNC_ABORT;
  return n;
}

/* libcurl's socketp remembers whether a socket is already in the epoll set (we assign the
 * transport to it on ADD; libcurl forgets it when the socket is removed), so each change is one
 * epoll_ctl call. */
static int socket_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp) {
  transport *t = (transport *)userp;
  struct epoll_event ev;
  (void)e;
  memset(&ev, 0, sizeof ev);
  ev.data.fd = s;
  if (what == CURL_POLL_REMOVE) {
    epoll_ctl(t->epfd, EPOLL_CTL_DEL, s, &ev); /* may already be gone with its socket */
    return 0;
  }
  ev.events = (uint32_t)((what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0));
  if (socketp) {
    if (epoll_ctl(t->epfd, EPOLL_CTL_MOD, s, &ev) != 0 && errno == ENOENT) epoll_ctl(t->epfd, EPOLL_CTL_ADD, s, &ev);
  } else {
    if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, s, &ev) != 0 && errno == EEXIST) epoll_ctl(t->epfd, EPOLL_CTL_MOD, s, &ev);
    curl_multi_assign(t->multi, s, t);
  }
  return 0;
}

static int timer_cb(CURLM *m, long timeout_ms, void *userp) {
  transport *t = (transport *)userp;
  (void)m;
  if (timeout_ms < 0) {
    t->timer_set = 0;
  } else {
    t->timer_set = 1;
    t->timer_at = zz_now() + (double)timeout_ms / 1000.0;
  }
  return 0;
}

/* --- transfer lifetime -------------------------------------------------------------------- */

static CURL *easy_get(transport *t) {
  if (t->npool > 0) return t->pool[--t->npool];
  return curl_easy_init();
}

static void easy_put(transport *t, CURL *e) {
  curl_easy_reset(e);
  if (t->npool < POOL_MAX) t->pool[t->npool++] = e;
  else curl_easy_cleanup(e);
}

static void unref(lua_State *L, int *ref) {
  if (*ref != LUA_NOREF && *ref != LUA_REFNIL) luaL_unref(L, LUA_REGISTRYINDEX, *ref);
  *ref = LUA_NOREF;
}

/* Releases everything a transfer owns. It must already be out of the multi handle and lists. */
static void xfer_free(lua_State *L, transport *t, xfer *x) {
  if (x->easy) easy_put(t, x->easy); /* reset first: the handle may still point at mime/headers */
  if (x->mime) curl_mime_free(x->mime);
  zz_slist_wipe(x->headers);
  zz_buf_wipe(&x->body);
  if (x->token_for) zz_buf_wipe(&x->resp);
  else zz_buf_free(&x->resp);
  zz_buf_free(&x->hdrs);
  if (x->upload) fclose(x->upload);
  if (x->out) fclose(x->out);
  if (x->tmp_path) {
    unlink(x->tmp_path);
    free(x->tmp_path);
  }
  free(x->output);
  unref(L, &x->auth_ref);
  unref(L, &x->token_ref);
  free(x);
}

static int is_tls_error(CURLcode c) {
  switch (c) {
    case CURLE_SSL_CONNECT_ERROR: case CURLE_PEER_FAILED_VERIFICATION: case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER: case CURLE_SSL_CACERT_BADFILE: case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED: case CURLE_SSL_ENGINE_INITFAILED: case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE: case CURLE_SSL_ISSUER_ERROR: case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS: case CURLE_USE_SSL_FAILED: case CURLE_SSL_CLIENTCERT:
      return 1;
    default:
      return 0;
  }
}

/* Sets kind and message of a finished transfer from its curl code and our abort reason. */
static void classify(xfer *x) {
  switch (x->abort_reason) {
    case ABORT_TOO_LARGE:
      x->kind = "too_large";
      snprintf(x->msg, sizeof x->msg, "response body exceeds max_body (%.0f bytes)", (double)x->max_body);
      return;
    case ABORT_HEADERS:
      x->kind = "too_large";
      snprintf(x->msg, sizeof x->msg, "response headers exceed %d lines or %d bytes", MAX_HEADER_LINES,
               MAX_HEADER_BYTES);
      return;
    case ABORT_FILE:
      x->kind = "file";
      if (!x->msg[0]) snprintf(x->msg, sizeof x->msg, "cannot write %s", x->output);
      return;
    case ABORT_NOMEM:
      x->kind = "transport";
      snprintf(x->msg, sizeof x->msg, "out of memory");
      return;
    default: break;
  }
  if (x->code == CURLE_OK) return;
  if (x->code == CURLE_OUT_OF_MEMORY && !x->decided && x->hdrs.n > 0) {
    /* libcurl refuses a single header line over CURL_MAX_HTTP_HEADER (100 KiB) this way */
    x->kind = "too_large";
    snprintf(x->msg, sizeof x->msg, "a response header line exceeds libcurl's limit of %d bytes", CURL_MAX_HTTP_HEADER);
    return;
  }
  if (x->code == CURLE_OPERATION_TIMEDOUT) x->kind = "timeout";
  else if (x->code == CURLE_FILESIZE_EXCEEDED) x->kind = "too_large";
  else if (x->code == CURLE_READ_ERROR && x->upload) x->kind = "file";
  else if (is_tls_error(x->code)) x->kind = "tls";
  else x->kind = "transport";
  if (x->code == CURLE_FILESIZE_EXCEEDED)
    snprintf(x->msg, sizeof x->msg, "response body exceeds max_body (%.0f bytes)", (double)x->max_body);
  else
    snprintf(x->msg, sizeof x->msg, "%s", x->errbuf[0] ? x->errbuf : curl_easy_strerror(x->code));
}

/* A transfer left libcurl: settle its file, feed a token reply, queue it as done. */
static void finish(transport *t, xfer *x, CURLcode code) {
  if (x->added) {
    curl_multi_remove_handle(t->multi, x->easy);
    x->added = 0;
  }
  list_remove(&t->running, x);
  x->code = code;
  classify(x);
  if (x->out) {
    int bad = fclose(x->out) != 0;
    x->out = NULL;
    if (bad && !x->kind) {
      x->kind = "file";
      snprintf(x->msg, sizeof x->msg, "cannot write %s: %s", x->output, strerror(errno));
    }
    if (!x->kind) {
      if (rename(x->tmp_path, x->output) != 0) {
        x->kind = "file";
        snprintf(x->msg, sizeof x->msg, "cannot rename into %s: %s", x->output, strerror(errno));
      } else {
        free(x->tmp_path);
        x->tmp_path = NULL;
      }
    }
  }
  if (x->token_for) {
    if (x->kind) {
      zz_auth_fail(x->token_for);
    } else {
      long status = 0;
      curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
      if (zz_auth_accept_reply(x->token_for, status, x->resp.p, x->resp.n, zz_now(), x->msg, sizeof x->msg) != 0)
        x->kind = "auth";
    }
    zz_buf_wipe(&x->resp); /* the reply held the token */
  }
  list_push(&t->done, x);
}

/* Queues a transfer that failed before reaching libcurl. */
static void fail_early(transport *t, xfer *x, const char *kind) {
  x->kind = kind;
  if (x->token_for) zz_auth_fail(x->token_for);
  list_push(&t->done, x);
}

static void collect(transport *t) {
  CURLMsg *m;
  int left;
  while ((m = curl_multi_info_read(t->multi, &left)) != NULL) {
    if (m->msg == CURLMSG_DONE) {
      xfer *x = NULL;
      curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
      if (x) finish(t, x, m->data.result);
    }
  }
}

/* Runs libcurl's timer if it is due. */
static void run_timer(transport *t) {
  int running;
  if (t->timer_set && zz_now() >= t->timer_at) {
    t->timer_set = 0; /* libcurl may set it again from inside the call */
    curl_multi_socket_action(t->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  }
}

/* One round: runs a due timer, waits up to wait_s seconds (negative: until libcurl's timer) for
 * socket activity, lets libcurl act on it and on its timer, then collects finished transfers. */
static void drive(transport *t, double wait_s) {
  struct epoll_event ev[64];
  int n, i, running, ms;
  double now, wait = wait_s;
  size_t done = t->done.n;
  /* A due timer first: it usually starts a transfer just submitted, and sparing the zero-timeout
   * epoll_wait before it is one system call less per request. */
  run_timer(t);
  collect(t);
  if (t->done.n > done) return;
  now = zz_now();
  if (t->timer_set) {
    double due = t->timer_at - now;
    if (due < 0) due = 0;
    if (wait < 0 || due < wait) wait = due;
  }
  if (wait < 0) wait = 1.0; /* no timer and no limit: wake up now and then anyway */
  ms = (int)ceil(wait * 1000.0);
  if (ms > 3600 * 1000) ms = 3600 * 1000;
  n = epoll_wait(t->epfd, ev, (int)(sizeof ev / sizeof ev[0]), ms);
  for (i = 0; i < n; i++) {
    int mask = 0;
    if (ev[i].events & EPOLLIN) mask |= CURL_CSELECT_IN;
    if (ev[i].events & EPOLLOUT) mask |= CURL_CSELECT_OUT;
    if (ev[i].events & (EPOLLERR | EPOLLHUP)) mask |= CURL_CSELECT_ERR;
    curl_multi_socket_action(t->multi, ev[i].data.fd, mask, &running);
  }
  run_timer(t);
  collect(t);
}

/* --- Lua side: the transport object ------------------------------------------------------- */

static transport *check_open(lua_State *L) {
  transport *t = (transport *)luaL_checkudata(L, 1, ZZ_HTTP_MT);
  if (t->closed) luaL_error(L, "transport is closed");
  return t;
}

static char *dup_opt(lua_State *L, int idx, const char *k) {
  char *r = NULL;
  int ty = zz_getfield(L, idx, k);
  if (ty != LUA_TNIL) {
    if (ty != LUA_TSTRING) luaL_error(L, "option '%s' must be a string", k);
    r = strdup(lua_tostring(L, -1));
    if (!r) luaL_error(L, "out of memory");
  }
  lua_pop(L, 1);
  return r;
}

static double check_seconds(lua_State *L, int idx, const char *k, double def) {
  double v = zz_optnumfield(L, idx, k, def);
  if (!(v >= 0 && v <= 1e7)) luaL_error(L, "option '%s' must be a number of seconds >= 0", k);
  return v;
}

static double check_max_body(lua_State *L, int idx, double def) {
  double v = zz_optnumfield(L, idx, "max_body", def);
  if (!(v >= 0 && v <= 9.0e15)) luaL_error(L, "option 'max_body' must be a byte count >= 0");
  return floor(v);
}

static int l_new(lua_State *L) {
  transport *t;
  int ins = 0, h2 = 1;
  double max_body = DEFAULT_MAX_BODY, to = 0, cto = DEFAULT_CONNECT_TIMEOUT;
  if (!lua_isnoneornil(L, 1)) {
    luaL_checktype(L, 1, LUA_TTABLE);
    ins = zz_optboolfield(L, 1, "insecure", 0);
    h2 = zz_optboolfield(L, 1, "http2", 1);
    max_body = check_max_body(L, 1, DEFAULT_MAX_BODY);
    to = check_seconds(L, 1, "timeout", 0);
    cto = check_seconds(L, 1, "connect_timeout", DEFAULT_CONNECT_TIMEOUT);
  }
  t = (transport *)zz_newudata(L, sizeof *t);
  memset(t, 0, sizeof *t);
  t->epfd = -1;
  t->closed = 1; /* until fully built, so __gc frees only what exists */
  zz_setmetatable(L, ZZ_HTTP_MT);
  t->insecure = ins, t->http2 = h2, t->max_body = max_body, t->timeout = to, t->connect_timeout = cto;
  if (!lua_isnoneornil(L, 1)) {
    t->ca_file = dup_opt(L, 1, "ca_file");
    t->ca_path = dup_opt(L, 1, "ca_path");
  }
  t->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (t->epfd < 0) return luaL_error(L, "http.new: epoll_create1: %s", strerror(errno));
  t->multi = curl_multi_init();
  if (!t->multi) return luaL_error(L, "http.new: curl_multi_init failed");
  curl_multi_setopt(t->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
  curl_multi_setopt(t->multi, CURLMOPT_SOCKETDATA, t);
  curl_multi_setopt(t->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
  curl_multi_setopt(t->multi, CURLMOPT_TIMERDATA, t);
  curl_multi_setopt(t->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
  curl_multi_setopt(t->multi, CURLMOPT_MAXCONNECTS, 64L);
  t->closed = 0;
  return 1;
}

/* Frees everything; safe to call twice (close, then __gc). */
static void transport_close(lua_State *L, transport *t) {
  xfer *x;
  while ((x = t->running.head) != NULL) {
    list_remove(&t->running, x);
    if (x->added) curl_multi_remove_handle(t->multi, x->easy);
    x->added = 0;
    if (x->token_for) zz_auth_fail(x->token_for);
    xfer_free(L, t, x);
  }
  while ((x = t->done.head) != NULL) {
    list_remove(&t->done, x);
    xfer_free(L, t, x);
  }
  while (t->npool > 0) curl_easy_cleanup(t->pool[--t->npool]);
  if (t->multi) curl_multi_cleanup(t->multi);
  t->multi = NULL;
  if (t->epfd >= 0) close(t->epfd);
  t->epfd = -1;
  free(t->ca_file);
  free(t->ca_path);
  t->ca_file = t->ca_path = NULL;
  t->closed = 1;
}

static int l_close(lua_State *L) {
  transport *t = (transport *)luaL_checkudata(L, 1, ZZ_HTTP_MT);
  transport_close(L, t);
  return 0;
}

static int l_tostring(lua_State *L) {
  transport *t = (transport *)luaL_checkudata(L, 1, ZZ_HTTP_MT);
  if (t->closed) lua_pushliteral(L, "zuora.http (closed)");
  else lua_pushfstring(L, "zuora.http (%d running, %d done)", (int)t->running.n, (int)t->done.n);
  return 1;
}

/* --- submit: validate everything first (errors raise), then build (nothing raises) -------- */

typedef struct {
  const char *method, *url, *body, *body_file, *output;
  size_t body_len;
  double timeout, connect_timeout, max_body;
  int decode, has_auth, has_token_for, nheaders, nparts;
  int have_timeout;
} reqspec;

static int token_char(unsigned char c) {
  return c > 0x20 && c < 0x7f && !strchr("()<>@,;:\\\"/[]?={}", c);
}

static void check_header(lua_State *L, const char *h, size_t n, int i) {
  size_t k = 0;
  if (memchr(h, '\r', n) || memchr(h, '\n', n) || memchr(h, '\0', n))
    luaL_error(L, "header %d contains CR, LF or NUL", i);
  while (k < n && token_char((unsigned char)h[k])) k++;
  if (k == 0 || k >= n || (h[k] != ':' && h[k] != ';')) luaL_error(L, "header %d is not \"Name: value\"", i);
}

static const char *opt_str(lua_State *L, int idx, const char *k, size_t *len) {
  const char *s = NULL;
  int ty = zz_getfield(L, idx, k);
  if (ty != LUA_TNIL) {
    if (ty != LUA_TSTRING) luaL_error(L, "request field '%s' must be a string", k);
    s = lua_tolstring(L, -1, len);
  }
  lua_pop(L, 1); /* still referenced by the request table */
  return s;
}

static void validate(lua_State *L, int r, reqspec *q, transport *t) {
  size_t n, i;
  int bodies = 0;
  memset(q, 0, sizeof *q);
  luaL_checktype(L, r, LUA_TTABLE);
  q->method = opt_str(L, r, "method", &n);
  if (!q->method) q->method = "GET";
  for (i = 0; q->method[i]; i++)
    if (!token_char((unsigned char)q->method[i]) || (q->method[i] >= 'a' && q->method[i] <= 'z'))
      luaL_error(L, "request method must be an upper-case HTTP token");
  if (!q->method[0]) luaL_error(L, "request method must be an upper-case HTTP token");
  q->url = opt_str(L, r, "url", &n);
  if (!q->url) luaL_error(L, "request field 'url' is required");
  for (i = 0; i < n; i++)
    if ((unsigned char)q->url[i] <= 0x20 || (unsigned char)q->url[i] == 0x7f)
      luaL_error(L, "request url contains a space or control character");
  if (zz_getfield(L, r, "headers") != LUA_TNIL) {
    int k, cnt;
    if (!lua_istable(L, -1)) luaL_error(L, "request field 'headers' must be an array of strings");
    cnt = (int)lua_rawlen(L, -1);
    for (k = 1; k <= cnt; k++) {
      lua_rawgeti(L, -1, k);
      if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "header %d must be a string", k);
      {
        const char *h = lua_tolstring(L, -1, &n);
        check_header(L, h, n, k);
      }
      lua_pop(L, 1);
    }
    q->nheaders = cnt;
  }
  lua_pop(L, 1);
  q->body = opt_str(L, r, "body", &q->body_len);
  q->body_file = opt_str(L, r, "body_file", &n);
  q->output = opt_str(L, r, "output", &n);
  bodies = (q->body != NULL) + (q->body_file != NULL);
  if (zz_getfield(L, r, "multipart") != LUA_TNIL) {
    int k, cnt;
    if (!lua_istable(L, -1)) luaL_error(L, "request field 'multipart' must be an array of parts");
    cnt = (int)lua_rawlen(L, -1);
    for (k = 1; k <= cnt; k++) {
      int has_data, has_path;
      lua_rawgeti(L, -1, k);
      if (!lua_istable(L, -1)) luaL_error(L, "multipart part %d must be a table", k);
      if (zz_getfield(L, -1, "name") != LUA_TSTRING) luaL_error(L, "multipart part %d needs a string 'name'", k);
      lua_pop(L, 1);
      has_data = zz_getfield(L, -1, "data") == LUA_TSTRING;
      lua_pop(L, 1);
      has_path = zz_getfield(L, -1, "path") == LUA_TSTRING;
      lua_pop(L, 1);
      if (has_data == has_path) luaL_error(L, "multipart part %d needs exactly one of 'data' or 'path'", k);
      {
        int ty = zz_getfield(L, -1, "filename");
        lua_pop(L, 1);
        if (ty != LUA_TNIL && ty != LUA_TSTRING) luaL_error(L, "multipart part %d: 'filename' must be a string", k);
        ty = zz_getfield(L, -1, "content_type");
        if (ty == LUA_TSTRING) {
          const char *ct = lua_tolstring(L, -1, &n);
          if (memchr(ct, '\r', n) || memchr(ct, '\n', n) || memchr(ct, '\0', n))
            luaL_error(L, "multipart part %d: content_type contains CR, LF or NUL", k);
        } else if (ty != LUA_TNIL) {
          luaL_error(L, "multipart part %d: 'content_type' must be a string", k);
        }
        lua_pop(L, 1);
      }
      lua_pop(L, 1);
    }
    q->nparts = cnt;
    bodies++;
  }
  lua_pop(L, 1);
  if (bodies > 1) luaL_error(L, "a request takes only one of 'body', 'body_file' and 'multipart'");
  q->have_timeout = zz_getfield(L, r, "timeout") != LUA_TNIL;
  lua_pop(L, 1);
  q->timeout = check_seconds(L, r, "timeout", t->timeout);
  q->connect_timeout = check_seconds(L, r, "connect_timeout", t->connect_timeout);
  q->max_body = check_max_body(L, r, t->max_body);
  q->decode = zz_optboolfield(L, r, "decode", 0);
  if (zz_getfield(L, r, "auth") != LUA_TNIL) {
    zz_auth_check(L, -1);
    q->has_auth = 1;
  }
  lua_pop(L, 1);
  if (zz_getfield(L, r, "token_for") != LUA_TNIL) {
    zz_auth *a = zz_auth_check(L, -1);
    if (!zz_auth_has_token_body(a)) luaL_error(L, "token_for needs an oauth auth object");
    q->has_token_for = 1;
    if (q->body || q->body_file || q->nparts) luaL_error(L, "a token request carries no body of its own");
  }
  lua_pop(L, 1);
}

static int add_header(struct curl_slist **list, const char *h) {
  struct curl_slist *n = curl_slist_append(*list, h);
  if (!n) return -1;
  *list = n;
  return 0;
}

/* Builds a multipart form from the (validated) parts at the top of the stack. Returns NULL on
 * success or an error kind with x->msg filled. */
static const char *build_mime(lua_State *L, xfer *x, int cnt) {
  int k;
  x->mime = curl_mime_init(x->easy);
  if (!x->mime) return "transport";
  for (k = 1; k <= cnt; k++) {
    curl_mimepart *p = curl_mime_addpart(x->mime);
    size_t n;
    const char *s;
    if (!p) return "transport";
    lua_rawgeti(L, -1, k);
    lua_getfield(L, -1, "name");
    curl_mime_name(p, lua_tostring(L, -1));
    lua_pop(L, 1);
    lua_getfield(L, -1, "data");
    if (lua_type(L, -1) == LUA_TSTRING) {
      s = lua_tolstring(L, -1, &n);
      curl_mime_data(p, s, n);
    }
    lua_pop(L, 1);
    lua_getfield(L, -1, "path");
    if (lua_type(L, -1) == LUA_TSTRING) {
      struct stat st;
      s = lua_tostring(L, -1);
      errno = 0;
      if (stat(s, &st) != 0 || !S_ISREG(st.st_mode) || access(s, R_OK) != 0) {
        snprintf(x->msg, sizeof x->msg, "cannot read multipart file %s: %s", s,
                 errno ? strerror(errno) : "not a regular file");
        lua_pop(L, 2);
        return "file";
      }
      if (curl_mime_filedata(p, s) != CURLE_OK) {
        lua_pop(L, 2);
        return "transport";
      }
    }
    lua_pop(L, 1);
    lua_getfield(L, -1, "filename");
    if (lua_type(L, -1) == LUA_TSTRING) curl_mime_filename(p, lua_tostring(L, -1));
    lua_pop(L, 1);
    lua_getfield(L, -1, "content_type");
    if (lua_type(L, -1) == LUA_TSTRING) curl_mime_type(p, lua_tostring(L, -1));
    lua_pop(L, 2);
  }
  return NULL;
}

/* Creates and starts a transfer for the request table at index r; returns it (it may already
 * be in the done list when it failed before reaching libcurl). */
static xfer *submit(lua_State *L, transport *t, int r) {
  reqspec q;
  xfer *x;
  CURL *e;
  const char *kind = NULL;
  int expect = 0, is_post, k;
  validate(L, r, &q, t);
  x = (xfer *)calloc(1, sizeof *x);
  if (!x) luaL_error(L, "out of memory");
  x->t = t;
  x->id = ++t->next_id;
  x->auth_ref = x->token_ref = LUA_NOREF;
  x->max_body = (curl_off_t)q.max_body;
  x->decode = q.decode;
  e = x->easy = easy_get(t);
  if (!e) {
    free(x);
    luaL_error(L, "out of memory");
  }
  /* References keep the auth objects alive while the transfer is in flight. */
  if (q.has_auth) {
    lua_getfield(L, r, "auth");
    x->auth_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  if (q.has_token_for) {
    lua_getfield(L, r, "token_for");
    x->token_for = zz_auth_check(L, -1);
    x->token_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  if (q.output && !(x->output = strdup(q.output))) kind = "transport";

  curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)x);
  curl_easy_setopt(e, CURLOPT_URL, q.url);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, t->http2 ? (long)CURL_HTTP_VERSION_2TLS : (long)CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, t->insecure ? 0L : 1L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, t->insecure ? 0L : 2L);
  if (t->ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, t->ca_file);
  if (t->ca_path) curl_easy_setopt(e, CURLOPT_CAPATH, t->ca_path);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)ceil(q.timeout * 1000.0));
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)ceil(q.connect_timeout * 1000.0));
  curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)q.max_body);

  /* Headers: the caller's, then credentials added here in C. */
  if (q.nheaders) {
    lua_getfield(L, r, "headers");
    for (k = 1; k <= q.nheaders && !kind; k++) {
      const char *h;
      lua_rawgeti(L, -1, k);
      h = lua_tostring(L, -1);
      if (strncasecmp(h, "expect:", 7) == 0) expect = 1;
      if (add_header(&x->headers, h) != 0) kind = "transport";
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  /* libcurl waits for "100 Continue" before large bodies; we send them straight away. */
  if (!expect && !kind && add_header(&x->headers, "Expect:") != 0) kind = "transport";
  if (q.has_auth && !kind) {
    const char *err = NULL;
    zz_auth *a;
    lua_getfield(L, r, "auth");
    a = zz_auth_check(L, -1);
    lua_pop(L, 1);
    if (zz_auth_add_headers(a, zz_now(), &x->headers, &x->auth_gen, &err) != 0) {
      kind = strcmp(err, "out of memory") == 0 ? "transport" : "auth";
      snprintf(x->msg, sizeof x->msg, "%s", err);
    }
    x->has_auth_gen = 1;
  }
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);

  /* Method and body. */
  is_post = strcmp(q.method, "POST") == 0;
  if (q.has_token_for && !kind) {
    if (zz_auth_token_body(x->token_for, &x->body) != 0) kind = "transport";
    q.body = x->body.p ? x->body.p : "";
    q.body_len = x->body.n;
  } else if (q.body && !kind) {
    if (zz_buf_add(&x->body, q.body, q.body_len) != 0) kind = "transport";
    q.body = x->body.p ? x->body.p : "";
  }
  if (kind) {
    /* nothing else to set up */
  } else if (q.body_file) {
    struct stat st;
    x->upload = fopen(q.body_file, "rb");
    if (!x->upload || fstat(fileno(x->upload), &st) != 0 || !S_ISREG(st.st_mode)) {
      snprintf(x->msg, sizeof x->msg, "cannot read body_file %s: %s", q.body_file,
               x->upload ? "not a regular file" : strerror(errno));
      kind = "file";
    } else {
      curl_easy_setopt(e, CURLOPT_POST, 1L);
      curl_easy_setopt(e, CURLOPT_READFUNCTION, read_cb);
      curl_easy_setopt(e, CURLOPT_READDATA, x);
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)st.st_size);
    }
  } else if (q.nparts) {
    lua_getfield(L, r, "multipart");
    kind = build_mime(L, x, q.nparts);
    lua_pop(L, 1);
    if (!kind) curl_easy_setopt(e, CURLOPT_MIMEPOST, x->mime);
  } else if (q.body) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, q.body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q.body_len);
  } else if (strcmp(q.method, "HEAD") == 0) {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else if (is_post) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
  } else {
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  }
  if (!kind && !is_post && strcmp(q.method, "GET") != 0 && strcmp(q.method, "HEAD") != 0)
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, q.method);
  else if (!kind && strcmp(q.method, "GET") == 0 && (q.body || q.body_file || q.nparts))
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, q.method);

  if (!kind) {
    if (curl_multi_add_handle(t->multi, e) != CURLM_OK) {
      kind = "transport";
      snprintf(x->msg, sizeof x->msg, "curl_multi_add_handle failed");
    } else {
      x->added = 1;
      list_push(&t->running, x);
      return x;
    }
  }
  if (!x->msg[0]) snprintf(x->msg, sizeof x->msg, "out of memory");
  fail_early(t, x, kind);
  return x;
}

static int l_submit(lua_State *L) {
  transport *t = check_open(L);
  xfer *x = submit(L, t, 2);
  lua_pushinteger(L, x->id);
  return 1;
}

/* --- results ------------------------------------------------------------------------------ */

static void push_headers(lua_State *L, const zz_buf *h) {
  const char *p = h->p, *end;
  lua_newtable(L);
  if (!p) return;
  end = p + h->n;
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
      lua_pushvalue(L, -1);
      lua_rawget(L, -3);
      if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushlstring(L, v, (size_t)(ve - v));
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

static void set_str(lua_State *L, const char *k, const char *v) {
  lua_pushstring(L, v);
  lua_setfield(L, -2, k);
}

static void set_num(lua_State *L, const char *k, lua_Number v) {
  lua_pushnumber(L, v);
  lua_setfield(L, -2, k);
}

static void set_int(lua_State *L, const char *k, lua_Integer v) {
  lua_pushinteger(L, v);
  lua_setfield(L, -2, k);
}

/* Pushes the result table of a finished transfer. */
static void push_result(lua_State *L, xfer *x) {
  long status = 0, ver = 0, connects = -1;
  double total = 0;
  lua_createtable(L, 0, 16);
  set_int(L, "id", x->id);
  if (x->easy) {
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(x->easy, CURLINFO_HTTP_VERSION, &ver);
    curl_easy_getinfo(x->easy, CURLINFO_NUM_CONNECTS, &connects);
    curl_easy_getinfo(x->easy, CURLINFO_TOTAL_TIME, &total);
  }
  set_int(L, "status", status);
  push_headers(L, &x->hdrs);
  lua_setfield(L, -2, "headers");
  if (!x->to_file && !x->token_for) {
    lua_pushlstring(L, x->resp.p ? x->resp.p : "", x->resp.n);
    lua_setfield(L, -2, "body");
    if (x->decode && !x->kind && x->resp.n > 0) {
      if (zz_json_decode(L, x->resp.p, x->resp.n, JSON_MAX_DEPTH)) {
        lua_setfield(L, -2, "data");
      } else {
        lua_setfield(L, -3, "json_error");
        lua_pop(L, 1);
      }
    }
  }
  if (x->to_file && !x->kind) set_str(L, "output", x->output);
  if (x->kind) {
    set_str(L, "kind", x->kind);
    set_str(L, "error", x->msg[0] ? x->msg : x->kind);
  }
  if (x->code != CURLE_OK) set_int(L, "curl_code", (lua_Integer)x->code);
  set_num(L, "time", total);
  set_int(L, "bytes", (lua_Integer)x->bytes);
  switch (ver) {
    case CURL_HTTP_VERSION_1_0: set_str(L, "http_version", "1.0"); break;
    case CURL_HTTP_VERSION_1_1: set_str(L, "http_version", "1.1"); break;
    case CURL_HTTP_VERSION_2_0: set_str(L, "http_version", "2"); break;
    case CURL_HTTP_VERSION_3: set_str(L, "http_version", "3"); break;
    default: break;
  }
  if (status > 0) {
    lua_pushboolean(L, connects == 0);
    lua_setfield(L, -2, "reused");
  }
  if (x->has_auth_gen) set_int(L, "auth_generation", (lua_Integer)x->auth_gen);
}

static int l_results(lua_State *L) {
  transport *t = check_open(L);
  xfer *x;
  int i = 1;
  if (t->done.n == 0) drive(t, 0); /* pick up whatever finished since the last poll */
  lua_createtable(L, (int)t->done.n, 0);
  while ((x = t->done.head) != NULL) {
    list_remove(&t->done, x);
    push_result(L, x);
    lua_rawseti(L, -2, i++);
    xfer_free(L, t, x);
  }
  return 1;
}

static int l_poll(lua_State *L) {
  transport *t = check_open(L);
  double timeout = luaL_optnumber(L, 2, 0), deadline;
  if (!(timeout >= 0)) return luaL_argerror(L, 2, "timeout must be >= 0");
  deadline = zz_now() + timeout;
  if (t->running.n == 0) drive(t, 0); /* nothing to wait for: just collect */
  while (t->running.n > 0) {
    double left = deadline - zz_now();
    drive(t, left > 0 ? left : 0);
    if (t->done.n > 0 || zz_now() >= deadline) break;
  }
  lua_pushinteger(L, (lua_Integer)t->running.n);
  return 1;
}

static int l_perform(lua_State *L) {
  transport *t = check_open(L);
  xfer *x = submit(L, t, 2), *d;
  for (;;) {
    for (d = t->done.head; d && d != x; d = d->next) {}
    if (d) break;
    drive(t, -1);
  }
  list_remove(&t->done, x);
  push_result(L, x);
  xfer_free(L, t, x);
  return 1;
}

static int l_cancel(lua_State *L) {
  transport *t = check_open(L);
  lua_Integer id = luaL_checkinteger(L, 2);
  xfer *x = list_find(&t->running, id);
  if (x) {
    list_remove(&t->running, x);
    curl_multi_remove_handle(t->multi, x->easy);
    x->added = 0;
    if (x->token_for) zz_auth_fail(x->token_for);
  } else if ((x = list_find(&t->done, id)) != NULL) {
    list_remove(&t->done, x);
  }
  if (x) xfer_free(L, t, x);
  lua_pushboolean(L, x != NULL);
  return 1;
}

static int l_running(lua_State *L) {
  transport *t = check_open(L);
  lua_pushinteger(L, (lua_Integer)t->running.n);
  return 1;
}

static int l_progress(lua_State *L) {
  transport *t = check_open(L);
  lua_Integer id = luaL_checkinteger(L, 2);
  xfer *x = list_find(&t->running, id);
  curl_off_t dl = 0, dlt = -1, ul = 0, ult = -1;
  if (!x) x = list_find(&t->done, id);
  if (!x || !x->easy) {
    lua_pushnil(L);
    return 1;
  }
  curl_easy_getinfo(x->easy, CURLINFO_SIZE_DOWNLOAD_T, &dl);
  curl_easy_getinfo(x->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &dlt);
  curl_easy_getinfo(x->easy, CURLINFO_SIZE_UPLOAD_T, &ul);
  curl_easy_getinfo(x->easy, CURLINFO_CONTENT_LENGTH_UPLOAD_T, &ult);
  lua_pushnumber(L, (lua_Number)dl);
  if (dlt >= 0) lua_pushnumber(L, (lua_Number)dlt);
  else lua_pushnil(L);
  lua_pushnumber(L, (lua_Number)ul);
  if (ult >= 0) lua_pushnumber(L, (lua_Number)ult);
  else lua_pushnil(L);
  return 4;
}

static int l_pollfd(lua_State *L) {
  transport *t = check_open(L);
  lua_pushinteger(L, t->epfd);
  return 1;
}

static int l_events(lua_State *L) {
  check_open(L);
  lua_pushliteral(L, "r");
  return 1;
}

static int l_timeout(lua_State *L) {
  transport *t = check_open(L);
  double left;
  if (t->done.n > 0) {
    lua_pushnumber(L, 0);
    return 1;
  }
  if (!t->timer_set) {
    lua_pushnil(L);
    return 1;
  }
  left = t->timer_at - zz_now();
  lua_pushnumber(L, left > 0 ? left : 0);
  return 1;
}

/* --- module functions --------------------------------------------------------------------- */

static int l_now(lua_State *L) {
  lua_pushnumber(L, zz_now());
  return 1;
}

static int l_info(lua_State *L) {
  const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
  lua_createtable(L, 0, 6);
  set_str(L, "version", v->version);
  set_str(L, "ssl", v->ssl_version ? v->ssl_version : "");
  lua_pushboolean(L, (v->features & CURL_VERSION_HTTP2) != 0);
  lua_setfield(L, -2, "http2");
  lua_pushboolean(L, (v->features & CURL_VERSION_BROTLI) != 0);
  lua_setfield(L, -2, "brotli");
  lua_pushboolean(L, (v->features & CURL_VERSION_ZSTD) != 0);
  lua_setfield(L, -2, "zstd");
  lua_pushboolean(L, (v->features & CURL_VERSION_LIBZ) != 0);
  lua_setfield(L, -2, "gzip");
  return 1;
}

int zz_open_http(lua_State *L) {
  static int curl_ready = 0;
  static const luaL_Reg methods[] = {
    {"submit", l_submit},
    {"poll", l_poll},
    {"results", l_results},
    {"perform", l_perform},
    {"cancel", l_cancel},
    {"running", l_running},
    {"progress", l_progress},
    {"pollfd", l_pollfd},
    {"events", l_events},
    {"timeout", l_timeout},
    {"close", l_close},
    {NULL, NULL},
  };
  static const luaL_Reg fns[] = {
    {"new", l_new},
    {"now", l_now},
    {"info", l_info},
    {NULL, NULL},
  };
  if (!curl_ready) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return luaL_error(L, "curl_global_init failed");
    curl_ready = 1;
  }
  if (luaL_newmetatable(L, ZZ_HTTP_MT)) {
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_close);
    lua_setfield(L, -2, "__gc");
#if LUA_VERSION_NUM >= 504
    lua_pushcfunction(L, l_close);
    lua_setfield(L, -2, "__close");
#endif
    lua_pushcfunction(L, l_tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_pop(L, 1);
  lua_newtable(L);
  luaL_setfuncs(L, fns, 0);
  return 1;
}
