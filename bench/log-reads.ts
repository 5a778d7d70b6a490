/**
 * `npm run bench:log-reads` — the delivery log's reads on a large store: what the indexes on
 * `deliveries` give the dashboard and the API, the other side of what they cost every delivery
 * (`bench:sqlite-ops`, `bench:pg-ops`). One account, two webhooks: A gets 90 % of the deliveries,
 * B 10 %, created over 30 days; 1 in 10,000 failed, the newest 1,000 pending, the rest succeeded.
 * Each read runs `--repeat` times; the median is printed, in ms.
 *
 *   npm run bench:log-reads -- [--deliveries 1000000] [--store sqlite|pg|both] [--repeat 7]
 *     [--keep] [--pg-url …]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import pg from 'pg';
import { encodeTime, TIME_LEN } from 'ulid';
import { createPostgresStore } from '../apps/server/src/store/postgres/index.js';
import { SqliteStore } from '../apps/server/src/store/sqlite/store.js';
import type { Store } from '../apps/server/src/store/types.js';
import { webhookRow } from '../apps/server/test/helpers/rows.js';
import { summarize } from './lib/stats.js';

const { values: args } = parseArgs({
  options: {
    deliveries: { type: 'string', default: '1000000' },
    store: { type: 'string', default: 'both' },
    repeat: { type: 'string', default: '7' },
    /** Keep the SQLite file and the PostgreSQL schema (both printed) to look at their plans. */
    keep: { type: 'boolean', default: false },
    'pg-url': {
      type: 'string',
      default: process.env.AF_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    },
  },
});
const total = Number(args.deliveries);
const repeat = Number(args.repeat);
const DAY = 86_400_000;
const HOUR = 3_600_000;
const BATCH = 500;

/** Fills the store: `total` events, one delivery each (A: conversation.*, B: agent.*). */
async function fill(store: Store, end: number): Promise<void> {
  await store.createAccount({ id: 'acct_reads', name: 'reads', createdAt: 0 });
  for (const [id, events] of [
    ['wh_a', ['conversation.*']],
    ['wh_b', ['agent.*']],
  ] as const) {
    await store.createWebhook({
      ...webhookRow({
        id,
        accountId: 'acct_reads',
        url: 'http://127.0.0.1:9/',
        secretEnc: 'unused',
        createdAt: 0,
      }),
      events: [...events],
    });
  }
  const start = end - 30 * DAY;
  const step = (30 * DAY) / total;
  const body = JSON.stringify({ data: { note: 'x'.repeat(200) } });
  for (let i = 0; i < total; i += BATCH) {
    const now = Math.floor(start + i * step);
    const batch = Array.from({ length: Math.min(BATCH, total - i) }, (_, k) => ({
      id: `evt_${String(i + k).padStart(10, '0')}`,
      event: (i + k) % 10 === 0 ? 'agent.created' : 'conversation.message',
      timestamp: now,
      body,
    }));
    await store.insertEvents('acct_reads', batch, now);
  }
}

/**
 * The statuses of the description above, set in one statement, and each id made at its
 * `created_at` as the service makes it: the fill inserts 30 days in a minute, and the ids of a
 * process's monotonic factory never go back to the time they are given (ids.ts), so the store's
 * ids all hold the time of the fill.
 */
const newest = 'id in (select id from deliveries order by id desc limit 1000)';
const settle = `update deliveries set status = case
    when ${newest} then 'pending' when %NUM% % 10000 = 7 then 'failed' else 'succeeded' end,
  next_attempt_at = case when ${newest} then next_attempt_at else null end,
  id = 'dlv_' || %TIME% || substr(id, 15)`;

/** Crockford's base 32 of a ULID's time (10 characters), in PostgreSQL. */
const pgUlidTime = `create function pg_temp.ulid_time(ms bigint) returns text language sql immutable as $$
  select string_agg(substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', ((ms >> (5 * (9 - i))) & 31)::int + 1, 1), '' order by i)
  from generate_series(0, 9) as i
$$`;

async function measure(name: string, store: Store, end: number): Promise<void> {
  const reads: [string, () => Promise<unknown>][] = [
    [
      'stats A, last 24 h by hour',
      () =>
        store.webhookStats('acct_reads', 'wh_a', { since: end - DAY, until: end, bucketMs: HOUR }),
    ],
    [
      'stats A, 30 days by day',
      () =>
        store.webhookStats('acct_reads', 'wh_a', {
          since: end - 30 * DAY,
          until: end,
          bucketMs: DAY,
        }),
    ],
    [
      'list A, failed',
      () =>
        store.listDeliveries('acct_reads', { webhookId: 'wh_a', status: 'failed' }, { limit: 50 }),
    ],
    [
      'list account, failed',
      () => store.listDeliveries('acct_reads', { status: 'failed' }, { limit: 50 }),
    ],
    [
      'list A, newest',
      () => store.listDeliveries('acct_reads', { webhookId: 'wh_a' }, { limit: 50 }),
    ],
    ['list account, newest', () => store.listDeliveries('acct_reads', {}, { limit: 50 })],
    [
      'list B, created 20-21 days ago',
      () =>
        store.listDeliveries(
          'acct_reads',
          { webhookId: 'wh_b', since: end - 21 * DAY, until: end - 20 * DAY },
          { limit: 50 },
        ),
    ],
    [
      'list account, pending',
      () => store.listDeliveries('acct_reads', { status: 'pending' }, { limit: 50 }),
    ],
    [
      'recover A, last 7 days (no failed left after the first)',
      () => store.recoverDeliveries('acct_reads', 'wh_a', end - 7 * DAY, end, end),
    ],
  ];
  console.log(`${name}: ${total} deliveries, median of ${repeat} (ms)`);
  for (const [what, read] of reads) {
    const ms: number[] = [];
    for (let i = 0; i < repeat; i++) {
      const t0 = performance.now();
      await read();
      ms.push(performance.now() - t0);
    }
    console.log(`  ${what.padEnd(56)} ${summarize(ms).p50!.toFixed(1).padStart(8)}`);
  }
}

const end = Date.now();
if (args.store === 'sqlite' || args.store === 'both') {
  const dir = mkdtempSync(join(tmpdir(), 'af-log-reads-'));
  const file = join(dir, 'reads.db');
  try {
    let store = new SqliteStore(file);
    await store.migrate();
    const t0 = performance.now();
    await fill(store, end);
    await store.close();
    const db = new Database(file);
    db.function('ulid_time', (ms: unknown) => encodeTime(Number(ms), TIME_LEN));
    db.exec(
      settle
        .replace('%NUM%', 'cast(substr(event_id, 5) as integer)')
        .replace('%TIME%', 'ulid_time(created_at)'),
    );
    db.exec('ANALYZE');
    db.close();
    console.log(`sqlite filled in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    store = new SqliteStore(file);
    await measure('sqlite', store, end);
    await store.close();
  } finally {
    if (args.keep) console.log(`kept ${file}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}
if (args.store === 'pg' || args.store === 'both') {
  const url = args['pg-url']!;
  const schema = `af_log_reads_${process.pid}`;
  const store = createPostgresStore({ url, schema });
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await store.migrate();
    const t0 = performance.now();
    await fill(store, end);
    await client.query(`set search_path = ${schema}`);
    await client.query(pgUlidTime);
    await client.query(
      settle
        .replace('%NUM%', 'substr(event_id, 5)::bigint')
        .replace('%TIME%', 'pg_temp.ulid_time(created_at)'),
    );
    await client.query('vacuum analyze deliveries');
    console.log(`pg filled in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    await measure('pg', store, end);
  } finally {
    await store.close();
    if (args.keep) console.log(`kept schema ${schema}`);
    else await client.query(`drop schema if exists ${schema} cascade`);
    await client.end();
  }
}
