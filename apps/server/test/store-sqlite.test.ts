import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { createSqliteStore } from '../src/store/sqlite/index.js';
import { migrate } from '../src/store/sqlite/migrate.js';
import { loadMigrations } from '../src/store/sqlite/migrations.js';
import { webhookRow } from './helpers/rows.js';
import { storeContract } from './store-contract.js';
import { healthContract } from './store-contract-health.js';
import { retentionContract } from './store-contract-retention.js';

const dir = mkdtempSync(join(tmpdir(), 'af-store-'));
let n = 0;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

storeContract('sqlite', () => createSqliteStore({ path: join(dir, `store-${n++}.db`) }));
healthContract('sqlite', () => createSqliteStore({ path: join(dir, `store-${n++}.db`) }));
retentionContract('sqlite', () => createSqliteStore({ path: join(dir, `store-${n++}.db`) }));

describe('sqlite specifics', () => {
  it('reopening the file releases leases left by a killed process', async () => {
    const path = join(dir, 'reopen.db');
    const a = createSqliteStore({ path });
    await a.migrate();
    await a.createAccount({ id: 'acct_1', name: 'x', createdAt: 0 });
    await a.createWebhook(
      webhookRow({
        id: 'wh_1',
        accountId: 'acct_1',
        url: 'http://127.0.0.1:1/',
        secretEnc: 's',
        createdAt: 0,
      }),
    );
    await a.insertEvents(
      'acct_1',
      [{ id: 'evt_1', event: 'agent.created', timestamp: 0, body: '{}' }],
      0,
    );
    const claim = { now: 0, limit: 10, owner: 'dead', leaseMs: 3_600_000, webhookLeases: 10 };
    expect(await a.claimDue(claim)).toHaveLength(1);
    await a.close(); // the process "dies" holding the lease
    const b = createSqliteStore({ path });
    await b.migrate();
    expect(await b.claimDue({ ...claim, owner: 'next', now: 1 })).toHaveLength(1);
    await b.close();
  });

  it('keys made before scopes existed get scope full and the name default', async () => {
    const path = join(dir, 'old-keys.db');
    const db = new Database(path);
    migrate(db, loadMigrations().slice(0, 5));
    db.prepare('INSERT INTO accounts (id, name, created_at) VALUES (?, ?, ?)').run(
      'acct_1',
      'x',
      0,
    );
    db.prepare(
      'INSERT INTO api_keys (id, account_id, key_hash, prefix, created_at) VALUES (?, ?, ?, ?, ?)',
    ).run('key_1', 'acct_1', 'f'.repeat(64), 'afk_old', 0);
    db.close();
    const store = createSqliteStore({ path });
    await store.migrate();
    try {
      expect(await store.findApiKeyByHash('f'.repeat(64))).toEqual({
        id: 'key_1',
        accountId: 'acct_1',
        keyHash: 'f'.repeat(64),
        prefix: 'afk_old',
        name: 'default',
        scopes: ['full'],
        createdAt: 0,
        expiresAt: null,
        lastUsedAt: null,
        revokedAt: null,
      });
    } finally {
      await store.close();
    }
  });

  it('records applied migrations and survives a second migrate from another handle', async () => {
    const path = join(dir, 'migrate.db');
    const a = createSqliteStore({ path });
    const b = createSqliteStore({ path });
    await Promise.all([a.migrate(), b.migrate()]);
    await a.ping();
    await a.close();
    await b.close();
    // Each migration recorded once, in order, and the schema is the newest one.
    const db = new Database(path, { readonly: true });
    try {
      const rows = db.prepare('SELECT version, name FROM schema_migrations ORDER BY version').all();
      // The versions and names released: a database migrated before sees nothing new to apply.
      expect(rows).toEqual([
        { version: 1, name: 'initial schema' },
        { version: 2, name: 'covering indexes for stats and webhook log filters' },
        { version: 3, name: 'response bodies of any bytes' },
        { version: 4, name: 'listen secret' },
        { version: 5, name: 'listen sessions' },
        { version: 6, name: 'api key scopes and audit log' },
        { version: 7, name: 'webhook health' },
        { version: 8, name: 'fewer delivery indexes' },
      ]);
      expect(rows).toEqual(loadMigrations().map((m) => ({ version: m.version, name: m.name })));
      const columns = db.prepare('SELECT name FROM pragma_table_info(?)').all('attempts');
      expect(columns).toContainEqual({ name: 'response_body_encoding' });
      const accountColumns = db.prepare('SELECT name FROM pragma_table_info(?)').all('accounts');
      expect(accountColumns).toContainEqual({ name: 'listen_secret_enc' });
      const webhookColumns = db.prepare('SELECT name FROM pragma_table_info(?)').all('webhooks');
      expect(webhookColumns).toContainEqual({ name: 'listen_seen_at' });
      const deliveryColumns = db.prepare('SELECT name FROM pragma_table_info(?)').all('deliveries');
      expect(deliveryColumns).toContainEqual({ name: 'listen' });
      const keyColumns = db.prepare('SELECT name FROM pragma_table_info(?)').all('api_keys');
      expect(keyColumns).toContainEqual({ name: 'scopes' });
    } finally {
      db.close();
    }
  });
});
