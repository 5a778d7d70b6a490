import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../src/clock.js';
import { mapError, Sender } from '../src/delivery/sender.js';
import { selfSignedCert } from './helpers/certs.js';
import { type Receiver, startReceiver } from './helpers/receiver.js';

const here = dirname(fileURLToPath(import.meta.url));

describe('Sender', () => {
  let sender: Sender;
  let rx: Receiver;

  beforeAll(() => {
    sender = new Sender({ allowPrivateNetworks: true, clock: systemClock });
  });
  afterAll(async () => {
    await sender.close();
  });
  afterEach(async () => {
    await rx?.close();
  });

  const send = (url: string, timeoutMs = 2000) =>
    sender.send({
      url,
      headers: { 'content-type': 'application/json', 'x-test': '1' },
      body: '{"a":1}',
      timeoutMs,
    });

  it('2xx: success, headers and body captured, request as given', async () => {
    rx = await startReceiver((_r, res) => {
      res.writeHead(201, { 'x-reply': 'yes', 'content-type': 'text/plain' });
      res.end('created ✓');
    });
    const r = await send(`${rx.url}/hook?x=1`);
    expect(r).toMatchObject({
      statusCode: 201,
      succeeded: true,
      error: null,
      responseBody: 'created ✓',
    });
    expect(r.responseHeaders['x-reply']).toBe('yes');
    expect(r.durationMs).toBeGreaterThanOrEqual(0);
    const [req] = rx.requests;
    expect(req).toMatchObject({ method: 'POST', url: '/hook?x=1', body: '{"a":1}' });
    expect(req!.headers['x-test']).toBe('1');
  });

  it('keeps connections alive across attempts to one origin', async () => {
    rx = await startReceiver();
    for (let i = 0; i < 5; i++) expect((await send(rx.url)).succeeded).toBe(true);
    expect(rx.connections()).toBeLessThanOrEqual(2);
  });

  it('500: response_status, with Retry-After parsed', async () => {
    rx = await startReceiver((_r, res) => {
      res.writeHead(503, { 'retry-after': '7' });
      res.end('busy');
    });
    const r = await send(rx.url);
    expect(r).toMatchObject({
      statusCode: 503,
      succeeded: false,
      error: 'response_status',
      responseBody: 'busy',
      retryAfterMs: 7000,
    });
  });

  it('3xx: a failure, redirect not followed', async () => {
    const target = await startReceiver();
    rx = await startReceiver((_r, res) => {
      res.writeHead(302, { location: `${target.url}/elsewhere` });
      res.end();
    });
    const r = await send(rx.url);
    expect(r).toMatchObject({ statusCode: 302, succeeded: false, error: 'redirect' });
    expect(target.requests).toHaveLength(0);
    await target.close();
  });

  it('times out a slow response at the whole-request timeout', async () => {
    rx = await startReceiver((_r, res) => {
      setTimeout(() => res.end('late'), 3000).unref();
    });
    const t0 = Date.now();
    const r = await send(rx.url, 300);
    expect(r).toMatchObject({ statusCode: null, succeeded: false, error: 'timeout' });
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(r.durationMs).toBeGreaterThanOrEqual(250);
  });

  it('times out a body that trickles after a 200 status', async () => {
    rx = await startReceiver((_r, res) => {
      res.writeHead(200);
      res.write('a');
      const t = setInterval(() => res.write('b'), 50);
      res.on('close', () => clearInterval(t));
    });
    const r = await send(rx.url, 300);
    expect(r).toMatchObject({ statusCode: 200, succeeded: false, error: 'timeout' });
  });

  it('refused port: connection_refused', async () => {
    const srv = createNetServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const port = (srv.address() as AddressInfo).port;
    await new Promise<void>((r) => srv.close(() => r()));
    const r = await send(`http://127.0.0.1:${port}/`);
    expect(r).toMatchObject({ statusCode: null, succeeded: false, error: 'connection_refused' });
  });

  it('caps a big body at 4 KiB', async () => {
    rx = await startReceiver((_r, res) => {
      res.writeHead(200);
      res.end('x'.repeat(1024 * 1024));
    });
    const r = await send(rx.url);
    expect(r.succeeded).toBe(true);
    expect(r.responseBody).toHaveLength(4096);
  });

  it('maps DNS and TLS error codes', () => {
    const err = (code: string) => Object.assign(new Error(code), { code });
    expect(mapError(err('ENOTFOUND'))).toBe('dns_error');
    expect(mapError(err('EAI_AGAIN'))).toBe('dns_error');
    expect(mapError(new Error('x', { cause: err('DEPTH_ZERO_SELF_SIGNED_CERT') }))).toBe(
      'tls_error',
    );
    expect(mapError(err('ERR_SSL_WRONG_VERSION_NUMBER'))).toBe('tls_error');
    expect(mapError(err('ECONNRESET'))).toBe('connection_error');
    expect(mapError(err('UND_ERR_HEADERS_TIMEOUT'))).toBe('timeout');
  });
});

describe('Sender over HTTPS with a self-signed certificate', () => {
  const dir = mkdtempSync(join(tmpdir(), 'af-tls-'));
  let server: ReturnType<typeof createHttpsServer>;
  let url: string;
  let hits = 0;

  beforeAll(async () => {
    const tls = selfSignedCert(dir, 'rx', 'IP:127.0.0.1,DNS:localhost');
    server = createHttpsServer({ key: tls.key, cert: tls.cert }, (req, res) => {
      req.resume();
      req.on('end', () => {
        hits++;
        res.end('tls ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses the unknown CA: tls_error, the receiver handles nothing', async () => {
    const sender = new Sender({ allowPrivateNetworks: true, clock: systemClock });
    const r = await sender.send({ url, headers: {}, body: '{}', timeoutMs: 2000 });
    await sender.close();
    expect(r).toMatchObject({ statusCode: null, succeeded: false, error: 'tls_error' });
    expect(hits).toBe(0);
  });

  it('accepts it once its CA is given through NODE_EXTRA_CA_CERTS (child process)', async () => {
    const script = join(dir, 'send.mts');
    const senderPath = resolve(here, '../src/delivery/sender.ts');
    const clockPath = resolve(here, '../src/clock.ts');
    writeFileSync(
      script,
      `import { Sender } from ${JSON.stringify(senderPath)};
import { systemClock } from ${JSON.stringify(clockPath)};
const s = new Sender({ allowPrivateNetworks: true, clock: systemClock });
const r = await s.send({ url: process.argv[2]!, headers: {}, body: '{}', timeoutMs: 5000 });
await s.close();
process.stdout.write(JSON.stringify(r));
`,
    );
    const out = await new Promise<string>((res, rej) => {
      execFile(
        'npx',
        ['tsx', '--conditions=agentfactory-source', script, url],
        {
          cwd: resolve(here, '..'),
          env: { ...process.env, NODE_EXTRA_CA_CERTS: join(dir, 'rx', 'cert.pem') },
          timeout: 30_000,
        },
        (err, stdout, stderr) => (err ? rej(new Error(`${err.message}\n${stderr}`)) : res(stdout)),
      );
    });
    const r = JSON.parse(out);
    expect(r).toMatchObject({ statusCode: 200, succeeded: true, responseBody: 'tls ok' });
    expect(hits).toBe(1);
  }, 40_000);
});
