#!/usr/bin/env bash
# Runs examples/openresty/payment_pages.conf in the foreground on 127.0.0.1:${PORT:-8080}.
#
# Against a real tenant: set ZUORA_BASE_URL (or ZUORA_ENVIRONMENT), ZUORA_CLIENT_ID,
# ZUORA_CLIENT_SECRET, ZUORA_PAGE_ID, ZUORA_HOSTED_PAGE_URL and ZUORA_SIGNATURE_TYPE (basic or
# advanced, as configured for the page). Without them it starts a local zuora-sim, creates an
# account there and prints the commands of a simulated submit. Ctrl-C stops everything.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
example_setup zuora-payment-pages

if [ -z "${ZUORA_BASE_URL:-}${ZUORA_ENVIRONMENT:-}" ]; then
  example_start_sim
  export ZUORA_PAGE_ID=8a8aa00000000000000000000000page ZUORA_SIGNATURE_TYPE=${ZUORA_SIGNATURE_TYPE:-advanced}
  export ZUORA_HOSTED_PAGE_URL=$ZUORA_BASE_URL/apps/PublicHostedPageLite.do
  account=$(sim_api /v1/accounts '{"name":"Payment Page Co","currency":"USD","billCycleDay":1,
    "billToContact":{"firstName":"Ada","lastName":"Lovelace","country":"US"}}' \
    | sed -n 's/.*"accountId":"\([^"]*\)".*/\1/p')
  echo "zuora-sim at $ZUORA_BASE_URL (account $account)"
  echo "1. the page's parameters:  curl -s 'http://127.0.0.1:$port/pay?account=$account'"
  echo "2. a simulated submit: POST them (id, tenantId, token, signature, callbackUrl, signatureType,"
  echo "   field_accountId) with creditCardNumber=4111111111111111, creditCardExpirationMonth=12,"
  echo "   creditCardExpirationYear=2031 as a form to $ZUORA_HOSTED_PAGE_URL"
  echo "3. open the Location it answers (the callback): curl -s '<location>'"
fi

example_run_nginx examples/openresty/payment_pages.conf
