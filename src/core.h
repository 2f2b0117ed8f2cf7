/* zuora.core: the C core. Each concern lives in its own file and exposes one opener
 * that pushes its module table; core.c gathers them under require "zuora.core". */
#ifndef ZUORA_CORE_H
#define ZUORA_CORE_H

#include "compat.h"

#define ZUORA_CORE_VERSION "0.1.0"

#if defined(__GNUC__)
#  define ZZ_EXPORT __attribute__((visibility("default")))
#else
#  define ZZ_EXPORT
#endif

ZZ_EXPORT int luaopen_zuora_core(lua_State *L);

int zz_open_json(lua_State *L);    /* json.c   -> core.json   */
int zz_open_http(lua_State *L);    /* http.c   -> core.http   */
int zz_open_auth(lua_State *L);    /* auth.c   -> core.auth   */
int zz_open_crypto(lua_State *L);  /* crypto.c -> core.crypto */
int zz_open_url(lua_State *L);     /* url.c    -> core.url    */
int zz_open_inflate(lua_State *L); /* inflate.c -> core.inflate */
int zz_open_rsa(lua_State *L);     /* rsa.c    -> core.rsa    */
int zz_open_interrupt(lua_State *L); /* interrupt.c -> core.interrupt */
int zz_open_redis(lua_State *L);   /* redis.c  -> core.redis  */

#endif
