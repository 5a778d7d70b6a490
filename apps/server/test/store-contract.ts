/**
 * The Store contract: every implementation (SQLite now, PostgreSQL later) runs these same tests
 * through `storeContract(name, makeStore)`. They talk only to the `Store` interface, so a second
 * implementation passes or fails on behaviour, not on SQL.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BUILT_IN } from '../src/config.js';
import { newId } from '../src/ids.js';
import { type FusedCompleteClaim, hasCompleteAndClaim } from '../src/store/capabilities.js';
import type {
  ApiKeyRow,
  AttemptOutcome,
  AttemptRow,
  AuditEntryRow,
  AuditFilter,
  ClaimedDelivery,
  NewEvent,
  OpenListenSession,
  Store,
  WebhookRow,
} from '../src/store/types.js';
import { IDEMPOTENCY_KEY_TTL_MS } from '../src/store/types.js';
import { webhookRow } from './helpers/rows.js';

export type MakeStore = () => Promise<Store> | Store;

const T0 = Date.UTC(2024, 0, 15, 10, 30);
const MIN = 60_000;
const HOUR = 60 * MIN;

/**
 * The engine serves a store without `completeAndClaim` with two calls, but every store shipped
 * has it (one round trip per flush): a store that lost it fails here rather than skip its tests.
 */
function requireFused<S extends Store>(store: S): S & FusedCompleteClaim {
  if (!hasCompleteAndClaim(store)) {
    throw new Error('the store must implement completeAndClaim (FusedCompleteClaim)');
  }
  return store;
}

export function storeContract(name: string, makeStore: MakeStore): void {
  describe(`Store contract: ${name}`, () => {
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

    function webhook(accountId: string, over: Partial<WebhookRow> = {}): WebhookRow {
      return webhookRow({
        accountId,
        name: 'hook',
        url: 'https://example.test/hook',
        secretEnc: 'enc-secret',
        createdAt: T0,
        ...over,
      });
    }

    async function addWebhook(accountId: string, over: Partial<WebhookRow> = {}) {
      const w = webhook(accountId, over);
      await store.createWebhook(w);
      return w;
    }

    function newEvent(event = 'agent.created', over: Partial<NewEvent> = {}): NewEvent {
      const id = newId('evt');
      return {
        id,
        event,
        timestamp: T0,
        body: JSON.stringify({ id, event, timestamp: new Date(T0).toISOString(), data: {} }),
        ...over,
      };
    }

    async function publish(accountId: string, event = 'agent.created', now = T0) {
      const [r] = await store.insertEvents(accountId, [newEvent(event, { timestamp: now })], now);
      if (r?.status !== 'created') throw new Error('expected created');
      return r.event;
    }

    function claimOpts(over: Partial<Parameters<Store['claimDue']>[0]> = {}) {
      return {
        now: T0,
        limit: 100,
        owner: 'w1',
        leaseMs: 30_000,
        webhookLeases: 10,
        ...over,
      };
    }

    function outcome(
      c: ClaimedDelivery,
      over: Partial<AttemptOutcome> = {},
      attempt: Partial<AttemptRow> = {},
    ): AttemptOutcome {
      return {
        deliveryId: c.id,
        accountId: c.accountId,
        webhookId: c.webhook?.id ?? 'wh_gone',
        status: 'succeeded',
        nextAttemptAt: null,
        now: T0 + 100,
        attempt: {
          id: newId('att'),
          deliveryId: c.id,
          number: c.attemptCount + 1,
          startedAt: T0,
          durationMs: 42,
          statusCode: 200,
          error: null,
          requestHeaders: { 'x-custom': '••••' },
          responseHeaders: { 'content-type': 'text/plain' },
          responseBody: 'ok',
          responseBodyEncoding: 'utf8',
          trigger: c.trigger,
          succeeded: true,
          ...attempt,
        },
        ...over,
      };
    }

    describe('lifecycle', () => {
      it('migrates twice without harm and answers ping', async () => {
        await store.migrate();
        await expect(store.ping()).resolves.toBeUndefined();
      });
    });

    describe('accounts and API keys', () => {
      it('creates and reads accounts; unknown ids are undefined', async () => {
        expect(await store.getAccount(acctA)).toEqual({ id: acctA, name: 'A', createdAt: T0 });
        expect(await store.getAccount(newId('acct'))).toBeUndefined();
      });

      function apiKey(accountId: string, over: Partial<ApiKeyRow> = {}): ApiKeyRow {
        const id = over.id ?? newId('key');
        return {
          id,
          accountId,
          keyHash: `${id}-hash`.padEnd(64, '0'),
          prefix: 'afk_ab12',
          name: 'ci',
          scopes: ['full'],
          createdAt: T0,
          expiresAt: null,
          lastUsedAt: null,
          revokedAt: null,
          ...over,
        };
      }

      it('finds API keys by hash only', async () => {
        const key = apiKey(acctA, { keyHash: 'a'.repeat(64) });
        await store.createApiKey(key);
        expect(await store.findApiKeyByHash(key.keyHash)).toEqual(key);
        expect(await store.findApiKeyByHash('b'.repeat(64))).toBeUndefined();
      });

      it("keeps a key's name, scopes and expiry", async () => {
        const key = apiKey(acctA, {
          name: 'ingest',
          scopes: ['events:write', 'read'],
          expiresAt: T0 + HOUR,
        });
        await store.createApiKey(key);
        expect(await store.findApiKeyByHash(key.keyHash)).toEqual(key);
      });

      it("lists the account's unrevoked keys newest first, in pages, never another account's", async () => {
        const keys: ApiKeyRow[] = [];
        for (let i = 0; i < 5; i++) {
          const k = apiKey(acctA, { id: newId('key', T0 + i), name: `k${i}` });
          await store.createApiKey(k);
          keys.push(k);
        }
        await store.createApiKey(apiKey(acctB));
        const first = await store.listApiKeys(acctA, { limit: 3 });
        expect(first.data.map((k) => k.name)).toEqual(['k4', 'k3', 'k2']);
        expect(first.nextCursor).toBe(keys[2]!.id);
        const second = await store.listApiKeys(acctA, { limit: 3, cursor: first.nextCursor! });
        expect(second.data.map((k) => k.name)).toEqual(['k1', 'k0']);
        expect(second.nextCursor).toBeNull();

        expect(await store.revokeApiKey(acctA, keys[3]!.id, T0 + MIN)).toEqual(keys[3]);
        const after = await store.listApiKeys(acctA, { limit: 10 });
        expect(after.data.map((k) => k.name)).toEqual(['k4', 'k2', 'k1', 'k0']);
      });

      it('revokes once, only in its own account; the revoked key is still found, marked', async () => {
        const key = apiKey(acctA);
        await store.createApiKey(key);
        expect(await store.revokeApiKey(acctB, key.id, T0 + MIN)).toBeUndefined();
        expect(await store.findApiKeyByHash(key.keyHash)).toMatchObject({ revokedAt: null });
        expect(await store.revokeApiKey(acctA, key.id, T0 + MIN)).toEqual(key);
        expect(await store.revokeApiKey(acctA, key.id, T0 + 2 * MIN)).toBeUndefined();
        expect(await store.revokeApiKey(acctA, newId('key'), T0 + MIN)).toBeUndefined();
        expect(await store.findApiKeyByHash(key.keyHash)).toEqual({ ...key, revokedAt: T0 + MIN });
      });

      it('holds the quota of unrevoked keys, under concurrent creates too; revoked ones free room', async () => {
        const made = await Promise.all(
          Array.from({ length: 6 }, () => store.createApiKey(apiKey(acctA), 4)),
        );
        expect(made.filter(Boolean)).toHaveLength(4);
        const listed = await store.listApiKeys(acctA, { limit: 10 });
        expect(listed.data).toHaveLength(4);
        expect(await store.createApiKey(apiKey(acctB), 4)).toBe(true);
        await store.revokeApiKey(acctA, listed.data[0]!.id, T0 + MIN);
        expect(await store.createApiKey(apiKey(acctA), 4)).toBe(true);
        expect(await store.createApiKey(apiKey(acctA), 4)).toBe(false);
        // Without a quota (the admin key's route), always.
        expect(await store.createApiKey(apiKey(acctA))).toBe(true);
      });

      it('marks a key used only when it was not marked since notBefore', async () => {
        const key = apiKey(acctA);
        await store.createApiKey(key);
        const used = async () => (await store.findApiKeyByHash(key.keyHash))?.lastUsedAt;
        await store.markApiKeyUsed(key.id, T0 + MIN, T0);
        expect(await used()).toBe(T0 + MIN);
        // Another process, 30 s later, with a one-minute interval: nothing written.
        await store.markApiKeyUsed(key.id, T0 + MIN + 30_000, T0 + 30_000);
        expect(await used()).toBe(T0 + MIN);
        await store.markApiKeyUsed(key.id, T0 + 2 * MIN + 1, T0 + MIN + 1);
        expect(await used()).toBe(T0 + 2 * MIN + 1);
      });

      it('lists the ids of accounts by the start of their id, created before a time', async () => {
        const ids = ['acct_warmup_A', 'acct_warmup_B', 'acct_warmupX'];
        await store.createAccount({ id: ids[0]!, name: 'warm-up', createdAt: T0 - HOUR });
        await store.createAccount({ id: ids[1]!, name: 'warm-up', createdAt: T0 });
        await store.createAccount({ id: ids[2]!, name: 'warm-up', createdAt: T0 - HOUR });
        expect(await store.listAccountIds('acct_warmup_', T0)).toEqual(['acct_warmup_A']);
        expect(await store.listAccountIds('acct_warmup_', T0 + 1)).toEqual([
          'acct_warmup_A',
          'acct_warmup_B',
        ]);
        expect(await store.listAccountIds('acct_none_', T0 + 1)).toEqual([]);
      });

      it('purges an account and every record of it, and nothing of another account', async () => {
        // Each account: a key, an audit entry, a webhook, three events (one with an idempotency
        // key) whose deliveries end succeeded, failed (a notice) and pending.
        const made = new Map<string, { key: ApiKeyRow; hook: WebhookRow; events: string[] }>();
        for (const acct of [acctA, acctB]) {
          const key = apiKey(acct, { keyHash: `${acct}-hash`.padEnd(64, '0') });
          await store.createApiKey(key);
          await store.appendAudit({
            id: newId('aud'),
            accountId: acct,
            action: 'webhook.created',
            actorKeyId: key.id,
            targetId: null,
            changes: {},
            createdAt: T0,
          });
          const hook = await addWebhook(acct);
          const inserted = await store.insertEvents(
            acct,
            [newEvent(), newEvent(), newEvent('agent.created', { idempotencyKey: 'k1' })],
            T0,
          );
          const events = inserted.map((r) => ('event' in r ? r.event.id : ''));
          expect(events.every(Boolean)).toBe(true);
          const claimed = await store.claimDue(claimOpts({ limit: 2, webhooks: [hook.id] }));
          expect(claimed).toHaveLength(2);
          await store.completeAttempts([outcome(claimed[0]!, { owner: 'w1' })]);
          await store.completeAttempts([
            outcome(
              claimed[1]!,
              { owner: 'w1', status: 'failed', now: T0 + MIN },
              { startedAt: T0 + MIN, statusCode: 500, succeeded: false },
            ),
          ]);
          made.set(acct, { key, hook, events });
        }
        expect(await store.listWebhookNotices(10)).toHaveLength(2);

        await store.purgeAccount(acctA);

        const a = made.get(acctA)!;
        expect(await store.getAccount(acctA)).toBeUndefined();
        expect(await store.findApiKeyByHash(a.key.keyHash)).toBeUndefined();
        expect(await store.getWebhook(acctA, a.hook.id)).toBeUndefined();
        for (const id of a.events) expect(await store.getEvent(acctA, id)).toBeUndefined();
        expect((await store.listDeliveries(acctA, {}, { limit: 10 })).data).toEqual([]);
        expect((await store.listAudit(acctA, {}, { limit: 10 })).data).toEqual([]);
        expect((await store.listWebhookNotices(10)).map((n) => n.accountId)).toEqual([acctB]);

        // B's records, each still there.
        const b = made.get(acctB)!;
        expect(await store.findApiKeyByHash(b.key.keyHash)).toMatchObject({ id: b.key.id });
        expect(await store.getWebhook(acctB, b.hook.id)).toMatchObject({ id: b.hook.id });
        const bDeliveries = (await store.listDeliveries(acctB, {}, { limit: 10 })).data;
        expect(bDeliveries.map((d) => d.status).sort()).toEqual(['failed', 'pending', 'succeeded']);
        const done = bDeliveries.find((d) => d.status === 'succeeded')!;
        expect((await store.getDelivery(acctB, done.id))?.attempts).toHaveLength(1);
        expect((await store.listAudit(acctB, {}, { limit: 10 })).data).toHaveLength(1);
        expect(await store.countPending()).toBe(1);

        // The idempotency key went with the account: the same id again starts from nothing.
        await store.createAccount({ id: acctA, name: 'A again', createdAt: T0 + HOUR });
        const [again] = await store.insertEvents(
          acctA,
          [newEvent('agent.created', { idempotencyKey: 'k1' })],
          T0 + HOUR,
        );
        expect(again?.status).toBe('created');
        const [replayed] = await store.insertEvents(
          acctB,
          [newEvent('agent.created', { idempotencyKey: 'k1' })],
          T0 + HOUR,
        );
        expect(replayed?.status).toBe('replayed');
      });
    });

    describe('the audit log', () => {
      function entry(accountId: string, over: Partial<AuditEntryRow> = {}): AuditEntryRow {
        const createdAt = over.createdAt ?? T0;
        return {
          id: newId('aud', createdAt),
          accountId,
          action: 'webhook.updated',
          actorKeyId: 'key_1',
          targetId: 'wh_1',
          changes: { name: { from: 'a', to: 'b' }, events: ['agent.*'] },
          createdAt,
          ...over,
        };
      }

      it('keeps entries as written and lists them newest first, in pages, per account', async () => {
        const written: AuditEntryRow[] = [];
        for (let i = 0; i < 4; i++) {
          const e = entry(acctA, { createdAt: T0 + i * MIN });
          await store.appendAudit(e);
          written.push(e);
        }
        await store.appendAudit(entry(acctB, { actorKeyId: null, targetId: null, changes: {} }));
        const first = await store.listAudit(acctA, {}, { limit: 3 });
        expect(first.data).toEqual([written[3], written[2], written[1]]);
        const second = await store.listAudit(acctA, {}, { limit: 3, cursor: first.nextCursor! });
        expect(second).toEqual({ data: [written[0]], nextCursor: null });
        const b = await store.listAudit(acctB, {}, { limit: 10 });
        expect(b.data).toHaveLength(1);
        expect(b.data[0]).toMatchObject({ actorKeyId: null, targetId: null, changes: {} });
      });

      it('filters by action, target and time (both ends inclusive)', async () => {
        const a = entry(acctA, { action: 'webhook.created', targetId: 'wh_a', createdAt: T0 });
        const b = entry(acctA, {
          action: 'webhook.deleted',
          targetId: 'wh_a',
          createdAt: T0 + MIN,
        });
        const c = entry(acctA, {
          action: 'webhook.created',
          targetId: 'wh_c',
          createdAt: T0 + HOUR,
        });
        for (const e of [a, b, c]) await store.appendAudit(e);
        const ids = async (filter: AuditFilter) =>
          (await store.listAudit(acctA, filter, { limit: 10 })).data.map((e) => e.id);
        expect(await ids({ action: 'webhook.created' })).toEqual([c.id, a.id]);
        expect(await ids({ targetId: 'wh_a' })).toEqual([b.id, a.id]);
        expect(await ids({ since: T0 + MIN, until: T0 + HOUR })).toEqual([c.id, b.id]);
        expect(await ids({ since: T0, until: T0 + MIN - 1 })).toEqual([a.id]);
        expect(await ids({ action: 'webhook.created', targetId: 'wh_a', until: T0 })).toEqual([
          a.id,
        ]);
        expect(await ids({ action: 'api_key.revoked' })).toEqual([]);
      });
    });

    describe("the account's listen secret", () => {
      it('is null until set; the first of two concurrent sets wins', async () => {
        expect(await store.getListenSecret(acctA)).toBeNull();
        const answers = await Promise.all([
          store.setListenSecretIfAbsent(acctA, 'enc-one'),
          store.setListenSecretIfAbsent(acctA, 'enc-two'),
        ]);
        expect(answers[0]).toBe(answers[1]);
        expect(['enc-one', 'enc-two']).toContain(answers[0]);
        expect(await store.getListenSecret(acctA)).toBe(answers[0]);
        // Set once, a later set keeps it.
        expect(await store.setListenSecretIfAbsent(acctA, 'enc-three')).toBe(answers[0]);
      });

      it('rotate replaces it; another account never sees it', async () => {
        await store.setListenSecretIfAbsent(acctA, 'enc-one');
        expect(await store.rotateListenSecret(acctA, 'enc-rotated')).toBe(true);
        expect(await store.getListenSecret(acctA)).toBe('enc-rotated');
        expect(await store.setListenSecretIfAbsent(acctA, 'enc-other')).toBe('enc-rotated');
        expect(await store.getListenSecret(acctB)).toBeNull();
        expect(await store.setListenSecretIfAbsent(acctB, 'enc-b')).toBe('enc-b');
        expect(await store.getListenSecret(acctA)).toBe('enc-rotated');
        expect(await store.rotateListenSecret(newId('acct'), 'enc-x')).toBe(false);
        expect(await store.getListenSecret(newId('acct'))).toBeNull();
        await expect(store.setListenSecretIfAbsent(newId('acct'), 'enc-x')).rejects.toThrow();
      });
    });

    describe('listen sessions', () => {
      const STALE = BUILT_IN.listenStaleMs;

      function session(accountId: string, over: Partial<OpenListenSession> = {}) {
        return {
          id: newId('lsn'),
          accountId,
          name: 'dev',
          forwardTo: 'http://localhost:3000/webhooks',
          events: ['*'],
          secretEnc: 'enc-listen',
          connection: 'conn-1',
          now: T0,
          ...over,
        };
      }

      it('open creates a session; opening its name again takes it over, same id', async () => {
        const s = session(acctA);
        expect(await store.openListenSession(s)).toEqual({
          id: s.id,
          accountId: acctA,
          name: 'dev',
          forwardTo: s.forwardTo,
          events: ['*'],
          connected: true,
          connectedAt: T0,
          seenAt: T0,
          createdAt: T0,
          lastDeliveryAt: null,
          lastDeliveryStatus: null,
        });
        const again = await store.openListenSession(
          session(acctA, {
            forwardTo: 'http://localhost:4000/hook',
            events: ['agent.*'],
            secretEnc: 'enc-listen-2',
            connection: 'conn-2',
            now: T0 + MIN,
          }),
        );
        expect(again).toEqual({
          id: s.id,
          accountId: acctA,
          name: 'dev',
          forwardTo: 'http://localhost:4000/hook',
          events: ['agent.*'],
          connected: true,
          connectedAt: T0 + MIN,
          seenAt: T0 + MIN,
          createdAt: T0,
          lastDeliveryAt: null,
          lastDeliveryStatus: null,
        });
        // Its deliveries go to the new forwardTo, signed with the new secret.
        const e = await publish(acctA, 'agent.created', T0 + MIN);
        const [c] = await store.claimDue(
          claimOpts({ now: T0 + MIN, owner: 'conn-2', webhooks: [s.id] }),
        );
        expect(c).toMatchObject({
          eventId: e.id,
          webhook: { id: s.id, url: 'http://localhost:4000/hook', secretEnc: 'enc-listen-2' },
        });
        // Another name, or the same name in another account, is another session.
        const other = await store.openListenSession(session(acctA, { name: 'other' }));
        const inB = await store.openListenSession(session(acctB));
        expect(new Set([s.id, other.id, inB.id]).size).toBe(3);
        const listed = await store.listListenSessions(acctA, T0 + MIN);
        expect(listed.map((l) => l.id)).toEqual([other.id, s.id]);
      });

      it('concurrent opens of one name end with one session', async () => {
        const opened = await Promise.all(
          Array.from({ length: 6 }, (_, i) =>
            store.openListenSession(session(acctA, { connection: `conn-${i}` })),
          ),
        );
        expect(new Set(opened.map((o) => o.id)).size).toBe(1);
        const [only, ...rest] = await store.listListenSessions(acctA, T0);
        expect(rest).toEqual([]);
        expect(only!.id).toBe(opened[0]!.id);
        // Exactly one of the connections holds it: the last open.
        const holds = await Promise.all(
          opened.map((_, i) => store.touchListenSession(only!.id, `conn-${i}`, T0 + 1)),
        );
        expect(holds.filter(Boolean)).toHaveLength(1);
      });

      it('touch and close act only for the holder; connected follows the last sighting', async () => {
        const s = await store.openListenSession(session(acctA, { connection: 'c1' }));
        expect(await store.touchListenSession(s.id, 'c1', T0 + 10_000)).toBe(true);
        const seen = T0 + 10_000;
        expect((await store.listListenSessions(acctA, seen))[0]).toMatchObject({
          connected: true,
          connectedAt: T0,
          seenAt: seen,
        });
        // Not seen for listenStaleMs: its process is gone.
        expect((await store.listListenSessions(acctA, seen + STALE - 1))[0]?.connected).toBe(true);
        expect((await store.listListenSessions(acctA, seen + STALE))[0]?.connected).toBe(false);

        // Another connection takes it over: the first one's touch and close change nothing.
        await store.openListenSession(session(acctA, { connection: 'c2', now: T0 + 20_000 }));
        expect(await store.touchListenSession(s.id, 'c1', T0 + 21_000)).toBe(false);
        await store.closeListenSession(s.id, 'c1', T0 + 22_000);
        expect((await store.listListenSessions(acctA, T0 + 22_000))[0]).toMatchObject({
          connected: true,
          connectedAt: T0 + 20_000,
          seenAt: T0 + 20_000,
        });
        expect(await store.touchListenSession(s.id, 'c2', T0 + 23_000)).toBe(true);
        // The holder closes: no holder, seen at the close.
        await store.closeListenSession(s.id, 'c2', T0 + 24_000);
        expect((await store.listListenSessions(acctA, T0 + 24_000))[0]).toMatchObject({
          connected: false,
          connectedAt: T0 + 20_000,
          seenAt: T0 + 24_000,
        });
        expect(await store.touchListenSession(s.id, 'c2', T0 + 25_000)).toBe(false);
        expect(await store.touchListenSession(newId('lsn'), 'c2', T0 + 25_000)).toBe(false);
      });

      it('is no webhook: the webhooks methods, the quota and the test action never see it', async () => {
        const w = await addWebhook(acctA, { name: 'dev' });
        const s = await store.openListenSession(session(acctA));
        expect((await store.listWebhooks(acctA, { limit: 50 })).data.map((x) => x.id)).toEqual([
          w.id,
        ]);
        expect(await store.getWebhook(acctA, s.id)).toBeUndefined();
        expect(await store.updateWebhook(acctA, s.id, { name: 'x', active: false }, T0)).toBe(
          undefined,
        );
        expect(
          await store.rotateSecret(
            acctA,
            s.id,
            { secretEnc: 'x', previousSecretEnc: null, previousSecretExpiresAt: null },
            T0,
          ),
        ).toBeUndefined();
        expect(await store.deleteWebhook(acctA, s.id, T0)).toBe(false);
        await expect(
          store.insertTestDelivery(
            acctA,
            s.id,
            newEvent('webhook.test'),
            { id: newId('dlv'), owner: 'api', leaseMs: 30_000 },
            T0,
          ),
        ).rejects.toThrow();
        // One webhook and one session: room for one more webhook under a quota of two.
        expect(await store.createWebhook(webhook(acctA), 2)).toBe(true);
        expect(await store.createWebhook(webhook(acctA), 2)).toBe(false);
        // And the sessions' methods never see webhooks, or another account's sessions.
        expect((await store.listListenSessions(acctA, T0)).map((l) => l.id)).toEqual([s.id]);
        expect(await store.listListenSessions(acctB, T0)).toEqual([]);
        expect(await store.deleteListenSession(acctA, w.id, T0)).toBe(false);
        expect(await store.deleteListenSession(acctB, s.id, T0)).toBe(false);
        expect(await store.getWebhook(acctA, w.id)).toBeDefined();
        expect((await store.listListenSessions(acctA, T0))[0]).toMatchObject({
          id: s.id,
          name: 'dev',
          connected: true,
        });
      });

      it('gets the deliveries of the events it matches, claimed only by naming it', async () => {
        const w = await addWebhook(acctA, { events: ['*'] });
        const s = await store.openListenSession(session(acctA, { events: ['agent.*'] }));
        const e = await publish(acctA, 'agent.created');
        expect(e.deliveries).toBe(2);
        expect((await publish(acctA, 'usage.limit')).deliveries).toBe(1);
        const mine = await store.listDeliveries(acctA, { webhookId: s.id }, { limit: 50 });
        expect(mine.data.map((d) => [d.eventId, d.status])).toEqual([[e.id, 'pending']]);
        // A worker's claim takes the webhook's deliveries, never the session's.
        const claimed = await store.claimDue(claimOpts());
        expect(claimed.map((c) => c.webhook?.id)).toEqual([w.id, w.id]);
        expect(await store.claimDue(claimOpts({ owner: 'w2' }))).toEqual([]);
        // Its connection's claim names it, and completes it as any delivery.
        const [c, ...none] = await store.claimDue(claimOpts({ owner: 'conn', webhooks: [s.id] }));
        expect(none).toEqual([]);
        expect(c).toMatchObject({
          eventId: e.id,
          webhook: { id: s.id, url: s.forwardTo, secretEnc: 'enc-listen', active: true },
        });
        await store.completeAttempts([outcome(c!, { owner: 'conn' })]);
        expect((await store.getDelivery(acctA, c!.id))?.status).toBe('succeeded');
        expect((await store.listListenSessions(acctA, T0))[0]).toMatchObject({
          lastDeliveryAt: T0,
          lastDeliveryStatus: 'succeeded',
        });
      });

      it('claims and nextDueAt leave its waiting deliveries to it, however many and old', async () => {
        const s = await store.openListenSession(session(acctA, { events: ['usage.limit'] }));
        const w = await addWebhook(acctA, { events: ['agent.created'] });
        // More than a claim scans before walking webhook by webhook, all older than the rest.
        await store.insertEvents(
          acctA,
          Array.from({ length: 1100 }, (_, i) =>
            newEvent('usage.limit', { timestamp: T0 - 10_000 + i }),
          ),
          T0 - 10_000,
        );
        expect(await store.nextDueAt(T0)).toBeNull();
        expect(await store.claimDue(claimOpts())).toEqual([]);
        const e = await publish(acctA, 'agent.created', T0 + 5);
        expect(await store.nextDueAt(T0)).toBe(T0 + 5);
        expect(await store.nextDueAt(T0, T0 + 5)).toBeNull();
        const claimed = await store.claimDue(claimOpts({ now: T0 + 5, limit: 10 }));
        expect(claimed.map((c) => [c.eventId, c.webhook?.id])).toEqual([[e.id, w.id]]);
        // The session's own claim: its oldest first, within the cap.
        const mine = await store.claimDue(
          claimOpts({ now: T0 + 5, owner: 'conn', webhooks: [s.id], webhookLeases: 3 }),
        );
        expect(mine.map((c) => c.webhook?.id)).toEqual([s.id, s.id, s.id]);
        expect(mine.map((c) => c.eventTimestamp)).toEqual([T0 - 10_000, T0 - 9_999, T0 - 9_998]);
        expect(await store.countPending()).toBe(1101);
      });

      it('a claim walking past a capped backlog steps over sessions', async () => {
        const s = await store.openListenSession(session(acctA, { events: ['usage.limit'] }));
        const slow = await addWebhook(acctA, { events: ['usage.limit'] });
        const fast = await addWebhook(acctA, { events: ['agent.created'] });
        await store.insertEvents(
          acctA,
          Array.from({ length: 1100 }, (_, i) =>
            newEvent('usage.limit', { timestamp: T0 - 10_000 + i }),
          ),
          T0 - 10_000,
        );
        const e = await publish(acctA, 'agent.created', T0);
        const first = await store.claimDue(claimOpts({ webhookLeases: 2, limit: 10 }));
        const second = await store.claimDue(claimOpts({ webhookLeases: 2, limit: 10 }));
        const all = [...first, ...second];
        expect(all.filter((c) => c.webhook?.id === s.id)).toEqual([]);
        expect(all.filter((c) => c.webhook?.id === slow.id)).toHaveLength(2);
        expect(all.filter((c) => c.webhook?.id === fast.id).map((c) => c.eventId)).toEqual([e.id]);
        expect(await store.claimDue(claimOpts({ owner: 'w2', limit: 10 }))).toEqual([]);
      });

      it("rotating the account's listen secret re-keys its sessions, not another account's", async () => {
        await store.setListenSecretIfAbsent(acctA, 'enc-listen');
        const s = await store.openListenSession(session(acctA));
        const sB = await store.openListenSession(session(acctB, { secretEnc: 'enc-b' }));
        const w = await addWebhook(acctA);
        expect(await store.rotateListenSecret(acctA, 'enc-rotated')).toBe(true);
        await publish(acctA);
        await publish(acctB);
        const claimed = await store.claimDue(
          claimOpts({ owner: 'conn', webhooks: [s.id, sB.id, w.id] }),
        );
        const secrets = Object.fromEntries(
          claimed.map((c) => [c.webhook!.id, c.webhook!.secretEnc]),
        );
        expect(secrets).toEqual({ [s.id]: 'enc-rotated', [sB.id]: 'enc-b', [w.id]: 'enc-secret' });
      });

      it('delete fails its pending deliveries, keeps their log and frees the name', async () => {
        const s = await store.openListenSession(session(acctA));
        const e = await publish(acctA);
        expect(await store.deleteListenSession(acctB, s.id, T0 + 10)).toBe(false);
        expect(await store.deleteListenSession(acctA, s.id, T0 + 10)).toBe(true);
        expect(await store.deleteListenSession(acctA, s.id, T0 + 10)).toBe(false);
        expect(await store.listListenSessions(acctA, T0 + 10)).toEqual([]);
        const detail = await store.getEvent(acctA, e.id);
        expect(await store.getDelivery(acctA, detail!.deliveryIds[0]!)).toMatchObject({
          status: 'failed',
          nextAttemptAt: null,
          lastError: 'endpoint_disabled',
          webhookId: s.id,
        });
        expect(await store.touchListenSession(s.id, 'conn-1', T0 + 11)).toBe(false);
        expect(await store.claimDue(claimOpts({ now: T0 + 20, webhooks: [s.id] }))).toEqual([]);
        expect(await store.countPending()).toBe(0);
        // Opened again, the name is a new session, and gets nothing of the old one's.
        const again = await store.openListenSession(session(acctA, { now: T0 + 30 }));
        expect(again.id).not.toBe(s.id);
        expect(await store.claimDue(claimOpts({ now: T0 + 30, webhooks: [again.id] }))).toEqual([]);
      });

      it('expire deletes the sessions of every account not seen since a time', async () => {
        // Its process died holding it (never closed), closed long ago, and alive.
        const dead = await store.openListenSession(session(acctA, { name: 'dead' }));
        const closed = await store.openListenSession(session(acctB, { name: 'closed' }));
        await store.closeListenSession(closed.id, 'conn-1', T0 + 1_000);
        const live = await store.openListenSession(session(acctA, { name: 'live' }));
        expect(await store.touchListenSession(live.id, 'conn-1', T0 + 5_000)).toBe(true);
        const w = await addWebhook(acctA);
        const eA = await publish(acctA);
        const eB = await publish(acctB);
        expect(await store.expireListenSessions(T0 + 2_000, T0 + 6_000)).toBe(2);
        expect((await store.listListenSessions(acctA, T0 + 6_000)).map((l) => l.id)).toEqual([
          live.id,
        ]);
        expect(await store.listListenSessions(acctB, T0 + 6_000)).toEqual([]);
        const status = async (accountId: string, eventId: string) =>
          Object.fromEntries(
            (await store.listDeliveries(accountId, { eventId }, { limit: 50 })).data.map((d) => [
              d.webhookId,
              [d.status, d.lastError],
            ]),
          );
        expect(await status(acctA, eA.id)).toEqual({
          [dead.id]: ['failed', 'endpoint_disabled'],
          [live.id]: ['pending', null],
          [w.id]: ['pending', null],
        });
        expect(await status(acctB, eB.id)).toEqual({
          [closed.id]: ['failed', 'endpoint_disabled'],
        });
        expect(await store.getWebhook(acctA, w.id)).toBeDefined();
        expect(await store.expireListenSessions(T0 + 2_000, T0 + 6_000)).toBe(0);
      });
    });

    describe('webhooks', () => {
      it('round-trips every field', async () => {
        const w = await addWebhook(acctA, {
          events: ['agent.*', 'usage.limit'],
          description: 'd',
          headersEnc: 'enc-headers',
          headerNames: ['X-Team'],
          metadata: { team: 'core' },
          previousSecretEnc: 'enc-old',
          previousSecretExpiresAt: T0 + HOUR,
        });
        expect(await store.getWebhook(acctA, w.id)).toEqual(w);
      });

      it("hides another account's webhooks from every method", async () => {
        const w = await addWebhook(acctA);
        expect(await store.getWebhook(acctB, w.id)).toBeUndefined();
        expect((await store.listWebhooks(acctB, { limit: 50 })).data).toEqual([]);
        expect(await store.updateWebhook(acctB, w.id, { name: 'x' }, T0)).toBeUndefined();
        expect(
          await store.rotateSecret(
            acctB,
            w.id,
            { secretEnc: 'x', previousSecretEnc: null, previousSecretExpiresAt: null },
            T0,
          ),
        ).toBeUndefined();
        expect(await store.deleteWebhook(acctB, w.id, T0)).toBe(false);
        expect((await store.getWebhook(acctA, w.id))?.name).toBe('hook');
      });

      it('lists newest first with a cursor', async () => {
        const ids: string[] = [];
        for (let i = 0; i < 5; i++) ids.push((await addWebhook(acctA, { name: `h${i}` })).id);
        await addWebhook(acctB);
        const p1 = await store.listWebhooks(acctA, { limit: 2 });
        expect(p1.data.map((w) => w.id)).toEqual([ids[4], ids[3]]);
        expect(p1.nextCursor).toBe(ids[3]);
        const p2 = await store.listWebhooks(acctA, { limit: 2, cursor: p1.nextCursor! });
        expect(p2.data.map((w) => w.id)).toEqual([ids[2], ids[1]]);
        const p3 = await store.listWebhooks(acctA, { limit: 2, cursor: p2.nextCursor! });
        expect(p3.data.map((w) => w.id)).toEqual([ids[0]]);
        expect(p3.nextCursor).toBeNull();
      });

      it('updates only the given fields and stamps updatedAt', async () => {
        const w = await addWebhook(acctA, { description: 'keep' });
        const u = await store.updateWebhook(
          acctA,
          w.id,
          {
            url: 'https://example.test/new',
            events: ['agent.deployed'],
            active: false,
            disabledReason: 'manual',
            metadata: { a: 'b' },
            headersEnc: 'h2',
            headerNames: ['X-A'],
          },
          T0 + 5,
        );
        expect(u).toMatchObject({
          url: 'https://example.test/new',
          events: ['agent.deployed'],
          active: false,
          disabledReason: 'manual',
          description: 'keep',
          metadata: { a: 'b' },
          headersEnc: 'h2',
          headerNames: ['X-A'],
          updatedAt: T0 + 5,
          createdAt: T0,
        });
        const cleared = await store.updateWebhook(
          acctA,
          w.id,
          { description: null, headersEnc: null, headerNames: [], disabledReason: null },
          T0 + 6,
        );
        expect(cleared).toMatchObject({ description: null, headersEnc: null, headerNames: [] });
        expect(cleared?.disabledReason).toBeNull();
      });

      it('rotates the secret keeping the previous one with its expiry', async () => {
        const w = await addWebhook(acctA);
        const r = await store.rotateSecret(
          acctA,
          w.id,
          { secretEnc: 'new', previousSecretEnc: 'enc-secret', previousSecretExpiresAt: T0 + HOUR },
          T0 + 1,
        );
        expect(r).toMatchObject({
          secretEnc: 'new',
          previousSecretEnc: 'enc-secret',
          previousSecretExpiresAt: T0 + HOUR,
          updatedAt: T0 + 1,
        });
      });

      it('delete fails pending deliveries and keeps their log', async () => {
        const w = await addWebhook(acctA);
        const e = await publish(acctA);
        expect(await store.deleteWebhook(acctA, w.id, T0 + 10)).toBe(true);
        expect(await store.getWebhook(acctA, w.id)).toBeUndefined();
        expect(await store.deleteWebhook(acctA, w.id, T0 + 10)).toBe(false);
        const detail = await store.getEvent(acctA, e.id);
        const d = await store.getDelivery(acctA, detail!.deliveryIds[0]!);
        expect(d).toMatchObject({ status: 'failed', nextAttemptAt: null, webhookId: w.id });
        expect(await store.claimDue(claimOpts({ now: T0 + 20 }))).toEqual([]);
        expect(await store.countPending()).toBe(0);
      });
    });

    describe('events and fan-out', () => {
      it('fans out to active matching webhooks only, incl. wildcards', async () => {
        const all = await addWebhook(acctA, { events: ['*'] });
        const agent = await addWebhook(acctA, { events: ['agent.*'] });
        const exact = await addWebhook(acctA, { events: ['agent.deployed'] });
        await addWebhook(acctA, { events: ['conversation.*'] });
        await addWebhook(acctA, { events: ['*'], active: false, disabledReason: 'manual' });
        await addWebhook(acctB, { events: ['*'] });
        const e = await publish(acctA, 'agent.deployed');
        expect(e.deliveries).toBe(3);
        const detail = await store.getEvent(acctA, e.id);
        expect(detail?.deliveryIds).toHaveLength(3);
        const page = await store.listDeliveries(acctA, { eventId: e.id }, { limit: 50 });
        expect(page.data.map((d) => d.webhookId).sort()).toEqual(
          [all.id, agent.id, exact.id].sort(),
        );
        for (const d of page.data) {
          expect(d).toMatchObject({
            status: 'pending',
            attemptCount: 0,
            nextAttemptAt: T0,
            event: 'agent.deployed',
            eventId: e.id,
            lastStatusCode: null,
            lastError: null,
            inFlight: false,
          });
        }
        expect((await store.listDeliveries(acctB, {}, { limit: 50 })).data).toEqual([]);
      });

      it('stores the body byte for byte and an event without matches', async () => {
        const ev = newEvent('error.resolved', { body: '{"a":"é ✓","b":[1,2]}' });
        const [r] = await store.insertEvents(acctA, [ev], T0);
        expect(r).toMatchObject({ status: 'created', event: { deliveries: 0, body: ev.body } });
        const got = await store.getEvent(acctA, ev.id);
        expect(got).toEqual({
          id: ev.id,
          accountId: acctA,
          event: 'error.resolved',
          timestamp: T0,
          body: ev.body,
          deliveries: 0,
          deliveryIds: [],
        });
        expect(await store.getEvent(acctB, ev.id)).toBeUndefined();
      });

      it('inserts a batch in order', async () => {
        await addWebhook(acctA);
        const evs = [newEvent('agent.created'), newEvent('usage.limit'), newEvent('agent.deleted')];
        const res = await store.insertEvents(acctA, evs, T0);
        expect(res.map((r) => r.status)).toEqual(['created', 'created', 'created']);
        expect(res.map((r) => (r.status === 'created' ? r.event.id : ''))).toEqual(
          evs.map((e) => e.id),
        );
        expect(await store.countPending()).toBe(3);
      });

      it('replays an idempotency key with the same request and refuses another', async () => {
        await addWebhook(acctA);
        const first = newEvent('agent.created', { idempotencyKey: 'k1', requestHash: 'h1' });
        const [a] = await store.insertEvents(acctA, [first], T0);
        expect(a?.status).toBe('created');
        const again = newEvent('agent.created', { idempotencyKey: 'k1', requestHash: 'h1' });
        const [b] = await store.insertEvents(acctA, [again], T0 + MIN);
        expect(b).toMatchObject({ status: 'replayed', event: { id: first.id, deliveries: 1 } });
        const other = newEvent('agent.created', { idempotencyKey: 'k1', requestHash: 'h2' });
        expect(await store.insertEvents(acctA, [other], T0 + MIN)).toEqual([
          { status: 'key_reused', index: 0 },
        ]);
        // Keys are per account.
        const [c] = await store.insertEvents(
          acctB,
          [newEvent('agent.created', { idempotencyKey: 'k1', requestHash: 'h2' })],
          T0 + MIN,
        );
        expect(c?.status).toBe('created');
        expect(await store.getEvent(acctA, again.id)).toBeUndefined();
        expect(await store.countPending()).toBe(1);
      });

      it('a key conflict in a batch stores nothing and names the index', async () => {
        await addWebhook(acctA);
        await store.insertEvents(
          acctA,
          [newEvent('agent.created', { idempotencyKey: 'k', requestHash: 'h' })],
          T0,
        );
        const batch = [
          newEvent('agent.created'),
          newEvent('agent.created', { idempotencyKey: 'k2', requestHash: 'x' }),
          newEvent('agent.created', { idempotencyKey: 'k', requestHash: 'other' }),
        ];
        expect(await store.insertEvents(acctA, batch, T0 + 1)).toEqual([
          { status: 'key_reused', index: 2 },
        ]);
        for (const e of batch) expect(await store.getEvent(acctA, e.id)).toBeUndefined();
        // k2 was not kept either: it creates now.
        const [r] = await store.insertEvents(
          acctA,
          [newEvent('agent.created', { idempotencyKey: 'k2', requestHash: 'y' })],
          T0 + 2,
        );
        expect(r?.status).toBe('created');
      });

      it('concurrent inserts settle independently: a conflict in one leaves the others whole', async () => {
        await addWebhook(acctA);
        await store.insertEvents(
          acctA,
          [newEvent('agent.created', { idempotencyKey: 'k', requestHash: 'h' })],
          T0,
        );
        const a = newEvent('agent.created');
        const conflicting = newEvent('agent.created', {
          idempotencyKey: 'k',
          requestHash: 'other',
        });
        const b = newEvent('agent.updated', { idempotencyKey: 'k3', requestHash: 'h3' });
        // Started together, as concurrent requests are (SQLite commits them as one group).
        const [ra, rc, rb] = await Promise.all([
          store.insertEvents(acctA, [a], T0 + 1),
          store.insertEvents(acctA, [conflicting], T0 + 1),
          store.insertEvents(acctA, [b], T0 + 1),
        ]);
        expect(ra?.[0]?.status).toBe('created');
        expect(rc).toEqual([{ status: 'key_reused', index: 0 }]);
        expect(rb?.[0]?.status).toBe('created');
        expect((await store.getEvent(acctA, a.id))?.deliveryIds).toHaveLength(1);
        expect((await store.getEvent(acctA, b.id))?.deliveryIds).toHaveLength(1);
        expect(await store.getEvent(acctA, conflicting.id)).toBeUndefined();
      });

      it('forgets keys after 24 h and purges old keys', async () => {
        await store.insertEvents(
          acctA,
          [newEvent('agent.created', { idempotencyKey: 'k', requestHash: 'h' })],
          T0,
        );
        const later = T0 + IDEMPOTENCY_KEY_TTL_MS + 1;
        const [r] = await store.insertEvents(
          acctA,
          [newEvent('agent.created', { idempotencyKey: 'k', requestHash: 'other' })],
          later,
        );
        expect(r?.status).toBe('created');
        await store.insertEvents(
          acctA,
          [newEvent('agent.created', { idempotencyKey: 'old', requestHash: 'h' })],
          T0,
        );
        expect(await store.purgeIdempotencyKeys(T0 + 1)).toBe(1);
      });

      it('lists events newest first with filters and a cursor', async () => {
        const ids: string[] = [];
        for (let i = 0; i < 4; i++) {
          ids.push((await publish(acctA, i % 2 ? 'usage.limit' : 'agent.created', T0 + i)).id);
        }
        await publish(acctB, 'agent.created', T0);
        const all = await store.listEvents(acctA, {}, { limit: 3 });
        expect(all.data.map((e) => e.id)).toEqual([ids[3], ids[2], ids[1]]);
        const rest = await store.listEvents(acctA, {}, { limit: 3, cursor: all.nextCursor! });
        expect(rest.data.map((e) => e.id)).toEqual([ids[0]]);
        expect(rest.nextCursor).toBeNull();
        const usage = await store.listEvents(acctA, { event: 'usage.limit' }, { limit: 50 });
        expect(usage.data.map((e) => e.id)).toEqual([ids[3], ids[1]]);
        const range = await store.listEvents(
          acctA,
          { since: T0 + 1, until: T0 + 2 },
          { limit: 50 },
        );
        expect(range.data.map((e) => e.id)).toEqual([ids[2], ids[1]]);
      });
    });

    describe('delivery log', () => {
      it('finds by time window the deliveries made while the clock went back', async () => {
        // Ids are ULIDs made at their created_at or later, and the stores read a time window as a
        // range of ids too: a delivery created at an earlier time than the one before it (its id
        // keeps the later time) must still be in every window that holds its created_at.
        const w = await addWebhook(acctA);
        const later = await publish(acctA, 'agent.created', T0 + 2 * HOUR);
        const earlier = await publish(acctA, 'agent.created', T0);
        const events = async (filter: { since?: number; until?: number }) =>
          (await store.listDeliveries(acctA, { webhookId: w.id, ...filter }, { limit: 50 })).data
            .map((d) => d.eventId)
            .sort();
        expect(await events({ since: T0 })).toEqual([earlier.id, later.id].sort());
        expect(await events({ since: T0, until: T0 + HOUR })).toEqual([earlier.id]);
        expect(await events({ since: T0 + 1 })).toEqual([later.id]);
        const stats = await store.webhookStats(acctA, w.id, {
          since: T0,
          until: T0 + 3 * HOUR,
          bucketMs: HOUR,
        });
        expect(stats.buckets.map((b) => b.pending)).toEqual([1, 0, 1]);
        const claimed = await store.claimDue(claimOpts({ now: T0 + 2 * HOUR }));
        expect(claimed).toHaveLength(2);
        await store.completeAttempts(claimed.map((c) => outcome(c, { status: 'failed' })));
        expect(await store.recoverDeliveries(acctA, w.id, T0, T0, T0 + 3 * HOUR)).toBe(1);
      });

      it('filters deliveries and pages newest first', async () => {
        const w1 = await addWebhook(acctA);
        const w2 = await addWebhook(acctA, { events: ['agent.*'] });
        const e1 = await publish(acctA, 'agent.created', T0);
        const e2 = await publish(acctA, 'usage.limit', T0 + HOUR);
        const byHook = await store.listDeliveries(acctA, { webhookId: w1.id }, { limit: 50 });
        expect(byHook.data.map((d) => d.eventId)).toEqual([e2.id, e1.id]);
        const byHook2 = await store.listDeliveries(acctA, { webhookId: w2.id }, { limit: 50 });
        expect(byHook2.data.map((d) => d.eventId)).toEqual([e1.id]);
        const byType = await store.listDeliveries(acctA, { event: 'usage.limit' }, { limit: 50 });
        expect(byType.data).toHaveLength(1);
        const since = await store.listDeliveries(acctA, { since: T0 + 1 }, { limit: 50 });
        expect(since.data.map((d) => d.eventId)).toEqual([e2.id]);
        const until = await store.listDeliveries(acctA, { until: T0 }, { limit: 50 });
        expect(until.data).toHaveLength(2);
        const p1 = await store.listDeliveries(acctA, {}, { limit: 2 });
        expect(p1.nextCursor).not.toBeNull();
        const p2 = await store.listDeliveries(acctA, {}, { limit: 2, cursor: p1.nextCursor! });
        expect(p2.data).toHaveLength(1);
        expect(p2.nextCursor).toBeNull();
        expect(new Set([...p1.data, ...p2.data].map((d) => d.id)).size).toBe(3);
        expect(p1.data[0]!.id > p1.data[1]!.id).toBe(true);
        const pending = await store.listDeliveries(acctA, { status: 'pending' }, { limit: 50 });
        expect(pending.data).toHaveLength(3);
        const failed = await store.listDeliveries(acctA, { status: 'failed' }, { limit: 50 });
        expect(failed.data).toHaveLength(0);
        expect(await store.getDelivery(acctB, p1.data[0]!.id)).toBeUndefined();
      });
    });

    describe('claim and complete', () => {
      it('claims due deliveries oldest first with everything needed to send', async () => {
        const w = await addWebhook(acctA, {
          headersEnc: 'h',
          previousSecretEnc: 'old',
          previousSecretExpiresAt: T0 + HOUR,
        });
        const e1 = await publish(acctA, 'agent.created', T0 - 2000);
        const e2 = await publish(acctA, 'agent.deleted', T0 - 1000);
        await publish(acctA, 'agent.updated', T0 + 1000); // not due yet
        const claimed = await store.claimDue(claimOpts());
        expect(claimed.map((c) => c.eventId)).toEqual([e1.id, e2.id]);
        const body = (await store.getEvent(acctA, e1.id))!.body;
        expect(claimed[0]).toEqual({
          id: expect.stringMatching(/^dlv_/),
          accountId: acctA,
          eventId: e1.id,
          event: 'agent.created',
          eventTimestamp: T0 - 2000,
          body,
          attemptCount: 0,
          trigger: 'scheduled',
          resumeAt: null,
          statusBefore: 'pending',
          webhook: {
            id: w.id,
            url: w.url,
            active: true,
            headersEnc: 'h',
            secretEnc: 'enc-secret',
            previousSecretEnc: 'old',
            previousSecretExpiresAt: T0 + HOUR,
          },
        });
        // Leased: nobody else gets them, and they show as in flight.
        expect(await store.claimDue(claimOpts({ owner: 'w2' }))).toEqual([]);
        const d = await store.getDelivery(acctA, claimed[0]!.id);
        expect(d?.inFlight).toBe(true);
      });

      it('respects the limit', async () => {
        await addWebhook(acctA);
        for (let i = 0; i < 5; i++) await publish(acctA, 'agent.created', T0 - 5 + i);
        expect(await store.claimDue(claimOpts({ limit: 3 }))).toHaveLength(3);
        expect(await store.claimDue(claimOpts({ limit: 3 }))).toHaveLength(2);
        expect(await store.claimDue(claimOpts({ limit: 0 }))).toEqual([]);
      });

      it('leases a webhook to one worker at a time, at most the cap, and others still flow', async () => {
        const slow = await addWebhook(acctA, { events: ['usage.limit'] });
        const fast = await addWebhook(acctA, { events: ['agent.created'] });
        for (let i = 0; i < 20; i++) await publish(acctA, 'usage.limit', T0 - 1000 + i);
        await publish(acctA, 'agent.created', T0);
        const first = await store.claimDue(claimOpts({ webhookLeases: 3 }));
        const count = (cs: ClaimedDelivery[], id: string) =>
          cs.filter((c) => c.webhook?.id === id).length;
        expect(count(first, slow.id)).toBe(3);
        expect(count(first, fast.id)).toBe(1);
        expect(await store.claimDue(claimOpts({ webhookLeases: 3 }))).toEqual([]);
        // Completing one frees one lease, for the worker that holds the others only.
        await store.completeAttempts([outcome(first[0]!)]);
        expect(await store.claimDue(claimOpts({ webhookLeases: 3, owner: 'w2' }))).toEqual([]);
        const third = await store.claimDue(claimOpts({ webhookLeases: 3 }));
        expect(third).toHaveLength(1);
        expect(third[0]!.webhook?.id).toBe(slow.id);
        // Once that worker holds none, the webhook is anybody's.
        await store.completeAttempts([...first.slice(1), ...third].map((c) => outcome(c)));
        const fourth = await store.claimDue(claimOpts({ webhookLeases: 3, owner: 'w2' }));
        expect(count(fourth, slow.id)).toBe(3);
      });

      it('reaches other webhooks behind a large capped backlog', async () => {
        const slow = await addWebhook(acctA, { events: ['usage.limit'] });
        const fast = await addWebhook(acctA, { events: ['agent.created'] });
        await store.insertEvents(
          acctA,
          Array.from({ length: 1500 }, (_, i) =>
            newEvent('usage.limit', { timestamp: T0 - 10_000 + i }),
          ),
          T0 - 10_000,
        );
        const e = await publish(acctA, 'agent.created', T0);
        const first = await store.claimDue(claimOpts({ webhookLeases: 2, limit: 10 }));
        expect(first.filter((c) => c.webhook?.id === slow.id)).toHaveLength(2);
        const second = await store.claimDue(claimOpts({ webhookLeases: 2, limit: 10 }));
        // The first claim got the fast one already or this one does, never more slow ones.
        const fastClaims = [...first, ...second].filter((c) => c.webhook?.id === fast.id);
        expect(fastClaims.map((c) => c.eventId)).toEqual([e.id]);
        expect(second.filter((c) => c.webhook?.id === slow.id)).toHaveLength(0);
      });

      it('claims within the lower lease caps of slowed webhooks', async () => {
        const slow = await addWebhook(acctA, { events: ['usage.limit'] });
        const fast = await addWebhook(acctA, { events: ['agent.created'] });
        for (let i = 0; i < 5; i++) {
          await publish(acctA, 'usage.limit', T0 - 100 + i);
          await publish(acctA, 'agent.created', T0 - 50 + i);
        }
        const fairness = { webhookCaps: { [slow.id]: 1 }, accountRoom: {}, accountShare: 100 };
        const first = await store.claimDue(claimOpts({ webhookLeases: 30, fairness }));
        expect(first.filter((c) => c.webhook?.id === slow.id)).toHaveLength(1);
        expect(first.filter((c) => c.webhook?.id === fast.id)).toHaveLength(5);
        // A refill keeps the cap too, and the full cap comes back with the rule gone.
        expect(
          await store.claimDue(claimOpts({ webhookLeases: 30, fairness, webhooks: [slow.id] })),
        ).toEqual([]);
        expect(
          await store.claimDue(claimOpts({ webhookLeases: 30, webhooks: [slow.id] })),
        ).toHaveLength(4);
      });

      it('claims up to a higher lease cap given to a fast webhook, never from another owner', async () => {
        const fast = await addWebhook(acctA, { events: ['agent.created'] });
        const other = await addWebhook(acctA, { events: ['usage.limit'] });
        for (let i = 0; i < 20; i++) await publish(acctA, 'agent.created', T0 - 100 + i);
        for (let i = 0; i < 5; i++) await publish(acctA, 'usage.limit', T0 - 50 + i);
        const fairness = { webhookCaps: { [fast.id]: 8 }, accountRoom: {}, accountShare: 100 };
        const of = (cs: ClaimedDelivery[], id: string) =>
          cs.filter((c) => c.webhook?.id === id).length;
        const first = await store.claimDue(claimOpts({ webhookLeases: 3, fairness }));
        expect(of(first, fast.id)).toBe(8);
        expect(of(first, other.id)).toBe(3);
        // Held by w1: another owner gets none of it whatever cap it was given.
        for (const webhooks of [undefined, [fast.id]]) {
          expect(
            await store.claimDue(claimOpts({ webhookLeases: 3, fairness, owner: 'w2', webhooks })),
          ).toEqual([]);
        }
        // The refill of its holder tops it up to the higher cap, not beyond.
        await store.completeAttempts(
          first
            .filter((c) => c.webhook?.id === fast.id)
            .map((c) => outcome(c))
            .slice(0, 5),
        );
        const refill = await store.claimDue(
          claimOpts({ webhookLeases: 3, fairness, webhooks: [fast.id] }),
        );
        expect(of(refill, fast.id)).toBe(5);
        expect(refill).toHaveLength(5);
        expect(
          await store.claimDue(claimOpts({ webhookLeases: 3, fairness, webhooks: [fast.id] })),
        ).toEqual([]);
        // Without its cap, the default applies again: 8 live leases are above it, none more.
        expect(await store.claimDue(claimOpts({ webhookLeases: 3, webhooks: [fast.id] }))).toEqual(
          [],
        );
      });

      it("claims no more of an account than its room, and reaches the others' work", async () => {
        const a1 = await addWebhook(acctA, { events: ['usage.limit'] });
        const a2 = await addWebhook(acctA, { events: ['agent.created'] });
        const b = await addWebhook(acctB, { events: ['agent.created'] });
        for (let i = 0; i < 4; i++) {
          await publish(acctA, 'usage.limit', T0 - 100 + i);
          await publish(acctA, 'agent.created', T0 - 90 + i);
        }
        for (let i = 0; i < 3; i++) await publish(acctB, 'agent.created', T0 - 10 + i);
        const fairness = { webhookCaps: {}, accountRoom: { [acctA]: 3 }, accountShare: 100 };
        const claimed = await store.claimDue(claimOpts({ webhookLeases: 30, fairness }));
        const of = (id: string) => claimed.filter((c) => c.webhook?.id === id).length;
        expect(of(a1.id) + of(a2.id)).toBe(3);
        expect(of(b.id)).toBe(3);
        // An account without room gets nothing, by claim or by refill; the share bounds the rest.
        const none = { webhookCaps: {}, accountRoom: { [acctA]: 0 }, accountShare: 100 };
        expect(await store.claimDue(claimOpts({ webhookLeases: 30, fairness: none }))).toEqual([]);
        expect(
          await store.claimDue(
            claimOpts({ webhookLeases: 30, fairness: none, webhooks: [a1.id, a2.id] }),
          ),
        ).toEqual([]);
        const share = { webhookCaps: {}, accountRoom: {}, accountShare: 2 };
        expect(
          await store.claimDue(claimOpts({ webhookLeases: 30, fairness: share })),
        ).toHaveLength(2);
      });

      it("reaches another account's work behind a backlog of an account without room", async () => {
        await addWebhook(acctA, { events: ['usage.limit'] });
        const b = await addWebhook(acctB, { events: ['agent.created'] });
        await store.insertEvents(
          acctA,
          Array.from({ length: 1500 }, (_, i) =>
            newEvent('usage.limit', { timestamp: T0 - 10_000 + i }),
          ),
          T0 - 10_000,
        );
        const e = await publish(acctB, 'agent.created', T0);
        const fairness = { webhookCaps: {}, accountRoom: { [acctA]: 0 }, accountShare: 100 };
        const claimed = await store.claimDue(claimOpts({ webhookLeases: 30, limit: 10, fairness }));
        expect(claimed.map((c) => [c.webhook?.id, c.eventId])).toEqual([[b.id, e.id]]);
      });

      it('claims again after a lease expires, and the dead worker no longer counts', async () => {
        await addWebhook(acctA);
        await publish(acctA);
        const [c] = await store.claimDue(claimOpts({ leaseMs: 1000, webhookLeases: 1 }));
        expect(c).toBeDefined();
        expect(
          await store.claimDue(claimOpts({ now: T0 + 999, owner: 'w2', webhookLeases: 1 })),
        ).toEqual([]);
        const again = await store.claimDue(
          claimOpts({ now: T0 + 1000, owner: 'w2', webhookLeases: 1 }),
        );
        expect(again.map((x) => x.id)).toEqual([c!.id]);
      });

      it("records an owner's outcome only while it still holds the lease", async () => {
        await addWebhook(acctA);
        await publish(acctA);
        const [c] = await store.claimDue(claimOpts({ owner: 'w1', leaseMs: 1000 }));
        const [again] = await store.claimDue(claimOpts({ now: T0 + 1000, owner: 'w2' }));
        expect(again?.id).toBe(c!.id);
        // w1 lost its lease to w2: its late outcome is dropped, w2's lease stands.
        await store.completeAttempts([outcome(c!, { owner: 'w1', status: 'failed' })]);
        let d = await store.getDelivery(acctA, c!.id);
        expect(d?.attempts).toHaveLength(0);
        expect(d?.inFlight).toBe(true);
        await store.completeAttempts([outcome(again!, { owner: 'w2' })]);
        d = await store.getDelivery(acctA, c!.id);
        expect(d?.status).toBe('succeeded');
        expect(d?.attempts).toHaveLength(1);
      });

      it('renews and releases leases of one owner only', async () => {
        await addWebhook(acctA);
        await publish(acctA);
        await publish(acctA);
        const claimed = await store.claimDue(claimOpts({ leaseMs: 1000 }));
        const ids = claimed.map((c) => c.id);
        await store.renewLeases('w1', ids, T0 + 10_000);
        await store.renewLeases('someone-else', ids, T0 + 1);
        expect(await store.claimDue(claimOpts({ now: T0 + 5000, owner: 'w2' }))).toEqual([]);
        await store.releaseLeases('someone-else');
        expect(await store.claimDue(claimOpts({ now: T0 + 5000, owner: 'w2' }))).toEqual([]);
        await store.releaseLeases('w1', [ids[0]!]);
        // w1 still holds the webhook's other lease: the released one is w1's to take again.
        expect(await store.claimDue(claimOpts({ now: T0 + 5000, owner: 'w2' }))).toEqual([]);
        const one = await store.claimDue(claimOpts({ now: T0 + 5000 }));
        expect(one.map((c) => c.id)).toEqual([ids[0]]);
        await store.releaseLeases('w1');
        const two = await store.claimDue(claimOpts({ now: T0 + 5000, owner: 'w3' }));
        expect(two.map((c) => c.id)).toEqual(ids);
        expect((await store.getDelivery(acctA, ids[1]!))?.attemptCount).toBe(0);
      });

      it('completes a batch: attempts, states, webhook last delivery, lease released', async () => {
        const w = await addWebhook(acctA);
        await publish(acctA);
        await publish(acctA);
        const [a, b] = await store.claimDue(claimOpts());
        await store.completeAttempts([
          outcome(a!, {}, { responseBody: 'x'.repeat(4096) }),
          outcome(
            b!,
            { status: 'pending', nextAttemptAt: T0 + 5 * MIN },
            {
              statusCode: 500,
              error: 'response_status',
              succeeded: false,
              startedAt: T0 + 50,
            },
          ),
        ]);
        const da = await store.getDelivery(acctA, a!.id);
        expect(da).toMatchObject({
          status: 'succeeded',
          attemptCount: 1,
          nextAttemptAt: null,
          lastStatusCode: 200,
          lastError: null,
          inFlight: false,
          updatedAt: T0 + 100,
        });
        expect(da!.attempts).toHaveLength(1);
        expect(da!.attempts[0]).toMatchObject({
          number: 1,
          startedAt: T0,
          durationMs: 42,
          statusCode: 200,
          error: null,
          requestHeaders: { 'x-custom': '••••' },
          responseHeaders: { 'content-type': 'text/plain' },
          responseBody: 'x'.repeat(4096),
          trigger: 'scheduled',
          succeeded: true,
          deliveryId: a!.id,
        });
        const db = await store.getDelivery(acctA, b!.id);
        expect(db).toMatchObject({
          status: 'pending',
          attemptCount: 1,
          nextAttemptAt: T0 + 5 * MIN,
          lastStatusCode: 500,
          lastError: 'response_status',
          inFlight: false,
        });
        const hook = await store.getWebhook(acctA, w.id);
        expect(hook).toMatchObject({ lastDeliveryAt: T0 + 50, lastDeliveryStatus: 'failed' });
        // Not due until its retry time.
        expect(await store.claimDue(claimOpts({ now: T0 + 5 * MIN - 1 }))).toEqual([]);
        expect(await store.nextDueAt(T0 + 200)).toBe(T0 + 5 * MIN);
        const [retry] = await store.claimDue(claimOpts({ now: T0 + 5 * MIN }));
        expect(retry).toMatchObject({ id: b!.id, attemptCount: 1, trigger: 'scheduled' });
        await store.completeAttempts([
          outcome(
            retry!,
            { status: 'failed' },
            { statusCode: null, error: 'timeout', succeeded: false },
          ),
        ]);
        const final = await store.getDelivery(acctA, b!.id);
        expect(final).toMatchObject({ status: 'failed', attemptCount: 2, nextAttemptAt: null });
        expect(final!.attempts.map((x) => x.number)).toEqual([1, 2]);
        expect(final!.attempts[1]!.statusCode).toBeNull();
      });

      it('samples the newest webhooks secrets, deleted ones aside', async () => {
        const older = await addWebhook(acctA, { secretEnc: 'enc-1' });
        const newer = await addWebhook(acctB, { secretEnc: 'enc-2' });
        const gone = await addWebhook(acctB, { secretEnc: 'enc-3' });
        await store.deleteWebhook(acctB, gone.id, T0);
        expect(await store.sampleWebhookSecrets(1)).toEqual([
          { id: newer.id, accountId: acctB, secretEnc: 'enc-2' },
        ]);
        expect((await store.sampleWebhookSecrets(10)).map((w) => w.id)).toEqual([
          newer.id,
          older.id,
        ]);
      });

      it('lists every encrypted value by page and replaces each only while unchanged (key rotation)', async () => {
        const a = await addWebhook(acctA, {
          secretEnc: 'enc-a',
          previousSecretEnc: 'enc-a-prev',
          previousSecretExpiresAt: T0 + HOUR,
          headersEnc: 'enc-a-headers',
          headerNames: ['x-a'],
        });
        const b = await addWebhook(acctB, { secretEnc: 'enc-b' });
        const gone = await addWebhook(acctB, { secretEnc: 'enc-gone' });
        await store.deleteWebhook(acctB, gone.id, T0);
        await store.setListenSecretIfAbsent(acctA, 'enc-listen');

        const accounts = await store.listEncryptedValues('accounts', null, 10);
        expect(accounts).toEqual([
          {
            table: 'accounts',
            id: acctA,
            accountId: acctA,
            values: [{ column: 'listen_secret_enc', blob: 'enc-listen' }],
          },
        ]);
        const first = await store.listEncryptedValues('webhooks', null, 1);
        expect(first).toHaveLength(1);
        const rest = await store.listEncryptedValues('webhooks', first[0]!.id, 10);
        const hooks = [...first, ...rest];
        const live = hooks.filter((r) => r.id !== gone.id);
        expect(live.map((r) => r.id).sort()).toEqual([a.id, b.id].sort());
        expect(hooks.find((r) => r.id === a.id)).toEqual({
          table: 'webhooks',
          id: a.id,
          accountId: acctA,
          values: [
            { column: 'secret_enc', blob: 'enc-a' },
            { column: 'previous_secret_enc', blob: 'enc-a-prev' },
            { column: 'headers_enc', blob: 'enc-a-headers' },
          ],
        });
        // Deleted webhooks that keep a row (PostgreSQL) are rotated too; counted with the rest.
        expect(await store.countEncryptedRows()).toBe(hooks.length + 1);

        const written = await store.replaceEncryptedValues([
          { table: 'webhooks', id: a.id, column: 'secret_enc', from: 'enc-a', to: 'new-a' },
          { table: 'webhooks', id: a.id, column: 'headers_enc', from: 'stale', to: 'new-h' },
          {
            table: 'accounts',
            id: acctA,
            column: 'listen_secret_enc',
            from: 'enc-listen',
            to: 'new-l',
          },
        ]);
        expect(written).toBe(2);
        const after = await store.getWebhook(acctA, a.id);
        expect(after).toMatchObject({ secretEnc: 'new-a', headersEnc: 'enc-a-headers' });
        expect(await store.getListenSecret(acctA)).toBe('new-l');
        expect(await store.replaceEncryptedValues([])).toBe(0);
      });

      it('keeps any bytes a receiver sent: a base64 body and odd header values', async () => {
        await addWebhook(acctA);
        await publish(acctA);
        const [c] = await store.claimDue(claimOpts());
        const bytes = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00, 0xff, 0xfe, 0x00, 0x41]);
        const headers = { 'x-latin': 'caf\u00e9 \u00ff\u0001', 'x-nul': 'a\ufffdb' };
        await store.completeAttempts([
          outcome(
            c!,
            { status: 'failed' },
            {
              statusCode: 500,
              error: 'response_status',
              succeeded: false,
              responseHeaders: headers,
              responseBody: bytes.toString('base64'),
              responseBodyEncoding: 'base64',
            },
          ),
        ]);
        const d = await store.getDelivery(acctA, c!.id);
        const a = d!.attempts[0]!;
        expect(a.responseBodyEncoding).toBe('base64');
        expect(Buffer.from(a.responseBody!, 'base64')).toEqual(bytes);
        expect(a.responseHeaders).toEqual(headers);
      });

      it('skips an outcome whose delivery no longer exists and records the rest', async () => {
        await addWebhook(acctA);
        await publish(acctA);
        const [c] = await store.claimDue(claimOpts());
        const ghost = { ...c!, id: newId('dlv') };
        await store.completeAttempts([outcome(ghost), outcome(c!)]);
        expect(await store.getDelivery(acctA, ghost.id)).toBeUndefined();
        expect((await store.getDelivery(acctA, c!.id))?.status).toBe('succeeded');
      });

      it('disables the webhook on a gone outcome; inactive webhooks still get claimed', async () => {
        const w = await addWebhook(acctA);
        await publish(acctA);
        await publish(acctA, 'agent.created', T0 + 1);
        const [c] = await store.claimDue(claimOpts({ limit: 1 }));
        await store.completeAttempts([
          outcome(
            c!,
            { status: 'failed', disableWebhook: 'gone', now: T0 + 7 },
            { statusCode: 410, error: 'response_status', succeeded: false },
          ),
        ]);
        expect(await store.getWebhook(acctA, w.id)).toMatchObject({
          active: false,
          disabledReason: 'gone',
          updatedAt: T0 + 7,
        });
        // The other pending delivery is claimed with the webhook shown inactive, so the engine
        // can fail it with endpoint_disabled.
        const [next] = await store.claimDue(claimOpts({ now: T0 + 10 }));
        expect(next?.webhook).toMatchObject({ id: w.id, active: false });
        // New events skip the inactive webhook.
        expect((await publish(acctA, 'agent.created', T0 + 20)).deliveries).toBe(0);
      });

      it('claims a delivery of a deleted webhook with webhook null (completed in flight)', async () => {
        const w = await addWebhook(acctA);
        await publish(acctA);
        const [c] = await store.claimDue(claimOpts());
        await store.deleteWebhook(acctA, w.id, T0 + 1);
        // The in-flight attempt completes with a retry; the next claim sees no webhook.
        await store.completeAttempts([
          outcome(
            c!,
            { status: 'pending', nextAttemptAt: T0 + 10 },
            { succeeded: false, statusCode: 500, error: 'response_status' },
          ),
        ]);
        const [again] = await store.claimDue(claimOpts({ now: T0 + 10 }));
        expect(again?.id).toBe(c!.id);
        expect(again?.webhook).toBeNull();
      });

      it('completeAndClaim behaves exactly like completeAttempts then claimDue', async () => {
        const fused = requireFused(store);
        // A twin store with the same rows: one runs the two calls, the other the fused one.
        const twin = await makeStore();
        try {
          await twin.migrate();
          const slow = webhook(acctA, { events: ['usage.limit'] });
          const fast = webhook(acctA, { events: ['agent.created'] });
          const events = [
            ...Array.from({ length: 6 }, (_, i) =>
              newEvent('usage.limit', { timestamp: T0 - 100 + i }),
            ),
            ...Array.from({ length: 3 }, (_, i) =>
              newEvent('agent.created', { timestamp: T0 - 50 + i }),
            ),
          ];
          await twin.createAccount({ id: acctA, name: 'A', createdAt: T0 });
          for (const s of [fused, twin]) {
            await s.createWebhook(slow);
            await s.createWebhook(fast);
            for (const e of events) await s.insertEvents(acctA, [e], e.timestamp);
          }
          // Attempt ids by event, so both stores record the same rows.
          const attemptIds = new Map(events.map((e) => [e.id, newId('att')]));
          const outcomesFor = (claimed: ClaimedDelivery[]) =>
            claimed.map((c, i) => {
              const id = attemptIds.get(c.eventId)!;
              if (c.webhook?.id === fast.id && i % 2 === 0) {
                return outcome(
                  c,
                  { status: 'failed', disableWebhook: 'gone', now: T0 + 7 },
                  { id, statusCode: 410, error: 'response_status', succeeded: false },
                );
              }
              if (i % 3 === 1) {
                return outcome(
                  c,
                  { status: 'pending', nextAttemptAt: T0 + 5 * MIN },
                  { id, statusCode: 500, error: 'response_status', succeeded: false },
                );
              }
              return outcome(c, {}, { id, startedAt: T0 + i });
            });
          const cap = { webhookLeases: 2, limit: 4 };
          const firstA = await fused.claimDue(claimOpts(cap));
          const firstB = await twin.claimDue(claimOpts(cap));
          expect(firstA.map((c) => c.eventId)).toEqual(firstB.map((c) => c.eventId));
          // The slots the outcomes free are claimable in the same call; a ghost is skipped.
          const ghost = outcome({ ...firstA[0]!, id: newId('dlv') });
          const next = claimOpts({ ...cap, now: T0 + 10, owner: 'w2', limit: 10 });
          const claimedA = await fused.completeAndClaim([...outcomesFor(firstA), ghost], next);
          await twin.completeAttempts([...outcomesFor(firstB), ghost]);
          const claimedB = await twin.claimDue(next);

          const view = (c: ClaimedDelivery) => ({ ...c, id: c.eventId });
          expect(claimedA.length).toBeGreaterThan(0);
          expect(claimedA.map(view)).toEqual(claimedB.map(view));
          // The fast webhook was disabled by a 410 in the batch, and the claim saw it.
          expect(claimedA.find((c) => c.webhook?.id === fast.id)?.webhook?.active).toBe(false);
          expect(claimedA.filter((c) => c.webhook?.id === slow.id)).toHaveLength(2);

          // Same rows afterwards: deliveries (by event), attempts, webhooks, due times.
          const snapshot = async (s: Store) => {
            const page = await s.listDeliveries(acctA, {}, { limit: 250 });
            const rows = await Promise.all(
              page.data.map(async (d) => {
                const detail = await s.getDelivery(acctA, d.id);
                return {
                  ...detail,
                  id: d.eventId,
                  attempts: detail!.attempts.map((a) => ({ ...a, deliveryId: d.eventId })),
                };
              }),
            );
            return {
              rows: rows.sort((x, y) => (x.id < y.id ? -1 : 1)),
              hooks: await Promise.all([
                s.getWebhook(acctA, slow.id),
                s.getWebhook(acctA, fast.id),
              ]),
              nextDue: await s.nextDueAt(T0 + 20),
              pending: await s.countPending(),
              // Both claims hold the cap: nobody else gets the slow webhook now.
              more: (await s.claimDue(claimOpts({ ...cap, now: T0 + 20, owner: 'w3' }))).map(
                (c) => c.eventId,
              ),
            };
          };
          expect(await snapshot(fused)).toEqual(await snapshot(twin));

          // A claim of nothing only records the outcomes.
          const last = claimedA.filter((c) => c.webhook?.id === slow.id);
          expect(
            await fused.completeAndClaim(outcomesFor(last), claimOpts({ ...cap, limit: 0 })),
          ).toEqual([]);
          for (const c of last) {
            expect((await fused.getDelivery(acctA, c.id))?.inFlight).toBe(false);
          }
        } finally {
          await twin.close();
        }
      });

      it('claims for the given webhooks only (a refill), under the same rules', async () => {
        const a = await addWebhook(acctA, { events: ['usage.limit'] });
        const b = await addWebhook(acctA, { events: ['agent.created'] });
        // b's deliveries are older: a full claim would take them first.
        for (let i = 0; i < 3; i++) await publish(acctA, 'agent.created', T0 - 100 + i);
        for (let i = 0; i < 5; i++) await publish(acctA, 'usage.limit', T0 - 50 + i);
        const first = await store.claimDue(claimOpts({ webhooks: [a.id], webhookLeases: 2 }));
        expect(first.map((c) => c.webhook?.id)).toEqual([a.id, a.id]);
        expect(first.map((c) => c.eventTimestamp)).toEqual([T0 - 50, T0 - 49]);
        // Another owner gets nothing of a; b is not asked for.
        expect(await store.claimDue(claimOpts({ owner: 'w2', webhooks: [a.id] }))).toEqual([]);
        expect(await store.claimDue(claimOpts({ webhooks: [] }))).toEqual([]);
        // The fused call refills the webhook its outcomes free, nothing else.
        {
          const next = await requireFused(store).completeAndClaim(
            first.map((c) => outcome(c)),
            claimOpts({ now: T0 + 1, webhooks: [a.id], webhookLeases: 2 }),
          );
          expect(next.map((c) => c.eventTimestamp)).toEqual([T0 - 48, T0 - 47]);
          for (const c of first) {
            expect((await store.getDelivery(acctA, c.id))?.status).toBe('succeeded');
          }
        }
        const rest = await store.claimDue(claimOpts({ now: T0 + 2, owner: 'w3' }));
        expect(rest.filter((c) => c.webhook?.id === b.id)).toHaveLength(3);
      });

      it('reports the next due time and counts pending', async () => {
        expect(await store.nextDueAt(T0)).toBeNull();
        await addWebhook(acctA);
        await publish(acctA, 'agent.created', T0 + 500);
        await publish(acctA, 'agent.created', T0 + 100);
        expect(await store.nextDueAt(T0)).toBe(T0 + 100);
        // The next one strictly after a time (behind work that is due but blocked).
        expect(await store.nextDueAt(T0, T0 + 100)).toBe(T0 + 500);
        expect(await store.nextDueAt(T0, T0 + 500)).toBeNull();
        expect(await store.countPending()).toBe(2);
        const [c] = await store.claimDue(claimOpts({ now: T0 + 100, leaseMs: 1000 }));
        // A leased delivery is not "due".
        expect(await store.nextDueAt(T0 + 100)).toBe(T0 + 500);
        expect(await store.countPending()).toBe(2);
        await store.completeAttempts([outcome(c!)]);
        expect(await store.countPending()).toBe(1);
      });
    });

    describe('manual attempts, recover and the test action', () => {
      it('requestAttempt: in flight, queued now, and the previous state kept', async () => {
        await addWebhook(acctA);
        await publish(acctA);
        const [c] = await store.claimDue(claimOpts());
        expect(await store.requestAttempt(acctA, c!.id, 'manual', T0 + 1)).toBe('in_flight');
        expect(await store.requestAttempt(acctB, c!.id, 'manual', T0 + 1)).toBeUndefined();
        expect(await store.requestAttempt(acctA, newId('dlv'), 'manual', T0 + 1)).toBeUndefined();
        await store.completeAttempts([
          outcome(c!, { status: 'failed' }, { succeeded: false, statusCode: 500 }),
        ]);
        const row = await store.requestAttempt(acctA, c!.id, 'manual', T0 + HOUR);
        expect(row).toMatchObject({ id: c!.id, status: 'pending', nextAttemptAt: T0 + HOUR });
        // Asking twice before it runs keeps the first request's state.
        await store.requestAttempt(acctA, c!.id, 'manual', T0 + HOUR + 1);
        const [m] = await store.claimDue(claimOpts({ now: T0 + HOUR + 1 }));
        expect(m).toMatchObject({
          id: c!.id,
          trigger: 'manual',
          statusBefore: 'failed',
          resumeAt: null,
          attemptCount: 1,
        });
        await store.completeAttempts([
          outcome(m!, { status: 'failed' }, { succeeded: false, statusCode: 500, number: 2 }),
        ]);
        const d = await store.getDelivery(acctA, c!.id);
        expect(d!.attempts.map((a) => a.trigger)).toEqual(['scheduled', 'manual']);
        expect(d).toMatchObject({ status: 'failed', attemptCount: 2 });
      });

      it('requestAttempt after the lease expired (its worker died) takes the delivery back', async () => {
        await addWebhook(acctA);
        await publish(acctA);
        const [c] = await store.claimDue(claimOpts({ owner: 'w1', leaseMs: 1000 }));
        expect((await store.getDelivery(acctA, c!.id))?.inFlight).toBe(true);
        const row = await store.requestAttempt(acctA, c!.id, 'manual', T0 + 1000);
        expect(row).toMatchObject({ id: c!.id, status: 'pending', inFlight: false });
        expect((await store.getDelivery(acctA, c!.id))?.inFlight).toBe(false);
        // Nothing of w1 is left: another worker takes the webhook and the delivery at once.
        const [again] = await store.claimDue(claimOpts({ now: T0 + 1000, owner: 'w2' }));
        expect(again).toMatchObject({ id: c!.id, trigger: 'manual' });
        // w1's late outcome is dropped; w2's is recorded.
        await store.completeAttempts([outcome(c!, { owner: 'w1', status: 'failed' })]);
        await store.completeAttempts([outcome(again!, { owner: 'w2' })]);
        const d = await store.getDelivery(acctA, c!.id);
        expect(d).toMatchObject({ status: 'succeeded', inFlight: false });
        expect(d!.attempts.map((a) => a.trigger)).toEqual(['manual']);
      });

      it('requestAttempt on a pending delivery keeps its schedule as resumeAt', async () => {
        await addWebhook(acctA);
        await publish(acctA);
        const [c] = await store.claimDue(claimOpts());
        await store.completeAttempts([
          outcome(
            c!,
            { status: 'pending', nextAttemptAt: T0 + HOUR },
            { succeeded: false, statusCode: 500 },
          ),
        ]);
        await store.requestAttempt(acctA, c!.id, 'manual', T0 + MIN);
        const [m] = await store.claimDue(claimOpts({ now: T0 + MIN }));
        expect(m).toMatchObject({
          trigger: 'manual',
          statusBefore: 'pending',
          resumeAt: T0 + HOUR,
        });
        // The engine puts it back on its schedule after a failed manual attempt.
        await store.completeAttempts([
          outcome(
            m!,
            { status: 'pending', nextAttemptAt: T0 + HOUR },
            { succeeded: false, number: 2, trigger: 'manual' },
          ),
        ]);
        const [s] = await store.claimDue(claimOpts({ now: T0 + HOUR }));
        expect(s).toMatchObject({ trigger: 'scheduled', resumeAt: null, attemptCount: 2 });
      });

      it('recovers failed deliveries of one webhook in a time range', async () => {
        const w = await addWebhook(acctA);
        const other = await addWebhook(acctA);
        await publish(acctA, 'agent.created', T0);
        await publish(acctA, 'agent.created', T0 + HOUR);
        const claimed = await store.claimDue(claimOpts({ now: T0 + HOUR }));
        expect(claimed).toHaveLength(4);
        await store.completeAttempts(
          claimed.map((c) =>
            outcome(c, { status: 'failed' }, { succeeded: false, statusCode: 500 }),
          ),
        );
        expect(await store.recoverDeliveries(acctB, w.id, T0, T0 + HOUR, T0 + 2 * HOUR)).toBe(0);
        expect(await store.recoverDeliveries(acctA, w.id, T0, T0 + 1, T0 + 2 * HOUR)).toBe(1);
        const again = await store.claimDue(claimOpts({ now: T0 + 2 * HOUR }));
        expect(again).toHaveLength(1);
        expect(again[0]).toMatchObject({
          trigger: 'recover',
          statusBefore: 'failed',
          webhook: { id: w.id },
        });
        expect(await store.recoverDeliveries(acctA, other.id, T0, T0 + HOUR, T0 + 2 * HOUR)).toBe(
          2,
        );
      });

      it("holds its webhook while leased: another owner claims none of the webhook's deliveries, its own owner does", async () => {
        // What the warm-up relies on (warm-up.ts): a delivery leased at insert keeps every
        // other process's claims off its webhook, full claims and refills alike.
        const w = await addWebhook(acctA);
        const free = await addWebhook(acctB);
        await store.insertTestDelivery(
          acctA,
          w.id,
          newEvent('webhook.test'),
          { id: newId('dlv'), owner: 'warm', leaseMs: 60_000 },
          T0,
        );
        for (let i = 0; i < 5; i++) await publish(acctA, 'agent.created', T0 + i);
        await publish(acctB, 'agent.created', T0);
        const other = await store.claimDue(claimOpts({ now: T0 + 10, owner: 'other' }));
        expect(other.map((c) => c.webhook?.id)).toEqual([free.id]);
        expect(
          await store.claimDue(claimOpts({ now: T0 + 10, owner: 'other', webhooks: [w.id] })),
        ).toEqual([]);
        const own = await store.claimDue(claimOpts({ now: T0 + 10, owner: 'warm' }));
        expect(own.map((c) => c.webhook?.id)).toEqual(Array(5).fill(w.id));
      });

      it('inserts a test delivery already leased, even to an inactive webhook', async () => {
        const w = await addWebhook(acctA, { active: false, disabledReason: 'manual' });
        const ev = newEvent('webhook.test');
        const dlv = newId('dlv');
        const c = await store.insertTestDelivery(
          acctA,
          w.id,
          ev,
          { id: dlv, owner: 'api', leaseMs: 10_000 },
          T0,
        );
        expect(c).toMatchObject({
          id: dlv,
          eventId: ev.id,
          event: 'webhook.test',
          body: ev.body,
          trigger: 'test',
          attemptCount: 0,
          webhook: { id: w.id, active: false },
        });
        expect(await store.claimDue(claimOpts({ owner: 'worker' }))).toEqual([]);
        await store.completeAttempts([outcome(c)]);
        const d = await store.getDelivery(acctA, dlv);
        expect(d).toMatchObject({ status: 'succeeded', event: 'webhook.test', attemptCount: 1 });
        expect(d!.attempts[0]!.trigger).toBe('test');
        expect((await store.getEvent(acctA, ev.id))?.deliveryIds).toEqual([dlv]);
        await expect(
          store.insertTestDelivery(
            acctB,
            w.id,
            newEvent('webhook.test'),
            { id: newId('dlv'), owner: 'api', leaseMs: 1 },
            T0,
          ),
        ).rejects.toThrow();
      });
    });

    describe('stats', () => {
      it('computes attempts, success, percentiles and filled buckets in the window', async () => {
        const w = await addWebhook(acctA, { events: ['agent.*'] });
        const other = await addWebhook(acctA, { events: ['usage.limit'] });
        // Deliveries: 2 in bucket 0, 1 in bucket 2, none in bucket 1.
        await publish(acctA, 'agent.created', T0);
        await publish(acctA, 'agent.created', T0 + 10 * MIN);
        await publish(acctA, 'agent.created', T0 + 2 * HOUR + 1);
        await publish(acctA, 'usage.limit', T0);
        const claimed = await store.claimDue(claimOpts({ now: T0 + 3 * HOUR }));
        const mine = claimed
          .filter((c) => c.webhook?.id === w.id)
          .sort((a, b) => a.eventTimestamp - b.eventTimestamp);
        expect(mine).toHaveLength(3);
        await store.completeAttempts([
          outcome(mine[0]!, {}, { durationMs: 10, startedAt: T0 + 1 }),
          outcome(
            mine[1]!,
            { status: 'failed' },
            { durationMs: 30, startedAt: T0 + 2, succeeded: false, statusCode: 500 },
          ),
          // Outside the window: not counted in attempts.
          outcome(
            mine[2]!,
            { status: 'pending', nextAttemptAt: T0 + 4 * HOUR },
            {
              durationMs: 999,
              startedAt: T0 + 3 * HOUR + 5,
              succeeded: false,
              statusCode: 503,
            },
          ),
          ...claimed
            .filter((c) => c.webhook?.id === other.id)
            .map((c) => outcome(c, {}, { durationMs: 5000 })),
        ]);
        for (let i = 0; i < 8; i++) {
          // More attempts on the first delivery: durations 100..800.
          await store.completeAttempts([
            outcome(mine[0]!, {}, { durationMs: (i + 1) * 100, startedAt: T0 + 100 + i }),
          ]);
        }
        const s = await store.webhookStats(acctA, w.id, {
          since: T0,
          until: T0 + 3 * HOUR,
          bucketMs: HOUR,
        });
        // Durations in window: 10, 30, 100..800 → 10 attempts, 9 succeeded.
        expect(s.attempts).toBe(10);
        expect(s.succeededAttempts).toBe(9);
        expect(s.p50Ms).toBe(300); // nearest rank: ceil(0.5*10)=5th of 10,30,100,200,300… → 300
        expect(s.p95Ms).toBe(800); // ceil(0.95*10)=10th → 800
        expect(s.buckets).toEqual([
          { start: T0, succeeded: 1, failed: 1, pending: 0 },
          { start: T0 + HOUR, succeeded: 0, failed: 0, pending: 0 },
          { start: T0 + 2 * HOUR, succeeded: 0, failed: 0, pending: 1 },
        ]);
        const empty = await store.webhookStats(acctB, w.id, {
          since: T0,
          until: T0 + 2 * HOUR,
          bucketMs: HOUR,
        });
        expect(empty).toEqual({
          attempts: 0,
          succeededAttempts: 0,
          p50Ms: null,
          p95Ms: null,
          buckets: [
            { start: T0, succeeded: 0, failed: 0, pending: 0 },
            { start: T0 + HOUR, succeeded: 0, failed: 0, pending: 0 },
          ],
        });
      });
    });
  });
}
