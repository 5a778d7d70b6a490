// biome-ignore-all lint/suspicious/noExplicitAny: API answers are read loosely in tests.
/**
 * The HTTP API against a real in-process service (SQLite file in a temp dir, port 0): every
 * validation rule and its code, every route's status, lists, cursors and filters.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventCatalog, eventNames, eventSamples, isOperationalEvent } from '@agentfactory/webhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Call, client } from './helpers/client.js';
import { startTestServer, type TestServer } from './helpers/server.js';

let server: TestServer;
let call: Call;
let admin: Call;
let anon: Call;

const sample = eventSamples['agent.created'];
const hook = (over: Record<string, unknown> = {}) => ({
  name: 'Receiver',
  url: 'http://127.0.0.1:9/webhooks',
  events: ['*'],
  ...over,
});

beforeAll(async () => {
  server = await startTestServer();
  call = client(server.url, server.apiKey);
  admin = client(server.url, server.adminKey);
  anon = client(server.url);
});
afterAll(async () => {
  await server?.close();
});

function expectError(res: { status: number; body: any }, status: number, code: string) {
  expect({ status: res.status, code: res.body?.error?.code }).toEqual({ status, code });
  expect(typeof res.body.error.message).toBe('string');
}

describe('authentication', () => {
  it('401 without a key or with a wrong one', async () => {
    expectError(await anon('GET', '/v1/webhooks'), 401, 'unauthorized');
    expectError(await client(server.url, 'afk_nope')('GET', '/v1/webhooks'), 401, 'unauthorized');
    expectError(
      await anon('GET', '/v1/webhooks', undefined, { authorization: 'Basic abc' }),
      401,
      'unauthorized',
    );
  });
  it('403 for account keys on admin routes, and for the admin key on account routes', async () => {
    expectError(await call('POST', '/v1/accounts', { name: 'x' }), 403, 'forbidden');
    expectError(await call('POST', `/v1/accounts/${server.accountId}/api-keys`), 403, 'forbidden');
    expectError(await admin('GET', '/v1/webhooks'), 403, 'forbidden');
  });
  it('every account and admin route answers 401 without a key', async () => {
    const id = '01HMB7ZK2C8D9E0F1G2H3J4K5M';
    const routes: [string, string][] = [
      ['POST', '/v1/webhooks'],
      ['GET', '/v1/webhooks'],
      ['GET', `/v1/webhooks/wh_${id}`],
      ['PATCH', `/v1/webhooks/wh_${id}`],
      ['DELETE', `/v1/webhooks/wh_${id}`],
      ['GET', `/v1/webhooks/wh_${id}/secret`],
      ['POST', `/v1/webhooks/wh_${id}/secret/rotate`],
      ['POST', `/v1/webhooks/wh_${id}/test`],
      ['POST', `/v1/webhooks/wh_${id}/recover`],
      ['GET', `/v1/webhooks/wh_${id}/stats`],
      ['POST', '/v1/events'],
      ['POST', '/v1/events/batch'],
      ['GET', '/v1/events'],
      ['GET', `/v1/events/evt_${id}`],
      ['GET', '/v1/deliveries'],
      ['GET', `/v1/deliveries/dlv_${id}`],
      ['POST', `/v1/deliveries/dlv_${id}/retry`],
      ['GET', '/v1/listen/secret'],
      ['POST', '/v1/listen/secret/rotate'],
      ['POST', '/v1/accounts'],
      ['POST', `/v1/accounts/acct_${id}/api-keys`],
    ];
    for (const [method, path] of routes) {
      const res = await anon(
        method,
        path,
        method === 'GET' || method === 'DELETE' ? undefined : {},
      );
      expect({
        route: `${method} ${path}`,
        status: res.status,
        code: res.body?.error?.code,
      }).toEqual({
        route: `${method} ${path}`,
        status: 401,
        code: 'unauthorized',
      });
    }
  });

  it('public routes need no key', async () => {
    for (const path of ['/healthz', '/readyz', '/metrics', '/openapi.json', '/v1/event-types']) {
      expect((await anon('GET', path)).status, path).toBe(200);
    }
  });
});

describe('accounts', () => {
  it('creates an account with a key that works, and more keys', async () => {
    const res = await admin('POST', '/v1/accounts', { name: 'Acme' });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      id: expect.stringMatching(/^acct_[0-9A-Z]{26}$/),
      name: 'Acme',
      api_key: expect.stringMatching(/^afk_/),
    });
    expect((await client(server.url, res.body.api_key)('GET', '/v1/webhooks')).status).toBe(200);
    const key = await admin('POST', `/v1/accounts/${res.body.id}/api-keys`);
    expect(key.status).toBe(201);
    expect(key.body).toEqual({
      id: expect.stringMatching(/^key_/),
      api_key: expect.stringMatching(/^afk_/),
    });
    expect((await client(server.url, key.body.api_key)('GET', '/v1/webhooks')).status).toBe(200);
  });
  it('validates and 404s', async () => {
    expectError(await admin('POST', '/v1/accounts', {}), 400, 'validation_error');
    expectError(await admin('POST', '/v1/accounts', { name: '' }), 400, 'validation_error');
    expectError(
      await admin('POST', '/v1/accounts/acct_01HMB7ZK2C8D9E0F1G2H3J4K5M/api-keys'),
      404,
      'not_found',
    );
    expectError(await admin('POST', '/v1/accounts/nonsense/api-keys'), 404, 'not_found');
  });
});

describe('webhooks: create and validation', () => {
  it('creates with a generated secret and answers every field', async () => {
    const res = await call(
      'POST',
      '/v1/webhooks',
      hook({ description: 'd', metadata: { team: 'a' } }),
    );
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      id: expect.stringMatching(/^wh_/),
      name: 'Receiver',
      url: 'http://127.0.0.1:9/webhooks',
      events: ['*'],
      active: true,
      disabled_reason: null,
      description: 'd',
      headers: {},
      metadata: { team: 'a' },
      created_at: expect.stringMatching(/Z$/),
      updated_at: expect.stringMatching(/Z$/),
      last_delivery_at: null,
      last_delivery_status: null,
      health: {
        state: 'healthy',
        failing_since: null,
        consecutive_failures: 0,
        last_success_at: null,
        last_failure_at: null,
        certificate_expires_at: null,
      },
      secret: expect.stringMatching(/^whsec_[A-Za-z0-9+/]{43}=$/),
    });
    const read = await call('GET', `/v1/webhooks/${res.body.id}`);
    expect(read.body.secret).toBeUndefined();
  });

  it('accepts an own secret, wildcards, inactive, masked headers', async () => {
    const res = await call(
      'POST',
      '/v1/webhooks',
      hook({
        events: ['agent.*', 'conversation.ended'],
        secret: 'my-own-secret-12345',
        active: false,
        headers: { 'X-Tenant': 'acme-secret-value' },
      }),
    );
    expect(res.status).toBe(201);
    expect(res.body.secret).toBe('my-own-secret-12345');
    expect(res.body.active).toBe(false);
    expect(res.body.disabled_reason).toBe('manual');
    expect(res.body.headers).toEqual({ 'X-Tenant': '••••' });
    expect(res.text).not.toContain('acme-secret-value');
  });

  it.each([
    ['missing name', { name: undefined }, 400, 'validation_error', '/name'],
    ['missing url', { url: undefined }, 400, 'validation_error', '/url'],
    ['missing events', { events: undefined }, 400, 'validation_error', '/events'],
    ['empty events', { events: [] }, 400, 'validation_error', '/events'],
    ['not a URL', { url: 'not a url' }, 400, 'validation_error', '/url'],
    ['ftp URL', { url: 'ftp://example.com/x' }, 400, 'validation_error', '/url'],
    ['unknown event', { events: ['agent.exploded'] }, 422, 'unknown_event_type', '/events/0'],
    ['unknown category', { events: ['robot.*'] }, 422, 'unknown_event_type', '/events/0'],
    ['webhook.test', { events: ['webhook.test'] }, 422, 'unknown_event_type', '/events/0'],
    ['short secret', { secret: 'short' }, 400, 'validation_error', '/secret'],
    ['secret with space', { secret: 'has space 0123456789' }, 400, 'validation_error', '/secret'],
    ['bad whsec', { secret: 'whsec_!!!!!!!!!!!!!!!!!!!!' }, 400, 'validation_error', '/secret'],
    [
      'reserved header',
      { headers: { 'Content-Type': 'x' } },
      400,
      'validation_error',
      '/headers/Content-Type',
    ],
    [
      'our header',
      { headers: { 'X-AgentFactory-Event': 'x' } },
      400,
      'validation_error',
      '/headers/X-AgentFactory-Event',
    ],
    [
      'webhook- header',
      { headers: { 'webhook-id': 'x' } },
      400,
      'validation_error',
      '/headers/webhook-id',
    ],
    ['host header', { headers: { Host: 'x' } }, 400, 'validation_error', '/headers/Host'],
    [
      'bad header name',
      { headers: { 'Bad Name': 'x' } },
      400,
      'validation_error',
      '/headers/Bad Name',
    ],
    [
      'CRLF in value',
      { headers: { 'X-A': 'a\r\nX-Evil: 1' } },
      400,
      'validation_error',
      '/headers/X-A',
    ],
    ['non-string header', { headers: { 'X-A': 1 } }, 400, 'validation_error', '/headers/X-A'],
    ['non-string metadata', { metadata: { a: 1 } }, 400, 'validation_error', '/metadata/a'],
    ['unknown field', { colour: 'red' }, 400, 'validation_error', '/colour'],
    ['active not boolean', { active: 'yes' }, 400, 'validation_error', '/active'],
  ])('%s → %s %s', async (_name, over, status, code, path) => {
    const body = hook(over);
    for (const [k, v] of Object.entries(over)) if (v === undefined) delete (body as any)[k];
    const res = await call('POST', '/v1/webhooks', body);
    expectError(res, status, code);
    expect(res.body.error.details.map((d: any) => d.path)).toContain(path);
  });

  it('says which secret rule failed', async () => {
    const res = await call(
      'POST',
      '/v1/webhooks',
      hook({ secret: `whsec_${Buffer.alloc(8).toString('base64')}` }),
    );
    expect(res.body.error.message).toMatch(/24 to 64 bytes/);
  });

  it('invalid JSON → 400 invalid_json; non-object body → 400', async () => {
    expectError(await call('POST', '/v1/webhooks', '{"name":'), 400, 'invalid_json');
    expectError(await call('POST', '/v1/webhooks', '[]'), 400, 'validation_error');
  });

  it('refuses literal private addresses when private networks are disallowed', async () => {
    const strict = await startTestServer({ AF_ALLOW_PRIVATE_NETWORKS: 'false' });
    try {
      const c = client(strict.url, strict.apiKey);
      for (const url of [
        'http://127.0.0.1/x',
        'http://10.0.0.1/x',
        'http://[::1]/x',
        'http://169.254.169.254/latest',
        'http://0x7f000001/x',
      ]) {
        expectError(await c('POST', '/v1/webhooks', hook({ url })), 400, 'url_not_allowed');
      }
      expect(
        (await c('POST', '/v1/webhooks', hook({ url: 'https://example.com/hook' }))).status,
      ).toBe(201);
    } finally {
      await strict.close();
    }
  });

  it('refuses http:// in production', async () => {
    const prod = await startTestServer({
      AF_ENV: 'production',
      AF_ADMIN_KEY: 'admin-key-for-tests-0123',
      AF_ENCRYPTION_KEY: Buffer.alloc(32, 3).toString('base64'),
    });
    try {
      const c = client(prod.url, prod.apiKey);
      expectError(
        await c('POST', '/v1/webhooks', hook({ url: 'http://example.com/x' })),
        400,
        'url_not_allowed',
      );
      expect((await c('POST', '/v1/webhooks', hook({ url: 'https://example.com/x' }))).status).toBe(
        201,
      );
    } finally {
      await prod.close();
    }
  });
});

describe('webhooks: read, update, delete, secret', () => {
  it('PATCH changes fields, toggles active, refuses secret; DELETE 204 then 404', async () => {
    const { body: wh } = await call('POST', '/v1/webhooks', hook({ headers: { 'X-A': '1' } }));
    const p = await call('PATCH', `/v1/webhooks/${wh.id}`, {
      name: 'Renamed',
      events: ['usage.*'],
      description: null,
      metadata: { k: 'v' },
      headers: { 'X-B': '2' },
    });
    expect(p.status).toBe(200);
    expect(p.body).toMatchObject({
      name: 'Renamed',
      events: ['usage.*'],
      metadata: { k: 'v' },
      headers: { 'X-B': '••••' },
    });
    expect((await call('PATCH', `/v1/webhooks/${wh.id}`, { active: false })).body).toMatchObject({
      active: false,
      disabled_reason: 'manual',
    });
    expect((await call('PATCH', `/v1/webhooks/${wh.id}`, { active: true })).body).toMatchObject({
      active: true,
      disabled_reason: null,
    });
    expectError(
      await call('PATCH', `/v1/webhooks/${wh.id}`, { secret: 'my-own-secret-12345' }),
      400,
      'validation_error',
    );
    expectError(
      await call('PATCH', `/v1/webhooks/${wh.id}`, { url: 'gopher://x' }),
      400,
      'validation_error',
    );
    expectError(
      await call('PATCH', `/v1/webhooks/${wh.id}`, { events: ['nope'] }),
      422,
      'unknown_event_type',
    );
    expect((await call('DELETE', `/v1/webhooks/${wh.id}`)).status).toBe(204);
    expectError(await call('GET', `/v1/webhooks/${wh.id}`), 404, 'not_found');
    expectError(await call('DELETE', `/v1/webhooks/${wh.id}`), 404, 'not_found');
    expectError(await call('PATCH', '/v1/webhooks/wh_nonsense', { name: 'x' }), 404, 'not_found');
    // A client that sends `Content-Type: application/json` on every request, DELETE included.
    const { body: other } = await call('POST', '/v1/webhooks', hook());
    const res = await fetch(`${server.url}/v1/webhooks/${other.id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' },
    });
    expect(res.status).toBe(204);
  });

  it('reveals and rotates the secret with a grace period', async () => {
    const { body: wh } = await call('POST', '/v1/webhooks', hook());
    const s = await call('GET', `/v1/webhooks/${wh.id}/secret`);
    expect(s.body).toEqual({ secret: wh.secret, previous_secret_expires_at: null });
    const r = await call('POST', `/v1/webhooks/${wh.id}/secret/rotate`, {
      grace_period_seconds: 3600,
    });
    expect(r.status).toBe(200);
    expect(r.body.secret).toMatch(/^whsec_/);
    expect(r.body.secret).not.toBe(wh.secret);
    const expires = Date.parse(r.body.previous_secret_expires_at);
    expect(expires - Date.now()).toBeGreaterThan(3500_000);
    expect((await call('GET', `/v1/webhooks/${wh.id}/secret`)).body).toEqual(r.body);
    const own = await call('POST', `/v1/webhooks/${wh.id}/secret/rotate`, {
      secret: 'another-own-secret-1',
      grace_period_seconds: 0,
    });
    expect(own.body).toEqual({ secret: 'another-own-secret-1', previous_secret_expires_at: null });
    const dflt = await call('POST', `/v1/webhooks/${wh.id}/secret/rotate`);
    expect(Date.parse(dflt.body.previous_secret_expires_at) - Date.now()).toBeGreaterThan(
      86_000_000,
    );
    expectError(
      await call('POST', `/v1/webhooks/${wh.id}/secret/rotate`, { grace_period_seconds: 604801 }),
      400,
      'validation_error',
    );
    expectError(
      await call('POST', `/v1/webhooks/${wh.id}/secret/rotate`, { secret: 'short' }),
      400,
      'validation_error',
    );
  });
});

describe('lists', () => {
  it('limit 1–250 (else 400), cursor pages newest first', async () => {
    const c = client(
      server.url,
      (await admin('POST', '/v1/accounts', { name: 'Lists' })).body.api_key,
    );
    const ids: string[] = [];
    for (let i = 0; i < 5; i++)
      ids.push((await c('POST', '/v1/webhooks', hook({ name: `w${i}` }))).body.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let pages = 0; pages < 10; pages++) {
      const res: any = await c('GET', `/v1/webhooks?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      seen.push(...res.body.data.map((w: any) => w.id));
      cursor = res.body.next_cursor;
      if (!cursor) break;
    }
    expect(seen).toEqual([...ids].reverse());
    for (const limit of ['0', '251', 'abc', '-1', '1.5']) {
      expectError(await c('GET', `/v1/webhooks?limit=${limit}`), 400, 'validation_error');
      expectError(await c('GET', `/v1/events?limit=${limit}`), 400, 'validation_error');
      expectError(await c('GET', `/v1/deliveries?limit=${limit}`), 400, 'validation_error');
    }
    expect((await c('GET', '/v1/webhooks?limit=250')).status).toBe(200);
  });
});

describe('events', () => {
  it('accepts an event (202) with the envelope fields and fans out', async () => {
    const c = client(
      server.url,
      (await admin('POST', '/v1/accounts', { name: 'Events' })).body.api_key,
    );
    const { body: wh } = await c(
      'POST',
      '/v1/webhooks',
      hook({ events: ['agent.*'], active: true }),
    );
    await c('PATCH', `/v1/webhooks/${wh.id}`, { active: false });
    const { body: wh2 } = await c('POST', '/v1/webhooks', hook({ events: ['agent.created'] }));
    await c('POST', '/v1/webhooks', hook({ events: ['usage.*'] }));
    const res = await c('POST', '/v1/events', { event: 'agent.created', data: sample });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({
      id: expect.stringMatching(/^evt_/),
      event: 'agent.created',
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/),
      data: sample,
      deliveries: 1,
    });
    const got = await c('GET', `/v1/events/${res.body.id}`);
    expect(got.body).toMatchObject({
      id: res.body.id,
      deliveries: 1,
      delivery_ids: [expect.stringMatching(/^dlv_/)],
    });
    const dl = await c('GET', `/v1/deliveries?event_id=${res.body.id}`);
    expect(dl.body.data.map((d: any) => d.webhook_id)).toEqual([wh2.id]);
  });

  it('every catalog event but webhook.test and the operational ones is accepted with its sample', async () => {
    for (const name of eventNames) {
      const res = await call('POST', '/v1/events', { event: name, data: eventSamples[name] });
      if (name === 'webhook.test' || isOperationalEvent(name)) {
        expectError(res, 422, 'unknown_event_type');
        expect(res.body.error.details[0].path, name).toBe('/event');
      } else {
        expect(res.status, name).toBe(202);
        expect(res.body.data, name).toEqual(eventSamples[name]);
      }
    }
  });

  it('422 unknown_event_type and schema_violation with /data paths', async () => {
    const unknown = await call('POST', '/v1/events', { event: 'agent.exploded', data: {} });
    expectError(unknown, 422, 'unknown_event_type');
    expect(unknown.body.error.details[0].path).toBe('/event');
    const bad = await call('POST', '/v1/events', {
      event: 'agent.created',
      data: { ...sample, agent_id: 42, created_at: 'yesterday', user_id: undefined },
    });
    expectError(bad, 422, 'schema_violation');
    const paths = bad.body.error.details.map((d: any) => d.path).sort();
    expect(paths).toEqual(['/data/agent_id', '/data/created_at', '/data/user_id']);
    expectError(
      await call('POST', '/v1/events', { event: 'agent.created' }),
      400,
      'validation_error',
    );
    expectError(
      await call('POST', '/v1/events', { event: 'agent.created', data: [] }),
      400,
      'validation_error',
    );
    expectError(await call('POST', '/v1/events', '{oops'), 400, 'invalid_json');
  });

  it('extra fields in data are allowed', async () => {
    const res = await call('POST', '/v1/events', {
      event: 'agent.created',
      data: { ...sample, extra: { a: 1 } },
    });
    expect(res.status).toBe(202);
    expect(res.body.data.extra).toEqual({ a: 1 });
  });

  it('413 when the serialized data exceeds AF_MAX_PAYLOAD', async () => {
    const big = { ...sample, padding: 'x'.repeat(300 * 1024) };
    const res = await call('POST', '/v1/events', { event: 'agent.created', data: big });
    expectError(res, 413, 'payload_too_large');
  });

  it('the admin key posts for an account with account_id', async () => {
    expectError(
      await admin('POST', '/v1/events', { event: 'agent.created', data: sample }),
      400,
      'validation_error',
    );
    expectError(
      await admin('POST', '/v1/events', {
        event: 'agent.created',
        data: sample,
        account_id: 'acct_01HMB7ZK2C8D9E0F1G2H3J4K5M',
      }),
      404,
      'not_found',
    );
    const res = await admin('POST', '/v1/events', {
      event: 'agent.created',
      data: sample,
      account_id: server.accountId,
    });
    expect(res.status).toBe(202);
    expect((await call('GET', `/v1/events/${res.body.id}`)).status).toBe(200);
  });

  it('Idempotency-Key: same body → same event; other body → 409', async () => {
    const key = { 'idempotency-key': `k-${Date.now()}` };
    const a = await call('POST', '/v1/events', { event: 'agent.created', data: sample }, key);
    const b = await call('POST', '/v1/events', { event: 'agent.created', data: sample }, key);
    expect(a.status).toBe(202);
    expect(b.status).toBe(202);
    expect(b.body).toEqual(a.body);
    const c = await call(
      'POST',
      '/v1/events',
      { event: 'agent.created', data: { ...sample, agent_id: 'other' } },
      key,
    );
    expectError(c, 409, 'idempotency_key_reused');
    // Keys are scoped to the account.
    const other = client(
      server.url,
      (await admin('POST', '/v1/accounts', { name: 'Idem' })).body.api_key,
    );
    const d = await other('POST', '/v1/events', { event: 'agent.created', data: sample }, key);
    expect(d.status).toBe(202);
    expect(d.body.id).not.toBe(a.body.id);
  });

  it('lists events with filters and cursors', async () => {
    const c = client(
      server.url,
      (await admin('POST', '/v1/accounts', { name: 'Filters' })).body.api_key,
    );
    const ids: string[] = [];
    for (const name of ['agent.created', 'agent.deleted', 'agent.created'] as const) {
      ids.push((await c('POST', '/v1/events', { event: name, data: eventSamples[name] })).body.id);
    }
    const all = await c('GET', '/v1/events');
    expect(all.body.data.map((e: any) => e.id)).toEqual([...ids].reverse());
    const created = await c('GET', '/v1/events?event=agent.created');
    expect(created.body.data.map((e: any) => e.id)).toEqual([ids[2], ids[0]]);
    const page = await c('GET', '/v1/events?limit=2');
    expect(page.body.next_cursor).toBeTruthy();
    const next = await c('GET', `/v1/events?limit=2&cursor=${page.body.next_cursor}`);
    expect(next.body.data.map((e: any) => e.id)).toEqual([ids[0]]);
    expect(next.body.next_cursor).toBeNull();
    const future = new Date(Date.now() + 60_000).toISOString();
    expect((await c('GET', `/v1/events?since=${future}`)).body.data).toEqual([]);
    expect((await c('GET', `/v1/events?until=${future}`)).body.data).toHaveLength(3);
    expectError(await c('GET', '/v1/events?since=yesterday'), 400, 'validation_error');
    expectError(await c('GET', '/v1/events/evt_01HMB7ZK2C8D9E0F1G2H3J4K5M'), 404, 'not_found');
  });
});

describe('delivery list filters', () => {
  it('event, webhook_id, event_id, since, until; bad status is 400', async () => {
    const c = client(
      server.url,
      (await admin('POST', '/v1/accounts', { name: 'DFilters' })).body.api_key,
    );
    const w1 = (await c('POST', '/v1/webhooks', hook({ events: ['agent.*'] }))).body.id;
    const w2 = (await c('POST', '/v1/webhooks', hook({ events: ['agent.deleted'] }))).body.id;
    const e1 = (await c('POST', '/v1/events', { event: 'agent.created', data: sample })).body.id;
    const e2 = (
      await c('POST', '/v1/events', { event: 'agent.deleted', data: eventSamples['agent.deleted'] })
    ).body.id;
    const ids = async (q: string) =>
      (await c('GET', `/v1/deliveries?${q}`)).body.data.map((d: any) => [d.event_id, d.webhook_id]);
    expect(await ids('')).toHaveLength(3);
    expect(await ids('event=agent.deleted')).toEqual(
      expect.arrayContaining([
        [e2, w1],
        [e2, w2],
      ]),
    );
    expect(await ids('event=agent.deleted')).toHaveLength(2);
    expect(await ids(`webhook_id=${w2}`)).toEqual([[e2, w2]]);
    expect(await ids(`event_id=${e1}`)).toEqual([[e1, w1]]);
    expect(await ids(`event_id=${e1}&webhook_id=${w2}`)).toEqual([]);
    const future = new Date(Date.now() + 60_000).toISOString();
    const past = new Date(Date.now() - 60_000).toISOString();
    expect(await ids(`since=${future}`)).toEqual([]);
    expect(await ids(`since=${past}&until=${future}`)).toHaveLength(3);
    expect(await ids(`until=${past}`)).toEqual([]);
    const page = await c('GET', '/v1/deliveries?limit=2');
    expect(page.body.data).toHaveLength(2);
    const rest = await c('GET', `/v1/deliveries?limit=2&cursor=${page.body.next_cursor}`);
    expect(rest.body.data).toHaveLength(1);
    expect(rest.body.next_cursor).toBeNull();
    expectError(await c('GET', '/v1/deliveries?status=lost'), 400, 'validation_error');
    expectError(await c('GET', '/v1/deliveries?until=tomorrow'), 400, 'validation_error');
  });
});

describe('batch', () => {
  it('202 with events in request order', async () => {
    const res = await call('POST', '/v1/events/batch', {
      events: [
        { event: 'agent.created', data: sample },
        {
          event: 'usage.limit',
          data: eventSamples['usage.limit'],
          idempotency_key: `b-${Date.now()}`,
        },
      ],
    });
    expect(res.status).toBe(202);
    expect(res.body.data.map((e: any) => e.event)).toEqual(['agent.created', 'usage.limit']);
  });

  it('all-or-nothing: one bad event stores none, and the index is named', async () => {
    const c = client(
      server.url,
      (await admin('POST', '/v1/accounts', { name: 'Batch' })).body.api_key,
    );
    const events = Array.from({ length: 5 }, () => ({
      event: 'agent.created',
      data: { ...sample },
    }));
    delete (events[3]!.data as any).agent_id;
    const res = await c('POST', '/v1/events/batch', { events });
    expectError(res, 422, 'schema_violation');
    expect(res.body.error.details.map((d: any) => d.path)).toEqual(['/events/3/data/agent_id']);
    const unknown = await c('POST', '/v1/events/batch', { events: [{ event: 'x.y', data: {} }] });
    expectError(unknown, 422, 'unknown_event_type');
    expect(unknown.body.error.details[0].path).toBe('/events/0/event');
    expect((await c('GET', '/v1/events')).body.data).toEqual([]);
  });

  it('a request body over 5 MB is 413 payload_too_large', async () => {
    const res = await call('POST', '/v1/events/batch', {
      events: [
        { event: 'agent.created', data: { ...sample, padding: 'x'.repeat(6 * 1024 * 1024) } },
      ],
    });
    expectError(res, 413, 'payload_too_large');
  });

  it('1–100 events', async () => {
    expectError(await call('POST', '/v1/events/batch', { events: [] }), 400, 'validation_error');
    const many = Array.from({ length: 101 }, () => ({ event: 'agent.created', data: sample }));
    expectError(await call('POST', '/v1/events/batch', { events: many }), 400, 'validation_error');
  });

  it('a reused key in a batch is 409 and stores none', async () => {
    const c = client(
      server.url,
      (await admin('POST', '/v1/accounts', { name: 'Batch2' })).body.api_key,
    );
    await c(
      'POST',
      '/v1/events',
      { event: 'agent.created', data: sample },
      { 'idempotency-key': 'dup' },
    );
    const res = await c('POST', '/v1/events/batch', {
      events: [
        { event: 'agent.created', data: sample },
        { event: 'agent.deleted', data: eventSamples['agent.deleted'], idempotency_key: 'dup' },
      ],
    });
    expectError(res, 409, 'idempotency_key_reused');
    expect(res.body.error.details[0].path).toBe('/events/1/idempotency_key');
    expect((await c('GET', '/v1/events')).body.data).toHaveLength(1);
  });
});

describe('catalog, docs, health and the rest', () => {
  it('GET /v1/event-types serves the catalog', async () => {
    const res = await anon('GET', '/v1/event-types');
    expect(res.body.data.map((t: any) => t.name)).toEqual(eventNames);
    // Schemas and samples arrive whole (the response serializer drops nothing).
    expect(res.body.data).toEqual(JSON.parse(JSON.stringify(eventCatalog)));
    expect(res.body.data[0]).toEqual({
      name: 'agent.created',
      description: expect.any(String),
      schema: expect.objectContaining({ type: 'object' }),
      sample,
    });
  });

  it('openapi.json is OpenAPI 3.1 describing every route, and /docs serves HTML', async () => {
    const res = await anon('GET', '/openapi.json');
    expect(res.body.openapi).toBe('3.1.0');
    const paths = Object.keys(res.body.paths);
    for (const p of [
      '/v1/webhooks',
      '/v1/webhooks/{id}',
      '/v1/webhooks/{id}/secret',
      '/v1/webhooks/{id}/secret/rotate',
      '/v1/webhooks/{id}/test',
      '/v1/webhooks/{id}/recover',
      '/v1/webhooks/{id}/stats',
      '/v1/events',
      '/v1/events/batch',
      '/v1/events/{id}',
      '/v1/deliveries',
      '/v1/deliveries/{id}',
      '/v1/deliveries/{id}/retry',
      '/v1/listen/secret',
      '/v1/listen/secret/rotate',
      '/v1/event-types',
      '/v1/accounts',
      '/v1/accounts/{id}/api-keys',
      '/healthz',
      '/readyz',
      '/metrics',
    ]) {
      expect(paths, p).toContain(p);
    }
    // Every reference resolves inside the document.
    const refs = new Set<string>();
    JSON.stringify(res.body, (k, v) => {
      if (k === '$ref') refs.add(v);
      return v;
    });
    expect([...refs]).toEqual(['#/components/schemas/Error']);
    expect(res.body.components.schemas.Error).toBeDefined();
    const docs = await fetch(`${server.url}/docs`);
    expect(docs.status).toBe(200);
    expect(docs.headers.get('content-type')).toMatch(/text\/html/);
    const html = await docs.text();
    expect(html).not.toMatch(/https?:\/\/(cdn|unpkg|jsdelivr)/);
  });

  it('unknown routes are 404 not_found', async () => {
    expectError(await call('GET', '/v1/nothing-here'), 404, 'not_found');
    expectError(await call('POST', '/v1/webhooks/x/y/z'), 404, 'not_found');
  });

  it('/ answers a page (dashboard or a link to /docs)', async () => {
    const res = await fetch(`${server.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
  });

  it('/ links to /docs when there is no dashboard', async () => {
    const bare = await startTestServer({}, { dashboardDir: null });
    try {
      const html = await (await fetch(`${bare.url}/`)).text();
      expect(html).toContain('href="/docs"');
      expect((await fetch(`${bare.url}/settings/webhooks`)).status).toBe(404);
    } finally {
      await bare.close();
    }
  });

  it('serves a built dashboard at /, its assets, and index.html for its own paths', async () => {
    const dist = mkdtempSync(join(tmpdir(), 'af-dist-'));
    mkdirSync(join(dist, 'assets'));
    writeFileSync(join(dist, 'index.html'), '<!doctype html><title>Dashboard</title>');
    writeFileSync(join(dist, 'assets', 'app.js'), 'console.log(1)');
    const s = await startTestServer({}, { dashboardDir: dist });
    try {
      for (const path of ['/', '/settings/integrations/webhooks', '/webhooks/wh_x']) {
        const res = await fetch(`${s.url}${path}`);
        expect(res.status, path).toBe(200);
        expect(await res.text()).toContain('<title>Dashboard</title>');
      }
      expect(await (await fetch(`${s.url}/assets/app.js`)).text()).toBe('console.log(1)');
      expect((await fetch(`${s.url}/assets/missing.js`)).status).toBe(404);
      // Rebuilt while running: the new asset is served without a restart.
      writeFileSync(join(dist, 'assets', 'app-2.js'), 'console.log(2)');
      expect(await (await fetch(`${s.url}/assets/app-2.js`)).text()).toBe('console.log(2)');
      const api = await client(s.url, s.apiKey)('GET', '/v1/unknown');
      expectError(api, 404, 'not_found');
      expect((await fetch(`${s.url}/docs`)).status).toBe(200);
    } finally {
      await s.close();
      rmSync(dist, { recursive: true, force: true });
    }
  });

  it('/metrics is Prometheus text with our metrics', async () => {
    const res = await fetch(`${server.url}/metrics`);
    const text = await res.text();
    expect(res.headers.get('content-type')).toMatch(/text\/plain/);
    for (const name of [
      'agentfactory_events_accepted_total',
      'agentfactory_deliveries_pending',
      'agentfactory_delivery_attempts_total',
      'agentfactory_delivery_attempt_duration_seconds',
    ]) {
      expect(text).toContain(name);
    }
    expect(text).toMatch(/agentfactory_events_accepted_total [1-9]/);
  });

  it('/readyz answers 503 unavailable with Retry-After when the database is gone', async () => {
    const s = await startTestServer();
    try {
      expect((await fetch(`${s.url}/readyz`)).status).toBe(200);
      await s.store.close();
      const res = await client(s.url)('GET', '/readyz');
      expectError(res, 503, 'unavailable');
      expect(res.headers.get('retry-after')).toBe('5');
    } finally {
      await s.close().catch(() => {});
    }
  });
});
