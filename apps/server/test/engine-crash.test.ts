/**
 * A worker killed with SIGKILL mid-flight loses nothing: the next process that opens the SQLite
 * file releases the dead worker's leases and delivers every accepted event at least once.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { systemClock } from '../src/clock.js';
import { DeliveryEngine } from '../src/delivery/engine.js';
import { newId } from '../src/ids.js';
import { createCipher } from '../src/security/crypto.js';
import { createSqliteStore } from '../src/store/sqlite/index.js';
import { fastConfig } from './engine-harness.js';
import { startReceiver } from './helpers/receiver.js';
import { webhookRow } from './helpers/rows.js';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const dir = mkdtempSync(join(tmpdir(), 'af-crash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('engine: crash and restart', () => {
  it('SIGKILL while deliveries are in flight: every event arrives after the restart', async () => {
    const key = randomBytes(32).toString('base64');
    const cipher = createCipher(key);
    const dbPath = join(dir, 'crash.db');
    const rx = await startReceiver();
    rx.respond = () => ({ delayMs: 400 });
    let child: ChildProcess | undefined;
    try {
      const store = createSqliteStore({ path: dbPath });
      await store.migrate();
      const accountId = newId('acct');
      const now = systemClock.now();
      await store.createAccount({ id: accountId, name: 'a', createdAt: now });
      await store.createWebhook(
        webhookRow({
          accountId,
          url: rx.url,
          secretEnc: cipher.encrypt(`whsec_${randomBytes(32).toString('base64')}`),
          createdAt: now,
        }),
      );
      const ids = Array.from({ length: 30 }, () => newId('evt'));
      await store.insertEvents(
        accountId,
        ids.map((id) => ({ id, event: 'agent.created', timestamp: now, body: `{"id":"${id}"}` })),
        now,
      );
      await store.close();

      // The worker: another process on the same file.
      const script = join(dir, 'worker.mts');
      writeFileSync(
        script,
        `import pino from ${JSON.stringify(require.resolve('pino'))};
import { systemClock } from ${JSON.stringify(resolve(here, '../src/clock.ts'))};
import { DeliveryEngine } from ${JSON.stringify(resolve(here, '../src/delivery/engine.ts'))};
import { createCipher } from ${JSON.stringify(resolve(here, '../src/security/crypto.ts'))};
import { createSqliteStore } from ${JSON.stringify(resolve(here, '../src/store/sqlite/index.ts'))};
const store = createSqliteStore({ path: process.argv[2]! });
await store.migrate();
const config = JSON.parse(process.argv[3]!);
new DeliveryEngine({ store, cipher: createCipher(process.env.KEY!), clock: systemClock,
  logger: pino({ level: 'silent' }), config }).start();
`,
      );
      // Node itself with tsx as a loader, so SIGKILL hits the worker, not a wrapper.
      child = spawn(
        process.execPath,
        [
          '--conditions=agentfactory-source',
          '--import',
          'tsx',
          script,
          dbPath,
          JSON.stringify({ ...fastConfig, endpointConcurrency: 5, timeoutMs: 5000 }),
        ],
        { cwd: resolve(here, '..'), env: { ...process.env, KEY: key }, stdio: 'ignore' },
      );
      await rx.waitFor(5, 20_000);
      child.kill('SIGKILL');
      await new Promise((r) => child!.once('exit', r));
      await new Promise((r) => setTimeout(r, 100));
      const inFlightAtKill = rx.requests.length;
      expect(inFlightAtKill).toBeLessThan(ids.length);

      // Restart: opening the store releases the dead worker's leases.
      const store2 = createSqliteStore({ path: dbPath });
      await store2.migrate();
      const engine = new DeliveryEngine({
        store: store2,
        cipher,
        clock: systemClock,
        logger: pino({ level: 'silent' }),
        config: { ...fastConfig, endpointConcurrency: 10 },
      });
      rx.respond = () => ({});
      engine.start();
      try {
        const deadline = Date.now() + 20_000;
        while ((await store2.countPending()) > 0 && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 50));
        }
        expect(await store2.countPending()).toBe(0);
        const seen = new Set(rx.requests.map((r) => r.headers['x-agentfactory-event-id']));
        for (const id of ids) expect(seen.has(id), id).toBe(true);
        const { data } = await store2.listDeliveries(accountId, {}, { limit: 100 });
        expect(data.every((d) => d.status === 'succeeded')).toBe(true);
      } finally {
        await engine.stop({ graceMs: 100 });
        await store2.close();
      }
    } finally {
      child?.kill('SIGKILL');
      await rx.close();
    }
  }, 60_000);
});
