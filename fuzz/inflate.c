/* libFuzzer target for the streaming decompressor behind core.inflate: `make fuzz-inflate`.
 * The first bytes pick the format, the push size and the pull size; the rest is the compressed
 * input. The input is decompressed twice, pushed whole and pulled in 64 KiB pieces, then pushed and
 * pulled in tiny pieces: both runs must agree on success, and on the output (one output a prefix of
 * the other when both fail, since a failure may be noticed at a different point). Anything else,
 * or a memory error, aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "inflate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OUT_LIMIT (8u * 1024 * 1024)

typedef struct {
  unsigned char *p;
  size_t n;
  int ok;      /* finished cleanly */
  int capped;  /* stopped at OUT_LIMIT */
} outcome;

static int pull(zz_inflate *z, outcome *o, size_t cap) {
  unsigned char buf[65536];
  for (;;) {
    size_t got = 0;
    int rc = zz_inflate_read(z, buf, cap, &got);
    if (got > cap) abort();
    if (got) {
      if (o->n + got > OUT_LIMIT) {
        o->capped = 1;
        return -1;
      }
      memcpy(o->p + o->n, buf, got);
      o->n += got;
    }
    if (rc == ZZ_INFLATE_ERR) return -1;
    if (rc == ZZ_INFLATE_MORE || rc == ZZ_INFLATE_END) return 0;
  }
}

static void run(int format, const uint8_t *in, size_t n, size_t push, size_t cap, outcome *o) {
  zz_inflate z;
  size_t pos = 0;
  o->n = 0;
  o->ok = 0;
  o->capped = 0;
  if (zz_inflate_init(&z, format) != 0) abort();
  while (pos < n) {
    size_t k = n - pos < push ? n - pos : push;
    if (zz_inflate_push(&z, in + pos, k) != 0) abort();
    pos += k;
    if (pull(&z, o, cap) != 0) goto done;
  }
  o->ok = zz_inflate_finish(&z) == 0;
done:
  zz_inflate_free(&z);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static unsigned char *buf_a, *buf_b;
  outcome a, b;
  int format;
  size_t push, cap, m;
  if (size < 3) return 0;
  if (!buf_a) {
    buf_a = (unsigned char *)malloc(OUT_LIMIT);
    buf_b = (unsigned char *)malloc(OUT_LIMIT);
    if (!buf_a || !buf_b) abort();
  }
  format = data[0] % 4;
  push = (size_t)data[1] % 64 + 1;
  cap = (size_t)data[2] % 97 + 1;
  data += 3;
  size -= 3;
  a.p = buf_a;
  b.p = buf_b;
  run(format, data, size, size ? size : 1, 65536, &a);
  run(format, data, size, push, cap, &b);
  if (a.capped || b.capped) return 0;
  if (a.ok != b.ok) {
    fprintf(stderr, "whole and chunked runs disagree: %d vs %d\n", a.ok, b.ok);
    abort();
  }
  m = a.n < b.n ? a.n : b.n;
  if (a.ok && a.n != b.n) abort();
  if (memcmp(a.p, b.p, m) != 0) {
    fprintf(stderr, "whole and chunked runs produced different bytes\n");
    abort();
  }
  return 0;
}
