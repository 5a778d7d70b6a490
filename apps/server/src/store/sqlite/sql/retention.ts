/**
 * Retention (`Store.purgeFinished`), as `postgres/sql/retention.ts` is on PostgreSQL: one small
 * batch in the caller's transaction, so the store's thread is held for a few milliseconds and
 * claims and completions run between batches. Events are found on their primary key (ids sort by
 * creation time: `idBefore`), oldest first; one with a pending delivery is kept whole.
 * Attempts, deliveries, then events, each counted (the foreign keys would cascade, uncounted).
 * A deleted webhook's row is already gone on SQLite (`deleteWebhook` deletes it): nothing else.
 */
import { idBefore } from '../../../ids.js';
import type { PurgeCounts } from '../../types.js';
import type { Row, Stmt } from '../rows.js';

export function purgeFinished(stmt: Stmt, before: number, limit: number): PurgeCounts {
  const ids = (
    stmt(
      `SELECT e.id FROM events e
       WHERE e.id < ? AND e.timestamp < ?
         AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.status = 'pending')
       ORDER BY e.id LIMIT ?`,
    ).all(idBefore('evt', before), before, limit) as Row[]
  ).map((r) => r.id as string);
  if (ids.length === 0) return { events: 0, deliveries: 0, attempts: 0, webhooks: 0 };
  const list = JSON.stringify(ids);
  const attempts = stmt(
    `DELETE FROM attempts WHERE delivery_id IN (
       SELECT d.id FROM deliveries d WHERE d.event_id IN (SELECT value FROM json_each(?)))`,
  ).run(list).changes;
  const deliveries = stmt(
    'DELETE FROM deliveries WHERE event_id IN (SELECT value FROM json_each(?))',
  ).run(list).changes;
  const events = stmt('DELETE FROM events WHERE id IN (SELECT value FROM json_each(?))').run(
    list,
  ).changes;
  return { events, deliveries, attempts, webhooks: 0 };
}
