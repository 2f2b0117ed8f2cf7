/* core.url — placeholder until its issue lands; see docs/ARCHITECTURE.md for the contract. */
#include "core.h"

int zz_open_url(lua_State *L) {
  lua_newtable(L);
  return 1;
}
