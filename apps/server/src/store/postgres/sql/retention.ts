/**
 * Retention (`Store.purgeFinished`), as `sqlite/sql/retention.ts` is on SQLite: one small batch
 * in one short transaction, so no lock is held long and deliveries go on between batches. Events
 * are found on their primary key (ids sort by creation time: `idBefore`), oldest first, locked
 * with `skip locked` so two processes purging at once take different ones; one with a pending
 * delivery is kept whole. Attempts (and leases), deliveries, then events, children first; then
 * the rows of deleted webhooks and listen sessions no delivery names any more.
 */
import type pg from 'pg';
import { idBefore } from '../../../ids.js';
import type { PurgeCounts } from '../../types.js';
import { transaction } from '../pool.js';

export async function purgeFinished(
  pool: pg.Pool,
  before: number,
  limit: number,
): Promise<PurgeCounts> {
  return transaction(pool, async (client) => {
    await client.query("set local synchronous_commit = 'off'");
    const { rows } = await client.query<{ id: string }>(
      `select e.id from events e
       where e.id < $1 and e.timestamp < $2
         and not exists (select 1 from deliveries d where d.event_id = e.id and d.status = 'pending')
       order by e.id limit $3
       for update skip locked`,
      [idBefore('evt', before), before, limit],
    );
    const ids = rows.map((r) => r.id);
    let attempts = 0;
    let deliveries = 0;
    let events = 0;
    if (ids.length > 0) {
      attempts =
        (
          await client.query(
            `delete from attempts a using deliveries d
             where d.event_id = any($1) and a.delivery_id = d.id`,
            [ids],
          )
        ).rowCount ?? 0;
      // A finished delivery holds no live lease; an expired one may be left (its worker died
      // and the delivery failed before another took it over).
      await client.query(
        `delete from delivery_leases l using deliveries d
         where d.event_id = any($1) and l.delivery_id = d.id`,
        [ids],
      );
      deliveries =
        (await client.query('delete from deliveries where event_id = any($1)', [ids])).rowCount ??
        0;
      events = (await client.query('delete from events where id = any($1)', [ids])).rowCount ?? 0;
    }
    const webhooks =
      (
        await client.query(
          `delete from webhooks where id in (
             select w.id from webhooks w
             where w.deleted_at is not null and w.deleted_at < $1
               and not exists (select 1 from deliveries d where d.webhook_id = w.id)
             order by w.deleted_at limit $2
             for update skip locked)`,
          [before, limit],
        )
      ).rowCount ?? 0;
    return { events, deliveries, attempts, webhooks };
  });
}
