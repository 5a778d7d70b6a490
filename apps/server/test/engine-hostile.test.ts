/**
 * The engine against what it does not control: attempts that cannot be built, outcomes a store
 * refuses, endpoints that never answer beside healthy ones of another account. Real SQLite and
 * PostgreSQL, real receivers on loopback; the only fake is a store wrapper that refuses chosen
 * outcomes, since no real database refuses one row on demand (the NUL case on PostgreSQL is in
 * hostile-receivers.test.ts).
 */
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { DeliveryEngine } from '../src/delivery/engine.js';
import { newId } from '../src/ids.js';
import { createCipher } from '../src/security/crypto.js';
import type { AttemptOutcome, EventRow, Store } from '../src/store/types.js';
import {
  createHarness,
  deliveriesOf,
  fastConfig,
  type Harness,
  onEachStore,
} from './engine-harness.js';
import { type Receiver, startReceiver } from './helpers/receiver.js';
import { webhookRow } from './helpers/rows.js';

let h: Harness | undefined;
let engine: DeliveryEngine | undefined;
const receivers: Receiver[] = [];

afterEach(async () => {
  await engine?.stop({ graceMs: 50 });
  engine = undefined;
  await h?.close();
  h = undefined;
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

async function receiver(...args: Parameters<typeof startReceiver>): Promise<Receiver> {
  const r = await startReceiver(...args);
  receivers.push(r);
  return r;
}

/** A store that refuses any write holding an outcome `refuse` picks, counting every write. */
function refusing(store: Store, refuse: (o: AttemptOutcome) => boolean) {
  const writes = { calls: 0 };
  const check = (outcomes: AttemptOutcome[]) => {
    writes.calls++;
    if (outcomes.some(refuse)) throw new Error('invalid byte sequence for encoding "UTF8": 0x00');
  };
  const wrapped = new Proxy(store, {
    get(target, prop) {
      const value = Reflect.get(target, prop) as unknown;
      if (typeof value !== 'function') return value;
      if (prop === 'completeAttempts' || prop === 'completeAndClaim') {
        return async (outcomes: AttemptOutcome[], ...rest: unknown[]) => {
          check(outcomes);
          return (value as (...a: unknown[]) => Promise<unknown>).call(target, outcomes, ...rest);
        };
      }
      return (value as (...a: unknown[]) => unknown).bind(target);
    },
  });
  return { store: wrapped, writes };
}

await onEachStore(hostileTests);

function hostileTests(storeName: string, openStore?: () => Promise<Store>) {
  describe(`engine: attempts that cannot be built (${storeName})`, () => {
    it('records configuration_error and retries by the policy: a secret of another key, a header undici refuses', async () => {
      h = await createHarness({ maxRetries: 1 }, openStore);
      // Time stands still: the retry comes when `advanceTo` reaches its due time.
      h.clock.frozenAt = h.clock.now();
      const rx = await receiver();
      const other = createCipher(randomBytes(32).toString('base64'));
      const foreign = await h.webhook({
        url: `${rx.url}/foreign`,
        secretEnc: other.encrypt('whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0'),
      });
      const badHeader = await h.webhook({
        url: `${rx.url}/header`,
        headers: { 'X-Bad': 'line\u0001break' },
      });
      const good = await h.webhook({ url: `${rx.url}/good` });
      h.engine.start();
      const e = await h.publish('agent.created', { agent_id: 'a' });
      const t0 = h.clock.now();
      // The first attempts written: the two that could not be built are due again after the
      // backoff, as any failure.
      const firsts = await h.until(async () => {
        const ds = await deliveriesOf(h!, e.id);
        return ds.every((d) => d && d.attemptCount === 1 && !d.inFlight) ? ds : null;
      });
      for (const hook of [foreign, badHeader]) {
        expect(firsts.find((d) => d!.webhookId === hook.id)).toMatchObject({
          status: 'pending',
          nextAttemptAt: t0 + fastConfig.baseDelayMs,
        });
      }
      await h.advanceTo(t0 + fastConfig.baseDelayMs);
      const all = await h.until(async () => {
        const ds = await deliveriesOf(h!, e.id);
        return ds.every((d) => d && d.status !== 'pending') ? ds : null;
      });
      const byHook = new Map(all.map((d) => [d!.webhookId, d!]));
      for (const hook of [foreign, badHeader]) {
        const d = byHook.get(hook.id)!;
        expect(d.status).toBe('failed');
        // The first attempt and the one retry the policy allows: no lease loop, no silent drop.
        expect(d.attempts.map((a) => [a.number, a.error, a.statusCode])).toEqual([
          [1, 'configuration_error', null],
          [2, 'configuration_error', null],
        ]);
        expect(d.lastError).toBe('configuration_error');
      }
      expect(byHook.get(good.id)!.status).toBe('succeeded');
      expect(rx.requests.map((r) => r.url)).toEqual(['/good']);
    });
  });

  describe(`engine: one outcome never holds the others (${storeName})`, () => {
    it('writes the rest of a batch, records the refused one without the receiver bytes, and drops one that cannot be written at all', async () => {
      h = await createHarness({ maxRetries: 0 }, openStore);
      const rx = await receiver();
      rx.respond = (req) => ({ body: req.url === '/good' ? 'fine' : 'POISON' });
      const good = await h.webhook({ url: `${rx.url}/good` });
      const poison = await h.webhook({ url: `${rx.url}/poison` });
      const worse = await h.webhook({ url: `${rx.url}/worse` });
      // The receiver's body is refused (as PostgreSQL refuses NUL); for `worse`, any outcome is.
      const { store, writes } = refusing(
        h.store,
        (o) => o.attempt.responseBody === 'POISON' || o.webhookId === worse.id,
      );
      const kinds: string[] = [];
      engine = new DeliveryEngine({
        store,
        cipher: h.cipher,
        clock: h.clock,
        logger: pino({ level: 'silent' }),
        config: { ...fastConfig, maxRetries: 0 },
        metrics: { attemptFinished: () => {}, outcomeWriteFailed: (k) => kinds.push(k) },
        // The default lease (15 s) outlasts the test: a dropped delivery is not claimed again.
        pollIntervalMs: 100,
      });
      engine.start();
      const events: EventRow[] = [];
      for (let i = 0; i < 10; i++)
        events.push(await h.publish('agent.created', { agent_id: `a${i}` }));
      engine.notify();
      const of = async (hook: string) =>
        (await Promise.all(events.map((e) => deliveriesOf(h!, e.id))))
          .flat()
          .filter((d) => d?.webhookId === hook);
      await h.until(async () => (await of(good.id)).every((d) => d?.status === 'succeeded'));
      await h.until(async () => (await of(poison.id)).every((d) => d?.status === 'succeeded'));
      for (const d of await of(poison.id)) {
        expect(d!.attempts).toHaveLength(1);
        expect(d!.attempts[0]!.statusCode).toBe(200);
        expect(d!.attempts[0]!.responseBody).toBeNull();
        expect(d!.attempts[0]!.responseHeaders).toEqual({});
      }
      for (const d of await of(good.id)) expect(d!.attempts[0]!.responseBody).toBe('fine');
      await h.until(() => kinds.filter((k) => k === 'dropped').length === 10);
      // `worse` is dropped after three tries each, not retried forever: the writes stop.
      const settled = writes.calls;
      await new Promise((r) => setTimeout(r, 1500));
      expect(writes.calls).toBe(settled);
      expect(kinds).toContain('safe_form');
      for (const d of await of(worse.id)) {
        expect(d!.status).toBe('pending');
        expect(d!.attempts).toHaveLength(0);
      }

      // The test action answers what the receiver said, and records its safe form.
      const now = h.clock.now();
      const id = newId('evt');
      const claimed = await h.store.insertTestDelivery(
        h.accountId,
        poison.id,
        { id, event: 'webhook.test', timestamp: now, body: JSON.stringify({ id }) },
        { id: newId('dlv'), owner: 'api', leaseMs: 30_000 },
        now,
      );
      const answered = await engine.sendTest(claimed);
      expect(answered.attempt.responseBody).toBe('POISON');
      const test = await h.store.getDelivery(h.accountId, claimed.id);
      expect(test!.attempts.map((a) => [a.statusCode, a.responseBody])).toEqual([[200, null]]);
    });
  });

  describe(`engine: fair sharing of a worker (${storeName})`, () => {
    it('slows an endpoint that times out to one attempt at a time, and keeps an account within its share, while another account flows', async () => {
      h = await createHarness({ timeoutMs: 400, maxRetries: 0, endpointConcurrency: 4 }, openStore);
      const hole = await receiver(() => {}); // accepts, reads, never answers
      const rx = await receiver();
      const bad = newId('acct');
      await h.store.createAccount({ id: bad, name: 'noisy', createdAt: h.clock.now() });
      const holes = [];
      for (let i = 0; i < 4; i++) {
        const w = webhookRow({
          accountId: bad,
          url: `${hole.url}/hole${i}`,
          secretEnc: h.cipher.encrypt('whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0'),
          createdAt: h.clock.now(),
        });
        await h.store.createWebhook(w);
        holes.push(w);
      }
      const now = h.clock.now();
      await h.store.insertEvents(
        bad,
        Array.from({ length: 30 }, () => {
          const id = newId('evt');
          return { id, event: 'agent.created', timestamp: now, body: JSON.stringify({ id }) };
        }),
        now,
      );
      await h.webhook({ url: `${rx.url}/healthy` });
      engine = new DeliveryEngine({
        store: h.store,
        cipher: h.cipher,
        clock: h.clock,
        logger: pino({ level: 'silent' }),
        config: { ...fastConfig, timeoutMs: 400, maxRetries: 0, endpointConcurrency: 4 },
        maxInFlight: 20,
        pollIntervalMs: 100,
      });
      engine.start();
      // The noisy account holds at most half the worker: 10 of 4 × 4 it would run.
      await h.until(() => hole.inFlight() > 0);
      await new Promise((r) => setTimeout(r, 100));
      expect(hole.maxInFlight()).toBeLessThanOrEqual(10);
      // Meanwhile the other account's events arrive at once.
      const t0 = Date.now();
      for (let i = 0; i < 20; i++) await h.publish('agent.created', { i });
      await rx.waitFor(20, 5000);
      expect(Date.now() - t0).toBeLessThan(2000);
      // After the first timeouts each hole runs one attempt at a time.
      await new Promise((r) => setTimeout(r, 1000));
      let most = 0;
      for (let i = 0; i < 10; i++) {
        most = Math.max(most, hole.inFlight());
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(most).toBeGreaterThan(0);
      expect(most).toBeLessThanOrEqual(holes.length);
    });
  });
}
