/* core.json — placeholder until its issue lands; see docs/ARCHITECTURE.md for the contract. */
#include "core.h"

int zz_open_json(lua_State *L) {
  lua_newtable(L);
  return 1;
}
