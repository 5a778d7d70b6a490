-- Webhook health (WebhookHealth in ../../types.ts): the health of each webhook of a batch of
-- outcomes, one statement whatever the batch's size, with the notices its change calls for
-- (`recovered`, `failing`, and `disabled` for a 410), as sqlite/sql/webhook-health.ts does on
-- SQLite. af_complete_attempts (complete-attempts.sql) calls it with the batch's arrays and the
-- attempts it recorded (p_fresh, null when all of them were), in its transaction, before the
-- 410s disable their webhooks (so that it sees which were active). migrate() installs this file
-- after the migrations, whenever its text changes.
--
-- Counted: every recorded attempt but the test action's and those failed as `endpoint_disabled`
-- (they say nothing of the endpoint). Failures count from the batch's last success on, if it
-- has one, as they do from the stored one otherwise. Exhausted: a failed delivery of the
-- schedule. The webhooks' rows are locked in id order, before their deliveries' (the lock order
-- of deleteWebhook).
--
-- A healthy webhook's row is written only when its health changes or its last success is a
-- second older than the batch's (LAST_SUCCESS_RESOLUTION_MS in sqlite/sql/webhook-health.ts):
-- every claim of the webhook locks that row, and a write per completion batch made claims skip
-- it (fan-out 1 lost 12-15 % in npm run bench). Those rows are not locked either.

create function af_record_health(
  p_fresh text[], p_ids text[], p_webhook_ids text[], p_started_at bigint[],
  p_succeeded boolean[], p_statuses text[], p_triggers text[], p_errors text[],
  p_disable text[], p_now bigint[])
returns void
language plpgsql
-- Its one statement planned once per connection: it reads the batch's arrays and the webhooks by
-- primary key, a plan no table's statistics change. Planned per call (as af_complete_attempts
-- once was, and a nested call inherits its caller's setting) it cost ~400 µs of database CPU per
-- completion (npm run bench:pg-ops: completeAttempts 833 → 1,342 µs a call).
set plan_cache_mode = force_generic_plan
as $fn$
begin
  with o as (
    select u.webhook_id, u.started_at, u.succeeded, u.error, u.disable, u.now,
      u.trigger <> 'test' and u.error is distinct from 'endpoint_disabled' as counts,
      u.status = 'failed' and u.trigger = 'scheduled' as exhausted
    from unnest(p_ids, p_webhook_ids, p_started_at, p_succeeded, p_statuses, p_triggers,
                p_errors, p_disable, p_now)
      as u(id, webhook_id, started_at, succeeded, status, trigger, error, disable, now)
    where p_fresh is null or u.id = any(p_fresh)
  ),
  s as (
    select o.webhook_id, max(o.started_at) filter (where o.counts and o.succeeded) as success_at
    from o group by o.webhook_id
  ),
  b as (
    select o.webhook_id, s.success_at,
      max(o.started_at) filter (where o.counts and not o.succeeded) as failure_at,
      min(o.started_at) filter (where o.counts and not o.succeeded
                                  and o.started_at > coalesce(s.success_at, -1))
        as first_failure_at,
      count(*) filter (where o.counts and not o.succeeded and o.exhausted
                         and o.started_at > coalesce(s.success_at, -1)) as exhausted,
      (array_agg(o.error order by o.started_at desc)
         filter (where o.counts and not o.succeeded))[1] as last_error,
      bool_or(o.disable = 'gone') as gone,
      max(o.now) as now
    from o join s on s.webhook_id = o.webhook_id
    group by o.webhook_id, s.success_at
  ),
  changed as (
    select w.id from webhooks w join b on b.webhook_id = w.id
    where w.deleted_at is null and not w.listen
      and (b.failure_at is not null or b.gone
           or w.health_consecutive_failures > 0 or w.health_failing_since is not null
           or b.success_at >= coalesce(w.health_last_success_at, -1000) + 1000)
  ),
  old as (
    select w.id, w.active, w.health_failing_since, w.health_consecutive_failures
    from webhooks w join changed on changed.id = w.id
    order by w.id
    for no key update of w
  ),
  upd as (
    update webhooks w set
      health_failing_since = case when b.success_at is not null then b.first_failure_at
                                  else coalesce(w.health_failing_since, b.first_failure_at) end,
      health_consecutive_failures = case when b.success_at is not null then b.exhausted
                                         else w.health_consecutive_failures + b.exhausted end,
      health_last_success_at = greatest(w.health_last_success_at, b.success_at),
      health_last_failure_at = greatest(w.health_last_failure_at, b.failure_at)
    from b join old on old.id = b.webhook_id
    where w.id = b.webhook_id
    returning w.id, w.account_id, w.url, old.active,
      old.health_failing_since as old_since, old.health_consecutive_failures as old_failures,
      w.health_failing_since as since, w.health_consecutive_failures as failures,
      b.success_at, b.last_error, b.gone, b.now
  )
  insert into webhook_notices (account_id, webhook_id, url, kind, at, failing_since,
    failed_deliveries, last_error, reason)
  select n.account_id, n.id, n.url, n.kind, n.at, n.failing_since, n.failed_deliveries,
    n.last_error, n.reason
  from (
    select upd.account_id, upd.id, upd.url, 'recovered' as kind, upd.success_at as at,
      upd.old_since as failing_since, upd.old_failures as failed_deliveries,
      null::text as last_error, null::text as reason, 1 as ord
    from upd where upd.active and upd.success_at is not null and upd.old_failures > 0
    union all
    select upd.account_id, upd.id, upd.url, 'failing', upd.now, upd.since, upd.failures,
      upd.last_error, null, 2
    from upd
    where upd.active and upd.failures > 0 and (upd.old_failures = 0 or upd.success_at is not null)
    union all
    select upd.account_id, upd.id, upd.url, 'disabled', upd.now, null, null, null, 'gone', 3
    from upd where upd.active and upd.gone
  ) n
  order by n.id, n.ord;
end
$fn$;
