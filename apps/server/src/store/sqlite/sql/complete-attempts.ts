import type { AttemptOutcome, DeliveryStatus } from '../../types.js';
import type { Stmt } from '../rows.js';
import { recordHealth } from './webhook-health.js';

/**
 * The completion (`Store.completeAttempts`, and the first half of `completeAndClaim`), as
 * `postgres/sql/complete-attempts.ts` is on PostgreSQL, inside the caller's transaction.
 */
export function completeAttempts(stmt: Stmt, outcomes: AttemptOutcome[]): void {
  const insertAttempt = stmt(
    `INSERT INTO attempts (id, delivery_id, account_id, webhook_id, number, started_at,
       duration_ms, status_code, error, request_headers, response_headers, response_body,
       response_body_encoding, trigger, succeeded)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  // The delivery's row is written first, and only while its lease is still the outcome's (when
  // it names one): the update finds the row, checks the lease and says whether the delivery is
  // still there in one lookup, where a read of the lease, the insert's own check and the update
  // made three.
  const set = `UPDATE deliveries SET status = ?, attempt_count = ?, next_attempt_at = ?,
       last_status_code = ?, last_error = ?, updated_at = ?, trigger = 'scheduled',
       resume_at = NULL, status_before = NULL, lease_owner = NULL, lease_until = NULL
     WHERE id = ? AND account_id = ?`;
  const updateLeased = stmt(`${set} AND lease_owner = ?`);
  const updateDelivery = stmt(set);
  const updateWebhook = stmt(
    `UPDATE webhooks SET last_delivery_at = ?, last_delivery_status = ?
     WHERE id = ? AND account_id = ?`,
  );
  const disable = stmt(
    `UPDATE webhooks SET active = 0, disabled_reason = ?, updated_at = ?
     WHERE id = ? AND account_id = ?`,
  );
  const last = new Map<string, { accountId: string; at: number; status: DeliveryStatus }>();
  const recorded: AttemptOutcome[] = [];
  for (const o of outcomes) {
    const a = o.attempt;
    const row = [
      o.status,
      a.number,
      o.status === 'pending' ? o.nextAttemptAt : null,
      a.statusCode,
      a.error,
      o.now,
      o.deliveryId,
      o.accountId,
    ];
    // Nothing written when the lease was taken over (see AttemptOutcome.owner), or when the
    // delivery was removed meanwhile (retention): dropped, rather than failing the whole batch,
    // which the engine would otherwise retry forever.
    const updated =
      o.owner === undefined ? updateDelivery.run(...row) : updateLeased.run(...row, o.owner);
    if (updated.changes === 0) continue;
    insertAttempt.run(
      a.id,
      o.deliveryId,
      o.accountId,
      o.webhookId,
      a.number,
      a.startedAt,
      Math.round(a.durationMs),
      a.statusCode,
      a.error,
      JSON.stringify(a.requestHeaders),
      JSON.stringify(a.responseHeaders),
      a.responseBody,
      a.responseBodyEncoding,
      a.trigger,
      a.succeeded ? 1 : 0,
    );
    recorded.push(o);
    const prev = last.get(o.webhookId);
    if (!prev || a.startedAt >= prev.at) {
      last.set(o.webhookId, {
        accountId: o.accountId,
        at: a.startedAt,
        status: a.succeeded ? 'succeeded' : 'failed',
      });
    }
  }
  // One write per webhook per batch, however many of its attempts the batch holds.
  for (const [webhookId, l] of last) updateWebhook.run(l.at, l.status, webhookId, l.accountId);
  // Health before the 410s disable their webhooks: it tells the account of those that were active.
  recordHealth(stmt, recorded);
  for (const o of recorded) {
    if (o.disableWebhook) disable.run(o.disableWebhook, o.now, o.webhookId, o.accountId);
  }
}
