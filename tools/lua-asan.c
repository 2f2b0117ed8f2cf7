/* A minimal Lua 5.4 host built with AddressSanitizer/UBSan for `make test-asan`.
 * Linking the sanitizers into the host (instead of LD_PRELOAD into the system lua5.4) keeps
 * them out of every child process the specs start (nginx, curl, sh), and lua_close at exit
 * lets LeakSanitizer see that every userdata released what it owned.
 * Usage: lua-asan script.lua [args...]   (like `lua5.4 script.lua args...`) */
#include <stdio.h>
#include <stdlib.h>
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

static int traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  luaL_traceback(L, L, msg ? msg : "(error object is not a string)", 1);
  return 1;
}

int main(int argc, char **argv) {
  int i, status;
  lua_State *L;
  if (argc < 2) {
    fprintf(stderr, "usage: %s script.lua [args...]\n", argv[0]);
    return 2;
  }
  L = luaL_newstate();
  luaL_openlibs(L);
  lua_createtable(L, argc, 1);
  for (i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - 1);
  }
  lua_setglobal(L, "arg");
  lua_pushcfunction(L, traceback);
  if (luaL_loadfile(L, argv[1]) != LUA_OK) {
    fprintf(stderr, "%s\n", lua_tostring(L, -1));
    lua_close(L);
    return 1;
  }
  for (i = 2; i < argc; i++) lua_pushstring(L, argv[i]);
  status = lua_pcall(L, argc - 2, 0, 1);
  if (status != LUA_OK) fprintf(stderr, "%s\n", lua_tostring(L, -1));
  lua_close(L);
  return status == LUA_OK ? 0 : 1;
}
