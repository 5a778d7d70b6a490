/**
 * The warm-up at start (`src/warm-up.ts`): `/readyz` answers 503 `warming` until it has run and
 * 200 after, on both stores; its real deliveries reach its own receiver past the SSRF guard and
 * leave no row and no count in /metrics; on PostgreSQL every pooled connection is open
 * afterwards; a step that fails or hangs does not hold readiness.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import Fastify from 'fastify';
import { afterEach, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { createCipher } from '../src/security/crypto.js';
import { type RunningService, startService } from '../src/service.js';
import type { Store } from '../src/store/types.js';
import { warmUp, warmUpAccountId } from '../src/warm-up.js';
import { describePostgres } from './helpers/postgres.js';
import { webhookRow } from './helpers/rows.js';
import { startTestServer, TEST_ENV } from './helpers/server.js';

const TABLES = [
  'accounts',
  'api_keys',
  'webhooks',
  'events',
  'deliveries',
  'attempts',
  'idempotency_keys',
  'audit_log',
  'webhook_notices',
];

/**
 * The warm-up's real deliveries, with private networks refused, as in production: only the
 * guard's exception for its own receiver lets them through.
 */
const WARM_DELIVERIES = { AF_WARM_UP_DELIVERIES: '400', AF_ALLOW_PRIVATE_NETWORKS: 'false' };

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** `/readyz` as a load balancer sees it. */
async function readyz(url: string) {
  const res = await fetch(`${url}/readyz`);
  return { status: res.status, body: await res.json(), retryAfter: res.headers.get('retry-after') };
}

/**
 * Starts the service on `env`; while it is held before its warm-up, reads `/readyz` and the
 * row counts (`count`), then lets it warm up.
 */
async function startHeld(
  env: Record<string, string>,
  count: (dataDir: string) => Promise<Record<string, number>>,
  databaseSchema?: string,
  options: { warmUpTimeoutMs?: number; jitRounds?: number } = {},
) {
  const dataDir = mkdtempSync(join(tmpdir(), 'af-warm-'));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const lines: string[] = [];
  const printed: string[] = [];
  let before: { readyz: Awaited<ReturnType<typeof readyz>>; rows: Record<string, number> } | null =
    null;
  const service: RunningService = await startService(
    loadConfig({ ...TEST_ENV, AF_DATA_DIR: dataDir, ...env }),
    {
      // At debug, where every request has its line (`request`), but the warm-up's.
      logger: createLogger('debug', { write: (l: string) => void lines.push(l) }),
      print: (text) => void printed.push(text),
      dashboardDir: null,
      ...(databaseSchema ? { databaseSchema } : {}),
      ...options,
      beforeWarmUp: async (url) => {
        before = { readyz: await readyz(url), rows: await count(dataDir) };
      },
    },
  );
  cleanups.push(() => service.close());
  return { service, dataDir, before: before!, lines, printed: printed.join('') };
}

async function expectWarmStart(started: Awaited<ReturnType<typeof startHeld>>) {
  expect(started.before.readyz).toEqual({
    status: 503,
    body: { status: 'warming' },
    retryAfter: '1',
  });
  expect(started.service.warmUp.failed).toEqual([]);
  expect(started.service.warmUp.timedOut).toBe(false);
  const line = started.lines.map((l) => JSON.parse(l)).find((l) => /^warmed up in/.test(l.msg));
  expect(line).toMatchObject({ level: 30, connections: started.service.warmUp.connections });
  expect(started.printed).toMatch(/Warm-up: +\d+ ms/);
  // The warm-up's own requests (a thousand) are not in the request log; the test's one is.
  expect(started.lines.filter((l) => l.includes('"msg":"request"'))).toHaveLength(1);
  // Every one of its deliveries reached its receiver; /metrics counts none of its traffic.
  expect(started.service.warmUp.deliveries).toBe(400);
  expect(line).toMatchObject({ deliveries: 400 });
  const metrics = await (await fetch(`${started.service.url}/metrics`)).text();
  expect(metrics).toMatch(/^agentfactory_events_accepted_total 0$/m);
  expect(metrics).not.toMatch(/^agentfactory_delivery_attempts_total\{/m);
}

/** Every table's row count in the SQLite file of `dataDir`. */
async function sqliteCounts(dataDir: string) {
  const db = new Database(join(dataDir, 'agentfactory.db'), { readonly: true });
  try {
    return Object.fromEntries(
      TABLES.map((t) => [
        t,
        (db.prepare(`SELECT COUNT(*) AS n FROM ${t}`).get() as { n: number }).n,
      ]),
    );
  } finally {
    db.close();
  }
}

it('SQLite: /readyz is 503 warming until the warm-up ran, then 200; no row is left', async () => {
  const started = await startHeld(WARM_DELIVERIES, sqliteCounts);
  await expectWarmStart(started);
  expect(started.service.warmUp.connections).toBe(1);
  expect(await readyz(started.service.url)).toMatchObject({
    status: 200,
    body: { status: 'ready' },
  });
  expect(await sqliteCounts(started.dataDir)).toEqual(started.before.rows);
  // The development account exists (made before the warm-up), and nothing else.
  expect(started.before.rows).toMatchObject({ accounts: 1, events: 0, deliveries: 0 });
});

it('makes only the deliveries it can send within its bound, so it is never cut short with work left running', async () => {
  // More deliveries than any machine sends in the bound: a slow or busy machine, as two workers
  // starting together on a slow host are. The step stops making them at half the bound, waits
  // for those made (never more than a thousand ahead), and removes its account in time.
  const started = await startHeld(
    { AF_WARM_UP_DELIVERIES: '100000', AF_ALLOW_PRIVATE_NETWORKS: 'false' },
    sqliteCounts,
    undefined,
    { warmUpTimeoutMs: 5_000, jitRounds: 0 },
  );
  const warm = started.service.warmUp;
  expect(warm.timedOut).toBe(false);
  expect(warm.failed).toEqual([]);
  expect(warm.deliveries).toBeGreaterThan(0);
  expect(warm.deliveries).toBeLessThan(100_000);
  expect(warm.deliveries % 4).toBe(0); // every event made was answered at its four webhooks
  // Nothing of it is left for the first traffic: no row, no delivery still to send.
  expect(await sqliteCounts(started.dataDir)).toEqual(started.before.rows);
});

await describePostgres('warm-up on PostgreSQL', (pg) => {
  const pgEnv = () => ({
    DATABASE_URL: pg.url,
    AF_ADMIN_KEY: 'admin-key-for-postgres-tests',
    AF_ENCRYPTION_KEY: Buffer.alloc(32, 9).toString('base64'),
  });

  /** The row count of every table the warm-up writes, in `schema`. */
  const rowCounts = (schema: string) => async () =>
    Object.fromEntries(
      await Promise.all(
        // PostgreSQL keeps leases in a table of their own (the warm-up's holding ones too).
        [...TABLES, 'delivery_leases'].map(
          async (t) =>
            [t, Number((await pg.sql(`select count(*) as n from ${schema}.${t}`))[0]!.n)] as const,
        ),
      ),
    );

  it('/readyz is 503 warming until the warm-up ran, then 200; every pooled connection is open; no row is left', async () => {
    const schema = pg.freshSchema();
    const count = rowCounts(schema);
    const env = { ...pgEnv(), ...WARM_DELIVERIES };
    const started = await startHeld(env, count, schema);
    await expectWarmStart(started);
    expect(started.service.warmUp.connections).toBe(10);
    expect((started.service.store as Store & { connections: number }).connections).toBe(10);
    expect(await readyz(started.service.url)).toMatchObject({
      status: 200,
      body: { status: 'ready' },
    });
    expect(await count()).toEqual(started.before.rows);
    expect(started.before.rows).toMatchObject({ accounts: 1, events: 0, deliveries: 0 });
    // The server side agrees: the service's connections are there (other test files may add
    // theirs to the count, never take them away).
    const [activity] = await pg.sql<{ n: string }>(
      `select count(*) as n from pg_stat_activity
       where datname = current_database() and application_name = 'agentfactory-webhooks'`,
    );
    expect(Number(activity!.n)).toBeGreaterThanOrEqual(10);
  });

  it('a worker (AF_ROLE=worker), which serves no API, warms up with real deliveries of events it inserts through the store; no row is left', async () => {
    const schema = pg.freshSchema();
    const count = rowCounts(schema);
    const started = await startHeld(
      { ...pgEnv(), ...WARM_DELIVERIES, AF_ROLE: 'worker' },
      count,
      schema,
    );
    await expectWarmStart(started);
    expect(await readyz(started.service.url)).toMatchObject({
      status: 200,
      body: { status: 'ready' },
    });
    expect(await count()).toEqual(started.before.rows);
  });

  it('an api process (AF_ROLE=api), which sends nothing, posts events through its API to an account without webhooks; no row is left', async () => {
    const schema = pg.freshSchema();
    const count = rowCounts(schema);
    const started = await startHeld(
      { ...pgEnv(), ...WARM_DELIVERIES, AF_ROLE: 'api' },
      count,
      schema,
    );
    expect(started.service.warmUp).toMatchObject({ failed: [], timedOut: false, deliveries: 0 });
    // 400 deliveries' worth at four webhooks each: 100 events, every one accepted.
    expect(started.service.warmUp.events).toBe(100);
    expect(started.printed).toMatch(/Warm-up: +\d+ ms \(10 database connections, 100 events\)/);
    expect(started.lines.filter((l) => l.includes('"msg":"request"'))).toHaveLength(1);
    const metrics = await (await fetch(`${started.service.url}/metrics`)).text();
    expect(metrics).toMatch(/^agentfactory_events_accepted_total 0$/m);
    expect(await count()).toEqual(started.before.rows);
  });

  it("another process on the database claims none of a starting process's warm-up deliveries", async () => {
    const schema = pg.freshSchema();
    const env = pgEnv();
    // Running first, idle and warm: its guard refuses loopback, so any warm-up delivery it took
    // would be a failed attempt in its /metrics.
    const running = await startHeld(
      { ...env, AF_WARM_UP_DELIVERIES: '0', AF_ALLOW_PRIVATE_NETWORKS: 'false' },
      async () => ({}),
      schema,
    );
    // Between two processes an idle one took all of a starting one's warm-up deliveries before
    // they were held (docs/operations.md); in one test process the starting one tends to win
    // the race anyway, so the holding lease itself is the store contract's test ("holds its
    // webhook while leased"). This checks the whole step beside another service.
    const starting = await startHeld(
      { ...env, ...WARM_DELIVERIES, AF_WARM_UP_DELIVERIES: '2000' },
      async () => ({}),
      schema,
    );
    expect(starting.service.warmUp).toMatchObject({ deliveries: 2000, timedOut: false });
    const metrics = await (await fetch(`${running.service.url}/metrics`)).text();
    expect(metrics).not.toMatch(/^agentfactory_delivery_attempts_total\{/m);
    const [left] = await pg.sql<{ n: string }>(`select count(*) as n from ${schema}.deliveries`);
    expect(Number(left!.n)).toBe(0);
  });
});

it('deletes what a warm-up that never finished left, once it is older than any running warm-up', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'af-warm-'));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const now = Date.now();
  // A warm-up killed ten minutes ago, and one another process runs now.
  const killed = warmUpAccountId(now - 600_000);
  const running = warmUpAccountId(now);
  const first = await startTestServer({ AF_DATA_DIR: dataDir });
  await first.store.createAccount({ id: killed, name: 'warm-up', createdAt: now - 600_000 });
  await first.store.createAccount({ id: running, name: 'warm-up', createdAt: now });
  const hook = webhookRow({
    accountId: killed,
    url: 'http://127.0.0.1:9/warm-up/1',
    secretEnc: 'unused',
    createdAt: now - 600_000,
  });
  await first.store.createWebhook(hook);
  await first.close();

  // Even with the warm-up's deliveries off (TEST_ENV): the leftovers go at every start.
  const second = await startTestServer({ AF_DATA_DIR: dataDir });
  cleanups.push(() => second.close());
  expect(await second.store.getAccount(killed)).toBeUndefined();
  expect(await second.store.getWebhook(killed, hook.id)).toBeUndefined();
  expect(await second.store.getAccount(running)).toMatchObject({ id: running });
  expect(await second.store.getAccount(second.accountId)).toMatchObject({ name: 'Development' });
});

it('a step that fails is logged and skipped; one that hangs is cut at the bound', async () => {
  const config = loadConfig({ ...TEST_ENV, AF_DATA_DIR: mkdtempSync(join(tmpdir(), 'af-warm-')) });
  cleanups.push(() => rmSync(config.dataDir, { recursive: true, force: true }));
  const app = Fastify();
  app.get('/healthz', async () => ({ status: 'ok' }));
  cleanups.push(() => app.close());
  const lines: string[] = [];
  const logger = createLogger('info', { write: (l: string) => void lines.push(l) });
  const deps = {
    app,
    cipher: createCipher(config.encryptionKey),
    config,
    logger,
    servesApi: false,
  };

  const failing = { warmUp: async () => Promise.reject(new Error('no connection')) };
  const failed = await warmUp({ ...deps, store: failing as unknown as Store });
  expect(failed).toMatchObject({ failed: ['store'], timedOut: false });
  expect(lines.join('')).toContain('warm-up step \\"store\\" failed');

  const hanging = { warmUp: () => new Promise(() => {}) };
  const cut = await warmUp({ ...deps, store: hanging as unknown as Store, timeoutMs: 200 });
  expect(cut.timedOut).toBe(true);
  expect(cut.ms).toBeLessThan(2_000);
  expect(lines.join('')).toContain('did not finish within 200 ms');
});
