// biome-ignore-all lint/suspicious/noExplicitAny: API answers are read loosely in tests.
/**
 * The audit log over real HTTP on both stores: one entry per configuration change, with the
 * acting key, the time and what changed; never a secret value (webhook secrets, custom header
 * values, API keys); filters, cursor pages, tenant isolation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Call, client } from './helpers/client.js';
import { describePostgres } from './helpers/postgres.js';
import { startTestServer, type TestServer } from './helpers/server.js';

function auditSuite(start: () => Promise<TestServer>) {
  let server: TestServer;
  let admin: Call;
  let a: Call;
  let b: Call;
  let keyA: string;
  let keyIdA: string;
  const secrets: string[] = [];

  beforeAll(async () => {
    server = await start();
    admin = client(server.url, server.adminKey);
    const accountA = (await admin('POST', '/v1/accounts', { name: 'A' })).body;
    const accountB = (await admin('POST', '/v1/accounts', { name: 'B' })).body;
    keyA = accountA.api_key;
    a = client(server.url, keyA);
    b = client(server.url, accountB.api_key);
    keyIdA = (await a('GET', '/v1/api-keys')).body.data[0].id;
  });
  afterAll(async () => {
    await server?.close();
  });

  async function entries(query = ''): Promise<any[]> {
    const res = await a('GET', `/v1/audit-log${query}`);
    expect(res.status, res.text).toBe(200);
    return res.body.data;
  }

  it('records every configuration change with the actor, the time and what changed', async () => {
    const started = Date.now();
    const created = await a('POST', '/v1/webhooks', {
      name: 'orders',
      url: 'http://127.0.0.1:9/hook',
      events: ['agent.created'],
      headers: { Authorization: 'Bearer header-secret-value' },
      metadata: { team: 'core' },
    });
    expect(created.status).toBe(201);
    const id = created.body.id;
    secrets.push(created.body.secret, 'header-secret-value');
    expect(
      (await a('PATCH', `/v1/webhooks/${id}`, { name: 'orders-2', events: ['agent.*'] })).status,
    ).toBe(200);
    expect((await a('PATCH', `/v1/webhooks/${id}`, { active: false })).status).toBe(200);
    expect(
      (await a('PATCH', `/v1/webhooks/${id}`, { active: true, url: 'http://127.0.0.1:9/v2' }))
        .status,
    ).toBe(200);
    expect(
      (await a('PATCH', `/v1/webhooks/${id}`, { headers: { 'X-Token': 'second-secret' } })).status,
    ).toBe(200);
    secrets.push('second-secret');
    const revealed = await a('GET', `/v1/webhooks/${id}/secret`);
    expect(revealed.status).toBe(200);
    const rotated = await a('POST', `/v1/webhooks/${id}/secret/rotate`, {
      grace_period_seconds: 60,
    });
    expect(rotated.status).toBe(200);
    secrets.push(rotated.body.secret);
    const recover = await a('POST', `/v1/webhooks/${id}/recover`, {
      since: '2024-01-01T00:00:00.000Z',
    });
    expect(recover.status).toBe(202);
    const key = await a('POST', '/v1/api-keys', { name: 'ci', scopes: ['read'] });
    secrets.push(key.body.api_key);
    expect((await a('DELETE', `/v1/api-keys/${key.body.id}`)).status).toBe(204);
    const listen = await a('GET', '/v1/listen/secret');
    const listenRotated = await a('POST', '/v1/listen/secret/rotate', {});
    secrets.push(listen.body.secret, listenRotated.body.secret);
    expect((await a('DELETE', `/v1/webhooks/${id}`)).status).toBe(204);
    // Reads change nothing and are not recorded.
    await a('GET', '/v1/webhooks');
    await a('GET', `/v1/events`);

    const log = (await entries()).reverse();
    const summary = log.map((e) => [e.action, e.target_id]);
    expect(summary).toEqual([
      // The admin key made A's first key (actor null), when the account was created: not an
      // account route. Keys the admin adds later are recorded; see below.
      ['webhook.created', id],
      ['webhook.updated', id],
      ['webhook.disabled', id],
      ['webhook.updated', id],
      ['webhook.enabled', id],
      ['webhook.updated', id],
      ['webhook.secret_revealed', id],
      ['webhook.secret_rotated', id],
      ['webhook.recover', id],
      ['api_key.created', key.body.id],
      ['api_key.revoked', key.body.id],
      ['listen_secret.revealed', null],
      ['listen_secret.rotated', null],
      ['webhook.deleted', id],
    ]);
    for (const e of log) {
      expect(e.actor_key_id).toBe(keyIdA);
      expect(e.id).toMatch(/^aud_[0-9A-Z]{26}$/);
      expect(Date.parse(e.created_at)).toBeGreaterThanOrEqual(started - 1000);
    }
    expect(log[0].changes).toEqual({
      name: 'orders',
      url: 'http://127.0.0.1:9/hook',
      events: ['agent.created'],
      active: true,
      description: null,
      header_names: ['Authorization'],
      metadata: { team: 'core' },
    });
    expect(log[1].changes).toEqual({
      name: { from: 'orders', to: 'orders-2' },
      events: { from: ['agent.created'], to: ['agent.*'] },
    });
    expect(log[2].changes).toEqual({ active: { from: true, to: false } });
    expect(log[3].changes).toEqual({
      url: { from: 'http://127.0.0.1:9/hook', to: 'http://127.0.0.1:9/v2' },
    });
    expect(log[4].changes).toEqual({ active: { from: false, to: true } });
    expect(log[5].changes).toEqual({
      header_names: { from: ['Authorization'], to: ['X-Token'] },
    });
    expect(log[7].changes).toMatchObject({ secret: 'generated', grace_period_seconds: 60 });
    expect(log[8].changes).toEqual({
      since: '2024-01-01T00:00:00.000Z',
      until: expect.any(String),
      deliveries: 0,
    });
    expect(log[13].changes).toEqual({ name: 'orders-2', url: 'http://127.0.0.1:9/v2' });
    expect(log[9].changes).toEqual({
      name: 'ci',
      prefix: key.body.prefix,
      scopes: ['read'],
      expires_at: null,
    });
  });

  it('never holds a secret value', async () => {
    const res = await a('GET', '/v1/audit-log?limit=250');
    expect(secrets.length).toBeGreaterThan(5);
    for (const s of secrets) expect(res.text).not.toContain(s);
    expect(res.text).not.toContain(keyA);
  });

  it('records the keys the admin key makes for an account, with a null actor', async () => {
    const accountC = (await admin('POST', '/v1/accounts', { name: 'C' })).body;
    const made = await admin('POST', `/v1/accounts/${accountC.id}/api-keys`);
    const c = client(server.url, accountC.api_key);
    const log = (await c('GET', '/v1/audit-log')).body.data;
    expect(log).toEqual([
      expect.objectContaining({
        action: 'api_key.created',
        target_id: made.body.id,
        actor_key_id: null,
      }),
    ]);
    expect(JSON.stringify(log)).not.toContain(made.body.api_key);
  });

  it('filters by action, target and time; pages with cursors; keeps accounts apart', async () => {
    const all = await entries('?limit=250');
    const updated = await entries('?action=webhook.updated');
    expect(updated.map((e) => e.id)).toEqual(
      all.filter((e) => e.action === 'webhook.updated').map((e) => e.id),
    );
    expect(updated).toHaveLength(3);
    const keyEntries = all.filter((e) => e.action.startsWith('api_key.'));
    const target = keyEntries[0].target_id;
    expect((await entries(`?target_id=${target}`)).map((e) => e.action)).toEqual([
      'api_key.revoked',
      'api_key.created',
    ]);
    const middle = all[Math.floor(all.length / 2)];
    const since = await entries(`?since=${middle.created_at}&limit=250`);
    expect(since.every((e) => e.created_at >= middle.created_at)).toBe(true);
    expect(since.map((e) => e.id)).toContain(middle.id);
    const until = await entries(`?until=${middle.created_at}&limit=250`);
    expect(until.every((e) => e.created_at <= middle.created_at)).toBe(true);
    expect((await entries('?since=2099-01-01T00:00:00.000Z')).length).toBe(0);

    const ids: string[] = [];
    let cursor: string | null = null;
    do {
      const page: any = await a('GET', `/v1/audit-log?limit=4${cursor ? `&cursor=${cursor}` : ''}`);
      ids.push(...page.body.data.map((e: any) => e.id));
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(ids).toEqual(all.map((e) => e.id));

    const other = await b('GET', '/v1/audit-log');
    expect(other.body.data).toEqual([]);
    const first = await a('GET', '/v1/audit-log?limit=1');
    const foreign = await b('GET', `/v1/audit-log?cursor=${first.body.next_cursor}`);
    expect(foreign.status).toBe(400);
    expect(foreign.body.error.code).toBe('validation_error');
  });

  it('validates the query', async () => {
    for (const q of ['?limit=0', '?limit=251', '?since=yesterday', '?cursor=aud_x', '?other=1']) {
      const res = await a('GET', `/v1/audit-log${q}`);
      if (q === '?other=1') {
        // Unknown query parameters are ignored, as on the other lists.
        expect(res.status).toBe(200);
        continue;
      }
      expect(res.status, q).toBe(400);
      expect(res.body.error.code).toBe('validation_error');
    }
    expect((await admin('GET', '/v1/audit-log')).status).toBe(403);
  });
}

describe('audit log on SQLite', () => {
  auditSuite(() => startTestServer());
});

await describePostgres('audit log on PostgreSQL', (pg) => {
  auditSuite(() =>
    startTestServer(
      {
        DATABASE_URL: pg.url,
        AF_ADMIN_KEY: 'afk_admin_audit_0123456789abcdef',
        AF_ENCRYPTION_KEY: Buffer.alloc(32, 9).toString('base64'),
        AF_ALLOW_PRIVATE_NETWORKS: 'true',
      },
      { databaseSchema: pg.freshSchema() },
    ),
  );
});
