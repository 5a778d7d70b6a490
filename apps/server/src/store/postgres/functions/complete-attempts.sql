-- Completion: a batch of attempt outcomes written in one round trip and one transaction,
-- five statements whatever the batch's size. ../sql/complete-attempts.ts calls it and explains
-- why it is idempotent and in which order it takes its locks. migrate() installs this file
-- after the migrations, whenever its text changes.
--
-- A function, so that a completion is one round trip instead of begin, three statements and
-- commit (on a 2-core machine every round trip costs a wake-up of another process), each
-- statement kept to its indexes, as the claims are (claim-due.sql says why), and planned once
-- per connection: each reads the batch's arrays and the rows they name by primary key, a plan no
-- table's statistics change. It does not wait for its commit to reach the disk
-- (`synchronous_commit` off for its own transaction): an outcome lost in a crash of the database
-- leaves its delivery pending, sent again (at least once). Events are committed durably before
-- the API answers 202.

create function af_complete_attempts(
  p_ids text[], p_delivery_ids text[], p_account_ids text[], p_webhook_ids text[],
  p_numbers int[], p_started_at bigint[], p_duration_ms int[], p_status_codes int[],
  p_errors text[], p_request_headers text[], p_response_headers text[],
  p_response_bodies text[], p_body_encodings text[], p_triggers text[], p_succeeded boolean[],
  p_owners text[], p_statuses text[], p_next_attempt_at bigint[], p_now bigint[],
  p_disable text[])
returns void
language plpgsql
set plan_cache_mode = force_generic_plan set enable_seqscan = off set enable_bitmapscan = off
as $fn$
declare
  v_fresh text[];
begin
  perform set_config('synchronous_commit', 'off', true);
  -- Attempts first, ON CONFLICT DO NOTHING: only outcomes whose attempt is new change their
  -- delivery, so a batch written twice (a commit whose answer was lost) is recorded once. An
  -- outcome whose delivery is gone, or whose lease another worker took over, is skipped.
  with ins as (
    insert into attempts (id, delivery_id, account_id, webhook_id, number, started_at,
      duration_ms, status_code, error, request_headers, response_headers, response_body,
      response_body_encoding, trigger, succeeded)
    select u.id, u.delivery_id, u.account_id, u.webhook_id, u.number, u.started_at,
      u.duration_ms, u.status_code, u.error, u.request_headers::jsonb, u.response_headers::jsonb,
      u.response_body, u.body_encoding, u.trigger, u.succeeded
    from unnest(p_ids, p_delivery_ids, p_account_ids, p_webhook_ids, p_numbers, p_started_at,
                p_duration_ms, p_status_codes, p_errors, p_request_headers, p_response_headers,
                p_response_bodies, p_body_encodings, p_triggers, p_succeeded, p_owners)
      as u(id, delivery_id, account_id, webhook_id, number, started_at, duration_ms,
           status_code, error, request_headers, response_headers, response_body, body_encoding,
           trigger, succeeded, owner)
    where exists (select 1 from deliveries x where x.id = u.delivery_id)
      and (u.owner is null or exists (select 1 from delivery_leases l
                                      where l.delivery_id = u.delivery_id and l.owner = u.owner))
    on conflict (id) do nothing
    returning attempts.id
  )
  select coalesce(array_agg(ins.id), '{}') into v_fresh from ins;
  if cardinality(v_fresh) = 0 then
    return;
  end if;
  -- Every attempt new (a batch written once, nearly always): null stands for "all", so the
  -- statements below do not search the array once per row (a generic plan's `= any` of a
  -- parameter is a linear search: 10,000 comparisons for a batch of 100).
  if cardinality(v_fresh) = cardinality(p_ids) then
    v_fresh := null;
  end if;

  -- Health once per webhook of the batch (webhook-health.sql), before the 410s below disable
  -- theirs, and like them before the deliveries' rows (the lock order of deleteWebhook).
  perform af_record_health(v_fresh, p_ids, p_webhook_ids, p_started_at, p_succeeded,
    p_statuses, p_triggers, p_errors, p_disable, p_now);

  -- Webhooks answered 410, before their deliveries' rows (the lock order of deleteWebhook).
  update webhooks wh set active = false, disabled_reason = u.reason, updated_at = u.now
  from (
    select distinct on (v.webhook_id) v.webhook_id, v.reason, v.now
    from unnest(p_ids, p_webhook_ids, p_disable, p_now) as v(attempt_id, webhook_id, reason, now)
    where v.reason is not null and (v_fresh is null or v.attempt_id = any(v_fresh))
    order by v.webhook_id
  ) u
  where wh.id = u.webhook_id and wh.deleted_at is null;

  update deliveries x set
    status = u.status, attempt_count = u.number, next_attempt_at = u.next_attempt_at,
    last_status_code = u.status_code, last_error = u.error, updated_at = u.now,
    trigger = 'scheduled', status_before = null, resume_at = null
  from unnest(p_ids, p_delivery_ids, p_statuses, p_numbers, p_next_attempt_at, p_status_codes,
              p_errors, p_now)
    as u(attempt_id, id, status, number, next_attempt_at, status_code, error, now)
  where x.id = u.id and (v_fresh is null or u.attempt_id = any(v_fresh));

  -- The leases of the recorded outcomes end (a test action's too, whose outcome has no owner).
  delete from delivery_leases l
  using unnest(p_ids, p_delivery_ids) as u(attempt_id, id)
  where l.delivery_id = u.id and (v_fresh is null or u.attempt_id = any(v_fresh));
end
$fn$;
