/**
 * The operations loop (`operations/monitor.ts`) on a real SQLite store, one round at a time:
 * `AF_AUTO_DISABLE_AFTER` disables a webhook failing that long and `0` never does, and a round
 * publishes the notices, oldest first, and wakes the engine only when it created deliveries.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { newId } from '../src/ids.js';
import { createLogger } from '../src/logger.js';
import { OperationsMonitor } from '../src/operations/monitor.js';
import { createSqliteStore } from '../src/store/sqlite/index.js';
import type { Store } from '../src/store/types.js';
import { webhookRow } from './helpers/rows.js';

const dir = mkdtempSync(join(tmpdir(), 'af-operations-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const T0 = Date.UTC(2024, 0, 15, 10, 30);
const HOUR = 3_600_000;
let n = 0;

/** A store with a webhook whose one delivery failed for good at T0, and one watching `webhook.*`. */
async function failingWebhook(): Promise<{ store: Store; id: string; ops: string; acct: string }> {
  const store = createSqliteStore({ path: join(dir, `ops-${n++}.db`) });
  await store.migrate();
  const acct = newId('acct');
  await store.createAccount({ id: acct, name: 'A', createdAt: T0 });
  const w = webhookRow({ accountId: acct, url: 'https://a.test/', secretEnc: 'e', createdAt: T0 });
  w.events = ['agent.*'];
  const ops = webhookRow({
    accountId: acct,
    url: 'https://o.test/',
    secretEnc: 'e',
    createdAt: T0,
  });
  ops.events = ['webhook.*'];
  await store.createWebhook(w);
  await store.createWebhook(ops);
  const evt = newId('evt');
  await store.insertEvents(
    acct,
    [{ id: evt, event: 'agent.created', timestamp: T0, body: '{}' }],
    T0,
  );
  const [c] = await store.claimDue({
    now: T0,
    limit: 1,
    owner: 'w',
    leaseMs: 1000,
    webhookLeases: 1,
  });
  await store.completeAttempts([
    {
      deliveryId: c!.id,
      accountId: acct,
      webhookId: w.id,
      status: 'failed',
      nextAttemptAt: null,
      owner: 'w',
      now: T0,
      attempt: {
        id: newId('att'),
        deliveryId: c!.id,
        number: 1,
        startedAt: T0,
        durationMs: 3,
        statusCode: 503,
        error: 'response_status',
        requestHeaders: {},
        responseHeaders: {},
        responseBody: null,
        responseBodyEncoding: null,
        trigger: 'scheduled',
        succeeded: false,
      },
    },
  ]);
  return { store, id: w.id, ops: ops.id, acct };
}

function monitor(store: Store, now: number, autoDisableAfterMs: number, woken: number[]) {
  return new OperationsMonitor({
    store,
    clock: { now: () => now },
    logger: createLogger('silent'),
    settings: { autoDisableAfterMs, retentionMs: 0 },
    notify: () => woken.push(now),
  });
}

describe('the operations loop', () => {
  it('disables a webhook failing for AF_AUTO_DISABLE_AFTER and tells the account, in order', async () => {
    const { store, id, ops, acct } = await failingWebhook();
    try {
      const woken: number[] = [];
      // Not yet past the limit: only webhook.failing goes out.
      await monitor(store, T0 + HOUR - 1, HOUR, woken).tick();
      expect((await store.getWebhook(acct, id))!.active).toBe(true);
      expect(woken).toHaveLength(1);
      await monitor(store, T0 + HOUR, HOUR, woken).tick();
      expect(await store.getWebhook(acct, id)).toMatchObject({
        active: false,
        disabledReason: 'failing',
      });
      expect(woken).toHaveLength(2);
      const sent = await store.listDeliveries(acct, { webhookId: ops }, { limit: 10 });
      expect(sent.data.map((d) => d.event).reverse()).toEqual([
        'webhook.failing',
        'webhook.disabled',
      ]);
      expect(await store.listWebhookNotices(10)).toEqual([]);
      // Nothing left: a round wakes nobody.
      await monitor(store, T0 + 2 * HOUR, HOUR, woken).tick();
      expect(woken).toHaveLength(2);
    } finally {
      await store.close();
    }
  });

  it('AF_AUTO_DISABLE_AFTER=0 never disables', async () => {
    const { store, id, acct } = await failingWebhook();
    try {
      await monitor(store, T0 + 365 * 24 * HOUR, 0, []).tick();
      expect((await store.getWebhook(acct, id))!.active).toBe(true);
    } finally {
      await store.close();
    }
  });
});
