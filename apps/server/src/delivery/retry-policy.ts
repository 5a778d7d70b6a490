import type { DeliveryConfig } from './config.js';

/**
 * The retry schedule of SPEC §4 as pure functions: the engine passes time and randomness in, so
 * every rule is tested without a clock or a receiver.
 */
export type RetryConfig = Pick<
  DeliveryConfig,
  'maxRetries' | 'baseDelayMs' | 'factor' | 'windowMs' | 'jitter'
>;

export interface RetryInput {
  /** The attempt just made: 1 for the first try. */
  attemptNumber: number;
  /** Epoch ms the event was accepted: the window counts from here. */
  eventTimestamp: number;
  /** Epoch ms the attempt ended: the delay counts from here. */
  endedAt: number;
  /** The response status, when there was one. */
  statusCode?: number | null | undefined;
  /** A parsed `Retry-After`, in ms from `endedAt`. Honoured on 429 and 503 only. */
  retryAfterMs?: number | undefined;
  /** Uniform in [0, 1): `Math.random` in production, fixed in tests. */
  random: () => number;
}

/** The backoff delay of retry n (n ≥ 1) before jitter: `base × factor^(n-1)`. */
export function backoffDelay(config: RetryConfig, n: number): number {
  return config.baseDelayMs * config.factor ** (n - 1);
}

/**
 * When the next attempt is due after a failed attempt, or null when the delivery has failed for
 * good: no retry left, or the retry would be due past the window. A longer `Retry-After` on
 * 429/503 replaces the delay, and fails the delivery when it points past the window.
 */
export function nextRetryAt(config: RetryConfig, input: RetryInput): number | null {
  const n = input.attemptNumber;
  if (n > config.maxRetries) return null;
  const windowEnd = input.eventTimestamp + config.windowMs;
  const spread = config.jitter * (2 * input.random() - 1);
  let delay = backoffDelay(config, n) * (1 + spread);
  const honoursRetryAfter = input.statusCode === 429 || input.statusCode === 503;
  if (honoursRetryAfter && input.retryAfterMs !== undefined && input.retryAfterMs > delay) {
    delay = input.retryAfterMs;
  }
  const due = Math.round(input.endedAt + delay);
  return due > windowEnd ? null : due;
}

/**
 * `Retry-After` as ms from `now`: delta-seconds or an HTTP date (RFC 9110 §10.2.3). Undefined
 * when absent or unparsable; a date in the past is 0.
 */
export function parseRetryAfter(value: string | undefined | null, now: number): number | undefined {
  if (value == null) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const date = Date.parse(v);
  if (Number.isNaN(date) || !/[a-z]/i.test(v)) return undefined;
  return Math.max(0, date - now);
}
