/**
 * The SSRF guard at connect time, against real listeners on loopback: with private networks
 * disallowed no listener sees a connection, whatever form the URL takes; with them allowed the
 * same URLs connect (so the test can fail).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../src/clock.js';
import { Sender } from '../src/delivery/sender.js';
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
});
