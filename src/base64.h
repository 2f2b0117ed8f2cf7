/* Base64 for the C core: the one encoder and decoder behind core.crypto, the credentials of
 * core.auth (HTTP basic, JWT payloads) and the signatures of core.rsa. */
#ifndef ZUORA_BASE64_H
#define ZUORA_BASE64_H

#include <stddef.h>

#include "buf.h"

/* Decoding rules. */
enum {
  /* Standard alphabet; padding optional but, when present, correct; no whitespace; the unused
   * low bits of the last character must be zero (one encoding per value). */
  ZZ_B64_STRICT = 0,
  /* Either alphabet (base64url's '-' '_' or '+' '/'), every '=' ignored, no length or trailing-bit
   * check: for JWT segments, whose producers disagree on padding. */
  ZZ_B64_LOOSE = 1
};

/* Results of zz_b64_decode. */
enum { ZZ_B64_OK = 0, ZZ_B64_ELENGTH, ZZ_B64_ECHAR, ZZ_B64_EBITS, ZZ_B64_ENOMEM };

/* Appends the padded standard base64 of s[0, n) to out. Returns 0, or -1 when out of memory. */
int zz_b64_encode(zz_buf *out, const void *s, size_t n);

/* Appends the bytes that the base64 text s[0, n) stands for to out, under `mode`. Returns ZZ_B64_OK
 * or an error; for ZZ_B64_ECHAR, *at (when not NULL) is the 0-based offset of the bad character.
 * On error out may hold part of the bytes: the caller frees (or wipes) it either way. */
int zz_b64_decode(const char *s, size_t n, int mode, zz_buf *out, size_t *at);

/* A short message for a zz_b64_decode result ("bad length or padding", ...). */
const char *zz_b64_error(int rc);

#endif
