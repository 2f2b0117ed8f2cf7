/* core.json: the module table (encode, decode, null, array_mt, empty_array). The codec itself
 * lives in json_decode.c, json_encode.c and json_number.c; docs/json.md describes behaviour. */
#include "json.h"
#include "core.h"

/* json.empty_array is a light userdata pointing here: it encodes as [] and cannot be modified. */
const char zz_json_empty_array_tag = 0;

/* Registry key of json.array_mt (its address). */
static const char array_mt_key = 0;

void zz_json_push_array_mt(lua_State *L) {
  ZZ_RAWGETP(L, LUA_REGISTRYINDEX, &array_mt_key);
  if (lua_type(L, -1) == LUA_TTABLE) return;
  lua_pop(L, 1);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "array");
  lua_setfield(L, -2, "__jsontype");   /* dkjson's marker: dkjson.encode keeps these as arrays */
  lua_pushvalue(L, -1);
  ZZ_RAWSETP(L, LUA_REGISTRYINDEX, &array_mt_key);
}

int zz_open_json(lua_State *L) {
  lua_createtable(L, 0, 5);
  zz_json_push_array_mt(L);
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "array_mt");
  lua_pushvalue(L, -1);
  lua_pushcclosure(L, zz_json_l_decode, 1);
  lua_setfield(L, -3, "decode");
  zz_json_push_encoder(L);
  lua_insert(L, -2);
  lua_pushcclosure(L, zz_json_l_encode, 2);   /* upvalues: encoder state, array_mt */
  lua_setfield(L, -2, "encode");
  lua_pushlightuserdata(L, NULL);               /* the same value as cjson.null */
  lua_setfield(L, -2, "null");
  lua_pushlightuserdata(L, (void *)&zz_json_empty_array_tag);
  lua_setfield(L, -2, "empty_array");
  return 1;
}
