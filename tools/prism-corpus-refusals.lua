--- The refusals spec/prism_corpus_spec.lua expects when it replays the older spec's requests against
-- zuora-sim: operation (group.name) -> why Zuora, and so zuora-sim, refuses the request the spec
-- yields. Every refusal must be listed here and every listed operation must be refused, so the list
-- stays true. docs/zuora-sim.md ("The older spec's requests as a corpus") sums it up.
local KEY = "the key the older spec makes up (`Z1`, a fixed UUID) names no object of that kind in the tenant "
  .. "(none is seeded: query jobs, files, imports, snapshots, transaction logs, tiers, usage records, async "
  .. "jobs, query locators, generic objects, notification definitions)"
local VALUE = "the older spec gives no valid value for a field Zuora checks (no enum or example), so the "
  .. "placeholder `Z1` (or a made-up value) is refused: a payment method type, a ZOQL statement, a charge "
  .. "model, an RSA key or method, a term type, a cancellation policy"
local STATE = "the seeded object is in a state in which Zuora refuses the operation: the invoice is paid by "
  .. "earlier requests of the run, the memo is posted, the payment is applied or processed, the subscription "
  .. "is active, the payment method is the default"
local EXAMPLE = "the older spec's own example is not a valid value of a field Zuora checks (a callout URL of "
  .. "`https://***`)"
local GENERIC = "zuora-sim keeps the records of the families it serves generically (sim/zuora_sim/families.lua): "
  .. "the key the older spec makes up (`Z1`, a fixed UUID, `7`) names no record created in the run, so reading, "
  .. "changing or acting on it is refused with a Zuora-shaped 404, as Zuora refuses an unknown key"
local BODY = "the body built from the spec lacks what the operation needs (an order action without its details)"

return {
  ["actions.delete"] = KEY, ["actions.query_more"] = KEY, ["actions.update"] = KEY,
  ["data_queries.cancel_job"] = KEY, ["data_queries.retrieve_job"] = KEY, ["files.retrieve"] = KEY,
  ["imports.crud_retrieve"] = KEY, ["orders.retrieve_async_job"] = KEY,
  ["payment_method_snapshots.crud_retrieve"] = KEY, ["payment_method_transaction_logs.crud_retrieve"] = KEY,
  ["payment_transaction_logs.crud_retrieve"] = KEY, ["product_rate_plan_charge_tiers.crud_retrieve"] = KEY,
  ["product_rate_plan_charge_tiers.crud_update"] = KEY, ["usage.crud_retrieve"] = KEY,
  ["usage.crud_update"] = KEY, ["usage.crud_delete"] = KEY,
  ["notifications.retrieve_definition"] = KEY, ["notifications.update_definition"] = KEY,
  ["notifications.delete_definition"] = KEY,

  ["accounts.create"] = VALUE, ["orders.create"] = VALUE, ["payment_methods.create"] = VALUE,
  ["actions.query"] = VALUE, ["product_rate_plan_charges.crud_create"] = VALUE,
  ["product_rate_plan_charges.crud_update"] = VALUE, ["rsa_signatures.decrypt"] = VALUE,
  ["rsa_signatures.generate"] = VALUE, ["subscriptions.create"] = VALUE, ["subscriptions.cancel"] = VALUE,

  ["payments.create"] = STATE, ["payments.apply"] = STATE, ["payments.unapply"] = STATE,
  ["payments.cancel"] = STATE, ["payments.delete"] = STATE, ["credit_memos.apply"] = STATE,
  ["credit_memos.unapply"] = STATE, ["credit_memos.cancel"] = STATE, ["debit_memos.cancel"] = STATE,
  ["subscriptions.resume"] = STATE, ["payment_methods.delete"] = STATE,

  ["orders.preview"] = BODY,
  ["notifications.create_definition"] = EXAMPLE,

  ["accounting_codes.retrieve"] = GENERIC, ["accounting_periods.retrieve"] = GENERIC,
  ["attachments.delete"] = GENERIC, ["attachments.retrieve"] = GENERIC,
  ["attachments.update"] = GENERIC, ["billing_documents.retrieve_file_deletion_job"] = GENERIC,
  ["billing_preview_run.retrieve"] = GENERIC, ["custom_event_triggers.delete"] = GENERIC,
  ["custom_event_triggers.retrieve"] = GENERIC, ["custom_event_triggers.update"] = GENERIC,
  ["custom_object_definitions.delete"] = GENERIC, ["custom_object_definitions.retrieve"] = GENERIC,
  ["custom_object_jobs.retrieve"] = GENERIC, ["custom_object_records.delete"] = GENERIC,
  ["custom_object_records.partially_update"] = GENERIC, ["custom_object_records.retrieve"] = GENERIC,
  ["custom_object_records.update"] = GENERIC, ["journal_runs.cancel"] = GENERIC, ["journal_runs.delete"] = GENERIC,
  ["journal_runs.retrieve"] = GENERIC, ["mass_updater.list_results"] = GENERIC, ["mass_updater.stop"] = GENERIC,
  ["notifications.delete_email_template"] = GENERIC, ["notifications.retrieve_email_template"] = GENERIC,
  ["notifications.update_email_template"] = GENERIC, ["payment_methods.cancel_stored_credential_profile"] = GENERIC,
  ["payment_methods.expire_stored_credential_profile"] = GENERIC, ["payment_runs.delete"] = GENERIC,
  ["payment_runs.retrieve"] = GENERIC, ["payment_runs.update"] = GENERIC, ["sequence_sets.delete"] = GENERIC,
  ["sequence_sets.retrieve"] = GENERIC, ["sequence_sets.update"] = GENERIC,
  ["summary_journal_entries.cancel"] = GENERIC, ["summary_journal_entries.delete"] = GENERIC,
  ["summary_journal_entries.retrieve"] = GENERIC, ["summary_journal_entries.update"] = GENERIC,
}
