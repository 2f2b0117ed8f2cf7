/* Shared by the fuzz targets that drive a core module through a Lua state (url, headers, auth):
 * the state, the failure report, and the libFuzzer entry points' prototypes. Define FUZZ_NAME
 * (the target's name, for the report) before including it. */
#ifndef ZZ_FUZZ_LUA_TARGET_H
#define ZZ_FUZZ_LUA_TARGET_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "core.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static lua_State *L;

/* A broken property: say which and abort, so libFuzzer keeps the input. */
static void die(const char *what) {
  fprintf(stderr, FUZZ_NAME " fuzz: %s\n", what);
  abort();
}

/* The target's Lua state with the module `open` makes at stack index 1. */
static void fuzz_open(int (*open)(lua_State *)) {
  L = luaL_newstate();
  if (!L) abort();
  open(L);
}

#endif
