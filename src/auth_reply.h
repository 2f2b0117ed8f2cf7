/* The token-reply scanner of core.auth (auth_reply.c): a strict reader for the flat JSON object
 * an OAuth token endpoint returns, and the lifetimes read from it or from a JWT. Sans-IO and
 * without Lua, so the fuzz target and auth.c share it. */
#ifndef ZUORA_AUTH_REPLY_H
#define ZUORA_AUTH_REPLY_H

#include <stddef.h>

#include "buf.h"

/* A reply whose expires_in is missing, not a number, below 1 s or above a day gets this lifetime:
 * short, so a token of unknown age is replaced soon. */
#define ZZ_AUTH_DEFAULT_LIFETIME 300.0
#define ZZ_AUTH_MAX_LIFETIME 86400.0
/* The largest token reply (and JWT payload) read. */
#define ZZ_AUTH_MAX_REPLY_LEN 65536

/* The fields the scanner keeps; every other key is validated and skipped. */
enum {
  ZZ_REPLY_ACCESS_TOKEN, ZZ_REPLY_TOKEN_TYPE, ZZ_REPLY_EXPIRES_IN, ZZ_REPLY_ERROR, ZZ_REPLY_ERROR_DESC,
  ZZ_REPLY_MESSAGE, ZZ_REPLY_MESSAGE_CAP, ZZ_REPLY_EXP, ZZ_REPLY_IAT,
  ZZ_REPLY_NFIELDS
};

typedef struct zz_reply {
  const char *s;
  size_t n, i;
  const char *err;               /* why the scan failed (static text), at byte i */
  int seen[ZZ_REPLY_NFIELDS];
  int is_string[ZZ_REPLY_NFIELDS];
  zz_buf val[ZZ_REPLY_NFIELDS];  /* decoded string value, or the number's text (wiped when freed) */
} zz_reply;

/* Starts a scan of s[0, n) (s may be NULL when n is 0). Release with zz_reply_free. */
void zz_reply_init(zz_reply *r, const char *s, size_t n);

/* Scans exactly one flat object whose values are strings, numbers, true, false or null; anything
 * nested, a duplicate known key, bad escapes, invalid UTF-8 or trailing bytes fail (-1, with
 * r->err and r->i). Every read is bounds-checked: safe on arbitrary input. Returns 0 on success. */
int zz_reply_scan(zz_reply *r);

/* Wipes and frees the values. */
void zz_reply_free(zz_reply *r);

/* expires_in as whole seconds: a number or a numeric string within [1, ZZ_AUTH_MAX_LIFETIME],
 * else ZZ_AUTH_DEFAULT_LIFETIME. */
double zz_reply_expires_in(const zz_reply *r);

/* The lifetime a JWT declares (exp - iat of its payload), or def when tok is not a JWT, the
 * claims are missing, or the span is outside 1 s..1 day. */
double zz_reply_jwt_lifetime(const char *tok, double def);

#endif
