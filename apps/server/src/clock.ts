/**
 * Time, injected: logic reads `clock.now()` and never `Date.now()`, so retry schedules, windows
 * and lease expiry are tested with a fake clock instead of sleeping.
 */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
