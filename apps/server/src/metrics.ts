/**
 * Prometheus metrics (`GET /metrics`), on a registry per service instance so that several
 * instances in one process (tests) never collide. A scrape reads what is in memory and never asks
 * the store: the pending gauge is refreshed on a timer (`watchPending`), so its cost is one count
 * per interval whatever the scrape rate (on SQLite a count runs on the one store thread that also
 * accepts events, and a scraper, or anyone, polling `/metrics` must not be able to load it).
 */

import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { BUILT_IN } from './config.js';
import type { DisabledReason, PurgeCounts } from './store/types.js';

/** What the delivery engine reports after each attempt (`EngineMetrics`). */
export interface AttemptReport {
  succeeded: boolean;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
  trigger: string;
}

export interface Metrics {
  registry: Registry;
  /** Passed to the delivery engine as its `metrics`. */
  attemptFinished(report: AttemptReport): void;
  /** Passed to the engine too: an outcome a store write refused (`EngineMetrics`). */
  outcomeWriteFailed(kind: 'split' | 'safe_form' | 'dropped'): void;
  eventsAccepted(count: number): void;
  /**
   * Zeroes the counts of attempts, their durations and accepted events: the warm-up's own events
   * and deliveries (`warm-up.ts`) are not the service's traffic, so these count from ready.
   */
  forgetTraffic(): void;
  /** A request refused by a rate limit (`api/rate-limits.ts`): `api` or `events`. */
  rateLimited(limit: string): void;
  /** Rows one batch of retention deleted (`operations/retention.ts`). */
  rowsPurged(counts: PurgeCounts): void;
  /**
   * Keeps the pending-deliveries gauge: counts once now, then every `intervalMs` (a timer that
   * does not keep the process alive), never two counts at once. A failed count keeps the last
   * value and is passed to `onError`, never thrown. Returns the function that stops it.
   */
  watchPending(
    count: () => Promise<number>,
    options: { intervalMs?: number; onError: (err: unknown) => void },
  ): () => void;
  /**
   * Keeps the health gauges (the oldest due delivery's wait, failing and disabled webhooks) the
   * same way: read once now, then every `intervalMs`, never twice at once, errors to `onError`.
   */
  watchHealth(
    read: () => Promise<HealthGauges>,
    options: { intervalMs?: number; onError: (err: unknown) => void },
  ): () => void;
}

/** What `watchHealth` reads (`operations/gauges.ts`). */
export interface HealthGauges {
  /** How long the oldest due, unleased pending delivery has waited past its due time; 0 if none. */
  oldestDueAgeSeconds: number;
  /** Active webhooks failing (some delivery exhausted since their last success). */
  failingWebhooks: number;
  /** Inactive webhooks by `disabled_reason`. */
  disabledWebhooks: Record<DisabledReason, number>;
}

/** How often the pending gauge is refreshed (`config.ts`): within a typical 15–60 s scrape interval. */
export const PENDING_REFRESH_MS = BUILT_IN.pendingRefreshMs;

/** `2xx`…`5xx`, or `none` when the attempt got no response. */
export function statusClass(statusCode: number | null): string {
  if (statusCode === null) return 'none';
  return `${Math.floor(statusCode / 100)}xx`;
}

export function createMetrics(options: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });

  const attempts = new Counter({
    name: 'agentfactory_delivery_attempts_total',
    help: 'Delivery attempts, by outcome, response status class and trigger.',
    labelNames: ['outcome', 'status_class', 'trigger'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'agentfactory_delivery_attempt_duration_seconds',
    help: 'Duration of delivery attempts, whole request.',
    labelNames: ['outcome'],
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const pending = new Gauge({
    name: 'agentfactory_deliveries_pending',
    help: `Deliveries waiting for an attempt or a retry (counted every ${PENDING_REFRESH_MS / 1000} s, not at each scrape).`,
    registers: [registry],
  });
  const accepted = new Counter({
    name: 'agentfactory_events_accepted_total',
    help: 'Events accepted by POST /v1/events and /v1/events/batch.',
    registers: [registry],
  });

  const limited = new Counter({
    name: 'agentfactory_rate_limited_total',
    help: 'Requests answered 429 by a rate limit: api (per API key) or events (per account).',
    labelNames: ['limit'],
    registers: [registry],
  });

  const writeErrors = new Counter({
    name: 'agentfactory_outcome_write_errors_total',
    help:
      'Outcome writes the store refused: split (a batch written one outcome at a time), ' +
      "safe_form (an outcome written without the receiver's headers and body), dropped " +
      '(an outcome not written at all; its delivery is sent again after its lease).',
    labelNames: ['kind'],
    registers: [registry],
  });
  for (const kind of ['split', 'safe_form', 'dropped']) writeErrors.inc({ kind }, 0);

  const purged = new Counter({
    name: 'agentfactory_retention_purged_rows_total',
    help: 'Rows deleted by retention (AF_RETENTION), by table.',
    labelNames: ['table'],
    registers: [registry],
  });
  const tables = ['events', 'deliveries', 'attempts', 'webhooks'] as const;
  for (const table of tables) purged.inc({ table }, 0);
  const oldestDue = new Gauge({
    name: 'agentfactory_deliveries_oldest_due_age_seconds',
    help: `How long the oldest due delivery (pending, not leased) has waited past its due time; 0 when none waits (read every ${PENDING_REFRESH_MS / 1000} s).`,
    registers: [registry],
  });
  const failing = new Gauge({
    name: 'agentfactory_webhooks_failing',
    help: 'Active webhooks with a delivery exhausted since their last success (health state failing).',
    registers: [registry],
  });
  const disabled = new Gauge({
    name: 'agentfactory_webhooks_disabled',
    help: 'Inactive webhooks, by disabled_reason (gone, failing, manual).',
    labelNames: ['reason'],
    registers: [registry],
  });

  return {
    registry,
    outcomeWriteFailed(kind) {
      writeErrors.inc({ kind });
    },
    attemptFinished(report) {
      const outcome = report.succeeded ? 'succeeded' : 'failed';
      attempts.inc({
        outcome,
        status_class: statusClass(report.statusCode),
        trigger: report.trigger,
      });
      duration.observe({ outcome }, report.durationMs / 1000);
    },
    eventsAccepted(count) {
      accepted.inc(count);
    },
    forgetTraffic() {
      attempts.reset();
      duration.reset();
      accepted.reset();
    },
    rateLimited(limit) {
      limited.inc({ limit });
    },
    rowsPurged(counts) {
      for (const table of tables) if (counts[table] > 0) purged.inc({ table }, counts[table]);
    },
    watchPending(count, { intervalMs = PENDING_REFRESH_MS, onError }) {
      return every(intervalMs, onError, async (live) => {
        const n = await count();
        if (live()) pending.set(n);
      });
    },
    watchHealth(read, { intervalMs = PENDING_REFRESH_MS, onError }) {
      return every(intervalMs, onError, async (live) => {
        const g = await read();
        if (!live()) return;
        oldestDue.set(g.oldestDueAgeSeconds);
        failing.set(g.failingWebhooks);
        for (const [reason, n] of Object.entries(g.disabledWebhooks)) disabled.set({ reason }, n);
      });
    },
  };
}

/**
 * Runs `refresh` now and every `intervalMs` on a timer that does not keep the process alive,
 * never two at once; a failure keeps the gauges as they were and goes to `onError` unless stopped
 * (at shutdown the store closes under a read: not worth a warning). `live()` is false once
 * stopped. Returns the function that stops it.
 */
function every(
  intervalMs: number,
  onError: (err: unknown) => void,
  refresh: (live: () => boolean) => Promise<void>,
): () => void {
  let stopped = false;
  let running = false;
  const live = () => !stopped;
  const run = async () => {
    if (running || stopped) return;
    running = true;
    try {
      await refresh(live);
    } catch (err) {
      if (!stopped) onError(err);
    } finally {
      running = false;
    }
  };
  void run();
  const timer = setInterval(() => void run(), intervalMs);
  timer.unref();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
