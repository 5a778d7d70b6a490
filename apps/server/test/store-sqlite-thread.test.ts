/**
 * The SQLite store runs in its own thread (`src/store/sqlite/index.ts`): what that must keep
 * (errors, durability when a call resolves, inserts queued at close) and what it buys (the
 * service's event loop turns while the database waits), and a thread that dies is a 503, not a
 * hang. The Store behaviour itself is the contract suite (`store-sqlite.test.ts`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { newId } from '../src/ids.js';
import { createSqliteStore, type SqliteThreadStore } from '../src/store/sqlite/index.js';
import type { NewEvent, Store, WebhookRow } from '../src/store/types.js';
import { client } from './helpers/client.js';
import { webhookRow } from './helpers/rows.js';
import { startTestServer } from './helpers/server.js';

const dir = mkdtempSync(join(tmpdir(), 'af-store-thread-'));
let n = 0;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const NOW = Date.UTC(2024, 0, 15, 10, 30);

function webhook(accountId: string): WebhookRow {
  return webhookRow({ accountId, url: 'http://127.0.0.1:1/', secretEnc: 's', createdAt: NOW });
}

function event(): NewEvent {
  const id = newId('evt');
  return { id, event: 'agent.created', timestamp: NOW, body: `{"id":"${id}"}` };
}

/** A migrated store with one account and one webhook matching every event. */
async function open(): Promise<{ store: Store; path: string; accountId: string }> {
  const path = join(dir, `thread-${n++}.db`);
  const store = createSqliteStore({ path });
  await store.migrate();
  const accountId = newId('acct');
  await store.createAccount({ id: accountId, name: 'a', createdAt: NOW });
  await store.createWebhook(webhook(accountId));
  return { store, path, accountId };
}

function countEvents(path: string): number {
  const db = new Database(path, { readonly: true });
  try {
    return (db.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

describe('SQLite store thread', () => {
  it('the event loop keeps turning while an insert waits on the database', async () => {
    const { store, path, accountId } = await open();
    // Another connection holds the write lock: the insert waits for it (busy_timeout 5 s). On
    // the service's own thread that wait would block this test's loop, the lock would never be
    // released, and the insert would fail with SQLITE_BUSY after 5 s.
    const other = new Database(path);
    try {
      other.prepare('BEGIN IMMEDIATE').run();
      let settled = false;
      const insert = store.insertEvents(accountId, [event()], NOW).finally(() => {
        settled = true;
      });
      const started = performance.now();
      await new Promise((r) => setTimeout(r, 100));
      expect(performance.now() - started).toBeLessThan(1000);
      expect(settled).toBe(false);
      other.prepare('COMMIT').run();
      const [result] = await insert;
      expect(result?.status).toBe('created');
      expect(countEvents(path)).toBe(1);
    } finally {
      other.close();
      await store.close();
    }
  });

  it('concurrent inserts are all committed when they resolve', async () => {
    const { store, path, accountId } = await open();
    try {
      const results = await Promise.all(
        Array.from({ length: 50 }, () => store.insertEvents(accountId, [event()], NOW)),
      );
      expect(results.every(([r]) => r?.status === 'created' && r.event.deliveries === 1)).toBe(
        true,
      );
      // Read by another connection: committed, not just visible to the store's own.
      expect(countEvents(path)).toBe(50);
    } finally {
      await store.close();
    }
  });

  it('errors cross the thread with their name, message and code', async () => {
    const { store, accountId } = await open();
    try {
      await expect(
        store.createAccount({ id: accountId, name: 'again', createdAt: NOW }),
      ).rejects.toMatchObject({
        name: 'SqliteError',
        code: 'SQLITE_CONSTRAINT_PRIMARYKEY',
        message: expect.stringContaining('UNIQUE constraint failed'),
      });
      await expect(
        store.insertTestDelivery(
          accountId,
          'wh_missing',
          event(),
          { id: newId('dlv'), owner: 'me', leaseMs: 1000 },
          NOW,
        ),
      ).rejects.toThrow('insertTestDelivery: no webhook wh_missing in the account');
      // The store still answers after failed calls.
      expect(await store.getAccount(accountId)).toMatchObject({ id: accountId });
    } finally {
      await store.close();
    }
  });

  it('a database that cannot be opened rejects calls with the open error, and closes', async () => {
    const store = createSqliteStore({ path: join(dir, 'no-such-dir', 'x.db') });
    // better-sqlite3's own error, as its constructor threw it on the service's thread before.
    await expect(store.migrate()).rejects.toMatchObject({
      name: 'TypeError',
      message: expect.stringContaining('directory does not exist'),
    });
    await expect(store.ping()).rejects.toThrow('directory does not exist');
    await store.close();
  });

  it('close commits the inserts already asked for, then ends the thread', async () => {
    const { store, path, accountId } = await open();
    const inserts = Array.from({ length: 5 }, () => store.insertEvents(accountId, [event()], NOW));
    const closed = store.close();
    expect((await Promise.all(inserts)).map(([r]) => r?.status)).toEqual(Array(5).fill('created'));
    await closed;
    expect((store as SqliteThreadStore).thread.threadId).toBe(-1); // exited
    await expect(store.ping()).rejects.toThrow('ping: the SQLite store is closed');
    expect(countEvents(path)).toBe(5);
    await store.close(); // twice is fine
  });

  it('a thread that dies rejects waiting and later calls as unavailable, never hangs', async () => {
    const { store, accountId } = await open();
    const thread = (store as SqliteThreadStore).thread;
    // Long enough that the thread is still at it (or has not started) when it is ended.
    const big = store.insertEvents(
      accountId,
      Array.from({ length: 5000 }, () => event()),
      NOW,
    );
    await thread.terminate();
    const unavailable = { name: 'StoreUnavailableError', code: 'unavailable' };
    await expect(big).rejects.toMatchObject(unavailable);
    await expect(store.ping()).rejects.toMatchObject({
      ...unavailable,
      message: expect.stringContaining('the SQLite thread exited'),
    });
    await store.close();
  });

  it('the service answers 503 unavailable when the thread is gone, and still shuts down', async () => {
    const server = await startTestServer();
    try {
      const api = client(server.url, server.apiKey);
      expect((await api('GET', '/readyz')).status).toBe(200);
      await (server.store as SqliteThreadStore).thread.terminate();
      const ready = await api('GET', '/readyz');
      expect(ready.status).toBe(503);
      expect(ready.body.error.code).toBe('unavailable');
      const post = await api('POST', '/v1/events', {
        event: 'agent.created',
        data: { agent_id: 'a', agent_name: 'n', user_id: 'u', created_at: '2024-01-15T10:30:00Z' },
      });
      expect(post.status).toBe(503);
      expect(post.body.error.code).toBe('unavailable');
      expect((await api('GET', '/healthz')).status).toBe(200);
    } finally {
      await server.close();
    }
  });
});
