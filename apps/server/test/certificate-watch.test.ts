/**
 * The certificate watch end to end: the service as a child process trusting a test CA through
 * `NODE_EXTRA_CA_CERTS` (read by Node at start only, hence the child), an HTTPS receiver whose
 * certificate (made by `openssl` now) expires in 10 days, and a receiver of the account's
 * operational events. The certificate is read from the connections the deliveries open: the
 * account hears `webhook.certificate_expiring` once (the 14-day warning), however many new
 * connections follow, and the webhook shows `certificate_expires_at`. On SQLite, and on a
 * PostgreSQL database of its own (`createCluster`). `CertificateWatch` alone is tested first.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constructEvent, eventSamples } from '@agentfactory/webhooks';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { CertificateWatch } from '../src/delivery/certificates.js';
import { selfSignedCert } from './helpers/certs.js';
import { type CliProcess, freePort, runCli, signal } from './helpers/cli-process.js';
import { client } from './helpers/client.js';
import { baseEnv, createAccountKey, createCluster } from './helpers/cluster.js';
import { describePostgres } from './helpers/postgres.js';
import { startReceiver } from './helpers/receiver.js';

vi.setConfig({ testTimeout: 90_000 });

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

describe('CertificateWatch', () => {
  /** A sender whose connections recorded `certs` (origin → notAfter). */
  function sender(certs: Record<string, number>) {
    return {
      certificateVersion: 0,
      certificateOf: (url: string) => certs[new URL(url).origin],
      connect(origin: string, notAfter: number) {
        certs[origin] = notAfter;
        this.certificateVersion++;
      },
    };
  }

  it('hands out each webhook certificate once, again when it changes or the URL does', () => {
    const s = sender({});
    const watch = new CertificateWatch(s);
    watch.seen('wh_a', 'acct', 'https://a.test/hooks');
    expect(watch.take()).toEqual([]);
    s.connect('https://a.test', 1000);
    watch.seen('wh_a', 'acct', 'https://a.test/hooks');
    watch.seen('wh_a', 'acct', 'https://a.test/hooks');
    watch.seen('wh_b', 'acct', 'http://b.test/');
    expect(watch.take()).toEqual([{ webhookId: 'wh_a', accountId: 'acct', expiresAt: 1000 }]);
    expect(watch.take()).toEqual([]);
    // Another connection to the same origin, the same certificate: nothing new.
    s.connect('https://a.test', 1000);
    watch.seen('wh_a', 'acct', 'https://a.test/hooks');
    expect(watch.take()).toEqual([]);
    // Renewed.
    s.connect('https://a.test', 2000);
    watch.seen('wh_a', 'acct', 'https://a.test/hooks');
    // A webhook that moved to an origin already connected to, with no new connection.
    s.connect('https://c.test', 3000);
    watch.seen('wh_b', 'acct', 'http://b.test/');
    watch.seen('wh_b', 'acct', 'https://c.test/in');
    const taken = watch.take();
    expect(taken).toEqual([
      { webhookId: 'wh_a', accountId: 'acct', expiresAt: 2000 },
      { webhookId: 'wh_b', accountId: 'acct', expiresAt: 3000 },
    ]);
    // Not stored: handed out again next time.
    watch.restore(taken);
    expect(watch.take()).toHaveLength(2);
  });
});

/**
 * The service in a child process with `env` (SQLite by default), the account's API key from
 * `apiKeyOf` once it listens.
 */
async function scenario(
  env: Record<string, string>,
  apiKeyOf: (service: CliProcess, url: string) => Promise<string>,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'af-certs-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const tls = selfSignedCert(dir, 'receiver', 'IP:127.0.0.1,DNS:localhost', false, 10);
  const notAfter = Date.parse(new X509Certificate(tls.cert).validTo);

  // Every answer closes its connection: each delivery opens a new TLS connection.
  let received = 0;
  let connections = 0;
  const https = createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    req.resume();
    req.on('end', () => {
      received++;
      res.writeHead(200, { connection: 'close' }).end('ok');
    });
  });
  https.on('secureConnection', () => connections++);
  await new Promise<void>((r) => https.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => https.close(() => r())));
  const httpsUrl = `https://127.0.0.1:${(https.address() as AddressInfo).port}/hooks`;
  const monitor = await startReceiver();
  cleanups.push(() => monitor.close());

  const port = await freePort();
  const service = runCli(['serve'], {
    AF_LOG_LEVEL: 'warn',
    AF_WARM_UP_DELIVERIES: '0',
    ...env,
    AF_DATA_DIR: join(dir, 'data'),
    PORT: String(port),
    NODE_EXTRA_CA_CERTS: tls.certPath,
  });
  cleanups.push(() => signal(service, 'SIGKILL'));
  const base = `http://127.0.0.1:${port}`;
  const call = client(base, await apiKeyOf(service, base));

  const mon = await call('POST', '/v1/webhooks', {
    name: 'ops',
    url: monitor.url,
    events: ['webhook.certificate_expiring'],
  });
  const hook = await call('POST', '/v1/webhooks', {
    name: 'tls',
    url: httpsUrl,
    events: ['agent.*'],
  });
  expect([mon.status, hook.status]).toEqual([201, 201]);

  for (let i = 0; i < 3; i++) {
    const r = await call('POST', '/v1/events', {
      event: 'agent.created',
      data: eventSamples['agent.created'],
    });
    expect(r.status).toBe(202);
    const deadline = Date.now() + 15_000;
    while (received < i + 1 && Date.now() < deadline) await new Promise((t) => setTimeout(t, 25));
  }
  expect(received).toBe(3);
  expect(connections).toBe(3);

  const [req] = await monitor.waitFor(1, 15_000);
  const event = await constructEvent(
    req!.body,
    req!.headers as Record<string, string>,
    mon.body.secret,
    {
      requireTimestamp: true,
    },
  );
  expect(event.event).toBe('webhook.certificate_expiring');
  expect(event.data).toEqual({
    webhook_id: hook.body.id,
    url: httpsUrl,
    host: '127.0.0.1',
    expires_at: new Date(notAfter).toISOString(),
    days_left: expect.any(Number),
  });
  expect([9, 10]).toContain((event.data as { days_left: number }).days_left);

  const read = await call('GET', `/v1/webhooks/${hook.body.id}`);
  expect(read.body.health.certificate_expires_at).toBe(new Date(notAfter).toISOString());
  // Once: more deliveries on new connections and a few operations rounds tell nothing more.
  await call('POST', '/v1/events', {
    event: 'agent.created',
    data: eventSamples['agent.created'],
  });
  await new Promise((r) => setTimeout(r, 2_500));
  expect(received).toBe(4);
  expect(monitor.requests).toHaveLength(1);
  // The monitor's own endpoint is plain HTTP: nothing recorded for it.
  const plain = await call('GET', `/v1/webhooks/${mon.body.id}`);
  expect(plain.body.health.certificate_expires_at).toBeNull();
}

describe('certificate watch on SQLite', () => {
  it('an endpoint whose certificate expires in 10 days: webhook.certificate_expiring, once', async () => {
    await scenario(
      {},
      async (service) => (await service.waitForOutput(/Dev API key:\s+(\S+)/))[1]!,
    );
  });
});

await describePostgres('certificate watch on PostgreSQL', (pg) => {
  it('an endpoint whose certificate expires in 10 days: webhook.certificate_expiring, once', async () => {
    // A database of its own (dropped at the end): the service runs as a child process.
    const cluster = await createCluster(pg.url);
    cleanups.push(() => cluster.close());
    await scenario(baseEnv(cluster.databaseUrl), async (service, url) => {
      await service.waitForOutput(/is running at/);
      return createAccountKey(url);
    });
  });
});
