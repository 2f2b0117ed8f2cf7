/* core.redis: a small blocking Redis client over hiredis, for the shared budget (zuora.governor)
 * outside nginx. Every call is bounded by a timeout (connect and each command), so a slow or
 * dead Redis costs at most that long; a connection that failed once (I/O error, timeout) is
 * closed and reports "closed" until the caller makes a new one. Replies map to Lua values:
 * status and bulk strings -> string, integer -> integer, nil -> false, array -> table (nested),
 * error reply -> nil, message, "reply" (the connection stays usable); a transport failure ->
 * nil, message, "io". */
#include <hiredis/hiredis.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "class.h"
#include "core.h"

#define ZZ_REDIS_MT "zuora.redis"
#define ZZ_REDIS_MAX_ARGS 64
#define ZZ_REDIS_MAX_DEPTH 8

typedef struct {
  redisContext *c;
} lz_redis;

static struct timeval to_tv(double s) {
  struct timeval tv;
  if (!(s > 0)) s = 0.001;
  if (s > 86400) s = 86400;
  tv.tv_sec = (time_t)floor(s);
  tv.tv_usec = (suseconds_t)((s - floor(s)) * 1e6);
  return tv;
}

/* redis.connect(host, port, timeout) -> connection | nil, err */
static int l_connect(lua_State *L) {
  const char *host = luaL_checkstring(L, 1);
  int port = (int)luaL_checkinteger(L, 2);
  double timeout = luaL_optnumber(L, 3, 1.0);
  struct timeval tv = to_tv(timeout);
  lz_redis *u;
  redisContext *c;
  if (port <= 0 || port > 65535) return luaL_argerror(L, 2, "port out of range");
  c = redisConnectWithTimeout(host, port, tv);
  if (!c) {
    lua_pushnil(L);
    lua_pushliteral(L, "redis: out of memory");
    return 2;
  }
  if (c->err) {
    lua_pushnil(L);
    lua_pushfstring(L, "redis: connect %s:%d: %s", host, port, c->errstr);
    redisFree(c);
    return 2;
  }
  if (redisSetTimeout(c, tv) != REDIS_OK) {
    lua_pushnil(L);
    lua_pushliteral(L, "redis: cannot set the timeout");
    redisFree(c);
    return 2;
  }
  u = (lz_redis *)lua_newuserdata(L, sizeof *u);
  u->c = c;
  luaL_setmetatable(L, ZZ_REDIS_MT);
  return 1;
}

static int push_reply(lua_State *L, const redisReply *r, int depth) {
  size_t i;
  luaL_checkstack(L, 4, "redis reply");
  switch (r->type) {
  case REDIS_REPLY_STRING:
  case REDIS_REPLY_STATUS: lua_pushlstring(L, r->str, r->len); break;
  case REDIS_REPLY_INTEGER: lua_pushinteger(L, (lua_Integer)r->integer); break;
  case REDIS_REPLY_NIL: lua_pushboolean(L, 0); break;
  case REDIS_REPLY_ARRAY:
    if (depth >= ZZ_REDIS_MAX_DEPTH) return 0;
    lua_createtable(L, (int)r->elements, 0);
    for (i = 0; i < r->elements; i++) {
      if (!push_reply(L, r->element[i], depth + 1)) return 0;
      lua_rawseti(L, -2, (int)i + 1);
    }
    break;
  default: return 0;
  }
  return 1;
}

static int io_failure(lua_State *L, lz_redis *u, const char *what) {
  lua_pushnil(L);
  lua_pushfstring(L, "redis: %s", what);
  lua_pushliteral(L, "io");
  redisFree(u->c); /* a context that failed once is unusable */
  u->c = NULL;
  return 3;
}

/* c:call(arg, ...) -> reply | nil, err, "reply" | "io" */
static int l_call(lua_State *L) {
  lz_redis *u = (lz_redis *)luaL_checkudata(L, 1, ZZ_REDIS_MT);
  int n = lua_gettop(L) - 1, i, base;
  const char *argv[ZZ_REDIS_MAX_ARGS];
  size_t lens[ZZ_REDIS_MAX_ARGS];
  redisReply *r;
  if (n < 1) return luaL_error(L, "redis call: no command");
  if (n > ZZ_REDIS_MAX_ARGS) return luaL_error(L, "redis call: more than %d arguments", ZZ_REDIS_MAX_ARGS);
  for (i = 0; i < n; i++) {
    if (lua_type(L, i + 2) != LUA_TSTRING && lua_type(L, i + 2) != LUA_TNUMBER)
      return luaL_argerror(L, i + 2, "string or number expected");
    argv[i] = lua_tolstring(L, i + 2, &lens[i]); /* converts numbers in place: fine, args are ours */
  }
  if (!u->c) {
    lua_pushnil(L);
    lua_pushliteral(L, "redis: connection closed");
    lua_pushliteral(L, "io");
    return 3;
  }
  r = (redisReply *)redisCommandArgv(u->c, n, argv, lens);
  if (!r) return io_failure(L, u, u->c->errstr[0] ? u->c->errstr : "no reply");
  if (r->type == REDIS_REPLY_ERROR) {
    lua_pushnil(L);
    lua_pushlstring(L, r->str, r->len);
    lua_pushliteral(L, "reply");
    freeReplyObject(r);
    return 3;
  }
  base = lua_gettop(L);
  if (!push_reply(L, r, 0)) {
    lua_settop(L, base);
    freeReplyObject(r);
    lua_pushnil(L);
    lua_pushliteral(L, "redis: unexpected reply");
    lua_pushliteral(L, "reply");
    return 3;
  }
  freeReplyObject(r);
  return 1;
}

/* c:settimeout(seconds) -> true | nil, err */
static int l_settimeout(lua_State *L) {
  lz_redis *u = (lz_redis *)luaL_checkudata(L, 1, ZZ_REDIS_MT);
  double s = luaL_checknumber(L, 2);
  if (!u->c || redisSetTimeout(u->c, to_tv(s)) != REDIS_OK) {
    lua_pushnil(L);
    lua_pushliteral(L, "redis: connection closed");
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}

static int l_isopen(lua_State *L) {
  lz_redis *u = (lz_redis *)luaL_checkudata(L, 1, ZZ_REDIS_MT);
  lua_pushboolean(L, u->c != NULL);
  return 1;
}

static int l_close(lua_State *L) {
  lz_redis *u = (lz_redis *)luaL_checkudata(L, 1, ZZ_REDIS_MT);
  if (u->c) {
    redisFree(u->c);
    u->c = NULL;
  }
  return 0;
}

static int l_tostring(lua_State *L) {
  lz_redis *u = (lz_redis *)luaL_checkudata(L, 1, ZZ_REDIS_MT);
  lua_pushfstring(L, "zuora.redis<%s>", u->c ? "open" : "closed");
  return 1;
}

int zz_open_redis(lua_State *L) {
  static const luaL_Reg methods[] = {
    {"call", l_call}, {"settimeout", l_settimeout}, {"is_open", l_isopen}, {"close", l_close}, {NULL, NULL},
  };
  zz_newclass(L, ZZ_REDIS_MT, methods, NULL, l_close, l_tostring);
  lua_newtable(L);
  lua_pushcfunction(L, l_connect);
  lua_setfield(L, -2, "connect");
  return 1;
}
