import type pg from 'pg';
import { idBefore } from '../../../ids.js';
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
 * `bucketMs` (`generate_series`), so empty buckets are answered with zeros. The window is read
 * once, as a range of the webhook's delivery ids too (`$6`, see `idBefore`): the order of
 * `deliveries_webhook`.
 */
const bucketsSql = `
  select b.start,
    coalesce(sum(d.n) filter (where d.status = 'succeeded'), 0)::int as succeeded,
    coalesce(sum(d.n) filter (where d.status = 'failed'), 0)::int as failed,
    coalesce(sum(d.n) filter (where d.status = 'pending'), 0)::int as pending
  from generate_series($2::bigint, $3::bigint - 1, $4::bigint) as b(start)
  left join (
    select $2::bigint + (x.created_at - $2::bigint) / $4::bigint * $4::bigint as start, x.status,
      count(*) as n
    from deliveries x
    where x.webhook_id = $1 and x.account_id = $5 and x.id >= $6
      and x.created_at >= $2 and x.created_at < $3
    group by 1, 2
  ) d on d.start = b.start
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
      ? query(pool, bucketsSql, [
          webhookId,
          q.since,
          q.until,
          q.bucketMs,
          accountId,
          idBefore('dlv', q.since),
        ])
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
