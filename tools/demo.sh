#!/usr/bin/env bash
# `make demo`: start zuora-sim on a free port, run examples/quickstart.lua against it, stop it.
# `make demo EXAMPLES=examples/revenue_close.lua` runs the Revenue period close instead.
# Usage: tools/demo.sh [example.lua ...]   (default: examples/quickstart.lua)
set -euo pipefail
cd "$(dirname "$0")/.."

out=$(mktemp)
bin/zuora-sim --port 0 >"$out" 2>"$out.err" &
sim=$!
cleanup() { kill "$sim" 2>/dev/null || true; wait "$sim" 2>/dev/null || true; rm -f "$out" "$out.err"; }
trap cleanup EXIT
for _ in $(seq 1 600); do
  grep -q '^ready$' "$out" && break
  kill -0 "$sim" 2>/dev/null || { cat "$out.err" >&2; exit 1; }
  sleep 0.05
done
grep -q '^ready$' "$out" || { echo "demo: zuora-sim did not start" >&2; cat "$out.err" >&2; exit 1; }
url=$(head -1 "$out")
echo "zuora-sim running at $url"
echo

status=0
for script in "${@:-examples/quickstart.lua}"; do
  echo "== $script"
  # zuora-sim serves the Revenue API on the same origin; its legacy user is zuora-sim-user.
  ZUORA_BASE_URL="$url" ZUORA_CLIENT_ID=zuora-sim-client ZUORA_CLIENT_SECRET=zuora-sim-secret \
    ZUORA_REVENUE_BASE_URL="$url" ZUORA_REVENUE_USERNAME=zuora-sim-user ZUORA_REVENUE_PASSWORD=zuora-sim-password \
    ZUORA_ENVIRONMENT= lua5.4 "$script" || status=$?
  echo
done
exit $status
