import { matchesEvent } from '@agentfactory/webhooks';
import type pg from 'pg';
import { newId } from '../../../ids.js';
import {
  type EventRow,
  IDEMPOTENCY_KEY_TTL_MS,
  type InsertEventResult,
  type NewEvent,
} from '../../types.js';
import { sendWakeUp, type WakeUp } from '../notifier.js';
import { query, transaction } from '../pool.js';
import { eventRow, type Raw } from '../rows.js';

/**
 * Claims the key for this request: inserted, or taken over when the stored one is older than the
 * TTL. No row back means a live key of a committed request.
 */
const claimKeySql = `
  insert into idempotency_keys (account_id, key, request_hash, event_id, created_at)
  values ($1, $2, $3, $4, $5)
  on conflict (account_id, key) do update
    set request_hash = excluded.request_hash, event_id = excluded.event_id,
        created_at = excluded.created_at
    where idempotency_keys.created_at <= $6
  returning event_id`;

const insertEventsSql = `
  insert into events (id, account_id, event, timestamp, body, deliveries)
  select u.id, $1, u.event, u.timestamp, u.body, u.deliveries
  from unnest($2::text[], $3::text[], $4::bigint[], $5::text[], $6::int[])
    as u(id, event, timestamp, body, deliveries)
  returning *`;

const insertDeliveriesSql = `
  insert into deliveries (id, account_id, event_id, event, webhook_id, status, next_attempt_at,
    created_at, updated_at, listen)
  select u.id, $1, u.event_id, u.event, u.webhook_id, 'pending', $2, $2, $2, u.listen
  from unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::boolean[])
    as u(id, event_id, event, webhook_id, listen)`;

/**
 * Events without idempotency keys (the usual case), in one statement and so one transaction:
 * the events, their deliveries and the wake-up. Deliveries reference their events; the foreign
 * key is checked at the end of the statement, when both are in.
 */
export const insertAllSql = `
  with ev as (
    insert into events (id, account_id, event, timestamp, body, deliveries)
    select u.id, $1, u.event, u.timestamp, u.body, u.deliveries
    from unnest($2::text[], $3::text[], $4::bigint[], $5::text[], $6::int[])
      as u(id, event, timestamp, body, deliveries)
    returning *
  ),
  dl as (
    insert into deliveries (id, account_id, event_id, event, webhook_id, status, next_attempt_at,
      created_at, updated_at, listen)
    select u.id, $1, u.event_id, u.event, u.webhook_id, 'pending', $7, $7, $7, u.listen
    from unnest($8::text[], $9::text[], $10::text[], $11::text[], $12::boolean[])
      as u(id, event_id, event, webhook_id, listen)
    returning 1
  ),
  wake as (select pg_notify($13, $14) from (select 1 from dl limit 1) one)
  select ev.*, (select count(*) from wake) as woke from ev`;

/** The account's active webhooks and listen sessions (`listen`: their deliveries are marked). */
export const webhooksSql =
  'select id, events, listen from webhooks where account_id = $1 and active and deleted_at is null';

interface Target {
  id: string;
  events: string[];
  listen: boolean;
}

/** A key conflict: the whole batch is rolled back and this result answered alone. */
class KeyConflict {
  constructor(readonly result: InsertEventResult) {}
}

/**
 * The deliveries of `events` to the matching webhooks, and how many each event has. A listen
 * session's deliveries carry `listen` (one more array of the unnest), so that only its
 * connection claims them.
 */
function fanOut(webhooks: Target[], events: NewEvent[], now: number) {
  const d = {
    ids: [] as string[],
    eventIds: [] as string[],
    events: [] as string[],
    hooks: [] as string[],
    listen: [] as boolean[],
  };
  const counts = events.map((e) => {
    let n = 0;
    for (const w of webhooks) {
      if (!matchesEvent(w.events, e.event)) continue;
      d.ids.push(newId('dlv', now));
      d.eventIds.push(e.id);
      d.events.push(e.event);
      d.hooks.push(w.id);
      d.listen.push(w.listen);
      n++;
    }
    return n;
  });
  return { d, counts };
}

/**
 * Stores events and their fan-out in one transaction (see `Store.insertEvents`). Wakes workers
 * with `NOTIFY` when deliveries were created; the notification is sent at commit.
 *
 * Without idempotency keys that is two round trips: the account's webhooks (outside the
 * transaction: it reads them in READ COMMITTED as the transaction would, so a webhook changed
 * meanwhile is the same race either way), then one statement. With keys, a transaction of a
 * statement per key.
 */
export async function insertEvents(
  pool: pg.Pool,
  accountId: string,
  events: NewEvent[],
  now: number,
  wake: WakeUp,
  keyWaitMs: number,
): Promise<InsertEventResult[]> {
  if (events.length === 0) return [];
  if (events.every((e) => e.idempotencyKey === undefined)) {
    const { rows: webhooks } = await query<Target>(pool, webhooksSql, [accountId]);
    const { d, counts } = fanOut(webhooks, events, now);
    const { rows } = await query<Raw>(
      pool,
      insertAllSql,
      [
        accountId,
        events.map((e) => e.id),
        events.map((e) => e.event),
        events.map((e) => e.timestamp),
        events.map((e) => e.body),
        counts,
        now,
        d.ids,
        d.eventIds,
        d.events,
        d.hooks,
        d.listen,
        wake.channel,
        wake.payload,
      ],
      'af_insert',
    );
    const byId = new Map(rows.map((r) => [r.id as string, eventRow(r)]));
    return events.map((e) => ({ status: 'created', event: byId.get(e.id)! }));
  }
  try {
    return await transaction(pool, (client) =>
      run(client, accountId, events, now, wake, keyWaitMs),
    );
  } catch (err) {
    if (err instanceof KeyConflict) return [err.result];
    throw err;
  }
}

async function run(
  client: pg.PoolClient,
  accountId: string,
  events: NewEvent[],
  now: number,
  wake: WakeUp,
  keyWaitMs: number,
): Promise<InsertEventResult[]> {
  const results: (InsertEventResult | undefined)[] = new Array(events.length);
  /** Item index → index of the earlier item of this batch with the same key and request. */
  const sameAsEarlier = new Map<number, number>();
  const firstByKey = new Map<string, number>();
  events.forEach((e, i) => {
    if (e.idempotencyKey === undefined) return;
    const first = firstByKey.get(e.idempotencyKey);
    if (first === undefined) firstByKey.set(e.idempotencyKey, i);
    else if ((events[first]!.requestHash ?? '') === (e.requestHash ?? ''))
      sameAsEarlier.set(i, first);
    else throw new KeyConflict({ status: 'key_reused', index: i });
  });

  // Keys in sorted order: two batches sharing keys wait on each other, never deadlock.
  const keyed = [...firstByKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  // How long to wait for another process holding the same key before answering key_in_flight.
  // The wait is what makes the race safe: a second insert of the same key blocks on the first
  // one's uncommitted unique-index entry until it commits (then: replay, or key_reused) or rolls
  // back (then: this request creates the event).
  if (keyed.length > 0) {
    await client.query(`set local lock_timeout = ${Math.max(1, Math.round(keyWaitMs))}`);
  }
  for (const [key, i] of keyed) {
    const e = events[i]!;
    let claimed: pg.QueryResult;
    try {
      claimed = await client.query(claimKeySql, [
        accountId,
        key,
        e.requestHash ?? '',
        e.id,
        now,
        now - IDEMPOTENCY_KEY_TTL_MS,
      ]);
    } catch (err) {
      // lock_not_available: the key's first request is still running in another process.
      if ((err as { code?: string }).code === '55P03') {
        throw new KeyConflict({ status: 'key_in_flight', index: i });
      }
      throw err;
    }
    if (claimed.rowCount === 1) continue;
    const { rows } = await client.query<Raw>(
      `select k.request_hash, e.* from idempotency_keys k
       join events e on e.id = k.event_id
       where k.account_id = $1 and k.key = $2`,
      [accountId, key],
    );
    const prior = rows[0];
    if (!prior || prior.request_hash !== (e.requestHash ?? '')) {
      throw new KeyConflict({ status: 'key_reused', index: i });
    }
    results[i] = { status: 'replayed', event: eventRow(prior) };
  }

  const created = events
    .map((e, i) => ({ e, i }))
    .filter(({ i }) => results[i] === undefined && !sameAsEarlier.has(i));
  if (created.length > 0) {
    const { rows: webhooks } = await client.query<Target>(webhooksSql, [accountId]);
    const { d, counts } = fanOut(
      webhooks,
      created.map(({ e }) => e),
      now,
    );
    const { rows } = await client.query<Raw>(insertEventsSql, [
      accountId,
      created.map(({ e }) => e.id),
      created.map(({ e }) => e.event),
      created.map(({ e }) => e.timestamp),
      created.map(({ e }) => e.body),
      counts,
    ]);
    const byId = new Map(rows.map((r) => [r.id as string, eventRow(r)]));
    for (const { e, i } of created) results[i] = { status: 'created', event: byId.get(e.id)! };
    if (d.ids.length > 0) {
      await client.query(insertDeliveriesSql, [
        accountId,
        now,
        d.ids,
        d.eventIds,
        d.events,
        d.hooks,
        d.listen,
      ]);
      await sendWakeUp(client, wake);
    }
  }
  for (const [i, first] of sameAsEarlier) {
    const earlier = results[first] as Extract<InsertEventResult, { event: EventRow }>;
    results[i] = { status: 'replayed', event: earlier.event };
  }
  return results as InsertEventResult[];
}

/** Idempotency keys older than `before` (`IDEMPOTENCY_KEY_TTL_MS`): the service's purge timer. */
export async function purgeIdempotencyKeys(pool: pg.Pool, before: number): Promise<number> {
  const { rowCount } = await query(pool, 'delete from idempotency_keys where created_at < $1', [
    before,
  ]);
  return rowCount ?? 0;
}
