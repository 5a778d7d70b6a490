import type pg from 'pg';
import type { AttemptOutcome } from '../../types.js';
import { transaction } from '../pool.js';

/**
 * Batched completion, one transaction for the whole batch, three statements whatever its size:
 * one `INSERT … SELECT unnest(…)` for the attempts, one update of the webhooks answered 410, one
 * `UPDATE … FROM unnest(…)` for the deliveries.
 *
 * Idempotent, because a commit can succeed while its answer is lost with the connection: the
 * worker then writes the same batch again. The attempts go first, `ON CONFLICT (id) DO NOTHING`,
 * and only the outcomes whose attempt is new change their delivery: a batch written twice is
 * recorded once, and never overwrites a state the delivery reached since. (Without this, the
 * retried batch fails on the attempts' primary key forever and the worker stalls.)
 *
 * Lock order: the webhook before its deliveries' row locks, as in `deleteWebhook`, so the two
 * never deadlock (the attempts' foreign key takes only a key-share lock on the delivery, which
 * no update of the store conflicts with).
 */
const attemptsSql = `
  insert into attempts (id, delivery_id, account_id, webhook_id, number, started_at, duration_ms,
    status_code, error, request_headers, response_headers, response_body, trigger, succeeded)
  select u.id, u.delivery_id, u.account_id, u.webhook_id, u.number, u.started_at, u.duration_ms,
    u.status_code, u.error, u.request_headers::jsonb, u.response_headers::jsonb, u.response_body,
    u.trigger, u.succeeded
  from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::bigint[], $7::int[],
              $8::int[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[],
              $14::bool[], $15::text[])
    as u(id, delivery_id, account_id, webhook_id, number, started_at, duration_ms, status_code,
         error, request_headers, response_headers, response_body, trigger, succeeded, owner)
  -- An outcome whose delivery no longer exists is skipped, not an error losing the batch; so is
  -- one whose lease another worker has taken over (AttemptOutcome.owner).
  where exists (select 1 from deliveries d where d.id = u.delivery_id
                and (u.owner is null or d.lease_owner = u.owner))
  on conflict (id) do nothing
  returning id`;

const disableSql = `
  update webhooks w set active = false, disabled_reason = u.reason, updated_at = u.now
  from unnest($1::text[], $2::text[], $3::bigint[]) as u(id, reason, now)
  where w.id = u.id and w.deleted_at is null`;

const deliveriesSql = `
  update deliveries d set
    status = u.status, attempt_count = u.number, next_attempt_at = u.next_attempt_at,
    last_status_code = u.status_code, last_error = u.error, updated_at = u.now,
    lease_owner = null, lease_until = null,
    trigger = 'scheduled', status_before = null, resume_at = null
  from unnest($1::text[], $2::text[], $3::int[], $4::bigint[], $5::int[], $6::text[],
              $7::bigint[])
    as u(id, status, number, next_attempt_at, status_code, error, now)
  where d.id = u.id`;

export async function completeAttempts(pool: pg.Pool, outcomes: AttemptOutcome[]): Promise<void> {
  if (outcomes.length === 0) return;
  // Rows in id order, so two completions sharing rows never deadlock.
  const sorted = [...outcomes].sort((a, b) => (a.deliveryId < b.deliveryId ? -1 : 1));
  await transaction(pool, async (client) => {
    const a = sorted.map((o) => o.attempt);
    const inserted = await client.query<{ id: string }>(attemptsSql, [
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
      a.map((x) => x.trigger),
      a.map((x) => x.succeeded),
      sorted.map((o) => o.owner ?? null),
    ]);
    const fresh = new Set(inserted.rows.map((r) => r.id));
    const kept = sorted.filter((o) => fresh.has(o.attempt.id));
    if (kept.length === 0) return;

    const disable = kept
      .filter((o) => o.disableWebhook)
      .sort((x, y) => (x.webhookId < y.webhookId ? -1 : 1));
    if (disable.length > 0) {
      await client.query(disableSql, [
        disable.map((o) => o.webhookId),
        disable.map((o) => o.disableWebhook),
        disable.map((o) => o.now),
      ]);
    }
    await client.query(deliveriesSql, [
      kept.map((o) => o.deliveryId),
      kept.map((o) => o.status),
      kept.map((o) => o.attempt.number),
      kept.map((o) => (o.status === 'pending' ? o.nextAttemptAt : null)),
      kept.map((o) => o.attempt.statusCode),
      kept.map((o) => o.attempt.error),
      kept.map((o) => o.now),
    ]);
  });
}
