/* core.auth — placeholder until its issue lands; see docs/ARCHITECTURE.md for the contract. */
#include "core.h"

int zz_open_auth(lua_State *L) {
  lua_newtable(L);
  return 1;
}
