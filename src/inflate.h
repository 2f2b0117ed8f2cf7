/* Streaming decompression (zlib's inflate) behind a small push/pull interface: the caller pushes
 * compressed bytes as they arrive and pulls decompressed bytes into a buffer of its own size, so
 * memory stays bounded by the caller's chunk sizes whatever the data expands to. No Lua here:
 * inflate.c wraps it as core.inflate, and fuzz/inflate.c drives it directly. */
#ifndef ZUORA_INFLATE_H
#define ZUORA_INFLATE_H

#include <stddef.h>
#include <zlib.h>

enum { ZZ_INFLATE_GZIP, ZZ_INFLATE_ZLIB, ZZ_INFLATE_RAW, ZZ_INFLATE_AUTO };

/* Results of zz_inflate_read. */
enum {
  ZZ_INFLATE_MORE = 0, /* nothing more comes out of the input pushed so far: push more (or finish) */
  ZZ_INFLATE_DATA = 1, /* some output was produced (*produced > 0) */
  ZZ_INFLATE_END = 2,  /* zlib/raw: the stream ended; later input is ignored */
  ZZ_INFLATE_ERR = -1  /* corrupt data or out of memory; see err; every later call fails the same */
};

typedef struct zz_inflate {
  z_stream zs;
  int format;
  int ready;            /* inflateInit2 succeeded: inflateEnd is owed */
  int ended;            /* the current stream (gzip member) reached its end */
  int failed;
  unsigned char *in;    /* pending input: in[pos .. len) */
  size_t len, pos, cap;
  unsigned long members; /* complete streams (gzip members) so far */
  unsigned long long total_in, total_out;
  char err[160];
} zz_inflate;

/* Sets up `z` for `format`. Returns 0, or -1 with z->err set (out of memory). z is then owned by
 * the caller, who calls zz_inflate_free exactly once (also after a failed init). */
int zz_inflate_init(zz_inflate *z, int format);

/* Appends n bytes of compressed input. Returns 0, or -1 when out of memory (z fails from then on). */
int zz_inflate_push(zz_inflate *z, const void *data, size_t n);

/* Decompresses into out[0 .. cap) from the pushed input. Sets *produced and returns one of the
 * results above (DATA whenever *produced > 0, even if the stream also ended). */
int zz_inflate_read(zz_inflate *z, unsigned char *out, size_t cap, size_t *produced);

/* Called when no more input will come: 0 if everything pushed formed complete stream(s), else -1
 * with z->err set (truncated data, trailing garbage, nothing at all). Call after read returned
 * MORE or END. */
int zz_inflate_finish(zz_inflate *z);

/* True when a complete stream has been read and no pending input starts another one. */
int zz_inflate_done(const zz_inflate *z);

void zz_inflate_free(zz_inflate *z);

#endif
