/**
 * Leases (`Store.renewLeases`, `releaseLeases`), as `sqlite/sql/leases.ts` is on SQLite: a
 * claimed delivery's lease, a row of `delivery_leases` (migration 0013), holds its owner and an
 * expiry (a visibility timeout); the engine's heartbeat extends the ones it still holds, and a
 * stopping engine releases them, waking idle workers, so another may claim them at once. Only
 * the owner's own leases are touched.
 */
import type pg from 'pg';
import { sendWakeUp, type WakeUp } from '../notifier.js';
import { query, transaction } from '../pool.js';

export async function renewLeases(
  pool: pg.Pool,
  owner: string,
  deliveryIds: string[],
  until: number,
): Promise<void> {
  if (deliveryIds.length === 0) return;
  await query(
    pool,
    `update delivery_leases set until = $3
     where owner = $1 and delivery_id = any($2::text[])`,
    [owner, deliveryIds, until],
  );
}

export async function releaseLeases(
  pool: pg.Pool,
  wake: WakeUp,
  owner: string,
  deliveryIds?: string[],
): Promise<void> {
  await transaction(pool, async (client) => {
    const { rowCount } = await client.query(
      `delete from delivery_leases
       where owner = $1 and ($2::text[] is null or delivery_id = any($2::text[]))`,
      [owner, deliveryIds ?? null],
    );
    if (rowCount) await sendWakeUp(client, wake);
  });
}
