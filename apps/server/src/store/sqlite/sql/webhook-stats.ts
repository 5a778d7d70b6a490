/**
 * A webhook's stats over a window (`Store.webhookStats`), as `postgres/sql/webhook-stats.ts` is on
 * PostgreSQL: attempts started in [since, until), how many succeeded, nearest-rank duration
 * percentiles, and the deliveries created in each bucket by their current status, computed in
 * the database, never by paging.
 */
import { idBefore } from '../../../ids.js';
import type { DeliveryStatus, StatsQuery, WebhookStats } from '../../types.js';
import type { Row, Stmt } from '../rows.js';

export function webhookStats(
  stmt: Stmt,
  accountId: string,
  webhookId: string,
  q: StatsQuery,
): WebhookStats {
  const count = Math.max(0, Math.ceil((q.until - q.since) / q.bucketMs));
  const buckets = Array.from({ length: count }, (_, i) => ({
    start: q.since + i * q.bucketMs,
    succeeded: 0,
    failed: 0,
    pending: 0,
  }));
  // Scope once: webhook ids are unique, so the queries below run as index-only scans of
  // (webhook_id, …) without visiting rows to check the account. The window is also a range of
  // delivery ids (see `idBefore`), the order of the deliveries' index.
  const owned = stmt('SELECT 1 FROM webhooks WHERE id = ? AND account_id = ?').get(
    webhookId,
    accountId,
  );
  if (!owned) return { attempts: 0, succeededAttempts: 0, p50Ms: null, p95Ms: null, buckets };
  const totals = stmt(
    `SELECT COUNT(*) AS n, COALESCE(SUM(succeeded), 0) AS ok FROM attempts
     WHERE webhook_id = ? AND started_at >= ? AND started_at < ?`,
  ).get(webhookId, q.since, q.until) as Row;
  const n = totals.n as number;
  // Exact nearest-rank percentiles: SQLite sorts only the window's durations (from the covering
  // index) and steps to the rank with OFFSET; no row is loaded into JavaScript.
  const rank = stmt(
    `SELECT duration_ms FROM attempts
     WHERE webhook_id = ? AND started_at >= ? AND started_at < ?
     ORDER BY duration_ms LIMIT 1 OFFSET ?`,
  );
  const percentile = (p: number): number | null => {
    if (n === 0) return null;
    const k = Math.max(0, Math.ceil(p * n) - 1);
    const r = rank.get(webhookId, q.since, q.until, k) as Row | undefined;
    return r ? (r.duration_ms as number) : null;
  };
  const grouped = stmt(
    `SELECT CAST((created_at - ?) / ? AS INTEGER) AS b, status, COUNT(*) AS n FROM deliveries
     WHERE webhook_id = ? AND id >= ? AND created_at >= ? AND created_at < ?
     GROUP BY b, status`,
  ).all(q.since, q.bucketMs, webhookId, idBefore('dlv', q.since), q.since, q.until) as Row[];
  for (const g of grouped) {
    const bucket = buckets[g.b as number];
    if (bucket) bucket[g.status as DeliveryStatus] += g.n as number;
  }
  return {
    attempts: n,
    succeededAttempts: totals.ok as number,
    p50Ms: percentile(0.5),
    p95Ms: percentile(0.95),
    buckets,
  };
}
