/* Base64 (RFC 4648) encoding and decoding over zz_buf; see base64.h for the decoding rules. */
#include "base64.h"

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int zz_b64_encode(zz_buf *out, const void *data, size_t n) {
  const unsigned char *s = (const unsigned char *)data;
  size_t i;
  char q[4];
  if (n / 3 >= ((size_t)-1 - out->n) / 4 - 1) return -1;
  if (zz_buf_reserve(out, (n + 2) / 3 * 4) != 0) return -1;
  for (i = 0; i < n; i += 3) {
    unsigned long v = (unsigned long)s[i] << 16;
    if (i + 1 < n) v |= (unsigned long)s[i + 1] << 8;
    if (i + 2 < n) v |= s[i + 2];
    q[0] = b64chars[(v >> 18) & 63];
    q[1] = b64chars[(v >> 12) & 63];
    q[2] = i + 1 < n ? b64chars[(v >> 6) & 63] : '=';
    q[3] = i + 2 < n ? b64chars[v & 63] : '=';
    if (zz_buf_add(out, q, 4) != 0) return -1;
  }
  return 0;
}

/* The 6-bit value of c in the mode's alphabet, or -1. */
static int b64val(unsigned char c, int mode) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || (mode == ZZ_B64_LOOSE && c == '-')) return 62;
  if (c == '/' || (mode == ZZ_B64_LOOSE && c == '_')) return 63;
  return -1;
}

int zz_b64_decode(const char *text, size_t n, int mode, zz_buf *out, size_t *at) {
  const unsigned char *s = (const unsigned char *)text;
  size_t i, data = n;
  unsigned long acc = 0;
  int bits = 0;
  if (mode == ZZ_B64_STRICT) {
    while (data > 0 && s[data - 1] == '=') data--;
    if (n - data > 2 || (n != data && n % 4 != 0) || data % 4 == 1) return ZZ_B64_ELENGTH;
  }
  if (zz_buf_reserve(out, data / 4 * 3 + 3) != 0) return ZZ_B64_ENOMEM;
  for (i = 0; i < data; i++) {
    int v;
    if (mode == ZZ_B64_LOOSE && s[i] == '=') continue;
    v = b64val(s[i], mode);
    if (v < 0) {
      if (at) *at = i;
      return ZZ_B64_ECHAR;
    }
    acc = (acc << 6) | (unsigned long)v;
    bits += 6;
    if (bits >= 8) {
      char byte;
      bits -= 8;
      byte = (char)((acc >> bits) & 0xff);
      if (zz_buf_add(out, &byte, 1) != 0) return ZZ_B64_ENOMEM;
    }
  }
  if (mode == ZZ_B64_STRICT && bits > 0 && (acc & ((1ul << bits) - 1)) != 0) return ZZ_B64_EBITS;
  return ZZ_B64_OK;
}

const char *zz_b64_error(int rc) {
  switch (rc) {
    case ZZ_B64_OK: return "ok";
    case ZZ_B64_ELENGTH: return "bad length or padding";
    case ZZ_B64_ECHAR: return "unexpected character";
    case ZZ_B64_EBITS: return "non-zero trailing bits";
    default: return "out of memory";
  }
}
