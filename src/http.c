/* core.http, Lua side: the transport object (core.http.new) and its methods, and the result
 * tables. One multi handle per transport object; requests become transfers in http_submit.c and
 * run through libcurl's socket API in http_xfer.c (sockets in an epoll set whose fd foreign event
 * loops can poll). Easy handles are pooled; connections live in the multi handle's cache, so
 * keep-alive and HTTP/2 multiplexing work across requests. */
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
#include "class.h"
#include "core.h"
#include "http.h"
#include "interrupt.h"
#include "json.h"

/* --- Lua side: the transport object ------------------------------------------------------- */

static zz_transport *check_open(lua_State *L) {
  zz_transport *t = (zz_transport *)luaL_checkudata(L, 1, ZZ_HTTP_MT);
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

/* An environment variable as libcurl reads it (unset and empty are alike), copied; "" if none. */
static char *env_dup(const char *a, const char *b, const char *c, const char *d) {
  const char *names[4], *v = NULL;
  int i;
  names[0] = a, names[1] = b, names[2] = c, names[3] = d;
  for (i = 0; i < 4 && !v; i++) {
    if (!names[i]) continue;
    v = getenv(names[i]);
    if (v && !v[0]) v = NULL;
  }
  return strdup(v ? v : "");
}

static int l_new(lua_State *L) {
  zz_transport *t;
  int ins = 0, h2 = 1;
  double max_body = ZZ_HTTP_DEFAULT_MAX_BODY, to = 0, cto = ZZ_HTTP_DEFAULT_CONNECT_TIMEOUT;
  if (!lua_isnoneornil(L, 1)) {
    luaL_checktype(L, 1, LUA_TTABLE);
    ins = zz_optboolfield(L, 1, "insecure", 0);
    h2 = zz_optboolfield(L, 1, "http2", 1);
    max_body = zz_http_check_max_body(L, 1, ZZ_HTTP_DEFAULT_MAX_BODY);
    to = zz_http_check_seconds(L, 1, "timeout", 0);
    cto = zz_http_check_seconds(L, 1, "connect_timeout", ZZ_HTTP_DEFAULT_CONNECT_TIMEOUT);
  }
  t = (zz_transport *)zz_newudata(L, sizeof *t);
  memset(t, 0, sizeof *t);
  t->epfd = -1;
  t->closed = 1; /* until fully built, so __gc frees only what exists */
  zz_setmetatable(L, ZZ_HTTP_MT);
  t->insecure = ins, t->http2 = h2, t->max_body = max_body, t->timeout = to, t->connect_timeout = cto;
  if (!lua_isnoneornil(L, 1)) {
    t->ca_file = dup_opt(L, 1, "ca_file");
    t->ca_path = dup_opt(L, 1, "ca_path");
  }
  /* libcurl's own choice of variables: only lower-case http_proxy for http (HTTP_PROXY can be set
   * by a CGI request's "Proxy:" header), either case for the rest. */
  t->proxy_http = env_dup("http_proxy", "all_proxy", "ALL_PROXY", NULL);
  t->proxy_https = env_dup("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY");
  t->no_proxy = env_dup("no_proxy", "NO_PROXY", NULL, NULL);
  if (!t->proxy_http || !t->proxy_https || !t->no_proxy) return luaL_error(L, "http.new: out of memory");
  t->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (t->epfd < 0) return luaL_error(L, "http.new: epoll_create1: %s", strerror(errno));
  t->multi = curl_multi_init();
  if (!t->multi) return luaL_error(L, "http.new: curl_multi_init failed");
  curl_multi_setopt(t->multi, CURLMOPT_SOCKETFUNCTION, zz_http_socket_cb);
  curl_multi_setopt(t->multi, CURLMOPT_SOCKETDATA, t);
  curl_multi_setopt(t->multi, CURLMOPT_TIMERFUNCTION, zz_http_timer_cb);
  curl_multi_setopt(t->multi, CURLMOPT_TIMERDATA, t);
  curl_multi_setopt(t->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
  curl_multi_setopt(t->multi, CURLMOPT_MAXCONNECTS, 64L);
  t->closed = 0;
  return 1;
}

/* Frees everything; safe to call twice (close, then __gc). */
static void transport_close(lua_State *L, zz_transport *t) {
  zz_xfer *x;
  while ((x = t->running.head) != NULL) {
    zz_list_remove(&t->running, x);
    if (x->added) curl_multi_remove_handle(t->multi, x->easy);
    x->added = 0;
    if (x->token_for) zz_auth_fail(x->token_for);
    zz_http_xfer_free(L, t, x);
  }
  while ((x = t->done.head) != NULL) {
    zz_list_remove(&t->done, x);
    zz_http_xfer_free(L, t, x);
  }
  while (t->npool > 0) curl_easy_cleanup(t->pool[--t->npool]);
  if (t->multi) curl_multi_cleanup(t->multi);
  t->multi = NULL;
  if (t->epfd >= 0) close(t->epfd);
  t->epfd = -1;
  free(t->ca_file);
  free(t->ca_path);
  t->ca_file = t->ca_path = NULL;
  free(t->proxy_http);
  free(t->proxy_https);
  free(t->no_proxy);
  t->proxy_http = t->proxy_https = t->no_proxy = NULL;
  t->closed = 1;
}

static int l_close(lua_State *L) {
  zz_transport *t = (zz_transport *)luaL_checkudata(L, 1, ZZ_HTTP_MT);
  transport_close(L, t);
  return 0;
}

static int l_tostring(lua_State *L) {
  zz_transport *t = (zz_transport *)luaL_checkudata(L, 1, ZZ_HTTP_MT);
  if (t->closed) lua_pushliteral(L, "zuora.http (closed)");
  else lua_pushfstring(L, "zuora.http (%d running, %d done)", (int)t->running.n, (int)t->done.n);
  return 1;
}

static int l_submit(lua_State *L) {
  zz_transport *t = check_open(L);
  zz_xfer *x = zz_http_submit(L, t, 2, 1);
  lua_pushinteger(L, x->id);
  return 1;
}

/* --- results ------------------------------------------------------------------------------ */

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

/* Is a Content-Type value JSON? (No Content-Type: try anyway.) Pops the value. */
static int json_type(lua_State *L) {
  const char *ct = lua_tostring(L, -1);
  int yes = ct == NULL || strstr(ct, "json") != NULL || strstr(ct, "JSON") != NULL;
  lua_pop(L, 1);
  return yes;
}

/* Pushes the result table of a finished transfer. */
static void push_result(lua_State *L, zz_xfer *x) {
  long status = 0, ver = 0, connects = -1;
  int want_json;
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
  want_json = x->decode && !x->kind && x->resp.n > 0 && !x->to_file && !x->token_for;
  if (x->header_block && !x->token_for) {
    lua_pushlstring(L, x->hdrs.p ? x->hdrs.p : "", x->hdrs.n);
    lua_setfield(L, -2, "header_block");
    if (want_json) {
      zz_http_push_header(L, x->hdrs.p, x->hdrs.n, "content-type", 12);
      want_json = json_type(L);
    }
  } else {
    zz_http_push_headers(L, x->hdrs.p, x->hdrs.n);
    if (want_json) {
      lua_getfield(L, -1, "content-type");
      want_json = json_type(L);
    }
    lua_setfield(L, -2, "headers");
  }
  if (!x->to_file && !x->token_for) {
    /* A JSON body is decoded straight from the transfer buffer and not also copied into a Lua
     * string; the raw body is kept when it is not JSON (a PDF, a gateway's HTML page) or when
     * it fails to decode, so the caller can show what came back. */
    int decoded = 0;
    if (want_json) {
      if (zz_json_decode_opts(L, x->resp.p, x->resp.n, ZZ_JSON_MAX_DEPTH, x->decode == 2)) {
        lua_setfield(L, -2, "data");
        decoded = 1;
      } else {
        lua_setfield(L, -3, "json_error");
        lua_pop(L, 1);
      }
    }
    if (!decoded) {
      lua_pushlstring(L, x->resp.p ? x->resp.p : "", x->resp.n);
      lua_setfield(L, -2, "body");
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
  set_int(L, "sends", x->sends);
}

static int l_results(lua_State *L) {
  zz_transport *t = check_open(L);
  zz_xfer *x;
  int i = 1;
  if (t->done.n == 0) zz_http_drive(t, 0); /* pick up whatever finished since the last poll */
  lua_createtable(L, (int)t->done.n, 0);
  while ((x = t->done.head) != NULL) {
    zz_list_remove(&t->done, x);
    push_result(L, x);
    lua_rawseti(L, -2, i++);
    zz_http_xfer_free(L, t, x);
  }
  return 1;
}

static void sleep_for(double seconds) {
  struct timespec ts;
  ts.tv_sec = (time_t)seconds;
  ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !zz_interrupt_pending()) {}
}

static int l_poll(lua_State *L) {
  zz_transport *t = check_open(L);
  double timeout = luaL_optnumber(L, 2, 0), deadline;
  if (!(timeout >= 0)) return luaL_argerror(L, 2, "timeout must be >= 0");
  deadline = zz_now() + timeout;
  if (t->running.n == 0) {
    /* Nothing in flight: collect, then sleep out the timeout so a scheduler whose tasks are all
     * sleeping (retry backoff) can wait here like anywhere else. */
    zz_http_drive(t, 0);
    if (t->done.n == 0 && timeout > 0) sleep_for(timeout);
  }
  while (t->running.n > 0) {
    double left = deadline - zz_now();
    zz_http_drive(t, left > 0 ? left : 0);
    if (t->done.n > 0 || zz_now() >= deadline) break;
    if (zz_interrupt_pending()) break; /* Ctrl-C: back to Lua, where it is raised */
  }
  lua_pushinteger(L, (lua_Integer)t->running.n);
  return 1;
}

static void cancel_xfer(lua_State *L, zz_transport *t, zz_xfer *x);

static int l_perform(lua_State *L) {
  zz_transport *t = check_open(L);
  zz_xfer *x = zz_http_submit(L, t, 2, 0), *d;
  for (;;) {
    for (d = t->done.head; d && d != x; d = d->next) {}
    if (d) break;
    if (zz_interrupt_take()) { /* Ctrl-C (core.interrupt): drop the transfer, stop now */
      cancel_xfer(L, t, x);
      return luaL_error(L, "interrupted!");
    }
    zz_http_drive(t, -1);
  }
  zz_list_remove(&t->done, x);
  push_result(L, x);
  zz_http_xfer_free(L, t, x);
  return 1;
}

/* Drops transfer x, running or finished: no result will be reported for it. */
static void cancel_xfer(lua_State *L, zz_transport *t, zz_xfer *x) {
  if (zz_list_find(&t->running, x->id) == x) {
    zz_list_remove(&t->running, x);
    curl_multi_remove_handle(t->multi, x->easy);
    x->added = 0;
    x->plain = 0; /* stopped midway: the handle is reset before it is pooled */
    if (x->token_for) zz_auth_fail(x->token_for);
  } else {
    zz_list_remove(&t->done, x);
  }
  zz_http_xfer_free(L, t, x);
}

static int l_cancel(lua_State *L) {
  zz_transport *t = check_open(L);
  lua_Integer id = luaL_checkinteger(L, 2);
  zz_xfer *x = zz_list_find(&t->running, id);
  if (!x) x = zz_list_find(&t->done, id);
  if (x) cancel_xfer(L, t, x);
  lua_pushboolean(L, x != NULL);
  return 1;
}

static int l_running(lua_State *L) {
  zz_transport *t = check_open(L);
  lua_pushinteger(L, (lua_Integer)t->running.n);
  return 1;
}

static int l_progress(lua_State *L) {
  zz_transport *t = check_open(L);
  lua_Integer id = luaL_checkinteger(L, 2);
  zz_xfer *x = zz_list_find(&t->running, id);
  curl_off_t dl = 0, dlt = -1, ul = 0, ult = -1;
  if (!x) x = zz_list_find(&t->done, id);
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
  zz_transport *t = check_open(L);
  lua_pushinteger(L, t->epfd);
  return 1;
}

static int l_events(lua_State *L) {
  check_open(L);
  lua_pushliteral(L, "r");
  return 1;
}

static int l_timeout(lua_State *L) {
  zz_transport *t = check_open(L);
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

/* http.parse_headers(block): the header table of raw header lines (a result's header_block). */
static int l_parse_headers(lua_State *L) {
  size_t n;
  const char *p = luaL_checklstring(L, 1, &n);
  zz_http_push_headers(L, p, n);
  return 1;
}

/* http.header(block, name): one header's value from raw header lines, as the table would hold
 * it (name in any case; nil when absent). Cheaper than the table when only a few are read. */
/* header(block, name [, name...]): one value (or nil) a name; several names are answered in one
 * pass over the lines (at most ZZ_HEADER_NAMES_MAX). */
static int l_header(lua_State *L) {
  size_t n, k;
  const char *p = luaL_checklstring(L, 1, &n);
  const char *name = luaL_checklstring(L, 2, &k);
  int count = lua_gettop(L) - 1, i;
  const char *names[ZZ_HEADER_NAMES_MAX];
  size_t ns[ZZ_HEADER_NAMES_MAX];
  if (count == 1) {
    zz_http_push_header(L, p, n, name, k);
    return 1;
  }
  if (count > ZZ_HEADER_NAMES_MAX) return luaL_error(L, "header: at most %d names", ZZ_HEADER_NAMES_MAX);
  names[0] = name;
  ns[0] = k;
  for (i = 1; i < count; i++) names[i] = luaL_checklstring(L, i + 2, &ns[i]);
  zz_http_push_header_names(L, p, n, names, ns, count);
  return count;
}

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
    {"parse_headers", l_parse_headers},
    {"header", l_header},
    {NULL, NULL},
  };
  if (!curl_ready) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return luaL_error(L, "curl_global_init failed");
    curl_ready = 1;
  }
  zz_newclass(L, ZZ_HTTP_MT, methods, NULL, l_close, l_tostring);
  lua_newtable(L);
  luaL_setfuncs(L, fns, 0);
  return 1;
}
