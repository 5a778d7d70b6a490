/**
 * Where the rate limits' state lives (`gcra.ts` decides): in this process on SQLite, where one
 * process serves the API; in PostgreSQL when the store shares it (`SharedRateLimits`), so every
 * api process takes from the same buckets.
 */
import { LRUCache } from 'lru-cache';
import { hasSharedRateLimits, type SharedRateLimits } from '../store/capabilities.js';
import type { Store } from '../store/types.js';
import { fits, intervals, outcome, type RateOutcome, type RatePolicy, take } from './gcra.js';

export interface RateLimiter {
  /** Takes `cost` units from `key`'s bucket under `policy`, when they are there. */
  take(key: string, cost: number, policy: RatePolicy): Promise<RateOutcome>;
}

/** A request bigger than the burst: refused, whatever the bucket holds. */
const NEVER: RateOutcome = { allowed: false, remaining: 0, resetMs: 0, retryAfterMs: null };

/**
 * Buckets in a bounded map: a key pushed out (the least recently used of `max`) starts full
 * again, which only ever allows more, never less.
 */
export class MemoryRateLimiter implements RateLimiter {
  private readonly tats: LRUCache<string, number>;

  constructor(
    private readonly now: () => number = Date.now,
    max = 100_000,
  ) {
    this.tats = new LRUCache({ max });
  }

  async take(key: string, cost: number, policy: RatePolicy): Promise<RateOutcome> {
    if (!fits(policy, cost)) return NEVER;
    const now = this.now();
    const decision = take(this.tats.get(key), now, cost, policy);
    if (decision.allowed) this.tats.set(key, decision.tat);
    return outcome(decision.allowed, decision.tat, now, cost, policy);
  }
}

/** Buckets in the database: one atomic statement per request, the database's clock. */
class SharedRateLimiter implements RateLimiter {
  constructor(private readonly store: SharedRateLimits) {}

  async take(key: string, cost: number, policy: RatePolicy): Promise<RateOutcome> {
    if (!fits(policy, cost)) return NEVER;
    const { intervalMs, toleranceMs } = intervals(policy);
    const r = await this.store.takeRate(key, cost * intervalMs, toleranceMs);
    return outcome(r.allowed, r.tat, r.nowMs, cost, policy);
  }
}

/** The limiter for `store`: shared through the database when it can, else in this process. */
export function createRateLimiter(store: Store): RateLimiter {
  return hasSharedRateLimits(store) ? new SharedRateLimiter(store) : new MemoryRateLimiter();
}
