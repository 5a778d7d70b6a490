/**
 * Input limits (issue 11 point 5), on SQLite and on PostgreSQL: bounded error lists, bounded JSON
 * depth, schema limits on strings and collections, RFC 9110 custom headers, URLs without
 * credentials, malformed cursors, times and numbers, and the account quotas
 * (`AF_MAX_WEBHOOKS_PER_ACCOUNT`, `AF_MAX_HEADERS_PER_WEBHOOK`), the webhook count under
 * concurrent creates.
 */
import { validateHeaderName, validateHeaderValue } from 'node:http';
import { eventSamples } from '@agentfactory/webhooks';
import fc from 'fast-check';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkHeaders } from '../src/api/webhook-input.js';
import { type Answer, type Call, client } from './helpers/client.js';
import { describePostgres } from './helpers/postgres.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const QUOTAS = { AF_MAX_WEBHOOKS_PER_ACCOUNT: '5', AF_MAX_HEADERS_PER_WEBHOOK: '3' };

const hook = (over: Record<string, unknown> = {}) => ({
  name: 'Receiver',
  url: 'http://127.0.0.1:9/webhooks',
  events: ['*'],
  ...over,
});

function expectError(res: Answer, status: number, code: string, path?: string) {
  expect({ status: res.status, code: res.body?.error?.code }, res.text.slice(0, 500)).toEqual({
    status,
    code,
  });
  expect(typeof res.body.error.message).toBe('string');
  if (path !== undefined)
    expect(res.body.error.details.map((d: { path: string }) => d.path)).toContain(path);
}

/** `agent.updated` data with `n` errors: every value of `changes` must be an object. */
function badUpdate(n: number) {
  const changes: Record<string, number> = {};
  for (let i = 0; i < n; i++) changes[`field_${i}`] = i;
  return { ...eventSamples['agent.updated'], changes };
}

function limitsSuite(start: () => Promise<TestServer>): void {
  let server: TestServer;
  let call: Call;
  let admin: Call;

  beforeAll(async () => {
    server = await start();
    call = client(server.url, server.apiKey);
    admin = client(server.url, server.adminKey);
  });
  afterAll(async () => {
    await server?.close();
  });

  /** A new account and its client: quotas are per account. */
  async function freshAccount(): Promise<{ id: string; call: Call }> {
    const res = await admin('POST', '/v1/accounts', { name: 'quota' });
    expect(res.status).toBe(201);
    return { id: res.body.id, call: client(server.url, res.body.api_key) };
  }

  describe('error lists are bounded', () => {
    it('a batch of 100 events with thousands of schema errors answers 20 details and their total, in a few KB', async () => {
      const events = Array.from({ length: 100 }, () => ({
        event: 'agent.updated',
        data: badUpdate(500),
      }));
      const res = await call('POST', '/v1/events/batch', { events });
      expectError(res, 422, 'schema_violation');
      expect(res.body.error.details).toHaveLength(20);
      expect(res.body.error.details_total).toBe(100 * 500);
      expect(res.body.error.details[0].path).toBe('/events/0/data/changes/field_0');
      expect(res.text.length).toBeLessThan(4096);
      expect(res.body.error.message).toMatch(/\/events\/0/);
    });

    it('one event: the first 20 of its errors and how many there were', async () => {
      const res = await call('POST', '/v1/events', { event: 'agent.updated', data: badUpdate(45) });
      expectError(res, 422, 'schema_violation');
      expect(res.body.error.details).toHaveLength(20);
      expect(res.body.error.details_total).toBe(45);
      expect(res.text.length).toBeLessThan(4096);
    });

    it('a small body with many schema errors lists 20 and counts them all', async () => {
      const extra = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`unknown_${i}`, i]));
      const res = await call('POST', '/v1/webhooks', hook(extra));
      expectError(res, 400, 'validation_error');
      expect(res.body.error.details).toHaveLength(20);
      expect(res.body.error.details_total).toBe(30);
      expect(res.body.error.message).toMatch(/and 29 more/);
    });

    it('a large body of unknown fields answers its first error, not one per field', async () => {
      const extra = Object.fromEntries(
        Array.from({ length: 30_000 }, (_, i) => [`unknown_${i}`, i]),
      );
      const res = await call('POST', '/v1/webhooks', hook(extra));
      expectError(res, 400, 'validation_error');
      expect(res.body.error.details_total).toBeGreaterThanOrEqual(1);
      expect(res.body.error.details.length).toBeLessThanOrEqual(20);
      expect(res.text.length).toBeLessThan(4096);
    });

    it('an error that echoes a long name stays small', async () => {
      const res = await call(
        'POST',
        '/v1/webhooks',
        hook({ headers: { ['x'.repeat(50_000)]: 'v' } }),
      );
      expectError(res, 400, 'validation_error');
      expect(res.text.length).toBeLessThan(2048);
    });

    it('details_total is in the OpenAPI description of errors', async () => {
      const doc = (await client(server.url)('GET', '/openapi.json')).body;
      expect(Object.keys(doc.components.schemas.Error.properties.error.properties)).toContain(
        'details_total',
      );
    });
  });

  describe('JSON depth is bounded', () => {
    const deep = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

    it('10,000 levels of [ are a 400 validation_error saying the nesting is too deep', async () => {
      for (const path of ['/v1/webhooks', '/v1/events', '/v1/events/batch']) {
        const res = await call('POST', path, deep(10_000));
        expectError(res, 400, 'validation_error');
        expect(res.body.error.message).toMatch(/nested too deep/);
      }
    });

    it('deep event data is a 400, not a 500, however deep', async () => {
      for (const depth of [65, 1_000, 200_000]) {
        const body = `{"event":"agent.created","data":{"x":${deep(depth)}}}`;
        const res = await call('POST', '/v1/events', body);
        expectError(res, 400, 'validation_error');
        expect(res.body.error.message).toMatch(/at most 64 levels/);
      }
    });

    it('data nested within the limit is accepted', async () => {
      const data = { ...eventSamples['agent.created'], x: JSON.parse(deep(60)) };
      const res = await call('POST', '/v1/events', { event: 'agent.created', data });
      expect(res.status).toBe(202);
      // Brackets inside strings are not nesting.
      const text = { ...eventSamples['agent.created'], note: '['.repeat(1000) };
      expect(
        (await call('POST', '/v1/events', { event: 'agent.created', data: text })).status,
      ).toBe(202);
    });
  });

  describe('strings and collections have limits', () => {
    it.each([
      ['name over 200', { name: 'n'.repeat(201) }, '/name'],
      ['url over 2048', { url: `http://127.0.0.1:9/${'p'.repeat(2040)}` }, '/url'],
      ['description over 2000', { description: 'd'.repeat(2001) }, '/description'],
      ['over 100 events', { events: Array.from({ length: 101 }, (_, i) => `e${i}`) }, '/events'],
      ['event name over 100', { events: ['a'.repeat(101)] }, '/events/0'],
      [
        'over 50 metadata keys',
        { metadata: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v'])) },
        '/metadata',
      ],
      ['metadata value over 1000', { metadata: { k: 'v'.repeat(1001) } }, '/metadata/k'],
      [
        'metadata key over 100',
        { metadata: { ['k'.repeat(101)]: 'v' } },
        `/metadata/${'k'.repeat(101)}`,
      ],
      ['header value over 4096', { headers: { 'X-A': 'v'.repeat(4097) } }, '/headers/X-A'],
      [
        'header name over 100',
        { headers: { ['X'.repeat(101)]: 'v' } },
        `/headers/${'X'.repeat(101)}`,
      ],
      ['secret over 256', { secret: 's'.repeat(257) }, '/secret'],
    ])('%s → 400 validation_error', async (_name, over, path) => {
      const res = await call('POST', '/v1/webhooks', hook(over));
      expectError(res, 400, 'validation_error');
      // Long paths are clipped in the answer.
      const paths = res.body.error.details.map((d: { path: string }) => d.path.replace(/…$/, ''));
      expect(paths.some((p: string) => path.startsWith(p))).toBe(true);
    });

    it('the same limits hold on PATCH, rotate, accounts, events and list filters', async () => {
      const created = await call('POST', '/v1/webhooks', hook());
      expect(created.status).toBe(201);
      const id = created.body.id;
      expectError(
        await call('PATCH', `/v1/webhooks/${id}`, { name: 'n'.repeat(201) }),
        400,
        'validation_error',
        '/name',
      );
      expectError(
        await call('POST', `/v1/webhooks/${id}/secret/rotate`, { secret: 's'.repeat(257) }),
        400,
        'validation_error',
        '/secret',
      );
      expectError(
        await admin('POST', '/v1/accounts', { name: 'a'.repeat(201) }),
        400,
        'validation_error',
        '/name',
      );
      expectError(
        await call('POST', '/v1/events', { event: 'e'.repeat(101), data: {} }),
        400,
        'validation_error',
        '/event',
      );
      expectError(
        await call('POST', '/v1/events/batch', {
          events: Array.from({ length: 101 }, () => ({ event: 'agent.created', data: {} })),
        }),
        400,
        'validation_error',
        '/events',
      );
      expectError(
        await call('GET', `/v1/events?event=${'e'.repeat(101)}`),
        400,
        'validation_error',
      );
      expectError(
        await call('GET', `/v1/deliveries?webhook_id=${'w'.repeat(101)}`),
        400,
        'validation_error',
      );
      expectError(
        await call('GET', `/v1/webhooks/${id}/stats?window=${'1'.repeat(40)}h`),
        400,
        'validation_error',
      );
      await call('DELETE', `/v1/webhooks/${id}`);
    });
  });

  describe('text the store keeps or queries holds no NUL (PostgreSQL cannot)', () => {
    it.each([
      ['name', { name: 'a\u0000b' }, '/name'],
      ['description', { description: 'a\u0000b' }, '/description'],
      ['a metadata value', { metadata: { k: 'a\u0000b' } }, '/metadata/k'],
      ['a metadata key', { metadata: { 'a\u0000b': 'v' } }, '/metadata'],
    ])('%s with NUL → 400 validation_error', async (_name, over, path) => {
      const res = await call('POST', '/v1/webhooks', hook(over));
      expectError(res, 400, 'validation_error', path);
      expect(res.body.error.details[0].message).toMatch(/NUL/);
    });

    it('an account name, list filters', async () => {
      expectError(
        await admin('POST', '/v1/accounts', { name: 'a\u0000' }),
        400,
        'validation_error',
        '/name',
      );
      for (const q of ['event=%00', 'webhook_id=wh_%00', 'event_id=%00x'])
        expectError(await call('GET', `/v1/deliveries?${q}`), 400, 'validation_error');
      expectError(
        await call('GET', '/v1/events?event=agent.%00'),
        400,
        'validation_error',
        '/event',
      );
      // Event data may hold NUL: it is stored as the JSON text of the envelope.
      const data = { ...eventSamples['agent.created'], agent_name: 'a\u0000b' };
      const posted = await call('POST', '/v1/events', { event: 'agent.created', data });
      expect(posted.status).toBe(202);
      expect(posted.body.data.agent_name).toBe('a\u0000b');
    });
  });

  describe('custom headers are RFC 9110 fields', () => {
    it.each([
      ['a control character', 'a\u0001b'],
      ['DEL', 'a\u007fb'],
      ['NUL', 'a\u0000b'],
      ['CR LF', 'a\r\nX-Evil: 1'],
      ['a bare LF', 'a\nb'],
      ['a leading space', ' a'],
      ['a trailing tab', 'a\t'],
      ['a non-ASCII character', 'caf\u00e9'],
      ['an emoji', 'ok 💥'],
    ])('a value with %s → 400 with the header in the path', async (_name, value) => {
      const res = await call('POST', '/v1/webhooks', hook({ headers: { 'X-Token': value } }));
      expectError(res, 400, 'validation_error', '/headers/X-Token');
    });

    it.each([['Bad Name'], ['X-A:'], ['X-\u00e9'], ['']])('the name %j → 400', async (name) => {
      const res = await call('POST', '/v1/webhooks', hook({ headers: { [name]: 'v' } }));
      expectError(res, 400, 'validation_error');
      expect(res.body.error.details[0].path).toBe(`/headers/${name}`);
    });

    it('values of visible ASCII with inner spaces and tabs, and empty values, are accepted', async () => {
      const headers = { Authorization: 'Bearer a.b~c/d+e=', 'X-List': 'a, b\tc', 'X-Empty': '' };
      const res = await call('POST', '/v1/webhooks', hook({ headers }));
      expect(res.status, res.text).toBe(201);
      expect(Object.keys(res.body.headers).sort()).toEqual(['Authorization', 'X-Empty', 'X-List']);
      const id = res.body.id;
      expectError(
        await call('PATCH', `/v1/webhooks/${id}`, { headers: { 'X-A': 'bad\u0007' } }),
        400,
        'validation_error',
        '/headers/X-A',
      );
      await call('DELETE', `/v1/webhooks/${id}`);
    });
  });

  describe('URLs carry no credentials', () => {
    it.each([
      ['https://user:hunter2@example.com/hook'],
      ['https://user@example.com/hook'],
      ['http://:hunter2@127.0.0.1:9/'],
    ])('%s → 400 validation_error on /url', async (url) => {
      const res = await call('POST', '/v1/webhooks', hook({ url }));
      expectError(res, 400, 'validation_error', '/url');
      expect(res.body.error.message).toMatch(/credentials/);
      expect(res.text).not.toMatch(/hunter2/);
    });

    it('nor spaces or control characters, which the URL parser would drop; PATCH too', async () => {
      for (const url of [
        'http://127.0.0.1:9/a b',
        'http://127.0.0.1:9/a\tb',
        ' http://127.0.0.1:9/',
        'http://127.0.0.1:9/\n',
      ])
        expectError(
          await call('POST', '/v1/webhooks', hook({ url })),
          400,
          'validation_error',
          '/url',
        );
      const created = await call('POST', '/v1/webhooks', hook());
      expectError(
        await call('PATCH', `/v1/webhooks/${created.body.id}`, { url: 'https://u:p@example.com/' }),
        400,
        'validation_error',
        '/url',
      );
      await call('DELETE', `/v1/webhooks/${created.body.id}`);
    });
  });

  describe('malformed cursors, times and numbers are a 400', () => {
    it.each([
      ['/v1/webhooks?cursor=garbage', '/cursor'],
      ['/v1/webhooks?cursor=evt_01HMB7ZK2C8D9E0F1G2H3J4K5M', '/cursor'],
      ['/v1/webhooks?cursor=wh_01HMB7ZK2C8D9E0F1G2H3J4K5', '/cursor'],
      ['/v1/events?cursor=wh_01HMB7ZK2C8D9E0F1G2H3J4K5M', '/cursor'],
      ['/v1/deliveries?cursor=%00', '/cursor'],
      // Well formed, but not issued: an id without the service's MAC, or with a forged one.
      ['/v1/webhooks?cursor=wh_01HMB7ZK2C8D9E0F1G2H3J4K5M', '/cursor'],
      ['/v1/events?cursor=evt_01HMB7ZK2C8D9E0F1G2H3J4K5M.AAAAAAAAAAAAAAAA', '/cursor'],
      ['/v1/events?since=yesterday', '/since'],
      ['/v1/events?until=2024-13-01T00:00:00Z', '/until'],
      ['/v1/events?since=2024-12-31T23:59:60Z', '/since'],
      ['/v1/deliveries?until=2024-06-30T23:59:60Z', '/until'],
      ['/v1/deliveries?since=2024-01-01', '/since'],
      ['/v1/webhooks?limit=abc', '/limit'],
      ['/v1/webhooks?limit=0', '/limit'],
      ['/v1/events?limit=251', '/limit'],
      ['/v1/deliveries?limit=1.5', '/limit'],
      ['/v1/deliveries?limit=1&limit=2', '/limit'],
      ['/v1/deliveries?status=lost', '/status'],
    ])('GET %s → 400 validation_error', async (path, detail) => {
      expectError(await call('GET', path), 400, 'validation_error', detail);
    });

    it('a cursor the list issued pages on', async () => {
      for (let i = 0; i < 2; i++) await call('POST', '/v1/webhooks', hook({ name: `page ${i}` }));
      const page = await call('GET', '/v1/webhooks?limit=1');
      expect(page.body.next_cursor).toMatch(/^wh_/);
      const next = await call('GET', `/v1/webhooks?limit=1&cursor=${page.body.next_cursor}`);
      expect(next.status).toBe(200);
      expect(next.body.data[0].id < page.body.data[0].id).toBe(true);
      // The same id with another MAC, or the MAC of another id, was not issued.
      const [id, mac] = (page.body.next_cursor as string).split('.');
      const forged = `${id}.${mac!.slice(0, -2)}${mac!.endsWith('AA') ? 'BA' : 'AA'}`;
      expectError(
        await call('GET', `/v1/webhooks?cursor=${forged}`),
        400,
        'validation_error',
        '/cursor',
      );
      const other = `${next.body.data[0].id}.${mac}`;
      expectError(
        await call('GET', `/v1/webhooks?cursor=${other}`),
        400,
        'validation_error',
        '/cursor',
      );
      for (const w of [...page.body.data, ...next.body.data])
        await call('DELETE', `/v1/webhooks/${w.id}`);
    });

    it('recover: malformed since/until and a leap second are a 400', async () => {
      const created = await call('POST', '/v1/webhooks', hook());
      const path = `/v1/webhooks/${created.body.id}/recover`;
      expectError(
        await call('POST', path, { since: 'last week' }),
        400,
        'validation_error',
        '/since',
      );
      expectError(
        await call('POST', path, { since: '2024-12-31T23:59:60Z' }),
        400,
        'validation_error',
        '/since',
      );
      expectError(
        await call('POST', path, { since: '2024-01-01T00:00:00Z', until: '2024-12-31T23:59:60Z' }),
        400,
        'validation_error',
        '/until',
      );
      expect((await call('POST', path, { since: '2024-01-01T00:00:00Z' })).status).toBe(202);
      await call('DELETE', `/v1/webhooks/${created.body.id}`);
    });
  });

  describe('account quotas', () => {
    it('AF_MAX_WEBHOOKS_PER_ACCOUNT: the next create is a 422 limit_exceeded naming the setting; deleted webhooks do not count', async () => {
      const a = await freshAccount();
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const res = await a.call('POST', '/v1/webhooks', hook({ name: `q${i}` }));
        expect(res.status).toBe(201);
        ids.push(res.body.id);
      }
      const over = await a.call('POST', '/v1/webhooks', hook());
      expectError(over, 422, 'limit_exceeded');
      expect(over.body.error.message).toMatch(/5/);
      expect(over.body.error.message).toMatch(/AF_MAX_WEBHOOKS_PER_ACCOUNT/);
      // Another account has its own count.
      const b = await freshAccount();
      expect((await b.call('POST', '/v1/webhooks', hook())).status).toBe(201);
      expect((await a.call('DELETE', `/v1/webhooks/${ids[0]}`)).status).toBe(204);
      expect((await a.call('POST', '/v1/webhooks', hook())).status).toBe(201);
      expectError(await a.call('POST', '/v1/webhooks', hook()), 422, 'limit_exceeded');
    });

    it('holds under concurrent creates', async () => {
      const a = await freshAccount();
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          a.call('POST', '/v1/webhooks', hook({ name: `c${i}` })),
        ),
      );
      const statuses = answers.map((r) => r.status).sort();
      expect(statuses.filter((s) => s === 201)).toHaveLength(5);
      expect(statuses.filter((s) => s === 422)).toHaveLength(15);
      const list = await a.call('GET', '/v1/webhooks?limit=250');
      expect(list.body.data).toHaveLength(5);
    });

    it('AF_MAX_HEADERS_PER_WEBHOOK: more custom headers are a 422 limit_exceeded, on create and PATCH', async () => {
      const a = await freshAccount();
      const headers = (n: number) =>
        Object.fromEntries(Array.from({ length: n }, (_, i) => [`X-H${i}`, 'v']));
      const over = await a.call('POST', '/v1/webhooks', hook({ headers: headers(4) }));
      expectError(over, 422, 'limit_exceeded', '/headers');
      expect(over.body.error.message).toMatch(/AF_MAX_HEADERS_PER_WEBHOOK/);
      const ok = await a.call('POST', '/v1/webhooks', hook({ headers: headers(3) }));
      expect(ok.status).toBe(201);
      expectError(
        await a.call('PATCH', `/v1/webhooks/${ok.body.id}`, { headers: headers(4) }),
        422,
        'limit_exceeded',
        '/headers',
      );
      expect(
        (await a.call('PATCH', `/v1/webhooks/${ok.body.id}`, { headers: headers(1) })).status,
      ).toBe(200);
    });
  });
}

describe('custom headers the API accepts are headers the sender can send', () => {
  it('any name and value checkHeaders accepts, Node and undici accept too', async () => {
    const anyText = fc.oneof(
      fc.string({ maxLength: 20 }),
      fc.string({ unit: 'binary', maxLength: 20 }),
      fc.stringMatching(/^[\x20-\x7e\t]{0,20}$/),
    );
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(anyText, fc.stringMatching(/^X-[A-Za-z0-9-]{1,10}$/)),
        anyText,
        async (name, value) => {
          try {
            checkHeaders({ [name]: value }, 20);
          } catch {
            return;
          }
          accepted++;
          validateHeaderName(name);
          validateHeaderValue(name, value);
          // The sender's own call: undici checks the headers before it connects.
          const err = await request('http://127.0.0.1:9/', {
            method: 'POST',
            headers: { [name]: value },
            body: '{}',
          }).then(
            () => undefined,
            (e: { code?: string }) => e,
          );
          expect(err?.code).not.toBe('UND_ERR_INVALID_ARG');
        },
      ),
      { numRuns: 300 },
    );
    expect(accepted).toBeGreaterThan(20);
  });
});

describe('input limits on SQLite', () => {
  limitsSuite(() => startTestServer(QUOTAS));
});

await describePostgres('input limits on PostgreSQL', (pg) => {
  limitsSuite(() =>
    startTestServer(
      {
        ...QUOTAS,
        DATABASE_URL: pg.url,
        AF_ADMIN_KEY: 'afk_admin_limits_0123456789abcdef',
        AF_ENCRYPTION_KEY: Buffer.alloc(32, 5).toString('base64'),
        AF_ALLOW_PRIVATE_NETWORKS: 'true',
      },
      { databaseSchema: pg.freshSchema() },
    ),
  );
});
