/* A growable byte buffer shared by the C core's files. Every buffer has exactly one owner, which
 * calls zz_buf_free (or zz_buf_wipe for buffers that held a secret) when done with it. A buffer
 * that will hold a secret starts as ZZ_SECRET_BUF_INIT (or gets wipe = 1 before its first byte):
 * when it grows, the old block is wiped before it goes back to the allocator, where realloc
 * would hand it back with the secret still in it. */
#ifndef ZUORA_BUF_H
#define ZUORA_BUF_H

#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

typedef struct zz_buf {
  char *p;     /* NUL-terminated when non-NULL, so it can be handed to C APIs as a string */
  size_t n;    /* bytes used, excluding the terminator */
  size_t cap;  /* bytes allocated */
  int wipe;    /* holds a secret: growing copies and wipes instead of realloc */
} zz_buf;

#define ZZ_BUF_INIT {NULL, 0, 0, 0}
#define ZZ_SECRET_BUF_INIT {NULL, 0, 0, 1}

/* Makes room for `extra` more bytes plus a terminator. Returns 0 on success, -1 when out of
 * memory or on size overflow (the buffer is unchanged then). */
static inline int zz_buf_reserve(zz_buf *b, size_t extra) {
  size_t need, cap;
  char *p;
  if (extra > (size_t)-1 - b->n - 1) return -1;
  need = b->n + extra + 1;
  if (need <= b->cap) return 0;
  cap = b->cap ? b->cap : 256;
  while (cap < need) cap = cap > (size_t)-1 / 2 ? need : cap * 2;
  if (b->wipe && b->p) {
    p = (char *)malloc(cap);
    if (!p) return -1;
    memcpy(p, b->p, b->n + 1);
    OPENSSL_cleanse(b->p, b->cap);
    free(b->p);
  } else {
    p = (char *)realloc(b->p, cap);
    if (!p) return -1;
  }
  b->p = p;
  b->cap = cap;
  return 0;
}

static inline int zz_buf_add(zz_buf *b, const void *data, size_t n) {
  if (zz_buf_reserve(b, n) != 0) return -1;
  if (n) memcpy(b->p + b->n, data, n);
  b->n += n;
  b->p[b->n] = '\0';
  return 0;
}

static inline int zz_buf_adds(zz_buf *b, const char *s) {
  return zz_buf_add(b, s, strlen(s));
}

static inline void zz_buf_free(zz_buf *b) {
  free(b->p);
  b->p = NULL;
  b->n = b->cap = 0;
}

/* Frees a buffer that held a secret: the whole allocation is cleansed first, since earlier
 * contents may survive past `n` after a shrink-and-regrow. */
static inline void zz_buf_wipe(zz_buf *b) {
  if (b->p) OPENSSL_cleanse(b->p, b->cap);
  zz_buf_free(b);
}

#endif
