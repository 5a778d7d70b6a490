/**
 * PostgreSQL going away: every store method fails fast with an error `isUnavailableError`
 * recognises (the API's 503), nothing hangs or crashes, and the store works again once the
 * database is back. Wake-ups (LISTEN/NOTIFY) reconnect by themselves.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { newId } from '../src/ids.js';
import {
  createPostgresStore,
  isUnavailableError,
  StoreUnavailableError,
} from '../src/store/postgres/index.js';
import type { NewEvent, WebhookRow } from '../src/store/types.js';
import { describePostgres } from './helpers/postgres.js';
import { webhookRow } from './helpers/rows.js';
import { startTcpProxy } from './helpers/tcp-proxy.js';

const T0 = Date.UTC(2024, 0, 15, 10, 30);
const account = 'acct_01HMB7ZK2C8D9E0F1G2H3J4K5M';

function webhook(): WebhookRow {
  return webhookRow({
    accountId: account,
    url: 'https://example.test/',
    secretEnc: 's',
    createdAt: T0,
  });
}

function newEvent(): NewEvent {
  const id = newId('evt');
  return { id, event: 'agent.created', timestamp: T0, body: JSON.stringify({ id }) };
}

/** Resolves when `check` passes, polling every 50 ms; fails after `ms`. */
async function eventually(check: () => Promise<boolean> | boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`condition not met within ${ms} ms`);
}

/** How a rejected promise failed, and how long it took. */
async function failure(p: Promise<unknown>): Promise<{ err: unknown; ms: number }> {
  const started = Date.now();
  try {
    await p;
  } catch (err) {
    return { err, ms: Date.now() - started };
  }
  throw new Error('expected a rejection');
}

await describePostgres('postgres store when the database goes away', ({ url, freshSchema }) => {
  const target = new URL(url);
  const cleanup: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c().catch(() => {});
  });

  async function throughProxy(over: { statementTimeoutMs?: number } = {}) {
    const proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
    cleanup.push(() => proxy.close());
    const viaProxy = new URL(url);
    viaProxy.host = `127.0.0.1:${proxy.port}`;
    const schema = freshSchema();
    const store = createPostgresStore({
      url: viaProxy.toString(),
      schema,
      poolSize: 3,
      connectTimeoutMs: 1_000,
      ...over,
    });
    cleanup.push(() => store.close());
    await store.migrate();
    await store.createAccount({ id: account, name: 'A', createdAt: T0 });
    return { proxy, store, schema };
  }

  it('refused connections: every kind of call fails fast as unavailable, then recovers', async () => {
    const { proxy, store } = await throughProxy();
    await store.insertEvents(account, [newEvent()], T0);
    await proxy.cut();
    const calls: (() => Promise<unknown>)[] = [
      () => store.ping(),
      () => store.getAccount(account),
      () => store.insertEvents(account, [newEvent()], T0),
      () => store.claimDue({ now: T0, limit: 10, owner: 'w', leaseMs: 1000, webhookLeases: 2 }),
      () => store.countPending(),
    ];
    for (const c of calls) {
      const { err, ms } = await failure(c());
      expect(isUnavailableError(err)).toBe(true);
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect(ms).toBeLessThan(3_000);
    }
    await proxy.restore();
    await eventually(async () => {
      try {
        await store.ping();
        return true;
      } catch {
        return false;
      }
    });
    expect(await store.getAccount(account)).toMatchObject({ id: account });
  });

  it('a server that accepts but never answers: connect times out as unavailable', async () => {
    const sockets = new Set<Socket>();
    const silent: Server = createServer((s) => {
      sockets.add(s);
      s.on('error', () => {});
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    cleanup.push(async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    });
    const port = (silent.address() as { port: number }).port;
    const dead = new URL(url);
    dead.host = `127.0.0.1:${port}`;
    const store = createPostgresStore({ url: dead.toString(), connectTimeoutMs: 500 });
    cleanup.push(() => store.close());
    const { err, ms } = await failure(store.ping());
    expect(isUnavailableError(err)).toBe(true);
    expect(ms).toBeLessThan(3_000);
  });

  it('a link that goes silent: queries time out as unavailable instead of hanging', async () => {
    let frozen = false;
    const sockets = new Set<Socket>();
    const server = createServer((client) => {
      const upstream = connect(Number(target.port || 5432), target.hostname);
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('error', () => {});
        s.on('close', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      // Bytes are forwarded until the link freezes; then they vanish and nothing is closed.
      client.on('data', (d) => frozen || upstream.write(d));
      upstream.on('data', (d) => frozen || client.write(d));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    cleanup.push(async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    });
    const via = new URL(url);
    via.host = `127.0.0.1:${(server.address() as { port: number }).port}`;
    const store = createPostgresStore({
      url: via.toString(),
      schema: freshSchema(),
      poolSize: 2,
      connectTimeoutMs: 1_000,
      statementTimeoutMs: 400,
    });
    cleanup.push(() => store.close());
    await store.migrate();
    await store.ping();
    frozen = true;
    for (let i = 0; i < 2; i++) {
      const { err, ms } = await failure(store.ping());
      expect(isUnavailableError(err)).toBe(true);
      expect(ms).toBeLessThan(3_000);
    }
    frozen = false;
    await eventually(async () => {
      try {
        await store.ping();
        return true;
      } catch {
        return false;
      }
    });
  });

  it('wake-ups: NOTIFY on new work, only for this schema, and again after a reconnect', async () => {
    const { proxy, store } = await throughProxy();
    const other = createPostgresStore({ url, schema: freshSchema(), poolSize: 1 });
    cleanup.push(() => other.close());
    await other.migrate();
    await other.createAccount({ id: account, name: 'A', createdAt: T0 });
    await store.createWebhook(webhook());
    await other.createWebhook(webhook());
    let wakes = 0;
    const unsubscribe = store.onWorkAvailable(() => {
      wakes++;
    });
    cleanup.push(async () => unsubscribe());
    // LISTEN starts asynchronously: publish until a wake-up arrives.
    await eventually(async () => {
      await store.insertEvents(account, [newEvent()], T0);
      return wakes > 0;
    });
    // Let the wake-ups of the loop above arrive, then: another schema's work wakes nobody here.
    await new Promise((r) => setTimeout(r, 300));
    const before = wakes;
    const [r] = await other.insertEvents(account, [newEvent()], T0);
    expect(r).toMatchObject({ status: 'created', event: { deliveries: 1 } });
    await new Promise((r) => setTimeout(r, 300));
    expect(wakes).toBe(before);
    // Released leases wake workers too.
    const claimed = await store.claimDue({
      now: T0,
      limit: 1,
      owner: 'w',
      leaseMs: 60_000,
      webhookLeases: 5,
    });
    expect(claimed).toHaveLength(1);
    await store.releaseLeases('w');
    await eventually(() => wakes > before);

    // The database goes away and comes back: the listener reconnects and wakes everybody once.
    await proxy.cut();
    await new Promise((r) => setTimeout(r, 300));
    const beforeReconnect = wakes;
    await proxy.restore();
    await eventually(() => wakes > beforeReconnect, 15_000);
    const afterReconnect = wakes;
    await eventually(async () => {
      await store.insertEvents(account, [newEvent()], T0).catch(() => {});
      return wakes > afterReconnect;
    });
  });
});
