/**
 * The retry rules and lifecycle rules of SPEC §4, on a compressed schedule (base 200 ms, factor 2,
 * window 5 s, no jitter) against real receivers on loopback.
 */
import { eventSamples } from '@agentfactory/webhooks';
import { afterEach, describe, expect, it } from 'vitest';
import type { DeliveryConfig } from '../src/config.js';
import type { Store } from '../src/store/types.js';
import { createHarness, deliveriesOf, type Harness, onEachStore } from './engine-harness.js';
import { type Receiver, startReceiver } from './helpers/receiver.js';

await onEachStore(engineRetryTests);

function engineRetryTests(storeName: string, openStore?: () => Promise<Store>) {
  describe(`engine: retries and lifecycle (${storeName})`, () => {
    let h: Harness | undefined;
    const receivers: Receiver[] = [];

    async function setup(config: Partial<DeliveryConfig> = {}) {
      h = await createHarness(config, openStore);
      const rx = await startReceiver();
      receivers.push(rx);
      h.engine.start();
      return { h, rx };
    }
    afterEach(async () => {
      await h?.close();
      h = undefined;
      for (const r of receivers.splice(0)) await r.close();
    });

    async function settle(h: Harness, eventId: string, timeoutMs = 8000) {
      return h.until(async () => {
        const [d] = await deliveriesOf(h, eventId);
        return d && d.status !== 'pending' && !d.inFlight ? d : undefined;
      }, timeoutMs);
    }

    const gaps = (rx: Receiver) => rx.requests.slice(1).map((r, i) => r.at - rx.requests[i]!.at);

    it('retries max_retries times with base × factor^(n-1) spacing, then fails', async () => {
      const { h, rx } = await setup();
      rx.respond = () => ({ status: 500, body: 'down' });
      await h.webhook({ url: rx.url });
      const e = await h.publish('agent.created', eventSamples['agent.created']);
      const d = await settle(h, e.id);
      expect(rx.requests).toHaveLength(4);
      expect(rx.requests.map((r) => r.headers['x-agentfactory-attempt'])).toEqual([
        '1',
        '2',
        '3',
        '4',
      ]);
      const g = gaps(rx);
      [200, 400, 800].forEach((expected, i) => {
        expect(g[i]).toBeGreaterThanOrEqual(expected - 20);
        expect(g[i]).toBeLessThan(expected + 700);
      });
      expect(d).toMatchObject({
        status: 'failed',
        attemptCount: 4,
        nextAttemptAt: null,
        lastStatusCode: 500,
        lastError: 'response_status',
      });
      const detail = await h.store.getDelivery(h.accountId, d.id);
      expect(detail!.attempts.map((a) => [a.number, a.statusCode, a.responseBody])).toEqual([
        [1, 500, 'down'],
        [2, 500, 'down'],
        [3, 500, 'down'],
        [4, 500, 'down'],
      ]);
    });

    it('stops at the window: no retry is scheduled past it', async () => {
      const { h, rx } = await setup({ windowMs: 500 });
      rx.respond = () => ({ status: 500 });
      await h.webhook({ url: rx.url });
      const e = await h.publish('agent.created', eventSamples['agent.created']);
      const d = await settle(h, e.id);
      // Attempt 1 at ~0, retry 1 at ~200; retry 2 would be due at ~600 > 500.
      expect(d).toMatchObject({ status: 'failed', attemptCount: 2 });
      await new Promise((r) => setTimeout(r, 700));
      expect(rx.requests).toHaveLength(2);
    });

    it('honours a longer Retry-After on 503', async () => {
      const { h, rx } = await setup({ maxRetries: 1 });
      let n = 0;
      rx.respond = () => (n++ === 0 ? { status: 503, headers: { 'Retry-After': '1' } } : {});
      await h.webhook({ url: rx.url });
      const e = await h.publish('agent.created', eventSamples['agent.created']);
      const d = await settle(h, e.id);
      expect(d.status).toBe('succeeded');
      expect(gaps(rx)[0]).toBeGreaterThanOrEqual(980);
      expect(gaps(rx)[0]).toBeLessThan(2000);
    });

    it('fails at once when Retry-After points past the window', async () => {
      const { h, rx } = await setup({ maxRetries: 3, windowMs: 2000 });
      rx.respond = () => ({ status: 429, headers: { 'Retry-After': '60' } });
      await h.webhook({ url: rx.url });
      const e = await h.publish('agent.created', eventSamples['agent.created']);
      const d = await settle(h, e.id);
      expect(d).toMatchObject({ status: 'failed', attemptCount: 1, lastStatusCode: 429 });
    });

    it('410 Gone fails the delivery and disables the webhook; new events skip it', async () => {
      const { h, rx } = await setup();
      rx.respond = () => ({ status: 410 });
      const hook = await h.webhook({ url: rx.url });
      const e = await h.publish('agent.created', eventSamples['agent.created']);
      const d = await settle(h, e.id);
      expect(d).toMatchObject({ status: 'failed', attemptCount: 1, lastStatusCode: 410 });
      expect(await h.store.getWebhook(h.accountId, hook.id)).toMatchObject({
        active: false,
        disabledReason: 'gone',
      });
      const e2 = await h.publish('agent.created', eventSamples['agent.created']);
      expect(e2.deliveries).toBe(0);
      expect(rx.requests).toHaveLength(1);
    });

    it('3xx and timeouts are failures and are retried', async () => {
      const { h, rx } = await setup({ maxRetries: 1, timeoutMs: 300 });
      let n = 0;
      rx.setHandler((_req, res) => {
        if (n++ === 0) {
          res.writeHead(301, { location: 'http://127.0.0.1:1/' });
          res.end();
        } else {
          setTimeout(() => res.end('late'), 2000).unref();
        }
      });
      await h.webhook({ url: rx.url });
      const e = await h.publish('agent.created', eventSamples['agent.created']);
      const d = await settle(h, e.id);
      const detail = await h.store.getDelivery(h.accountId, d.id);
      expect(detail!.attempts.map((a) => [a.statusCode, a.error])).toEqual([
        [301, 'redirect'],
        [null, 'timeout'],
      ]);
      expect(detail!.status).toBe('failed');
      expect(detail!.attempts[1]!.durationMs).toBeGreaterThanOrEqual(280);
      expect(detail!.attempts[1]!.durationMs).toBeLessThan(1500);
    });

    it('a manual retry after failed makes one attempt; failing again stays failed with no schedule', async () => {
      const { h, rx } = await setup({ maxRetries: 0 });
      rx.respond = () => ({ status: 500 });
      await h.webhook({ url: rx.url });
      const e = await h.publish('agent.created', eventSamples['agent.created']);
      const d = await settle(h, e.id);
      expect(d).toMatchObject({ status: 'failed', attemptCount: 1 });

      await h.store.requestAttempt(h.accountId, d.id, 'manual', h.clock.now());
      h.engine.notify();
      const again = await h.until(async () => {
        const x = await h.store.getDelivery(h.accountId, d.id);
        return x && x.attemptCount === 2 && !x.inFlight ? x : undefined;
      });
      expect(again).toMatchObject({ status: 'failed', nextAttemptAt: null });
      await new Promise((r) => setTimeout(r, 500));
      expect(rx.requests).toHaveLength(2);

      rx.respond = () => ({});
      await h.store.requestAttempt(h.accountId, d.id, 'manual', h.clock.now());
      h.engine.notify();
      const ok = await h.until(async () => {
        const x = await h.store.getDelivery(h.accountId, d.id);
        return x && x.status === 'succeeded' ? x : undefined;
      });
      expect(ok.attempts.map((a) => [a.trigger, a.succeeded])).toEqual([
        ['scheduled', false],
        ['manual', false],
        ['manual', true],
      ]);
      expect(rx.requests.map((r) => r.headers['x-agentfactory-attempt'])).toEqual(['1', '2', '3']);
    });

    it('a manual attempt on a pending delivery keeps its schedule when it fails', async () => {
      const { h, rx } = await setup({ maxRetries: 2, baseDelayMs: 3000, windowMs: 60_000 });
      rx.respond = () => ({ status: 500 });
      await h.webhook({ url: rx.url });
      const e = await h.publish('agent.created', eventSamples['agent.created']);
      const [d0] = await deliveriesOf(h, e.id);
      const first = await h.until(async () => {
        const x = await h.store.getDelivery(h.accountId, d0!.id);
        return x && x.attemptCount === 1 && !x.inFlight ? x : undefined;
      });
      const scheduled = first.nextAttemptAt!;
      await h.store.requestAttempt(h.accountId, d0!.id, 'manual', h.clock.now());
      h.engine.notify();
      const after = await h.until(async () => {
        const x = await h.store.getDelivery(h.accountId, d0!.id);
        return x && x.attemptCount === 2 && !x.inFlight ? x : undefined;
      });
      expect(after).toMatchObject({ status: 'pending', nextAttemptAt: scheduled });
    });

    it('an inactive webhook fails its pending deliveries at their due time with endpoint_disabled', async () => {
      const { h, rx } = await setup({ baseDelayMs: 300 });
      rx.respond = () => ({ status: 500 });
      const hook = await h.webhook({ url: rx.url });
      const e = await h.publish('agent.created', eventSamples['agent.created']);
      const [d0] = await deliveriesOf(h, e.id);
      await h.until(async () => {
        const x = await h.store.getDelivery(h.accountId, d0!.id);
        return x && x.attemptCount === 1 && !x.inFlight;
      });
      await h.store.updateWebhook(
        h.accountId,
        hook.id,
        { active: false, disabledReason: 'manual' },
        h.clock.now(),
      );
      const d = await settle(h, e.id);
      expect(d).toMatchObject({
        status: 'failed',
        attemptCount: 2,
        lastError: 'endpoint_disabled',
      });
      const detail = await h.store.getDelivery(h.accountId, d.id);
      expect(detail!.attempts[1]).toMatchObject({
        error: 'endpoint_disabled',
        statusCode: null,
        trigger: 'scheduled',
      });
      expect(rx.requests).toHaveLength(1);

      // Recoverable once re-enabled.
      rx.respond = () => ({});
      await h.store.updateWebhook(
        h.accountId,
        hook.id,
        { active: true, disabledReason: null },
        h.clock.now(),
      );
      expect(
        await h.store.recoverDeliveries(h.accountId, hook.id, 0, h.clock.now(), h.clock.now()),
      ).toBe(1);
      h.engine.notify();
      const recovered = await h.until(async () => {
        const x = await h.store.getDelivery(h.accountId, d.id);
        return x?.status === 'succeeded' ? x : undefined;
      });
      expect(recovered.attempts.at(-1)).toMatchObject({ trigger: 'recover', succeeded: true });
    });

    it('a deleted webhook: pending deliveries fail and nothing more is sent', async () => {
      const { h, rx } = await setup({ baseDelayMs: 300 });
      rx.respond = () => ({ status: 500 });
      const hook = await h.webhook({ url: rx.url });
      const e = await h.publish('agent.created', eventSamples['agent.created']);
      await rx.waitFor(1);
      await h.store.deleteWebhook(h.accountId, hook.id, h.clock.now());
      const d = await settle(h, e.id);
      expect(d.status).toBe('failed');
      await new Promise((r) => setTimeout(r, 800));
      expect(rx.requests).toHaveLength(1);
    });

    it('changing the URL sends pending deliveries to the new URL', async () => {
      const { h, rx } = await setup({ baseDelayMs: 300 });
      const next = await startReceiver();
      receivers.push(next);
      rx.respond = () => ({ status: 500 });
      const hook = await h.webhook({ url: rx.url });
      const e = await h.publish('agent.created', eventSamples['agent.created']);
      await rx.waitFor(1);
      await h.store.updateWebhook(h.accountId, hook.id, { url: `${next.url}/v2` }, h.clock.now());
      const d = await settle(h, e.id);
      expect(d).toMatchObject({ status: 'succeeded', attemptCount: 2 });
      expect(rx.requests).toHaveLength(1);
      expect(next.requests).toHaveLength(1);
      expect(next.requests[0]).toMatchObject({ url: '/v2' });
      expect(next.requests[0]!.headers['x-agentfactory-attempt']).toBe('2');
    });
  });
}
