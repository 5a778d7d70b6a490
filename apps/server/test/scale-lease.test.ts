/**
 * Leases and the heartbeat, with a short lease (600–900 ms) and two engines (two workers) on one
 * store (SQLite, and PostgreSQL with a pool each): a live worker keeps its deliveries however long an attempt runs; a dead holder's lease is
 * claimed again within the lease; a worker that cannot renew gives its delivery up before the
 * lease ends, so the two workers never send it at the same time.
 */
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../src/clock.js';
import { ConfigError, loadConfig } from '../src/config.js';
import { DeliveryEngine } from '../src/delivery/engine.js';
import { newId } from '../src/ids.js';
import { createCipher } from '../src/security/crypto.js';
import { createPostgresStore } from '../src/store/postgres/index.js';
import type { Store } from '../src/store/types.js';
import { createHarness, deliveriesOf, fastConfig, type Harness } from './engine-harness.js';
import { describePostgres } from './helpers/postgres.js';
import { webhookRow } from './helpers/rows.js';
import { startTrackingReceiver, type TrackingReceiver } from './helpers/tracking-receiver.js';

let h: Harness | undefined;
let rx: TrackingReceiver | undefined;
const engines: DeliveryEngine[] = [];

afterEach(async () => {
  for (const e of engines.splice(0)) await e.stop({ graceMs: 100 });
  await h?.close();
  await rx?.close();
  h = undefined;
  rx = undefined;
});

/** A second worker on the harness's store (or on `store`), with its own owner id. */
function secondEngine(harness: Harness, leaseMs: number, store: Store = harness.store) {
  const logs: string[] = [];
  const engine = new DeliveryEngine({
    store,
    cipher: harness.cipher,
    clock: harness.clock,
    logger: pino({ level: 'debug' }, { write: (line: string) => logs.push(line) }),
    config: { ...fastConfig, timeoutMs: 5000, leaseMs },
    pollIntervalMs: 100,
  });
  engines.push(engine);
  return { engine, logs };
}

describe('AF_LEASE_DURATION', () => {
  const base = { AF_ADMIN_KEY: 'admin-key-for-lease-tests', AF_DATA_DIR: '/tmp/af-lease-unused' };
  const key = Buffer.alloc(32, 1).toString('base64');
  it('defaults to 15 s, is a duration, and is at least 1 s', () => {
    expect(loadConfig({ ...base, AF_ENCRYPTION_KEY: key }).delivery.leaseMs).toBe(15_000);
    const c = loadConfig({ ...base, AF_ENCRYPTION_KEY: key, AF_LEASE_DURATION: '3s' });
    expect(c.delivery.leaseMs).toBe(3000);
    for (const bad of ['500ms', 'soon']) {
      expect(() => loadConfig({ ...base, AF_ENCRYPTION_KEY: key, AF_LEASE_DURATION: bad })).toThrow(
        ConfigError,
      );
      expect(() => loadConfig({ ...base, AF_ENCRYPTION_KEY: key, AF_LEASE_DURATION: bad })).toThrow(
        /AF_LEASE_DURATION/,
      );
    }
  });
});

describe('leases and heartbeat', () => {
  it('a worker keeps its leases while attempts run 3× longer than the lease: no second send', async () => {
    rx = await startTrackingReceiver();
    rx.delayMs = () => 1800;
    h = await createHarness({ timeoutMs: 5000, leaseMs: 600 });
    await h.webhook({ url: rx.endpoint(0) });
    const events = await Promise.all([1, 2, 3].map((n) => h!.publish('agent.created', { n })));
    h.engine.start();
    await rx.waitForDistinct(1, 5000);
    // The second worker polls every 100 ms: an expired lease would be taken at once.
    secondEngine(h, 600).engine.start();
    await rx.waitForDistinct(3, 10_000);
    const ds = (await Promise.all(events.map((e) => deliveriesOf(h!, e.id)))).flat();
    await h.until(async () => {
      const all = (await Promise.all(events.map((e) => deliveriesOf(h!, e.id)))).flat();
      return all.every((d) => d?.status === 'succeeded');
    });
    expect(ds).toHaveLength(3);
    expect(rx.overlaps).toEqual([]);
    expect(rx.repeated()).toEqual([]);
    expect(rx.total()).toBe(3);
    for (const d of (await Promise.all(events.map((e) => deliveriesOf(h!, e.id)))).flat()) {
      expect(d?.attempts).toHaveLength(1);
    }
  });

  it('a lease whose holder died is claimed again within the lease', async () => {
    rx = await startTrackingReceiver();
    h = await createHarness({ timeoutMs: 5000, leaseMs: 600 });
    await h.webhook({ url: rx.endpoint(0) });
    await h.publish('agent.created', { n: 1 });
    const claimedAt = h.clock.now();
    // A worker that claims and dies: nobody renews its lease.
    const dead = await h.store.claimDue({
      now: claimedAt,
      limit: 10,
      owner: 'dead-worker',
      leaseMs: 600,
      webhookLeases: 10,
    });
    expect(dead).toHaveLength(1);
    const { engine } = secondEngine(h, 600);
    engine.start();
    await rx.waitForDistinct(1, 5000);
    const took = Date.now() - claimedAt;
    expect(took).toBeGreaterThanOrEqual(550);
    expect(took).toBeLessThan(600 + 1500);
  });

  it('renewals failing: the attempt is abandoned before its lease ends; another worker sends it, never at the same time', async () => {
    rx = await startTrackingReceiver();
    let first = true;
    rx.delayMs = () => {
      if (!first) return 0;
      first = false;
      return 4000;
    };
    h = await createHarness();
    await h.webhook({ url: rx.endpoint(0) });
    const evt = await h.publish('agent.created', { n: 1 });
    // Worker A cannot reach the database to renew (everything else works).
    const cutOff = new Proxy(h.store, {
      get(target, prop, recv) {
        if (prop === 'renewLeases') return async () => Promise.reject(new Error('unreachable'));
        const v = Reflect.get(target, prop, recv);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const a = secondEngine(h, 900, cutOff);
    a.engine.start();
    await h.until(() => rx!.inFlightIds().length === 1, 5000);
    const startedAt = Date.now();
    // Worker B, healthy, takes the delivery once A's lease has run out.
    secondEngine(h, 900).engine.start();
    await rx.waitForDistinct(1, 8000);
    const [d] = await deliveriesOf(h, evt.id);
    await h.until(async () => (await deliveriesOf(h!, evt.id))[0]?.status === 'succeeded');
    expect(rx.overlaps).toEqual([]);
    expect(rx.counts.get(d!.id)).toBe(2);
    // A gave up (aborting its request) well before its 4 s reply and before the lease ended.
    expect(Date.now() - startedAt).toBeLessThan(3000);
    expect(a.logs.join('\n')).toMatch(/gave up/);
    // A's outcome was dropped: one attempt recorded, B's.
    const after = (await deliveriesOf(h, evt.id))[0]!;
    expect(after.attempts).toHaveLength(1);
    expect(after.attempts[0]?.statusCode).toBe(200);
  });
});

await describePostgres('leases and heartbeat on PostgreSQL', (pgc) => {
  it('two workers, attempts 3× longer than the 600 ms lease: renewals keep them, no second send', async () => {
    // Two stores (two pools) on one schema: what two worker processes share.
    const schema = pgc.freshSchema();
    const store = createPostgresStore({ url: pgc.url, schema, poolSize: 4 });
    const other = createPostgresStore({ url: pgc.url, schema, poolSize: 4 });
    rx = await startTrackingReceiver();
    rx.delayMs = () => 1800;
    const cipher = createCipher(randomBytes(32).toString('base64'));
    const logger = pino({ level: 'silent' });
    const config = { ...fastConfig, timeoutMs: 5000, leaseMs: 600 };
    try {
      await store.migrate();
      const now = Date.now();
      const accountId = newId('acct');
      await store.createAccount({ id: accountId, name: 'lease', createdAt: now });
      await store.createWebhook(
        webhookRow({
          accountId,
          name: 'lease',
          url: rx.endpoint(0),
          secretEnc: cipher.encrypt(`whsec_${randomBytes(32).toString('base64')}`),
          createdAt: now,
        }),
      );
      const ids = [1, 2, 3].map(() => newId('evt'));
      await store.insertEvents(
        accountId,
        ids.map((id) => ({ id, event: 'agent.created', timestamp: now, body: `{"id":"${id}"}` })),
        now,
      );
      for (const s of [store, other]) {
        const engine = new DeliveryEngine({
          store: s,
          cipher,
          clock: systemClock,
          logger,
          config,
          pollIntervalMs: 100,
        });
        engines.push(engine);
        engine.start();
      }
      await rx.waitForDistinct(3, 10_000);
      let pending = 3;
      for (let i = 0; i < 50 && pending > 0; i++) {
        await new Promise((r) => setTimeout(r, 100));
        pending = await store.countPending();
      }
      expect(pending).toBe(0);
      expect(rx.overlaps).toEqual([]);
      expect(rx.repeated()).toEqual([]);
      expect(rx.total()).toBe(3);
    } finally {
      for (const e of engines.splice(0)) await e.stop({ graceMs: 100 });
      await other.close();
      await store.close();
    }
  });
});
