/**
 * Deliveries a person asks for (`Store.requestAttempt`, `recoverDeliveries`,
 * `insertTestDelivery`), as `sqlite/sql/manual-deliveries.ts` is on SQLite: one delivery due
 * again now (manual retry, SPEC §4), a webhook's failed deliveries in a window due again
 * (recover), and the test action's event and delivery, inserted already leased to the engine that
 * sends it. What becomes due wakes idle workers (`NOTIFY` at commit).
 */
import type pg from 'pg';
import { idBefore } from '../../../ids.js';
import type { ClaimedDelivery, DeliveryRow, NewEvent } from '../../types.js';
import { sendWakeUp, type WakeUp } from '../notifier.js';
import { transaction } from '../pool.js';
import { claimedRow, claimedSelect, deliveryRow, type Raw } from '../rows.js';

export async function requestAttempt(
  pool: pg.Pool,
  wake: WakeUp,
  accountId: string,
  id: string,
  trigger: 'manual',
  now: number,
): Promise<DeliveryRow | 'in_flight' | undefined> {
  return transaction(pool, async (client) => {
    const { rows } = await client.query<Raw>(
      'select id from deliveries where account_id = $1 and id = $2 for update',
      [accountId, id],
    );
    if (!rows[0]) return undefined;
    // After the row lock, in a statement of its own: a claim that held the row first and has
    // committed since took its lease, which this statement's snapshot sees.
    const live = await client.query(
      'select 1 from delivery_leases where delivery_id = $1 and until > $2',
      [id, now],
    );
    if (live.rowCount) return 'in_flight';
    // An expired lease (its worker died or gave it up) goes with the request.
    await client.query('delete from delivery_leases where delivery_id = $1', [id]);
    // A second request before the first attempt ran keeps the state to return to.
    const { rows: updated } = await client.query<Raw>(
      `update deliveries set
         status_before = case when trigger = 'scheduled' then status else status_before end,
         resume_at = case when trigger = 'scheduled'
           then (case when status = 'pending' then next_attempt_at end) else resume_at end,
         trigger = case when trigger = 'scheduled' then $3 else trigger end,
         status = 'pending', next_attempt_at = $2, updated_at = $2
       where id = $1 returning *`,
      [id, now, trigger],
    );
    await sendWakeUp(client, wake);
    return deliveryRow(updated[0]!);
  });
}

export async function recoverDeliveries(
  pool: pg.Pool,
  wake: WakeUp,
  accountId: string,
  webhookId: string,
  since: number,
  until: number,
  now: number,
): Promise<number> {
  return transaction(pool, async (client) => {
    const { rowCount } = await client.query(
      `update deliveries set status_before = 'failed', resume_at = null, status = 'pending',
         next_attempt_at = $5, trigger = 'recover', updated_at = $5
       where account_id = $1 and webhook_id = $2 and status = 'failed'
         and id >= $6 and created_at >= $3 and created_at <= $4`,
      [accountId, webhookId, since, until, now, idBefore('dlv', since)],
    );
    if (rowCount) await sendWakeUp(client, wake);
    return rowCount ?? 0;
  });
}

export async function insertTestDelivery(
  pool: pg.Pool,
  accountId: string,
  webhookId: string,
  event: NewEvent,
  delivery: { id: string; owner: string; leaseMs: number },
  now: number,
): Promise<ClaimedDelivery> {
  return transaction(pool, async (client) => {
    const hook = await client.query(
      'select 1 from webhooks where account_id = $1 and id = $2 and deleted_at is null and not listen',
      [accountId, webhookId],
    );
    if (!hook.rowCount) {
      throw new Error(`insertTestDelivery: no webhook ${webhookId} in the account`);
    }
    await client.query(
      `insert into events (id, account_id, event, timestamp, body, deliveries)
       values ($1, $2, $3, $4, $5, 1)`,
      [event.id, accountId, event.event, event.timestamp, event.body],
    );
    const { rows } = await client.query(
      `with c as (
         insert into deliveries (id, account_id, event_id, event, webhook_id, status,
           next_attempt_at, created_at, updated_at, trigger)
         values ($1, $2, $3, $4, $5, 'pending', $6, $6, $6, 'test')
         returning *
       ), lease as (
         insert into delivery_leases (delivery_id, webhook_id, owner, until)
         values ($1, $5, $7, $6::bigint + $8::bigint)
       ) ${claimedSelect}`,
      [
        delivery.id,
        accountId,
        event.id,
        event.event,
        webhookId,
        now,
        delivery.owner,
        delivery.leaseMs,
      ],
    );
    return claimedRow(rows[0]!);
  });
}
