/**
 * `startTestServer`: the whole service in this process, on a fresh SQLite file in a temp data
 * dir and a free loopback port, with a compressed retry schedule. The dashboard's browser tests
 * import it too: keep the signature stable.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { DestinationStream } from 'pino';
import { createAccount } from '../../src/api/accounts.js';
import type { Clock } from '../../src/clock.js';
import { type Config, loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { startService } from '../../src/service.js';
import type { Store } from '../../src/store/types.js';

export interface TestServer {
  url: string;
  adminKey: string;
  /** The development account's API key ('' for a worker, which serves no API). */
  apiKey: string;
  accountId: string;
  dataDir: string;
  config: Config;
  store: Store;
  /** The Fastify app serving `url` (its routes, for tests that enumerate them). */
  app: FastifyInstance;
  /** Stops the service and removes the data dir. */
  close(): Promise<void>;
}

export const TEST_ENV: Record<string, string> = {
  PORT: '0',
  HOST: '127.0.0.1',
  AF_LOG_LEVEL: 'silent',
  AF_DELIVERY_TIMEOUT: '2s',
  AF_RETRY_BASE_DELAY: '200ms',
  AF_RETRY_FACTOR: '2',
  AF_RETRY_WINDOW: '30s',
  AF_RETRY_JITTER: '0',
  // The warm-up's deliveries take a second or two at every start; their own test sets them.
  AF_WARM_UP_DELIVERIES: '0',
};

export async function startTestServer(
  env: Record<string, string> = {},
  options: {
    logStream?: DestinationStream;
    dashboardDir?: string | null;
    /** With `DATABASE_URL` in `env`: the PostgreSQL schema to use. */
    databaseSchema?: string;
    /** How often the pending-deliveries gauge is counted (default 15 s). */
    pendingRefreshMs?: number;
    /** The service's clock (default the system's): tests advance it instead of waiting. */
    clock?: Clock;
    /** How often the operations loop runs (default 1 s). */
    operationsIntervalMs?: number;
  } = {},
): Promise<TestServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'af-server-'));
  try {
    const config = loadConfig({ ...TEST_ENV, AF_DATA_DIR: dataDir, ...env });
    const logger = options.logStream
      ? createLogger(config.logLevel === 'silent' ? 'info' : config.logLevel, options.logStream)
      : createLogger(config.logLevel);
    const service = await startService(config, {
      logger,
      print: () => {},
      // The warm-up without its repeated rounds: tests start many services and time no latency.
      jitRounds: 0,
      ...(options.dashboardDir === undefined ? {} : { dashboardDir: options.dashboardDir }),
      ...(options.databaseSchema === undefined ? {} : { databaseSchema: options.databaseSchema }),
      ...(options.pendingRefreshMs === undefined
        ? {}
        : { pendingRefreshMs: options.pendingRefreshMs }),
      ...(options.clock === undefined ? {} : { clock: options.clock }),
      ...(options.operationsIntervalMs === undefined
        ? {}
        : { operationsIntervalMs: options.operationsIntervalMs }),
    });
    // Production has no development account: make one the way an operator would.
    let dev = service.dev;
    if (!dev && config.role !== 'worker') {
      const account = await createAccount(service.store, 'Test', Date.now());
      dev = { accountId: account.id, apiKey: account.apiKey };
    }
    return {
      url: service.url,
      adminKey: config.adminKey,
      apiKey: dev?.apiKey ?? '',
      accountId: dev?.accountId ?? '',
      dataDir,
      config,
      store: service.store,
      app: service.app,
      async close() {
        await service.close();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
}
