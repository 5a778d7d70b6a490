/**
 * Scale-out across processes (issue 4): one api and three worker processes on one PostgreSQL
 * database deliver 20,000 deliveries — none lost, none sent by two workers at once — and a slow
 * endpoint never has more than `AF_ENDPOINT_CONCURRENCY` requests in flight across the three.
 * The receiver checks both, per delivery id and per endpoint.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  batchOf,
  type Cluster,
  call,
  createAccountKey,
  createCluster,
  createWebhooks,
  type ServiceProcess,
} from './helpers/cluster.js';
import { describePostgres } from './helpers/postgres.js';
import { startTrackingReceiver, type TrackingReceiver } from './helpers/tracking-receiver.js';

const CAP = 3;

/** The worker's `agentfactory_delivery_attempts_total`, summed over its labels. */
async function attemptsOf(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let n = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('agentfactory_delivery_attempts_total')) n += Number(line.split(' ').pop());
  }
  return n;
}
const ENDPOINTS = 10;
const EVENTS = 2000;

await describePostgres('scale: one api and three workers', (pgc) => {
  let cluster: Cluster;
  let rx: TrackingReceiver;
  let api: ServiceProcess;
  let workers: ServiceProcess[];
  let key: string;

  beforeAll(async () => {
    cluster = await createCluster(pgc.url);
    rx = await startTrackingReceiver();
    const env = { AF_ENDPOINT_CONCURRENCY: String(CAP) };
    // The api first: it migrates; the workers then find the schema ready.
    api = await cluster.start('api', env);
    workers = await cluster.startMany([1, 2, 3].map(() => ({ role: 'worker' as const, env })));
    key = await createAccountKey(api.url);
  }, 120_000);

  afterAll(async () => {
    await cluster?.close();
    await rx?.close();
  });

  it('20,000 deliveries: every one arrives, none twice at once, the cap holds per endpoint', async () => {
    const urls = Array.from({ length: ENDPOINTS }, (_, n) => rx.endpoint(n));
    await createWebhooks(api.url, key, urls, ['agent.created']);
    // A few ms per answer, so requests to one endpoint can overlap and the cap is exercised.
    rx.delayMs = () => 5;
    const t0 = Date.now();
    const batches = EVENTS / 100;
    const accepted: string[] = [];
    // Four producers at a time, as a platform posting in parallel would.
    for (let b = 0; b < batches; b += 4) {
      const answers = await Promise.all(
        Array.from({ length: Math.min(4, batches - b) }, () =>
          call(api.url, key, 'POST', '/v1/events/batch', batchOf('agent.created', 100)),
        ),
      );
      for (const a of answers) {
        expect(a.status).toBe(202);
        for (const e of a.body.data) accepted.push(e.id);
      }
    }
    const acceptedMs = Date.now() - t0;
    const total = EVENTS * ENDPOINTS;
    await rx.waitForDistinct(total, 150_000);
    const deliveredMs = Date.now() - t0;

    expect(accepted).toHaveLength(EVENTS);
    expect(rx.counts.size).toBe(total);
    for (const id of accepted) expect(rx.events.has(id)).toBe(true);
    expect(rx.overlaps).toEqual([]);
    const repeated = rx.repeated();
    console.log(
      `20k: accepted in ${acceptedMs} ms, delivered in ${deliveredMs} ms ` +
        `(${Math.round(total / (deliveredMs / 1000))}/s), ${rx.total()} requests, ` +
        `${repeated.length} repeated, max in flight per endpoint ${Math.max(...rx.maxInFlight.values())}`,
    );
    // Nothing failed and no worker died: nothing had a reason to be sent twice.
    expect(repeated).toEqual([]);
    for (const [path, max] of rx.maxInFlight) expect(max, path).toBeLessThanOrEqual(CAP);
    // The store agrees: all succeeded, one attempt each.
    const rows = await cluster.sql<{ status: string; n: number; attempts: number }>(
      `select status, count(*)::int as n, sum(attempt_count)::int as attempts
       from deliveries group by status`,
    );
    const pending = await cluster.sql<{ n: number }>(
      `select count(*)::int as n from deliveries where status <> 'succeeded'`,
    );
    if (pending[0]!.n > 0) {
      // Outcomes are written in batches right after the answers: give them a moment.
      await new Promise((r) => setTimeout(r, 2000));
    }
    const final = await cluster.sql<{ status: string; n: number; attempts: number }>(
      `select status, count(*)::int as n, sum(attempt_count)::int as attempts
       from deliveries group by status`,
    );
    expect(final, JSON.stringify(rows)).toEqual([
      { status: 'succeeded', n: total, attempts: total },
    ]);
    for (const w of workers) expect(w.alive(), w.output()).toBe(true);
    // The three shared the work (each worker's own attempts counter).
    const shares = await Promise.all(workers.map((w) => attemptsOf(w.url)));
    console.log(`20k: attempts per worker ${shares.join(', ')}`);
    expect(shares.reduce((a, b) => a + b, 0)).toBe(total);
  }, 200_000);

  it(`a slow endpoint: never more than AF_ENDPOINT_CONCURRENCY (${CAP}) in flight across three workers`, async () => {
    const slow = rx.endpoint(100);
    rx.delayMs = (path) => (path === '/e100' ? 250 : 0);
    await createWebhooks(api.url, key, [slow], ['agent.deleted']);
    // Counted before posting: the first deliveries may arrive before the answer to the POST.
    const before = rx.counts.size;
    const r = await call(api.url, key, 'POST', '/v1/events/batch', batchOf('agent.deleted', 60));
    expect(r.status).toBe(202);
    await rx.waitForDistinct(before + 60, 30_000);
    const max = rx.maxInFlight.get('/e100');
    console.log(`slow endpoint: max in flight ${max} (cap ${CAP})`);
    // The cap is reached (the three workers share it) and never passed.
    expect(max).toBe(CAP);
    expect(rx.overlaps).toEqual([]);
  }, 60_000);
});
