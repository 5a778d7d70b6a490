/**
 * Isolation and bounds: the per-endpoint cap, a black-hole endpoint next to a healthy one, and
 * shutdown (in-flight attempts finish within the grace, the rest are released, not lost).
 */
import { eventSamples } from '@agentfactory/webhooks';
import { afterEach, describe, expect, it } from 'vitest';
import type { DeliveryConfig } from '../src/delivery/config.js';
import { DeliveryEngine } from '../src/delivery/engine.js';
import { createHarness, deliveriesOf, type Harness } from './engine-harness.js';
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
