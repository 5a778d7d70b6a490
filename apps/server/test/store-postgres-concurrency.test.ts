/**
 * Races between processes sharing one PostgreSQL: two stores (two pools, as two processes would
 * have) claiming, completing and inserting at the same moment.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { newId } from '../src/ids.js';
import { createPostgresStore, type PostgresStore } from '../src/store/postgres/index.js';
import type { AttemptOutcome, ClaimedDelivery, NewEvent, WebhookRow } from '../src/store/types.js';
import { describePostgres } from './helpers/postgres.js';
import { webhookRow } from './helpers/rows.js';

const T0 = Date.UTC(2024, 0, 15, 10, 30);

function webhook(accountId: string, events: string[]): WebhookRow {
  return webhookRow({
    accountId,
    name: 'hook',
    url: 'https://example.test/hook',
    events,
    secretEnc: 'enc',
    createdAt: T0,
  });
}

function newEvent(event: string, over: Partial<NewEvent> = {}): NewEvent {
  const id = newId('evt');
  return { id, event, timestamp: T0, body: JSON.stringify({ id, event }), ...over };
}

function succeeded(c: ClaimedDelivery, now: number): AttemptOutcome {
  return {
    deliveryId: c.id,
    accountId: c.accountId,
    webhookId: c.webhook!.id,
    status: 'succeeded',
    nextAttemptAt: null,
    now,
    attempt: {
      id: newId('att'),
      deliveryId: c.id,
      number: c.attemptCount + 1,
      startedAt: now,
      durationMs: 1,
      statusCode: 200,
      error: null,
      requestHeaders: {},
      responseHeaders: {},
      responseBody: null,
      responseBodyEncoding: null,
      trigger: c.trigger,
      succeeded: true,
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

await describePostgres('postgres store across processes', ({ url, freshSchema, sql }) => {
  let a: PostgresStore;
  let b: PostgresStore;
  let schema: string;
  const account = 'acct_01HMB7ZK2C8D9E0F1G2H3J4K5M';

  beforeEach(async () => {
    schema = freshSchema();
    a = createPostgresStore({ url, schema, poolSize: 4, idempotencyWaitMs: 300 });
    b = createPostgresStore({ url, schema, poolSize: 4, idempotencyWaitMs: 300 });
    await Promise.all([a.migrate(), b.migrate()]);
    await a.createAccount({ id: account, name: 'A', createdAt: T0 });
  });

  afterEach(async () => {
    await Promise.all([a.close(), b.close()]);
  });

  it('four workers on two pools never claim one delivery twice nor exceed the cap', async () => {
    const CAP = 3;
    const hooks = [
      webhook(account, ['agent.*']),
      webhook(account, ['agent.created']),
      webhook(account, ['usage.limit']),
    ];
    for (const h of hooks) await a.createWebhook(h);
    // 120 agent.created → 2 deliveries each, 60 usage.limit → 1 each: 300 deliveries.
    const events = [
      ...Array.from({ length: 120 }, () => newEvent('agent.created')),
      ...Array.from({ length: 60 }, () => newEvent('usage.limit')),
    ];
    for (let i = 0; i < events.length; i += 30) {
      await a.insertEvents(account, events.slice(i, i + 30), T0);
    }
    const total = 300;
    expect(await a.countPending()).toBe(total);

    const inFlight = new Map<string, string>(); // delivery → webhook
    const done = new Set<string>();
    const violations: string[] = [];
    let claims = 0;
    const perHook = (id: string) => [...inFlight.values()].filter((w) => w === id).length;

    const worker = async (store: PostgresStore, owner: string) => {
      const deadline = Date.now() + 15_000;
      for (let round = 0; round < 2_000 && done.size < total && Date.now() < deadline; round++) {
        const got = await store.claimDue({
          now: T0 + 1,
          limit: 5,
          owner,
          leaseMs: 600_000,
          webhookLeases: CAP,
        });
        claims++;
        for (const c of got) {
          if (inFlight.has(c.id) || done.has(c.id)) violations.push(`${c.id} claimed twice`);
          inFlight.set(c.id, c.webhook!.id);
        }
        for (const h of hooks) {
          if (perHook(h.id) > CAP) violations.push(`${h.id}: ${perHook(h.id)} in flight`);
        }
        if (got.length === 0) {
          await sleep(2);
          continue;
        }
        await sleep(Math.floor(Math.random() * 4));
        // Forget them before completing: the database releases no later than this.
        for (const c of got) {
          inFlight.delete(c.id);
          done.add(c.id);
        }
        await store.completeAttempts(got.map((c) => succeeded(c, T0 + 2)));
      }
    };
    await Promise.all([worker(a, 'a1'), worker(a, 'a2'), worker(b, 'b1'), worker(b, 'b2')]);

    expect(violations).toEqual([]);
    expect(done.size).toBe(total);
    expect(await b.countPending()).toBe(0);
    const [att] = await sql<{ n: number; d: number }>(
      `select count(*)::int as n, count(distinct delivery_id)::int as d from ${schema}.attempts`,
    );
    expect(att).toEqual({ n: total, d: total });
    expect(claims).toBeGreaterThan(total / 5);
  });

  it('the cap holds when two workers claim for one webhook at the same instant', async () => {
    const h = webhook(account, ['*']);
    await a.createWebhook(h);
    await a.insertEvents(
      account,
      Array.from({ length: 50 }, () => newEvent('agent.created')),
      T0,
    );
    for (let round = 0; round < 10; round++) {
      const opts = { now: T0 + round, limit: 10, leaseMs: 1, webhookLeases: 4 };
      const [x, y] = await Promise.all([
        a.claimDue({ ...opts, owner: `a${round}` }),
        b.claimDue({ ...opts, owner: `b${round}` }),
      ]);
      expect(x.length + y.length).toBe(4);
      // One worker at a time per webhook: the other one got nothing.
      expect(Math.min(x.length, y.length)).toBe(0);
      expect(new Set([...x, ...y].map((c) => c.id)).size).toBe(4);
      // leaseMs 1: every lease has expired by the next round.
    }
  });

  it('reaches work behind a head of rows that cannot be taken now', async () => {
    const slow = webhook(account, ['usage.limit']);
    const fast = webhook(account, ['agent.created']);
    await a.createWebhook(slow);
    await a.createWebhook(fast);
    await a.insertEvents(
      account,
      Array.from({ length: 200 }, (_, i) => newEvent('usage.limit', { timestamp: T0 + i })),
      T0,
    );
    await a.insertEvents(account, [newEvent('agent.created')], T0 + 10);
    const opts = { now: T0 + 20, leaseMs: 60_000, webhookLeases: 3 };
    // The slow endpoint is one short of its cap: the head of the queue is all its rows.
    expect(await a.claimDue({ ...opts, limit: 2, owner: 'w1' })).toHaveLength(2);
    const next = await b.claimDue({ ...opts, limit: 10, owner: 'w1' });
    expect(next.map((c) => c.webhook!.id).sort()).toEqual([slow.id, fast.id].sort());
  });

  /**
   * Two deliveries claimed and succeeded, and `written` of their outcomes recorded; then the
   * first delivery is asked for again and the whole batch written again by the other process
   * (the worker saw an error: the first commit's answer was lost). Only an outcome not recorded
   * yet changes its delivery, and none overwrites a state the delivery reached since.
   */
  async function writtenAgain(written: 'all' | 'the first') {
    await a.createWebhook(webhook(account, ['*']));
    await a.insertEvents(account, [newEvent('agent.created'), newEvent('agent.created')], T0);
    const claimed = await a.claimDue({
      now: T0,
      limit: 10,
      owner: 'w1',
      leaseMs: 60_000,
      webhookLeases: 5,
    });
    expect(claimed).toHaveLength(2);
    const batch = claimed.map((c) => succeeded(c, T0 + 1));
    await a.completeAttempts(written === 'all' ? batch : batch.slice(0, 1));
    await a.requestAttempt(account, claimed[0]!.id, 'manual', T0 + 2);
    await expect(b.completeAttempts(batch)).resolves.toBeUndefined();
    const d0 = await a.getDelivery(account, claimed[0]!.id);
    expect(d0).toMatchObject({ status: 'pending', attemptCount: 1, nextAttemptAt: T0 + 2 });
    expect(d0!.attempts).toHaveLength(1);
    const d1 = await a.getDelivery(account, claimed[1]!.id);
    expect(d1).toMatchObject({ status: 'succeeded', attemptCount: 1 });
    expect(d1!.attempts).toHaveLength(1);
  }

  it('a completion written twice (its first commit answer lost) is recorded once', () =>
    writtenAgain('all'));

  it('a batch holding one outcome already recorded changes only the others', () =>
    writtenAgain('the first'));

  it('one Idempotency-Key sent to two processes at once creates one event', async () => {
    await a.createWebhook(webhook(account, ['*']));
    for (let i = 0; i < 15; i++) {
      const key = `key-${i}`;
      const [[ra], [rb]] = await Promise.all([
        a.insertEvents(
          account,
          [newEvent('agent.created', { idempotencyKey: key, requestHash: 'h' })],
          T0,
        ),
        b.insertEvents(
          account,
          [newEvent('agent.created', { idempotencyKey: key, requestHash: 'h' })],
          T0,
        ),
      ]);
      const statuses = [ra!.status, rb!.status].sort();
      expect(statuses).toEqual(['created', 'replayed']);
      const ids = [ra, rb].map((r) => (r && 'event' in r ? r.event.id : null));
      expect(ids[0]).toBe(ids[1]);
    }
    const [n] = await sql<{ n: number }>(`select count(*)::int as n from ${schema}.events`);
    expect(n!.n).toBe(15);
    expect(await a.countPending()).toBe(15);
  });

  it('answers key_in_flight while the first request holding the key has not committed', async () => {
    const pg = (await import('pg')).default;
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    try {
      await holder.query('begin');
      await holder.query(
        `insert into ${schema}.idempotency_keys (account_id, key, request_hash, event_id, created_at)
         values ($1, 'slow', 'h', 'evt_x', $2)`,
        [account, T0],
      );
      const started = Date.now();
      const res = await b.insertEvents(
        account,
        [
          newEvent('agent.created'),
          newEvent('agent.created', { idempotencyKey: 'slow', requestHash: 'h' }),
        ],
        T0,
      );
      expect(res).toEqual([{ status: 'key_in_flight', index: 1 }]);
      expect(Date.now() - started).toBeLessThan(5_000);
      await holder.query('rollback');
      // The holder gave up: the key is free and this request creates the event.
      const [r] = await b.insertEvents(
        account,
        [newEvent('agent.created', { idempotencyKey: 'slow', requestHash: 'h' })],
        T0,
      );
      expect(r?.status).toBe('created');
    } finally {
      await holder.end();
    }
  });

  it('a different request with the key, committed meanwhile, is key_reused after the wait', async () => {
    const first = a.insertEvents(
      account,
      [newEvent('agent.created', { idempotencyKey: 'k', requestHash: 'one' })],
      T0,
    );
    const second = b.insertEvents(
      account,
      [newEvent('agent.created', { idempotencyKey: 'k', requestHash: 'two' })],
      T0,
    );
    const results = (await Promise.all([first, second])).map(([r]) => r!.status).sort();
    expect(results).toEqual(['created', 'key_reused']);
  });
});
