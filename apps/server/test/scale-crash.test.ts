/**
 * A worker process killed with SIGKILL mid-run (issue 4): every delivery still arrives, and the
 * only deliveries sent more than once are among those the dead worker held — claimed, leased to
 * it (its owner id carries its pid) and not completed — read from the database right after the
 * kill. Its leases (`AF_LEASE_DURATION=4s`) expire and the other workers take them within
 * seconds. And a worker stopped with SIGTERM finishes and records what it holds: no repeats.
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

const ENDPOINTS = 5;
const EVENTS = 600;

await describePostgres('scale: a worker killed mid-run', (pgc) => {
  let cluster: Cluster;
  let rx: TrackingReceiver;
  let api: ServiceProcess;
  let workers: ServiceProcess[];

  beforeAll(async () => {
    cluster = await createCluster(pgc.url);
    rx = await startTrackingReceiver();
    const env = { AF_LEASE_DURATION: '4s' };
    api = await cluster.start('api', env);
    workers = await cluster.startMany([1, 2, 3].map(() => ({ role: 'worker' as const, env })));
  }, 120_000);

  afterAll(async () => {
    await cluster?.close();
    await rx?.close();
  });

  it('SIGKILL: every delivery arrives; repeats only among what the dead worker held', async () => {
    const key = await createAccountKey(api.url);
    const urls = Array.from({ length: ENDPOINTS }, (_, n) => rx.endpoint(n));
    await createWebhooks(api.url, key, urls, ['agent.created']);
    // Slow enough answers that every worker holds attempts in flight when one is killed.
    rx.delayMs = () => 40;
    for (let b = 0; b < EVENTS / 100; b++) {
      const r = await call(api.url, key, 'POST', '/v1/events/batch', batchOf('agent.created', 100));
      expect(r.status).toBe(202);
    }
    const total = EVENTS * ENDPOINTS;
    await rx.waitForDistinct(Math.round(total / 4), 60_000);

    const owners = await cluster.sql<{ owner: string; n: number }>(
      'select owner, count(*)::int as n from delivery_leases group by owner',
    );
    // The one holding the most right now (the claims do not spread work evenly: whoever asks
    // first takes what is free).
    const busiest = [...owners].sort((a, b) => b.n - a.n)[0]?.owner ?? '';
    const victim = workers.find((w) => busiest.includes(`:${w.pid}:`)) ?? workers[0]!;
    const inFlightAtKill = rx.inFlightIds().length;
    victim.cli.child.kill('SIGKILL');
    await victim.cli.exited;
    const killedAt = Date.now();
    // What it held: leased to it and not completed (its owner id is host:pid:random).
    const held = await cluster.sql<{ id: string }>(
      `select d.id from deliveries d join delivery_leases l on l.delivery_id = d.id
       where d.status = 'pending' and l.owner like $1`,
      [`%:${victim.pid}:%`],
    );
    const heldIds = new Set(held.map((r) => r.id));
    expect(heldIds.size).toBeGreaterThan(0);

    await rx.waitForDistinct(total, 90_000);
    const doneMs = Date.now() - killedAt;
    const repeated = rx.repeated();
    console.log(
      `SIGKILL: the dead worker held ${heldIds.size} (${inFlightAtKill} in flight at the receiver ` +
        `from all workers), ${repeated.length} repeated, all ${total} arrived ${doneMs} ms after the kill`,
    );
    expect(rx.counts.size).toBe(total);
    expect(rx.overlaps).toEqual([]);
    for (const id of repeated) {
      expect(heldIds.has(id), `${id} repeated but not held by the dead worker`).toBe(true);
      expect(rx.counts.get(id)).toBe(2);
    }
    expect(repeated.length).toBeLessThanOrEqual(heldIds.size);
    // Its deliveries were taken again within seconds: the lease (4 s), a poll, and the send.
    const reclaimMs = Math.max(...[...heldIds].map((id) => rx.lastAt.get(id)! - killedAt));
    console.log(`SIGKILL: the last of its deliveries arrived ${reclaimMs} ms after the kill`);
    expect(reclaimMs).toBeLessThan(4000 + 4000);
    // The store agrees: everything succeeded.
    let rows: { status: string; n: number }[] = [];
    for (let i = 0; i < 50; i++) {
      rows = await cluster.sql<{ status: string; n: number }>(
        'select status, count(*)::int as n from deliveries group by status',
      );
      if (rows.length === 1 && rows[0]!.status === 'succeeded') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(rows).toEqual([{ status: 'succeeded', n: total }]);
    for (const w of workers) if (w !== victim) expect(w.alive(), w.output()).toBe(true);
    workers = workers.filter((w) => w !== victim);
  }, 180_000);

  it('SIGTERM mid-run: the worker finishes and records its attempts, exits 0; nothing is repeated', async () => {
    const key = await createAccountKey(api.url);
    const urls = Array.from({ length: ENDPOINTS }, (_, n) => rx.endpoint(100 + n));
    await createWebhooks(api.url, key, urls, ['agent.deleted']);
    rx.delayMs = () => 40;
    const before = rx.counts.size;
    const repeatedBefore = rx.repeated().length;
    for (let b = 0; b < 3; b++) {
      const r = await call(api.url, key, 'POST', '/v1/events/batch', batchOf('agent.deleted', 100));
      expect(r.status).toBe(202);
    }
    const total = 300 * ENDPOINTS;
    await rx.waitForDistinct(before + Math.round(total / 4), 60_000);
    const owners = await cluster.sql<{ owner: string; n: number }>(
      'select owner, count(*)::int as n from delivery_leases group by owner order by n desc',
    );
    const stopped = workers.find((w) => owners[0]?.owner.includes(`:${w.pid}:`)) ?? workers[0]!;
    const t0 = Date.now();
    stopped.cli.child.kill('SIGTERM');
    expect(await stopped.cli.exited).toBe(0);
    const exitMs = Date.now() - t0;
    await rx.waitForDistinct(before + total, 60_000);
    console.log(`SIGTERM: exited 0 in ${exitMs} ms; all ${total} arrived`);
    expect(rx.repeated().length).toBe(repeatedBefore);
    expect(rx.overlaps).toEqual([]);
  }, 120_000);
});
