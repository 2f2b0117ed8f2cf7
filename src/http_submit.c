/* core.http, request side: turns a request table into a configured libcurl transfer. Every
 * mistake in the table raises before anything is allocated or sent (validate); building the
 * transfer afterwards never raises, so nothing leaks. */
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

double zz_http_check_seconds(lua_State *L, int idx, const char *k, double def) {
  double v = zz_optnumfield(L, idx, k, def);
  if (!(v >= 0 && v <= 1e7)) luaL_error(L, "option '%s' must be a number of seconds >= 0", k);
  return v;
}

double zz_http_check_max_body(lua_State *L, int idx, double def) {
  double v = zz_optnumfield(L, idx, "max_body", def);
  if (!(v >= 0 && v <= 9.0e15)) luaL_error(L, "option 'max_body' must be a byte count >= 0");
  return floor(v);
}

/* --- submit: validate everything first (errors raise), then build (nothing raises) -------- */

typedef struct {
  const char *method, *url, *body, *body_file, *output;
  size_t body_len;
  double timeout, connect_timeout, max_body;
  int decode, header_block, fresh, has_auth, has_token_for, nheaders, nparts;
  zz_auth *auth;       /* the request's auth object (kept alive by the request table meanwhile) */
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

static void validate(lua_State *L, int r, reqspec *q, zz_transport *t) {
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
  q->timeout = zz_http_check_seconds(L, r, "timeout", t->timeout);
  q->connect_timeout = zz_http_check_seconds(L, r, "connect_timeout", t->connect_timeout);
  q->max_body = zz_http_check_max_body(L, r, t->max_body);
  q->decode = zz_optboolfield(L, r, "decode", 0);
  if (q->decode && zz_optboolfield(L, r, "decimals", 0)) q->decode = 2;   /* JSON with decimals */
  q->header_block = zz_optboolfield(L, r, "header_block", 0);
  q->fresh = zz_optboolfield(L, r, "fresh_connect", 0);
  if (zz_getfield(L, r, "auth") != LUA_TNIL) {
    q->auth = zz_auth_check(L, -1);
    q->has_auth = 1;
  }
  lua_pop(L, 1);
  if (zz_getfield(L, r, "token_for") != LUA_TNIL) {
    zz_auth *a = zz_auth_check(L, -1);
    if (!zz_auth_has_token_body(a)) luaL_error(L, "token_for needs an auth object with a token exchange (oauth, revenue)");
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
static const char *build_mime(lua_State *L, zz_xfer *x, int cnt) {
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
zz_xfer *zz_http_submit(lua_State *L, zz_transport *t, int r, int hold) {
  reqspec q;
  zz_xfer *x;
  CURL *e;
  const char *kind = NULL;
  int expect = 0, is_post, is_get, k, ready;
  validate(L, r, &q, t);
  is_get = strcmp(q.method, "GET") == 0;
  is_post = strcmp(q.method, "POST") == 0;
  x = (zz_xfer *)calloc(1, sizeof *x);
  if (!x) luaL_error(L, "out of memory");
  x->t = t;
  x->id = ++t->next_id;
  x->auth_ref = x->token_ref = LUA_NOREF;
  x->max_body = (curl_off_t)q.max_body;
  x->decode = q.decode;
  x->header_block = q.header_block;
  /* a token request's form carries the client secret, its reply (or a header: Revenue) the token */
  if (q.has_token_for) x->body.wipe = x->resp.wipe = x->hdrs.wipe = 1;
  e = x->easy = zz_http_easy_get(t, &ready);
  if (!e) {
    free(x);
    luaL_error(L, "out of memory");
  }
  /* References keep the auth objects alive while the transfer is in flight (a blocking perform
   * needs none: the request table holds them until it returns, and the transfer ends before). */
  if (q.has_auth && hold) {
    lua_getfield(L, r, "auth");
    x->auth_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  if (q.has_token_for) {
    lua_getfield(L, r, "token_for");
    x->token_for = zz_auth_check(L, -1);
    x->token_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  if (q.output && !(x->output = strdup(q.output))) kind = "transport";

  /* The transport's own options, the same for every request: a handle pooled after a plain
   * transfer still has them (http_xfer.c, easy_put). */
  if (!ready) {
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, zz_http_write_cb);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, zz_http_header_cb);
    curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, zz_http_prereq_cb);
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
    curl_easy_setopt(e, CURLOPT_NOPROXY, t->no_proxy);
  }
  /* Per request. */
  curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)x);
  curl_easy_setopt(e, CURLOPT_URL, q.url);
  /* Set, even when "" (none), so libcurl does not look in the environment again. */
  curl_easy_setopt(e, CURLOPT_PROXY, strncasecmp(q.url, "https:", 6) == 0 ? t->proxy_https : t->proxy_http);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
  curl_easy_setopt(e, CURLOPT_PREREQDATA, x);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)ceil(q.timeout * 1000.0));
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)ceil(q.connect_timeout * 1000.0));
  curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)q.max_body);
  /* A request that must not reach the server twice gets a connection of its own: libcurl resends
   * a request by itself only when a reused connection died before any byte of the answer. */
  if (q.fresh) curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);

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
  /* libcurl waits for "100 Continue" before large bodies; we send them straight away. (Only
   * requests with a body can get one, so the others skip the line.) */
  if (!expect && !kind && (q.body || q.body_file || q.nparts || q.has_token_for || !is_get)
      && add_header(&x->headers, "Expect:") != 0)
    kind = "transport";
  if (q.has_auth && !kind) {
    const char *err = NULL;
    zz_auth *a = q.auth;
    if (zz_auth_add_headers(a, zz_now(), &x->headers, &x->auth_gen, &err) != 0) {
      kind = strcmp(err, "out of memory") == 0 ? "transport" : "auth";
      snprintf(x->msg, sizeof x->msg, "%s", err);
    }
    x->has_auth_gen = 1;
  }
  /* A token request's own credentials (revenue: HTTP basic), added here so they stay in C. */
  if (q.has_token_for && !kind && zz_auth_token_headers(x->token_for, &x->headers) != 0) kind = "transport";
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);

  /* Method and body. */
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
      curl_easy_setopt(e, CURLOPT_READFUNCTION, zz_http_read_cb);
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
    /* A GET leaves no option behind that the next request would not set again. */
    x->plain = is_get && !q.fresh;
  }
  if (!kind && !is_post && !is_get && strcmp(q.method, "HEAD") != 0)
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, q.method);
  else if (!kind && is_get && (q.body || q.body_file || q.nparts))
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, q.method);

  if (!kind) {
    if (curl_multi_add_handle(t->multi, e) != CURLM_OK) {
      kind = "transport";
      snprintf(x->msg, sizeof x->msg, "curl_multi_add_handle failed");
    } else {
      x->added = 1;
      zz_list_push(&t->running, x);
      return x;
    }
  }
  if (!x->msg[0]) snprintf(x->msg, sizeof x->msg, "out of memory");
  zz_http_fail_early(t, x, kind);
  return x;
}
