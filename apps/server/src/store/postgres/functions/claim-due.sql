-- The claim: which due deliveries a worker leases now. `af_claim_due` searches the whole queue,
-- `af_refill` only the webhooks it is given; both lock webhooks, then run `af_claim_locked`, the
-- claim's second step, in a new snapshot. ../sql/claim-due.ts calls them and explains the rule
-- and its two steps. migrate() installs this file after the migrations, whenever its text
-- changes (the functions are dropped and created again, so each is defined here only).
--
-- Functions, so that a claim is one round trip instead of begin, two to four statements and
-- commit: on a 2-core machine every round trip to the database costs a wake-up of another
-- process. PL/pgSQL takes a new snapshot for each statement, as a transaction of separate
-- statements would. A claim does not wait for its commit to reach the disk
-- (`synchronous_commit` off for its own transaction): a lease lost in a crash of the database
-- leaves its delivery pending, to be claimed again.
--
-- Each statement has one right way through the tables: the indexes made for it, walked in order
-- and stopped at the limit. Statistics can say otherwise for a while (autovacuum analyzes a
-- table at most once a minute, and never where it is off; a fresh database given a burst of
-- deliveries still has the statistics of an empty one), and the planner then chooses to read
-- every due delivery and sort them, on every claim. So no statement here may use a sequential
-- or bitmap scan (nor JIT, see pool.ts), and how often each is planned depends on how many ways
-- it has left:
-- - Every statement but one is planned once per connection (force_generic_plan): each starts
--   from the webhooks it is given, from primary keys, or from the head of deliveries_due, and
--   walks deliveries_due, deliveries_webhook_due or delivery_leases_webhook in order, the only
--   plans without those scans, whatever the statistics. The benchmark makes these plans on an empty
--   database (the warm-up) and then fills it; planning them per call was a quarter of the
--   database's CPU at fan-out 1.
-- - The walk of af_claim_due (every webhook's oldest due delivery, when the head is blocked) is
--   planned for its arguments at every run (EXECUTE): a generic plan of it made a worker beside
--   another one that held the webhook claim at 1,171-1,769/s instead of 2,227-2,296/s (api + 2
--   workers, fan-out 1).
-- The measurements behind this are in docs/performance.md.
--
-- One worker at a time sends to a webhook: a webhook another owner holds live leases on has no
-- room for this claim (those leases count as more than any cap), so that worker alone keeps its
-- attempts in flight under AF_ENDPOINT_CONCURRENCY and may lease the next deliveries ahead, to
-- start each the moment an attempt ends.
--
-- A listen session's deliveries (`listen`) are claimed only by its connection, with a refill
-- naming the session (af_refill); af_claim_due leaves them out of its head (they are not in
-- `deliveries_due`) and its walk over the webhooks skips sessions.
--
-- `p_fair` is ClaimOptions.fairness as {caps, room, share}, or null for no such rule: a lower
-- lease cap for some webhooks, and how many deliveries of each account this claim may lease, so
-- that one account never takes a whole worker.

-- A claimed delivery's own columns: those `deliveries` had when the claims became functions,
-- a type of their own rather than the table's row type. A column added to `deliveries` since
-- (`listen`, migration 0007) would otherwise change what `(claimed).*` expands to, and every
-- claim statement a running process had prepared before the migration (the previous release's,
-- during a rolling deploy) would fail with "cached plan must not change result type".
-- lease_owner and lease_until are the lease the claim took (a row of delivery_leases since
-- migration 0013).
create type af_delivery as (
  id text,
  account_id text,
  event_id text,
  event text,
  webhook_id text,
  status text,
  attempt_count integer,
  next_attempt_at bigint,
  last_status_code integer,
  last_error text,
  created_at bigint,
  updated_at bigint,
  lease_owner text,
  lease_until bigint,
  trigger text,
  status_before text,
  resume_at bigint
);

-- One claimed delivery: its row, then what sending it needs of its event (`e_*`) and of its
-- webhook (`w_*`: w_deleted_at set for a deleted webhook's tombstone). Every claim function
-- returns a set of these; rows.ts (`claimedRow`) maps one to a ClaimedDelivery.
create type af_claimed_delivery as (
  claimed af_delivery,
  e_timestamp bigint,
  e_body text,
  w_id text,
  w_url text,
  w_active boolean,
  w_headers_enc text,
  w_secret_enc text,
  w_previous_secret_enc text,
  w_previous_secret_expires_at bigint,
  w_deleted_at bigint
);

-- A webhook's lease cap: p_cap, or the worker's own for it (lower for a webhook it slowed down,
-- higher for one that answers fast).
create function af_webhook_cap(p_fair jsonb, p_webhook text, p_cap int) returns int
language sql immutable as $$
  select coalesce((p_fair->'caps'->>p_webhook)::int, p_cap)
$$;

-- How many deliveries of the account this claim may lease.
create function af_account_room(p_fair jsonb, p_account text) returns int
language sql immutable as $$
  select case when p_fair is null then 2147483647
    else coalesce((p_fair->'room'->>p_account)::int, (p_fair->>'share')::int) end
$$;

create function af_claim_locked(p_locked text[], p_now bigint, p_cap int, p_limit int,
  p_owner text, p_lease_ms bigint, p_fair jsonb)
returns setof af_claimed_delivery
language plpgsql
set plan_cache_mode = force_generic_plan set enable_seqscan = off set enable_bitmapscan = off
as $fn$
begin
  -- Step 2 of a claim (af_claim_due, af_refill), in a new snapshot taken after the caller
  -- locked p_locked: each webhook's oldest due deliveries, at most its cap minus its live
  -- leases (another owner's count as more than any cap), within each account's room, then the
  -- oldest p_limit of all.
  return query
  with caps as (
    select w.id, af_webhook_cap(p_fair, w.id, p_cap) as cap from unnest(p_locked) as w(id)
  ),
  live as (
    select l.webhook_id,
      case when bool_or(l.owner <> p_owner) then 2147483647 else count(*)::int end as n
    from delivery_leases l
    where l.webhook_id = any(p_locked) and l.until > p_now
    group by l.webhook_id
  ),
  cand as (
    select y.id, y.webhook_id, y.account_id, y.next_attempt_at, caps.cap,
      row_number() over (partition by y.webhook_id order by y.next_attempt_at, y.id) as rn
    from caps
    cross join lateral (
      select x.id, x.webhook_id, x.account_id, x.next_attempt_at from deliveries x
      where x.webhook_id = caps.id and x.status = 'pending' and x.next_attempt_at <= p_now
        and not exists (select 1 from delivery_leases l
                        where l.delivery_id = x.id and l.until > p_now)
      order by x.next_attempt_at, x.id
      limit caps.cap
      for update of x skip locked
    ) y
  ),
  fit as (
    select cand.id, cand.webhook_id, cand.account_id, cand.next_attempt_at,
      row_number() over (partition by cand.account_id order by cand.next_attempt_at, cand.id)
        as an
    from cand left join live on live.webhook_id = cand.webhook_id
    where cand.rn <= cand.cap - coalesce(live.n, 0)
  ),
  picked as (
    select fit.id, fit.webhook_id from fit
    where p_fair is null or fit.an <= af_account_room(p_fair, fit.account_id)
    order by fit.next_attempt_at, fit.id
    limit p_limit
  ),
  -- The leases: a row each in delivery_leases (migration 0013), not a new version of the
  -- delivery's. An expired lease left by a worker that died is taken over; a live one never.
  c as (
    insert into delivery_leases as l (delivery_id, webhook_id, owner, until)
    select picked.id, picked.webhook_id, p_owner, p_now + p_lease_ms from picked
    on conflict (delivery_id) do update
      set webhook_id = excluded.webhook_id, owner = excluded.owner, until = excluded.until
      where l.until <= p_now
    returning l.delivery_id, l.owner, l.until
  )
  select row(x.id, x.account_id, x.event_id, x.event, x.webhook_id, x.status, x.attempt_count,
      x.next_attempt_at, x.last_status_code, x.last_error, x.created_at, x.updated_at, c.owner,
      c.until, x.trigger, x.status_before, x.resume_at)::af_delivery,
    e.timestamp, e.body, wh.id, wh.url, wh.active, wh.headers_enc, wh.secret_enc,
    wh.previous_secret_enc, wh.previous_secret_expires_at, wh.deleted_at
  from c
  join deliveries x on x.id = c.delivery_id
  join events e on e.id = x.event_id
  left join webhooks wh on wh.id = x.webhook_id;
end
$fn$;

-- The claim of ClaimOptions without `webhooks`: step 1 picks and locks the webhooks.
create function af_claim_due(p_now bigint, p_cap int, p_limit int, p_owner text,
  p_lease_ms bigint, p_fair jsonb)
returns setof af_claimed_delivery
language plpgsql
set plan_cache_mode = force_generic_plan set enable_seqscan = off set enable_bitmapscan = off
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
  -- leases counted for those webhooks only, on delivery_leases_webhook) and whose account has
  -- room. A webhook another owner holds live leases on has no room.
  with head as (
    select x.webhook_id, x.account_id from deliveries x
    where x.status = 'pending' and not x.listen and x.next_attempt_at <= p_now
      and not exists (select 1 from delivery_leases l
                      where l.delivery_id = x.id and l.until > p_now)
    order by x.next_attempt_at
    limit v_scan
  ),
  live as (
    select l.webhook_id,
      case when bool_or(l.owner <> p_owner) then 2147483647 else count(*)::int end as n
    from delivery_leases l
    where l.webhook_id = any(array(select distinct h.webhook_id from head h))
      and l.until > p_now
    group by l.webhook_id
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
  -- Planned for its arguments at every run (EXECUTE), unlike the rest of the function: see the
  -- file's header.
  if v_scanned = v_scan and (v_blocked > 0 or cardinality(v_locked) < cardinality(v_ids)) then
    execute $walk$
      with live as (
        select l.webhook_id,
          case when bool_or(l.owner <> $2) then 2147483647 else count(*)::int end as n
        from delivery_leases l
        where l.until > $1
        group by l.webhook_id
      )
      select coalesce(array_agg(s.id), '{}') from (
        select wh.id from webhooks wh
        cross join lateral (
          select x.next_attempt_at from deliveries x
          where x.webhook_id = wh.id and x.status = 'pending' and x.next_attempt_at <= $1
            and not exists (select 1 from delivery_leases l
                            where l.delivery_id = x.id and l.until > $1)
          order by x.next_attempt_at
          limit 1
        ) due
        where not wh.listen
          and wh.id not in (select live.webhook_id from live
            where live.n >= af_webhook_cap($4, live.webhook_id, $3))
          and af_account_room($4, wh.account_id) > 0
        order by due.next_attempt_at
        limit $5
        for no key update of wh skip locked
      ) s
    $walk$ into v_more using p_now, p_owner, p_cap, p_fair, p_limit;
    v_locked := array(select distinct u from unnest(v_locked || v_more) u);
  end if;
  if cardinality(v_locked) = 0 then
    return;
  end if;

  -- Step 2, in a new snapshot taken after the locks.
  return query select * from af_claim_locked(v_locked, p_now, p_cap, p_limit, p_owner,
    p_lease_ms, p_fair);
end
$fn$;

-- A refill (ClaimOptions.webhooks, the engine's cycle on a busy endpoint): lock the given
-- webhooks (skipping those another claim holds, and those of accounts without room), then
-- step 2 for them alone, without searching the queue.
create function af_refill(p_webhooks text[], p_now bigint, p_cap int, p_limit int, p_owner text,
  p_lease_ms bigint, p_fair jsonb)
returns setof af_claimed_delivery
language plpgsql
set plan_cache_mode = force_generic_plan set enable_seqscan = off set enable_bitmapscan = off
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

-- When the next delivery after p_after falls due and is not leased: the engine's next wake-up
-- (nextDueAt in ../sql/claim-due.ts; the pump asks after every claim that took less than its
-- limit). The head of deliveries_due walked in order and stopped at the first delivery without a
-- live lease, as the claims' head is. Written as min() over the same rows it read every pending
-- delivery, whatever the plan: 24 ms a call behind a backlog of 20,000, where this takes 0.4.
create function af_next_due(p_now bigint, p_after bigint) returns bigint
language plpgsql stable
set plan_cache_mode = force_generic_plan set enable_seqscan = off set enable_bitmapscan = off
as $fn$
begin
  return (
    select x.next_attempt_at from deliveries x
    where x.status = 'pending' and not x.listen and x.next_attempt_at > p_after
      and not exists (select 1 from delivery_leases l
                      where l.delivery_id = x.id and l.until > p_now)
    order by x.next_attempt_at
    limit 1);
end
$fn$;
