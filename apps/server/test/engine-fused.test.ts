/**
 * The engine on a store with `completeAndClaim`: what a flush claims starts at once, within
 * `maxInFlight` and the per-endpoint cap, and a retry that a flush schedules fires on time
 * without any other wake-up (the fallback poll here is far longer than the backoff).
 */
import type { ServerResponse } from 'node:http';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { DeliveryEngine } from '../src/delivery/engine.js';
import { hasCompleteAndClaim } from '../src/store/capabilities.js';
import type { EventRow, Store } from '../src/store/types.js';
import { createHarness, deliveriesOf, fastConfig, type Harness } from './engine-harness.js';
import { type Received, type Receiver, startReceiver } from './helpers/receiver.js';

describe('engine: fused complete-and-claim', () => {
  let h: Harness | undefined;
  let engine: DeliveryEngine | undefined;
  let rx: Receiver | undefined;
  afterEach(async () => {
    await engine?.stop({ graceMs: 100 });
    await h?.close();
    await rx?.close();
    h = engine = rx = undefined;
  });

  /** The harness's store, counting what the engine asks of it. */
  function counting(store: Store) {
    const calls = { claimDue: 0, completeAndClaim: 0, claimedByFlush: 0, nextDueAt: 0 };
    const wrapped = new Proxy(store, {
      get(target, prop) {
        const value = Reflect.get(target, prop) as unknown;
        if (typeof value !== 'function') return value;
        return async (...args: unknown[]) => {
          const result = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          if (prop === 'claimDue') calls.claimDue++;
          if (prop === 'nextDueAt') calls.nextDueAt++;
          if (prop === 'completeAndClaim') {
            calls.completeAndClaim++;
            calls.claimedByFlush += (result as unknown[]).length;
          }
          return result;
        };
      },
    });
    return { store: wrapped, calls };
  }

  function newEngine(store: Store, opts: { maxInFlight: number; pollIntervalMs: number }) {
    return new DeliveryEngine({
      store,
      cipher: h!.cipher,
      clock: h!.clock,
      logger: pino({ level: 'silent' }),
      config: { ...fastConfig, endpointConcurrency: 3 },
      // One account here: it may use the whole of maxInFlight, which this test is about.
      accountShare: 1,
      ...opts,
    });
  }

  it('starts what a flush claims at once, within maxInFlight and the endpoint cap', async () => {
    h = await createHarness();
    expect(hasCompleteAndClaim(h.store)).toBe(true);
    const live = new Map<string, number>();
    const most = new Map<string, number>();
    rx = await startReceiver((req: Received, res: ServerResponse) => {
      const n = (live.get(req.url) ?? 0) + 1;
      live.set(req.url, n);
      most.set(req.url, Math.max(most.get(req.url) ?? 0, n));
      setTimeout(() => {
        live.set(req.url, (live.get(req.url) ?? 1) - 1);
        res.end('ok');
      }, 15);
    });
    await h.webhook({ url: `${rx.url}/a` });
    await h.webhook({ url: `${rx.url}/b` });
    const events: EventRow[] = [];
    for (let i = 0; i < 20; i++) events.push(await h.publish('agent.created', { i }));
    const { store, calls } = counting(h.store);
    engine = newEngine(store, { maxInFlight: 5, pollIntervalMs: 200 });
    engine.start();
    await rx.waitFor(40, 15_000);
    await h.until(async () => {
      const all = (await Promise.all(events.map((e) => deliveriesOf(h!, e.id)))).flat();
      return all.every((d) => d?.status === 'succeeded');
    });
    expect(rx.requests).toHaveLength(40);
    expect(new Set(rx.requests.map((r) => r.headers['x-agentfactory-delivery'])).size).toBe(40);
    expect(rx.maxInFlight()).toBeLessThanOrEqual(5);
    expect(most.get('/a')).toBeLessThanOrEqual(3);
    expect(most.get('/b')).toBeLessThanOrEqual(3);
    // Most deliveries were claimed by the flushes that freed their slots, not by the pump.
    expect(calls.completeAndClaim).toBeGreaterThan(0);
    expect(calls.claimedByFlush).toBeGreaterThanOrEqual(30);
  });

  it('a retry scheduled by a flush fires on time with no wake-up but its own timer', async () => {
    h = await createHarness();
    rx = await startReceiver();
    let first = true;
    rx.respond = () => {
      if (!first) return {};
      first = false;
      return { status: 500 };
    };
    await h.webhook({ url: rx.url });
    // A backlog on the same endpoint keeps the flushes claiming (fused) while the retry waits.
    for (let i = 0; i < 10; i++) await h.publish('agent.created', { i });
    const { store, calls } = counting(h.store);
    // The fallback poll (10 s) is far beyond the 200 ms backoff: only the engine's own timer can
    // bring the retry on time.
    engine = newEngine(store, { maxInFlight: 50, pollIntervalMs: 10_000 });
    engine.start();
    const got = await rx.waitFor(11, 5000);
    const failed = got[0]!;
    const retry = got.find(
      (r) =>
        r.headers['x-agentfactory-delivery'] === failed.headers['x-agentfactory-delivery'] &&
        r.headers['x-agentfactory-attempt'] === '2',
    );
    expect(retry).toBeDefined();
    const late = retry!.at - failed.at;
    expect(late).toBeGreaterThanOrEqual(190);
    expect(late).toBeLessThan(1000);
    expect(calls.completeAndClaim).toBeGreaterThan(0);
  });

  it("a retry of another endpoint fires on time while a busy endpoint's refills follow each other", async () => {
    h = await createHarness();
    rx = await startReceiver();
    rx.respond = () => ({ delayMs: 2 });
    const flaky = await startReceiver();
    let first = true;
    flaky.respond = () => {
      if (!first) return {};
      first = false;
      return { status: 500 };
    };
    try {
      await h.webhook({ url: rx.url, events: ['agent.created'] });
      await h.webhook({ url: flaky.url, events: ['usage.limit'] });
      // Seconds of back-to-back flushes that refill the busy webhook only.
      await h.store.insertEvents(
        h.accountId,
        Array.from({ length: 2000 }, (_, i) => ({
          id: `evt_busy_${i}`,
          event: 'agent.created',
          timestamp: h!.clock.now(),
          body: '{}',
        })),
        h.clock.now(),
      );
      await h.publish('usage.limit', { n: 1 });
      // The poll (10 s) is far beyond the 200 ms backoff: the retry needs the engine's timer
      // and a claim that looks beyond the busy webhook.
      engine = newEngine(h.store, { maxInFlight: 50, pollIntervalMs: 10_000 });
      engine.start();
      const [failed] = await flaky.waitFor(1, 5000);
      const [, retry] = await flaky.waitFor(2, 5000);
      expect(rx.requests.length).toBeLessThan(2000); // the busy endpoint was still busy
      const late = retry!.at - failed!.at;
      expect(late).toBeGreaterThanOrEqual(190);
      expect(late).toBeLessThan(700);
    } finally {
      await flaky.close();
    }
  });

  it('never runs two claims at once in one process (pump and flush wait for each other)', async () => {
    h = await createHarness();
    rx = await startReceiver();
    rx.respond = () => ({ delayMs: 3 });
    await h.webhook({ url: `${rx.url}/a` });
    await h.webhook({ url: `${rx.url}/b` });
    let running = 0;
    let overlaps = 0;
    const base = h.store;
    const store = new Proxy(base, {
      get(target, prop) {
        const value = Reflect.get(target, prop) as unknown;
        if (prop !== 'claimDue' && prop !== 'completeAndClaim') return value;
        return async (...args: unknown[]) => {
          if (++running > 1) overlaps++;
          try {
            // Slower than the store, so that a second claim would overlap if allowed.
            await new Promise((r) => setTimeout(r, 5));
            return await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          } finally {
            running--;
          }
        };
      },
    });
    engine = newEngine(store, { maxInFlight: 20, pollIntervalMs: 200 });
    engine.start();
    // Events keep arriving (each wakes the pump) while flushes claim.
    for (let i = 0; i < 30; i++) {
      await h.publish('agent.created', { i });
      engine.notify();
      await new Promise((r) => setTimeout(r, 2));
    }
    await rx.waitFor(60, 15_000);
    expect(overlaps).toBe(0);
  });

  it('due work a claim could not take is looked for again within ms, not at the poll', async () => {
    h = await createHarness();
    rx = await startReceiver();
    await h.webhook({ url: rx.url });
    await h.publish('agent.created', { i: 0 });
    // The first claim comes back empty although the delivery is due: as when another worker
    // holds the webhook's lock (PostgreSQL skips it) with a claim that began before the event.
    let claims = 0;
    const base = h.store;
    const store = new Proxy(base, {
      get(target, prop) {
        const value = Reflect.get(target, prop) as unknown;
        if (prop === 'claimDue') {
          return async (...args: unknown[]) =>
            ++claims === 1
              ? []
              : (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        }
        return value;
      },
    });
    engine = newEngine(store, { maxInFlight: 5, pollIntervalMs: 10_000 });
    const started = Date.now();
    engine.start();
    await rx.waitFor(1, 5_000);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(claims).toBeGreaterThanOrEqual(2);
  });
});
