/* Lua 5.4 / LuaJIT 2.1 (5.1 API) differences, in one place so every C file compiles
 * unchanged against both. Include this instead of lua.h/lauxlib.h. */
#ifndef ZUORA_COMPAT_H
#define ZUORA_COMPAT_H

#include <lua.h>
#include <lauxlib.h>

#if LUA_VERSION_NUM < 502
/* LuaJIT 2.1 already provides luaL_setfuncs, luaL_testudata, luaL_newlib. */
#  define lua_rawlen(L, i)          lua_objlen((L), (i))
#  define lua_absindex(L, i)        (((i) > 0 || (i) <= LUA_REGISTRYINDEX) ? (i) : lua_gettop(L) + (i) + 1)
#  define ZZ_HAVE_INTEGERS          0
#  define ZZ_RAWGETP(L, idx, p)     (lua_pushlightuserdata((L), (void *)(p)), lua_rawget((L), (idx) < 0 && (idx) > LUA_REGISTRYINDEX ? (idx) - 1 : (idx)))
#  define ZZ_RAWSETP(L, idx, p)     do { lua_pushlightuserdata((L), (void *)(p)); lua_insert((L), -2); \
                                         lua_rawset((L), (idx) < 0 && (idx) > LUA_REGISTRYINDEX ? (idx) - 1 : (idx)); } while (0)
#else
#  define ZZ_HAVE_INTEGERS          1
#  define ZZ_RAWGETP(L, idx, p)     lua_rawgetp((L), (idx), (p))
#  define ZZ_RAWSETP(L, idx, p)     lua_rawsetp((L), (idx), (p))
#endif

/* Type of lua_getfield/lua_rawget results: 5.1 returns void, so read the type afterwards. */
static inline int zz_getfield(lua_State *L, int idx, const char *k) {
  lua_getfield(L, idx, k);
  return lua_type(L, -1);
}

/* Sets metatable `tname` on the value at the top; 5.1 lacks luaL_setmetatable. */
static inline void zz_setmetatable(lua_State *L, const char *tname) {
  luaL_getmetatable(L, tname);
  lua_setmetatable(L, -2);
}

/* A userdata with no user values (5.4's lua_newuserdatauv vs 5.1's lua_newuserdata). */
static inline void *zz_newudata(lua_State *L, size_t size) {
#if LUA_VERSION_NUM >= 504
  return lua_newuserdatauv(L, size, 0);
#else
  return lua_newuserdata(L, size);
#endif
}

/* Is the value an integer-valued number we can push back unchanged? */
static inline int zz_isinteger(lua_State *L, int idx) {
#if ZZ_HAVE_INTEGERS
  return lua_isinteger(L, idx);
#else
  (void)L; (void)idx;
  return 0;
#endif
}

/* Optional number/boolean/string fields of an options table at `idx`. */
static inline lua_Number zz_optnumfield(lua_State *L, int idx, const char *k, lua_Number def) {
  lua_Number v = def;
  if (zz_getfield(L, idx, k) != LUA_TNIL) {
    if (!lua_isnumber(L, -1)) luaL_error(L, "option '%s' must be a number", k);
    v = lua_tonumber(L, -1);
  }
  lua_pop(L, 1);
  return v;
}

static inline int zz_optboolfield(lua_State *L, int idx, const char *k, int def) {
  int v = def;
  int t = zz_getfield(L, idx, k);
  if (t != LUA_TNIL) {
    if (t != LUA_TBOOLEAN) luaL_error(L, "option '%s' must be a boolean", k);
    v = lua_toboolean(L, -1);
  }
  lua_pop(L, 1);
  return v;
}

#endif
