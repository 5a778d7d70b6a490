/**
 * Numbered migrations of the PostgreSQL store, applied in order by `migrate()` in one
 * transaction under an advisory lock (see `migrate.ts`). A migration, once released, never
 * changes: a change is a new migration.
 *
 * Times are `bigint` epoch milliseconds, not `timestamptz`: the store's interface speaks epoch ms
 * from an injected clock (tests run in 2024 on a fake clock), so every comparison is against a
 * value the caller passed in, never the database's `now()`. Storing ms keeps those comparisons
 * index-friendly and exact, with no conversion on either side; `to_timestamp(ms / 1000.0)` turns
 * them into dates for a human at `psql`.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
create table accounts (
  id text primary key,
  name text not null,
  created_at bigint not null
);

create table api_keys (
  id text primary key,
  account_id text not null,
  key_hash text not null unique,
  prefix text not null,
  created_at bigint not null
);
create index api_keys_account on api_keys (account_id);

-- A deleted webhook stays as a tombstone (deleted_at set): its deliveries' log stays readable,
-- and a worker that claims a delivery of a deleted webhook sees the tombstone (webhook null).
create table webhooks (
  id text primary key,
  account_id text not null,
  name text not null,
  url text not null,
  events text[] not null,
  active boolean not null,
  disabled_reason text,
  description text,
  headers_enc text,
  header_names text[] not null default '{}',
  metadata jsonb not null default '{}',
  secret_enc text not null,
  previous_secret_enc text,
  previous_secret_expires_at bigint,
  created_at bigint not null,
  updated_at bigint not null,
  deleted_at bigint
);
create index webhooks_account on webhooks (account_id, id desc) where deleted_at is null;

create table events (
  id text primary key,
  account_id text not null,
  event text not null,
  timestamp bigint not null,
  body text not null,
  deliveries integer not null
);
create index events_account on events (account_id, id desc);

-- Idempotency keys live in the database so that two api processes given the same key at the
-- same moment create one event: the second insert waits on the first one's unique-index entry.
create table idempotency_keys (
  account_id text not null,
  key text not null,
  request_hash text not null,
  event_id text not null,
  created_at bigint not null,
  primary key (account_id, key)
);
create index idempotency_keys_created on idempotency_keys (created_at);

-- A delivery is claimable when pending, due (next_attempt_at <= now) and not leased
-- (lease_until null or past). A lease is a visibility timeout: a worker that dies loses it
-- when lease_until passes, and another worker claims the delivery again.
create table deliveries (
  id text primary key,
  account_id text not null,
  event_id text not null references events (id),
  event text not null,
  webhook_id text not null,
  status text not null check (status in ('pending', 'succeeded', 'failed')),
  attempt_count integer not null default 0,
  next_attempt_at bigint,
  last_status_code integer,
  last_error text,
  created_at bigint not null,
  updated_at bigint not null,
  lease_owner text,
  lease_until bigint,
  -- What the next attempt is for; 'scheduled' unless a manual retry or a recover asked for it.
  trigger text not null default 'scheduled',
  -- Before a manual/recover attempt: the status and the due time to go back to.
  status_before text,
  resume_at bigint
);
create index deliveries_due on deliveries (next_attempt_at) where status = 'pending';
create index deliveries_webhook_due on deliveries (webhook_id, next_attempt_at, id)
  where status = 'pending';
create index deliveries_leased on deliveries (webhook_id, lease_until) where lease_owner is not null;
create index deliveries_lease_owner on deliveries (lease_owner) where lease_owner is not null;
create index deliveries_account on deliveries (account_id, id desc);
create index deliveries_webhook on deliveries (webhook_id, id desc);
create index deliveries_webhook_created on deliveries (webhook_id, created_at);
create index deliveries_event on deliveries (event_id);

create table attempts (
  id text primary key,
  delivery_id text not null references deliveries (id),
  account_id text not null,
  webhook_id text not null,
  number integer not null,
  started_at bigint not null,
  duration_ms integer not null,
  status_code integer,
  error text,
  request_headers jsonb not null,
  response_headers jsonb not null,
  response_body text,
  trigger text not null,
  succeeded boolean not null
);
create index attempts_delivery on attempts (delivery_id, number);
-- Stats over a window and the webhook's last delivery read this index.
create index attempts_webhook_started on attempts (webhook_id, started_at);
`,
  },
  {
    version: 2,
    name: 'autovacuum of deliveries',
    // Every attempt rewrites a delivery row: vacuum it well before the default 20 % of dead rows,
    // and keep its statistics fresh, since the claim's plan relies on them.
    sql: `
alter table deliveries set (
  autovacuum_vacuum_scale_factor = 0.02,
  autovacuum_analyze_scale_factor = 0.01
);
`,
  },
  {
    version: 3,
    name: 'claim and completion as functions',
    // One round trip each instead of begin, two to four statements and commit: on a 2-core
    // machine every round trip to the database costs a wake-up of another process. The statements
    // are those `sql/claim-due.ts` and `sql/complete-attempts.ts` describe, in the same order (so
    // the same locks in the same order); PL/pgSQL takes a new snapshot for each, as the
    // transaction of separate statements did. Neither needs its commit flushed to disk before it
    // answers (`synchronous_commit` off for that transaction only): a lease or an outcome lost in
    // a crash of the database leaves its delivery pending, sent again (at least once). Events are
    // still committed durably before the API answers 202.
    //
    // Each has one right way through the tables: the indexes made for it, walked in order and
    // stopped at the limit. Statistics can say otherwise for a while (autovacuum analyzes a
    // table at most once a minute, and never where it is off, as on the machine this was
    // measured on; a fresh database given a 20,000-delivery burst still has the statistics of
    // an empty one), and the planner then chooses to read every due delivery and sort them, on
    // every claim. So each statement is planned for its arguments at every
    // call (force_custom_plan: a plan made while the table was small is never kept), without
    // sequential or bitmap scans (and without JIT, see pool.ts). The measurements behind this
    // are in docs/performance.md.
    sql: `
create function af_claim_due(p_now bigint, p_cap int, p_limit int, p_owner text, p_lease_ms bigint)
returns table (claimed deliveries, e_timestamp bigint, e_body text, w_id text, w_url text,
  w_active boolean, w_headers_enc text, w_secret_enc text, w_previous_secret_enc text,
  w_previous_secret_expires_at bigint, w_deleted_at bigint)
language plpgsql
set plan_cache_mode = force_custom_plan set enable_seqscan = off set enable_bitmapscan = off
as $fn$
declare
  v_scan int := greatest(p_limit * 2, 50);
  v_scanned int;
  v_blocked int;
  v_ids text[];
  v_locked text[] := '{}';
  v_more text[];
begin
  if p_limit <= 0 or p_cap <= 0 then
    return;
  end if;
  perform set_config('synchronous_commit', 'off', true);

  -- Step 1: the head of the queue, and the webhooks in it with room under their cap (live
  -- leases counted for those webhooks only, on deliveries_leased, whatever the table's size).
  with head as (
    select x.webhook_id from deliveries x
    where x.status = 'pending' and x.next_attempt_at <= p_now
      and (x.lease_until is null or x.lease_until <= p_now)
    order by x.next_attempt_at
    limit v_scan
  ),
  live as (
    select x.webhook_id, count(*)::int as n from deliveries x
    where x.webhook_id = any(array(select distinct h.webhook_id from head h))
      and x.lease_owner is not null and x.lease_until > p_now
    group by x.webhook_id
  ),
  per as (
    select h.webhook_id, count(*)::int as n, greatest(0, p_cap - coalesce(max(l.n), 0)) as room
    from head h left join live l on l.webhook_id = h.webhook_id
    group by h.webhook_id
  )
  select (select count(*) from head)::int,
    coalesce((select sum(greatest(0, per.n - per.room)) from per), 0)::int,
    array(select per.webhook_id from per where per.room > 0)
  into v_scanned, v_blocked, v_ids;
  if v_scanned = 0 then
    return;
  end if;

  if not (v_scanned = v_scan and v_blocked > 0) then
    select coalesce(array_agg(s.id), '{}') into v_locked from (
      select wh.id from webhooks wh where wh.id = any(v_ids) order by wh.id
      for no key update skip locked
    ) s;
  end if;
  -- A full head may hide more work behind it: ask every webhook for its oldest due delivery.
  if v_scanned = v_scan and (v_blocked > 0 or cardinality(v_locked) < cardinality(v_ids)) then
    with live as (
      select x.webhook_id, count(*)::int as n from deliveries x
      where x.lease_owner is not null and x.lease_until > p_now
      group by x.webhook_id
    )
    select coalesce(array_agg(s.id), '{}') into v_more from (
      select wh.id from webhooks wh
      cross join lateral (
        select x.next_attempt_at from deliveries x
        where x.webhook_id = wh.id and x.status = 'pending' and x.next_attempt_at <= p_now
          and (x.lease_until is null or x.lease_until <= p_now)
        order by x.next_attempt_at
        limit 1
      ) due
      where wh.id not in (select live.webhook_id from live where live.n >= p_cap)
      order by due.next_attempt_at
      limit p_limit
      for no key update of wh skip locked
    ) s;
    v_locked := array(select distinct u from unnest(v_locked || v_more) u);
  end if;
  if cardinality(v_locked) = 0 then
    return;
  end if;

  -- Step 2, in a new snapshot taken after the locks: each locked webhook's oldest due
  -- deliveries, at most its cap minus its live leases, then the oldest p_limit of all.
  return query
  with live as (
    select x.webhook_id, count(*)::int as n from deliveries x
    where x.webhook_id = any(v_locked) and x.lease_owner is not null and x.lease_until > p_now
    group by x.webhook_id
  ),
  cand as (
    select y.id, y.webhook_id, y.next_attempt_at,
      row_number() over (partition by y.webhook_id order by y.next_attempt_at, y.id) as rn
    from unnest(v_locked) as w(id)
    cross join lateral (
      select x.id, x.webhook_id, x.next_attempt_at from deliveries x
      where x.webhook_id = w.id and x.status = 'pending' and x.next_attempt_at <= p_now
        and (x.lease_until is null or x.lease_until <= p_now)
      order by x.next_attempt_at, x.id
      limit p_cap
      for update of x skip locked
    ) y
  ),
  picked as (
    select cand.id from cand left join live on live.webhook_id = cand.webhook_id
    where cand.rn <= p_cap - coalesce(live.n, 0)
    order by cand.next_attempt_at, cand.id
    limit p_limit
  ),
  c as (
    update deliveries x set lease_owner = p_owner, lease_until = p_now + p_lease_ms
    from picked where x.id = picked.id
    returning x
  )
  select c.x, e.timestamp, e.body, wh.id, wh.url, wh.active, wh.headers_enc, wh.secret_enc,
    wh.previous_secret_enc, wh.previous_secret_expires_at, wh.deleted_at
  from c
  join events e on e.id = (c.x).event_id
  left join webhooks wh on wh.id = (c.x).webhook_id;
end
$fn$;

create function af_complete_attempts(
  p_ids text[], p_delivery_ids text[], p_account_ids text[], p_webhook_ids text[],
  p_numbers int[], p_started_at bigint[], p_duration_ms int[], p_status_codes int[],
  p_errors text[], p_request_headers text[], p_response_headers text[],
  p_response_bodies text[], p_triggers text[], p_succeeded boolean[], p_owners text[],
  p_statuses text[], p_next_attempt_at bigint[], p_now bigint[], p_disable text[])
returns void
language plpgsql
set plan_cache_mode = force_custom_plan set enable_seqscan = off set enable_bitmapscan = off
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
      trigger, succeeded)
    select u.id, u.delivery_id, u.account_id, u.webhook_id, u.number, u.started_at,
      u.duration_ms, u.status_code, u.error, u.request_headers::jsonb, u.response_headers::jsonb,
      u.response_body, u.trigger, u.succeeded
    from unnest(p_ids, p_delivery_ids, p_account_ids, p_webhook_ids, p_numbers, p_started_at,
                p_duration_ms, p_status_codes, p_errors, p_request_headers, p_response_headers,
                p_response_bodies, p_triggers, p_succeeded, p_owners)
      as u(id, delivery_id, account_id, webhook_id, number, started_at, duration_ms,
           status_code, error, request_headers, response_headers, response_body, trigger,
           succeeded, owner)
    where exists (select 1 from deliveries x where x.id = u.delivery_id
                  and (u.owner is null or x.lease_owner = u.owner))
    on conflict (id) do nothing
    returning attempts.id
  )
  select coalesce(array_agg(ins.id), '{}') into v_fresh from ins;
  if cardinality(v_fresh) = 0 then
    return;
  end if;

  -- Webhooks answered 410, before their deliveries' rows (the lock order of deleteWebhook).
  update webhooks wh set active = false, disabled_reason = u.reason, updated_at = u.now
  from (
    select distinct on (v.webhook_id) v.webhook_id, v.reason, v.now
    from unnest(p_ids, p_webhook_ids, p_disable, p_now) as v(attempt_id, webhook_id, reason, now)
    where v.reason is not null and v.attempt_id = any(v_fresh)
    order by v.webhook_id
  ) u
  where wh.id = u.webhook_id and wh.deleted_at is null;

  update deliveries x set
    status = u.status, attempt_count = u.number, next_attempt_at = u.next_attempt_at,
    last_status_code = u.status_code, last_error = u.error, updated_at = u.now,
    lease_owner = null, lease_until = null,
    trigger = 'scheduled', status_before = null, resume_at = null
  from unnest(p_ids, p_delivery_ids, p_statuses, p_numbers, p_next_attempt_at, p_status_codes,
              p_errors, p_now)
    as u(attempt_id, id, status, number, next_attempt_at, status_code, error, now)
  where x.id = u.id and u.attempt_id = any(v_fresh);
end
$fn$;

-- The engine's cycle in one round trip: write a batch of outcomes, then claim in the same
-- transaction, so the claim sees the slots the outcomes freed. The claim never waits on a lock
-- (it skips locked webhooks and deliveries), so holding the outcomes' row locks while it runs
-- cannot deadlock with deleteWebhook, which locks a webhook and then its deliveries.
create function af_complete_and_claim(
  p_ids text[], p_delivery_ids text[], p_account_ids text[], p_webhook_ids text[],
  p_numbers int[], p_started_at bigint[], p_duration_ms int[], p_status_codes int[],
  p_errors text[], p_request_headers text[], p_response_headers text[],
  p_response_bodies text[], p_triggers text[], p_succeeded boolean[], p_owners text[],
  p_statuses text[], p_next_attempt_at bigint[], p_now bigint[], p_disable text[],
  p_claim_now bigint, p_cap int, p_limit int, p_owner text, p_lease_ms bigint)
returns table (claimed deliveries, e_timestamp bigint, e_body text, w_id text, w_url text,
  w_active boolean, w_headers_enc text, w_secret_enc text, w_previous_secret_enc text,
  w_previous_secret_expires_at bigint, w_deleted_at bigint)
language plpgsql as $fn$
begin
  perform af_complete_attempts(p_ids, p_delivery_ids, p_account_ids, p_webhook_ids, p_numbers,
    p_started_at, p_duration_ms, p_status_codes, p_errors, p_request_headers,
    p_response_headers, p_response_bodies, p_triggers, p_succeeded, p_owners, p_statuses,
    p_next_attempt_at, p_now, p_disable);
  return query select * from af_claim_due(p_claim_now, p_cap, p_limit, p_owner, p_lease_ms);
end
$fn$;
`,
  },
  {
    version: 4,
    name: 'one worker at a time per webhook, and refills',
    // A webhook another owner holds live leases on has no room for this claim (its live leases
    // count as the whole cap): one worker at a time sends to a webhook, so that worker alone
    // keeps its attempts in flight under AF_ENDPOINT_CONCURRENCY and may lease the next
    // deliveries ahead, to start each the moment an attempt ends instead of after the database
    // has recorded the outcome (see the engine).
    //
    // The engine's cycle on a busy endpoint writes a batch of outcomes and claims the next
    // deliveries of the same webhooks. af_claim_due searches the whole queue for it (the head of
    // deliveries_due, then, behind one endpoint's backlog, every webhook); af_refill locks the
    // given webhooks (skipping those locked) and runs only the claim's second step for them,
    // af_claim_locked, which af_claim_due calls as well: the same statement and rules, in a new
    // snapshot after the locks.
    sql: `
create function af_claim_locked(p_locked text[], p_now bigint, p_cap int, p_limit int,
  p_owner text, p_lease_ms bigint)
returns table (claimed deliveries, e_timestamp bigint, e_body text, w_id text, w_url text,
  w_active boolean, w_headers_enc text, w_secret_enc text, w_previous_secret_enc text,
  w_previous_secret_expires_at bigint, w_deleted_at bigint)
language plpgsql
set plan_cache_mode = force_custom_plan set enable_seqscan = off set enable_bitmapscan = off
as $fn$
begin
  -- Step 2 of a claim (af_claim_due, af_refill), in a new snapshot taken after the caller
  -- locked p_locked: each webhook's oldest due deliveries, at most its cap minus its live
  -- leases (another owner's count as the whole cap), then the oldest p_limit of all.
  return query
  with live as (
    select x.webhook_id,
      case when bool_or(x.lease_owner <> p_owner) then p_cap else count(*)::int end as n
    from deliveries x
    where x.webhook_id = any(p_locked) and x.lease_owner is not null and x.lease_until > p_now
    group by x.webhook_id
  ),
  cand as (
    select y.id, y.webhook_id, y.next_attempt_at,
      row_number() over (partition by y.webhook_id order by y.next_attempt_at, y.id) as rn
    from unnest(p_locked) as w(id)
    cross join lateral (
      select x.id, x.webhook_id, x.next_attempt_at from deliveries x
      where x.webhook_id = w.id and x.status = 'pending' and x.next_attempt_at <= p_now
        and (x.lease_until is null or x.lease_until <= p_now)
      order by x.next_attempt_at, x.id
      limit p_cap
      for update of x skip locked
    ) y
  ),
  picked as (
    select cand.id from cand left join live on live.webhook_id = cand.webhook_id
    where cand.rn <= p_cap - coalesce(live.n, 0)
    order by cand.next_attempt_at, cand.id
    limit p_limit
  ),
  c as (
    update deliveries x set lease_owner = p_owner, lease_until = p_now + p_lease_ms
    from picked where x.id = picked.id
    returning x
  )
  select c.x, e.timestamp, e.body, wh.id, wh.url, wh.active, wh.headers_enc, wh.secret_enc,
    wh.previous_secret_enc, wh.previous_secret_expires_at, wh.deleted_at
  from c
  join events e on e.id = (c.x).event_id
  left join webhooks wh on wh.id = (c.x).webhook_id;
end
$fn$;

create or replace function af_claim_due(p_now bigint, p_cap int, p_limit int, p_owner text, p_lease_ms bigint)
returns table (claimed deliveries, e_timestamp bigint, e_body text, w_id text, w_url text,
  w_active boolean, w_headers_enc text, w_secret_enc text, w_previous_secret_enc text,
  w_previous_secret_expires_at bigint, w_deleted_at bigint)
language plpgsql
set plan_cache_mode = force_custom_plan set enable_seqscan = off set enable_bitmapscan = off
as $fn$
declare
  v_scan int := greatest(p_limit * 2, 50);
  v_scanned int;
  v_blocked int;
  v_ids text[];
  v_locked text[] := '{}';
  v_more text[];
begin
  if p_limit <= 0 or p_cap <= 0 then
    return;
  end if;
  perform set_config('synchronous_commit', 'off', true);

  -- Step 1: the head of the queue, and the webhooks in it with room under their cap (live
  -- leases counted for those webhooks only, on deliveries_leased, whatever the table's size).
  -- A webhook another owner holds live leases on has no room: it is that owner's for now.
  with head as (
    select x.webhook_id from deliveries x
    where x.status = 'pending' and x.next_attempt_at <= p_now
      and (x.lease_until is null or x.lease_until <= p_now)
    order by x.next_attempt_at
    limit v_scan
  ),
  live as (
    select x.webhook_id,
      case when bool_or(x.lease_owner <> p_owner) then p_cap else count(*)::int end as n
    from deliveries x
    where x.webhook_id = any(array(select distinct h.webhook_id from head h))
      and x.lease_owner is not null and x.lease_until > p_now
    group by x.webhook_id
  ),
  per as (
    select h.webhook_id, count(*)::int as n, greatest(0, p_cap - coalesce(max(l.n), 0)) as room
    from head h left join live l on l.webhook_id = h.webhook_id
    group by h.webhook_id
  )
  select (select count(*) from head)::int,
    coalesce((select sum(greatest(0, per.n - per.room)) from per), 0)::int,
    array(select per.webhook_id from per where per.room > 0)
  into v_scanned, v_blocked, v_ids;
  if v_scanned = 0 then
    return;
  end if;

  if not (v_scanned = v_scan and v_blocked > 0) then
    select coalesce(array_agg(s.id), '{}') into v_locked from (
      select wh.id from webhooks wh where wh.id = any(v_ids) order by wh.id
      for no key update skip locked
    ) s;
  end if;
  -- A full head may hide more work behind it: ask every webhook for its oldest due delivery.
  if v_scanned = v_scan and (v_blocked > 0 or cardinality(v_locked) < cardinality(v_ids)) then
    with live as (
      select x.webhook_id,
        case when bool_or(x.lease_owner <> p_owner) then p_cap else count(*)::int end as n
      from deliveries x
      where x.lease_owner is not null and x.lease_until > p_now
      group by x.webhook_id
    )
    select coalesce(array_agg(s.id), '{}') into v_more from (
      select wh.id from webhooks wh
      cross join lateral (
        select x.next_attempt_at from deliveries x
        where x.webhook_id = wh.id and x.status = 'pending' and x.next_attempt_at <= p_now
          and (x.lease_until is null or x.lease_until <= p_now)
        order by x.next_attempt_at
        limit 1
      ) due
      where wh.id not in (select live.webhook_id from live where live.n >= p_cap)
      order by due.next_attempt_at
      limit p_limit
      for no key update of wh skip locked
    ) s;
    v_locked := array(select distinct u from unnest(v_locked || v_more) u);
  end if;
  if cardinality(v_locked) = 0 then
    return;
  end if;

  -- Step 2, in a new snapshot taken after the locks: each locked webhook's oldest due
  -- deliveries, at most its cap minus its live leases, then the oldest p_limit of all.
  return query select * from af_claim_locked(v_locked, p_now, p_cap, p_limit, p_owner, p_lease_ms);
end
$fn$;

create function af_refill(p_webhooks text[], p_now bigint, p_cap int, p_limit int, p_owner text,
  p_lease_ms bigint)
returns table (claimed deliveries, e_timestamp bigint, e_body text, w_id text, w_url text,
  w_active boolean, w_headers_enc text, w_secret_enc text, w_previous_secret_enc text,
  w_previous_secret_expires_at bigint, w_deleted_at bigint)
language plpgsql
set plan_cache_mode = force_custom_plan set enable_seqscan = off set enable_bitmapscan = off
as $fn$
declare
  v_locked text[];
begin
  if p_limit <= 0 or p_cap <= 0 then
    return;
  end if;
  perform set_config('synchronous_commit', 'off', true);
  select coalesce(array_agg(s.id), '{}') into v_locked from (
    select wh.id from webhooks wh where wh.id = any(p_webhooks) order by wh.id
    for no key update skip locked
  ) s;
  if cardinality(v_locked) = 0 then
    return;
  end if;
  return query select * from af_claim_locked(v_locked, p_now, p_cap, p_limit, p_owner, p_lease_ms);
end
$fn$;

create function af_complete_and_refill(
  p_ids text[], p_delivery_ids text[], p_account_ids text[], p_webhook_ids text[],
  p_numbers int[], p_started_at bigint[], p_duration_ms int[], p_status_codes int[],
  p_errors text[], p_request_headers text[], p_response_headers text[],
  p_response_bodies text[], p_triggers text[], p_succeeded boolean[], p_owners text[],
  p_statuses text[], p_next_attempt_at bigint[], p_now bigint[], p_disable text[],
  p_webhooks text[], p_claim_now bigint, p_cap int, p_limit int, p_owner text, p_lease_ms bigint)
returns table (claimed deliveries, e_timestamp bigint, e_body text, w_id text, w_url text,
  w_active boolean, w_headers_enc text, w_secret_enc text, w_previous_secret_enc text,
  w_previous_secret_expires_at bigint, w_deleted_at bigint)
language plpgsql as $fn$
begin
  perform af_complete_attempts(p_ids, p_delivery_ids, p_account_ids, p_webhook_ids, p_numbers,
    p_started_at, p_duration_ms, p_status_codes, p_errors, p_request_headers,
    p_response_headers, p_response_bodies, p_triggers, p_succeeded, p_owners, p_statuses,
    p_next_attempt_at, p_now, p_disable);
  return query select * from af_refill(p_webhooks, p_claim_now, p_cap, p_limit, p_owner,
    p_lease_ms);
end
$fn$;
`,
  },
  {
    version: 5,
    name: 'response bodies of any bytes, fair claims',
    // Attempts record the encoding of their response body (`utf8` text, or `base64` of bytes
    // that are not: PostgreSQL text cannot hold NUL). Claims take `p_fair` (ClaimOptions.fairness
    // as {caps, room, share}, or null): a lower lease cap for some webhooks, and a number of
    // deliveries per account this claim may lease, so one account never takes a whole worker.
    // The functions are those of migrations 3 and 4 with these two changes.
    sql: `
alter table attempts add column response_body_encoding text;

drop function af_complete_and_claim(text[], text[], text[], text[], int[], bigint[], int[], int[],
  text[], text[], text[], text[], text[], boolean[], text[], text[], bigint[], bigint[], text[],
  bigint, int, int, text, bigint);
drop function af_complete_and_refill(text[], text[], text[], text[], int[], bigint[], int[],
  int[], text[], text[], text[], text[], text[], boolean[], text[], text[], bigint[], bigint[],
  text[], text[], bigint, int, int, text, bigint);
drop function af_complete_attempts(text[], text[], text[], text[], int[], bigint[], int[], int[],
  text[], text[], text[], text[], text[], boolean[], text[], text[], bigint[], bigint[], text[]);
drop function af_refill(text[], bigint, int, int, text, bigint);
drop function af_claim_due(bigint, int, int, text, bigint);
drop function af_claim_locked(text[], bigint, int, int, text, bigint);

-- A webhook's lease cap: p_cap, or lower for a webhook the worker slowed down.
create function af_webhook_cap(p_fair jsonb, p_webhook text, p_cap int) returns int
language sql immutable as $$
  select least(p_cap, coalesce((p_fair->'caps'->>p_webhook)::int, p_cap))
$$;

-- How many deliveries of the account this claim may lease.
create function af_account_room(p_fair jsonb, p_account text) returns int
language sql immutable as $$
  select case when p_fair is null then 2147483647
    else coalesce((p_fair->'room'->>p_account)::int, (p_fair->>'share')::int) end
$$;

create function af_claim_locked(p_locked text[], p_now bigint, p_cap int, p_limit int,
  p_owner text, p_lease_ms bigint, p_fair jsonb)
returns table (claimed deliveries, e_timestamp bigint, e_body text, w_id text, w_url text,
  w_active boolean, w_headers_enc text, w_secret_enc text, w_previous_secret_enc text,
  w_previous_secret_expires_at bigint, w_deleted_at bigint)
language plpgsql
set plan_cache_mode = force_custom_plan set enable_seqscan = off set enable_bitmapscan = off
as $fn$
begin
  -- Step 2 of a claim (af_claim_due, af_refill), in a new snapshot taken after the caller
  -- locked p_locked: each webhook's oldest due deliveries, at most its cap minus its live
  -- leases (another owner's count as the whole cap), within each account's room, then the
  -- oldest p_limit of all.
  return query
  with caps as (
    select w.id, af_webhook_cap(p_fair, w.id, p_cap) as cap from unnest(p_locked) as w(id)
  ),
  live as (
    select x.webhook_id,
      case when bool_or(x.lease_owner <> p_owner) then p_cap else count(*)::int end as n
    from deliveries x
    where x.webhook_id = any(p_locked) and x.lease_owner is not null and x.lease_until > p_now
    group by x.webhook_id
  ),
  cand as (
    select y.id, y.webhook_id, y.account_id, y.next_attempt_at, caps.cap,
      row_number() over (partition by y.webhook_id order by y.next_attempt_at, y.id) as rn
    from caps
    cross join lateral (
      select x.id, x.webhook_id, x.account_id, x.next_attempt_at from deliveries x
      where x.webhook_id = caps.id and x.status = 'pending' and x.next_attempt_at <= p_now
        and (x.lease_until is null or x.lease_until <= p_now)
      order by x.next_attempt_at, x.id
      limit caps.cap
      for update of x skip locked
    ) y
  ),
  fit as (
    select cand.id, cand.account_id, cand.next_attempt_at,
      row_number() over (partition by cand.account_id order by cand.next_attempt_at, cand.id)
        as an
    from cand left join live on live.webhook_id = cand.webhook_id
    where cand.rn <= cand.cap - coalesce(live.n, 0)
  ),
  picked as (
    select fit.id from fit
    where p_fair is null or fit.an <= af_account_room(p_fair, fit.account_id)
    order by fit.next_attempt_at, fit.id
    limit p_limit
  ),
  c as (
    update deliveries x set lease_owner = p_owner, lease_until = p_now + p_lease_ms
    from picked where x.id = picked.id
    returning x
  )
  select c.x, e.timestamp, e.body, wh.id, wh.url, wh.active, wh.headers_enc, wh.secret_enc,
    wh.previous_secret_enc, wh.previous_secret_expires_at, wh.deleted_at
  from c
  join events e on e.id = (c.x).event_id
  left join webhooks wh on wh.id = (c.x).webhook_id;
end
$fn$;

create function af_claim_due(p_now bigint, p_cap int, p_limit int, p_owner text,
  p_lease_ms bigint, p_fair jsonb)
returns table (claimed deliveries, e_timestamp bigint, e_body text, w_id text, w_url text,
  w_active boolean, w_headers_enc text, w_secret_enc text, w_previous_secret_enc text,
  w_previous_secret_expires_at bigint, w_deleted_at bigint)
language plpgsql
set plan_cache_mode = force_custom_plan set enable_seqscan = off set enable_bitmapscan = off
as $fn$
declare
  v_scan int := greatest(p_limit * 2, 50);
  v_scanned int;
  v_blocked int;
  v_ids text[];
  v_locked text[] := '{}';
  v_more text[];
begin
  if p_limit <= 0 or p_cap <= 0 then
    return;
  end if;
  perform set_config('synchronous_commit', 'off', true);

  -- Step 1: the head of the queue, and the webhooks in it with room under their cap (live
  -- leases counted for those webhooks only, on deliveries_leased, whatever the table's size)
  -- and whose account has room. A webhook another owner holds live leases on has no room.
  with head as (
    select x.webhook_id, x.account_id from deliveries x
    where x.status = 'pending' and x.next_attempt_at <= p_now
      and (x.lease_until is null or x.lease_until <= p_now)
    order by x.next_attempt_at
    limit v_scan
  ),
  live as (
    select x.webhook_id,
      case when bool_or(x.lease_owner <> p_owner) then p_cap else count(*)::int end as n
    from deliveries x
    where x.webhook_id = any(array(select distinct h.webhook_id from head h))
      and x.lease_owner is not null and x.lease_until > p_now
    group by x.webhook_id
  ),
  per as (
    select h.webhook_id, count(*)::int as n,
      case when af_account_room(p_fair, min(h.account_id)) <= 0 then 0
        else greatest(0, af_webhook_cap(p_fair, h.webhook_id, p_cap) - coalesce(max(l.n), 0))
      end as room
    from head h left join live l on l.webhook_id = h.webhook_id
    group by h.webhook_id
  )
  select (select count(*) from head)::int,
    coalesce((select sum(greatest(0, per.n - per.room)) from per), 0)::int,
    array(select per.webhook_id from per where per.room > 0)
  into v_scanned, v_blocked, v_ids;
  if v_scanned = 0 then
    return;
  end if;

  if not (v_scanned = v_scan and v_blocked > 0) then
    select coalesce(array_agg(s.id), '{}') into v_locked from (
      select wh.id from webhooks wh where wh.id = any(v_ids) order by wh.id
      for no key update skip locked
    ) s;
  end if;
  -- A full head may hide more work behind it: ask every webhook for its oldest due delivery.
  if v_scanned = v_scan and (v_blocked > 0 or cardinality(v_locked) < cardinality(v_ids)) then
    with live as (
      select x.webhook_id,
        case when bool_or(x.lease_owner <> p_owner) then p_cap else count(*)::int end as n
      from deliveries x
      where x.lease_owner is not null and x.lease_until > p_now
      group by x.webhook_id
    )
    select coalesce(array_agg(s.id), '{}') into v_more from (
      select wh.id from webhooks wh
      cross join lateral (
        select x.next_attempt_at from deliveries x
        where x.webhook_id = wh.id and x.status = 'pending' and x.next_attempt_at <= p_now
          and (x.lease_until is null or x.lease_until <= p_now)
        order by x.next_attempt_at
        limit 1
      ) due
      where wh.id not in (select live.webhook_id from live
          where live.n >= af_webhook_cap(p_fair, live.webhook_id, p_cap))
        and af_account_room(p_fair, wh.account_id) > 0
      order by due.next_attempt_at
      limit p_limit
      for no key update of wh skip locked
    ) s;
    v_locked := array(select distinct u from unnest(v_locked || v_more) u);
  end if;
  if cardinality(v_locked) = 0 then
    return;
  end if;

  return query select * from af_claim_locked(v_locked, p_now, p_cap, p_limit, p_owner,
    p_lease_ms, p_fair);
end
$fn$;

create function af_refill(p_webhooks text[], p_now bigint, p_cap int, p_limit int, p_owner text,
  p_lease_ms bigint, p_fair jsonb)
returns table (claimed deliveries, e_timestamp bigint, e_body text, w_id text, w_url text,
  w_active boolean, w_headers_enc text, w_secret_enc text, w_previous_secret_enc text,
  w_previous_secret_expires_at bigint, w_deleted_at bigint)
language plpgsql
set plan_cache_mode = force_custom_plan set enable_seqscan = off set enable_bitmapscan = off
as $fn$
declare
  v_locked text[];
begin
  if p_limit <= 0 or p_cap <= 0 then
    return;
  end if;
  perform set_config('synchronous_commit', 'off', true);
  select coalesce(array_agg(s.id), '{}') into v_locked from (
    select wh.id from webhooks wh
    where wh.id = any(p_webhooks) and af_account_room(p_fair, wh.account_id) > 0
    order by wh.id
    for no key update skip locked
  ) s;
  if cardinality(v_locked) = 0 then
    return;
  end if;
  return query select * from af_claim_locked(v_locked, p_now, p_cap, p_limit, p_owner,
    p_lease_ms, p_fair);
end
$fn$;

create function af_complete_attempts(p_ids text[], p_delivery_ids text[], p_account_ids text[], p_webhook_ids text[],
  p_numbers int[], p_started_at bigint[], p_duration_ms int[], p_status_codes int[],
  p_errors text[], p_request_headers text[], p_response_headers text[],
  p_response_bodies text[], p_body_encodings text[], p_triggers text[], p_succeeded boolean[],
  p_owners text[], p_statuses text[], p_next_attempt_at bigint[], p_now bigint[],
  p_disable text[])
returns void
language plpgsql
set plan_cache_mode = force_custom_plan set enable_seqscan = off set enable_bitmapscan = off
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
    where exists (select 1 from deliveries x where x.id = u.delivery_id
                  and (u.owner is null or x.lease_owner = u.owner))
    on conflict (id) do nothing
    returning attempts.id
  )
  select coalesce(array_agg(ins.id), '{}') into v_fresh from ins;
  if cardinality(v_fresh) = 0 then
    return;
  end if;

  -- Webhooks answered 410, before their deliveries' rows (the lock order of deleteWebhook).
  update webhooks wh set active = false, disabled_reason = u.reason, updated_at = u.now
  from (
    select distinct on (v.webhook_id) v.webhook_id, v.reason, v.now
    from unnest(p_ids, p_webhook_ids, p_disable, p_now) as v(attempt_id, webhook_id, reason, now)
    where v.reason is not null and v.attempt_id = any(v_fresh)
    order by v.webhook_id
  ) u
  where wh.id = u.webhook_id and wh.deleted_at is null;

  update deliveries x set
    status = u.status, attempt_count = u.number, next_attempt_at = u.next_attempt_at,
    last_status_code = u.status_code, last_error = u.error, updated_at = u.now,
    lease_owner = null, lease_until = null,
    trigger = 'scheduled', status_before = null, resume_at = null
  from unnest(p_ids, p_delivery_ids, p_statuses, p_numbers, p_next_attempt_at, p_status_codes,
              p_errors, p_now)
    as u(attempt_id, id, status, number, next_attempt_at, status_code, error, now)
  where x.id = u.id and u.attempt_id = any(v_fresh);
end
$fn$;

create function af_complete_and_claim(p_ids text[], p_delivery_ids text[], p_account_ids text[], p_webhook_ids text[],
  p_numbers int[], p_started_at bigint[], p_duration_ms int[], p_status_codes int[],
  p_errors text[], p_request_headers text[], p_response_headers text[],
  p_response_bodies text[], p_body_encodings text[], p_triggers text[], p_succeeded boolean[],
  p_owners text[], p_statuses text[], p_next_attempt_at bigint[], p_now bigint[],
  p_disable text[],
  p_claim_now bigint, p_cap int, p_limit int, p_owner text, p_lease_ms bigint, p_fair jsonb)
returns table (claimed deliveries, e_timestamp bigint, e_body text, w_id text, w_url text,
  w_active boolean, w_headers_enc text, w_secret_enc text, w_previous_secret_enc text,
  w_previous_secret_expires_at bigint, w_deleted_at bigint)
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

create function af_complete_and_refill(p_ids text[], p_delivery_ids text[], p_account_ids text[], p_webhook_ids text[],
  p_numbers int[], p_started_at bigint[], p_duration_ms int[], p_status_codes int[],
  p_errors text[], p_request_headers text[], p_response_headers text[],
  p_response_bodies text[], p_body_encodings text[], p_triggers text[], p_succeeded boolean[],
  p_owners text[], p_statuses text[], p_next_attempt_at bigint[], p_now bigint[],
  p_disable text[],
  p_webhooks text[], p_claim_now bigint, p_cap int, p_limit int, p_owner text,
  p_lease_ms bigint, p_fair jsonb)
returns table (claimed deliveries, e_timestamp bigint, e_body text, w_id text, w_url text,
  w_active boolean, w_headers_enc text, w_secret_enc text, w_previous_secret_enc text,
  w_previous_secret_expires_at bigint, w_deleted_at bigint)
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
`,
  },
];
