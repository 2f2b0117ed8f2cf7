--- The Lua interpreter running the suite, for specs that start Lua child processes (examples, the
-- CLI): the Makefile sets ZUORA_LUA (lua5.4, luajit, or the sanitized host under `make test-asan`,
-- which must also run the children because the C core in LUA_CPATH is built for it).
return os.getenv("ZUORA_LUA") or "lua5.4"
