/**
 * Encryption key rotation end to end, on both stores: a service that ran with one key (and rows
 * in the blob format from before rotation existed), `rotate-encryption-key` run as the real CLI
 * with the new key first, interrupted and run again, the old key removed, and every webhook and
 * the listen secret still working: deliveries to a real loopback receiver verify with each
 * webhook's secret. A blob copied into another webhook's row does not decrypt: that webhook's
 * attempt fails with `configuration_error`, the others deliver, the service stays up.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventSamples, verifySignature, verifyStandardWebhook } from '@agentfactory/webhooks';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { newId } from '../src/ids.js';
import { createLogger } from '../src/logger.js';
import { createCipher, keyId } from '../src/security/crypto.js';
import { rotateEncryptionKey } from '../src/security/key-rotation.js';
import { openStore, startService } from '../src/service.js';
import { type EncryptedRow, NEW_HEALTH, type Store, type WebhookRow } from '../src/store/types.js';
import { runCli } from './helpers/cli-process.js';
import { client, eventually } from './helpers/client.js';
import { createCluster } from './helpers/cluster.js';
import { postgresReachable, postgresTestUrl } from './helpers/postgres.js';
import { type Receiver, startReceiver } from './helpers/receiver.js';
import { TEST_ENV } from './helpers/server.js';

const OLD = Buffer.alloc(32, 1).toString('base64');
const NEW = Buffer.alloc(32, 2).toString('base64');
const ADMIN = 'admin-key-for-rotation-tests';
const NEW_ID = keyId(Buffer.from(NEW, 'base64'));

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** The whole service in this process on `env`'s database, with `keys` (a list or one key). */
async function start(env: Record<string, string>) {
  const config = loadConfig({ ...TEST_ENV, AF_ADMIN_KEY: ADMIN, ...env });
  const service = await startService(config, {
    logger: createLogger('silent'),
    print: () => {},
    jitRounds: 0,
    dashboardDir: null,
  });
  const dev = service.dev;
  if (!dev) throw new Error('expected the development account');
  return { service, call: client(service.url, dev.apiKey), accountId: dev.accountId };
}

async function allRows(store: Store): Promise<EncryptedRow[]> {
  return [
    ...(await store.listEncryptedValues('accounts', null, 10_000)),
    ...(await store.listEncryptedValues('webhooks', null, 10_000)),
  ];
}

const secretOf = (i: number) => `whsec_${Buffer.alloc(32, 40 + i).toString('base64')}`;

async function scenario(env: Record<string, string>): Promise<void> {
  const receiver: Receiver = await startReceiver();
  cleanups.push(() => receiver.close());

  // 1. A service with the single old key: three webhooks through the API (one with a previous
  // secret after a rotation), the listen secret, and one row in the format before rotation (v1).
  let { service, call, accountId } = await start({ ...env, AF_ENCRYPTION_KEY: OLD });
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const r = await call('POST', '/v1/webhooks', {
      name: `wh ${i}`,
      url: `${receiver.url}/wh/${i}`,
      events: ['agent.deployed'],
      secret: i === 0 ? `whsec_${Buffer.alloc(32, 99).toString('base64')}` : secretOf(i),
      headers: { 'x-tenant': `tenant-${i}` },
    });
    expect(r.status).toBe(201);
    ids.push(r.body.id);
  }
  const rotated = await call('POST', `/v1/webhooks/${ids[0]}/secret/rotate`, {
    secret: secretOf(0),
    grace_period_seconds: 3600,
  });
  expect(rotated.status).toBe(200);
  const listen = await call('GET', '/v1/listen/secret');
  expect(listen.status).toBe(200);
  const legacy = createCipher(OLD);
  const now = Date.now();
  const legacyRow: WebhookRow = {
    id: newId('wh', now),
    accountId,
    name: 'legacy',
    url: `${receiver.url}/wh/3`,
    events: ['agent.deployed'],
    active: true,
    disabledReason: null,
    description: null,
    headersEnc: legacy.encrypt(JSON.stringify({ 'x-tenant': 'tenant-3' })),
    headerNames: ['x-tenant'],
    metadata: {},
    secretEnc: legacy.encrypt(secretOf(3)),
    previousSecretEnc: null,
    previousSecretExpiresAt: null,
    createdAt: now,
    updatedAt: now,
    lastDeliveryAt: null,
    lastDeliveryStatus: null,
    health: { ...NEW_HEALTH },
  };
  expect(await service.store.createWebhook(legacyRow)).toBe(true);
  ids.push(legacyRow.id);
  expect(legacyRow.secretEnc).toMatch(/^v1\./);
  await service.close();

  // 2. Interrupted: a rotation stopped after its second page leaves a mix of keys, all readable.
  const both = { ...env, AF_ADMIN_KEY: ADMIN, AF_ENCRYPTION_KEYS: `${NEW},${OLD}` };
  const config = loadConfig({ ...TEST_ENV, ...both });
  const store = await openStore(config);
  let pages = 0;
  const partial = await rotateEncryptionKey(store, createCipher(config.encryptionKeys), {
    batchSize: 1,
    onProgress: () => {
      pages++;
    },
    shouldStop: () => pages >= 2,
  });
  expect(partial.complete).toBe(false);
  expect(partial.rewritten).toBeGreaterThan(0);
  const mixed = (await allRows(store)).flatMap((r) => r.values.map((v) => v.blob));
  expect(mixed.some((b) => b.startsWith(`v2.${NEW_ID}.`))).toBe(true);
  expect(mixed.some((b) => !b.startsWith(`v2.${NEW_ID}.`))).toBe(true);
  // A value changed since it was read is not overwritten.
  expect(
    await store.replaceEncryptedValues([
      { table: 'webhooks', id: ids[1]!, column: 'secret_enc', from: 'v2.stale', to: 'v2.other' },
    ]),
  ).toBe(0);
  await store.close();

  // 3. The CLI finishes it, in pages of two, with a progress line per page (not a terminal).
  const cli = runCli(['rotate-encryption-key', '--batch-size', '2'], both);
  const code = await cli.exited;
  expect(code, cli.stderr()).toBe(0);
  expect(cli.stderr()).toMatch(/\d+\/\d+ rows, \d+ value\(s\) re-encrypted/);
  expect(cli.stdout()).toContain(`can be removed from AF_ENCRYPTION_KEYS`);
  expect(cli.stdout() + cli.stderr()).not.toContain('whsec_');
  // Run again: nothing left to do.
  const again = runCli(['rotate-encryption-key'], both);
  expect(await again.exited, again.stderr()).toBe(0);
  expect(again.stdout()).toContain('0 value(s) re-encrypted');

  // 4. The old key removed: every value is under the new key, and everything still works.
  ({ service, call } = await start({ ...env, AF_ENCRYPTION_KEYS: NEW }));
  const rows = await allRows(service.store);
  const blobs = rows.flatMap((r) => r.values.map((v) => v.blob));
  // 4 webhooks' secrets and headers, one previous secret, the account's listen secret.
  expect(blobs.length).toBeGreaterThanOrEqual(10);
  for (const b of blobs) expect(b.startsWith(`v2.${NEW_ID}.`)).toBe(true);
  expect((await call('GET', '/v1/listen/secret')).body.secret).toBe(listen.body.secret);
  expect((await call('GET', `/v1/webhooks/${ids[3]}/secret`)).body.secret).toBe(secretOf(3));

  const sent = await call('POST', '/v1/events', {
    event: 'agent.deployed',
    data: eventSamples['agent.deployed'],
  });
  expect(sent.status).toBe(202);
  await receiver.waitFor(4, 20_000);
  for (let i = 0; i < 4; i++) {
    const req = receiver.requests.find((r) => r.url === `/wh/${i}`);
    expect(req, `webhook ${i} delivered`).toBeDefined();
    expect(req!.headers['x-tenant']).toBe(`tenant-${i}`);
    await verifyStandardWebhook(req!.body, req!.headers, secretOf(i));
    expect(
      await verifySignature(req!.body, req!.headers['x-agentfactory-signature'], secretOf(i)),
    ).toBe(true);
  }

  // 5. A blob copied into another webhook's row: refused for that row, never a crash.
  const wh1 = rows.find((r) => r.id === ids[1])!;
  const wh2 = rows.find((r) => r.id === ids[2])!;
  const blobOf = (r: EncryptedRow) => r.values.find((v) => v.column === 'secret_enc')!.blob;
  expect(
    await service.store.replaceEncryptedValues([
      { table: 'webhooks', id: ids[2]!, column: 'secret_enc', from: blobOf(wh2), to: blobOf(wh1) },
    ]),
  ).toBe(1);
  const reveal = await call('GET', `/v1/webhooks/${ids[2]}/secret`);
  expect(reveal.status).toBe(500);
  expect(reveal.body.error.message).toMatch(/copied from another row/);
  const second = await call('POST', '/v1/events', {
    event: 'agent.deployed',
    data: eventSamples['agent.deployed'],
  });
  expect(second.status).toBe(202);
  const failed = await eventually(async () => {
    const d = await call('GET', `/v1/deliveries?event_id=${second.body.id}&webhook_id=${ids[2]}`);
    const id = d.body.data[0]?.id;
    if (!id) return undefined;
    const detail = await call('GET', `/v1/deliveries/${id}`);
    return detail.body.attempts?.[0];
  }, 15_000);
  expect(failed.error).toBe('configuration_error');
  await eventually(
    async () => (receiver.requests.filter((r) => r.url === '/wh/1').length >= 2 ? true : undefined),
    15_000,
  );
  expect(receiver.requests.filter((r) => r.url === '/wh/2')).toHaveLength(1);
  expect((await fetch(`${service.url}/readyz`)).status).toBe(200);
  await service.close();
}

describe('encryption key rotation on SQLite', () => {
  it('re-encrypts everything under the new key; the old key is removed; all still delivers', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'af-rotation-'));
    cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));
    await scenario({ AF_DATA_DIR: dataDir });
  }, 90_000);
});

const pgUrl = postgresTestUrl();
const pgReachable = await postgresReachable(pgUrl);
describe.skipIf(!pgReachable && process.env.CI !== 'true')(
  'encryption key rotation on PostgreSQL',
  () => {
    it('re-encrypts everything under the new key; the old key is removed; all still delivers', async () => {
      const cluster = await createCluster(pgUrl);
      cleanups.push(() => cluster.close());
      const dataDir = mkdtempSync(join(tmpdir(), 'af-rotation-'));
      cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));
      await scenario({
        DATABASE_URL: cluster.databaseUrl,
        AF_DATA_DIR: dataDir,
        AF_ALLOW_PRIVATE_NETWORKS: 'true',
      });
    }, 90_000);
  },
);
