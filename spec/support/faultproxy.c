/* faultproxy: a TCP proxy for the reliability specs. It sits between the client under test and
 * zuora-sim, forwards HTTP/1.1 requests one at a time per connection, and breaks them on purpose
 * where a rule says so: resets before or after the request reaches the server, a reset in the
 * middle of the body, a stalled or trickling response, a chunked body cut short, a TLS handshake
 * refused with an alert, or no listener at all (connection refused).
 *
 *   faultproxy --upstream 127.0.0.1:PORT [--port N] [--exit-with PID]
 *
 * prints `port N`, `control N`, `pid N` and `ready` on stdout, then serves until killed (or until
 * process PID is gone). The control port answers plain HTTP GETs:
 *   /rule?fault=KIND&method=M&path=GLOB&skip=N&count=N&interval=S  add a rule -> {"id": n}
 *     KIND: reset_before | reset_after | reset_body | stall | trickle | truncate_chunked | tls_alert
 *     path is a glob over the request target (path and query; `*` matches anything); count
 *     absent = forever; interval = seconds between trickled bytes (default 1).
 *   /clear     remove every rule and zero the counters
 *   /refuse    stop listening (the port stays bound, so connecting is refused) and close idle
 *              client connections, so the client must open a new one
 *   /listen    listen again
 *   /drop      close every client connection
 *   /stats     {"connections", "requests", "forwarded", "faults", "open", "listening"}
 *   /blackhole {"port": N}: a second loopback port whose accept queue is full (listen backlog 0,
 *              filled by the proxy's own connections, never accepted), so the kernel drops every
 *              new SYN there and a client's connect hangs until its connect timeout
 * Rules are tried in order; a request (or, for tls_alert, a connection) takes the first live rule
 * that matches it. Single-threaded, poll(2)-driven, Linux. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

enum { F_NONE, F_RESET_BEFORE, F_RESET_AFTER, F_RESET_BODY, F_STALL, F_TRICKLE, F_TRUNCATE_CHUNKED, F_TLS_ALERT };
static const char *const fault_names[] = {"none", "reset_before", "reset_after", "reset_body", "stall", "trickle",
                                          "truncate_chunked", "tls_alert", NULL};

/* What happens to a client connection once its pending output is written. */
enum { AFTER_KEEP, AFTER_RST, AFTER_FIN, AFTER_STALL };
/* Connection states. */
enum { S_REQ, S_UPSTREAM, S_SEND, S_STALL, S_ALERT };

#define MAX_RULES 64
#define MAX_CONNS 512

typedef struct {
  char *p;
  size_t n, cap;
} buf;

typedef struct {
  int id, kind;
  char method[16];
  char path[512];
  long skip, count, seen, hits; /* count < 0: forever */
  double interval;
} rule;

typedef struct {
  unsigned long serial; /* unique per connection, so a stale poll entry is never mistaken for it */
  int cfd, ufd;
  int state;
  int up_connecting;
  buf in;             /* bytes from the client not yet forwarded */
  buf up_out;         /* the request being written upstream */
  size_t up_off;
  buf resp;           /* the upstream response being collected */
  int head_request;   /* the request was HEAD: the response has no body */
  buf out;            /* bytes for the client */
  size_t out_off;
  int after, close_after_send;
  double interval, next_at; /* trickle */
  int fault;
} conn;

static rule rules[MAX_RULES];
static int nrules, rule_seq;
static conn *conns[MAX_CONNS];
static int listen_fd = -1, control_fd = -1, listening = 1, port;
static struct sockaddr_in upstream;
static long st_connections, st_requests, st_forwarded, st_faults;
static unsigned long serial_seq;

/* The live connection with this serial, or NULL when it has been closed. */
static conn *find_conn(unsigned long serial) {
  int i;
  for (i = 0; i < MAX_CONNS; i++)
    if (conns[i] && conns[i]->serial == serial) return conns[i];
  return NULL;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "faultproxy: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(1);
}

static void buf_add(buf *b, const void *p, size_t n) {
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + n + 1) cap *= 2;
    b->p = (char *)realloc(b->p, cap);
    if (!b->p) die("out of memory");
    b->cap = cap;
  }
  if (n) memcpy(b->p + b->n, p, n);
  b->n += n;
  b->p[b->n] = '\0';
}

static void buf_adds(buf *b, const char *s) { buf_add(b, s, strlen(s)); }

static void buf_drop(buf *b, size_t n) { /* removes the first n bytes */
  if (n >= b->n) {
    b->n = 0;
  } else {
    memmove(b->p, b->p + n, b->n - n);
    b->n -= n;
  }
  if (b->p) b->p[b->n] = '\0';
}

static void buf_free(buf *b) {
  free(b->p);
  b->p = NULL;
  b->n = b->cap = 0;
}

static void nonblock(int fd) {
  int fl = fcntl(fd, F_GETFL, 0);
  fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* --- HTTP framing ------------------------------------------------------------------------- */

/* Offset just past the blank line ending a header block starting at p, or 0 when incomplete. */
static size_t head_end(const char *p, size_t n) {
  size_t i;
  for (i = 0; i + 3 < n; i++)
    if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' && p[i + 3] == '\n') return i + 4;
  return 0;
}

/* The value of header `name` in the head [p, p+n) copied into out (trimmed), or 0 when absent. */
static int header_value(const char *p, size_t n, const char *name, char *out, size_t cap) {
  size_t nl = strlen(name), i = 0;
  while (i < n) {
    const char *line = p + i, *eol = memchr(line, '\n', n - i);
    size_t len = eol ? (size_t)(eol - line) : n - i;
    if (len > nl && strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
      const char *v = line + nl + 1, *ve = line + len;
      size_t k;
      while (v < ve && (*v == ' ' || *v == '\t')) v++;
      while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) ve--;
      k = (size_t)(ve - v) < cap - 1 ? (size_t)(ve - v) : cap - 1;
      memcpy(out, v, k);
      out[k] = '\0';
      return 1;
    }
    i += len + 1;
  }
  return 0;
}

/* Decodes a chunked body starting at p (n bytes available) into out (when not NULL). Returns
 * the bytes consumed when the body (with its terminating chunk and trailers) is complete, 0 when
 * more is needed, -1 when it is malformed. */
static long dechunk(const char *p, size_t n, buf *out) {
  size_t i = 0;
  for (;;) {
    const char *eol = memchr(p + i, '\n', n - i);
    char *end;
    unsigned long size;
    if (!eol) return 0;
    size = strtoul(p + i, &end, 16);
    if (end == p + i) return -1;
    i = (size_t)(eol - p) + 1;
    if (size == 0) { /* trailers until a blank line */
      for (;;) {
        const char *e2 = memchr(p + i, '\n', n - i);
        size_t len;
        if (!e2) return 0;
        len = (size_t)(e2 - (p + i));
        i += len + 1;
        if (len == 0 || (len == 1 && p[i - 2] == '\r')) return (long)i;
      }
    }
    if (n - i < size + 2) return 0;
    if (out) buf_add(out, p + i, size);
    i += size + 2;
  }
}

typedef struct {
  size_t head;     /* bytes of the final head (after any 1xx heads) */
  size_t start;    /* offset of the final head */
  size_t total;    /* bytes of the whole response */
  int status, chunked, close;
  long body_at;    /* offset of the body */
} resp_info;

/* Is the response in b complete? Fills ri. `eof`: upstream closed. Returns 1 complete, 0 not yet,
 * -1 broken. */
static int response_complete(const buf *b, int head_request, int eof, resp_info *ri) {
  size_t at = 0;
  char v[64];
  memset(ri, 0, sizeof *ri);
  for (;;) {
    size_t h = head_end(b->p + at, b->n - at);
    if (!h) return eof ? -1 : 0;
    ri->status = atoi(b->p + at + 9);
    if (ri->status >= 100 && ri->status < 200 && ri->status != 101) {
      at += h;
      continue;
    }
    ri->start = at;
    ri->head = h;
    break;
  }
  ri->body_at = (long)(ri->start + ri->head);
  ri->chunked = header_value(b->p + ri->start, ri->head, "Transfer-Encoding", v, sizeof v) && strcasestr(v, "chunked");
  ri->close = header_value(b->p + ri->start, ri->head, "Connection", v, sizeof v) && strcasecmp(v, "close") == 0;
  if (head_request || ri->status == 204 || ri->status == 304) {
    ri->total = ri->start + ri->head;
    return 1;
  }
  if (ri->chunked) {
    long used = dechunk(b->p + ri->body_at, b->n - (size_t)ri->body_at, NULL);
    if (used < 0) return -1;
    if (used == 0) return eof ? -1 : 0;
    ri->total = (size_t)ri->body_at + (size_t)used;
    return 1;
  }
  if (header_value(b->p + ri->start, ri->head, "Content-Length", v, sizeof v)) {
    size_t cl = (size_t)strtoull(v, NULL, 10);
    if (b->n - (size_t)ri->body_at < cl) return eof ? -1 : 0;
    ri->total = (size_t)ri->body_at + cl;
    return 1;
  }
  if (!eof) return 0; /* delimited by the close */
  ri->total = b->n;
  ri->close = 1;
  return 1;
}

/* --- rules -------------------------------------------------------------------------------- */

static int glob_match(const char *pat, const char *s) {
  if (!*pat) return !*s;
  if (*pat == '*') {
    for (;;) {
      if (glob_match(pat + 1, s)) return 1;
      if (!*s) return 0;
      s++;
    }
  }
  return *s && *pat == *s && glob_match(pat + 1, s + 1);
}

/* The first live rule matching (kinds: connection-level tls_alert when method is NULL). */
static rule *match(const char *method, const char *target) {
  int i;
  for (i = 0; i < nrules; i++) {
    rule *r = &rules[i];
    if (r->count == 0) continue;
    if (!method) {
      if (r->kind != F_TLS_ALERT) continue;
    } else {
      if (r->kind == F_TLS_ALERT) continue;
      if (strcmp(r->method, "*") != 0 && strcmp(r->method, method) != 0) continue;
      if (!glob_match(r->path, target)) continue;
    }
    if (++r->seen <= r->skip) continue;
    r->hits++;
    if (r->count > 0) r->count--;
    st_faults++;
    return r;
  }
  return NULL;
}

/* --- connections -------------------------------------------------------------------------- */

static void conn_close(conn *c, int rst) {
  int i;
  if (c->cfd >= 0) {
    if (rst) {
      struct linger lg = {1, 0};
      setsockopt(c->cfd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    close(c->cfd);
  }
  if (c->ufd >= 0) close(c->ufd);
  buf_free(&c->in);
  buf_free(&c->up_out);
  buf_free(&c->resp);
  buf_free(&c->out);
  for (i = 0; i < MAX_CONNS; i++)
    if (conns[i] == c) conns[i] = NULL;
  free(c);
}

static int upstream_connect(conn *c) {
  int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  if (fd < 0) return -1;
  nonblock(fd);
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, (struct sockaddr *)&upstream, sizeof upstream) != 0 && errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  c->ufd = fd;
  c->up_connecting = 1;
  return 0;
}

/* Takes a complete request from c->in, if there is one, and starts forwarding it (or applies a
 * fault that acts before the server sees it). Returns 0, or -1 when the connection was closed. */
static int take_request(conn *c) {
  size_t h = head_end(c->in.p ? c->in.p : "", c->in.n), len;
  char method[16], target[1024], v[64];
  rule *r;
  if (!h) return 0;
  len = h;
  if (header_value(c->in.p, h, "Content-Length", v, sizeof v)) len += (size_t)strtoull(v, NULL, 10);
  if (header_value(c->in.p, h, "Transfer-Encoding", v, sizeof v)) { /* our clients never do this */
    conn_close(c, 1);
    return -1;
  }
  if (c->in.n < len) return 0;
  if (sscanf(c->in.p, "%15s %1023s", method, target) != 2) {
    conn_close(c, 1);
    return -1;
  }
  st_requests++;
  r = match(method, target);
  c->fault = r ? r->kind : F_NONE;
  c->interval = r ? r->interval : 1.0;
  if (c->fault == F_RESET_BEFORE) {
    conn_close(c, 1);
    return -1;
  }
  c->head_request = strcmp(method, "HEAD") == 0;
  c->up_out.n = 0;
  c->up_off = 0;
  buf_add(&c->up_out, c->in.p, len);
  buf_drop(&c->in, len);
  c->resp.n = 0;
  if (c->ufd < 0 && upstream_connect(c) != 0) {
    conn_close(c, 1);
    return -1;
  }
  st_forwarded++;
  c->state = S_UPSTREAM;
  return 0;
}

/* The whole upstream response is in c->resp: decide what the client gets. */
static void respond(conn *c, const resp_info *ri) {
  const char *r = c->resp.p;
  c->out.n = 0;
  c->out_off = 0;
  c->after = AFTER_KEEP;
  c->close_after_send = ri->close;
  switch (c->fault) {
    case F_RESET_AFTER:
      c->after = AFTER_RST;
      break;
    case F_RESET_BODY: {
      size_t body = ri->total - (size_t)ri->body_at;
      buf_add(&c->out, r, (size_t)ri->body_at + (body > 1 ? body / 2 : body));
      c->after = AFTER_RST;
      break;
    }
    case F_STALL:
      buf_add(&c->out, r, (size_t)ri->body_at);
      c->after = AFTER_STALL;
      break;
    case F_TRUNCATE_CHUNKED: {
      /* the same head, re-framed as chunked; half the body in one chunk and no last chunk */
      buf body = {NULL, 0, 0};
      const char *h = r + ri->start, *he = r + ri->body_at;
      char line[64];
      if (ri->chunked) dechunk(r + ri->body_at, ri->total - (size_t)ri->body_at, &body);
      else buf_add(&body, r + ri->body_at, ri->total - (size_t)ri->body_at);
      while (h < he) {
        const char *eol = memchr(h, '\n', (size_t)(he - h));
        size_t len = (size_t)(eol - h) + 1;
        if (len > 2 && strncasecmp(h, "Content-Length:", 15) != 0 && strncasecmp(h, "Transfer-Encoding:", 18) != 0 &&
            strncasecmp(h, "Connection:", 11) != 0)
          buf_add(&c->out, h, len);
        h += len;
      }
      buf_adds(&c->out, "Transfer-Encoding: chunked\r\n\r\n");
      if (body.n > 1) {
        snprintf(line, sizeof line, "%zx\r\n", body.n / 2);
        buf_adds(&c->out, line);
        buf_add(&c->out, body.p, body.n / 2);
        buf_adds(&c->out, "\r\n");
      }
      buf_free(&body);
      c->after = AFTER_FIN;
      break;
    }
    default: /* none, trickle */
      buf_add(&c->out, r, ri->total);
      break;
  }
  buf_drop(&c->resp, ri->total);
  if (ri->close && c->ufd >= 0) {
    close(c->ufd);
    c->ufd = -1;
  }
  c->next_at = now_s();
  c->state = S_SEND;
}

/* Finishes sending: applies the after-action. Returns -1 when the connection is gone. */
static int sent_all(conn *c) {
  switch (c->after) {
    case AFTER_RST: conn_close(c, 1); return -1;
    case AFTER_FIN: conn_close(c, 0); return -1;
    case AFTER_STALL: c->state = S_STALL; return 0;
    default: break;
  }
  if (c->close_after_send) {
    conn_close(c, 0);
    return -1;
  }
  c->state = S_REQ;
  c->fault = F_NONE;
  return take_request(c);
}

static void on_client(conn *c, short rev) {
  char tmp[65536];
  if (c->state == S_ALERT) {
    /* a TLS alert: handshake_failure (40), after the ClientHello arrived */
    static const unsigned char alert[] = {0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x28};
    ssize_t k = read(c->cfd, tmp, sizeof tmp);
    if (k > 0 && write(c->cfd, alert, sizeof alert) < 0) { /* nothing to do */
    }
    conn_close(c, 0);
    return;
  }
  if (rev & (POLLIN | POLLHUP | POLLERR)) {
    ssize_t k = read(c->cfd, tmp, sizeof tmp);
    if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR)) {
      conn_close(c, 0);
      return;
    }
    if (k > 0 && c->state != S_STALL) buf_add(&c->in, tmp, (size_t)k);
    if (c->state == S_REQ && take_request(c) != 0) return;
  }
  if (c->state == S_SEND && (rev & POLLOUT)) {
    size_t want = c->out.n - c->out_off;
    if (c->fault == F_TRICKLE) {
      if (now_s() < c->next_at) return;
      want = want > 0 ? 1 : 0;
      c->next_at += c->interval;
    }
    if (want > 0) {
      ssize_t k = write(c->cfd, c->out.p + c->out_off, want);
      if (k < 0) {
        if (errno != EAGAIN && errno != EINTR) conn_close(c, 0);
        return;
      }
      c->out_off += (size_t)k;
    }
    if (c->out_off == c->out.n) sent_all(c);
  }
}

static void on_upstream(conn *c, short rev) {
  char tmp[65536];
  if (c->up_connecting) {
    int err = 0;
    socklen_t len = sizeof err;
    if (!(rev & (POLLOUT | POLLERR | POLLHUP))) return;
    getsockopt(c->ufd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) {
      conn_close(c, 1);
      return;
    }
    c->up_connecting = 0;
  }
  if (c->up_off < c->up_out.n) {
    if (rev & POLLOUT) {
      ssize_t k = write(c->ufd, c->up_out.p + c->up_off, c->up_out.n - c->up_off);
      if (k < 0 && errno != EAGAIN && errno != EINTR) {
        conn_close(c, 1);
        return;
      }
      if (k > 0) c->up_off += (size_t)k;
    }
    return;
  }
  if (rev & (POLLIN | POLLHUP | POLLERR)) {
    resp_info ri;
    ssize_t k = read(c->ufd, tmp, sizeof tmp);
    int eof = k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR), done;
    if (k > 0) buf_add(&c->resp, tmp, (size_t)k);
    done = response_complete(&c->resp, c->head_request, eof, &ri);
    if (eof) {
      close(c->ufd);
      c->ufd = -1;
    }
    if (done < 0) {
      /* The server broke the exchange (a simulator fault): pass on what it sent, then close the
       * same way, so the client sees the server's fault and not one of ours. */
      if (c->ufd >= 0) close(c->ufd);
      c->ufd = -1;
      c->out.n = c->out_off = 0;
      buf_add(&c->out, c->resp.p, c->resp.n);
      c->resp.n = 0;
      c->after = AFTER_FIN;
      c->fault = F_NONE;
      c->state = S_SEND;
      if (c->out.n == 0) conn_close(c, 0);
      return;
    }
    if (done > 0) respond(c, &ri);
  }
}

/* --- listener and control ----------------------------------------------------------------- */

static int bind_port(int p) {
  struct sockaddr_in a;
  socklen_t len = sizeof a;
  int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  if (fd < 0) die("socket: %s", strerror(errno));
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons((unsigned short)p);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) die("bind %d: %s", p, strerror(errno));
  getsockname(fd, (struct sockaddr *)&a, &len);
  if (p == 0) port = ntohs(a.sin_port);
  nonblock(fd);
  return fd;
}

/* The /blackhole port (made on first use, kept until exit). With backlog 0 the accept queue holds
 * one connection; the proxy fills it and leaves a second connect pending, so every later SYN is
 * dropped (Linux drops SYNs, syncookies or not, while the accept queue is full). */
static int blackhole_port(void) {
  static int bh_port;
  struct sockaddr_in a;
  socklen_t len = sizeof a;
  int fd, i;
  if (bh_port) return bh_port;
  fd = socket(AF_INET, SOCK_STREAM, 0);
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 0) != 0)
    die("blackhole: %s", strerror(errno));
  getsockname(fd, (struct sockaddr *)&a, &len);
  for (i = 0; i < 2; i++) {
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0) die("blackhole: %s", strerror(errno));
    nonblock(c);
    if (connect(c, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS)
      die("blackhole connect: %s", strerror(errno));
  }
  bh_port = ntohs(a.sin_port);
  return bh_port;
}

static void accept_client(void) {
  int fd, i, one = 1;
  conn *c;
  rule *r;
  while ((fd = accept(listen_fd, NULL, NULL)) >= 0) {
    nonblock(fd);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    for (i = 0; i < MAX_CONNS && conns[i]; i++) {}
    if (i == MAX_CONNS) {
      close(fd);
      continue;
    }
    c = (conn *)calloc(1, sizeof *c);
    if (!c) die("out of memory");
    c->serial = ++serial_seq;
    c->cfd = fd;
    c->ufd = -1;
    c->state = S_REQ;
    conns[i] = c;
    st_connections++;
    r = match(NULL, NULL);
    if (r) c->state = S_ALERT;
  }
}

static int hexv(int ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

/* The percent-decoded value of query parameter `k` in q, or 0 when absent. */
static int qparam(const char *q, const char *k, char *out, size_t cap) {
  size_t kl = strlen(k);
  while (q && *q) {
    const char *amp = strchr(q, '&'), *end = amp ? amp : q + strlen(q);
    if ((size_t)(end - q) > kl && strncmp(q, k, kl) == 0 && q[kl] == '=') {
      const char *s = q + kl + 1;
      size_t o = 0;
      while (s < end && o + 1 < cap) {
        if (*s == '%' && end - s >= 3 && hexv(s[1]) >= 0 && hexv(s[2]) >= 0) {
          out[o++] = (char)(hexv(s[1]) * 16 + hexv(s[2]));
          s += 3;
        } else {
          out[o++] = *s == '+' ? ' ' : *s;
          s++;
        }
      }
      out[o] = '\0';
      return 1;
    }
    q = amp ? amp + 1 : NULL;
  }
  return 0;
}

static void control_reply(int fd, int status, const char *body) {
  char head[256];
  int n = snprintf(head, sizeof head,
                   "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                   status, status == 200 ? "OK" : "Bad Request", strlen(body));
  if (write(fd, head, (size_t)n) < 0 || write(fd, body, strlen(body)) < 0) { /* the caller went away */
  }
}

static void control(void) {
  int fd = accept(control_fd, NULL, NULL), i;
  char req[4096], cmd[256], val[512], body[512];
  size_t n = 0;
  char *q;
  double deadline = now_s() + 2;
  if (fd < 0) return;
  /* The control client sends its request at once; read it blocking (briefly). */
  while (n < sizeof req - 1 && !head_end(req, n) && now_s() < deadline) {
    struct pollfd p = {fd, POLLIN, 0};
    ssize_t k;
    if (poll(&p, 1, 100) <= 0) continue;
    k = read(fd, req + n, sizeof req - 1 - n);
    if (k <= 0) break;
    n += (size_t)k;
  }
  req[n] = '\0';
  if (sscanf(req, "GET %255s", cmd) != 1) {
    control_reply(fd, 400, "{\"error\":\"expected GET\"}");
    close(fd);
    return;
  }
  q = strchr(cmd, '?');
  if (q) *q++ = '\0';
  if (strcmp(cmd, "/rule") == 0) {
    rule *r;
    int kind = -1;
    if (nrules == MAX_RULES || !qparam(q, "fault", val, sizeof val)) {
      control_reply(fd, 400, "{\"error\":\"a rule needs fault=\"}");
      close(fd);
      return;
    }
    for (i = 1; fault_names[i]; i++)
      if (strcmp(fault_names[i], val) == 0) kind = i;
    if (kind < 0) {
      control_reply(fd, 400, "{\"error\":\"unknown fault\"}");
      close(fd);
      return;
    }
    r = &rules[nrules++];
    memset(r, 0, sizeof *r);
    r->id = ++rule_seq;
    r->kind = kind;
    r->count = -1;
    r->interval = 1.0;
    strcpy(r->method, "*");
    strcpy(r->path, "*");
    if (qparam(q, "method", r->method, sizeof r->method) && !r->method[0]) strcpy(r->method, "*");
    if (qparam(q, "path", r->path, sizeof r->path) && !r->path[0]) strcpy(r->path, "*");
    if (qparam(q, "skip", val, sizeof val)) r->skip = atol(val);
    if (qparam(q, "count", val, sizeof val)) r->count = atol(val);
    if (qparam(q, "interval", val, sizeof val)) r->interval = atof(val);
    snprintf(body, sizeof body, "{\"id\":%d}", r->id);
  } else if (strcmp(cmd, "/clear") == 0) {
    nrules = 0;
    st_connections = st_requests = st_forwarded = st_faults = 0;
    snprintf(body, sizeof body, "{}");
  } else if (strcmp(cmd, "/refuse") == 0) {
    if (listening) {
      close(listen_fd);
      listen_fd = bind_port(port);
      listening = 0;
    }
    for (i = 0; i < MAX_CONNS; i++)
      if (conns[i] && conns[i]->state == S_REQ && conns[i]->in.n == 0) conn_close(conns[i], 0);
    snprintf(body, sizeof body, "{}");
  } else if (strcmp(cmd, "/listen") == 0) {
    if (!listening) {
      if (listen(listen_fd, 128) != 0) die("listen: %s", strerror(errno));
      listening = 1;
    }
    snprintf(body, sizeof body, "{}");
  } else if (strcmp(cmd, "/drop") == 0) {
    for (i = 0; i < MAX_CONNS; i++)
      if (conns[i]) conn_close(conns[i], 0);
    snprintf(body, sizeof body, "{}");
  } else if (strcmp(cmd, "/blackhole") == 0) {
    snprintf(body, sizeof body, "{\"port\":%d}", blackhole_port());
  } else if (strcmp(cmd, "/stats") == 0) {
    int open = 0;
    for (i = 0; i < MAX_CONNS; i++) open += conns[i] != NULL;
    snprintf(body, sizeof body,
             "{\"connections\":%ld,\"requests\":%ld,\"forwarded\":%ld,\"faults\":%ld,\"open\":%d,\"listening\":%s}",
             st_connections, st_requests, st_forwarded, st_faults, open, listening ? "true" : "false");
  } else {
    control_reply(fd, 400, "{\"error\":\"unknown command\"}");
    close(fd);
    return;
  }
  control_reply(fd, 200, body);
  close(fd);
}

int main(int argc, char **argv) {
  int i, want_port = 0, cport;
  long exit_with = 0;
  double next_check = 0;
  char host[64] = "127.0.0.1";
  int uport = 0;
  struct sockaddr_in a;
  socklen_t alen = sizeof a;
  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--upstream") == 0 && i + 1 < argc) {
      if (sscanf(argv[++i], "%63[^:]:%d", host, &uport) != 2) die("--upstream HOST:PORT");
    } else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      want_port = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--exit-with") == 0 && i + 1 < argc) {
      exit_with = atol(argv[++i]);
    } else {
      die("usage: faultproxy --upstream HOST:PORT [--port N] [--exit-with PID]");
    }
  }
  if (!uport) die("--upstream is required");
  signal(SIGPIPE, SIG_IGN);
  memset(&upstream, 0, sizeof upstream);
  upstream.sin_family = AF_INET;
  upstream.sin_port = htons((unsigned short)uport);
  if (inet_pton(AF_INET, host, &upstream.sin_addr) != 1) die("upstream must be an IPv4 address");

  port = want_port;
  listen_fd = bind_port(want_port);
  if (listen(listen_fd, 128) != 0) die("listen: %s", strerror(errno));
  control_fd = socket(AF_INET, SOCK_STREAM, 0);
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(control_fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(control_fd, 16) != 0)
    die("control socket: %s", strerror(errno));
  getsockname(control_fd, (struct sockaddr *)&a, &alen);
  cport = ntohs(a.sin_port);
  printf("port %d\ncontrol %d\npid %ld\nready\n", port, cport, (long)getpid());
  fflush(stdout);

  for (;;) {
    struct pollfd fds[2 + 2 * MAX_CONNS];
    unsigned long owner[2 + 2 * MAX_CONNS]; /* connection serial, 0 for the listeners */
    int isup[2 + 2 * MAX_CONNS];
    int nf = 0, timeout = 1000, k;
    double t = now_s();
    if (exit_with && t >= next_check) {
      if (kill((pid_t)exit_with, 0) != 0 && errno == ESRCH) return 0;
      next_check = t + 1;
    }
    fds[nf].fd = control_fd, fds[nf].events = POLLIN, owner[nf] = 0, isup[nf] = 0, nf++;
    if (listening) fds[nf].fd = listen_fd, fds[nf].events = POLLIN, owner[nf] = 0, isup[nf] = 1, nf++;
    for (i = 0; i < MAX_CONNS; i++) {
      conn *c = conns[i];
      short ev = POLLIN;
      if (!c) continue;
      if (c->state == S_SEND) {
        if (c->fault == F_TRICKLE && c->next_at > t) {
          int ms = (int)((c->next_at - t) * 1000) + 1;
          if (ms < timeout) timeout = ms;
        } else {
          ev |= POLLOUT;
        }
      }
      fds[nf].fd = c->cfd, fds[nf].events = ev, owner[nf] = c->serial, isup[nf] = 0, nf++;
      if (c->ufd >= 0 && c->state == S_UPSTREAM) {
        short uev = POLLIN;
        if (c->up_connecting || c->up_off < c->up_out.n) uev = POLLOUT;
        fds[nf].fd = c->ufd, fds[nf].events = uev, owner[nf] = c->serial, isup[nf] = 1, nf++;
      }
    }
    k = poll(fds, (nfds_t)nf, timeout);
    if (k < 0 && errno != EINTR) die("poll: %s", strerror(errno));
    for (i = 0; i < nf; i++) {
      conn *c;
      if (!owner[i]) {
        if (!fds[i].revents) continue;
        if (isup[i]) accept_client();
        else control();
        continue;
      }
      c = find_conn(owner[i]); /* an earlier event may have closed it */
      if (!c) continue;
      if (!fds[i].revents) {
        /* a trickling connection whose next byte is due */
        if (!isup[i] && c->state == S_SEND && c->fault == F_TRICKLE && now_s() >= c->next_at) on_client(c, POLLOUT);
        continue;
      }
      if (isup[i]) on_upstream(c, fds[i].revents);
      else on_client(c, fds[i].revents);
    }
  }
}
