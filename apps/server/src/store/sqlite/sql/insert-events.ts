/**
 * Events and their fan-out (`Store.insertEvents`), as `postgres/sql/insert-events.ts` is on
 * PostgreSQL: in one transaction, each event's `Idempotency-Key` checked (the same key and request
 * within `IDEMPOTENCY_KEY_TTL_MS` answer the first event again; another request is a conflict
 * that stores nothing of the batch), the event inserted, and one pending delivery due now for each
 * active webhook (and listen session) of the account whose `events` match, marked `listen` for a
 * session so that only its connection claims it. The store's group commit (`store.ts`) runs
 * several of these in one fsync.
 */

import { matchesEvent } from '@agentfactory/webhooks';
import { newId } from '../../../ids.js';
import { IDEMPOTENCY_KEY_TTL_MS, type InsertEventResult, type NewEvent } from '../../types.js';
import { json, type Row, type RunInTransaction, type Stmt, toEvent } from '../rows.js';

export function insertEvents(
  immediate: RunInTransaction,
  stmt: Stmt,
  accountId: string,
  events: NewEvent[],
  now: number,
): InsertEventResult[] {
  const conflict = new Error('idempotency conflict');
  let conflictResult: InsertEventResult | undefined;
  const tx = (): InsertEventResult[] => {
    const hooks = (
      stmt('SELECT id, events, listen FROM webhooks WHERE account_id = ? AND active = 1').all(
        accountId,
      ) as Row[]
    ).map((r) => ({
      id: r.id as string,
      events: json<string[]>(r.events, []),
      listen: r.listen as number,
    }));
    // Prepared before the loop, so that the warm-up (no events) prepares them too.
    const insertEvent = stmt(
      'INSERT INTO events (id, account_id, event, timestamp, body, deliveries) VALUES (?, ?, ?, ?, ?, ?)',
    );
    const insertDelivery = stmt(
      `INSERT INTO deliveries (id, account_id, event_id, event, webhook_id, status, attempt_count,
         next_attempt_at, created_at, updated_at, listen)
       VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?)`,
    );
    const results: InsertEventResult[] = [];
    for (const [index, e] of events.entries()) {
      if (e.idempotencyKey !== undefined) {
        const prior = stmt(
          'SELECT request_hash, event_id, created_at FROM idempotency_keys WHERE account_id = ? AND key = ?',
        ).get(accountId, e.idempotencyKey) as Row | undefined;
        if (prior && (prior.created_at as number) > now - IDEMPOTENCY_KEY_TTL_MS) {
          const first = stmt('SELECT * FROM events WHERE id = ? AND account_id = ?').get(
            prior.event_id,
            accountId,
          ) as Row | undefined;
          if ((prior.request_hash ?? null) !== (e.requestHash ?? null)) {
            conflictResult = { status: 'key_reused', index };
            throw conflict;
          }
          if (first) {
            results.push({ status: 'replayed', event: toEvent(first) });
            continue;
          }
        }
        stmt(
          `INSERT INTO idempotency_keys (account_id, key, request_hash, event_id, created_at)
           VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (account_id, key) DO UPDATE SET request_hash = excluded.request_hash,
             event_id = excluded.event_id, created_at = excluded.created_at`,
        ).run(accountId, e.idempotencyKey, e.requestHash ?? null, e.id, now);
      }
      const targets = hooks.filter((h) => matchesEvent(h.events, e.event));
      insertEvent.run(e.id, accountId, e.event, e.timestamp, e.body, targets.length);
      for (const h of targets) {
        insertDelivery.run(
          newId('dlv', now),
          accountId,
          e.id,
          e.event,
          h.id,
          now,
          now,
          now,
          h.listen,
        );
      }
      results.push({
        status: 'created',
        event: {
          id: e.id,
          accountId,
          event: e.event,
          timestamp: e.timestamp,
          body: e.body,
          deliveries: targets.length,
        },
      });
    }
    return results;
  };
  try {
    return immediate(tx);
  } catch (err) {
    if (err === conflict && conflictResult) return [conflictResult];
    throw err;
  }
}

/** Idempotency keys older than `before` (`IDEMPOTENCY_KEY_TTL_MS`): the service's purge timer. */
export function purgeIdempotencyKeys(stmt: Stmt, before: number): number {
  return stmt('DELETE FROM idempotency_keys WHERE created_at < ?').run(before).changes;
}
