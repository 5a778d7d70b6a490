/**
 * `npm run bench:pg-ops` — the PostgreSQL store's hot operations, one at a time on an idle
 * store: wall time per call and the database's CPU per call (read from /proc, so Linux only, and
 * every `postgres:` process of the machine is counted). One cycle is what one event costs:
 * authenticate, accept the event, claim its delivery, write its outcome. With `--events` and
 * `--fan-out`, a cycle accepts that many events in one call for that many webhooks and claims and
 * completes all their deliveries in one call each: what the store costs per delivery in batches,
 * as under load (then also printed per delivery).
 *
 *   npm run bench:pg-ops -- --cycles 2000 [--backlog 20000] [--events 10 --fan-out 10]
 *     [--pg-url postgres://…]
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
    /** Events accepted per cycle, in one call. */
    events: { type: 'string', default: '1' },
    /** Webhooks every event goes to. */
    'fan-out': { type: 'string', default: '1' },
    'pg-url': {
      type: 'string',
      default: process.env.AF_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    },
  },
});
const url = args['pg-url']!;
const cycles = Number(args.cycles);
const backlog = Number(args.backlog);
const eventsPerCycle = Number(args.events);
const fanOut = Number(args['fan-out']);
const perCycle = eventsPerCycle * fanOut;
const insertOp = `insertEvents (${eventsPerCycle})`;
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
  for (let w = 0; w < fanOut; w++) {
    await store.createWebhook(
      webhookRow({
        id: w === 0 ? 'wh_ops' : `wh_ops_${w}`,
        accountId: 'acc_ops',
        url: 'http://127.0.0.1:9/',
        secretEnc: 'unused',
        createdAt: t,
      }),
    );
  }
  const claim = (now: number) => ({
    now,
    limit: Math.max(100, perCycle),
    owner: 'ops',
    leaseMs: 15_000,
    webhookLeases: Math.max(10, eventsPerCycle),
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
    await timed(insertOp, () =>
      store.insertEvents(
        'acc_ops',
        Array.from({ length: eventsPerCycle }, (_, k) => ({
          id: `evt_${i}_${k}`,
          event: 'agent.created',
          timestamp: now,
          body: '{}',
        })),
        now,
      ),
    );
    const claimed = await timed('claimDue', () => store.claimDue(claim(now)));
    await timed('nextDueAt', () => store.nextDueAt(now));
    const outcomes = claimed.map(
      (c, k): AttemptOutcome => ({
        deliveryId: c.id,
        accountId: c.accountId,
        webhookId: c.webhook?.id ?? '',
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
  if (perCycle > 1) {
    const per = (name: string) => ((dbCpu[name]! * 1000) / (cycles * perCycle)).toFixed(1);
    console.log(
      `per delivery (${eventsPerCycle} events × ${fanOut} webhooks a cycle), database CPU: ` +
        `insert ${per(insertOp)} µs, claim ${per('claimDue')} µs, ` +
        `complete ${per('completeAttempts')} µs`,
    );
  }
} finally {
  await store.close();
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query(`drop schema if exists ${schema} cascade`);
  await c.end();
}
