#!/usr/bin/env bash
# Runs examples/openresty/nginx.conf in the foreground on 127.0.0.1:${PORT:-8080}.
#
# Against a real tenant: set ZUORA_BASE_URL (or ZUORA_ENVIRONMENT), ZUORA_CLIENT_ID and
# ZUORA_CLIENT_SECRET. Without them it starts a local zuora-sim, creates an account with an
# invoice there, and prints a curl command that posts a callout for it. Ctrl-C stops everything.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
example_setup zuora-openresty-example

example_body=""
if [ -z "${ZUORA_BASE_URL:-}${ZUORA_ENVIRONMENT:-}" ]; then
  example_start_sim
  api() { sim_api "$@"; }
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

[ -n "$example_body" ] && echo "try: curl -s -d '$example_body' http://127.0.0.1:$port/zuora/callouts/invoice-posted"
example_run_nginx examples/openresty/nginx.conf
