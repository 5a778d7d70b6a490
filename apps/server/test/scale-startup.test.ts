/**
 * Processes started at once on a fresh database (issue 4): they migrate once — every migration
 * row written by one transaction, every process ready — and then, across two api processes, the
 * same `Idempotency-Key` sent at the same moment to both creates one event: the other answer is
 * the same event or 409 `idempotency_key_in_flight`.
 */
import { eventSamples } from '@agentfactory/webhooks';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadMigrations } from '../src/store/postgres/index.js';
import {
  type Cluster,
  call,
  createAccountKey,
  createCluster,
  type ServiceProcess,
} from './helpers/cluster.js';
import { describePostgres } from './helpers/postgres.js';

await describePostgres('scale: concurrent starts and idempotency across api processes', (pgc) => {
  let cluster: Cluster;
  let procs: ServiceProcess[];
  let startMs = 0;

  beforeAll(async () => {
    cluster = await createCluster(pgc.url);
    const t0 = Date.now();
    // Five processes, none started first: all of them migrate at start.
    procs = await cluster.startMany([
      { role: 'api' },
      { role: 'api' },
      { role: 'worker' },
      { role: 'worker' },
      { role: 'all' },
    ]);
    startMs = Date.now() - t0;
  }, 120_000);

  afterAll(async () => {
    await cluster?.close();
  });

  it('five processes started at once on a fresh database migrate once and all become ready', async () => {
    console.log(`startup: five processes ready in ${startMs} ms`);
    for (const p of procs) {
      expect(p.alive(), p.output()).toBe(true);
      expect((await fetch(`${p.url}/readyz`)).status).toBe(200);
    }
    const rows = await cluster.sql<{ version: number; applied_at: Date }>(
      'select version, applied_at from schema_migrations order by version',
    );
    expect(rows.map((r) => r.version)).toEqual(loadMigrations().map((m) => m.version));
    // One transaction applied them all (`applied_at` is its start time): one process migrated.
    expect(new Set(rows.map((r) => r.applied_at.getTime())).size).toBe(1);
  });

  it('the same Idempotency-Key at the same moment to two api processes creates one event', async () => {
    const [a, b] = procs.filter((p) => p.role === 'api') as [ServiceProcess, ServiceProcess];
    const key = await createAccountKey(a.url);
    const rounds = 25;
    const outcomes = new Map<string, number>();
    for (let i = 0; i < rounds; i++) {
      const body = { event: 'agent.created', data: { ...eventSamples['agent.created'], n: i } };
      const headers = { 'idempotency-key': `scale-${i}` };
      const answers = await Promise.all(
        [a, b].map((p) => call(p.url, key, 'POST', '/v1/events', body, headers)),
      );
      const created = answers.filter((r) => r.status === 202);
      expect(created.length, JSON.stringify(answers.map((r) => r.body))).toBeGreaterThan(0);
      // Every 202 names the same event; any other answer is 409 idempotency_key_in_flight.
      expect(new Set(created.map((r) => r.body.id)).size).toBe(1);
      for (const r of answers) {
        if (r.status === 202) continue;
        expect(r.status).toBe(409);
        expect(r.body.error.code).toBe('idempotency_key_in_flight');
      }
      const shape = answers.map((r) => r.status).join('+');
      outcomes.set(shape, (outcomes.get(shape) ?? 0) + 1);
    }
    console.log(`idempotency: answers ${JSON.stringify(Object.fromEntries(outcomes))}`);
    const [{ n }] = (await cluster.sql<{ n: number }>('select count(*)::int as n from events')) as [
      { n: number },
    ];
    expect(n).toBe(rounds);
    const keys = await cluster.sql<{ n: number }>(
      'select count(*)::int as n from idempotency_keys',
    );
    expect(keys[0]!.n).toBe(rounds);
  });
});
