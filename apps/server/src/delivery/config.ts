/**
 * What the delivery engine needs from the configuration (SPEC §6), in milliseconds and plain
 * numbers: `src/config.ts` parses the environment and hands this in, so the engine never reads
 * `process.env` and tests pass compressed schedules directly.
 */
export interface DeliveryConfig {
  /** Whole-request timeout of one attempt (`AF_DELIVERY_TIMEOUT`). */
  timeoutMs: number;
  /** Retries after the first attempt (`AF_MAX_RETRIES`). */
  maxRetries: number;
  /** Delay before the first retry (`AF_RETRY_BASE_DELAY`). */
  baseDelayMs: number;
  /** Each next retry waits this many times longer (`AF_RETRY_FACTOR`). */
  factor: number;
  /** No retry is scheduled past event acceptance + this (`AF_RETRY_WINDOW`). */
  windowMs: number;
  /** ± fraction applied to each backoff delay (`AF_RETRY_JITTER`, e.g. 0.1). */
  jitter: number;
  /** Live attempts per webhook, across all processes (`AF_ENDPOINT_CONCURRENCY`). */
  endpointConcurrency: number;
  /** Allow connections to loopback/private/link-local… (`AF_ALLOW_PRIVATE_NETWORKS`). */
  allowPrivateNetworks: boolean;
  /**
   * How long a claim holds a delivery (`AF_LEASE_DURATION`; default 15 s). The engine renews the
   * leases of its in-flight deliveries every third of it, so a live worker keeps them however
   * long an attempt runs, and a dead worker's deliveries are claimed again this long after it died.
   */
  leaseMs?: number;
  /** `AgentFactory-Webhooks/{version}`. */
  userAgent: string;
}
