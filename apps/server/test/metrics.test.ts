/**
 * `/metrics` (issue 11, point 7): a scrape asks the store nothing (the pending gauge is counted
 * on a timer, once per interval whatever the scrape rate), and with `AF_METRICS_TOKEN` set it
 * needs that bearer token.
 */
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { createMetrics } from '../src/metrics.js';
import { healthGauges } from '../src/operations/gauges.js';
import type { Store } from '../src/store/types.js';
import { client, eventually } from './helpers/client.js';
import { describePostgres } from './helpers/postgres.js';
import { type Receiver, startReceiver } from './helpers/receiver.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const started: (TestServer | Receiver)[] = [];
afterAll(async () => {
  for (const s of started.reverse()) await s.close();
});

/** Replaces every method of a real store with one that counts its calls, then calls it. */
function countCalls(store: Store): Map<string, number> {
  const counts = new Map<string, number>();
  const names = new Set<string>();
  for (let o: object | null = store; o && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    for (const n of Object.getOwnPropertyNames(o)) names.add(n);
  }
  const target = store as unknown as Record<string, unknown>;
  for (const name of names) {
    const fn = target[name];
    if (name === 'constructor' || typeof fn !== 'function') continue;
    target[name] = (...args: unknown[]) => {
      counts.set(name, (counts.get(name) ?? 0) + 1);
      return (fn as (...a: unknown[]) => unknown).apply(store, args);
    };
  }
  return counts;
}

async function scrape(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${url}/metrics`, { headers });
  return { status: res.status, text: await res.text() };
}

function pendingOf(text: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith('agentfactory_deliveries_pending '));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

describe('the health gauges (watchHealth)', () => {
  it('show the oldest due wait, failing webhooks and disabled ones by reason', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const now = Date.UTC(2024, 0, 15);
    const store = {
      nextDueAt: async () => now - 90_000,
      countWebhookHealth: async () => ({
        failing: 3,
        disabled: { gone: 1, failing: 2, manual: 0 },
      }),
    } as unknown as Store;
    const stop = metrics.watchHealth(() => healthGauges(store, { now: () => now }), {
      onError: (err) => {
        throw err;
      },
    });
    await eventually(async () =>
      (await metrics.registry.metrics()).includes('agentfactory_webhooks_failing 3')
        ? true
        : undefined,
    );
    stop();
    const text = await metrics.registry.metrics();
    expect(text).toContain('agentfactory_deliveries_oldest_due_age_seconds 90');
    expect(text).toContain('agentfactory_webhooks_disabled{reason="gone"} 1');
    expect(text).toContain('agentfactory_webhooks_disabled{reason="failing"} 2');
    expect(text).toContain('agentfactory_webhooks_disabled{reason="manual"} 0');
    // Nothing due yet (the next retry is later): no wait.
    expect(
      (
        await healthGauges({ ...store, nextDueAt: async () => now + 5 } as Store, {
          now: () => now,
        })
      ).oldestDueAgeSeconds,
    ).toBe(0);
  });
});

describe('the pending gauge (watchPending)', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('counts once now and once per interval, whatever the scrape rate; errors are passed on', async () => {
    vi.useFakeTimers();
    const metrics = createMetrics({ defaultMetrics: false });
    let calls = 0;
    let fail = false;
    const errors: unknown[] = [];
    const stop = metrics.watchPending(
      async () => {
        calls++;
        if (fail) throw new Error('database unreachable');
        return 7;
      },
      { intervalMs: 1000, onError: (err) => errors.push(err) },
    );
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toBe(1);
    for (let i = 0; i < 50; i++) await metrics.registry.metrics();
    expect(calls).toBe(1);
    expect(pendingOf(await metrics.registry.metrics())).toBe(7);

    await vi.advanceTimersByTimeAsync(3000);
    expect(calls).toBe(4);

    // A failed count keeps the last value and is reported, not thrown.
    fail = true;
    await vi.advanceTimersByTimeAsync(1000);
    expect(errors).toHaveLength(1);
    expect(pendingOf(await metrics.registry.metrics())).toBe(7);

    stop();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(calls).toBe(5);
  });

  it('never runs two counts at once', async () => {
    vi.useFakeTimers();
    const metrics = createMetrics({ defaultMetrics: false });
    let running = 0;
    let most = 0;
    const stop = metrics.watchPending(
      async () => {
        running++;
        most = Math.max(most, running);
        await new Promise((r) => setTimeout(r, 3500));
        running--;
        return 1;
      },
      { intervalMs: 1000, onError: () => {} },
    );
    await vi.advanceTimersByTimeAsync(10_000);
    stop();
    expect(most).toBe(1);
  });
});

describe('outcome write errors', () => {
  it('are counted by kind, each kind shown from the start', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.outcomeWriteFailed('split');
    metrics.outcomeWriteFailed('safe_form');
    metrics.outcomeWriteFailed('safe_form');
    const text = await metrics.registry.metrics();
    expect(text).toContain('agentfactory_outcome_write_errors_total{kind="split"} 1');
    expect(text).toContain('agentfactory_outcome_write_errors_total{kind="safe_form"} 2');
    expect(text).toContain('agentfactory_outcome_write_errors_total{kind="dropped"} 0');
  });
});

describe('scrapes on SQLite', () => {
  it('ask the store nothing; the gauge follows the store at its interval', async () => {
    // Failing receiver, retries an hour away: each event leaves one pending delivery.
    const rx = await startReceiver();
    started.push(rx);
    rx.respond = () => ({ status: 500 });
    const server = await startTestServer(
      { AF_RETRY_BASE_DELAY: '1h', AF_RETRY_WINDOW: '24h', AF_MAX_RETRIES: '5' },
      { pendingRefreshMs: 200 },
    );
    started.push(server);
    const call = client(server.url, server.apiKey);
    expect(
      (await call('POST', '/v1/webhooks', { name: 'r', url: rx.url, events: ['*'] })).status,
    ).toBe(201);
    const sample = (await call('GET', '/v1/event-types')).body.data[0];
    for (let i = 0; i < 3; i++) {
      const res = await call('POST', '/v1/events', { event: sample.name, data: sample.sample });
      expect(res.status).toBe(202);
    }
    await rx.waitFor(3);
    await eventually(async () => {
      const n = pendingOf((await scrape(server.url)).text);
      return n === 3 ? n : undefined;
    });

    const counts = countCalls(server.store);
    const t0 = Date.now();
    for (let i = 0; i < 200; i++) expect((await scrape(server.url)).status).toBe(200);
    const elapsed = Date.now() - t0;
    // One count per 200 ms interval (and one in flight at most), not one per scrape.
    expect(counts.get('countPending') ?? 0).toBeLessThanOrEqual(Math.ceil(elapsed / 200) + 1);
    expect(counts.get('ping') ?? 0).toBe(0);
  });

  it('with the default interval, 200 scrapes run no count at all', async () => {
    const server = await startTestServer();
    started.push(server);
    // Past the count made at start.
    await new Promise((r) => setTimeout(r, 100));
    const counts = countCalls(server.store);
    for (let i = 0; i < 200; i++) expect((await scrape(server.url)).status).toBe(200);
    expect(counts.get('countPending') ?? 0).toBe(0);
  });
});

await describePostgres('scrapes on PostgreSQL', (pg) => {
  it('an api process answers 200 scrapes without a single store call', async () => {
    const server = await startTestServer(
      {
        DATABASE_URL: pg.url,
        AF_ADMIN_KEY: 'admin-key-for-postgres-tests',
        AF_ENCRYPTION_KEY: Buffer.alloc(32, 9).toString('base64'),
        AF_ROLE: 'api',
      },
      { databaseSchema: pg.freshSchema() },
    );
    started.push(server);
    await new Promise((r) => setTimeout(r, 200));
    const counts = countCalls(server.store);
    for (let i = 0; i < 200; i++) expect((await scrape(server.url)).status).toBe(200);
    expect(Object.fromEntries(counts)).toEqual({});
  });
});

describe('AF_METRICS_TOKEN', () => {
  const token = 'metrics-token-0123456789abcdef';
  let server: TestServer;

  it('needs the bearer token when set', async () => {
    server = await startTestServer({ AF_METRICS_TOKEN: token });
    started.push(server);
    const refused: Record<string, string>[] = [
      {},
      { authorization: `Bearer ${token}x` },
      { authorization: `Bearer ${token.slice(0, -1)}` },
      { authorization: 'Bearer x' },
      { authorization: `Basic ${Buffer.from(`u:${token}`).toString('base64')}` },
      { authorization: token },
      { authorization: `Bearer ${server.adminKey}` },
    ];
    for (const headers of refused) {
      const res = await fetch(`${server.url}/metrics`, { headers });
      expect({ headers, status: res.status }).toEqual({ headers, status: 401 });
      const body = await res.json();
      expect(body.error.code).toBe('unauthorized');
      expect(body.error.message).toMatch(/AF_METRICS_TOKEN/);
      expect(JSON.stringify(body)).not.toContain(token);
    }
    for (const authorization of [`Bearer ${token}`, `bearer ${token}`]) {
      const ok = await scrape(server.url, { authorization });
      expect(ok.status).toBe(200);
      expect(ok.text).toContain('agentfactory_delivery_attempts_total');
    }
    // The other operations routes stay open.
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
  });

  it('needs no key when unset', async () => {
    const open = await startTestServer();
    started.push(open);
    expect(open.config.metricsToken).toBeUndefined();
    const res = await scrape(open.url);
    expect(res.status).toBe(200);
    expect(res.text).toContain('agentfactory_deliveries_pending');
  });
});
