-- The engine's cycle in one round trip: write a batch of outcomes (af_complete_attempts,
-- complete-attempts.sql), then claim in the same transaction (af_claim_due or af_refill,
-- claim-due.sql), so the claim sees the slots the outcomes freed. The claim never waits on a
-- lock (it skips locked webhooks and deliveries), so holding the outcomes' row locks while it
-- runs cannot deadlock with deleteWebhook, which locks a webhook and then its deliveries.
-- ../sql/claim-due.ts (`completeAndClaim`) calls them; migrate() installs this file after the
-- migrations, whenever its text changes.

create function af_complete_and_claim(
  p_ids text[], p_delivery_ids text[], p_account_ids text[], p_webhook_ids text[],
  p_numbers int[], p_started_at bigint[], p_duration_ms int[], p_status_codes int[],
  p_errors text[], p_request_headers text[], p_response_headers text[],
  p_response_bodies text[], p_body_encodings text[], p_triggers text[], p_succeeded boolean[],
  p_owners text[], p_statuses text[], p_next_attempt_at bigint[], p_now bigint[],
  p_disable text[],
  p_claim_now bigint, p_cap int, p_limit int, p_owner text, p_lease_ms bigint, p_fair jsonb)
returns setof af_claimed_delivery
language plpgsql as $fn$
begin
  perform af_complete_attempts(p_ids, p_delivery_ids, p_account_ids, p_webhook_ids, p_numbers,
    p_started_at, p_duration_ms, p_status_codes, p_errors, p_request_headers,
    p_response_headers, p_response_bodies, p_body_encodings, p_triggers, p_succeeded, p_owners,
    p_statuses, p_next_attempt_at, p_now, p_disable);
  return query select * from af_claim_due(p_claim_now, p_cap, p_limit, p_owner, p_lease_ms,
    p_fair);
end
$fn$;

create function af_complete_and_refill(
  p_ids text[], p_delivery_ids text[], p_account_ids text[], p_webhook_ids text[],
  p_numbers int[], p_started_at bigint[], p_duration_ms int[], p_status_codes int[],
  p_errors text[], p_request_headers text[], p_response_headers text[],
  p_response_bodies text[], p_body_encodings text[], p_triggers text[], p_succeeded boolean[],
  p_owners text[], p_statuses text[], p_next_attempt_at bigint[], p_now bigint[],
  p_disable text[],
  p_webhooks text[], p_claim_now bigint, p_cap int, p_limit int, p_owner text,
  p_lease_ms bigint, p_fair jsonb)
returns setof af_claimed_delivery
language plpgsql as $fn$
begin
  perform af_complete_attempts(p_ids, p_delivery_ids, p_account_ids, p_webhook_ids, p_numbers,
    p_started_at, p_duration_ms, p_status_codes, p_errors, p_request_headers,
    p_response_headers, p_response_bodies, p_body_encodings, p_triggers, p_succeeded, p_owners,
    p_statuses, p_next_attempt_at, p_now, p_disable);
  return query select * from af_refill(p_webhooks, p_claim_now, p_cap, p_limit, p_owner,
    p_lease_ms, p_fair);
end
$fn$;
