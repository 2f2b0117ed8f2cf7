/* zuora.decimal internals shared with core.json (decode with decimals, encode of decimals).
 * docs/decimal.md describes the values; decimal.c implements them. */
#ifndef ZUORA_DECIMAL_H
#define ZUORA_DECIMAL_H

#include <stddef.h>
#include <stdint.h>
#include "compat.h"

#define ZZ_DECIMAL_NAME "zuora.decimal"

/* Largest exponent (either sign) accepted in decimal text ("1e9999"), and the largest scale
 * (digits after the point) a value or an argument may have. Beyond them: an error, never a
 * huge allocation. */
#define ZZ_DEC_MAX_EXP 9999
#define ZZ_DEC_MAX_SCALE 100000

/* A decimal is one userdata: this header followed by `n` base-10^9 limbs, least significant
 * first, value = (-1)^neg * coefficient * 10^-scale. Zero has n == 0 and neg == 0. The scale is
 * never negative. Values are immutable once pushed. */
typedef struct zz_dec {
  int32_t scale;
  uint32_t n;
  uint32_t neg;
  uint32_t cap;
} zz_dec;

static inline uint32_t *zz_dec_limbs(const zz_dec *d) {
  return (uint32_t *)(void *)((char *)(void *)(uintptr_t)d + sizeof(zz_dec));
}

/* Pushes zuora.decimal's metatable (made on first use). */
void zz_dec_push_mt(lua_State *L);

/* The decimal at idx, or NULL if the value is not one. */
const zz_dec *zz_dec_test(lua_State *L, int idx);

/* Parses decimal text s[0, n) ([+-]digits[.digits][(e|E)[+-]digits], ".5" and "5." allowed)
 * and pushes the value with the metatable at stack index mt_idx. Returns 0, or -1 with nothing
 * pushed and *why set ("not a decimal number", "exponent out of range", "scale out of range"). */
int zz_dec_push_text(lua_State *L, const char *s, size_t n, int mt_idx, const char **why);

/* Room zz_dec_format needs for d, and the text itself ("-12.50"); returns its length. */
size_t zz_dec_format_size(const zz_dec *d);
size_t zz_dec_format(const zz_dec *d, char *out);

int zz_open_decimal(lua_State *L);

#endif
