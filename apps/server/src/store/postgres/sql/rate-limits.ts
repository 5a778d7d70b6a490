/**
 * Rate limits shared by every api process (`SharedRateLimits.takeRate`; the algorithm is
 * `rate-limit/gcra.ts`): one statement, atomic under the row lock of `on conflict do update`, so
 * two processes taking from one bucket at once are serialized by the database and neither
 * overdraws it. The clock is the database's (`clock_timestamp()`), the one clock every process
 * shares. A new bucket is full: its first request is allowed (the caller never asks for more
 * than a burst).
 */
import type pg from 'pg';
import { query } from '../pool.js';

// $1 key, $2 cost (ms the TAT moves), $3 tolerance (ms it may run ahead). In the `set` list,
// `r` is the row before the update and `excluded.tat - $2` is now.
const TAKE = `
with clock as (select (extract(epoch from clock_timestamp()) * 1000)::float8 as ms)
insert into rate_limits as r (key, tat, allowed)
select $1, clock.ms + $2, true from clock
on conflict (key) do update set
  allowed = greatest(r.tat, excluded.tat - $2) + $2 - $3 <= excluded.tat - $2,
  tat = case when greatest(r.tat, excluded.tat - $2) + $2 - $3 <= excluded.tat - $2
             then greatest(r.tat, excluded.tat - $2) + $2 else r.tat end
returning tat, allowed, (select ms from clock) as now_ms`;

export async function takeRate(
  pool: pg.Pool,
  key: string,
  costMs: number,
  toleranceMs: number,
): Promise<{ tat: number; allowed: boolean; nowMs: number }> {
  // Named: prepared once per connection, as it runs on every limited request.
  const { rows } = await query<{ tat: number; allowed: boolean; now_ms: number }>(
    pool,
    TAKE,
    [key, costMs, toleranceMs],
    'af_take_rate',
  );
  const r = rows[0]!;
  return { tat: r.tat, allowed: r.allowed, nowMs: r.now_ms };
}
