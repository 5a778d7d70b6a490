/**
 * The wire (SPEC §3) end to end: engine → real receiver on loopback, checked with independent
 * HMACs (`node:crypto`), the SDK and the `standardwebhooks` library.
 */
import { createHmac } from 'node:crypto';
import { eventNames, eventSamples, verifyStandardWebhook } from '@agentfactory/webhooks';
import { Webhook } from 'standardwebhooks';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { newId } from '../src/ids.js';
import type { Store } from '../src/store/types.js';
import {
  createHarness,
  deliveriesOf,
  fastConfig,
  type Harness,
  onEachStore,
} from './engine-harness.js';
import { type Receiver, startReceiver } from './helpers/receiver.js';

const HOUR = 3_600_000;

function bodySig(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', Buffer.from(secret, 'utf8')).update(body).digest('hex')}`;
}

function standardSig(secret: string, id: string, ts: string, body: string): string {
  const key = secret.startsWith('whsec_')
    ? Buffer.from(secret.slice(6), 'base64')
    : Buffer.from(secret, 'utf8');
  return `v1,${createHmac('sha256', key).update(`${id}.${ts}.${body}`).digest('base64')}`;
}

/** Verifies with the `standardwebhooks` library as if it ran at `atMs`. */
function libraryVerify(
  secret: string,
  body: string,
  headers: Record<string, string>,
  atMs: number,
) {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(atMs);
  try {
    return new Webhook(secret.replace(/^whsec_/, '')).verify(body, headers);
  } finally {
    vi.useRealTimers();
  }
}

const SPEC_ORDER = [
  'content-type',
  'user-agent',
  'x-agentfactory-event',
  'x-agentfactory-event-id',
  'x-agentfactory-delivery',
  'x-agentfactory-attempt',
  'x-agentfactory-timestamp',
  'x-agentfactory-signature',
  'webhook-id',
  'webhook-timestamp',
  'webhook-signature',
];

await onEachStore(wireTests);

function wireTests(storeName: string, openStore?: () => Promise<Store>) {
  describe(`engine: the wire format (${storeName})`, () => {
    let h: Harness;
    let rx: Receiver;

    beforeEach(async () => {
      h = await createHarness({}, openStore);
      rx = await startReceiver();
      h.engine.start();
    });
    afterEach(async () => {
      await h.close();
      await rx.close();
    });

    it('delivers every event type with the SPEC §3 headers, verifiable by the vector rules', async () => {
      const hook = await h.webhook({ url: `${rx.url}/hooks`, headers: { 'X-Team': 'core-42' } });
      const types = eventNames.filter((n) => n !== 'webhook.test');
      const events = [];
      for (const t of types) events.push(await h.publish(t, eventSamples[t]));
      const got = await rx.waitFor(types.length);
      expect(got).toHaveLength(types.length);
      for (const e of events) {
        const req = got.find((r) => r.headers['x-agentfactory-event-id'] === e.id)!;
        expect(req, e.event).toBeDefined();
        const [delivery] = await deliveriesOf(h, e.id);
        // Body byte for byte; headers in SPEC order, then the custom header.
        expect(req.body).toBe(e.body);
        expect(JSON.parse(req.body)).toMatchObject({ id: e.id, event: e.event });
        const names = req.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
        const ours = names.filter((n) => SPEC_ORDER.includes(n) || n === 'x-team');
        expect(ours).toEqual([...SPEC_ORDER, 'x-team']);
        const hd = req.headers as Record<string, string>;
        expect(req.method).toBe('POST');
        expect(req.url).toBe('/hooks');
        expect(hd['content-type']).toBe('application/json');
        expect(hd['user-agent']).toBe('AgentFactory-Webhooks/0.0.0-test');
        expect(hd['x-agentfactory-event']).toBe(e.event);
        expect(hd['x-agentfactory-delivery']).toBe(delivery!.id);
        expect(hd['x-agentfactory-attempt']).toBe('1');
        expect(hd['x-agentfactory-timestamp']).toMatch(/^\d{10}$/);
        expect(Math.abs(Number(hd['x-agentfactory-timestamp']) * 1000 - Date.now())).toBeLessThan(
          10_000,
        );
        expect(hd['webhook-id']).toBe(e.id);
        expect(hd['webhook-timestamp']).toBe(hd['x-agentfactory-timestamp']);
        expect(hd['x-agentfactory-signature']).toBe(bodySig(hook.secret, req.body));
        expect(hd['webhook-signature']).toBe(
          standardSig(hook.secret, e.id, hd['webhook-timestamp']!, req.body),
        );
        expect(hd['x-team']).toBe('core-42');
        expect(hd['x-agentfactory-test']).toBeUndefined();
        await verifyStandardWebhook(req.body, hd, hook.secret);
        expect(libraryVerify(hook.secret, req.body, hd, Date.now())).toBeTruthy();
      }
      // The log: succeeded, the custom header value masked, the webhook's last delivery set.
      const [d] = await deliveriesOf(h, events[0]!.id);
      await h.until(
        async () => (await h.store.getDelivery(h.accountId, d!.id))?.status === 'succeeded',
      );
      const detail = await h.store.getDelivery(h.accountId, d!.id);
      expect(detail!.attempts[0]).toMatchObject({
        number: 1,
        statusCode: 200,
        error: null,
        trigger: 'scheduled',
        succeeded: true,
        responseBody: 'ok',
      });
      expect(detail!.attempts[0]!.requestHeaders['X-Team']).toBe('••••');
      expect(detail!.attempts[0]!.requestHeaders['X-AgentFactory-Delivery']).toBe(d!.id);
      expect(JSON.stringify(detail)).not.toContain('core-42');
      expect((await h.store.getWebhook(h.accountId, hook.id))?.lastDeliveryStatus).toBe(
        'succeeded',
      );
      expect(h.attempts.length).toBeGreaterThanOrEqual(types.length);
      // No secret or header value in the logs.
      const logs = h.logs.join('\n');
      expect(logs).toContain('attempt finished');
      expect(logs).not.toContain(hook.secret);
      expect(logs).not.toContain(hook.secret.slice(6));
      expect(logs).not.toContain('core-42');
    });

    it('signs a customer secret without whsec_ as raw bytes', async () => {
      const secret = 'my-own-secret-1234567890';
      await h.webhook({ url: rx.url, secret });
      const e = await h.publish('agent.created', eventSamples['agent.created']);
      const [req] = await rx.waitFor(1);
      const hd = req!.headers as Record<string, string>;
      expect(hd['x-agentfactory-signature']).toBe(bodySig(secret, e.body));
      expect(hd['webhook-signature']).toBe(
        standardSig(secret, e.id, hd['webhook-timestamp']!, e.body),
      );
      await verifyStandardWebhook(req!.body, hd, secret);
    });

    it('a retry 12 h later verifies (SDK and standardwebhooks), while the first attempt no longer would', async () => {
      const hook = await h.webhook({ url: rx.url });
      rx.respond = () => ({ status: 500 });
      // A long schedule: the retry is due 12 h after the first attempt.
      await h.close();
      h = await createHarness({ baseDelayMs: 12 * HOUR, windowMs: 24 * HOUR }, openStore);
      const hook2 = await h.webhook({ url: rx.url, secret: hook.secret });
      h.engine.start();
      const e = await h.publish('conversation.message', eventSamples['conversation.message']);
      const [first] = await rx.waitFor(1);
      const firstAt = Number(first!.headers['webhook-timestamp']) * 1000;
      const [d] = await deliveriesOf(h, e.id);
      await h.until(
        async () => (await h.store.getDelivery(h.accountId, d!.id))?.attemptCount === 1,
      );
      // Jump the injected clock past the retry's due time; the engine's fallback poll finds it.
      rx.respond = () => ({ status: 200 });
      h.clock.offset = 12 * HOUR + 1000;
      h.engine.notify();
      const both = await rx.waitFor(2);
      const retry = both[1]!;
      const hd = retry.headers as Record<string, string>;
      expect(hd['x-agentfactory-attempt']).toBe('2');
      expect(hd['x-agentfactory-delivery']).toBe(d!.id);
      expect(retry.body).toBe(first!.body);
      const retryAt = Number(hd['webhook-timestamp']) * 1000;
      expect(retryAt - firstAt).toBeGreaterThan(12 * HOUR - 5000);
      const at = h.clock.now();
      await verifyStandardWebhook(retry.body, hd, hook2.secret, { now: () => at });
      expect(libraryVerify(hook2.secret, retry.body, hd, at)).toBeTruthy();
      // The first attempt's headers fail the 5-minute tolerance at the retry's time.
      await expect(
        verifyStandardWebhook(first!.body, first!.headers as Record<string, string>, hook2.secret, {
          now: () => at,
        }),
      ).rejects.toThrow();
      expect(() =>
        libraryVerify(hook2.secret, first!.body, first!.headers as Record<string, string>, at),
      ).toThrow();
    });

    it('during a rotation signs with both secrets, newest first; after expiry with the new one only', async () => {
      const oldSecret = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
      const newSecret = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;
      const hook = await h.webhook({
        url: rx.url,
        secret: newSecret,
        previousSecretEnc: h.cipher.encrypt(oldSecret),
        previousSecretExpiresAt: h.clock.now() + HOUR,
      });
      const e = await h.publish('agent.deployed', eventSamples['agent.deployed']);
      const [req] = await rx.waitFor(1);
      const hd = req!.headers as Record<string, string>;
      const ts = hd['webhook-timestamp']!;
      expect(hd['x-agentfactory-signature']).toBe(
        `${bodySig(newSecret, e.body)},${bodySig(oldSecret, e.body)}`,
      );
      expect(hd['webhook-signature']).toBe(
        `${standardSig(newSecret, e.id, ts, e.body)} ${standardSig(oldSecret, e.id, ts, e.body)}`,
      );
      await verifyStandardWebhook(req!.body, hd, oldSecret);
      await verifyStandardWebhook(req!.body, hd, newSecret);
      expect(libraryVerify(oldSecret, req!.body, hd, Date.now())).toBeTruthy();

      // Past the grace period only the new secret signs. (Jump only once the first delivery is
      // written: a jump over a live lease would make it due again.)
      const [d1] = await deliveriesOf(h, e.id);
      await h.until(
        async () => (await h.store.getDelivery(h.accountId, d1!.id))?.status === 'succeeded',
      );
      h.clock.offset = HOUR + 1000;
      const e2 = await h.publish('agent.deployed', eventSamples['agent.deployed']);
      const [, req2] = await rx.waitFor(2);
      const hd2 = req2!.headers as Record<string, string>;
      expect(hd2['x-agentfactory-signature']).toBe(bodySig(newSecret, e2.body));
      expect(hd2['webhook-signature']).toBe(
        standardSig(newSecret, e2.id, hd2['webhook-timestamp']!, e2.body),
      );
      expect(hook.id).toMatch(/^wh_/);
    });

    it('the test action: one attempt now, even to an inactive webhook, final, marked as a test', async () => {
      const hook = await h.webhook({ url: rx.url, active: false, disabledReason: 'manual' });
      const event = {
        id: newId('evt'),
        event: 'conversation.ended',
        timestamp: h.clock.now(),
        body: JSON.stringify({ data: eventSamples['conversation.ended'] }),
      };
      const claimed = await h.store.insertTestDelivery(
        h.accountId,
        hook.id,
        event,
        { id: newId('dlv'), owner: 'api', leaseMs: 10_000 },
        h.clock.now(),
      );
      const ok = await h.engine.sendTest(claimed, { sampleEvent: true });
      expect(ok).toMatchObject({
        status: 'succeeded',
        attempt: { trigger: 'test', statusCode: 200 },
      });
      const [req] = await rx.waitFor(1);
      expect(req!.headers['x-agentfactory-test']).toBe('1');
      expect(req!.headers['x-agentfactory-event']).toBe('conversation.ended');

      rx.respond = () => ({ status: 500, body: 'nope' });
      const claimed2 = await h.store.insertTestDelivery(
        h.accountId,
        hook.id,
        { ...event, id: newId('evt'), event: 'webhook.test' },
        { id: newId('dlv'), owner: 'api', leaseMs: 10_000 },
        h.clock.now(),
      );
      const bad = await h.engine.sendTest(claimed2);
      expect(bad).toMatchObject({
        status: 'failed',
        nextAttemptAt: null,
        attempt: { statusCode: 500, error: 'response_status', responseBody: 'nope' },
      });
      const [, req2] = await rx.waitFor(2);
      expect(req2!.headers['x-agentfactory-test']).toBeUndefined();
      const d = await h.store.getDelivery(h.accountId, claimed2.id);
      expect(d).toMatchObject({ status: 'failed', attemptCount: 1, inFlight: false });
      // Never retried: past the whole retry window (the injected clock, not a wait), no attempt
      // more, neither sent nor recorded.
      await h.advanceTo(h.clock.now() + fastConfig.windowMs + 1);
      expect(rx.requests).toHaveLength(2);
      expect(await h.store.getDelivery(h.accountId, claimed2.id)).toMatchObject({
        status: 'failed',
        attemptCount: 1,
      });
    });
  });
}
