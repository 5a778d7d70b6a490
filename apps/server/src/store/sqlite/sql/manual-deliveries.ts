/**
 * Deliveries a person asks for (`Store.requestAttempt`, `recoverDeliveries`,
 * `insertTestDelivery`), as `postgres/sql/manual-deliveries.ts` is on PostgreSQL: one delivery
 * due again now (manual retry, SPEC §4), a webhook's failed deliveries in a window due again
 * (recover), and the test action's event and delivery, inserted already leased to the engine
 * that sends it.
 */
import type Database from 'better-sqlite3';
import { idBefore } from '../../../ids.js';
import type { ClaimedDelivery, DeliveryRow, NewEvent } from '../../types.js';
import { CLAIMED_SELECT, type Row, type Stmt, toClaimed, toDelivery } from '../rows.js';
import { getWebhook } from './webhooks.js';

export function requestAttempt(
  db: Database.Database,
  stmt: Stmt,
  accountId: string,
  id: string,
  trigger: 'manual',
  now: number,
): DeliveryRow | 'in_flight' | undefined {
  const tx = db.transaction((): DeliveryRow | 'in_flight' | undefined => {
    const r = stmt('SELECT * FROM deliveries WHERE account_id = ? AND id = ?').get(accountId, id) as
      | Row
      | undefined;
    if (!r) return undefined;
    if (r.lease_owner != null && (r.lease_until as number) > now) return 'in_flight';
    // Either update below also clears an expired lease (its worker died or gave it up).
    const queued = r.status === 'pending' && r.trigger !== 'scheduled';
    if (!queued) {
      // A manual attempt already queued keeps its first statusBefore/resumeAt.
      stmt(
        `UPDATE deliveries SET trigger = ?, status_before = status,
           resume_at = CASE WHEN status = 'pending' THEN next_attempt_at ELSE NULL END,
           status = 'pending', next_attempt_at = ?, updated_at = ?,
           lease_owner = NULL, lease_until = NULL
         WHERE id = ?`,
      ).run(trigger, now, now, id);
    } else {
      stmt(
        `UPDATE deliveries SET next_attempt_at = ?, updated_at = ?,
           lease_owner = NULL, lease_until = NULL
         WHERE id = ?`,
      ).run(now, now, id);
    }
    return toDelivery(stmt('SELECT * FROM deliveries WHERE id = ?').get(id) as Row);
  });
  return tx.immediate();
}

export function recoverDeliveries(
  stmt: Stmt,
  accountId: string,
  webhookId: string,
  since: number,
  until: number,
  now: number,
): number {
  return stmt(
    `UPDATE deliveries SET trigger = 'recover', status_before = 'failed', resume_at = NULL,
       status = 'pending', next_attempt_at = ?, updated_at = ?
     WHERE account_id = ? AND webhook_id = ? AND status = 'failed'
       AND id >= ? AND created_at >= ? AND created_at <= ?`,
  ).run(now, now, accountId, webhookId, idBefore('dlv', since), since, until).changes;
}

export function insertTestDelivery(
  db: Database.Database,
  stmt: Stmt,
  accountId: string,
  webhookId: string,
  event: NewEvent,
  delivery: { id: string; owner: string; leaseMs: number },
  now: number,
): ClaimedDelivery {
  const tx = db.transaction((): ClaimedDelivery => {
    if (!getWebhook(stmt, accountId, webhookId)) {
      throw new Error(`insertTestDelivery: no webhook ${webhookId} in the account`);
    }
    stmt(
      'INSERT INTO events (id, account_id, event, timestamp, body, deliveries) VALUES (?, ?, ?, ?, ?, 1)',
    ).run(event.id, accountId, event.event, event.timestamp, event.body);
    stmt(
      `INSERT INTO deliveries (id, account_id, event_id, event, webhook_id, status, attempt_count,
         next_attempt_at, created_at, updated_at, trigger, status_before, lease_owner, lease_until)
       VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?, 'test', 'pending', ?, ?)`,
    ).run(
      delivery.id,
      accountId,
      event.id,
      event.event,
      webhookId,
      now,
      now,
      now,
      delivery.owner,
      now + delivery.leaseMs,
    );
    return toClaimed(stmt(`${CLAIMED_SELECT} WHERE d.id = ?`).get(delivery.id) as Row);
  });
  return tx.immediate();
}
