/**
 * Shared setup for the engine tests: a real SQLite file in a temp dir, a real cipher, an engine
 * with a compressed schedule, a clock that can jump ahead (`advanceTo`: a backoff passes without
 * being waited for), and pino logs captured in memory so a test can assert that no secret
 * reached them.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { Clock } from '../src/clock.js';
import type { DeliveryConfig } from '../src/config.js';
import { DeliveryEngine, type EngineMetrics } from '../src/delivery/engine.js';
import { newId } from '../src/ids.js';
import { type Cipher, createCipher } from '../src/security/crypto.js';
import { createPostgresStore } from '../src/store/postgres/index.js';
import { createSqliteStore } from '../src/store/sqlite/index.js';
import type { ClaimOptions, EventRow, Store, WebhookRow } from '../src/store/types.js';
import { describePostgres } from './helpers/postgres.js';
import { webhookRow } from './helpers/rows.js';

/** Real time plus an offset that tests move forward (e.g. 12 h for a late retry). */
export class OffsetClock implements Clock {
  offset = 0;
  /** When set, time stands still here (signing at an exact second, e.g. the vectors'). */
  frozenAt: number | undefined;
  now(): number {
    return this.frozenAt ?? Date.now() + this.offset;
  }
}

export const fastConfig: DeliveryConfig = {
  timeoutMs: 1000,
  maxRetries: 3,
  baseDelayMs: 200,
  factor: 2,
  windowMs: 5000,
  jitter: 0,
  endpointConcurrency: 10,
  allowPrivateNetworks: true,
  userAgent: 'AgentFactory-Webhooks/0.0.0-test',
};

export interface Harness {
  store: Store;
  cipher: Cipher;
  clock: OffsetClock;
  engine: DeliveryEngine;
  accountId: string;
  logs: string[];
  attempts: Parameters<EngineMetrics['attemptFinished']>[0][];
  webhook(
    over: Partial<WebhookRow> & { secret?: string; headers?: Record<string, string> },
  ): Promise<WebhookRow & { secret: string }>;
  publish(event: string, data: unknown): Promise<EventRow>;
  /** Polls `check` every 20 ms until it returns a truthy value, at most `timeoutMs`. */
  until<T>(check: () => Promise<T> | T, timeoutMs?: number): Promise<NonNullable<T>>;
  /**
   * Time passes without being waited for: once no delivery of the account is in flight (a jump
   * over a live lease would end it), stops the injected clock at `at` (not before now), wakes
   * the engine, and resolves once it has claimed at `at` and has nothing in flight again. Every
   * delivery due by `at` has then been attempted and its outcome written: what a test sees
   * after it, the engine did at `at`. The harness's engine only (`engine`).
   */
  advanceTo(at: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * `openStore` gives the store to run on, migrated (a PostgreSQL schema of the test's); default a
 * fresh SQLite file.
 */
export async function createHarness(
  config: Partial<DeliveryConfig> = {},
  openStore?: () => Promise<Store>,
): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'af-engine-'));
  let store: Store;
  if (openStore) store = await openStore();
  else {
    store = createSqliteStore({ path: join(dir, 'engine.db') });
    await store.migrate();
  }
  const cipher = createCipher(randomBytes(32).toString('base64'));
  const clock = new OffsetClock();
  const logs: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => logs.push(line) });
  const attempts: Harness['attempts'] = [];
  // The engine's view of the store, noting the clock time of each claim that looked at the whole
  // queue (not a refill of some webhooks only), once it has returned.
  let claimedAt = Number.NEGATIVE_INFINITY;
  const noted = (opts: ClaimOptions) => {
    if (opts.webhooks === undefined) claimedAt = Math.max(claimedAt, opts.now);
  };
  const watched = new Proxy(store, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== 'function') return value;
      const call = (...args: unknown[]) =>
        (value as (...a: unknown[]) => unknown).apply(target, args);
      if (prop === 'claimDue') {
        return async (opts: ClaimOptions) => {
          const claimed = await call(opts);
          noted(opts);
          return claimed;
        };
      }
      if (prop === 'completeAndClaim') {
        return async (outcomes: unknown, opts: ClaimOptions) => {
          const claimed = await call(outcomes, opts);
          noted(opts);
          return claimed;
        };
      }
      return call;
    },
  });
  const engine = new DeliveryEngine({
    store: watched,
    cipher,
    clock,
    logger,
    config: { ...fastConfig, ...config },
    metrics: { attemptFinished: (a) => attempts.push(a) },
    pollIntervalMs: 200,
  });
  const accountId = newId('acct');
  await store.createAccount({ id: accountId, name: 'test', createdAt: clock.now() });

  async function until<T>(check: () => Promise<T> | T, timeoutMs = 8000): Promise<NonNullable<T>> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const v = await check();
      if (v) return v as NonNullable<T>;
      if (Date.now() > end) throw new Error(`condition not met within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  const nothingInFlight = async () =>
    !(await store.listDeliveries(accountId, {}, { limit: 100 })).data.some((d) => d.inFlight);

  return {
    store,
    cipher,
    clock,
    engine,
    accountId,
    logs,
    attempts,
    async webhook(over) {
      const secret = over.secret ?? `whsec_${randomBytes(32).toString('base64')}`;
      const headers = over.headers ?? {};
      const now = clock.now();
      const row: WebhookRow = webhookRow({
        accountId,
        name: 'test hook',
        url: 'http://127.0.0.1:9/',
        headersEnc: Object.keys(headers).length ? cipher.encrypt(JSON.stringify(headers)) : null,
        headerNames: Object.keys(headers),
        secretEnc: cipher.encrypt(secret),
        createdAt: now,
        ...over,
      });
      delete (row as { secret?: string }).secret;
      delete (row as { headers?: unknown }).headers;
      await store.createWebhook(row);
      return { ...row, secret };
    },
    async publish(event, data) {
      const id = newId('evt');
      const now = clock.now();
      const body = JSON.stringify({ id, event, timestamp: new Date(now).toISOString(), data });
      const [r] = await store.insertEvents(accountId, [{ id, event, timestamp: now, body }], now);
      if (r?.status !== 'created') throw new Error(`insertEvents: ${r?.status}`);
      engine.notify();
      return r.event;
    },
    until,
    async advanceTo(at) {
      await until(nothingInFlight);
      if (at < clock.now()) throw new Error(`advanceTo: ${at} is earlier than the clock`);
      clock.frozenAt = at;
      engine.notify();
      await until(() => claimedAt >= at);
      await until(nothingInFlight);
    },
    async close() {
      await engine.stop({ graceMs: 100 });
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The delivery ids of an event, and one delivery's detail. */
export async function deliveriesOf(h: Harness, eventId: string) {
  const e = await h.store.getEvent(h.accountId, eventId);
  return Promise.all((e?.deliveryIds ?? []).map((id) => h.store.getDelivery(h.accountId, id)));
}

/**
 * Runs `suite` on both stores: on a fresh SQLite file per harness, then (in `describePostgres`:
 * skipped with one line without PostgreSQL, failing under `CI=true`) on a fresh schema per
 * harness. Call it at the top level of a test file with `await`.
 */
export async function onEachStore(
  suite: (storeName: string, openStore?: () => Promise<Store>) => void,
): Promise<void> {
  suite('SQLite');
  await describePostgres('on PostgreSQL', ({ url, freshSchema }) => {
    suite('PostgreSQL', async () => {
      const store = createPostgresStore({ url, schema: freshSchema(), poolSize: 4 });
      await store.migrate();
      return store;
    });
  });
}
