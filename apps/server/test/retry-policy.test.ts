import { describe, expect, it } from 'vitest';
import {
  decideState,
  nextRetryAt,
  parseRetryAfter,
  type RetryConfig,
} from '../src/delivery/retry-policy.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const defaults: RetryConfig = {
  maxRetries: 3,
  baseDelayMs: 5 * MIN,
  factor: 12,
  windowMs: 24 * HOUR,
  jitter: 0.1,
};
const T0 = Date.UTC(2024, 0, 15, 10, 30);
const mid = () => 0.5; // no jitter

describe('nextRetryAt', () => {
  it('follows base × factor^(n-1) after the attempt ended: 5 min, 1 h, 12 h, then fails', () => {
    const at = (n: number, endedAt: number) =>
      nextRetryAt(defaults, { attemptNumber: n, eventTimestamp: T0, endedAt, random: mid });
    expect(at(1, T0 + 1000)).toBe(T0 + 1000 + 5 * MIN);
    expect(at(2, T0 + 6 * MIN)).toBe(T0 + 6 * MIN + HOUR);
    expect(at(3, T0 + 2 * HOUR)).toBe(T0 + 2 * HOUR + 12 * HOUR);
    expect(at(4, T0 + 14 * HOUR)).toBeNull();
  });

  it('applies ±jitter', () => {
    const base = { attemptNumber: 1, eventTimestamp: T0, endedAt: T0 };
    expect(nextRetryAt(defaults, { ...base, random: () => 0 })).toBe(T0 + 4.5 * MIN);
    expect(nextRetryAt(defaults, { ...base, random: () => 0.999999 })).toBe(
      Math.round(T0 + 5 * MIN * (1 + 0.1 * (2 * 0.999999 - 1))),
    );
    expect(nextRetryAt(defaults, { ...base, random: () => 0.75 })).toBe(T0 + 5.25 * MIN);
  });

  it('does not schedule past the window', () => {
    const cfg = { ...defaults, windowMs: 10 * HOUR };
    // The third retry would be due 12 h later: past the 10 h window.
    expect(
      nextRetryAt(cfg, { attemptNumber: 3, eventTimestamp: T0, endedAt: T0 + HOUR, random: mid }),
    ).toBeNull();
    // Exactly at the window end is still inside.
    const edge = { ...defaults, windowMs: 5 * MIN };
    expect(
      nextRetryAt(edge, { attemptNumber: 1, eventTimestamp: T0, endedAt: T0, random: mid }),
    ).toBe(T0 + 5 * MIN);
  });

  it('honours a longer Retry-After on 429 and 503 only', () => {
    const base = { attemptNumber: 1, eventTimestamp: T0, endedAt: T0, random: mid };
    expect(nextRetryAt(defaults, { ...base, statusCode: 429, retryAfterMs: 20 * MIN })).toBe(
      T0 + 20 * MIN,
    );
    expect(nextRetryAt(defaults, { ...base, statusCode: 503, retryAfterMs: 20 * MIN })).toBe(
      T0 + 20 * MIN,
    );
    // Shorter: the backoff stays.
    expect(nextRetryAt(defaults, { ...base, statusCode: 429, retryAfterMs: 1000 })).toBe(
      T0 + 5 * MIN,
    );
    // Other statuses ignore it.
    expect(nextRetryAt(defaults, { ...base, statusCode: 500, retryAfterMs: 20 * MIN })).toBe(
      T0 + 5 * MIN,
    );
    // Past the window: the delivery fails.
    expect(nextRetryAt(defaults, { ...base, statusCode: 503, retryAfterMs: 25 * HOUR })).toBeNull();
  });

  it('with no retries configured, the first failure is final', () => {
    expect(
      nextRetryAt(
        { ...defaults, maxRetries: 0 },
        { attemptNumber: 1, eventTimestamp: T0, endedAt: T0, random: mid },
      ),
    ).toBeNull();
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates', () => {
    expect(parseRetryAfter('120', T0)).toBe(120_000);
    expect(parseRetryAfter(' 0 ', T0)).toBe(0);
    expect(parseRetryAfter(new Date(T0 + 90_000).toUTCString(), T0)).toBe(90_000);
    expect(parseRetryAfter(new Date(T0 - 90_000).toUTCString(), T0)).toBe(0);
  });
  it('ignores absent or bad values', () => {
    expect(parseRetryAfter(undefined, T0)).toBeUndefined();
    expect(parseRetryAfter('soon', T0)).toBeUndefined();
    expect(parseRetryAfter('-5', T0)).toBeUndefined();
    expect(parseRetryAfter('1.5', T0)).toBeUndefined();
  });
});

describe('decideState', () => {
  const delivery = { eventTimestamp: T0, statusBefore: 'pending' as const, resumeAt: null };
  const failed = { succeeded: false, statusCode: 500, retryAfterMs: undefined };
  const decide = (over: Partial<Parameters<typeof decideState>[1]>) =>
    decideState(defaults, {
      delivery,
      attemptNumber: 1,
      trigger: 'scheduled',
      result: failed,
      endedAt: T0 + 1000,
      random: mid,
      ...over,
    });

  it('succeeds on 2xx, whatever the trigger', () => {
    for (const trigger of ['scheduled', 'manual', 'recover', 'test'] as const) {
      expect(
        decide({ trigger, result: { succeeded: true, statusCode: 204, retryAfterMs: undefined } }),
      ).toEqual({ status: 'succeeded', nextAttemptAt: null });
    }
  });

  it('fails and disables the webhook on 410', () => {
    expect(
      decide({ result: { succeeded: false, statusCode: 410, retryAfterMs: undefined } }),
    ).toEqual({
      status: 'failed',
      nextAttemptAt: null,
      disable: 'gone',
    });
  });

  it('retries a scheduled attempt on the schedule, then fails for good', () => {
    expect(decide({})).toEqual({ status: 'pending', nextAttemptAt: T0 + 1000 + 5 * MIN });
    expect(decide({ attemptNumber: 4 })).toEqual({ status: 'failed', nextAttemptAt: null });
  });

  it('never retries a test; a manual retry goes back to the schedule it had, or stays failed', () => {
    expect(decide({ trigger: 'test' })).toEqual({ status: 'failed', nextAttemptAt: null });
    const resumeAt = T0 + HOUR;
    expect(decide({ trigger: 'manual', delivery: { ...delivery, resumeAt } })).toEqual({
      status: 'pending',
      nextAttemptAt: resumeAt,
    });
    expect(
      decide({ trigger: 'recover', delivery: { ...delivery, statusBefore: 'failed', resumeAt } }),
    ).toEqual({ status: 'failed', nextAttemptAt: null });
  });
});
