import type pg from 'pg';
import type { ClaimedDelivery, ClaimOptions } from '../../types.js';
import { transaction } from '../pool.js';
import { claimedRow, claimedSelect } from '../rows.js';

/**
 * Step 1: webhooks with due work that are below their cap, locked for this transaction.
 *
 * The cap (`endpointConcurrency` live leases per webhook, across every worker) must hold when two
 * workers claim for the same webhook at the same moment. Both would count the same live leases
 * and each take the rest. So a claim first locks the webhook rows it will take work from
 * (`FOR NO KEY UPDATE SKIP LOCKED`: another claimer skips them instead of waiting; API updates
 * of the webhook are the only other lockers, and only for a moment). Then step 2 counts leases
 * in a NEW statement: in READ COMMITTED its snapshot is taken after the lock was granted, so it
 * sees every claim committed by the previous holder. Counting in the same statement as the lock
 * would read a snapshot from before the lock and could overshoot.
 *
 * Which webhooks: usually those of the oldest due deliveries (`headSql`, a short walk of
 * `deliveries_due`). When that head is full of rows that cannot be taken now — a slow endpoint's
 * backlog at its cap, or webhooks another worker is claiming for — walking further would cost as
 * much as the backlog, so the claim asks each webhook instead for its oldest due delivery
 * (`perWebhookSql`, one probe of `deliveries_webhook_due` per webhook): a slow endpoint never
 * hides the others' work.
 */
/** Live leases per webhook: those at `$2` (the cap) are full. */
const liveCte = `
  live as (
    select webhook_id, count(*)::int as n from deliveries
    where lease_owner is not null and lease_until > $1
    group by webhook_id
  )`;

/**
 * The head of the queue: how many due rows it holds, how many of them cannot be taken now for
 * lack of room under their webhook's cap (`blocked`), and the webhooks with room.
 */
const headSql = `
  with ${liveCte},
  head as (
    select d.webhook_id from deliveries d
    where d.status = 'pending' and d.next_attempt_at <= $1
      and (d.lease_until is null or d.lease_until <= $1)
    order by d.next_attempt_at
    limit $3
  ),
  per as (
    select h.webhook_id, count(*)::int as n, greatest(0, $2 - coalesce(max(l.n), 0)) as room
    from head h left join live l on l.webhook_id = h.webhook_id
    group by h.webhook_id
  )
  select
    (select count(*) from head)::int as scanned,
    coalesce((select sum(greatest(0, n - room)) from per), 0)::int as blocked,
    array(select webhook_id from per where room > 0) as ids`;

const lockSql = `
  select id from webhooks where id = any($1::text[]) order by id
  for no key update skip locked`;

const perWebhookSql = `
  with ${liveCte}
  select w.id from webhooks w
  cross join lateral (
    select d.next_attempt_at from deliveries d
    where d.webhook_id = w.id and d.status = 'pending' and d.next_attempt_at <= $1
      and (d.lease_until is null or d.lease_until <= $1)
    order by d.next_attempt_at
    limit 1
  ) due
  where w.id not in (select webhook_id from live where n >= $2)
  order by due.next_attempt_at
  limit $3
  for no key update of w skip locked`;

/**
 * Step 2: for each locked webhook, its oldest due deliveries (`FOR UPDATE SKIP LOCKED`: rows
 * being completed or retried right now are left alone), at most the cap minus its live leases,
 * then the oldest due `limit` of all, leased to `owner` until `now + leaseMs`.
 */
const claimSql = `
  with live as (
    select webhook_id, count(*)::int as n from deliveries
    where webhook_id = any($1::text[]) and lease_owner is not null and lease_until > $2
    group by webhook_id
  ),
  cand as (
    select x.id, x.webhook_id, x.next_attempt_at,
      row_number() over (partition by x.webhook_id order by x.next_attempt_at, x.id) as rn
    from unnest($1::text[]) as w(id)
    cross join lateral (
      select d.id, d.webhook_id, d.next_attempt_at from deliveries d
      where d.webhook_id = w.id and d.status = 'pending' and d.next_attempt_at <= $2
        and (d.lease_until is null or d.lease_until <= $2)
      order by d.next_attempt_at, d.id
      limit $3
      for update of d skip locked
    ) x
  ),
  picked as (
    select cand.id from cand left join live on live.webhook_id = cand.webhook_id
    where cand.rn <= $3 - coalesce(live.n, 0)
    order by cand.next_attempt_at, cand.id
    limit $4
  ),
  c as (
    update deliveries d set lease_owner = $5, lease_until = $2::bigint + $6::bigint
    from picked where d.id = picked.id
    returning d.*
  )`;

export async function claimDue(pool: pg.Pool, o: ClaimOptions): Promise<ClaimedDelivery[]> {
  if (o.limit <= 0 || o.endpointConcurrency <= 0) return [];
  return transaction(pool, async (client) => {
    const scan = Math.max(o.limit * 2, 50);
    const head = await client.query<{ scanned: number; blocked: number; ids: string[] }>(headSql, [
      o.now,
      o.endpointConcurrency,
      scan,
    ]);
    const { scanned, blocked, ids } = head.rows[0]!;
    if (scanned === 0) return [];
    // A full head may hide more work behind it: rows of capped webhooks, or of webhooks another
    // worker is claiming for right now. Then ask every webhook.
    const full = scanned === scan;
    const locked = new Set<string>();
    if (!(full && blocked > 0)) {
      for (const r of (await client.query<{ id: string }>(lockSql, [ids])).rows) locked.add(r.id);
    }
    if (full && (blocked > 0 || locked.size < ids.length)) {
      const more = await client.query<{ id: string }>(perWebhookSql, [
        o.now,
        o.endpointConcurrency,
        o.limit,
      ]);
      for (const r of more.rows) locked.add(r.id);
    }
    if (locked.size === 0) return [];
    const { rows } = await client.query(
      `${claimSql} ${claimedSelect} order by c.next_attempt_at, c.id`,
      [[...locked], o.now, o.endpointConcurrency, o.limit, o.owner, o.leaseMs],
    );
    return rows.map(claimedRow);
  });
}
