/**
 * Leases (`Store.renewLeases`, `releaseLeases`), as `postgres/sql/leases.ts` is on PostgreSQL: a
 * claimed delivery carries its owner and an expiry; the engine's heartbeat extends the ones it
 * still holds, and a stopping engine releases them so another owner may claim them at once. Only
 * the owner's own leases are touched. `releaseOrphaned` is SQLite's alone: one process uses the
 * file at a time, so a lease found at open was left by a process that died.
 */
import type { Stmt } from '../rows.js';

export function renewLeases(stmt: Stmt, owner: string, deliveryIds: string[], until: number): void {
  if (deliveryIds.length === 0) return;
  stmt(
    `UPDATE deliveries SET lease_until = ?
     WHERE lease_owner = ? AND id IN (SELECT value FROM json_each(?))`,
  ).run(until, owner, JSON.stringify(deliveryIds));
}

export function releaseLeases(stmt: Stmt, owner: string, deliveryIds?: string[]): void {
  if (deliveryIds === undefined) {
    stmt('UPDATE deliveries SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?').run(
      owner,
    );
    return;
  }
  if (deliveryIds.length === 0) return;
  stmt(
    `UPDATE deliveries SET lease_owner = NULL, lease_until = NULL
     WHERE lease_owner = ? AND id IN (SELECT value FROM json_each(?))`,
  ).run(owner, JSON.stringify(deliveryIds));
}

/** Every lease, whoever holds it: at open, before the engine starts (see above). */
export function releaseOrphaned(stmt: Stmt): void {
  const hasTable = stmt(
    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'deliveries'",
  ).get();
  if (hasTable) {
    stmt(
      'UPDATE deliveries SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL',
    ).run();
  }
}
