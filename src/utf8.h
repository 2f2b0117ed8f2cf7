/* UTF-8 for the C core: the one validator (json decode and encode, the token-reply scanner) and
 * the one encoder of code points (\u escapes), so every reader agrees on what is valid. */
#ifndef ZUORA_UTF8_H
#define ZUORA_UTF8_H

#include <stddef.h>

/* Length (2..4) of the well-formed UTF-8 sequence starting at p (a byte >= 0x80), or 0 if it is
 * malformed, overlong, a surrogate, above U+10FFFF or cut short by end. */
static inline int zz_utf8_len(const unsigned char *p, const unsigned char *end) {
  unsigned c = p[0];
  size_t avail = (size_t)(end - p);
  if (c < 0xC2) return 0;                                   /* continuation or overlong lead */
  if (c < 0xE0) {
    return (avail >= 2 && (p[1] & 0xC0) == 0x80) ? 2 : 0;
  }
  if (c < 0xF0) {
    if (avail < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80) return 0;
    if (c == 0xE0 && p[1] < 0xA0) return 0;                 /* overlong */
    if (c == 0xED && p[1] >= 0xA0) return 0;                /* UTF-16 surrogate */
    return 3;
  }
  if (c < 0xF5) {
    if (avail < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
      return 0;
    if (c == 0xF0 && p[1] < 0x90) return 0;                 /* overlong */
    if (c == 0xF4 && p[1] >= 0x90) return 0;                /* above U+10FFFF */
    return 4;
  }
  return 0;
}

/* Writes code point cp (at most U+10FFFF, not a surrogate: callers check) as UTF-8 into o (room
 * for 4 bytes) and returns the length. */
static inline size_t zz_utf8_encode(unsigned cp, unsigned char *o) {
  if (cp < 0x80) {
    o[0] = (unsigned char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (unsigned char)(0xC0 | (cp >> 6));
    o[1] = (unsigned char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (unsigned char)(0xE0 | (cp >> 12));
    o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (unsigned char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (unsigned char)(0xF0 | (cp >> 18));
  o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
  o[3] = (unsigned char)(0x80 | (cp & 0x3F));
  return 4;
}

#endif
