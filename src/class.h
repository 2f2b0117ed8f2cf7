/* Userdata classes of the C core (as luasocket's auxiliar_newclass): one place that builds a
 * class's metatable, so every class has the same shape on Lua 5.4 and LuaJIT. */
#ifndef ZUORA_CLASS_H
#define ZUORA_CLASS_H

#include "compat.h"

/* Registers metatable `name` in the registry, once (later calls do nothing), with
 *  - __index: a table of `methods` (may be NULL: no __index), or, when `index` is given, the C
 *    closure `index` with that table as its upvalue 1 (for classes that also expose fields);
 *  - __gc, and __close on 5.4: `gc`, which must be safe to run twice (close, then collection);
 *    NULL for a class whose values hold nothing outside the Lua heap (zuora.decimal): no __gc;
 *  - __tostring: `tostring`;
 *  - __name: `name` (5.4's luaL_newmetatable sets it; LuaJIT's does not).
 * Leaves the stack as it was. */
void zz_newclass(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction index, lua_CFunction gc,
                 lua_CFunction tostring);

#endif
