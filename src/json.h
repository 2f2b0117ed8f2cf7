/* core.json's internal API (the codec itself lives on the json branch; this header carries only
 * the one prototype the transport needs until that branch is merged). */
#ifndef ZUORA_JSON_H
#define ZUORA_JSON_H

#include "compat.h"

/* Decodes s[0..n) and pushes the value (returns 1), or pushes nil and a message (returns 0). */
int zz_json_decode(lua_State *L, const char *s, size_t n, int max_depth);

#endif
