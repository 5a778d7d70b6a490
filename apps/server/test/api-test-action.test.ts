// biome-ignore-all lint/suspicious/noExplicitAny: API answers are read loosely in tests.
/**
 * The test action as the dashboard's Tester uses it, against real receivers on loopback: edited
 * data (validated like `POST /v1/events`), what was sent (`request`, byte for byte what the
 * receiver got, signatures that verify with the SDK), what came back (`response`), and a
 * diagnosis for each failure: an error status, a redirect, a refused port, a timeout, and HTTPS
 * receivers with a self-signed, an expired, a wrongly named certificate and TLS 1.1 only.
 * DNS and the failures that send nothing are unit-tested in `diagnosis.test.ts`.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventSamples, verifySignature, verifyStandardWebhook } from '@agentfactory/webhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selfSignedCert } from './helpers/certs.js';
import { type Call, client } from './helpers/client.js';
import { type Receiver, startReceiver } from './helpers/receiver.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const here = dirname(fileURLToPath(import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'af-tester-'));
let server: TestServer;
let call: Call;
let receiver: Receiver;
const https: HttpsServer[] = [];

beforeAll(async () => {
  // A short delivery timeout so the timeout case is quick.
  server = await startTestServer({ AF_DELIVERY_TIMEOUT: '1s', AF_MAX_PAYLOAD: '2048' });
  call = client(server.url, server.apiKey);
  receiver = await startReceiver();
});
afterAll(async () => {
  await server?.close();
  await receiver?.close();
  for (const s of https) {
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
  rmSync(dir, { recursive: true, force: true });
});

async function newHook(url: string, over: Record<string, unknown> = {}) {
  const res = await call('POST', '/v1/webhooks', {
    name: 'Tester',
    url,
    events: ['agent.updated'],
    ...over,
  });
  expect(res.status).toBe(201);
  return res.body as { id: string; secret: string };
}

async function testTo(url: string, body: Record<string, unknown> = {}) {
  const wh = await newHook(url);
  const res = await call('POST', `/v1/webhooks/${wh.id}/test`, body);
  expect(res.status).toBe(200);
  return res.body;
}

/** A key and certificate for `san` in `name`/; `expired` makes one valid only in 2020. */
const makeCert = (name: string, san: string, expired = false) =>
  selfSignedCert(dir, name, san, expired);

async function startHttps(
  tls: { key: Buffer; cert: Buffer } & Record<string, unknown>,
): Promise<string> {
  const s = createHttpsServer(tls, (req, res) => {
    req.resume();
    req.on('end', () => res.end('tls ok'));
  });
  https.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return `https://127.0.0.1:${(s.address() as AddressInfo).port}/`;
}

describe('edited data', () => {
  it('is sent exactly; request shows the URL, every header and the body; signatures verify', async () => {
    receiver.setHandler((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'x-receiver': 'yes' });
      res.end('got it');
    });
    const wh = await newHook(receiver.url, { headers: { 'X-Team': 'secret-team-value' } });
    const data = { ...eventSamples['agent.updated'], agent_name: 'Edited in the Tester' };
    const before = receiver.requests.length;
    const res = await call('POST', `/v1/webhooks/${wh.id}/test`, { event: 'agent.updated', data });
    expect(res.status).toBe(200);
    const b = res.body;
    const got = receiver.requests[before]!;

    expect(b).toMatchObject({
      success: true,
      status_code: 200,
      error: null,
      diagnosis: null,
      response_body: 'got it',
      response: {
        status: 200,
        body: 'got it',
        body_encoding: 'utf8',
        headers: expect.objectContaining({ 'x-receiver': 'yes', 'content-type': 'text/plain' }),
      },
    });
    expect(b.request.url).toBe(receiver.url);
    expect(b.request.method).toBe('POST');
    // The body the receiver got is the body shown, and holds the edited data.
    expect(got.body).toBe(b.request.body);
    expect(JSON.parse(got.body)).toMatchObject({ event: 'agent.updated', data });
    // Every header shown was sent with that value; the custom one is masked in the answer only.
    const shown = Object.fromEntries(
      Object.entries(b.request.headers as Record<string, string>).map(([k, v]) => [
        k.toLowerCase(),
        v,
      ]),
    );
    expect(shown['x-team']).toBe('••••');
    expect(got.headers['x-team']).toBe('secret-team-value');
    expect(JSON.stringify(b)).not.toContain('secret-team-value');
    for (const [k, v] of Object.entries(shown)) if (k !== 'x-team') expect(got.headers[k]).toBe(v);
    for (const k of [
      'x-agentfactory-event',
      'x-agentfactory-event-id',
      'x-agentfactory-delivery',
      'x-agentfactory-attempt',
      'x-agentfactory-timestamp',
      'x-agentfactory-signature',
      'x-agentfactory-test',
      'webhook-id',
      'webhook-timestamp',
      'webhook-signature',
    ])
      expect(shown[k], k).toBeTruthy();
    // Both signatures, as shown, verify with the SDK over the body as shown.
    expect(
      await verifySignature(b.request.body, shown['x-agentfactory-signature'], wh.secret),
    ).toBe(true);
    await verifyStandardWebhook(b.request.body, shown, wh.secret);
    receiver.setHandler((_req, res) => void res.end('ok'));
  });

  it('invalid data → 422 with the path; data without a catalog event → 400; too large → 413', async () => {
    const wh = await newHook(receiver.url);
    const before = receiver.requests.length;
    const bad = await call('POST', `/v1/webhooks/${wh.id}/test`, {
      event: 'agent.updated',
      data: { ...eventSamples['agent.updated'], agent_id: 42 },
    });
    expect(bad.status).toBe(422);
    expect(bad.body.error.code).toBe('schema_violation');
    expect(bad.body.error.details).toEqual(
      expect.arrayContaining([expect.objectContaining({ path: '/data/agent_id' })]),
    );
    const missing = await call('POST', `/v1/webhooks/${wh.id}/test`, {
      event: 'agent.updated',
      data: { agent_id: 'a' },
    });
    expect(missing.status).toBe(422);
    for (const body of [{ data: {} }, { event: 'webhook.test', data: {} }]) {
      const r = await call('POST', `/v1/webhooks/${wh.id}/test`, body);
      expect(r.status).toBe(400);
      expect(r.body.error.message).toMatch(/catalog event/);
    }
    const big = await call('POST', `/v1/webhooks/${wh.id}/test`, {
      event: 'agent.updated',
      data: { ...eventSamples['agent.updated'], agent_name: 'x'.repeat(3000) },
    });
    expect(big.status).toBe(413);
    expect(big.body.error.details[0].path).toBe('/data');
    expect(receiver.requests.length).toBe(before);
  });
});

describe('diagnosis against real receivers', () => {
  it('a 500 with a body: the status and the body', async () => {
    receiver.setHandler((_req, res) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('database is down');
    });
    const b = await testTo(receiver.url, { event: 'agent.updated' });
    expect(b.response).toMatchObject({ status: 500, body: 'database is down' });
    expect(b.diagnosis.code).toBe('response_status');
    expect(b.diagnosis.message).toContain('500');
    expect(b.diagnosis.message).toContain('database is down');
    receiver.setHandler((_req, res) => void res.end('ok'));
  });

  it('a 401: hints at signature verification', async () => {
    receiver.setHandler((_req, res) => {
      res.writeHead(401);
      res.end('invalid signature');
    });
    const b = await testTo(receiver.url);
    expect(b.diagnosis.message).toContain('401');
    expect(b.diagnosis.fix).toMatch(/secret.*raw request body/);
    receiver.setHandler((_req, res) => void res.end('ok'));
  });

  it('a 302: not followed, says where it pointed', async () => {
    receiver.setHandler((_req, res) => {
      res.writeHead(302, { location: 'https://elsewhere.example/hooks' });
      res.end();
    });
    const b = await testTo(receiver.url);
    expect(b).toMatchObject({ success: false, error: 'redirect', status_code: 302 });
    expect(b.response.headers.location).toBe('https://elsewhere.example/hooks');
    expect(b.diagnosis.code).toBe('redirect');
    expect(b.diagnosis.message).toContain('302');
    expect(b.diagnosis.message).toContain('https://elsewhere.example/hooks');
    expect(b.diagnosis.fix).toContain('https://elsewhere.example/hooks');
    receiver.setHandler((_req, res) => void res.end('ok'));
  });

  it('a closed port: connection refused, no response', async () => {
    const probe = createNetServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const b = await testTo(`http://127.0.0.1:${port}/hook`);
    expect(b).toMatchObject({ success: false, error: 'connection_refused', response: null });
    expect(b.request.body).toContain('webhook.test');
    expect(b.diagnosis.code).toBe('connection_refused');
    expect(b.diagnosis.message).toContain(`127.0.0.1:${port}`);
  });

  it('a receiver that never answers: timeout, saying the timeout', async () => {
    receiver.setHandler(() => {});
    const b = await testTo(receiver.url);
    expect(b).toMatchObject({ error: 'timeout', response: null });
    expect(b.diagnosis.code).toBe('timeout');
    expect(b.diagnosis.message).toContain('1 s');
    expect(b.diagnosis.fix).toMatch(/asynchronously/);
    receiver.setHandler((_req, res) => void res.end('ok'));
  });

  it('a self-signed certificate', async () => {
    const url = await startHttps(makeCert('self', 'IP:127.0.0.1'));
    const b = await testTo(url);
    expect(b).toMatchObject({ error: 'tls_error', response: null });
    expect(b.diagnosis.code).toBe('tls_untrusted_certificate');
    expect(b.diagnosis.message).toContain('DEPTH_ZERO_SELF_SIGNED_CERT');
    expect(b.diagnosis.fix).toMatch(/public CA/);
  });

  it('an expired certificate', async () => {
    const url = await startHttps(makeCert('expired', 'IP:127.0.0.1', true));
    const b = await testTo(url);
    expect(b.error).toBe('tls_error');
    expect(b.diagnosis.code).toBe('tls_certificate_expired');
    expect(b.diagnosis.fix).toMatch(/Renew/);
  });

  it('a receiver offering only TLS 1.1', async () => {
    const url = await startHttps({
      ...makeCert('old', 'IP:127.0.0.1'),
      minVersion: 'TLSv1',
      maxVersion: 'TLSv1.1',
      ciphers: 'DEFAULT@SECLEVEL=0',
    });
    const b = await testTo(url);
    expect(b.error).toBe('tls_error');
    expect(b.diagnosis.code).toBe('tls_protocol_version');
    expect(b.diagnosis.fix).toMatch(/TLS 1\.2/);
  });

  it('a certificate for another name, trusted (NODE_EXTRA_CA_CERTS, child process)', async () => {
    // The host name is checked only once the chain is trusted, and the service trusts the
    // system's CAs only: the sender and the diagnosis run in a child that trusts this one.
    const tls = makeCert('altname', 'DNS:other.example');
    const url = await startHttps(tls);
    const script = join(dir, 'altname.mts');
    const src = (f: string) => JSON.stringify(resolve(here, '../src', f));
    writeFileSync(
      script,
      `import { Sender } from ${src('delivery/sender.ts')};
import { diagnose } from ${src('delivery/diagnosis.ts')};
import { systemClock } from ${src('clock.ts')};
const url = process.argv[2]!;
const s = new Sender({ allowPrivateNetworks: true, clock: systemClock });
const r = await s.send({ url, headers: {}, body: '{}', timeoutMs: 5000 });
await s.close();
process.stdout.write(JSON.stringify({ error: r.error, detail: r.detail, diagnosis: diagnose({ ...r, url, timeoutMs: 5000 }) }));
`,
    );
    const out = await new Promise<string>((res, rej) => {
      execFile(
        'npx',
        ['tsx', '--conditions=agentfactory-source', script, url],
        {
          cwd: resolve(here, '..'),
          env: { ...process.env, NODE_EXTRA_CA_CERTS: join(dir, 'altname', 'cert.pem') },
          timeout: 30_000,
        },
        (err, stdout, stderr) => (err ? rej(new Error(`${err.message}\n${stderr}`)) : res(stdout)),
      );
    });
    const r = JSON.parse(out);
    expect(r.error).toBe('tls_error');
    expect(r.detail.code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    expect(r.diagnosis.code).toBe('tls_hostname_mismatch');
    expect(r.diagnosis.message).toContain('127.0.0.1');
  }, 40_000);
});
