// biome-ignore-all lint/suspicious/noExplicitAny: API answers are read loosely in tests.
/**
 * The scopes matrix (SPEC §5), over every route the app has: the routes are enumerated from
 * Fastify itself (`app.routeAccess`, filled by its `onRoute` hook), so a route added without an
 * entry below fails here, and one whose declared scope differs from the table fails too. Each
 * route is called over HTTP with keys of each scope and the admin key; a call the scope does
 * not allow answers 403 `insufficient_scope` naming the scope, any other passes the access check
 * (whatever the route then answers: ids that do not exist keep the calls free of effects).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RouteAccess } from '../src/api/scopes.js';
import { newId } from '../src/ids.js';
import { type Answer, client } from './helpers/client.js';
import { describePostgres } from './helpers/postgres.js';
import { startTestServer, type TestServer } from './helpers/server.js';

type Who = 'full' | 'read' | 'events:write' | 'read+events:write' | 'admin';
const WHO: Who[] = ['full', 'read', 'events:write', 'read+events:write', 'admin'];

/**
 * Who may pass the access check of each route. `scope` is what an account key needs (null:
 * the route takes no account key). Public routes are listed apart.
 */
const TABLE: Record<string, { access: 'account' | 'any' | 'admin'; scope: string | null }> = {
  'POST /v1/accounts': { access: 'admin', scope: null },
  'POST /v1/accounts/:id/api-keys': { access: 'admin', scope: null },
  'GET /v1/api-keys': { access: 'account', scope: 'read' },
  'POST /v1/api-keys': { access: 'account', scope: 'full' },
  'DELETE /v1/api-keys/:id': { access: 'account', scope: 'full' },
  'GET /v1/audit-log': { access: 'account', scope: 'read' },
  'POST /v1/webhooks': { access: 'account', scope: 'full' },
  'GET /v1/webhooks': { access: 'account', scope: 'read' },
  'GET /v1/webhooks/:id': { access: 'account', scope: 'read' },
  'PATCH /v1/webhooks/:id': { access: 'account', scope: 'full' },
  'DELETE /v1/webhooks/:id': { access: 'account', scope: 'full' },
  'GET /v1/webhooks/:id/secret': { access: 'account', scope: 'full' },
  'POST /v1/webhooks/:id/secret/rotate': { access: 'account', scope: 'full' },
  'POST /v1/webhooks/:id/test': { access: 'account', scope: 'full' },
  'POST /v1/webhooks/:id/recover': { access: 'account', scope: 'full' },
  'GET /v1/webhooks/:id/stats': { access: 'account', scope: 'read' },
  'POST /v1/events': { access: 'any', scope: 'events:write' },
  'POST /v1/events/batch': { access: 'any', scope: 'events:write' },
  'GET /v1/events': { access: 'account', scope: 'read' },
  'GET /v1/events/:id': { access: 'account', scope: 'read' },
  'GET /v1/deliveries': { access: 'account', scope: 'read' },
  'GET /v1/deliveries/:id': { access: 'account', scope: 'read' },
  'POST /v1/deliveries/:id/retry': { access: 'account', scope: 'full' },
  'GET /v1/listen/secret': { access: 'account', scope: 'full' },
  'POST /v1/listen/secret/rotate': { access: 'account', scope: 'full' },
  'GET /v1/listen/connect': { access: 'account', scope: 'full' },
  'GET /v1/listen/sessions': { access: 'account', scope: 'read' },
  'DELETE /v1/listen/sessions/:id': { access: 'account', scope: 'full' },
};

/** Routes without a key (SPEC §5), and the API reference's and dashboard's files. */
const PUBLIC = [
  /^(GET|HEAD) \/(healthz|readyz|metrics|openapi\.json)$/,
  /^(GET|HEAD) \/v1\/event-types$/,
  /^(GET|HEAD) \/docs(\/.*)?$/,
  /^(GET|HEAD) \/(\*)?$/,
];

/** A path for a route's pattern: ids of the right shape that no row has. */
function pathOf(url: string): string {
  return url.replace(/:id/g, () => {
    if (url.startsWith('/v1/webhooks')) return newId('wh');
    if (url.startsWith('/v1/events')) return newId('evt');
    if (url.startsWith('/v1/deliveries')) return newId('dlv');
    if (url.startsWith('/v1/listen/sessions')) return newId('lsn');
    if (url.startsWith('/v1/api-keys')) return newId('key');
    if (url.startsWith('/v1/accounts')) return newId('acct');
    return 'x';
  });
}

function allowed(who: Who, route: { access: string; scope: string | null }): boolean {
  if (who === 'admin') return route.access !== 'account';
  if (route.access === 'admin') return false;
  const held = who === 'read+events:write' ? ['read', 'events:write'] : [who];
  return held.includes('full') || held.includes(route.scope!);
}

function scopesSuite(start: () => Promise<TestServer>) {
  let server: TestServer;
  const keys = {} as Record<Who, string>;
  let routes: RouteAccess[];

  beforeAll(async () => {
    server = await start();
    keys.admin = server.adminKey;
    const full = client(server.url, server.apiKey);
    keys.full = server.apiKey;
    const make = async (scopes: string[]) => {
      const res = await full('POST', '/v1/api-keys', { name: scopes.join('+'), scopes });
      expect(res.status).toBe(201);
      return res.body.api_key as string;
    };
    keys.read = await make(['read']);
    keys['events:write'] = await make(['events:write']);
    keys['read+events:write'] = await make(['read', 'events:write']);
    routes = server.app.routeAccess;
  });
  afterAll(async () => {
    await server?.close();
  });

  it('every route is in the table (or public), with the access and scope it declares', () => {
    const seen = new Set<string>();
    for (const r of routes) {
      const name = `${r.method} ${r.url}`;
      if (r.access === 'public') {
        expect(
          PUBLIC.some((p) => p.test(name)),
          `${name} needs no key: is that meant? (add it to PUBLIC, or give it an access)`,
        ).toBe(true);
        continue;
      }
      if (r.method === 'HEAD') continue;
      const want = TABLE[name];
      expect(want, `${name} is not in the scopes table of this test`).toBeDefined();
      expect({ access: r.access, scope: r.scope ?? null }, name).toEqual(want);
      seen.add(name);
    }
    // And nothing in the table has gone missing from the app.
    expect([...seen].sort()).toEqual(Object.keys(TABLE).sort());
  });

  it('an app with a route that forgets its scope does not build', async () => {
    const Fastify = (await import('fastify')).default;
    const { requireDeclaredScopes } = await import('../src/api/scopes.js');
    const app = Fastify();
    requireDeclaredScopes(app);
    expect(() =>
      app.get('/v1/new-thing', { config: { access: 'account' } }, async () => ({})),
    ).toThrow(/no config\.scope/);
    await app.close();
  });

  it('every route × every kind of key: allowed, or 403 insufficient_scope / forbidden', async () => {
    const failures: string[] = [];
    for (const r of routes) {
      if (r.access === 'public' || r.method === 'HEAD') continue;
      const want = TABLE[`${r.method} ${r.url}`]!;
      for (const who of WHO) {
        const res: Answer = await client(server.url, keys[who])(
          r.method,
          pathOf(r.url),
          r.method === 'GET' || r.method === 'DELETE' ? undefined : {},
        );
        const name = `${who} → ${r.method} ${r.url}: ${res.status} ${res.text.slice(0, 160)}`;
        if (allowed(who, want)) {
          if (res.status === 401 || res.status === 403) failures.push(`refused: ${name}`);
          continue;
        }
        const wantCode =
          who !== 'admin' && want.access !== 'admin' ? 'insufficient_scope' : 'forbidden';
        if (res.status !== 403 || res.body?.error?.code !== wantCode) {
          failures.push(`expected 403 ${wantCode}: ${name}`);
        } else if (wantCode === 'insufficient_scope') {
          if (!res.body.error.message.includes(`"${want.scope}"`))
            failures.push(`the message does not name ${want.scope}: ${name}`);
          if (
            res.headers.get('www-authenticate') !==
            `Bearer error="insufficient_scope", scope="${want.scope}"`
          )
            failures.push(`no WWW-Authenticate naming ${want.scope}: ${name}`);
        }
      }
    }
    expect(failures).toEqual([]);
  });

  it('an events:write key posts events and nothing else; a read key reads but no secret', async () => {
    const full = client(server.url, keys.full);
    const ingest = client(server.url, keys['events:write']);
    const read = client(server.url, keys.read);
    const hook = await full('POST', '/v1/webhooks', {
      name: 'h',
      url: 'http://127.0.0.1:9/hook',
      events: ['agent.created'],
    });
    expect(hook.status).toBe(201);
    const event = await ingest('POST', '/v1/events', {
      event: 'agent.created',
      data: {
        agent_id: 'a1',
        agent_name: 'A',
        user_id: 'u1',
        created_at: '2024-01-15T10:35:00.000Z',
      },
    });
    expect(event.status).toBe(202);
    expect((await ingest('GET', `/v1/events/${event.body.id}`)).status).toBe(403);
    expect((await read('GET', `/v1/events/${event.body.id}`)).status).toBe(200);
    expect((await read('GET', `/v1/webhooks/${hook.body.id}`)).status).toBe(200);
    const secret = await read('GET', `/v1/webhooks/${hook.body.id}/secret`);
    expect(secret.status).toBe(403);
    expect(secret.body.error.code).toBe('insufficient_scope');
    expect(secret.text).not.toContain(hook.body.secret);
    expect((await read('PATCH', `/v1/webhooks/${hook.body.id}`, { name: 'x' })).status).toBe(403);
    expect((await full('GET', `/v1/webhooks/${hook.body.id}`)).body.name).toBe('h');
  });
}

describe('scopes on SQLite', () => {
  scopesSuite(() => startTestServer());
});

await describePostgres('scopes on PostgreSQL', (pg) => {
  scopesSuite(() =>
    startTestServer(
      {
        DATABASE_URL: pg.url,
        AF_ADMIN_KEY: 'afk_admin_scopes_0123456789abcdef',
        AF_ENCRYPTION_KEY: Buffer.alloc(32, 8).toString('base64'),
        AF_ALLOW_PRIVATE_NETWORKS: 'true',
      },
      { databaseSchema: pg.freshSchema() },
    ),
  );
});
