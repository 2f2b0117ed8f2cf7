--- Decisions the naming rule in tools/gen-catalog.lua cannot make alone; read by that generator only.
-- The rule: group = snake_case of the `##` heading; operation = snake_case of the `###` title without
-- articles and filler words and without the group's own noun (singular or plural, plus `nouns` below).
-- Keys of `names` and `titles` are "METHOD /path" exactly as in the reference index; the generator
-- fails on an override that no longer matches an operation, on duplicate names and on bad identifiers.
return {
  -- Write safety (DESIGN.md, "Additions of the second round"; the rule is M.write_safety in
  -- tools/catalog_common.lua, for the Billing and the Revenue catalogue alike). A PUT or DELETE is
  -- idempotent when its last path segment is a parameter (it sets or removes that resource) or a
  -- word of `state_segments`; not when it is a word of `action_segments` (Zuora's actions are PUTs
  -- that do something each time they arrive, and they take no Idempotency-Key). A PUT or DELETE
  -- ending in a word of neither list stops the generator: decide, then add the word here.
  -- spec/catalog_safety_spec.lua lists every PUT and DELETE with its verdict against
  -- spec/data/write-safety.txt, so each new one is reviewed.
  action_segments = {
    renew = true, cancel = true, suspend = true, resume = true, apply = true, unapply = true,
    ["apply-async"] = true, ["unapply-async"] = true, ["write-off"] = true, reverse = true, post = true,
    unpost = true, refunds = true, refund = true, transfer = true, activate = true, deactivate = true,
    close = true, reopen = true, ["pending-close"] = true, stop = true, pause = true, skip = true,
    generate = true, ["sync-status"] = true, verify = true, scrub = true, restore = true, attach = true,
    detach = true, ["run-trial-balance"] = true, submit = true, void = true, collect = true,
    execute = true, publish = true,
    -- PUT /v1/subscriptions/{key}/delete: deleting twice leaves the same tenant, but the subscription
    -- key may name another version once the first is gone; treated as an action.
    delete = true,
  },
  state_segments = {
    customFields = true, triggerDates = true, ["basic-information"] = true, cascading = true,
    charges = true, products = true, plans = true, tiers = true, invoices = true, bulk = true,
    ["debit-memos"] = true, batch_update = true, ["revpro-accounting-codes"] = true, history = true,
  },
  -- Last segments of reads that travel as POST (or PUT): ZOQL, previews, list queries.
  read_segments = {
    query = true, queryMore = true, preview = true, list = true, ["billing-preview"] = true,
  },
  -- "METHOD /path" -> idempotent, where the rule is wrong.
  idempotent = {
    -- Creates the profiles it does not find: a repeat could create twice.
    ["PUT /v1/payment-profile"] = false,
    -- Amends the subscription: its add/remove lists would apply twice.
    ["PUT /v1/subscriptions/{subscription-key}"] = false,
    -- "Stop a data backfill job": an action on the job the path names.
    ["PUT /v1/uno/data-backfill/jobs/{jobId}"] = false,
    ["PUT /v1/uno/data-backfill/bookingdate/jobs/{jobId}"] = false,
    ["PUT /v1/uno/data-backfill/propagation/jobs/{jobId}"] = false,
  },
  -- "METHOD /path" -> reads, where the rule is wrong: reads that travel as POST under other names.
  reads = {
    ["POST /query/jobs"] = true,                          -- Data Query job submission
    ["POST /v1/batch-query"] = true,                      -- aggregate (AQuA) query job
    ["POST /meters/event-store-queries"] = true,
    ["POST /meters/{meterId}/summary"] = true,
    ["POST /commerce/products/{product_key}"] = true,     -- retrieve a product
    ["POST /v1/billing-preview-runs"] = true,             -- a billing preview, run as a job
    ["POST /oauth/token"] = true,                         -- a token, not tenant data
    ["POST /api/integration/v1/authenticate"] = true,     -- Revenue's token
    ["POST /api/integration/v1/biviews/{view_name}"] = true, -- Revenue: the fields of a BI view
  },

  -- Group name by `##` heading, where snake_case of the heading is not the name.
  group_names = {},

  -- More noun phrases a group's titles use for the group's own object (removed from names).
  nouns = {
    api_health = { "api" },
    bulk_data = { "bulk job", "bulk jobs" },
    custom_event_triggers = { "event trigger", "event triggers" },
    custom_object_jobs = { "custom object bulk job", "custom object bulk jobs" },
    custom_scheduled_events = { "scheduled event", "scheduled events" },
    data_backfill = { "data backfill job", "data backfill jobs" },
    e_invoicing = { "e-invoice" },
    mass_updater = { "mass action" },
    payment_authorization = { "authorization" },
    subscription_change_history = {
      "change histories of subscription", "change histories of subscriptions", "change history of subscription",
    },
    test_environment_jobs = { "test environment", "job", "jobs" },
    test_environment_notifications = {
      "test environment", "email notifications", "notification response", "notification", "notifications",
    },
    test_environments = { "test environment response" },
    usage = { "usage record" },
    zuora_revenue_integration = { "zuora revenue" },
  },

  -- Operation names where the rule gives a collision, a misleading name or a very long one.
  names = {
    ["POST /v1/sign-up"] = "create",

    -- Commerce: the paths' own words (charges, plans, tiers) are shorter than the titles.
    ["POST /commerce/charges"] = "create_charge",
    ["PUT /commerce/charges"] = "update_charge",
    ["POST /commerce/charges/query"] = "query_charge",
    ["POST /commerce/products"] = "create_product",
    ["POST /commerce/plans"] = "create_plan",
    ["PUT /commerce/plans"] = "update_plan",
    ["POST /commerce/plans/query"] = "query_plan",
    ["POST /commerce/plans/list"] = "query_plans",
    ["POST /commerce/products/{product_key}"] = "retrieve_product",
    ["POST /commerce/legacy/products/list"] = "query_legacy_products",
    ["PUT /commerce/tiers"] = "update_tier",
    ["POST /commerce/purchase-options/list"] = "query_purchase_options",

    ["GET /v1/accounts/{account-key}/payment-methods/cascading"] = "retrieve_cascading_payment_methods",

    ["GET /v1/async-jobs/{jobId}"] = "retrieve_async_job",
    ["GET /v1/orders/subscriptionOwner/{accountNumber}"] = "list_by_subscription_owner",
    ["GET /v1/orders/invoiceOwner/{accountNumber}"] = "list_by_invoice_owner",
    ["PUT /v1/orders/{orderNumber}/triggerDates"] = "update_trigger_dates",
    ["POST /v1/order-line-items/bulk"] = "bulk_update",

    -- Subscriptions: the one retrieve and the one delete need no "by key" / "by number".
    ["GET /v1/subscriptions/{subscription-key}"] = "retrieve",
    ["GET /v1/subscriptions/{subscription-key}/versions/{version}"] = "retrieve_version",
    ["PUT /v1/subscriptions/{subscription-key}/delete"] = "delete",
    ["PUT /v1/subscriptions/{subscriptionNumber}/versions/{version}/customFields"] = "update_version_custom_fields",
    ["GET /v1/subscriptions/subscription-metrics"] = "list_metrics",

    ["GET /v1/commitments"] = "list",
    ["GET /v1/invoices/invoice-item/{invoice-item-id}/usage-rate-detail"] = "retrieve_rate_detail",

    ["GET /meters/{meterId}/{version}/runStatus"] = "retrieve_run_status",
    ["POST /meters/{meterId}/summary"] = "retrieve_summary",
    ["GET /meters/{meterId}/auditTrail/export"] = "list_audit_trail_exports",
    ["POST /meters/{meterId}/auditTrail/export"] = "create_audit_trail_export",
    ["GET /meters/auditTrail/presignedUrl"] = "retrieve_audit_trail_export_url",
    ["POST /meters/events/bulkDelete"] = "bulk_delete_events",
    ["GET /meters/events/stores/{id}/jobs/latest"] = "retrieve_latest_event_store_job",
    ["GET /meters/event-store-queries/{queryId}"] = "retrieve_event_store_query_results",

    ["GET /v1/adjustments"] = "list",

    ["GET /v1/billing-documents"] = "list",
    ["POST /v1/accounts/billing-documents/files/deletion-jobs"] = "create_file_deletion_job",
    ["GET /v1/accounts/billing-documents/files/deletion-jobs/{jobId}"] = "retrieve_file_deletion_job",
    ["POST /v1/accounts/{key}/billing-documents/generate"] = "generate",

    -- Billing documents: several objects at once are bulk_*; item-level taxation items read as such.
    ["PUT /v1/invoices"] = "bulk_update",
    ["POST /v1/invoices/batch"] = "bulk_create_standalone",
    ["POST /v1/invoices/bulk-post"] = "bulk_post",
    ["GET /v1/invoices/pdf-status"] = "retrieve_pdf_status",
    ["GET /v1/invoices/{invoiceKey}/items/{itemId}/taxation-items"] = "list_item_taxation_items",
    ["POST /v1/credit-memos/bulk"] = "bulk_create",
    ["PUT /v1/credit-memos/bulk"] = "bulk_update",
    ["GET /v1/credit-memos/pdf-status"] = "retrieve_pdf_status",
    ["GET /v1/credit-memos/{creditMemoId}/items/{cmitemid}/taxation-items"] = "list_item_taxation_items",
    ["POST /v1/credit-memos/{creditMemoKey}/pdfs"] = "generate_pdf",
    ["GET /v1/credit-memos/unapply-async-jobs/{unapplyAsyncJobId}"] = "retrieve_unapply_job",
    ["GET /v1/credit-memos/apply-async-jobs/{applyAsyncJobId}"] = "retrieve_apply_job",
    ["POST /v1/debit-memos/bulk"] = "bulk_create",
    ["PUT /v1/debit-memos/bulk"] = "bulk_update",
    ["GET /v1/debit-memos/pdf-status"] = "retrieve_pdf_status",
    ["GET /v1/debit-memos/{debitMemoId}/items/{dmitemid}/taxation-items"] = "list_item_taxation_items",
    ["POST /v1/debit-memos/{debitMemoKey}/collect"] = "collect",
    ["POST /v1/debit-memos/{debitMemoKey}/pdfs"] = "generate_pdf",

    -- E-invoicing: the document type names the operation.
    ["GET /v1/e-invoice/mandates"] = "list_mandates",
    ["GET /v1/invoices/{invoiceKey}/e-invoice/mandate"] = "retrieve_invoice_mandate",
    ["GET /v1/credit-memos/{creditMemoKey}/e-invoice/mandate"] = "retrieve_credit_memo_mandate",
    ["GET /v1/debit-memos/{debitMemoKey}/e-invoice/mandate"] = "retrieve_debit_memo_mandate",
    ["GET /v1/invoices/{invoiceKey}/e-invoice/download"] = "download_invoice",
    ["GET /v1/credit-memos/{creditMemoKey}/e-invoice/download"] = "download_credit_memo",
    ["GET /v1/debit-memos/{debitMemoKey}/e-invoice/download"] = "download_debit_memo",
    ["PUT /v1/invoices/{invoiceKey}/e-invoice/cancel"] = "cancel_invoice_file",
    ["PUT /v1/invoices/{invoiceKey}/e-invoice/sync-status"] = "sync_invoice_status",
    ["PUT /v1/debit-memos/{debitMemoKey}/e-invoice/sync-status"] = "sync_debit_memo_status",
    ["PUT /v1/credit-memos/{creditMemoKey}/e-invoice/sync-status"] = "sync_credit_memo_status",
    ["PUT /v1/invoices/{invoiceKey}/einvoice/generate"] = "generate_invoice_file",
    ["PUT /v1/credit-memos/{creditMemoKey}/e-invoice/generate"] = "generate_credit_memo_file",
    ["PUT /v1/debit-memos/{debitMemoKey}/e-invoice/generate"] = "generate_debit_memo_file",

    ["POST /v1/operations/bulk-pdf"] = "export_bulk_pdf",
    ["GET /v1/operations/bulk-pdf/{jobId}"] = "retrieve_bulk_pdf_job",
    ["POST /v1/bill-runs/{billRunKey}/emails"] = "email_billing_documents",

    ["GET /v1/payment-methods/{payment-method-id}/balance"] = "retrieve_balance",
    ["GET /v1/payment-methods/apple-pay/domains"] = "list_apple_pay_domains",

    ["GET /v1/payment-schedules"] = "list",
    ["POST /v1/payment-schedules/batch"] = "bulk_create",
    ["GET /v1/payment-schedules/statistics/{yyyy-mm-dd}"] = "retrieve_statistics",
    ["POST /v1/payment-schedules/{paymentScheduleKey}/items"] = "add_items",
    ["PUT /v1/payment-schedules/{paymentScheduleKey}/preview"] = "preview_update",
    ["PUT /v1/payment-profile"] = "bulk_create_or_update",

    -- Configurable Payment Retry: "cycles" and "cycle history" per document type.
    ["GET /api/v1/payments/active_invoice_cycle_information/{invoice_id}"] = "list_active_cycles_for_invoice",
    ["GET /api/v1/payments/active_debit_memo_cycle_information/{debit_memo_id}"] =
      "list_active_cycles_for_debit_memo",
    ["GET /api/v1/payments/active_account_cycle_information/{account_id}"] = "list_active_cycles_for_account",
    ["GET /api/v1/payments/invoice_cycle_history/{invoice_id}"] = "list_cycle_history_for_invoice",
    ["GET /api/v1/payments/debit_memo_cycle_history/{debit_memo_id}"] = "list_cycle_history_for_debit_memo",
    ["GET /api/v1/payments/account_cycle_history/{account_id}"] = "list_cycle_history_for_account",
    ["GET /api/v1/metrics/customer_group_over_time"] = "list_customer_group_metrics_over_time",

    ["PUT /v1/accounting-periods/{ap-id}/pending-close"] = "set_pending_close",
    ["GET /v1/journal-entries/journal-runs/{jr-number}"] = "list_by_journal_run",

    ["POST /notifications/callout-histories/resend"] = "resend_callouts",
    ["POST /notifications/email-histories/resend"] = "resend_emails",

    ["GET /events/scheduled-events/{id}"] = "retrieve",
    ["PUT /events/scheduled-events/{id}"] = "update",
    ["DELETE /events/scheduled-events/{id}"] = "delete",

    ["GET /objects/records/default/{object}"] = "list",

    ["GET /workflows/{workflow_id}/versions"] = "list_versions",

    ["DELETE /v1/batch-query/jobs/{jobid}"] = "cancel_job",

    ["POST /deployment-manager/deployment_artifacts/compare"] = "compare_settings",
    ["POST /deployment-manager/deployment_artifacts/deploy"] = "migrate_settings",
    ["GET /deployment-manager/deployment_artifacts/retrieve-settings"] = "list_source_components",
    ["POST /deployment-manager/deployment_templates"] = "create_template",
    ["GET /deployment-manager/deployment_templates/{id}"] = "retrieve_template",
    ["POST /deployment-manager/deployment_templates/sync"] = "sync_template",
    ["POST /deployment-manager/deployments/tenants"] = "deploy_tenant",
    ["POST /deployment-manager/deployments/templates"] = "deploy_template",
    ["POST /deployment-manager/deployments/tenant/product_catalog"] = "deploy_tenant_product_catalog",
    ["POST /deployment-manager/deployments/template/product_catalog"] = "deploy_template_product_catalog",

    ["POST /scim/v2/Users/delete"] = "bulk_delete_users",
    ["GET /scim/v2/Schemas"] = "list_schemas",
    ["GET /scim/v2/Schemas/{id}"] = "retrieve_schema",
    ["GET /scim/v2/ServiceProviderConfig"] = "retrieve_service_provider_config",

    ["POST /v1/uno-regenerate/rev-rec-events"] = "rev_rec_events",
    ["POST /v1/uno-regenerate/rev-rec-events/daily-consumption"] = "rev_rec_events_daily_consumption",

    ["GET /v1/attachments/{object-type}/{object-key}"] = "list",

    ["GET /v1/products/{product-key}/product-rate-plans"] = "list_by_product",
    ["GET /v1/product-rate-plans/{id}"] = "retrieve",
    ["POST /v1/product-charge-definitions/bulk"] = "bulk_create",
    ["PUT /v1/product-charge-definitions/bulk"] = "bulk_update",
  },

  -- Our titles where the index's heading has a typo or names the wrong thing.
  titles = {
    ["PUT /v1/credit-memos/{creditMemoKey}/apply-async"] = "Apply a credit memo asynchronously",
    ["GET /v1/credit-memos/apply-async-jobs/{applyAsyncJobId}"] = "Retrieve an async apply credit memo job by ID",
    ["GET /api/v1/payments/debit_memo_cycle_history/{debit_memo_id}"] = "List the retry cycle history for a debit memo",
  },

  -- Operations the 2026 index no longer lists but users of the legacy Actions expect; method and path
  -- must exist in tools/openapi-facts.lua (the older spec). `doc` defaults to older_doc_base .. id.
  extra = {
    actions = {
      { name = "amend", method = "POST", path = "/v1/action/amend", title = "Amend a subscription" },
      { name = "execute", method = "POST", path = "/v1/action/execute", title = "Split a draft invoice" },
      { name = "generate", method = "POST", path = "/v1/action/generate", title = "Generate invoices for an account" },
      { name = "subscribe", method = "POST", path = "/v1/action/subscribe",
        title = "Create accounts with subscriptions" },
    },
  },
  older_doc_base = "https://developer.zuora.com/api-references/older-api/operation/",
}
