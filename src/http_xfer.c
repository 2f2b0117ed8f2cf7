/* core.http, transfer side: the libcurl callbacks (which only move bytes into C buffers and
 * never touch Lua), the lifetime of a transfer from libcurl's "done" to the done list, and the
 * event loop: libcurl's sockets live in an epoll set and its timer in the transport. */
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

double zz_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --- libcurl callbacks (no Lua in here) --------------------------------------------------- */

static int open_output(zz_xfer *x) {
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

size_t zz_http_write_cb(char *ptr, size_t size, size_t nmemb, void *ud) {
  zz_xfer *x = (zz_xfer *)ud;
  size_t n = size * nmemb;
  if (!x->decided) {
    long status = 0;
    x->decided = 1;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    if (x->output && status >= 200 && status <= 299) {
      if (open_output(x) != 0) {
        x->abort_reason = ZZ_HTTP_ABORT_FILE;
        return 0;
      }
      x->to_file = 1;
    }
  }
  if ((curl_off_t)n > x->max_body - x->bytes) {
    x->abort_reason = ZZ_HTTP_ABORT_TOO_LARGE;
    return 0;
  }
  x->bytes += (curl_off_t)n;
  if (x->to_file) {
    if (fwrite(ptr, 1, n, x->out) != n) {
      snprintf(x->msg, sizeof x->msg, "cannot write %s: %s", x->output, strerror(errno));
      x->abort_reason = ZZ_HTTP_ABORT_FILE;
      return 0;
    }
  } else if (zz_buf_add(&x->resp, ptr, n) != 0) {
    x->abort_reason = ZZ_HTTP_ABORT_NOMEM;
    return 0;
  }
  return n;
}

size_t zz_http_header_cb(char *ptr, size_t size, size_t nitems, void *ud) {
  zz_xfer *x = (zz_xfer *)ud;
  size_t n = size * nitems;
  if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0) { /* a new response (after 1xx): start over */
    x->hdrs.n = 0;
    x->header_lines = 0;
  }
  if (++x->header_lines > ZZ_HTTP_MAX_HEADER_LINES || n > ZZ_HTTP_MAX_HEADER_BYTES - x->hdrs.n) {
    x->abort_reason = ZZ_HTTP_ABORT_HEADERS;
    return 0;
  }
  if (zz_buf_add(&x->hdrs, ptr, n) != 0) {
    x->abort_reason = ZZ_HTTP_ABORT_NOMEM;
    return 0;
  }
  return n;
}

size_t zz_http_read_cb(char *ptr, size_t size, size_t nitems, void *ud) {
  zz_xfer *x = (zz_xfer *)ud;
  size_t n = fread(ptr, 1, size * nitems, x->upload);
  if (n == 0 && ferror(x->upload)) return CURL_READFUNC_ABORT;
  return n;
}

/* Called each time libcurl is about to send the request: once normally, twice when a reused
 * connection turned out to be dead before any byte of the answer and libcurl sent it again on a
 * new one. The count lets the client tell how many times the server may have seen a request. */
int zz_http_prereq_cb(void *ud, char *conn_primary_ip, char *conn_local_ip, int conn_primary_port, int conn_local_port) {
  zz_xfer *x = (zz_xfer *)ud;
  (void)conn_primary_ip, (void)conn_local_ip, (void)conn_primary_port, (void)conn_local_port;
  x->sends++;
  return CURL_PREREQFUNC_OK;
}

/* libcurl's socketp remembers whether a socket is already in the epoll set (we assign the
 * transport to it on ADD; libcurl forgets it when the socket is removed), so each change is one
 * epoll_ctl call. */
int zz_http_socket_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp) {
  zz_transport *t = (zz_transport *)userp;
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

int zz_http_timer_cb(CURLM *m, long timeout_ms, void *userp) {
  zz_transport *t = (zz_transport *)userp;
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

CURL *zz_http_easy_get(zz_transport *t, int *ready) {
  if (t->npool > 0) {
    t->npool--;
    *ready = t->pool_ready[t->npool];
    return t->pool[t->npool];
  }
  *ready = 0;
  return curl_easy_init();
}

/* Pools a handle. After a plain transfer that succeeded, the handle keeps the transport's own
 * options (so the next transfer sets only its per-request ones, as a reused easy handle in a
 * plain libcurl loop would). Of the pointers into the transfer being freed, those libcurl could
 * follow outside a transfer (header list, error buffer, private) are cleared; the callbacks' data
 * pointers are only used during a transfer and are set again before the next one. Anything else
 * (a body, another method, a fresh connection, a failure, a cancel) resets the handle. */
static void easy_put(zz_transport *t, CURL *e, int keep) {
  if (t->npool >= ZZ_HTTP_POOL_MAX) {
    curl_easy_cleanup(e);
    return;
  }
  if (keep) {
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, (char *)NULL);
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)NULL);
  } else {
    curl_easy_reset(e);
  }
  t->pool_ready[t->npool] = (unsigned char)(keep != 0);
  t->pool[t->npool++] = e;
}

static void unref(lua_State *L, int *ref) {
  if (*ref != LUA_NOREF && *ref != LUA_REFNIL) luaL_unref(L, LUA_REGISTRYINDEX, *ref);
  *ref = LUA_NOREF;
}

/* Releases everything a transfer owns. It must already be out of the multi handle and lists. */
void zz_http_xfer_free(lua_State *L, zz_transport *t, zz_xfer *x) {
  /* first: the handle may still point at mime/headers */
  if (x->easy) easy_put(t, x->easy, x->plain && !x->kind && x->code == CURLE_OK && !x->abort_reason);
  if (x->mime) curl_mime_free(x->mime);
  zz_slist_wipe(x->headers);
  zz_buf_wipe(&x->body);
  if (x->token_for) {
    zz_buf_wipe(&x->resp);
    zz_buf_wipe(&x->hdrs); /* a revenue token came in a header */
  } else {
    zz_buf_free(&x->resp);
    zz_buf_free(&x->hdrs);
  }
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
static void classify(zz_xfer *x) {
  switch (x->abort_reason) {
    case ZZ_HTTP_ABORT_TOO_LARGE:
      x->kind = "too_large";
      snprintf(x->msg, sizeof x->msg, "response body exceeds max_body (%.0f bytes)", (double)x->max_body);
      return;
    case ZZ_HTTP_ABORT_HEADERS:
      x->kind = "too_large";
      snprintf(x->msg, sizeof x->msg, "response headers exceed %d lines or %d bytes", ZZ_HTTP_MAX_HEADER_LINES,
               ZZ_HTTP_MAX_HEADER_BYTES);
      return;
    case ZZ_HTTP_ABORT_FILE:
      x->kind = "file";
      if (!x->msg[0]) snprintf(x->msg, sizeof x->msg, "cannot write %s", x->output);
      return;
    case ZZ_HTTP_ABORT_NOMEM:
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
static void finish(zz_transport *t, zz_xfer *x, CURLcode code) {
  if (x->added) {
    curl_multi_remove_handle(t->multi, x->easy);
    x->added = 0;
  }
  zz_list_remove(&t->running, x);
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
      if (zz_auth_accept_response(x->token_for, status, &x->hdrs, x->resp.p, x->resp.n, zz_now(), x->msg,
                                  sizeof x->msg) != 0)
        x->kind = "auth";
    }
    zz_buf_wipe(&x->resp); /* the reply held the token */
  }
  zz_list_push(&t->done, x);
}

/* Queues a transfer that failed before reaching libcurl. */
void zz_http_fail_early(zz_transport *t, zz_xfer *x, const char *kind) {
  x->kind = kind;
  if (x->token_for) zz_auth_fail(x->token_for);
  zz_list_push(&t->done, x);
}

static void collect(zz_transport *t) {
  CURLMsg *m;
  int left;
  while ((m = curl_multi_info_read(t->multi, &left)) != NULL) {
    if (m->msg == CURLMSG_DONE) {
      zz_xfer *x = NULL;
      curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
      if (x) finish(t, x, m->data.result);
    }
  }
}

/* Runs libcurl's timer if it is due. */
static void run_timer(zz_transport *t) {
  int running;
  if (t->timer_set && zz_now() >= t->timer_at) {
    t->timer_set = 0; /* libcurl may set it again from inside the call */
    curl_multi_socket_action(t->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  }
}

/* One round: runs a due timer, waits up to wait_s seconds (negative: until libcurl's timer) for
 * socket activity, lets libcurl act on it and on its timer, then collects finished transfers. */
void zz_http_drive(zz_transport *t, double wait_s) {
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
