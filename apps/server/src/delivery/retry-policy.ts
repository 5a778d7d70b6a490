import type { DeliveryConfig } from '../config.js';
import type {
  AttemptTrigger,
  ClaimedDelivery,
  DeliveryStatus,
  DisabledReason,
} from '../store/types.js';
import type { SendResult } from './sender.js';

/**
 * The retry schedule and the state decisions of SPEC §4 as pure functions: the engine passes
 * time and randomness in, so every rule is tested without a clock or a receiver. "Why was this
 * delivery retried at 10:05" is answered here.
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

/** What an attempt leaves its delivery in: the store persists it. */
export interface StateDecision {
  status: DeliveryStatus;
  /** Null unless pending. */
  nextAttemptAt: number | null;
  /** Set when the attempt disables the webhook (410 Gone). */
  disable?: DisabledReason;
}

export interface StateInput {
  delivery: Pick<ClaimedDelivery, 'eventTimestamp' | 'statusBefore' | 'resumeAt'>;
  /** The attempt just made: 1 for the first try. */
  attemptNumber: number;
  trigger: AttemptTrigger;
  result: Pick<SendResult, 'succeeded' | 'statusCode' | 'retryAfterMs'>;
  /** Epoch ms the attempt ended. */
  endedAt: number;
  random: () => number;
}

/**
 * The state rules of SPEC §4: a 2xx succeeds; 410 fails the delivery and disables the webhook; a
 * test is never retried; a manual retry or a recover makes one attempt, after which a delivery
 * that was still on its schedule goes back to it and any other stays failed; a scheduled attempt
 * that failed is retried on the schedule (`nextRetryAt`) or fails for good.
 */
export function decideState(config: RetryConfig, input: StateInput): StateDecision {
  const { delivery: d, result: r, trigger } = input;
  if (r.succeeded) return { status: 'succeeded', nextAttemptAt: null };
  if (r.statusCode === 410) return { status: 'failed', nextAttemptAt: null, disable: 'gone' };
  if (trigger === 'test') return { status: 'failed', nextAttemptAt: null };
  if (trigger === 'manual' || trigger === 'recover') {
    if (d.statusBefore === 'pending' && d.resumeAt !== null) {
      return { status: 'pending', nextAttemptAt: d.resumeAt };
    }
    return { status: 'failed', nextAttemptAt: null };
  }
  const next = nextRetryAt(config, {
    attemptNumber: input.attemptNumber,
    eventTimestamp: d.eventTimestamp,
    endedAt: input.endedAt,
    statusCode: r.statusCode,
    retryAfterMs: r.retryAfterMs,
    random: input.random,
  });
  return next === null
    ? { status: 'failed', nextAttemptAt: null }
    : { status: 'pending', nextAttemptAt: next };
}
