/**
 * Optional store capabilities: what some stores can do beyond the `Store` interface. The engine
 * checks for them at run time (`hasWorkNotifier(store)`) and falls back to polling without them.
 */
import type { AttemptOutcome, ClaimedDelivery, ClaimOptions } from './types.js';

/**
 * Wake-ups across processes: the store tells subscribers that new work may be due (events
 * accepted, a manual retry or a recover, leases released), so idle workers claim at once
 * instead of waiting for their next poll. A hint, never a guarantee: a worker still polls, since
 * a wake-up can be lost (a reconnect) and a due retry sends none.
 */
export interface WorkNotifier {
  /** Calls `cb` whenever work may be available; answers a function that unsubscribes. */
  onWorkAvailable(cb: () => void): () => void;
}

/** Whether `store` sends wake-ups. */
export function hasWorkNotifier<T extends object>(store: T): store is T & WorkNotifier {
  return typeof (store as Partial<WorkNotifier>).onWorkAvailable === 'function';
}

/**
 * Complete, then claim, in one round trip (graphile-worker completes and fetches the same way).
 * The engine's slot for a delivery is freed only when its outcome is durable, so one endpoint's
 * rate is `endpointConcurrency / cycle`: fusing the write of outcomes with the next claim takes a
 * round trip and a turn of the event loop out of every cycle.
 */
export interface FusedCompleteClaim {
  /**
   * Exactly `completeAttempts(outcomes)` followed by `claimDue(claim)`, in one transaction: the
   * claim sees the leases the outcomes released, and when it rejects nothing was recorded.
   * The SQLite store has it (one message to its thread), and so has the PostgreSQL store (one
   * call of the function `af_complete_and_claim`, one round trip).
   */
  completeAndClaim(outcomes: AttemptOutcome[], claim: ClaimOptions): Promise<ClaimedDelivery[]>;
}

/** Whether `store` completes and claims in one call. */
export function hasCompleteAndClaim<T extends object>(store: T): store is T & FusedCompleteClaim {
  return typeof (store as Partial<FusedCompleteClaim>).completeAndClaim === 'function';
}

/**
 * Advice on the database's own configuration, logged once at start: a setting the store works
 * with but badly (PostgreSQL with autovacuum off). Each entry is a sentence for an operator.
 */
export interface SettingsAdvice {
  settingWarnings(): Promise<string[]>;
}

/** Whether `store` can check the database's settings. */
export function hasSettingsAdvice<T extends object>(store: T): store is T & SettingsAdvice {
  return typeof (store as Partial<SettingsAdvice>).settingWarnings === 'function';
}

/**
 * The warm-up at start (`warm-up.ts`, before `/readyz` answers 200): the store opens the
 * connections it will use at once and runs each hot statement once in each, with arguments that
 * match no row, so that the first requests and claims find them planned and prepared. It
 * creates, changes and deletes nothing.
 */
export interface StoreWarmUp {
  /** Answers how many connections it warmed (SQLite: its one). */
  warmUp(): Promise<{ connections: number }>;
}

/** Whether `store` has a warm-up. */
export function hasWarmUp<T extends object>(store: T): store is T & StoreWarmUp {
  return typeof (store as Partial<StoreWarmUp>).warmUp === 'function';
}

/**
 * Rate limits shared by every process on the database (`rate-limit/limiter.ts`): the GCRA
 * decision of `rate-limit/gcra.ts` in one atomic statement. PostgreSQL has it; on SQLite, one
 * process serves the API and keeps its buckets in memory.
 */
export interface SharedRateLimits {
  /**
   * Moves `key`'s theoretical arrival time forward by `costMs` when it then runs at most
   * `toleranceMs` ahead of the database's clock. Answers the TAT stored after (unchanged when
   * refused), whether it moved, and the clock it was decided by, in epoch ms.
   */
  takeRate(
    key: string,
    costMs: number,
    toleranceMs: number,
  ): Promise<{ tat: number; allowed: boolean; nowMs: number }>;
}

/** Whether `store` keeps rate limits in the database. */
export function hasSharedRateLimits<T extends object>(store: T): store is T & SharedRateLimits {
  return typeof (store as Partial<SharedRateLimits>).takeRate === 'function';
}
