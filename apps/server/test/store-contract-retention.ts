/**
 * The Store contract of retention (`purgeFinished`), run on both stores by
 * `store-sqlite.test.ts` and `store-postgres.test.ts` beside `storeContract`. Only the `Store`
 * interface is used.
 */

import { ulid } from 'ulid';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newId } from '../src/ids.js';
import type { ClaimedDelivery, Store, WebhookRow } from '../src/store/types.js';
import { webhookRow } from './helpers/rows.js';

export type MakeStore = () => Promise<Store> | Store;

const T0 = Date.UTC(2024, 0, 15, 10, 30);
const MIN = 60_000;
const DAY = 24 * 60 * MIN;

export function retentionContract(name: string, makeStore: MakeStore): void {
  describe(`Store contract, retention: ${name}`, () => {
    let store: Store;
    let acct: string;
    let a: WebhookRow;
    let b: WebhookRow;

    beforeEach(async () => {
      store = await makeStore();
      await store.migrate();
      acct = newId('acct');
      await store.createAccount({ id: acct, name: 'A', createdAt: T0 });
      a = webhookRow({ accountId: acct, url: 'https://a.test/', secretEnc: 'e', createdAt: T0 });
      b = webhookRow({ accountId: acct, url: 'https://b.test/', secretEnc: 'e', createdAt: T0 });
      await store.createWebhook(a);
      await store.createWebhook(b);
    });

    afterEach(async () => {
      await store.close();
    });

    /**
     * An event at `at`, fanned out to both webhooks. Its id is made at `at` too, as the service's
     * are (`newId`'s monotonic ids made at this test's past times would carry today's).
     */
    async function publish(at: number): Promise<string> {
      const id = `evt_${ulid(at)}`;
      const body = JSON.stringify({ id, event: 'agent.created', timestamp: '', data: {} });
      await store.insertEvents(acct, [{ id, event: 'agent.created', timestamp: at, body }], at);
      return id;
    }

    async function claimAll(now: number): Promise<ClaimedDelivery[]> {
      return store.claimDue({ now, limit: 100, owner: 'w', leaseMs: 30_000, webhookLeases: 100 });
    }

    /** Completes each claimed delivery with one attempt: `finish` decides its new status. */
    async function complete(
      claimed: ClaimedDelivery[],
      now: number,
      finish: (c: ClaimedDelivery) => 'succeeded' | 'failed' | 'pending',
    ) {
      await store.completeAttempts(
        claimed.map((c) => {
          const status = finish(c);
          return {
            deliveryId: c.id,
            accountId: acct,
            webhookId: c.webhook!.id,
            status,
            nextAttemptAt: status === 'pending' ? now + 3 * DAY : null,
            owner: 'w',
            now,
            attempt: {
              id: newId('att', now),
              deliveryId: c.id,
              number: c.attemptCount + 1,
              startedAt: now,
              durationMs: 5,
              statusCode: status === 'succeeded' ? 200 : 500,
              error: status === 'succeeded' ? null : 'response_status',
              requestHeaders: {},
              responseHeaders: {},
              responseBody: null,
              responseBodyEncoding: null,
              trigger: c.trigger,
              succeeded: status === 'succeeded',
            },
          };
        }),
      );
    }

    it('removes old finished events with their deliveries and attempts, keeps pending and recent ones', async () => {
      const done = await publish(T0);
      const waiting = await publish(T0 + 1);
      await complete(await claimAll(T0 + 10), T0 + 10, (c) =>
        // One delivery of `waiting` is still retrying: that event is kept whole.
        c.eventId === waiting && c.webhook!.id === b.id
          ? 'pending'
          : c.webhook!.id === a.id
            ? 'succeeded'
            : 'failed',
      );
      const recent = await publish(T0 + 2 * DAY);
      await complete(await claimAll(T0 + 2 * DAY), T0 + 2 * DAY, () => 'succeeded');
      const doneDeliveries = (
        await store.listDeliveries(acct, { eventId: done }, { limit: 10 })
      ).data.map((d) => d.id);
      expect(doneDeliveries).toHaveLength(2);

      expect(await store.purgeFinished(T0 + DAY, 100)).toMatchObject({
        events: 1,
        deliveries: 2,
        attempts: 2,
      });
      expect(await store.getEvent(acct, done)).toBeUndefined();
      for (const id of doneDeliveries) expect(await store.getDelivery(acct, id)).toBeUndefined();
      const kept = await store.getEvent(acct, waiting);
      expect(kept?.deliveryIds).toHaveLength(2);
      for (const id of kept!.deliveryIds) {
        expect((await store.getDelivery(acct, id))?.attempts).toHaveLength(1);
      }
      expect((await store.getEvent(acct, recent))?.deliveryIds).toHaveLength(2);
      // Nothing left to do: the next batch deletes nothing.
      expect(await store.purgeFinished(T0 + DAY, 100)).toMatchObject({
        events: 0,
        deliveries: 0,
        attempts: 0,
      });

      // Once the last delivery finishes, the event goes too.
      const [retry] = await claimAll(T0 + 4 * DAY);
      expect(retry?.eventId).toBe(waiting);
      await complete([retry!], T0 + 4 * DAY, () => 'succeeded');
      expect(await store.purgeFinished(T0 + DAY, 100)).toMatchObject({
        events: 1,
        deliveries: 2,
        attempts: 3,
      });
      expect(await store.getEvent(acct, waiting)).toBeUndefined();
    });

    it('an event no webhook received goes too; a batch takes at most `limit` events, oldest first', async () => {
      await store.deleteWebhook(acct, a.id, T0);
      await store.deleteWebhook(acct, b.id, T0);
      const ids = [];
      for (let i = 0; i < 5; i++) ids.push(await publish(T0 + i));
      expect((await store.purgeFinished(T0 + DAY, 2)).events).toBe(2);
      expect(await store.getEvent(acct, ids[0]!)).toBeUndefined();
      expect(await store.getEvent(acct, ids[1]!)).toBeUndefined();
      expect(await store.getEvent(acct, ids[2]!)).toBeDefined();
      expect((await store.purgeFinished(T0 + DAY, 2)).events).toBe(2);
      expect((await store.purgeFinished(T0 + DAY, 2)).events).toBe(1);
      expect((await store.purgeFinished(T0 + DAY, 2)).events).toBe(0);
      expect((await store.listEvents(acct, {}, { limit: 10 })).data).toEqual([]);
    });

    it("a deleted webhook's failed deliveries go with their events, and so does its row", async () => {
      const e = await publish(T0);
      await store.deleteWebhook(acct, a.id, T0 + 5);
      const d = (await store.listDeliveries(acct, { webhookId: a.id }, { limit: 10 })).data;
      expect(d.map((x) => x.status)).toEqual(['failed']);
      // b's delivery is pending: the event and both deliveries stay.
      expect((await store.purgeFinished(T0 + DAY, 100)).events).toBe(0);
      expect(await store.getDelivery(acct, d[0]!.id)).toBeDefined();
      await complete(await claimAll(T0 + 10), T0 + 10, () => 'succeeded');
      const n = await store.purgeFinished(T0 + DAY, 100);
      expect(n).toMatchObject({ events: 1, deliveries: 2, attempts: 1 });
      expect(await store.getEvent(acct, e)).toBeUndefined();
      // A store that keeps deleted webhooks' rows (PostgreSQL) deletes them now; SQLite has none.
      expect(n.webhooks).toBeLessThanOrEqual(1);
      expect(await store.getWebhook(acct, a.id)).toBeUndefined();
      expect(await store.getWebhook(acct, b.id)).toBeDefined();
    });
  });
}
