#!/usr/bin/env bash
# Runs examples/openresty/nginx.conf in the foreground on 127.0.0.1:${PORT:-8080}.
#
# Against a real tenant: set ZUORA_BASE_URL (or ZUORA_ENVIRONMENT), ZUORA_CLIENT_ID and
# ZUORA_CLIENT_SECRET. Without them it starts a local zuora-sim, creates an account with an
# invoice there, and prints a curl command that posts a callout for it. Ctrl-C stops everything.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
make --no-print-directory -s LUA=luajit build

prefix=$(mktemp -d /tmp/zuora-openresty-example.XXXXXX)
sim_pid=""
cleanup() {
  [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null || true
  rm -rf "$prefix"
}
trap cleanup EXIT
mkdir -p "$prefix/logs" "$prefix/conf"

example_body=""
if [ -z "${ZUORA_BASE_URL:-}${ZUORA_ENVIRONMENT:-}" ]; then
  bin/zuora-sim --port 0 >"$prefix/sim.out" 2>"$prefix/sim.err" &
  sim_pid=$!
  for _ in $(seq 1 600); do grep -q '^ready$' "$prefix/sim.out" && break; sleep 0.05; done
  grep -q '^ready$' "$prefix/sim.out" || { cat "$prefix/sim.err" >&2; exit 1; }
  export ZUORA_BASE_URL=$(head -1 "$prefix/sim.out")
  export ZUORA_CLIENT_ID=zuora-sim-client ZUORA_CLIENT_SECRET=zuora-sim-secret
  api() { curl -s -u zuora-sim-user:zuora-sim-password -H 'Content-Type: application/json' -d "$2" "$ZUORA_BASE_URL$1"; }
  today=$(date -u +%F)
  account=$(api /v1/accounts '{"name":"Callout Co","currency":"USD","billCycleDay":1,
    "billToContact":{"firstName":"Ada","lastName":"Lovelace","country":"US"},
    "paymentMethod":{"type":"CreditCard","cardType":"Visa","cardNumber":"4111111111111111",
      "expirationMonth":12,"expirationYear":2030,"cardHolderInfo":{"cardHolderName":"Ada"}}}' \
    | sed -n 's/.*"accountNumber":"\([^"]*\)".*/\1/p')
  t="\"triggerDate\":\"$today\""
  api /v1/orders "{\"orderDate\":\"$today\",\"existingAccountNumber\":\"$account\",\"subscriptions\":[{\"orderActions\":[{
    \"type\":\"CreateSubscription\",\"triggerDates\":[{\"name\":\"ContractEffective\",$t},
    {\"name\":\"ServiceActivation\",$t},{\"name\":\"CustomerAcceptance\",$t}],\"createSubscription\":{\"terms\":{
    \"initialTerm\":{\"termType\":\"TERMED\",\"period\":12,\"periodType\":\"Month\",\"startDate\":\"$today\"},
    \"renewalSetting\":\"RENEW_WITH_SPECIFIC_TERM\",\"autoRenew\":true,\"renewalTerms\":[{\"period\":12,\"periodType\":\"Month\"}]},
    \"subscribeToRatePlans\":[{\"productRatePlanId\":\"8ad00000000000000000000000000201\"}]}}]}]}" >/dev/null
  invoice=$(api /v1/operations/invoice-collect "{\"accountKey\":\"$account\",\"targetDate\":\"$today\",\"collect\":false}" \
    | sed -n 's/.*"invoiceId":"\([^"]*\)".*/\1/p')
  example_body="{\"accountNumber\":\"$account\",\"invoiceId\":\"$invoice\"}"
  echo "zuora-sim at $ZUORA_BASE_URL (account $account, invoice $invoice)"
fi

port=${PORT:-8080}
resolver=$(sed -n 's/^nameserver[[:space:]]*\([0-9.]*\).*/\1/p' /etc/resolv.conf | head -1)
user=""
[ "$(id -u)" = 0 ] && user="user root root;"
sed -e "s|\${root}|$root|g" -e "s|\${prefix}|$prefix|g" -e "s|\${port}|$port|g" -e "s|\${workers}|2|g" \
    -e "s|\${user}|$user|g" -e "s|\${resolver}|${resolver:-127.0.0.1}|g" \
    examples/openresty/nginx.conf >"$prefix/conf/nginx.conf"

echo "nginx on http://127.0.0.1:$port (error log: $prefix/logs/error.log)"
[ -n "$example_body" ] && echo "try: curl -s -d '$example_body' http://127.0.0.1:$port/zuora/callouts/invoice-posted"
PATH="$PATH:/usr/sbin:/usr/local/sbin" nginx -p "$prefix" -c "$prefix/conf/nginx.conf" -g 'daemon off; master_process on;'
