/**
 * The Store contract of webhook health and operational events (`WebhookHealth`, notices,
 * auto-disable, their publication), run on both stores by `store-sqlite.test.ts` and
 * `store-postgres.test.ts` beside `storeContract`. Only the `Store` interface is used.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newId } from '../src/ids.js';
import { noticeEvent } from '../src/operations/notices.js';
import type {
  AttemptOutcome,
  AttemptRow,
  ClaimedDelivery,
  Store,
  WebhookRow,
} from '../src/store/types.js';
import { webhookRow } from './helpers/rows.js';

export type MakeStore = () => Promise<Store> | Store;

const T0 = Date.UTC(2024, 0, 15, 10, 30);
const MIN = 60_000;
const DAY = 24 * 60 * MIN;

export function healthContract(name: string, makeStore: MakeStore): void {
  describe(`Store contract, health: ${name}`, () => {
    let store: Store;
    let acctA: string;
    let acctB: string;

    beforeEach(async () => {
      store = await makeStore();
      await store.migrate();
      acctA = newId('acct');
      acctB = newId('acct');
      await store.createAccount({ id: acctA, name: 'A', createdAt: T0 });
      await store.createAccount({ id: acctB, name: 'B', createdAt: T0 });
    });

    afterEach(async () => {
      await store.close();
    });

    async function addWebhook(accountId: string, over: Partial<WebhookRow> = {}) {
      const w = webhookRow({
        accountId,
        url: `https://example.test/${newId('wh')}`,
        secretEnc: 'enc',
        createdAt: T0,
        ...over,
      });
      await store.createWebhook(w);
      return w;
    }

    /** One event for `w` (only it subscribes to `agent.created` in these tests), claimed. */
    async function claimOne(w: WebhookRow, now: number): Promise<ClaimedDelivery> {
      const id = newId('evt');
      const body = JSON.stringify({ id, event: 'agent.created', timestamp: '', data: {} });
      await store.insertEvents(
        w.accountId,
        [{ id, event: 'agent.created', timestamp: now, body }],
        now,
      );
      const claimed = await store.claimDue({
        now,
        limit: 100,
        owner: 'w1',
        leaseMs: 30_000,
        webhookLeases: 100,
        webhooks: [w.id],
      });
      const mine = claimed.find((c) => c.eventId === id);
      if (!mine) throw new Error('expected to claim the new delivery');
      return mine;
    }

    function outcome(
      c: ClaimedDelivery,
      at: number,
      over: Partial<AttemptOutcome>,
      attempt: Partial<AttemptRow> = {},
    ): AttemptOutcome {
      const ok = over.status === 'succeeded';
      return {
        deliveryId: c.id,
        accountId: c.accountId,
        webhookId: c.webhook!.id,
        status: 'succeeded',
        nextAttemptAt: null,
        owner: 'w1',
        now: at + 100,
        attempt: {
          id: newId('att'),
          deliveryId: c.id,
          number: c.attemptCount + 1,
          startedAt: at,
          durationMs: 10,
          statusCode: ok ? 200 : 500,
          error: ok ? null : 'response_status',
          requestHeaders: {},
          responseHeaders: {},
          responseBody: null,
          responseBodyEncoding: null,
          trigger: c.trigger,
          succeeded: ok,
          ...attempt,
        },
        ...over,
      };
    }

    /** A delivery of `w` sent once at `at`, with this result. */
    async function deliver(
      w: WebhookRow,
      at: number,
      result: 'succeeded' | 'retrying' | 'exhausted',
      attempt: Partial<AttemptRow> = {},
      over: Partial<AttemptOutcome> = {},
    ) {
      const c = await claimOne(w, at);
      const status = result === 'retrying' ? 'pending' : result === 'exhausted' ? 'failed' : result;
      await store.completeAttempts([
        outcome(
          c,
          at,
          { status, nextAttemptAt: status === 'pending' ? at + MIN : null, ...over },
          attempt,
        ),
      ]);
      return c;
    }

    const health = async (w: WebhookRow) => (await store.getWebhook(w.accountId, w.id))!.health;
    const kinds = async () => (await store.listWebhookNotices(100)).map((n) => n.kind);

    it('a new webhook is healthy, with nothing known', async () => {
      const w = await addWebhook(acctA);
      expect(await health(w)).toEqual({
        failingSince: null,
        consecutiveFailures: 0,
        lastSuccessAt: null,
        lastFailureAt: null,
        certificateExpiresAt: null,
      });
      expect((await store.listWebhooks(acctA, { limit: 10 })).data[0]!.health).toEqual(
        await health(w),
      );
    });

    it('failing from the first exhausted delivery, recovered by the next success, told once each', async () => {
      const w = await addWebhook(acctA);
      await deliver(w, T0, 'retrying');
      // A failed attempt with retries left: the streak starts, the webhook is not failing yet.
      expect(await health(w)).toMatchObject({
        failingSince: T0,
        consecutiveFailures: 0,
        lastFailureAt: T0,
      });
      expect(await kinds()).toEqual([]);

      await deliver(w, T0 + MIN, 'exhausted');
      expect(await health(w)).toMatchObject({ failingSince: T0, consecutiveFailures: 1 });
      await deliver(w, T0 + 2 * MIN, 'exhausted', { error: 'timeout', statusCode: null });
      expect(await health(w)).toMatchObject({
        failingSince: T0,
        consecutiveFailures: 2,
        lastFailureAt: T0 + 2 * MIN,
        lastSuccessAt: null,
      });
      const [failing, ...more] = await store.listWebhookNotices(100);
      expect(more).toEqual([]);
      expect(failing).toMatchObject({
        accountId: acctA,
        webhookId: w.id,
        url: w.url,
        kind: 'failing',
        failingSince: T0,
        failedDeliveries: 1,
        lastError: 'response_status',
      });

      await deliver(w, T0 + 3 * MIN, 'succeeded');
      expect(await health(w)).toEqual({
        failingSince: null,
        consecutiveFailures: 0,
        lastSuccessAt: T0 + 3 * MIN,
        lastFailureAt: T0 + 2 * MIN,
        certificateExpiresAt: null,
      });
      const notices = await store.listWebhookNotices(100);
      expect(notices.map((n) => n.kind)).toEqual(['failing', 'recovered']);
      expect(notices[1]).toMatchObject({
        kind: 'recovered',
        at: T0 + 3 * MIN,
        failingSince: T0,
        failedDeliveries: 2,
      });
      // Healthy again: a success tells nothing.
      await deliver(w, T0 + 4 * MIN, 'succeeded');
      expect(await kinds()).toEqual(['failing', 'recovered']);
    });

    it("keeps a healthy webhook's last success to the second: no write per batch of successes", async () => {
      const w = await addWebhook(acctA);
      await deliver(w, T0, 'succeeded');
      await deliver(w, T0 + 400, 'succeeded');
      await deliver(w, T0 + 999, 'succeeded');
      expect((await health(w)).lastSuccessAt).toBe(T0);
      await deliver(w, T0 + 1000, 'succeeded');
      expect((await health(w)).lastSuccessAt).toBe(T0 + 1000);
      // A failure is always written, and so is the success that follows it.
      await deliver(w, T0 + 1100, 'retrying');
      expect((await health(w)).lastFailureAt).toBe(T0 + 1100);
      await deliver(w, T0 + 1200, 'succeeded');
      expect(await health(w)).toMatchObject({ lastSuccessAt: T0 + 1200, lastFailureAt: T0 + 1100 });
      expect(await kinds()).toEqual([]);
    });

    it('counts outcomes of one batch in order of their start: a success ends the streak', async () => {
      const w = await addWebhook(acctA);
      const a = await claimOne(w, T0);
      const b = await claimOne(w, T0);
      const c = await claimOne(w, T0);
      await store.completeAttempts([
        outcome(c, T0 + 30, { status: 'failed' }),
        outcome(a, T0 + 10, { status: 'failed' }),
        outcome(b, T0 + 20, { status: 'succeeded' }),
      ]);
      expect(await health(w)).toMatchObject({
        failingSince: T0 + 30,
        consecutiveFailures: 1,
        lastSuccessAt: T0 + 20,
        lastFailureAt: T0 + 30,
      });
      expect(await kinds()).toEqual(['failing']);
    });

    it("the test action's attempts and endpoint_disabled failures say nothing of the endpoint", async () => {
      const w = await addWebhook(acctA);
      const event = {
        id: newId('evt'),
        event: 'webhook.test',
        timestamp: T0,
        body: '{}',
      };
      const t = await store.insertTestDelivery(
        acctA,
        w.id,
        event,
        { id: newId('dlv'), owner: 'api', leaseMs: 30_000 },
        T0,
      );
      await store.completeAttempts([
        outcome(t, T0, { status: 'failed', owner: undefined }, { trigger: 'test' }),
      ]);
      await deliver(w, T0 + MIN, 'exhausted', { error: 'endpoint_disabled', statusCode: null });
      expect(await health(w)).toMatchObject({
        failingSince: null,
        consecutiveFailures: 0,
        lastFailureAt: null,
      });
      expect(await kinds()).toEqual([]);
    });

    it('a 410 of an active webhook tells the account it was disabled (gone)', async () => {
      const w = await addWebhook(acctA);
      await deliver(
        w,
        T0,
        'exhausted',
        { statusCode: 410 },
        {
          disableWebhook: 'gone',
        },
      );
      expect(await store.getWebhook(acctA, w.id)).toMatchObject({
        active: false,
        disabledReason: 'gone',
      });
      const notices = await store.listWebhookNotices(100);
      expect(notices.map((n) => [n.kind, n.reason])).toEqual([
        ['failing', null],
        ['disabled', 'gone'],
      ]);
    });

    it('auto-disable: failing since the cutoff or earlier, with a notice, once', async () => {
      const failing = await addWebhook(acctA);
      const recent = await addWebhook(acctA);
      const retrying = await addWebhook(acctA);
      const other = await addWebhook(acctB);
      await deliver(failing, T0, 'exhausted');
      await deliver(recent, T0 + DAY, 'exhausted');
      await deliver(retrying, T0, 'retrying'); // failing since T0, but nothing exhausted
      await deliver(other, T0, 'exhausted');
      await store.publishWebhookNotices(
        (await store.listWebhookNotices(100)).map((n) => noticeEvent(n, T0 + DAY)),
        T0 + DAY,
      );

      const now = T0 + 5 * DAY;
      expect(await store.disableFailingWebhooks(T0, now)).toBe(2);
      expect(await store.disableFailingWebhooks(T0, now)).toBe(0);
      for (const w of [failing, other]) {
        expect(await store.getWebhook(w.accountId, w.id)).toMatchObject({
          active: false,
          disabledReason: 'failing',
          updatedAt: now,
        });
      }
      for (const w of [recent, retrying]) {
        expect((await store.getWebhook(w.accountId, w.id))!.active).toBe(true);
      }
      const notices = await store.listWebhookNotices(100);
      expect(notices.map((n) => [n.webhookId, n.kind, n.reason, n.at]).sort()).toEqual(
        [
          [failing.id, 'disabled', 'failing', now],
          [other.id, 'disabled', 'failing', now],
        ].sort(),
      );
    });

    it('counts failing webhooks and inactive ones by reason, all accounts, no listen sessions', async () => {
      const zero = { failing: 0, disabled: { gone: 0, failing: 0, manual: 0 } };
      expect(await store.countWebhookHealth()).toEqual(zero);
      const a = await addWebhook(acctA);
      const b = await addWebhook(acctB);
      await addWebhook(acctA, { active: false, disabledReason: 'manual' });
      await addWebhook(acctB, { active: false, disabledReason: 'gone' });
      await deliver(a, T0, 'exhausted');
      await deliver(b, T0, 'exhausted');
      expect(await store.countWebhookHealth()).toEqual({
        failing: 2,
        disabled: { gone: 1, failing: 0, manual: 1 },
      });
      await store.disableFailingWebhooks(T0, T0 + DAY);
      expect(await store.countWebhookHealth()).toEqual({
        failing: 0,
        disabled: { gone: 1, failing: 2, manual: 1 },
      });
      await store.deleteWebhook(acctA, a.id, T0 + DAY);
      expect((await store.countWebhookHealth()).disabled.failing).toBe(1);
    });

    it('enabling clears health; a user disabling an active webhook tells the account', async () => {
      const w = await addWebhook(acctA);
      await deliver(w, T0, 'exhausted');
      expect(await store.disableFailingWebhooks(T0, T0 + DAY)).toBe(1);
      // Enabling an active webhook changes nothing.
      const other = await addWebhook(acctA);
      await deliver(other, T0, 'exhausted');
      await store.updateWebhook(acctA, other.id, { active: true, disabledReason: null }, T0 + DAY);
      expect((await health(other)).consecutiveFailures).toBe(1);

      const enabled = await store.updateWebhook(
        acctA,
        w.id,
        { active: true, disabledReason: null },
        T0 + 2 * DAY,
      );
      expect(enabled).toMatchObject({ active: true, disabledReason: null });
      expect(enabled!.health).toMatchObject({
        failingSince: null,
        consecutiveFailures: 0,
        lastFailureAt: T0,
      });

      const before = (await store.listWebhookNotices(100)).length;
      await store.updateWebhook(
        acctA,
        w.id,
        { active: false, disabledReason: 'manual' },
        T0 + 3 * DAY,
      );
      await store.updateWebhook(
        acctA,
        w.id,
        { active: false, disabledReason: 'manual' },
        T0 + 3 * DAY,
      );
      const after = await store.listWebhookNotices(100);
      expect(after).toHaveLength(before + 1);
      expect(after.at(-1)).toMatchObject({
        webhookId: w.id,
        kind: 'disabled',
        reason: 'manual',
        at: T0 + 3 * DAY,
      });
      // Another account's key changes nothing and tells nothing.
      expect(
        await store.updateWebhook(acctB, other.id, { active: false, disabledReason: 'manual' }, T0),
      ).toBeUndefined();
      expect(await store.listWebhookNotices(100)).toHaveLength(before + 1);
    });

    it("publishes a notice once, to the account's subscribed webhooks but the one it is about", async () => {
      const subject = await addWebhook(acctA, { events: ['*'] });
      const all = await addWebhook(acctA, { events: ['*'] });
      const ops = await addWebhook(acctA, { events: ['webhook.*'] });
      const named = await addWebhook(acctA, { events: ['webhook.recovered'] });
      const agents = await addWebhook(acctA, { events: ['agent.*'] });
      const inactive = await addWebhook(acctA, {
        events: ['*'],
        active: false,
        disabledReason: 'manual',
      });
      const stranger = await addWebhook(acctB, { events: ['*'] });
      // The subject's own fan-out of agent.created goes to every `*` webhook: count from after it.
      await deliver(subject, T0, 'exhausted');
      const now = T0 + MIN;
      const pending = async () =>
        (await store.listDeliveries(acctA, { event: 'webhook.failing' }, { limit: 100 })).data;

      const notices = await store.listWebhookNotices(100);
      expect(notices.map((n) => n.kind)).toEqual(['failing']);
      const events = notices.map((n) => noticeEvent(n, now));
      expect(await store.publishWebhookNotices(events, now)).toBe(2);
      // Published twice (another process got there first): nothing more.
      expect(await store.publishWebhookNotices(events, now)).toBe(0);
      expect(await store.listWebhookNotices(100)).toEqual([]);

      const sent = await pending();
      // Not the subject, nor one subscribed to other events (named, agents), inactive, or of
      // another account (stranger).
      expect(sent.map((d) => d.webhookId).sort()).toEqual([all.id, ops.id].sort());
      for (const w of [subject, named, agents, inactive, stranger]) {
        expect(sent.map((d) => d.webhookId)).not.toContain(w.id);
      }
      expect(sent.every((d) => d.status === 'pending' && d.nextAttemptAt === now)).toBe(true);
      const event = await store.getEvent(acctA, events[0]!.event.id);
      expect(event).toMatchObject({ event: 'webhook.failing', deliveries: 2 });
      expect(JSON.parse(event!.body).data).toMatchObject({
        webhook_id: subject.id,
        url: subject.url,
        failed_deliveries: 1,
      });
      expect(
        (await store.listEvents(acctB, { event: 'webhook.failing' }, { limit: 10 })).data,
      ).toEqual([]);
      // The delivery is claimable like any other.
      const claimed = await store.claimDue({
        now,
        limit: 100,
        owner: 'w2',
        leaseMs: 30_000,
        webhookLeases: 100,
        webhooks: [ops.id],
      });
      expect(claimed.map((c) => c.event)).toEqual(['webhook.failing']);
    });

    it('certificates: recorded per webhook, warned of at 14, 7 and 1 days, once each per certificate', async () => {
      const w = await addWebhook(acctA);
      const off = await addWebhook(acctA, { active: false, disabledReason: 'manual' });
      const far = T0 + 30 * DAY;
      expect(
        await store.recordCertificates([{ webhookId: w.id, accountId: acctA, expiresAt: far }], T0),
      ).toBe(0);
      expect((await health(w)).certificateExpiresAt).toBe(far);
      // Another account's id changes nothing.
      await store.recordCertificates([{ webhookId: w.id, accountId: acctB, expiresAt: T0 }], T0);
      expect((await health(w)).certificateExpiresAt).toBe(far);

      const soon = T0 + 10 * DAY + 5 * MIN;
      const seen = [
        { webhookId: w.id, accountId: acctA, expiresAt: soon },
        { webhookId: off.id, accountId: acctA, expiresAt: soon },
      ];
      expect(await store.recordCertificates(seen, T0)).toBe(1);
      expect(await store.recordCertificates(seen, T0 + MIN)).toBe(0);
      expect(await store.warnExpiringCertificates(T0 + 2 * MIN)).toBe(0);
      const [first, ...none] = await store.listWebhookNotices(100);
      expect(none).toEqual([]);
      expect(first).toMatchObject({
        webhookId: w.id,
        url: w.url,
        kind: 'certificate_expiring',
        at: T0,
        expiresAt: soon,
        daysLeft: 10,
      });
      expect((await health(off)).certificateExpiresAt).toBe(soon);

      // Time passes on one connection: the 7-day and the 1-day warnings, each once.
      expect(await store.warnExpiringCertificates(soon - 6 * DAY)).toBe(1);
      expect(await store.warnExpiringCertificates(soon - 5 * DAY)).toBe(0);
      expect(await store.warnExpiringCertificates(soon - DAY)).toBe(1);
      expect(await store.warnExpiringCertificates(soon + DAY)).toBe(0);
      const days = (await store.listWebhookNotices(100)).map((n) => n.daysLeft);
      expect(days).toEqual([10, 6, 1]);

      // Another URL: the certificate was the old endpoint's.
      const other = await addWebhook(acctA);
      await store.recordCertificates(
        [{ webhookId: other.id, accountId: acctA, expiresAt: far }],
        T0,
      );
      await store.updateWebhook(acctA, other.id, { url: other.url }, T0);
      expect((await health(other)).certificateExpiresAt).toBe(far);
      await store.updateWebhook(acctA, other.id, { url: 'http://elsewhere.test/' }, T0);
      expect((await health(other)).certificateExpiresAt).toBeNull();

      // A renewed certificate starts again.
      const renewed = soon + 3 * DAY;
      expect(
        await store.recordCertificates(
          [{ webhookId: w.id, accountId: acctA, expiresAt: renewed }],
          soon,
        ),
      ).toBe(1);
      expect((await store.listWebhookNotices(100)).at(-1)).toMatchObject({ daysLeft: 3 });
    });
  });
}
