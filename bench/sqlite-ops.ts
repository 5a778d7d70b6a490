/**
 * `npm run bench:sqlite-ops` — the embedded store's own work per delivery, in this process (the
 * store class itself, without its thread, so nothing but the SQL and the row code is measured):
 * rounds of `--events` events fanned out to `--fan-out` webhooks, claimed, and completed as
 * succeeded, the CPU of each step per delivery (`process.cpuUsage`, this process alone). It
 * isolates the database's part of the service's CPU per delivery that `npm run bench` reports.
 *
 *   npm run bench:sqlite-ops -- [--rounds 200] [--events 10] [--fan-out 10]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { newId } from '../apps/server/src/ids.js';
import { SqliteStore } from '../apps/server/src/store/sqlite/store.js';
import type { AttemptOutcome, ClaimedDelivery } from '../apps/server/src/store/types.js';
import { webhookRow } from '../apps/server/test/helpers/rows.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '200' },
    events: { type: 'string', default: '10' },
    'fan-out': { type: 'string', default: '10' },
  },
});
const rounds = Number(args.rounds);
const events = Number(args.events);
const fanOut = Number(args['fan-out']);

const dir = mkdtempSync(join(tmpdir(), 'af-sqlite-ops-'));
const store = new SqliteStore(join(dir, 'ops.db'));
await store.migrate();
await store.createAccount({ id: 'acct_ops', name: 'ops', createdAt: 0 });
for (let i = 0; i < fanOut; i++) {
  await store.createWebhook(
    webhookRow({
      id: `wh_ops_${i}`,
      accountId: 'acct_ops',
      url: 'http://127.0.0.1:1/',
      secretEnc: 'unused',
      createdAt: 0,
    }),
  );
}
// The benchmark's event: a few hundred bytes of JSON.
const body = JSON.stringify({ event: 'agent.created', data: { note: 'x'.repeat(300) } });

function outcome(c: ClaimedDelivery, now: number): AttemptOutcome {
  return {
    deliveryId: c.id,
    accountId: c.accountId,
    webhookId: c.webhook?.id ?? '',
    owner: 'ops',
    status: 'succeeded',
    nextAttemptAt: null,
    now,
    attempt: {
      id: newId('att', now),
      deliveryId: c.id,
      number: c.attemptCount + 1,
      startedAt: now,
      durationMs: 1,
      statusCode: 200,
      error: null,
      requestHeaders: { 'content-type': 'application/json', 'webhook-id': c.eventId },
      responseHeaders: { 'content-type': 'text/plain', 'content-length': '2' },
      responseBody: 'ok',
      responseBodyEncoding: 'utf8',
      trigger: c.trigger,
      succeeded: true,
    },
  };
}

const cpuUs = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
/** Inserts commit at the end of the turn (group commit): wait for it. */
const turn = () => new Promise((r) => setImmediate(r));
const spent = { insert: 0, claim: 0, complete: 0 };
let deliveries = 0;
let now = Date.now();
for (let round = 0; round < rounds; round++) {
  now += 10;
  let t0 = cpuUs();
  const batch = Array.from({ length: events }, () => ({
    id: newId('evt', now),
    event: 'agent.created',
    timestamp: now,
    body,
  }));
  const inserted = store.insertEvents('acct_ops', batch, now);
  await turn();
  await inserted;
  spent.insert += cpuUs() - t0;
  t0 = cpuUs();
  const claimed = await store.claimDue({
    now,
    limit: events * fanOut,
    owner: 'ops',
    leaseMs: 30_000,
    webhookLeases: events * 3,
  });
  spent.claim += cpuUs() - t0;
  t0 = cpuUs();
  await store.completeAttempts(claimed.map((c) => outcome(c, now)));
  spent.complete += cpuUs() - t0;
  deliveries += claimed.length;
}
await store.close();
rmSync(dir, { recursive: true, force: true });

const per = (us: number) => (us / deliveries).toFixed(1);
console.log(
  `sqlite-ops: ${deliveries} deliveries (${rounds} rounds of ${events} events × ${fanOut} webhooks), ` +
    `CPU per delivery: insert ${per(spent.insert)} µs, claim ${per(spent.claim)} µs, ` +
    `complete ${per(spent.complete)} µs, total ${per(spent.insert + spent.claim + spent.complete)} µs`,
);
