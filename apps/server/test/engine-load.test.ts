/**
 * Isolation and bounds: the per-endpoint cap, a black-hole endpoint next to a healthy one, and
 * shutdown (in-flight attempts finish within the grace, the rest are released, not lost).
 */
import { eventSamples } from '@agentfactory/webhooks';
import { afterEach, describe, expect, it } from 'vitest';
import type { DeliveryConfig } from '../src/config.js';
import { DeliveryEngine } from '../src/delivery/engine.js';
import { createHarness, deliveriesOf, fastConfig, type Harness } from './engine-harness.js';
import { type Receiver, startReceiver } from './helpers/receiver.js';

describe('engine: isolation and bounds', () => {
  let h: Harness | undefined;
  const receivers: Receiver[] = [];
  afterEach(async () => {
    await h?.close();
    h = undefined;
    for (const r of receivers.splice(0)) await r.close();
  });

  async function setup(config: Partial<DeliveryConfig> = {}) {
    h = await createHarness(config);
    return h;
  }
  async function receiver() {
    const rx = await startReceiver();
    receivers.push(rx);
    return rx;
  }

  it('never has more than endpointConcurrency requests in flight to one endpoint', async () => {
    const h = await setup({ endpointConcurrency: 3 });
    const rx = await receiver();
    rx.respond = () => ({ delayMs: 150 });
    await h.webhook({ url: rx.url });
    for (let i = 0; i < 15; i++) await h.publish('agent.created', eventSamples['agent.created']);
    h.engine.start();
    await rx.waitFor(15, 10_000);
    expect(rx.maxInFlight()).toBeLessThanOrEqual(3);
    expect(rx.maxInFlight()).toBe(3);
    await h.until(async () => (await h.store.countPending()) === 0);
  });

  it('leases the next deliveries ahead: one starts as an attempt ends, before its outcome is written', async () => {
    const h = await setup({ endpointConcurrency: 2 });
    const rx = await receiver();
    const held: import('node:http').ServerResponse[] = [];
    rx.setHandler((_req, res) => {
      held.push(res);
    });
    await h.webhook({ url: rx.url });
    for (let i = 0; i < 20; i++) await h.publish('agent.created', eventSamples['agent.created']);
    // Writes of outcomes wait for the test: a slot freed by an answer is not a lease released.
    let openWrites!: () => void;
    const writes = new Promise<void>((resolve) => {
      openWrites = resolve;
    });
    const store = new Proxy(h.store, {
      get(target, prop) {
        const value = Reflect.get(target, prop, target);
        if (typeof value !== 'function') return value;
        if (prop === 'completeAttempts' || prop === 'completeAndClaim') {
          return async (...args: unknown[]) => {
            await writes;
            return value.apply(target, args);
          };
        }
        return value.bind(target);
      },
    });
    const engine = new DeliveryEngine({
      store,
      cipher: h.cipher,
      clock: h.clock,
      logger: (await import('pino')).default({ level: 'silent' }),
      config: { ...fastConfig, endpointConcurrency: 2 },
    });
    try {
      engine.start();
      await rx.waitFor(2);
      // Three times the cap leased, the cap in flight.
      const leased = async () =>
        (await h.store.listDeliveries(h.accountId, {}, { limit: 100 })).data.filter(
          (d) => d.inFlight,
        ).length;
      await h.until(async () => (await leased()) === 6);
      expect(rx.inFlight()).toBe(2);
      // Two answers: the next two start although no outcome could be written.
      held.shift()!.end('ok');
      held.shift()!.end('ok');
      await rx.waitFor(4, 2000);
      await new Promise((r) => setTimeout(r, 100));
      expect(rx.requests).toHaveLength(4);
      expect(rx.maxInFlight()).toBe(2);
      expect(await leased()).toBe(6);
      openWrites();
      rx.setHandler((_req, res) => {
        res.end('ok');
      });
      for (const res of held.splice(0)) res.end('ok');
      await h.until(async () => (await h.store.countPending()) === 0);
      expect(rx.maxInFlight()).toBe(2);
      expect(new Set(rx.requests.map((r) => r.headers['webhook-id'])).size).toBe(20);
    } finally {
      openWrites();
      await engine.stop({ graceMs: 100 });
    }
  });

  it('leases an endpoint that answers fast further ahead, and no further than 3 × after slow answers', async () => {
    const h = await setup({ endpointConcurrency: 2 });
    const rx = await receiver();
    // The first attempts are answered at once, then every one is held until the test answers.
    let answered = 0;
    const held: import('node:http').ServerResponse[] = [];
    rx.setHandler((_req, res) => {
      if (answered < 6) {
        answered++;
        res.end('ok');
      } else held.push(res);
    });
    await h.webhook({ url: rx.url });
    for (let i = 0; i < 40; i++) await h.publish('agent.created', eventSamples['agent.created']);
    const leased = async () =>
      (await h.store.listDeliveries(h.accountId, {}, { limit: 100 })).data.filter((d) => d.inFlight)
        .length;
    h.engine.start();
    // Fast answers: twenty leased (10 × the cap of 2, within the account's share), two running.
    await h.until(async () => (await leased()) === 20 && rx.inFlight() === 2);
    // Slow answers from now on: what it holds still runs (nothing sent back), and it is refilled
    // only up to 3 × the cap again.
    const slow = (res: import('node:http').ServerResponse) => {
      setTimeout(() => res.end('ok'), 40);
    };
    rx.setHandler((_req, res) => slow(res));
    for (const res of held.splice(0)) slow(res);
    await h.until(async () => (await leased()) <= 6);
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 30));
      expect(await leased()).toBeLessThanOrEqual(6);
    }
    expect(await h.store.countPending()).toBeGreaterThan(0);
    await h.until(async () => (await h.store.countPending()) === 0);
    expect(rx.maxInFlight()).toBe(2);
    expect(new Set(rx.requests.map((r) => r.headers['webhook-id'])).size).toBe(40);
  });

  it('stop: deliveries waiting for their endpoint never start, and their leases are released', async () => {
    const h = await setup({ endpointConcurrency: 1, timeoutMs: 5000 });
    const rx = await receiver();
    rx.setHandler(() => {
      /* hangs until the engine gives up */
    });
    await h.webhook({ url: rx.url });
    for (let i = 0; i < 3; i++) await h.publish('agent.created', eventSamples['agent.created']);
    h.engine.start();
    await rx.waitFor(1);
    await h.until(async () => {
      const page = await h.store.listDeliveries(h.accountId, {}, { limit: 10 });
      return page.data.filter((d) => d.inFlight).length === 3;
    });
    await h.engine.stop({ graceMs: 200 });
    await new Promise((r) => setTimeout(r, 100));
    expect(rx.requests).toHaveLength(1);
    const page = await h.store.listDeliveries(h.accountId, {}, { limit: 10 });
    expect(page.data.map((d) => [d.status, d.attemptCount, d.inFlight])).toEqual([
      ['pending', 0, false],
      ['pending', 0, false],
      ['pending', 0, false],
    ]);
  });

  it('a black-hole endpoint does not delay a healthy one', async () => {
    const h = await setup({ endpointConcurrency: 2, timeoutMs: 3000 });
    const hole = await receiver();
    hole.setHandler(() => {
      /* never answers */
    });
    const healthy = await receiver();
    await h.webhook({ url: hole.url, events: ['usage.limit'] });
    await h.webhook({ url: healthy.url, events: ['agent.created'] });
    for (let i = 0; i < 20; i++) await h.publish('usage.limit', eventSamples['usage.limit']);
    h.engine.start();
    await hole.waitFor(2);
    const t0 = Date.now();
    await h.publish('agent.created', eventSamples['agent.created']);
    await healthy.waitFor(1, 2000);
    expect(Date.now() - t0).toBeLessThan(1000);
    // The hole holds only its two slots.
    expect(hole.maxInFlight()).toBe(2);
  });

  it('stop lets in-flight attempts finish within the grace and records them', async () => {
    const h = await setup();
    const rx = await receiver();
    rx.respond = () => ({ delayMs: 200 });
    await h.webhook({ url: rx.url });
    const e = await h.publish('agent.created', eventSamples['agent.created']);
    h.engine.start();
    await rx.waitFor(1);
    await h.engine.stop({ graceMs: 2000 });
    const [d] = await deliveriesOf(h, e.id);
    expect(d).toMatchObject({ status: 'succeeded', attemptCount: 1, inFlight: false });
  });

  it('stop past the grace releases leases; a new engine delivers them', async () => {
    const h = await setup({ timeoutMs: 5000 });
    const rx = await receiver();
    let slow = true;
    rx.setHandler((_req, res) => {
      if (slow) return; // hangs until the engine gives up
      res.end('ok');
    });
    await h.webhook({ url: rx.url });
    const e = await h.publish('agent.created', eventSamples['agent.created']);
    h.engine.start();
    await rx.waitFor(1);
    const t0 = Date.now();
    await h.engine.stop({ graceMs: 200 });
    expect(Date.now() - t0).toBeLessThan(2000);
    const [d] = await deliveriesOf(h, e.id);
    expect(d).toMatchObject({ status: 'pending', attemptCount: 0, inFlight: false });

    slow = false;
    const next = new DeliveryEngine({
      store: h.store,
      cipher: h.cipher,
      clock: h.clock,
      logger: (await import('pino')).default({ level: 'silent' }),
      config: {
        timeoutMs: 1000,
        maxRetries: 0,
        baseDelayMs: 200,
        factor: 2,
        windowMs: 5000,
        jitter: 0,
        endpointConcurrency: 10,
        allowPrivateNetworks: true,
        userAgent: 'x',
      },
    });
    next.start();
    try {
      const done = await h.until(async () => {
        const x = await h.store.getDelivery(h.accountId, d!.id);
        return x?.status === 'succeeded' ? x : undefined;
      });
      expect(done.attemptCount).toBe(1);
      expect(rx.requests).toHaveLength(2);
    } finally {
      await next.stop({ graceMs: 100 });
    }
  });

  it('drains a 300-delivery backlog claimed in batches, within the endpoint cap', async () => {
    const h = await setup({ endpointConcurrency: 50 });
    const rx = await receiver();
    rx.respond = () => ({ delayMs: 20 });
    await h.webhook({ url: rx.url });
    // 300 events in one insert: the backlog lives in the database.
    const now = h.clock.now();
    await h.store.insertEvents(
      h.accountId,
      Array.from({ length: 300 }, (_, i) => ({
        id: `evt_${String(i).padStart(26, '0')}`,
        event: 'agent.created',
        timestamp: now,
        body: `{"n":${i}}`,
      })),
      now,
    );
    h.engine.start();
    await rx.waitFor(300, 15_000);
    expect(rx.maxInFlight()).toBeLessThanOrEqual(50);
    await h.until(async () => (await h.store.countPending()) === 0, 10_000);
  });
});
