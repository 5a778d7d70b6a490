/**
 * The SSRF guard at connect time, against real listeners on loopback: with private networks
 * disallowed no listener sees a connection, whatever form the URL takes; with them allowed the
 * same URLs connect (so the test can fail). The unspecified address (0.0.0.0, `::`) reaches the
 * same loopback listeners on Linux, and is refused under both policies.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../src/clock.js';
import { Sender } from '../src/delivery/sender.js';
import type { Resolver } from '../src/security/ssrf.js';
import { type Receiver, startReceiver } from './helpers/receiver.js';

describe('SSRF guard at connect time', () => {
  const listeners: Receiver[] = [];
  let port = 0;
  let hasV6 = true;

  beforeAll(async () => {
    const first = await startReceiver(undefined, '127.0.0.1', 0);
    listeners.push(first);
    port = first.port;
    listeners.push(await startReceiver(undefined, '127.1.2.3', port));
    try {
      listeners.push(await startReceiver(undefined, '::1', port));
    } catch {
      hasV6 = false;
    }
  });
  afterAll(async () => {
    for (const l of listeners) await l.close();
  });

  const connections = () => listeners.reduce((n, l) => n + l.connections(), 0);
  const targets = () => [
    `http://127.0.0.1:${port}/`,
    `http://127.1.2.3:${port}/`,
    `http://0x7f000001:${port}/`,
    `http://[::ffff:127.0.0.1]:${port}/`,
    `http://localhost:${port}/`,
    ...(hasV6 ? [`http://[::1]:${port}/`] : []),
  ];

  it('refuses every loopback form with blocked_address and makes no connection', async () => {
    const sender = new Sender({ allowPrivateNetworks: false, clock: systemClock });
    for (const url of targets()) {
      const r = await sender.send({ url, headers: {}, body: '{}', timeoutMs: 2000 });
      expect({ url, error: r.error, status: r.statusCode }).toEqual({
        url,
        error: 'blocked_address',
        status: null,
      });
    }
    await sender.close();
    expect(connections()).toBe(0);
  });

  it('connects to the same targets when private networks are allowed', async () => {
    const sender = new Sender({ allowPrivateNetworks: true, clock: systemClock });
    for (const url of targets()) {
      const r = await sender.send({ url, headers: {}, body: '{}', timeoutMs: 2000 });
      expect({ url, ok: r.succeeded }).toEqual({ url, ok: true });
    }
    await sender.close();
    expect(connections()).toBeGreaterThanOrEqual(targets().length - 2);
  });

  it("lets through only this process's own receiver, 127.0.0.1 at its port, while allowed", async () => {
    const sender = new Sender({ allowPrivateNetworks: false, clock: systemClock });
    const send = async (url: string) =>
      (await sender.send({ url, headers: {}, body: '{}', timeoutMs: 2000 })).error ?? 'ok';
    const own = `http://127.0.0.1:${port}/`;
    const others = [
      `http://127.1.2.3:${port}/`,
      `http://localhost:${port}/`,
      `http://[::ffff:127.0.0.1]:${port}/`,
      `http://127.0.0.1:${port === 65535 ? port - 1 : port + 1}/`,
      ...(hasV6 ? [`http://[::1]:${port}/`] : []),
    ];
    expect(await send(own)).toBe('blocked_address');

    const release = sender.allowOwnReceiver(port);
    expect(await send(own)).toBe('ok');
    for (const url of others)
      expect({ url, error: await send(url) }).toEqual({ url, error: 'blocked_address' });

    // Released: the next connection is refused again (the kept-alive one is closed first).
    release();
    for (const l of listeners) l.server.closeAllConnections();
    // A request may still meet the closed socket before the client sees it go (a reset).
    let error = await send(own);
    for (let i = 0; i < 5 && error === 'connection_error'; i++) error = await send(own);
    expect(error).toBe('blocked_address');
    await sender.close();
  });

  /** Whether a plain TCP connect to `host` reaches a listener (no SSRF guard in the way). */
  function reaches(host: string): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = connect({ host, port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
  }

  const unspecified = () => [
    `http://0.0.0.0:${port}/`,
    `http://0:${port}/`,
    `http://0x0:${port}/`,
    `http://[::ffff:0.0.0.0]:${port}/`,
    ...(hasV6 ? [`http://[::]:${port}/`] : []),
  ];

  it('refuses the unspecified address even with private networks allowed', async () => {
    const sender = new Sender({ allowPrivateNetworks: true, clock: systemClock });
    const before = connections();
    for (const url of unspecified()) {
      const r = await sender.send({ url, headers: {}, body: '{}', timeoutMs: 2000 });
      expect({ url, error: r.error, status: r.statusCode }).toEqual({
        url,
        error: 'blocked_address',
        status: null,
      });
    }
    await sender.close();
    expect(connections()).toBe(before);
    // What the refusal prevents: on this machine a plain connect to 0.0.0.0 reaches loopback.
    if (process.platform === 'linux') expect(await reaches('0.0.0.0')).toBe(true);
  });

  it('refuses names resolving to unspecified or metadata addresses with private networks allowed', async () => {
    let answer = '127.0.0.1';
    const resolver: Resolver = (_host, _opts, cb) =>
      cb(null, [{ address: answer, family: answer.includes(':') ? 6 : 4 }]);
    const sender = new Sender({ allowPrivateNetworks: true, clock: systemClock, resolver });
    const url = `http://receiver.example:${port}/`;
    // The control: the injected name reaches the loopback listener when it resolves there.
    const ok = await sender.send({ url, headers: {}, body: '{}', timeoutMs: 2000 });
    expect(ok.succeeded).toBe(true);
    const before = connections();
    for (const address of ['0.0.0.0', '169.254.169.254', '::ffff:169.254.169.254', '::']) {
      answer = address;
      // Another host name each time, so no kept-alive connection to the first one is reused.
      const r = await sender.send({
        url: `http://inward-${address.replace(/[.:]/g, '-')}.example:${port}/`,
        headers: {},
        body: '{}',
        timeoutMs: 2000,
      });
      expect({ address, error: r.error, status: r.statusCode }).toEqual({
        address,
        error: 'blocked_address',
        status: null,
      });
    }
    await sender.close();
    expect(connections()).toBe(before);
  });
});
