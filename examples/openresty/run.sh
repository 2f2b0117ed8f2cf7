#!/usr/bin/env bash
# Runs examples/openresty/nginx.conf (a callout receiver, webhook.lua) in the foreground on
# 127.0.0.1:${PORT:-8080}.
#
# Against a real tenant: set ZUORA_BASE_URL (or ZUORA_ENVIRONMENT), ZUORA_CLIENT_ID,
# ZUORA_CLIENT_SECRET, and ZUORA_CALLOUT_USERNAME / ZUORA_CALLOUT_PASSWORD (the credentials of the
# notification definition's callout). Without them it starts a local zuora-sim, defines an
# "invoice posted" callout to this nginx there, and posts an invoice: zuora-sim calls back (retrying
# until nginx is up) and the handler files a digest of the invoice. Ctrl-C stops everything.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
example_setup zuora-openresty-example

export ZUORA_CALLOUT_USERNAME=${ZUORA_CALLOUT_USERNAME:-zuora-callout}
export ZUORA_CALLOUT_PASSWORD=${ZUORA_CALLOUT_PASSWORD:-callout-secret}
invoice=""
if [ -z "${ZUORA_BASE_URL:-}${ZUORA_ENVIRONMENT:-}" ]; then
  example_start_sim
  api() { sim_api "$@"; }
  # Retries every second (a simulated minute of intervalTime lasts 1 s) until nginx answers.
  curl -s -X PUT -d '{"callout_interval_scale":1,"callout_retry_number":20}' "$ZUORA_BASE_URL/__sim/config" >/dev/null
  api /notifications/notification-definitions "{\"name\":\"Invoice posted\",\"eventTypeName\":\"InvoicePosted\",
    \"callout\":{\"calloutBaseurl\":\"http://127.0.0.1:$port/zuora/callouts\",\"httpMethod\":\"POST\",
    \"calloutParams\":{\"InvoiceId\":\"Invoice.Id\",\"AccountNumber\":\"Account.AccountNumber\"},
    \"requiredAuth\":true,\"calloutAuth\":{\"username\":\"$ZUORA_CALLOUT_USERNAME\",
    \"password\":\"$ZUORA_CALLOUT_PASSWORD\"}}}" >/dev/null
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
  echo "zuora-sim at $ZUORA_BASE_URL (account $account, invoice $invoice, posted: the callout is on its way)"
fi

[ -n "$invoice" ] && echo "then: curl -s http://127.0.0.1:$port/invoices/$invoice/digest   (and the history:" \
  "curl -s -u zuora-sim-user:zuora-sim-password $ZUORA_BASE_URL/v1/notification-history/callout)"
example_run_nginx examples/openresty/nginx.conf
