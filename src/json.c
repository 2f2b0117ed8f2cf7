/* core.json — placeholder until its issue lands; see docs/ARCHITECTURE.md for the contract. */
#include "core.h"
#include "json.h"

int zz_open_json(lua_State *L) {
  lua_newtable(L);
  return 1;
}

/* TEMPORARY (branch ccore): a stand-in so the transport links before the real codec from the json
 * branch is merged. It decodes nothing; the merge replaces this whole file. */
int zz_json_decode(lua_State *L, const char *s, size_t n, int max_depth) {
  (void)s, (void)n, (void)max_depth;
  lua_pushnil(L);
  lua_pushliteral(L, "JSON decoder not built yet");
  return 0;
}
