/**
 * Rate limits (issue 16; SPEC §6 `AF_RATE_LIMIT`, `AF_INGEST_RATE_LIMIT`): GCRA with an injected
 * clock; the service on both stores answering 429 `rate_limited` with `Retry-After` and the IETF
 * `RateLimit` / `RateLimit-Policy` headers, per key on the management API and per account in
 * events on ingestion; off by default; and two api processes on PostgreSQL holding one limit
 * together within ±10 % over a bounded run.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, parseRateLimit } from '../src/config.js';
import { outcome, type RatePolicy, take } from '../src/rate-limit/gcra.js';
import { MemoryRateLimiter } from '../src/rate-limit/limiter.js';
import { client } from './helpers/client.js';
import { batchOf, call, createAccountKey, createCluster } from './helpers/cluster.js';
import { describePostgres } from './helpers/postgres.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const started: { close(): Promise<void> }[] = [];
afterAll(async () => {
  for (const s of started.reverse()) await s.close();
});

describe('GCRA', () => {
  const policy: RatePolicy = { name: 'api', perSecond: 10, burst: 20 };

  it('allows the burst at once, then the rate, and says when to retry', async () => {
    let now = 1_000_000;
    const limiter = new MemoryRateLimiter(() => now);
    const results = [];
    for (let i = 0; i < 21; i++) results.push(await limiter.take('k', 1, policy));
    expect(results.slice(0, 20).every((r) => r.allowed)).toBe(true);
    expect(results.map((r) => r.remaining).slice(0, 3)).toEqual([19, 18, 17]);
    expect(results[19]!.remaining).toBe(0);
    const refused = results[20]!;
    expect(refused).toMatchObject({ allowed: false, remaining: 0, retryAfterMs: 100 });
    expect(refused.resetMs).toBe(2000);
    // One unit comes back every 100 ms.
    now += 99;
    expect((await limiter.take('k', 1, policy)).allowed).toBe(false);
    now += 1;
    expect((await limiter.take('k', 1, policy)).allowed).toBe(true);
    expect((await limiter.take('k', 1, policy)).allowed).toBe(false);
    // Another key has its own bucket.
    expect((await limiter.take('other', 20, policy)).allowed).toBe(true);
    // Over a long run, the burst plus the rate: 20 + 10/s × 10 s.
    const fresh = new MemoryRateLimiter(() => now);
    let allowed = 0;
    for (let t = 0; t <= 10_000; t += 5) {
      now = 5_000_000 + t;
      if ((await fresh.take('k', 1, policy)).allowed) allowed++;
    }
    expect(allowed).toBe(20 + 100);
  });

  it('takes a cost in units, and refuses for good a cost over the burst', async () => {
    const now = 0;
    const limiter = new MemoryRateLimiter(() => now);
    expect((await limiter.take('k', 15, policy)).remaining).toBe(5);
    const refused = await limiter.take('k', 10, policy);
    expect(refused.allowed).toBe(false);
    expect(refused.retryAfterMs).toBe(500);
    expect(await limiter.take('k', 21, policy)).toMatchObject({
      allowed: false,
      retryAfterMs: null,
    });
    // A refusal changes nothing.
    expect(take(1000, 0, 5, policy)).toEqual({ allowed: true, tat: 1500 });
    expect(outcome(true, 1500, 0, 5, policy)).toMatchObject({ remaining: 5, resetMs: 1500 });
  });

  it('parses the settings: off by default, N/s, N/m, N/h, burst two seconds', () => {
    expect(loadConfig({ AF_DATA_DIR: '/tmp/af-rate-config' }).rateLimits).toEqual({
      api: null,
      events: null,
    });
    expect(parseRateLimit('100/s')).toEqual({ perSecond: 100, burst: 200 });
    expect(parseRateLimit('6000/m')).toEqual({ perSecond: 100, burst: 200 });
    expect(parseRateLimit('36000/h')).toEqual({ perSecond: 10, burst: 20 });
    expect(parseRateLimit('50')).toEqual({ perSecond: 50, burst: 100 });
    expect(parseRateLimit('1/m')).toEqual({ perSecond: 1 / 60, burst: 1 });
    expect(parseRateLimit('0')).toBeNull();
    expect(parseRateLimit('off')).toBeNull();
    for (const bad of ['fast', '-1/s', '10/d', '10/s/s'])
      expect(() => parseRateLimit(bad)).toThrow(/expected a rate/);
    expect(() => loadConfig({ AF_DATA_DIR: '/tmp/af-rate-config', AF_RATE_LIMIT: 'x' })).toThrow(
      /AF_RATE_LIMIT/,
    );
  });
});

/** The 429 and its headers, on a service started with `env`. */
async function limitsAnswer(start: (env: Record<string, string>) => Promise<TestServer>) {
  // 5 requests a second per key, 10 at once; 25 events a second per account, 50 at once.
  const server = await start({ AF_RATE_LIMIT: '5/s', AF_INGEST_RATE_LIMIT: '25/s' });
  started.push(server);
  const api = client(server.url, server.apiKey);

  // Until the first refusal: the burst of 10 at least (a slow machine may refill one or two).
  const answers = [];
  const began = Date.now();
  for (let i = 0; i < 40; i++) {
    const a = await api('GET', '/v1/webhooks');
    answers.push(a);
    if (a.status !== 200) break;
    expect(a.headers.get('ratelimit-policy')).toBe('"api";q=10;w=2');
  }
  const served = answers.length - 1;
  expect(served).toBeGreaterThanOrEqual(10);
  expect(served).toBeLessThanOrEqual(10 + Math.ceil(((Date.now() - began) / 1000) * 5));
  expect(answers[0]!.headers.get('ratelimit')).toMatch(/^"api";r=9;t=1$/);
  const refused = answers[served]!;
  expect(refused.status).toBe(429);
  expect(refused.body.error.code).toBe('rate_limited');
  expect(refused.body.error.message).toMatch(/5\/s on average, 10 at once/);
  expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  expect(refused.headers.get('ratelimit')).toMatch(/^"api";r=0;t=[12]$/);
  expect(refused.headers.get('ratelimit-policy')).toBe('"api";q=10;w=2');

  // Per key: another key of the same account has its own bucket; unauthenticated routes none.
  const other = await client(server.url, server.adminKey)(
    'POST',
    `/v1/accounts/${server.accountId}/api-keys`,
  );
  expect(other.status).toBe(201);
  const second = await client(server.url, other.body.api_key)('GET', '/v1/webhooks');
  expect(second.status).toBe(200);
  const health = await fetch(`${server.url}/healthz`);
  expect(health.status).toBe(200);
  expect(health.headers.get('ratelimit')).toBeNull();

  // Ingestion, per account, in events: a batch of 50 takes the whole burst, even with the
  // management bucket of the key empty; the next batch of 50 (which needs the 2 s the bucket
  // takes to refill) is refused, from either key; a batch over the burst is refused with no
  // Retry-After (it never fits).
  const batch = await api('POST', '/v1/events/batch', batchOf('agent.deployed', 50));
  expect(batch.status).toBe(202);
  expect(batch.headers.get('ratelimit-policy')).toBe('"events";q=50;w=2');
  expect(batch.headers.get('ratelimit')).toMatch(/^"events";r=0;t=2$/);
  const again = await api('POST', '/v1/events/batch', batchOf('agent.deployed', 50));
  expect(again.status).toBe(429);
  expect(again.body.error.code).toBe('rate_limited');
  expect(Number(again.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  expect(Number(again.headers.get('retry-after'))).toBeLessThanOrEqual(2);
  const secondKeyBatch = await client(server.url, other.body.api_key)(
    'POST',
    '/v1/events/batch',
    batchOf('agent.deployed', 45),
  );
  expect(secondKeyBatch.status, 'the events limit is per account, not per key').toBe(429);
  const tooBig = await api('POST', '/v1/events/batch', batchOf('agent.deployed', 60));
  expect(tooBig.status).toBe(429);
  expect(tooBig.body.error.message).toMatch(/more than the burst of 50/);
  expect(tooBig.headers.get('retry-after')).toBeNull();
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  expect(metrics).toMatch(/^agentfactory_rate_limited_total\{limit="api"\} 1$/m);
  expect(metrics).toMatch(/^agentfactory_rate_limited_total\{limit="events"\} 3$/m);
  // Nothing refused was stored: the 50 of the batch only.
  const listed = await client(server.url, other.body.api_key)('GET', '/v1/events?limit=100');
  expect(listed.body.data).toHaveLength(50);
}

describe('rate limits on SQLite', () => {
  it('answer 429 rate_limited with Retry-After and the RateLimit headers', async () => {
    await limitsAnswer((env) => startTestServer(env));
  });

  it('are off by default: no headers, no refusal', async () => {
    const server = await startTestServer();
    started.push(server);
    const api = client(server.url, server.apiKey);
    for (let i = 0; i < 30; i++) {
      const a = await api('GET', '/v1/webhooks');
      expect(a.status).toBe(200);
      expect(a.headers.get('ratelimit')).toBeNull();
    }
  });
});

await describePostgres('rate limits on PostgreSQL', (pg) => {
  const shared = {
    DATABASE_URL: pg.url,
    AF_ADMIN_KEY: 'admin-key-for-postgres-tests',
    AF_ENCRYPTION_KEY: Buffer.alloc(32, 9).toString('base64'),
  };

  it('answer 429 rate_limited with Retry-After and the RateLimit headers', async () => {
    const schema = pg.freshSchema();
    await limitsAnswer((env) => startTestServer({ ...shared, ...env }, { databaseSchema: schema }));
  });

  it('two api processes hold one limit together, within ±10 %', async () => {
    const cluster = await createCluster(pg.url);
    started.push(cluster);
    // 20 requests a second per key, 40 at once.
    const [a, b] = await cluster.startMany([
      { role: 'api', env: { AF_RATE_LIMIT: '20/s' } },
      { role: 'api', env: { AF_RATE_LIMIT: '20/s' } },
    ]);
    const key = await createAccountKey(a!.url);
    const statuses = new Map<string, number[]>();
    const durationMs = 3000;
    const start = Date.now();
    let last = start;
    // Two callers per process, each as fast as it is answered, for the same key.
    const caller = async (url: string) => {
      const seen = statuses.get(url) ?? [];
      statuses.set(url, seen);
      while (Date.now() - start < durationMs) {
        const r = await call(url, key, 'GET', '/v1/webhooks');
        seen.push(r.status);
        last = Math.max(last, Date.now());
      }
    };
    await Promise.all([caller(a!.url), caller(a!.url), caller(b!.url), caller(b!.url)]);
    const all = [...statuses.values()].flat();
    expect(all.every((s) => s === 200 || s === 429)).toBe(true);
    const allowed = all.filter((s) => s === 200).length;
    // Each process both served and refused: the limit is not one process's alone.
    for (const seen of statuses.values()) {
      expect(seen).toContain(200);
      expect(seen).toContain(429);
    }
    // Far more was asked than allowed, so the limit decided.
    expect(all.length).toBeGreaterThan(allowed * 1.5);
    const expected = 40 + 20 * ((last - start) / 1000);
    expect(allowed).toBeGreaterThanOrEqual(Math.floor(expected * 0.9));
    expect(allowed).toBeLessThanOrEqual(Math.ceil(expected * 1.1));
  }, 120_000);
});
