/**
 * The running service: opens the store (migrating it), makes sure a development account exists
 * on the first run, starts the delivery engine and the HTTP server, warms up (`warm-up.ts`:
 * `/readyz` answers 503 `warming` until then), and prints what a new user needs (keys, URL, a
 * curl that creates a webhook). `close()` stops accepting requests, lets
 * in-flight attempts finish within a bound, and closes the store.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { createAccount } from './api/accounts.js';
import { startIdempotencyPurge } from './api/idempotency.js';
import { buildApp } from './app.js';
import { type Clock, systemClock } from './clock.js';
import type { Config } from './config.js';
import { DeliveryEngine } from './delivery/engine.js';
import { createLogger } from './logger.js';
import { createMetrics } from './metrics.js';
import { healthGauges } from './operations/gauges.js';
import { OperationsMonitor } from './operations/monitor.js';
import { blobContext, type Cipher, createCipher } from './security/crypto.js';
import { hasSettingsAdvice } from './store/capabilities.js';
import { createPostgresStore } from './store/postgres/index.js';
import { createSqliteStore } from './store/sqlite/index.js';
import type { Store } from './store/types.js';
import { Readiness, type WarmUpResult, warmUp } from './warm-up.js';

export interface ServiceOptions {
  clock?: Clock;
  logger?: Logger;
  /** Where the start banner goes; default stdout. */
  print?: (text: string) => void;
  /** The dashboard's built files; default `apps/dashboard/dist`, null for none. */
  dashboardDir?: string | null;
  /** PostgreSQL only: the schema holding the tables (default `public`); tests isolate with it. */
  databaseSchema?: string;
  /** How often the pending-deliveries gauge is counted; default `PENDING_REFRESH_MS` (tests). */
  pendingRefreshMs?: number;
  /** How often the operations loop runs; default `BUILT_IN.operationsIntervalMs` (tests). */
  operationsIntervalMs?: number;
  /**
   * Tests: called once the server listens, before the warm-up; the warm-up waits for it, and
   * `/readyz` answers 503 `warming` meanwhile.
   */
  beforeWarmUp?: (url: string) => Promise<void>;
  /**
   * How many times the warm-up runs the routes and the signing for V8 to optimize them; default
   * `JIT_ROUNDS`. Tests that start many services pass 0: they measure no latency.
   */
  jitRounds?: number;
  /** The warm-up's bound; default `WARM_UP_TIMEOUT_MS`. Tests of the bound itself pass less. */
  warmUpTimeoutMs?: number;
}

export interface DevAccount {
  accountId: string;
  apiKey: string;
}

export interface RunningService {
  url: string;
  /** The development account and its key (development on SQLite), for the banner and tests. */
  dev: DevAccount | null;
  store: Store;
  /** The HTTP app (tests read its routes). */
  app: FastifyInstance;
  /** What the warm-up at start did; `startService` resolves after it. */
  warmUp: WarmUpResult;
  close(): Promise<void>;
}

const DEV_KEYS_FILE = 'dev-keys.json';

/**
 * Opens the store and applies its migrations (`migrate` command, and every start): PostgreSQL
 * with `DATABASE_URL`, else the embedded SQLite file in the data dir.
 */
export async function openStore(config: Config, schema?: string): Promise<Store> {
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const store: Store = config.databaseUrl
    ? createPostgresStore({ url: config.databaseUrl, schema })
    : createSqliteStore({ path: config.databasePath });
  try {
    await store.migrate();
  } catch (err) {
    await store.close().catch(() => {});
    throw err;
  }
  return store;
}

/**
 * The development account: created on the first run and kept, with its API key, in
 * `<dataDir>/dev-keys.json` (mode 0600) so it can be printed at every start. Development only.
 */
async function ensureDevAccount(config: Config, store: Store, clock: Clock): Promise<DevAccount> {
  const path = join(config.dataDir, DEV_KEYS_FILE);
  if (existsSync(path)) {
    const saved = JSON.parse(readFileSync(path, 'utf8')) as {
      account_id?: string;
      api_key?: string;
    };
    if (saved.account_id && saved.api_key && (await store.getAccount(saved.account_id))) {
      return { accountId: saved.account_id, apiKey: saved.api_key };
    }
  }
  const account = await createAccount(store, 'Development', clock.now());
  const text = `${JSON.stringify({ account_id: account.id, api_key: account.apiKey }, null, 2)}\n`;
  writeFileSync(path, text, { mode: 0o600 });
  chmodSync(path, 0o600);
  return { accountId: account.id, apiKey: account.apiKey };
}

export async function startService(
  config: Config,
  opts: ServiceOptions = {},
): Promise<RunningService> {
  const clock = opts.clock ?? systemClock;
  const logger = opts.logger ?? createLogger(config.logLevel);
  const print = opts.print ?? ((text: string) => process.stdout.write(text));
  const store = await openStore(config, opts.databaseSchema);
  if (hasSettingsAdvice(store)) {
    for (const warning of await store.settingWarnings()) logger.warn(warning);
  }
  const cipher = createCipher(config.encryptionKeys);
  const unreadable = await unreadableSecrets(store, cipher);
  if (unreadable > 0) {
    logger.error(
      { webhooks: unreadable, sampled: SECRET_SAMPLE },
      `the encryption key cannot decrypt the secrets of ${unreadable} of the newest ${SECRET_SAMPLE} ` +
        'webhooks: it is not the key they were stored with. Their deliveries fail with ' +
        'configuration_error until the service runs with that key (AF_ENCRYPTION_KEYS)',
    );
  }
  const metrics = createMetrics();
  const servesApi = config.role !== 'worker';
  const delivers = config.role !== 'api';
  const dev =
    config.env === 'development' && servesApi ? await ensureDevAccount(config, store, clock) : null;

  const engine = new DeliveryEngine({
    store,
    cipher,
    clock,
    logger: logger.child({ component: 'delivery' }),
    config: config.delivery,
    metrics,
  });
  const readiness = new Readiness();
  const app = await buildApp({
    config,
    readiness,
    store,
    cipher,
    engine,
    clock,
    logger,
    metrics,
    routes: servesApi ? 'all' : 'operations',
    ...(opts.dashboardDir === undefined ? {} : { dashboardDir: opts.dashboardDir }),
  });

  let address: string;
  try {
    address = await app.listen({ port: config.port, host: config.host });
  } catch (err) {
    await app.close().catch(() => {});
    await store.close();
    throw err;
  }
  // An `api` process sends only test deliveries (the action waits for them); workers send the rest.
  if (delivers) engine.start();
  const operations = delivers
    ? new OperationsMonitor({
        store,
        clock,
        logger: logger.child({ component: 'operations' }),
        settings: config.operations,
        notify: () => engine.notify(),
        metrics,
        certificates: engine.certificates,
        ...(opts.operationsIntervalMs === undefined
          ? {}
          : { intervalMs: opts.operationsIntervalMs }),
      })
    : undefined;
  operations?.start();

  const stopPurge = startIdempotencyPurge(store, clock, logger);
  const stopPendingGauge = metrics.watchPending(() => store.countPending(), {
    ...(opts.pendingRefreshMs === undefined ? {} : { intervalMs: opts.pendingRefreshMs }),
    onError: (err) => logger.warn({ err }, 'counting pending deliveries for /metrics failed'),
  });

  const stopHealthGauges = metrics.watchHealth(() => healthGauges(store, clock), {
    ...(opts.pendingRefreshMs === undefined ? {} : { intervalMs: opts.pendingRefreshMs }),
    onError: (err) => logger.warn({ err }, 'reading webhook health for /metrics failed'),
  });

  const url = address.replace('://[::1]', '://localhost');
  await opts.beforeWarmUp?.(url);
  const warm = await warmUp({
    app,
    store,
    cipher,
    config,
    logger,
    servesApi,
    url,
    ...(opts.jitRounds === undefined ? {} : { jitRounds: opts.jitRounds }),
    ...(opts.warmUpTimeoutMs === undefined ? {} : { timeoutMs: opts.warmUpTimeoutMs }),
    ...(delivers
      ? { deliveries: { engine, metrics, count: config.warmUpDeliveries } }
      : { inserts: { metrics, count: config.warmUpDeliveries } }),
  });
  readiness.markWarm();
  logger.info(
    {
      ms: Math.round(warm.ms),
      connections: warm.connections,
      deliveries: warm.deliveries,
      events: warm.events,
      failed: warm.failed,
    },
    `warmed up in ${Math.round(warm.ms)} ms; /readyz answers 200`,
  );
  print(banner(config, url, dev, warm));

  let closing: Promise<void> | undefined;
  return {
    url,
    dev,
    store,
    app,
    warmUp: warm,
    close() {
      closing ??= (async () => {
        stopPurge();
        stopPendingGauge();
        stopHealthGauges();
        await operations?.stop();
        await app.close();
        await engine.stop({ graceMs: Math.min(config.delivery.timeoutMs + 1000, 15_000) });
        await store.close();
      })();
      return closing;
    },
  };
}

/** Webhooks a start tries to decrypt the secrets of. */
const SECRET_SAMPLE = 20;

/** How many of the newest webhooks' secrets this key cannot decrypt. */
async function unreadableSecrets(store: Store, cipher: Cipher): Promise<number> {
  let unreadable = 0;
  for (const { id, accountId, secretEnc } of await store.sampleWebhookSecrets(SECRET_SAMPLE)) {
    try {
      cipher.decrypt(secretEnc, blobContext.secretOf(id, accountId));
    } catch {
      unreadable++;
    }
  }
  return unreadable;
}

/**
 * The SSRF policy in force and why, for the start banner: the default depends on the store and
 * `AF_ENV` (`config.ts`), and an operator should not have to work it out.
 */
export function privateNetworksPolicy(
  config: Pick<
    Config,
    'allowPrivateNetworks' | 'allowPrivateNetworksExplicit' | 'env' | 'databaseUrl'
  >,
): string {
  const why = config.allowPrivateNetworksExplicit
    ? `AF_ALLOW_PRIVATE_NETWORKS=${config.allowPrivateNetworks}`
    : config.allowPrivateNetworks
      ? 'development on SQLite; AF_ALLOW_PRIVATE_NETWORKS=false to refuse'
      : `${config.env === 'production' ? 'production' : 'PostgreSQL'}; AF_ALLOW_PRIVATE_NETWORKS=true to allow`;
  return config.allowPrivateNetworks
    ? `allowed, but never cloud-metadata, link-local or 0.0.0.0 (${why})`
    : `refused (${why})`;
}

function banner(config: Config, url: string, dev: DevAccount | null, warm: WarmUpResult): string {
  const dir = relative(process.cwd(), config.dataDir) || '.';
  const role = { all: '', api: ' (role: api)', worker: ' (role: worker, operations routes only)' }[
    config.role
  ];
  const database = config.databaseUrl
    ? `PostgreSQL ${config.databaseUrl.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@')}`
    : config.databasePath;
  const lines = [
    '',
    `Agent Factory Webhooks ${config.version} is running at ${url}${role}`,
    `  Dashboard:    ${url}/`,
    `  API docs:     ${url}/docs`,
    `  Database:     ${database}`,
    `  Private networks: ${privateNetworksPolicy(config)}`,
    `  Warm-up:      ${Math.round(warm.ms)} ms (${warm.connections} database connection${warm.connections === 1 ? '' : 's'}${warm.deliveries ? `, ${warm.deliveries} deliveries` : ''}${warm.events ? `, ${warm.events} events` : ''}${warm.failed.length ? `; failed: ${warm.failed.join(', ')}` : ''}${warm.timedOut ? '; cut short' : ''})`,
    config.generatedKeys.admin
      ? `  Admin key:    ${config.adminKey}  (generated, kept in ${join(dir, 'admin-key')})`
      : '  Admin key:    from AF_ADMIN_KEY',
  ];
  if (dev) {
    lines.push(
      `  Dev API key:  ${dev.apiKey}  (account ${dev.accountId}, kept in ${join(dir, DEV_KEYS_FILE)})`,
      '',
      'Create a webhook (replace the URL with your receiver):',
      '',
      `  curl -s -X POST ${url}/v1/webhooks \\`,
      `    -H 'Authorization: Bearer ${dev.apiKey}' \\`,
      `    -H 'Content-Type: application/json' \\`,
      `    -d '{"name":"My receiver","url":"http://127.0.0.1:4000/webhooks","events":["*"]}'`,
    );
  }
  lines.push('', '');
  return lines.join('\n');
}
