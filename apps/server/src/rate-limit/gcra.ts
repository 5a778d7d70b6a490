/**
 * GCRA, the generic cell rate algorithm (ITU-T I.371; as in redis-cell and the `throttled`
 * library): a token bucket kept as one number per key, the theoretical arrival time (TAT).
 *
 * A policy allows `perSecond` units a second on average and `burst` at once. Each unit moves the
 * TAT forward by the emission interval `T = 1000 / perSecond` ms; a request of `cost` units at
 * `now` is allowed when the TAT it would leave, `max(TAT, now) + cost × T`, runs at most the
 * tolerance `τ = burst × T` ahead of `now`. Allowed, the TAT moves; refused, it stays. A request
 * costing more than the burst is never allowed.
 *
 * The decision is `take` here (in-process: the SQLite service) or the one SQL statement of
 * `store/postgres/sql/rate-limits.ts` (shared by every api process); both hand the outcome to
 * `outcome` for the numbers the answer's headers carry.
 */

/** One limit: its name in the `RateLimit` headers, its average rate and its burst. */
export interface RatePolicy {
  /** `api` (requests per key) or `events` (events per account). */
  name: string;
  perSecond: number;
  /** Units allowed at once from a full bucket (at least 1). */
  burst: number;
}

export interface RateOutcome {
  allowed: boolean;
  /** Units that could be taken right now after this request (0 or more). */
  remaining: number;
  /** Milliseconds until the bucket is full again. */
  resetMs: number;
  /** Refused: milliseconds until this same request would be allowed; null when never (too big). */
  retryAfterMs: number | null;
}

/** The emission interval and the tolerance of `policy`, in ms. */
export function intervals(policy: RatePolicy): { intervalMs: number; toleranceMs: number } {
  const intervalMs = 1000 / policy.perSecond;
  return { intervalMs, toleranceMs: policy.burst * intervalMs };
}

/** Whether a request of `cost` units can ever be allowed (it is at most the burst). */
export function fits(policy: RatePolicy, cost: number): boolean {
  return cost <= policy.burst;
}

/**
 * The decision for a request of `cost` units at `now` against the stored `tat` (undefined: a
 * key not seen, a full bucket): whether it is allowed and the TAT to store (unchanged when not).
 */
export function take(
  tat: number | undefined,
  now: number,
  cost: number,
  policy: RatePolicy,
): { allowed: boolean; tat: number } {
  const { intervalMs, toleranceMs } = intervals(policy);
  const next = Math.max(tat ?? now, now) + cost * intervalMs;
  if (next - toleranceMs <= now) return { allowed: true, tat: next };
  return { allowed: false, tat: tat ?? now };
}

/**
 * The numbers for the answer, from the decision and the TAT stored after it (the new one when
 * allowed, the unchanged one when not).
 */
export function outcome(
  allowed: boolean,
  tat: number,
  now: number,
  cost: number,
  policy: RatePolicy,
): RateOutcome {
  const { intervalMs, toleranceMs } = intervals(policy);
  const ahead = Math.max(tat - now, 0);
  const remaining = Math.max(Math.floor((toleranceMs - ahead) / intervalMs + 1e-9), 0);
  return {
    allowed,
    remaining,
    resetMs: ahead,
    retryAfterMs: allowed
      ? 0
      : fits(policy, cost)
        ? Math.max(Math.max(tat, now) + cost * intervalMs - toleranceMs - now, 0)
        : null,
  };
}
