/**
 * `npm run bench:pg-ops` — the PostgreSQL store's hot operations, one at a time on an idle
 * store: wall time per call and the database's CPU per call (read from /proc, so Linux only, and
 * every `postgres:` process of the machine is counted). One cycle is what one event costs:
 * authenticate, accept the event, claim its delivery, write its outcome.
 *
 *   npm run bench:pg-ops -- --cycles 2000 [--backlog 20000] [--pg-url postgres://…]
 */
import { readdirSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createPostgresStore } from '../apps/server/src/store/postgres/index.js';
import type { AttemptOutcome } from '../apps/server/src/store/types.js';
import { webhookRow } from '../apps/server/test/helpers/rows.js';

const { values: args } = parseArgs({
  options: {
    cycles: { type: 'string', default: '2000' },
    /** Events already pending for the webhook before the cycles start (one endpoint's backlog). */
    backlog: { type: 'string', default: '0' },
    'pg-url': {
      type: 'string',
      default: process.env.AF_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    },
  },
});
const url = args['pg-url']!;
const cycles = Number(args.cycles);
const backlog = Number(args.backlog);
const schema = `af_pg_ops_${process.pid}`;

/** CPU time (ms) of every PostgreSQL process so far. */
function postgresCpuMs(): number {
  let ticks = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('postgres: ')) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime + stime
    } catch {
      // The process ended meanwhile.
    }
  }
  return ticks * 10; // USER_HZ is 100 on Linux
}

const wall: Record<string, number> = {};
const dbCpu: Record<string, number> = {};
async function timed<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const cpu0 = postgresCpuMs();
  const t0 = performance.now();
  const result = await fn();
  wall[name] = (wall[name] ?? 0) + performance.now() - t0;
  dbCpu[name] = (dbCpu[name] ?? 0) + postgresCpuMs() - cpu0;
  return result;
}

const store = createPostgresStore({ url, schema });
try {
  await store.migrate();
  const t = Date.now();
  await store.createAccount({ id: 'acc_ops', name: 'ops', createdAt: t });
  await store.createWebhook(
    webhookRow({
      id: 'wh_ops',
      accountId: 'acc_ops',
      url: 'http://127.0.0.1:9/',
      secretEnc: 'unused',
      createdAt: t,
    }),
  );
  const claim = (now: number) => ({
    now,
    limit: 100,
    owner: 'ops',
    leaseMs: 15_000,
    webhookLeases: 10,
  });
  for (let i = 0; i < backlog; i += 100) {
    const now = Date.now();
    const batch = Array.from({ length: Math.min(100, backlog - i) }, (_, k) => ({
      id: `evt_b${i + k}`,
      event: 'agent.created',
      timestamp: now,
      body: '{}',
    }));
    await store.insertEvents('acc_ops', batch, now);
  }
  for (let i = 0; i < cycles; i++) {
    const now = Date.now();
    await timed('findApiKeyByHash', () => store.findApiKeyByHash('0'.repeat(64)));
    await timed('insertEvents (1)', () =>
      store.insertEvents(
        'acc_ops',
        [{ id: `evt_${i}`, event: 'agent.created', timestamp: now, body: '{}' }],
        now,
      ),
    );
    const claimed = await timed('claimDue', () => store.claimDue(claim(now)));
    await timed('nextDueAt', () => store.nextDueAt(now));
    const outcomes = claimed.map(
      (c, k): AttemptOutcome => ({
        deliveryId: c.id,
        accountId: c.accountId,
        webhookId: 'wh_ops',
        owner: 'ops',
        status: 'succeeded',
        nextAttemptAt: null,
        now,
        attempt: {
          id: `att_${i}_${k}`,
          deliveryId: c.id,
          number: 1,
          startedAt: now,
          durationMs: 1,
          statusCode: 200,
          error: null,
          requestHeaders: { 'content-type': 'application/json' },
          responseHeaders: {},
          responseBody: '',
          responseBodyEncoding: 'utf8',
          trigger: 'scheduled',
          succeeded: true,
        },
      }),
    );
    await timed('completeAttempts', () => store.completeAttempts(outcomes));
  }
  console.log(
    `${cycles} cycles on ${schema}, ${backlog} pending before (per call: wall time, database CPU)`,
  );
  for (const name of Object.keys(wall)) {
    const us = (ms: number) => `${((ms * 1000) / cycles).toFixed(0).padStart(6)} µs`;
    console.log(`${name.padEnd(18)} ${us(wall[name]!)}  ${us(dbCpu[name]!)}`);
  }
} finally {
  await store.close();
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query(`drop schema if exists ${schema} cascade`);
  await c.end();
}
