/**
 * Property-based fuzzing of every API route (issue 11 point 8) with fast-check, over real HTTP on
 * loopback, on SQLite and on PostgreSQL: arbitrary JSON and route-shaped bodies, raw bytes,
 * arbitrary headers and query strings, deep documents and bytes that are not HTTP, with every
 * key kind. Whatever is sent: no 5xx, every 4xx carries `error.code` and `error.message`, at most
 * 20 details, every answer under 64 KiB, and the process still answers `/healthz` afterwards.
 */
import { connect } from 'node:net';
import { eventNames, eventSamples } from '@agentfactory/webhooks';
import fc from 'fast-check';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describePostgres } from './helpers/postgres.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const MAX_ANSWER = 64 * 1024;
/** Runs per property: the whole file stays well under a minute per store on a small machine. */
const RUNS = Number(process.env.AF_FUZZ_RUNS ?? 400);

type KeyKind = 'none' | 'garbage' | 'account' | 'admin';

interface Target {
  server: TestServer;
  webhookIds: string[];
  eventId: string;
  deliveryId: string;
}

/** Every route of the API, `:id` replaced per request by a real id or arbitrary text. */
const ROUTES: [method: string, path: string, kind?: 'wh' | 'evt' | 'dlv' | 'acct'][] = [
  ['GET', '/healthz'],
  ['GET', '/readyz'],
  ['GET', '/metrics'],
  ['GET', '/v1/event-types'],
  ['POST', '/v1/accounts'],
  ['POST', '/v1/accounts/:id/api-keys', 'acct'],
  ['POST', '/v1/webhooks'],
  ['GET', '/v1/webhooks'],
  ['GET', '/v1/webhooks/:id', 'wh'],
  ['PATCH', '/v1/webhooks/:id', 'wh'],
  ['DELETE', '/v1/webhooks/:id', 'wh'],
  ['GET', '/v1/webhooks/:id/secret', 'wh'],
  ['POST', '/v1/webhooks/:id/secret/rotate', 'wh'],
  ['POST', '/v1/webhooks/:id/test', 'wh'],
  ['POST', '/v1/webhooks/:id/recover', 'wh'],
  ['GET', '/v1/webhooks/:id/stats', 'wh'],
  ['POST', '/v1/events'],
  ['POST', '/v1/events/batch'],
  ['GET', '/v1/events'],
  ['GET', '/v1/events/:id', 'evt'],
  ['GET', '/v1/deliveries'],
  ['GET', '/v1/deliveries/:id', 'dlv'],
  ['POST', '/v1/deliveries/:id/retry', 'dlv'],
];

/** Receivers on the discard port of loopback: refused at once, never a host on the internet. */
const URLS = [
  'http://127.0.0.1:9/hook',
  'http://localhost:9/x?y=1',
  'http://[::1]:9/',
  'http://user:pw@127.0.0.1:9/',
  'https://127.0.0.1:9/a b',
  'ftp://127.0.0.1/',
  'http://127.0.0.1:9/\r\nX: 1',
  '',
];

const text = (maxLength = 40) =>
  fc.oneof(
    fc.string({ maxLength }),
    fc.string({ unit: 'binary', maxLength }),
    fc.constantFrom('', ' ', '\u0000', '\r\n', '%', '..', '__proto__', 'constructor', '💥'),
  );
const anyJson = fc.jsonValue({ maxDepth: 5 });
const time = fc.oneof(
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc.constantFrom('2024-12-31T23:59:60Z', '2024-02-30T00:00:00Z', 'yesterday', '0', ''),
  text(),
);
const eventName = fc.oneof(fc.constantFrom(...eventNames, 'webhook.test', '*', 'agent.*'), text());
const eventData = fc.oneof(
  fc.constantFrom(...Object.values(eventSamples)),
  fc
    .constantFrom(...Object.values(eventSamples))
    .chain((s) =>
      fc
        .dictionary(fc.constantFrom(...Object.keys(s as object), 'extra'), anyJson, { maxKeys: 4 })
        .map((over) => ({ ...(s as object), ...over })),
    ),
  fc.object({ maxDepth: 3 }),
  anyJson,
);
const headerMap = fc.dictionary(
  fc.oneof(fc.constantFrom('Authorization', 'X-Api-Key', 'content-type', 'webhook-id'), text(20)),
  fc.oneof(text(60), fc.constant('a'.repeat(5000))),
  { maxKeys: 25 },
);

/**
 * A body shaped like what the route takes: each field valid most of the time and arbitrary
 * otherwise, a field or two sometimes left out, sometimes an unknown one, so that requests get
 * past the schema into the checks and the store (and some are accepted).
 */
function shaped(
  fields: Record<string, [valid: fc.Arbitrary<unknown>, fuzz: fc.Arbitrary<unknown>]>,
): fc.Arbitrary<Record<string, unknown>> {
  const keys = Object.keys(fields);
  const values = Object.fromEntries(
    keys.map((k) => [
      k,
      fc.oneof({ weight: 4, arbitrary: fields[k]![0] }, { weight: 1, arbitrary: fields[k]![1] }),
    ]),
  );
  return fc
    .tuple(
      fc.record(values),
      fc.oneof(
        { weight: 3, arbitrary: fc.constant([]) },
        fc.subarray(keys, { maxLength: Math.min(2, keys.length) }),
      ),
      fc.oneof({ weight: 7, arbitrary: fc.constant(null) }, fc.tuple(text(10), anyJson)),
    )
    .map(([obj, drop, extra]) => {
      const out: Record<string, unknown> = { ...obj };
      for (const k of drop) delete out[k];
      if (extra) out[extra[0]] = extra[1];
      return out;
    });
}

function shapedBody(method: string, path: string, t: Target): fc.Arbitrary<unknown> {
  const validHeaders = fc.dictionary(
    fc.stringMatching(/^X-[A-Za-z0-9-]{1,20}$/),
    fc.stringMatching(/^[\x21-\x7e]([\x20-\x7e]{0,30}[\x21-\x7e])?$/),
    { maxKeys: 4 },
  );
  const webhookFields = {
    name: [fc.constantFrom('Hook', 'Support bot'), fc.oneof(text(), fc.constant('n'.repeat(300)))],
    url: [fc.constantFrom(...URLS.slice(0, 3)), fc.oneof(fc.constantFrom(...URLS), text())],
    events: [
      fc.constantFrom(['*'], ['agent.*'], [...eventNames.slice(0, 3)]),
      fc.oneof(fc.array(eventName, { maxLength: 5 }), anyJson),
    ],
    secret: [
      fc.constantFrom(`whsec_${'A'.repeat(44)}`, 'a-long-enough-secret-0123'),
      fc.oneof(text(), fc.string({ maxLength: 300 })),
    ],
    active: [fc.boolean(), anyJson],
    description: [fc.constantFrom('d', null), fc.oneof(text(), fc.constant('d'.repeat(2001)))],
    headers: [validHeaders, fc.oneof(headerMap, anyJson)],
    metadata: [
      fc.dictionary(fc.stringMatching(/^[a-z]{1,10}$/), fc.string({ maxLength: 20 }), {
        maxKeys: 5,
      }),
      fc.oneof(fc.dictionary(text(20), text(), { maxKeys: 60 }), anyJson),
    ],
  } satisfies Record<string, [fc.Arbitrary<unknown>, fc.Arbitrary<unknown>]>;
  const eventFields = {
    event: [fc.constant('agent.created'), eventName],
    data: [fc.constant(eventSamples['agent.created']), eventData],
    account_id: [fc.constant(t.server.accountId), text()],
  } satisfies Record<string, [fc.Arbitrary<unknown>, fc.Arbitrary<unknown>]>;
  if (path === '/v1/webhooks') return shaped(webhookFields);
  if (method === 'PATCH' && path.startsWith('/v1/webhooks/')) {
    const { secret: _, ...patchable } = webhookFields;
    return shaped(patchable);
  }
  if (path === '/v1/events') return shaped(eventFields);
  if (path === '/v1/events/batch')
    return shaped({
      events: [
        fc.array(
          shaped({
            ...eventFields,
            idempotency_key: [fc.uuid(), text()],
          }),
          { minLength: 1, maxLength: 6 },
        ),
        anyJson,
      ],
      account_id: [fc.constant(t.server.accountId), text()],
    });
  if (path.endsWith('/secret/rotate'))
    return shaped({
      secret: [fc.constant('a-long-enough-secret-0123'), text()],
      grace_period_seconds: [fc.integer({ min: 0, max: 604800 }), fc.oneof(fc.integer(), anyJson)],
    });
  if (path.endsWith('/recover'))
    return shaped({
      since: [fc.constant('2024-01-01T00:00:00Z'), time],
      until: [fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), time],
    });
  if (path.endsWith('/test'))
    return shaped({
      event: [fc.constantFrom(...eventNames), eventName],
      // Edited data: valid for agent.updated only, so most pairs are a 422.
      data: [fc.constant(eventSamples['agent.updated']), anyJson],
    });
  if (path === '/v1/accounts') return shaped({ name: [fc.constant('Acme'), text()] });
  return anyJson;
}

function idArb(kind: 'wh' | 'evt' | 'dlv' | 'acct', t: Target): fc.Arbitrary<string> {
  const real =
    kind === 'wh'
      ? t.webhookIds
      : kind === 'evt'
        ? [t.eventId]
        : kind === 'dlv'
          ? [t.deliveryId]
          : [t.server.accountId];
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...real) },
    fc.constantFrom('wh_01HMB7ZK2C8D9E0F1G2H3J4K5M', 'evt_00000000000000000000000000', '%2e%2e'),
    text(120).map(encodeURIComponent),
  );
}

const QUERY_KEYS = [
  'limit',
  'cursor',
  'since',
  'until',
  'event',
  'status',
  'webhook_id',
  'event_id',
  'window',
  'bucket',
];
const queryArb = fc.oneof(
  fc
    .array(
      fc.tuple(
        fc.oneof(fc.constantFrom(...QUERY_KEYS), text(10)),
        fc.oneof(
          text(),
          time,
          fc.integer().map(String),
          fc.constantFrom('1.5', '-1', '1e3', '0x10', 'NaN', '251', '7d', '1ms', '9999999d'),
        ),
      ),
      { maxLength: 4 },
    )
    .map((pairs) => {
      const q = new URLSearchParams();
      for (const [k, v] of pairs) q.append(k, v);
      const s = q.toString();
      return s === '' ? '' : `?${s}`;
    }),
  // Unencoded: broken percent-escapes, repeated keys, `[]` and `.` syntax.
  fc.stringMatching(/^[A-Za-z0-9%&=[\]._~+-]{0,40}$/).map((s) => `?${s}`),
);

/** Account keys most, so that requests get past authentication into the routes. */
const keyArb = fc.oneof(
  { weight: 5, arbitrary: fc.constant<KeyKind>('account') },
  { weight: 2, arbitrary: fc.constant<KeyKind>('admin') },
  { weight: 1, arbitrary: fc.constant<KeyKind>('none') },
  { weight: 1, arbitrary: fc.constant<KeyKind>('garbage') },
);

function authHeader(kind: KeyKind, t: Target, garbage: string): Record<string, string> {
  if (kind === 'none') return {};
  if (kind === 'account') return { authorization: `Bearer ${t.server.apiKey}` };
  if (kind === 'admin') return { authorization: `Bearer ${t.server.adminKey}` };
  return { authorization: garbage };
}

const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=latin1',
  'APPLICATION/JSON',
  'application/vnd.api+json',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/octet-stream',
  '*/*',
  ';',
];

interface Sent {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Uint8Array;
}

/** Sends one request and checks the invariants; client-side refusals (undici) are not answers. */
async function check(t: Target, req: Sent): Promise<void> {
  let res: Awaited<ReturnType<typeof request>>;
  try {
    res = await request(`${t.server.url}${req.path}`, {
      method: req.method as 'GET',
      headers: req.headers,
      ...(req.body === undefined ? {} : { body: req.body }),
      headersTimeout: 15_000,
      bodyTimeout: 15_000,
    });
  } catch (err) {
    const code = (err as { code?: string }).code ?? '';
    // undici refused to send it (a header it cannot write): no request reached the service.
    if (code === 'UND_ERR_INVALID_ARG' || code === 'UND_ERR_NOT_SUPPORTED') return;
    throw new Error(`${req.method} ${req.path}: ${(err as Error).message} (${code})`);
  }
  const bytes = Buffer.from(await res.body.arrayBuffer());
  const where = `${req.method} ${req.path} → ${res.statusCode}: ${bytes.subarray(0, 300)}`;
  expect(res.statusCode, where).toBeLessThan(500);
  expect(bytes.length, where).toBeLessThan(MAX_ANSWER);
  if (res.statusCode >= 400) {
    const body = JSON.parse(bytes.toString('utf8'));
    expect(typeof body.error?.code, where).toBe('string');
    expect(typeof body.error?.message, where).toBe('string');
    if (body.error.details !== undefined) {
      expect(body.error.details.length, where).toBeLessThanOrEqual(20);
      expect(body.error.details_total, where).toBeGreaterThanOrEqual(body.error.details.length);
    }
  }
}

const routeArb = (t: Target) =>
  fc.constantFrom(...ROUTES).chain(([method, path, kind]) =>
    (kind ? idArb(kind, t) : fc.constant('')).map((id) => ({
      method,
      path: path.replace(':id', id),
    })),
  );

function fuzzSuite(start: () => Promise<TestServer>): void {
  const t = {} as Target;

  beforeAll(async () => {
    t.server = await start();
    const auth = { authorization: `Bearer ${t.server.apiKey}`, 'content-type': 'application/json' };
    const post = async (path: string, body: unknown) => {
      const res = await fetch(`${t.server.url}${path}`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify(body),
      });
      expect(res.status, path).toBeLessThan(300);
      return (await res.json()) as { id: string; delivery_ids?: string[] };
    };
    t.webhookIds = [];
    for (let i = 0; i < 4; i++)
      t.webhookIds.push(
        (await post('/v1/webhooks', { name: `h${i}`, url: URLS[0], events: ['*'] })).id,
      );
    const event = await post('/v1/events', {
      event: 'agent.created',
      data: eventSamples['agent.created'],
    });
    t.eventId = event.id;
    const read = await fetch(`${t.server.url}/v1/events/${event.id}`, { headers: auth });
    t.deliveryId = ((await read.json()) as { delivery_ids: string[] }).delivery_ids[0]!;
  });
  afterAll(async () => {
    await t.server?.close();
  });

  const params = { numRuns: RUNS, endOnFailure: true } as const;

  it('route-shaped and arbitrary JSON bodies, every key kind', async () => {
    await fc.assert(
      fc.asyncProperty(
        routeArb(t).chain((r) =>
          fc.record({
            route: fc.constant(r),
            key: keyArb,
            garbage: text(),
            query: queryArb,
            body: fc.oneof(
              { weight: 3, arbitrary: shapedBody(r.method, r.path, t) },
              { weight: 1, arbitrary: anyJson },
            ),
            contentType: fc.constantFrom(...CONTENT_TYPES.slice(0, 5)),
          }),
        ),
        async ({ route, key, garbage, query, body, contentType }) => {
          const hasBody = route.method !== 'GET' && route.method !== 'DELETE';
          await check(t, {
            method: route.method,
            path: `${route.path}${query}`,
            headers: {
              ...authHeader(key, t, garbage),
              ...(hasBody ? { 'content-type': contentType } : {}),
            },
            ...(hasBody ? { body: JSON.stringify(body) } : {}),
          });
        },
      ),
      params,
    );
  });

  it('raw bytes bodies with any content type', async () => {
    await fc.assert(
      fc.asyncProperty(
        routeArb(t),
        keyArb,
        fc.oneof(
          fc.uint8Array({ maxLength: 600 }),
          fc.string({ unit: 'binary', maxLength: 300 }).map((s) => new TextEncoder().encode(s)),
          fc.constantFrom('{"a":1', '"x"', 'null', '{"__proto__":{"x":1}}', '\uFEFF{}', '{}{}'),
        ),
        fc.oneof(fc.constantFrom(...CONTENT_TYPES), text(30)),
        async (route, key, body, contentType) => {
          await check(t, {
            method: route.method === 'GET' ? 'POST' : route.method,
            path: route.path,
            headers: { ...authHeader(key, t, 'Bearer afk_x'), 'content-type': contentType },
            body,
          });
        },
      ),
      params,
    );
  });

  it('arbitrary headers and query strings', async () => {
    await fc.assert(
      fc.asyncProperty(
        routeArb(t),
        keyArb,
        fc.dictionary(
          fc.oneof(
            fc.constantFrom(
              'content-type',
              'idempotency-key',
              'accept',
              'accept-encoding',
              'origin',
              'x-forwarded-for',
              'cookie',
              'range',
              'if-none-match',
            ),
            // undici asserts on a Host it cannot parse: the raw-bytes property sends those.
            fc.stringMatching(/^[a-z0-9!#$%&'*+.^_`|~-]{1,20}$/).filter((n) => n !== 'host'),
          ),
          fc.stringMatching(/^[\x20-\x7e]{0,80}$/),
          { maxKeys: 8 },
        ),
        queryArb,
        async (route, key, headers, query) => {
          const hasBody = route.method !== 'GET' && route.method !== 'DELETE';
          await check(t, {
            method: route.method,
            path: `${route.path}${query}`,
            headers: { ...headers, ...authHeader(key, t, headers.cookie ?? '') },
            ...(hasBody ? { body: '{}' } : {}),
          });
        },
      ),
      params,
    );
  });

  it('documents nested deeper than the limit are a 400, at any depth', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('/v1/events', '/v1/events/batch', '/v1/webhooks'),
        fc.integer({ min: 1, max: 200_000 }),
        fc.constantFrom('[', '{"a":'),
        async (path, depth, open) => {
          const close = open === '[' ? ']' : '}';
          await check(t, {
            method: 'POST',
            path,
            headers: {
              authorization: `Bearer ${t.server.apiKey}`,
              'content-type': 'application/json',
            },
            body: `{"event":"agent.created","data":{"x":${open.repeat(depth)}1${close.repeat(depth)}}}`,
          });
        },
      ),
      { ...params, numRuns: Math.max(10, Math.round(RUNS / 5)) },
    );
  });

  it('bytes that are not HTTP get an error answer or a closed connection', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ minLength: 1, maxLength: 300 }),
          fc
            .tuple(
              fc.constantFrom(
                'GET / HTTP/1.1\r\n',
                'POST /v1/events HTTP/1.1\r\nHost: [x\r\n',
                'GET /healthz HTTP/1.1\r\nHost: \u00ff\r\n',
                'GET /healthz',
              ),
              fc.string({ unit: 'binary', maxLength: 100 }),
            )
            .map(([a, b]) => Buffer.from(`${a}${b}\r\n\r\n`, 'latin1')),
          fc.constant(Buffer.from(`GET / HTTP/1.1\r\nX: ${'a'.repeat(20_000)}\r\n\r\n`)),
        ),
        async (bytes) => {
          const answer = await rawExchange(t.server.url, bytes);
          if (answer === '') return;
          const m = /^HTTP\/1\.1 (\d{3})/.exec(answer);
          expect(m, answer.slice(0, 200)).not.toBeNull();
          const status = Number(m![1]);
          expect(status, answer.slice(0, 300)).toBeLessThan(500);
          expect(answer.length).toBeLessThan(MAX_ANSWER);
          if (status >= 400) {
            const body = answer.slice(answer.indexOf('\r\n\r\n') + 4);
            // A keep-alive answer may be followed by a second one: parse the first body only.
            const first = /^\{.*?\}\}/s.exec(body)?.[0] ?? body;
            expect(typeof JSON.parse(first).error.code, answer.slice(0, 300)).toBe('string');
          }
        },
      ),
      { ...params, numRuns: Math.max(20, Math.round(RUNS / 3)) },
    );
  });

  it('still answers /healthz and the account API afterwards', async () => {
    expect((await fetch(`${t.server.url}/healthz`)).status).toBe(200);
    const res = await fetch(`${t.server.url}/v1/webhooks?limit=1`, {
      headers: { authorization: `Bearer ${t.server.apiKey}` },
    });
    expect(res.status).toBe(200);
  });
}

/** Writes `bytes` on a new connection and reads what comes back until the server closes it. */
function rawExchange(baseUrl: string, bytes: Uint8Array): Promise<string> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    socket.setTimeout(3000, () => socket.end());
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', (err: NodeJS.ErrnoException) =>
      err.code === 'ECONNRESET' || err.code === 'EPIPE'
        ? resolve(Buffer.concat(chunks).toString('latin1'))
        : reject(err),
    );
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.write(bytes, () => socket.end());
  });
}

describe('API fuzz on SQLite', () => {
  fuzzSuite(() => startTestServer());
});

await describePostgres('API fuzz on PostgreSQL', (pg) => {
  fuzzSuite(() =>
    startTestServer(
      {
        DATABASE_URL: pg.url,
        AF_ADMIN_KEY: 'afk_admin_fuzz_0123456789abcdef',
        AF_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64'),
        AF_ALLOW_PRIVATE_NETWORKS: 'true',
      },
      { databaseSchema: pg.freshSchema() },
    ),
  );
});
