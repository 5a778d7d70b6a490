/**
 * The latency scenario's samples: each delivery's latency (arrival at the receiver minus the
 * event's `bench_sent_at`) with the time its event was sent, so that a run can be cut into
 * windows by send time (the whole run, its last seconds, its first second).
 */
import type { Receiver } from './processes.js';
import { summarize } from './stats.js';

export interface LatencySample {
  /** Wall-clock ms the event was sent. */
  sentAt: number;
  /** From sending the event to the delivery's arrival, ms. */
  ms: number;
}

const wallNow = () => performance.timeOrigin + performance.now();

/**
 * Waits until the receivers together have `expected` distinct deliveries, or the timeout, and
 * answers every latency sample with its send time.
 */
export async function collectLatencies(
  receivers: Receiver[],
  expected: number,
  timeoutMs: number,
): Promise<{ received: number; samples: LatencySample[] }> {
  const deadline = wallNow() + timeoutMs;
  // The receivers hand over their samples once, so they are gathered across polls.
  const samples: LatencySample[] = [];
  for (;;) {
    const stats = await Promise.all(receivers.map((r) => r.stats()));
    for (const s of stats) {
      s.latencies.forEach((ms, i) => {
        samples.push({ ms, sentAt: s.sentAt[i]! });
      });
    }
    const received = stats.reduce((n, s) => n + s.received, 0);
    if (received >= expected || wallNow() > deadline) return { received, samples };
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Percentiles of the samples whose event was sent in `[from, to)` (wall-clock ms). */
export function windowOf(samples: LatencySample[], from: number, to = Number.POSITIVE_INFINITY) {
  return summarize(samples.filter((s) => s.sentAt >= from && s.sentAt < to).map((s) => s.ms));
}
