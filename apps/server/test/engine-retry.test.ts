/**
 * The retry rules and lifecycle rules of SPEC §4, on the default schedule (base 5 min, factor 12,
 * 3 retries, window 24 h) without jitter, against real receivers on loopback. The injected clock
 * stands still and moves only by `advanceTo`: no test waits for a backoff, and every due time is
 * checked to the millisecond from the stored times (not before it, at it).
 */
import { eventSamples } from '@agentfactory/webhooks';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULTS, type DeliveryConfig, parseDuration } from '../src/config.js';
import type { Store } from '../src/store/types.js';
import { createHarness, deliveriesOf, type Harness, onEachStore } from './engine-harness.js';
import { type Receiver, startReceiver } from './helpers/receiver.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** The default schedule (`AF_RETRY_*`, `AF_MAX_RETRIES`), jitter off so due times are exact. */
const schedule = {
  maxRetries: Number(DEFAULTS.AF_MAX_RETRIES),
  baseDelayMs: parseDuration(DEFAULTS.AF_RETRY_BASE_DELAY),
  factor: Number(DEFAULTS.AF_RETRY_FACTOR),
  windowMs: parseDuration(DEFAULTS.AF_RETRY_WINDOW),
  jitter: 0,
};
/** Retry n (n ≥ 1) waits this long after the attempt before it. */
const backoff = (n: number) => schedule.baseDelayMs * schedule.factor ** (n - 1);
const gaps = (times: number[]) => times.slice(1).map((t, i) => t - times[i]!);

await onEachStore(engineRetryTests);

function engineRetryTests(storeName: string, openStore?: () => Promise<Store>) {
  describe(`engine: retries and lifecycle (${storeName})`, () => {
    let h: Harness | undefined;
    const receivers: Receiver[] = [];

    async function setup(config: Partial<DeliveryConfig> = {}) {
      h = await createHarness({ ...schedule, ...config }, openStore);
      // Time stands still: it moves by `advanceTo` only.
      h.clock.frozenAt = h.clock.now();
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

    /** The delivery once its attempt `n` is written. */
    async function attempted(h: Harness, id: string, n: number) {
      return h.until(async () => {
        const x = await h.store.getDelivery(h.accountId, id);
        return x && x.attemptCount === n && !x.inFlight ? x : undefined;
      });
    }

    /**
     * Passes a retry's backoff: at 1 ms before `due` nothing is sent, at `due` the retry is
     * (`sent` requests in all by then).
     */
    async function retryAt(h: Harness, rx: Receiver, due: number, sent: number) {
      await h.advanceTo(due - 1);
      expect(rx.requests).toHaveLength(sent - 1);
      await h.advanceTo(due);
      expect(rx.requests).toHaveLength(sent);
    }

    it('retries max_retries times, each base × factor^(n-1) after the attempt before, then fails', async () => {
      const { h, rx } = await setup();
      expect(schedule.maxRetries).toBe(3);
      rx.respond = () => ({ status: 500, body: 'down' });
      await h.webhook({ url: rx.url });
      const e = await h.publish('agent.created', eventSamples['agent.created']);
      const [d0] = await deliveriesOf(h, e.id);
      for (let n = 1; n <= schedule.maxRetries; n++) {
        const x = await attempted(h, d0!.id, n);
        // Due base × factor^(n-1) after this attempt, exactly (no jitter, the clock stands still).
        expect(x.status).toBe('pending');
        expect(x.nextAttemptAt).toBe(x.attempts.at(-1)!.startedAt + backoff(n));
        await retryAt(h, rx, x.nextAttemptAt!, n + 1);
      }
      const d = await settle(h, e.id);
      expect(rx.requests).toHaveLength(4);
      expect(rx.requests.map((r) => r.headers['x-agentfactory-attempt'])).toEqual([
        '1',
        '2',
        '3',
        '4',
      ]);
      // The spacing, in the attempts recorded and in the timestamps the receiver was sent.
      const spacing = [backoff(1), backoff(2), backoff(3)];
      expect(spacing).toEqual([5 * MINUTE, HOUR, 12 * HOUR]);
      const detail = await h.store.getDelivery(h.accountId, d.id);
      expect(gaps(detail!.attempts.map((a) => a.startedAt))).toEqual(spacing);
      expect(
        gaps(rx.requests.map((r) => Number(r.headers['x-agentfactory-timestamp']) * 1000)),
      ).toEqual(spacing);
      expect(d).toMatchObject({
        status: 'failed',
        attemptCount: 4,
        nextAttemptAt: null,
        lastStatusCode: 500,
        lastError: 'response_status',
      });
      expect(detail!.attempts.map((a) => [a.number, a.statusCode, a.responseBody])).toEqual([
        [1, 500, 'down'],
        [2, 500, 'down'],
        [3, 500, 'down'],
        [4, 500, 'down'],
      ]);
    });

    it('stops at the window: no retry is scheduled past it', async () => {
      const { h, rx } = await setup({ windowMs: 30 * MINUTE });
      rx.respond = () => ({ status: 500 });
      await h.webhook({ url: rx.url });
      const e = await h.publish('agent.created', eventSamples['agent.created']);
      const [d0] = await deliveriesOf(h, e.id);
      // Attempt 1 at 0, retry 1 at 5 min; retry 2 would be due at 65 min > 30 min.
      const first = await attempted(h, d0!.id, 1);
      const t0 = first.attempts[0]!.startedAt;
      expect(first.nextAttemptAt).toBe(t0 + 5 * MINUTE);
      await retryAt(h, rx, first.nextAttemptAt!, 2);
      const d = await settle(h, e.id);
      expect(d).toMatchObject({ status: 'failed', attemptCount: 2, nextAttemptAt: null });
      // Past the time retry 2 would have had, and the window's end: nothing more.
      await h.advanceTo(t0 + 65 * MINUTE + 1);
      expect(rx.requests).toHaveLength(2);
    });

    it('honours a longer Retry-After on 503', async () => {
      const { h, rx } = await setup({ maxRetries: 1 });
      let n = 0;
      // An hour: longer than the 5 min backoff.
      rx.respond = () => (n++ === 0 ? { status: 503, headers: { 'Retry-After': '3600' } } : {});
      await h.webhook({ url: rx.url });
      const e = await h.publish('agent.created', eventSamples['agent.created']);
      const [d0] = await deliveriesOf(h, e.id);
      const first = await attempted(h, d0!.id, 1);
      expect(first.nextAttemptAt).toBe(first.attempts[0]!.startedAt + HOUR);
      // Not at the backoff's time, only at Retry-After's.
      await h.advanceTo(first.attempts[0]!.startedAt + backoff(1));
      expect(rx.requests).toHaveLength(1);
      await retryAt(h, rx, first.nextAttemptAt!, 2);
      const d = await settle(h, e.id);
      expect(d.status).toBe('succeeded');
      expect(gaps(d.attempts.map((a) => a.startedAt))).toEqual([HOUR]);
    });

    it('fails at once when Retry-After points past the window', async () => {
      const { h, rx } = await setup({ maxRetries: 3 });
      // 25 h: past the 24 h window, though the 5 min backoff is well within it.
      rx.respond = () => ({ status: 429, headers: { 'Retry-After': String(25 * 3600) } });
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
      const [d0] = await deliveriesOf(h, e.id);
      const first = await attempted(h, d0!.id, 1);
      expect(first.nextAttemptAt).toBe(first.attempts[0]!.startedAt + backoff(1));
      await h.advanceTo(first.nextAttemptAt!);
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
      // No retry comes, however long after: past the whole window.
      await h.advanceTo(h.clock.now() + schedule.windowMs + 1);
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
      // The clock stands still: the scheduled retry cannot come before the manual attempt.
      const { h, rx } = await setup();
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
      // And the scheduled retry comes at its time.
      await retryAt(h, rx, scheduled, 3);
      const third = await attempted(h, d0!.id, 3);
      expect(third.attempts.at(-1)).toMatchObject({ trigger: 'scheduled', startedAt: scheduled });
    });

    it('an inactive webhook fails its pending deliveries at their due time with endpoint_disabled', async () => {
      const { h, rx } = await setup();
      rx.respond = () => ({ status: 500 });
      const hook = await h.webhook({ url: rx.url });
      const e = await h.publish('agent.created', eventSamples['agent.created']);
      const [d0] = await deliveriesOf(h, e.id);
      const first = await attempted(h, d0!.id, 1);
      await h.store.updateWebhook(
        h.accountId,
        hook.id,
        { active: false, disabledReason: 'manual' },
        h.clock.now(),
      );
      // Not before its due time: still pending 1 ms before.
      await h.advanceTo(first.nextAttemptAt! - 1);
      expect(await h.store.getDelivery(h.accountId, d0!.id)).toMatchObject({
        status: 'pending',
        attemptCount: 1,
      });
      await h.advanceTo(first.nextAttemptAt!);
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
        startedAt: first.nextAttemptAt,
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
      const { h, rx } = await setup();
      rx.respond = () => ({ status: 500 });
      const hook = await h.webhook({ url: rx.url });
      const e = await h.publish('agent.created', eventSamples['agent.created']);
      const t0 = h.clock.now();
      await rx.waitFor(1);
      await h.store.deleteWebhook(h.accountId, hook.id, h.clock.now());
      // The retry's due time (in case attempt 1's outcome was written after the delete).
      await h.advanceTo(t0 + backoff(1));
      const d = await settle(h, e.id);
      expect(d.status).toBe('failed');
      // Past the window: nothing more.
      await h.advanceTo(t0 + schedule.windowMs + 1);
      expect(rx.requests).toHaveLength(1);
    });

    it('changing the URL sends pending deliveries to the new URL', async () => {
      const { h, rx } = await setup();
      const next = await startReceiver();
      receivers.push(next);
      rx.respond = () => ({ status: 500 });
      const hook = await h.webhook({ url: rx.url });
      const e = await h.publish('agent.created', eventSamples['agent.created']);
      const t0 = h.clock.now();
      await rx.waitFor(1);
      await h.store.updateWebhook(h.accountId, hook.id, { url: `${next.url}/v2` }, h.clock.now());
      await h.advanceTo(t0 + backoff(1));
      const d = await settle(h, e.id);
      expect(d).toMatchObject({ status: 'succeeded', attemptCount: 2 });
      expect(rx.requests).toHaveLength(1);
      expect(next.requests).toHaveLength(1);
      expect(next.requests[0]).toMatchObject({ url: '/v2' });
      expect(next.requests[0]!.headers['x-agentfactory-attempt']).toBe('2');
    });
  });
}
