/**
 * Prometheus metrics (`GET /metrics`), on a registry per service instance so that several
 * instances in one process (tests) never collide. The pending gauge asks the store when scraped.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

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
  eventsAccepted(count: number): void;
  /** Where the pending-deliveries gauge reads its value when scraped. */
  setPendingSource(source: () => Promise<number>): void;
}

/** `2xx`…`5xx`, or `none` when the attempt got no response. */
export function statusClass(statusCode: number | null): string {
  if (statusCode === null) return 'none';
  return `${Math.floor(statusCode / 100)}xx`;
}

export function createMetrics(options: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  let pendingSource: (() => Promise<number>) | undefined;

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
  new Gauge({
    name: 'agentfactory_deliveries_pending',
    help: 'Deliveries waiting for an attempt or a retry.',
    registers: [registry],
    async collect() {
      if (pendingSource) this.set(await pendingSource());
    },
  });
  const accepted = new Counter({
    name: 'agentfactory_events_accepted_total',
    help: 'Events accepted by POST /v1/events and /v1/events/batch.',
    registers: [registry],
  });

  return {
    registry,
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
    setPendingSource(source) {
      pendingSource = source;
    },
  };
}
