/* core.json internals, shared by the json*.c files and by C callers such as the transport,
 * which decodes response bodies straight from its buffer. See docs/json.md for behaviour. */
#ifndef ZUORA_JSON_H
#define ZUORA_JSON_H

#include <stddef.h>
#include <stdint.h>
#include "compat.h"
#include "utf8.h"

/* Default nesting limit of decode (and the fixed limit of encode). */
#define ZZ_JSON_MAX_DEPTH 1000

/* Decodes the JSON text s[0, n). The text need not be NUL-terminated and may hold any bytes.
 * Pushes the value and returns 1, or pushes nil and a message ("<reason> at byte <pos>", pos
 * 1-based) and returns 0. max_depth <= 0 means ZZ_JSON_MAX_DEPTH. Raises only on memory errors. */
int zz_json_decode(lua_State *L, const char *s, size_t n, int max_depth);
/* The same; with decimals, numbers with a fraction or an exponent and integers beyond the
 * integer range become zuora.decimal values (docs/json.md). */
int zz_json_decode_opts(lua_State *L, const char *s, size_t n, int max_depth, int decimals);

/* Pushes json.array_mt, creating it (in the registry) on first use. */
void zz_json_push_array_mt(lua_State *L);

/* The address behind the json.empty_array light userdata. */
extern const char zz_json_empty_array_tag;

/* Lua functions: json.decode (upvalue 1: array_mt) and json.encode (upvalue 1: the encoder state
 * made by zz_json_push_encoder, upvalue 2: array_mt). */
int zz_json_l_decode(lua_State *L);
int zz_json_l_encode(lua_State *L);
void zz_json_push_encoder(lua_State *L);

/* Numbers (json_number.c). */
#define ZZ_JSON_NUMBER_SIZE 32  /* room for any number zz_json_format_* writes */

/* Shortest decimal form of a finite double that reads back to the same double; with
 * int_suffix, integral values in fixed notation get ".0" so they read back as floats. Returns
 * the length written to out (not NUL-terminated). */
size_t zz_json_format_double(double v, char *out, int int_suffix);

/* Decimal form of a 64-bit signed integer; returns the length written. */
size_t zz_json_format_int(int64_t v, char *out);

/* Correctly rounded value of the JSON number text s[0, n) (already validated), whatever the
 * C locale. Returns 0 on success, -1 if memory ran out. */
int zz_json_strtod(const char *s, size_t n, double *out);

#endif
