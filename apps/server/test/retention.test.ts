/**
 * Retention in the running service, on SQLite and on PostgreSQL: 100,000 rows of finished
 * records older than `AF_RETENTION` (written straight into the database, as months of traffic
 * would have left them) are purged in batches while new events go on being delivered to a real
 * receiver; the old pending deliveries and their events stay. The clock is advanced to start the
 * run, not waited for.
 */

import { Writable } from 'node:stream';
import { eventSamples } from '@agentfactory/webhooks';
import Database from 'better-sqlite3';
import { ulid } from 'ulid';
import { afterAll, describe, expect, it, vi } from 'vitest';
import type { Clock } from '../src/clock.js';
import { BUILT_IN } from '../src/config.js';
import { type Call, client, eventually } from './helpers/client.js';
import { describePostgres, type PostgresTestContext } from './helpers/postgres.js';
import { type Receiver, startReceiver } from './helpers/receiver.js';
import { startTestServer, type TestServer } from './helpers/server.js';

vi.setConfig({ testTimeout: 120_000 });

const DAY = 86_400_000;
/** 25,000 events × (1 delivery + 2 attempts) = 100,000 rows. */
const OLD_EVENTS = 25_000;
const OLD_ROWS = OLD_EVENTS * 4;
const OLD_PENDING = 10;

const started: (TestServer | Receiver)[] = [];
afterAll(async () => {
  for (const s of started.reverse()) await s.close();
});

function movableClock(): Clock & { advance(ms: number): void } {
  let offset = 0;
  return {
    now: () => Date.now() + offset,
    advance(ms) {
      offset += ms;
    },
  };
}

/** The rows to write: events 40 days old, ids made then, as the service would have made them. */
function oldRows(accountId: string, webhookId: string, now: number) {
  const at = now - 40 * DAY;
  const events = [];
  for (let i = 0; i < OLD_EVENTS + OLD_PENDING; i++) {
    const t = at + i;
    const id = `evt_${ulid(t)}`;
    events.push({
      id,
      t,
      pending: i >= OLD_EVENTS,
      delivery: `dlv_${ulid(t)}`,
      attempts: [`att_${ulid(t)}`, `att_${ulid(t)}`],
      body: JSON.stringify({ id, event: 'agent.created', timestamp: '', data: {} }),
    });
  }
  return { accountId, webhookId, events, dueLater: now + 10 * DAY };
}

type Rows = ReturnType<typeof oldRows>;

function writeSqlite(path: string, r: Rows): void {
  const db = new Database(path);
  db.pragma('busy_timeout = 10000');
  try {
    const ev = db.prepare(
      `INSERT INTO events (id, account_id, event, timestamp, body, deliveries)
       VALUES (?, ?, 'agent.created', ?, ?, 1)`,
    );
    const dl = db.prepare(
      `INSERT INTO deliveries (id, account_id, event_id, event, webhook_id, status, attempt_count,
         next_attempt_at, created_at, updated_at)
       VALUES (?, ?, ?, 'agent.created', ?, ?, ?, ?, ?, ?)`,
    );
    const at = db.prepare(
      `INSERT INTO attempts (id, delivery_id, account_id, webhook_id, number, started_at,
         duration_ms, status_code, request_headers, response_headers, trigger, succeeded)
       VALUES (?, ?, ?, ?, ?, ?, 12, 200, '{}', '{}', 'scheduled', 1)`,
    );
    db.transaction(() => {
      for (const e of r.events) {
        ev.run(e.id, r.accountId, e.t, e.body);
        dl.run(
          e.delivery,
          r.accountId,
          e.id,
          r.webhookId,
          e.pending ? 'pending' : 'succeeded',
          e.pending ? 0 : 2,
          e.pending ? r.dueLater : null,
          e.t,
          e.t,
        );
        if (!e.pending) {
          e.attempts.forEach((id, n) => {
            at.run(id, e.delivery, r.accountId, r.webhookId, n + 1, e.t);
          });
        }
      }
    })();
  } finally {
    db.close();
  }
}

async function writePostgres(pg: PostgresTestContext, schema: string, r: Rows): Promise<void> {
  const e = r.events;
  await pg.sql(
    `insert into ${schema}.events (id, account_id, event, timestamp, body, deliveries)
     select u.id, $1, 'agent.created', u.t, u.body, 1
     from unnest($2::text[], $3::bigint[], $4::text[]) as u(id, t, body)`,
    [r.accountId, e.map((x) => x.id), e.map((x) => x.t), e.map((x) => x.body)],
  );
  await pg.sql(
    `insert into ${schema}.deliveries (id, account_id, event_id, event, webhook_id, status,
       attempt_count, next_attempt_at, created_at, updated_at)
     select u.id, $1, u.event_id, 'agent.created', $2, u.status, u.n, u.due, u.t, u.t
     from unnest($3::text[], $4::text[], $5::text[], $6::int[], $7::bigint[], $8::bigint[])
       as u(id, event_id, status, n, due, t)`,
    [
      r.accountId,
      r.webhookId,
      e.map((x) => x.delivery),
      e.map((x) => x.id),
      e.map((x) => (x.pending ? 'pending' : 'succeeded')),
      e.map((x) => (x.pending ? 0 : 2)),
      e.map((x) => (x.pending ? r.dueLater : null)),
      e.map((x) => x.t),
    ],
  );
  const done = e.filter((x) => !x.pending);
  const attempts = done.flatMap((x) =>
    x.attempts.map((id, n) => ({ id, delivery: x.delivery, n: n + 1, t: x.t })),
  );
  await pg.sql(
    `insert into ${schema}.attempts (id, delivery_id, account_id, webhook_id, number, started_at,
       duration_ms, status_code, request_headers, response_headers, trigger, succeeded)
     select u.id, u.delivery_id, $1, $2, u.n, u.t, 12, 200, '{}', '{}', 'scheduled', true
     from unnest($3::text[], $4::text[], $5::int[], $6::bigint[]) as u(id, delivery_id, n, t)`,
    [
      r.accountId,
      r.webhookId,
      attempts.map((a) => a.id),
      attempts.map((a) => a.delivery),
      attempts.map((a) => a.n),
      attempts.map((a) => a.t),
    ],
  );
}

/** The purged-rows counter of `/metrics`, all tables together. */
async function purgedRows(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0;
  for (const m of text.matchAll(/^agentfactory_retention_purged_rows_total\{[^}]*\} (\d+)/gm)) {
    sum += Number(m[1]);
  }
  return sum;
}

async function scenario(
  env: Record<string, string>,
  write: (r: Rows, server: TestServer) => Promise<void>,
  count: (sql: string, server: TestServer) => Promise<number>,
  databaseSchema?: string,
): Promise<void> {
  const clock = movableClock();
  let logs = '';
  const logStream = new Writable({
    write(chunk, _encoding, done) {
      logs += chunk.toString();
      done();
    },
  });
  const server = await startTestServer(
    { ...env, AF_RETENTION: '30d', AF_LOG_LEVEL: 'info' },
    {
      clock,
      logStream,
      operationsIntervalMs: 20,
      ...(databaseSchema ? { databaseSchema } : {}),
    },
  );
  started.push(server);
  const receiver = await startReceiver();
  started.push(receiver);
  const call: Call = client(server.url, server.apiKey);
  const hook = await call('POST', '/v1/webhooks', {
    name: 'live',
    url: receiver.url,
    events: ['agent.*'],
  });
  expect(hook.status).toBe(201);

  // The service's first retention run has found nothing; the next is due in a minute.
  await new Promise((r) => setTimeout(r, 200));
  await write(oldRows(server.accountId, hook.body.id, clock.now()), server);
  expect(await count('select count(*) as n from events', server)).toBe(OLD_EVENTS + OLD_PENDING);
  expect(await purgedRows(server.url)).toBe(0);

  clock.advance(BUILT_IN.retentionIntervalMs + 1000);
  // Deliveries go on, one event after another, while the purge runs.
  const during: number[] = [];
  const latencies: number[] = [];
  for (let i = 0; ; i++) {
    const sent = Date.now();
    const r = await call('POST', '/v1/events', {
      event: 'agent.created',
      data: eventSamples['agent.created'],
    });
    expect(r.status).toBe(202);
    await receiver.waitFor(i + 1, 10_000);
    latencies.push(Date.now() - sent);
    const purged = await purgedRows(server.url);
    if (purged > 0 && purged < OLD_ROWS) during.push(purged);
    if (purged >= OLD_ROWS) break;
    if (i > 2000) throw new Error('the purge did not end');
  }
  // Some deliveries arrived while the purge was under way, none held up behind it.
  expect(during.length).toBeGreaterThan(0);
  expect(Math.max(...latencies)).toBeLessThan(2_000);

  await eventually(async () => ((await purgedRows(server.url)) === OLD_ROWS ? true : undefined));
  // The old pending deliveries and their events stay; the new events are all there, once the
  // last one's outcome is written (its receiver may have answered a moment ago).
  const live = receiver.requests.length;
  const pending = "select count(*) as n from deliveries where status = 'pending'";
  await eventually(
    async () => ((await count(pending, server)) === OLD_PENDING ? true : undefined),
    10_000,
    'the old pending deliveries alone pending',
  );
  expect(await count('select count(*) as n from events', server)).toBe(OLD_PENDING + live);
  expect(await count('select count(*) as n from attempts', server)).toBe(live);
  // One line for the run, with what it deleted.
  const runs = logs
    .split('\n')
    .filter((l) => l.includes('"retention: deleted'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(runs).toHaveLength(1);
  expect(runs[0]).toMatchObject({
    events: OLD_EVENTS,
    deliveries: OLD_EVENTS,
    attempts: 2 * OLD_EVENTS,
    webhooks: 0,
    msg: expect.stringMatching(
      /^retention: deleted 25000 events, 25000 deliveries, 50000 attempts .* older than 30d$/,
    ),
  });
}

describe('retention on SQLite', () => {
  it('purges 100,000 old finished rows in batches while delivery goes on; keeps pending', async () => {
    await scenario(
      {},
      async (r, server) => writeSqlite(server.config.databasePath, r),
      async (sql, server) => {
        const db = new Database(server.config.databasePath, { readonly: true });
        try {
          return Number((db.prepare(sql).get() as { n: number }).n);
        } finally {
          db.close();
        }
      },
    );
  });
});

await describePostgres('retention on PostgreSQL', (pg) => {
  it('purges 100,000 old finished rows in batches while delivery goes on; keeps pending', async () => {
    const schema = pg.freshSchema();
    await scenario(
      {
        DATABASE_URL: pg.url,
        AF_ADMIN_KEY: 'admin-key-for-postgres-tests',
        AF_ENCRYPTION_KEY: Buffer.alloc(32, 9).toString('base64'),
        AF_ALLOW_PRIVATE_NETWORKS: 'true',
      },
      (r) => writePostgres(pg, schema, r),
      async (sql) =>
        Number(
          (await pg.sql<{ n: string }>(sql.replace(/ from (\w+)/, ` from ${schema}.$1`)))[0]!.n,
        ),
      schema,
    );
  });
});
