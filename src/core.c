/* luaopen_zuora_core: one table holding the C core's modules and its version. */
#include "core.h"
#include "decimal.h"

static const struct { const char *name; lua_CFunction open; } modules[] = {
  {"json", zz_open_json},
  {"http", zz_open_http},
  {"auth", zz_open_auth},
  {"crypto", zz_open_crypto},
  {"url", zz_open_url},
  {"inflate", zz_open_inflate},
  {"rsa", zz_open_rsa},
  {"redis", zz_open_redis},
  {"decimal", zz_open_decimal},
  {"interrupt", zz_open_interrupt},
};

int luaopen_zuora_core(lua_State *L) {
  size_t i;
  lua_newtable(L);
  lua_pushliteral(L, ZUORA_CORE_VERSION);
  lua_setfield(L, -2, "version");
#if ZZ_HAVE_INTEGERS
  lua_pushliteral(L, LUA_VERSION_MAJOR "." LUA_VERSION_MINOR);
#else
  lua_pushliteral(L, "5.1");
#endif
  lua_setfield(L, -2, "lua_version");
  for (i = 0; i < sizeof modules / sizeof modules[0]; i++) {
    lua_pushcfunction(L, modules[i].open);
    lua_call(L, 0, 1);
    lua_setfield(L, -2, modules[i].name);
  }
  return 1;
}
