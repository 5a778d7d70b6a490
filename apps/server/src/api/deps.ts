/**
 * What the HTTP layer is given: the configuration and the services it calls. The engine is
 * typed by what the API uses, so tests can hand in the real one or a small double.
 */
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import type { Metrics } from '../metrics.js';
import type { Cipher } from '../security/crypto.js';
import type { AttemptOutcome, ClaimedDelivery, Store } from '../store/types.js';

export interface EngineLike {
  /** New work may be due now. */
  notify(): void;
  /** The test action: one attempt now, never retried. */
  sendTest(claimed: ClaimedDelivery, opts?: { sampleEvent?: boolean }): Promise<AttemptOutcome>;
}

export interface AppDeps {
  config: Config;
  store: Store;
  cipher: Cipher;
  engine: EngineLike;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  /** The built dashboard; default `apps/dashboard/dist` beside this package, when it exists. */
  dashboardDir?: string | null;
  /** `operations`: only health, readiness and metrics (a worker process). Default `all`. */
  routes?: 'all' | 'operations';
  /**
   * Whether the start's warm-up has finished (`warm-up.ts`): `/readyz` answers 503 `warming`
   * until then. Absent: ready as soon as the database answers.
   */
  readiness?: { readonly warm: boolean };
}
