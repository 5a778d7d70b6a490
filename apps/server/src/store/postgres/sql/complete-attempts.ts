import type pg from 'pg';
import type { AttemptOutcome } from '../../types.js';
import { transaction } from '../pool.js';

/**
 * Batched completion, one transaction for the whole batch: disables webhooks answered 410, then
 * one `UPDATE … FROM unnest(…)` for the deliveries and one `INSERT … SELECT unnest(…)` for the
 * attempts, whatever the batch size. Webhooks first, deliveries second: the same lock order as
 * `deleteWebhook`, so the two never deadlock.
 */
const disableSql = `
  update webhooks w set active = false, disabled_reason = u.reason, updated_at = u.now
  from unnest($1::text[], $2::text[], $3::bigint[]) as u(id, reason, now)
  where w.id = u.id and w.deleted_at is null`;

const deliveriesSql = `
  update deliveries d set
    status = u.status, attempt_count = u.number, next_attempt_at = u.next_attempt_at,
    last_status_code = u.status_code, last_error = u.error, updated_at = u.now, lease_owner = null, lease_until = null,
    trigger = 'scheduled', status_before = null, resume_at = null
  from unnest($1::text[], $2::text[], $3::int[], $4::bigint[], $5::int[], $6::text[],
              $7::bigint[])
    as u(id, status, number, next_attempt_at, status_code, error, now)
  where d.id = u.id
  returning d.id`;

const attemptsSql = `
  insert into attempts (id, delivery_id, account_id, webhook_id, number, started_at, duration_ms, status_code,
    error, request_headers, response_headers, response_body, trigger, succeeded)
  select u.id, u.delivery_id, u.account_id, u.webhook_id, u.number, u.started_at, u.duration_ms, u.status_code,
    u.error, u.request_headers::jsonb, u.response_headers::jsonb, u.response_body, u.trigger,
    u.succeeded
  from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::bigint[], $7::int[],
              $8::int[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[],
              $14::bool[])
    as u(id, delivery_id, account_id, webhook_id, number, started_at, duration_ms, status_code, error,
         request_headers, response_headers, response_body, trigger, succeeded)`;

export async function completeAttempts(pool: pg.Pool, outcomes: AttemptOutcome[]): Promise<void> {
  if (outcomes.length === 0) return;
  const disable = outcomes
    .filter((o) => o.disableWebhook)
    .sort((a, b) => (a.webhookId < b.webhookId ? -1 : 1));
  // Lock deliveries in id order, so two completions sharing rows never deadlock.
  const sorted = [...outcomes].sort((a, b) => (a.deliveryId < b.deliveryId ? -1 : 1));
  await transaction(pool, async (client) => {
    if (disable.length > 0) {
      await client.query(disableSql, [
        disable.map((o) => o.webhookId),
        disable.map((o) => o.disableWebhook),
        disable.map((o) => o.now),
      ]);
    }
    const updated = await client.query<{ id: string }>(deliveriesSql, [
      sorted.map((o) => o.deliveryId),
      sorted.map((o) => o.status),
      sorted.map((o) => o.attempt.number),
      sorted.map((o) => (o.status === 'pending' ? o.nextAttemptAt : null)),
      sorted.map((o) => o.attempt.statusCode),
      sorted.map((o) => o.attempt.error),
      sorted.map((o) => o.now),
    ]);
    // An outcome whose delivery no longer exists (removed meanwhile) is skipped, not an error
    // that would lose the rest of the batch.
    const exists = new Set(updated.rows.map((r) => r.id));
    const kept = sorted.filter((o) => exists.has(o.deliveryId));
    if (kept.length === 0) return;
    const a = kept.map((o) => o.attempt);
    await client.query(attemptsSql, [
      a.map((x) => x.id),
      a.map((x) => x.deliveryId),
      kept.map((o) => o.accountId),
      kept.map((o) => o.webhookId),
      a.map((x) => x.number),
      a.map((x) => x.startedAt),
      a.map((x) => Math.round(x.durationMs)),
      a.map((x) => x.statusCode),
      a.map((x) => x.error),
      a.map((x) => JSON.stringify(x.requestHeaders)),
      a.map((x) => JSON.stringify(x.responseHeaders)),
      a.map((x) => x.responseBody),
      a.map((x) => x.trigger),
      a.map((x) => x.succeeded),
    ]);
  });
}
