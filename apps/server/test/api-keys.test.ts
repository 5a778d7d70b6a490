// biome-ignore-all lint/suspicious/noExplicitAny: API answers are read loosely in tests.
/**
 * `/v1/api-keys` over real HTTP on both stores: create (the key shown once), list (no key, no
 * hash), revoke (refused at once in this process), expiry, `last_used_at`, validation, tenant
 * isolation, and the admin key's routes. Revocation across two api processes is in
 * `api-keys-processes.test.ts`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Call, client, eventually } from './helpers/client.js';
import { describePostgres } from './helpers/postgres.js';
import { startTestServer, type TestServer } from './helpers/server.js';

function apiKeysSuite(start: () => Promise<TestServer>) {
  let server: TestServer;
  let admin: Call;
  let a: Call;
  let b: Call;
  let accountA: any;

  beforeAll(async () => {
    server = await start();
    admin = client(server.url, server.adminKey);
    accountA = (await admin('POST', '/v1/accounts', { name: 'A' })).body;
    const accountB = (await admin('POST', '/v1/accounts', { name: 'B' })).body;
    a = client(server.url, accountA.api_key);
    b = client(server.url, accountB.api_key);
  });
  afterAll(async () => {
    await server?.close();
  });

  it('creates a key shown once, with its prefix, default scope full; the key works', async () => {
    const res = await a('POST', '/v1/api-keys', { name: 'ci' });
    expect(res.status).toBe(201);
    const key = res.body;
    expect(Object.keys(key).sort()).toEqual(
      [
        'api_key',
        'created_at',
        'expires_at',
        'id',
        'last_used_at',
        'name',
        'prefix',
        'scopes',
      ].sort(),
    );
    expect(key).toMatchObject({
      name: 'ci',
      scopes: ['full'],
      expires_at: null,
      last_used_at: null,
    });
    expect(key.id).toMatch(/^key_[0-9A-Z]{26}$/);
    expect(key.api_key).toMatch(/^afk_[A-Za-z0-9_-]{43}$/);
    expect(key.prefix).toBe(key.api_key.slice(0, 12));
    expect(key.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const withIt = client(server.url, key.api_key);
    expect((await withIt('GET', '/v1/webhooks')).status).toBe(200);

    // Listed without the key or its hash.
    const list = await a('GET', '/v1/api-keys');
    expect(list.status).toBe(200);
    const listed = list.body.data.find((k: any) => k.id === key.id);
    const { api_key: _shownOnce, ...rest } = key;
    expect(listed).toMatchObject({ ...rest, last_used_at: expect.any(String) });
    expect(list.text).not.toContain(key.api_key);
    expect(list.text).not.toContain('hash');
    // The account's first key (made by the admin route) is listed with scope full too.
    expect(list.body.data.map((k: any) => k.scopes)).toEqual([['full'], ['full']]);
  });

  it('records last_used_at when a key is used', async () => {
    const key = (await a('POST', '/v1/api-keys', { name: 'used', scopes: ['read'] })).body;
    const before = Date.now();
    expect((await client(server.url, key.api_key)('GET', '/v1/webhooks')).status).toBe(200);
    const used = await eventually(async () => {
      const list = await a('GET', '/v1/api-keys');
      return list.body.data.find((k: any) => k.id === key.id)?.last_used_at ?? undefined;
    });
    expect(Date.parse(used)).toBeGreaterThanOrEqual(before - 1000);
    await a('DELETE', `/v1/api-keys/${key.id}`);
  });

  it('revokes a key: refused at once, even right after it was used; no longer listed', async () => {
    const key = (await a('POST', '/v1/api-keys', { name: 'leaked' })).body;
    const leaked = client(server.url, key.api_key);
    // Cached now.
    for (let i = 0; i < 3; i++) expect((await leaked('GET', '/v1/webhooks')).status).toBe(200);
    const revoke = await a('DELETE', `/v1/api-keys/${key.id}`);
    expect(revoke.status).toBe(204);
    expect(revoke.text).toBe('');
    const refused = await leaked('GET', '/v1/webhooks');
    expect(refused.status).toBe(401);
    expect(refused.body.error.code).toBe('unauthorized');
    const list = await a('GET', '/v1/api-keys');
    expect(list.body.data.map((k: any) => k.id)).not.toContain(key.id);
    // Twice: nothing to revoke.
    expect((await a('DELETE', `/v1/api-keys/${key.id}`)).status).toBe(404);
  });

  it('a key may revoke itself', async () => {
    const key = (await a('POST', '/v1/api-keys', { name: 'self' })).body;
    const self = client(server.url, key.api_key);
    expect((await self('DELETE', `/v1/api-keys/${key.id}`)).status).toBe(204);
    expect((await self('GET', '/v1/webhooks')).status).toBe(401);
  });

  it('refuses a key from its expiry on', async () => {
    const expiresAt = new Date(Date.now() + 1500).toISOString();
    const res = await a('POST', '/v1/api-keys', {
      name: 'short',
      scopes: ['read'],
      expires_at: expiresAt,
    });
    expect(res.status).toBe(201);
    expect(res.body.expires_at).toBe(expiresAt);
    const short = client(server.url, res.body.api_key);
    expect((await short('GET', '/v1/webhooks')).status).toBe(200);
    await new Promise((r) => setTimeout(r, Date.parse(expiresAt) - Date.now() + 20));
    expect((await short('GET', '/v1/webhooks')).status).toBe(401);
    // Still listed (it is not revoked), with its expiry.
    const list = await a('GET', '/v1/api-keys');
    expect(list.body.data.find((k: any) => k.id === res.body.id)?.expires_at).toBe(expiresAt);
  });

  it('validates the request: name, scopes, expiry, unknown fields', async () => {
    const bad = async (body: unknown, path: string) => {
      const res = await a('POST', '/v1/api-keys', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.code).toBe('validation_error');
      expect(res.body.error.details.map((d: any) => d.path)).toContain(path);
    };
    await bad({}, '/name');
    await bad({ name: '' }, '/name');
    await bad({ name: 'x'.repeat(201) }, '/name');
    await bad({ name: 'x', scopes: [] }, '/scopes');
    await bad({ name: 'x', scopes: ['admin'] }, '/scopes/0');
    await bad({ name: 'x', scopes: ['read', 'read'] }, '/scopes');
    await bad({ name: 'x', scopes: 'read' }, '/scopes');
    await bad({ name: 'x', expires_at: 'tomorrow' }, '/expires_at');
    await bad({ name: 'x', expires_at: new Date(Date.now() - 1000).toISOString() }, '/expires_at');
    await bad({ name: 'x', api_key: 'afk_mine' }, '/api_key');
    const json = await a('POST', '/v1/api-keys', '{"name":', {});
    expect(json.status).toBe(400);
    expect(json.body.error.code).toBe('invalid_json');
  });

  it('keeps accounts apart: another account neither lists nor revokes the key', async () => {
    const key = (await a('POST', '/v1/api-keys', { name: 'mine' })).body;
    const listB = await b('GET', '/v1/api-keys');
    expect(listB.body.data.map((k: any) => k.id)).not.toContain(key.id);
    expect((await b('DELETE', `/v1/api-keys/${key.id}`)).status).toBe(404);
    expect((await client(server.url, key.api_key)('GET', '/v1/webhooks')).status).toBe(200);
    expect((await b('DELETE', '/v1/api-keys/not-an-id')).status).toBe(404);
  });

  it('pages the list with cursors this list issued', async () => {
    const page1 = await a('GET', '/v1/api-keys?limit=1');
    expect(page1.body.data).toHaveLength(1);
    expect(page1.body.next_cursor).toEqual(expect.any(String));
    const page2 = await a('GET', `/v1/api-keys?limit=1&cursor=${page1.body.next_cursor}`);
    expect(page2.status).toBe(200);
    expect(page2.body.data[0].id < page1.body.data[0].id).toBe(true);
    // Another account's cursor, or garbage, is a 400.
    expect((await b('GET', `/v1/api-keys?cursor=${page1.body.next_cursor}`)).status).toBe(400);
    expect((await a('GET', '/v1/api-keys?limit=0')).status).toBe(400);
  });

  it('an account holds at most 100 unrevoked keys: 422 limit_exceeded, room again after a revoke', async () => {
    const c = client(server.url, (await admin('POST', '/v1/accounts', { name: 'C' })).body.api_key);
    let last: any;
    for (let i = 1; i < 100; i++) {
      last = await c('POST', '/v1/api-keys', { name: `k${i}` });
      expect(last.status).toBe(201);
    }
    const refused = await c('POST', '/v1/api-keys', { name: 'one too many' });
    expect(refused.status).toBe(422);
    expect(refused.body.error.code).toBe('limit_exceeded');
    expect((await c('DELETE', `/v1/api-keys/${last.body.id}`)).status).toBe(204);
    expect((await c('POST', '/v1/api-keys', { name: 'again' })).status).toBe(201);
  });

  it('the admin key gets 403 on the account keys routes, and keeps its own routes', async () => {
    const res = await admin('GET', '/v1/api-keys');
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('forbidden');
    expect((await admin('POST', '/v1/api-keys', { name: 'x' })).status).toBe(403);
    const made = await admin('POST', `/v1/accounts/${accountA.id}/api-keys`);
    expect(made.status).toBe(201);
    expect((await client(server.url, made.body.api_key)('GET', '/v1/webhooks')).status).toBe(200);
    expect((await a('POST', `/v1/accounts/${accountA.id}/api-keys`)).status).toBe(403);
  });
}

describe('API keys on SQLite', () => {
  apiKeysSuite(() => startTestServer());
});

await describePostgres('API keys on PostgreSQL', (pg) => {
  apiKeysSuite(() =>
    startTestServer(
      {
        DATABASE_URL: pg.url,
        AF_ADMIN_KEY: 'afk_admin_keys_0123456789abcdef',
        AF_ENCRYPTION_KEY: Buffer.alloc(32, 6).toString('base64'),
      },
      { databaseSchema: pg.freshSchema() },
    ),
  );
});
