import type { AttemptOutcome, DeliveryStatus } from '../../types.js';
import type { Row, Stmt } from '../rows.js';
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
     SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?
     WHERE EXISTS (SELECT 1 FROM deliveries WHERE id = ?)`,
  );
  const updateDelivery = stmt(
    `UPDATE deliveries SET status = ?, attempt_count = ?, next_attempt_at = ?,
       last_status_code = ?, last_error = ?, updated_at = ?, trigger = 'scheduled',
       resume_at = NULL, status_before = NULL, lease_owner = NULL, lease_until = NULL
     WHERE id = ? AND account_id = ?`,
  );
  const updateWebhook = stmt(
    `UPDATE webhooks SET last_delivery_at = ?, last_delivery_status = ?
     WHERE id = ? AND account_id = ?`,
  );
  const disable = stmt(
    `UPDATE webhooks SET active = 0, disabled_reason = ?, updated_at = ?
     WHERE id = ? AND account_id = ?`,
  );
  const leaseOwner = stmt('SELECT lease_owner FROM deliveries WHERE id = ?');
  const last = new Map<string, { accountId: string; at: number; status: DeliveryStatus }>();
  const recorded: AttemptOutcome[] = [];
  for (const o of outcomes) {
    if (o.owner !== undefined) {
      const held = leaseOwner.get(o.deliveryId) as Row | undefined;
      if (held?.lease_owner !== o.owner) continue; // the lease was taken over: see AttemptOutcome.owner
    }
    const a = o.attempt;
    const inserted = insertAttempt.run(
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
      // A delivery removed meanwhile (retention) drops its outcome instead of failing the
      // whole batch, which the engine would otherwise retry forever.
      o.deliveryId,
    ).changes;
    if (inserted > 0) recorded.push(o);
    updateDelivery.run(
      o.status,
      a.number,
      o.status === 'pending' ? o.nextAttemptAt : null,
      a.statusCode,
      a.error,
      o.now,
      o.deliveryId,
      o.accountId,
    );
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
