import type pg from 'pg';
import type { StatsQuery, WebhookStats } from '../../types.js';
import { query } from '../pool.js';

/**
 * Attempts started in [since, until): how many, how many succeeded, and nearest-rank duration
 * percentiles (`percentile_disc`: the first duration whose cumulative share reaches p, an
 * observed value, as the SQLite store computes it).
 */
const attemptsSql = `
  select count(*)::int as attempts,
    count(*) filter (where a.succeeded)::int as succeeded,
    percentile_disc(0.5) within group (order by a.duration_ms) as p50,
    percentile_disc(0.95) within group (order by a.duration_ms) as p95
  from attempts a
  where a.webhook_id = $1 and a.account_id = $4 and a.started_at >= $2 and a.started_at < $3`;

/**
 * Deliveries created in each bucket, by current status. Buckets start at `since` and step by
 * `bucketMs` (`generate_series`), so empty buckets are answered with zeros.
 */
const bucketsSql = `
  select b.start,
    count(d.id) filter (where d.status = 'succeeded')::int as succeeded,
    count(d.id) filter (where d.status = 'failed')::int as failed,
    count(d.id) filter (where d.status = 'pending')::int as pending
  from generate_series($2::bigint, $3::bigint - 1, $4::bigint) as b(start)
  left join deliveries d
    on d.webhook_id = $1 and d.account_id = $5
    and d.created_at >= b.start and d.created_at < least(b.start + $4::bigint, $3::bigint)
  group by b.start
  order by b.start`;

export async function webhookStats(
  pool: pg.Pool,
  accountId: string,
  webhookId: string,
  q: StatsQuery,
): Promise<WebhookStats> {
  const [a, b] = await Promise.all([
    query(pool, attemptsSql, [webhookId, q.since, q.until, accountId]),
    q.bucketMs > 0 && q.until > q.since
      ? query(pool, bucketsSql, [webhookId, q.since, q.until, q.bucketMs, accountId])
      : Promise.resolve({ rows: [] }),
  ]);
  const s = a.rows[0]!;
  return {
    attempts: s.attempts,
    succeededAttempts: s.succeeded,
    p50Ms: s.p50,
    p95Ms: s.p95,
    buckets: b.rows.map((r) => ({
      start: r.start,
      succeeded: r.succeeded,
      failed: r.failed,
      pending: r.pending,
    })),
  };
}
