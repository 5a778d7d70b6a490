import type pg from 'pg';
import type { AttemptOutcome } from '../../types.js';
import { placeholders, query } from '../pool.js';

/**
 * Batched completion, one transaction for the whole batch and one round trip: the function
 * `af_complete_attempts` (`../functions/complete-attempts.sql`) runs five statements whatever
 * the batch's size, one `INSERT … SELECT unnest(…)` for the attempts, one update of the health of
 * the batch's webhooks (`af_record_health`, `../functions/webhook-health.sql`), one update of the
 * webhooks answered 410, one `UPDATE … FROM unnest(…)` for the deliveries, one delete of their
 * leases (`delivery_leases`).
 *
 * Idempotent, because a commit can succeed while its answer is lost with the connection: the
 * worker then writes the same batch again. The attempts go first, `ON CONFLICT (id) DO NOTHING`,
 * and only the outcomes whose attempt is new change their delivery: a batch written twice is
 * recorded once, and never overwrites a state the delivery reached since. (Without this, the
 * retried batch fails on the attempts' primary key forever and the worker stalls.)
 *
 * Lock order: the webhook before its deliveries' row locks, as in `deleteWebhook`, so the two
 * never deadlock. Attempts have no foreign key to their delivery (migration 0012: its check was
 * a lookup and a lock per attempt); the function inserts an attempt only for a delivery that
 * exists and is leased to the writer.
 */
/** The 20 arrays `af_complete_attempts` takes, rows in delivery id order. */
export function outcomeParams(outcomes: AttemptOutcome[]): unknown[] {
  // Rows in id order, so two completions sharing rows never deadlock.
  const sorted = [...outcomes].sort((a, b) => (a.deliveryId < b.deliveryId ? -1 : 1));
  const a = sorted.map((o) => o.attempt);
  return [
    a.map((x) => x.id),
    sorted.map((o) => o.deliveryId),
    sorted.map((o) => o.accountId),
    sorted.map((o) => o.webhookId),
    a.map((x) => x.number),
    a.map((x) => x.startedAt),
    a.map((x) => Math.round(x.durationMs)),
    a.map((x) => x.statusCode),
    a.map((x) => x.error),
    a.map((x) => JSON.stringify(x.requestHeaders)),
    a.map((x) => JSON.stringify(x.responseHeaders)),
    a.map((x) => x.responseBody),
    a.map((x) => x.responseBodyEncoding),
    a.map((x) => x.trigger),
    a.map((x) => x.succeeded),
    sorted.map((o) => o.owner ?? null),
    sorted.map((o) => o.status),
    sorted.map((o) => (o.status === 'pending' ? o.nextAttemptAt : null)),
    sorted.map((o) => o.now),
    sorted.map((o) => o.disableWebhook ?? null),
  ];
}

export const completeSql = `select af_complete_attempts(${placeholders(1, 20)})`;

export async function completeAttempts(pool: pg.Pool, outcomes: AttemptOutcome[]): Promise<void> {
  if (outcomes.length === 0) return;
  await query(pool, completeSql, outcomeParams(outcomes), 'af_complete');
}
