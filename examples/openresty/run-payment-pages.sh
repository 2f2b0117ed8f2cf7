#!/usr/bin/env bash
# Runs examples/openresty/payment_pages.conf in the foreground on 127.0.0.1:${PORT:-8080}.
#
# Against a real tenant: set ZUORA_BASE_URL (or ZUORA_ENVIRONMENT), ZUORA_CLIENT_ID,
# ZUORA_CLIENT_SECRET, ZUORA_PAGE_ID, ZUORA_HOSTED_PAGE_URL and ZUORA_SIGNATURE_TYPE (basic or
# advanced, as configured for the page). Without them it starts a local zuora-sim, creates an
# account there and prints the commands of a simulated submit. Ctrl-C stops everything.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
make --no-print-directory -s LUA=luajit build

prefix=$(mktemp -d /tmp/zuora-payment-pages.XXXXXX)
sim_pid=""
cleanup() {
  [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null || true
  rm -rf "$prefix"
}
trap cleanup EXIT
mkdir -p "$prefix/logs" "$prefix/conf"
port=${PORT:-8080}

if [ -z "${ZUORA_BASE_URL:-}${ZUORA_ENVIRONMENT:-}" ]; then
  bin/zuora-sim --port 0 >"$prefix/sim.out" 2>"$prefix/sim.err" &
  sim_pid=$!
  for _ in $(seq 1 600); do grep -q '^ready$' "$prefix/sim.out" && break; sleep 0.05; done
  grep -q '^ready$' "$prefix/sim.out" || { cat "$prefix/sim.err" >&2; exit 1; }
  export ZUORA_BASE_URL=$(head -1 "$prefix/sim.out")
  export ZUORA_CLIENT_ID=zuora-sim-client ZUORA_CLIENT_SECRET=zuora-sim-secret
  export ZUORA_PAGE_ID=8a8aa00000000000000000000000page ZUORA_SIGNATURE_TYPE=${ZUORA_SIGNATURE_TYPE:-advanced}
  export ZUORA_HOSTED_PAGE_URL=$ZUORA_BASE_URL/apps/PublicHostedPageLite.do
  account=$(curl -s -u zuora-sim-user:zuora-sim-password -H 'Content-Type: application/json' \
    -d '{"name":"Payment Page Co","currency":"USD","billCycleDay":1,
         "billToContact":{"firstName":"Ada","lastName":"Lovelace","country":"US"}}' \
    "$ZUORA_BASE_URL/v1/accounts" | sed -n 's/.*"accountId":"\([^"]*\)".*/\1/p')
  echo "zuora-sim at $ZUORA_BASE_URL (account $account)"
  echo "1. the page's parameters:  curl -s 'http://127.0.0.1:$port/pay?account=$account'"
  echo "2. a simulated submit: POST them (id, tenantId, token, signature, callbackUrl, signatureType,"
  echo "   field_accountId) with creditCardNumber=4111111111111111, creditCardExpirationMonth=12,"
  echo "   creditCardExpirationYear=2031 as a form to $ZUORA_HOSTED_PAGE_URL"
  echo "3. open the Location it answers (the callback): curl -s '<location>'"
fi

resolver=$(sed -n 's/^nameserver[[:space:]]*\([0-9.]*\).*/\1/p' /etc/resolv.conf | head -1)
user=""
[ "$(id -u)" = 0 ] && user="user root root;"
sed -e "s|\${root}|$root|g" -e "s|\${prefix}|$prefix|g" -e "s|\${port}|$port|g" -e "s|\${workers}|2|g" \
    -e "s|\${user}|$user|g" -e "s|\${resolver}|${resolver:-127.0.0.1}|g" \
    examples/openresty/payment_pages.conf >"$prefix/conf/nginx.conf"

echo "nginx on http://127.0.0.1:$port (error log: $prefix/logs/error.log)"
PATH="$PATH:/usr/sbin:/usr/local/sbin" nginx -p "$prefix" -c "$prefix/conf/nginx.conf" -g 'daemon off; master_process on;'
