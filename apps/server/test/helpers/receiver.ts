/**
 * A real HTTP receiver on loopback for delivery tests: records every request (headers, raw body,
 * arrival time) and answers with whatever the test's handler decides.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  /** Raw header pairs in wire order. */
  rawHeaders: string[];
  body: string;
  at: number;
}

export type Handler = (req: Received, res: ServerResponse) => void | Promise<void>;

/** A declarative answer: status (default 200), body (default 'ok'), headers, and a delay. */
export interface Reply {
  status?: number;
  body?: string;
  headers?: Record<string, string>;
  delayMs?: number;
}

export interface Receiver {
  url: string;
  port: number;
  server: Server;
  requests: Received[];
  /** Requests being handled right now, and the most seen at once. */
  inFlight: () => number;
  maxInFlight: () => number;
  connections: () => number;
  setHandler(h: Handler): void;
  /** Used when no handler was given: decides each answer declaratively. */
  respond: (req: Received) => Reply;
  /** Resolves once `n` requests have arrived (bounded by `timeoutMs`). */
  waitFor(n: number, timeoutMs?: number): Promise<Received[]>;
  close(): Promise<void>;
}

export async function startReceiver(
  handler?: Handler,
  host = '127.0.0.1',
  port = 0,
): Promise<Receiver> {
  let current: Handler = handler ?? replyWith(() => receiver.respond);
  const requests: Received[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  let inFlight = 0;
  let max = 0;
  let connections = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    inFlight++;
    max = Math.max(max, inFlight);
    res.on('close', () => {
      inFlight--;
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: Received = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
      };
      requests.push(r);
      for (const w of waiters) if (requests.length >= w.n) w.resolve();
      Promise.resolve(current(r, res)).catch(() => res.destroy());
    });
  });
  server.on('connection', () => {
    connections++;
  });
  server.keepAliveTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const h = host.includes(':') ? `[${host}]` : host;
  const receiver: Receiver = {
    respond: () => ({}),
    url: `http://${h}:${addr.port}`,
    port: addr.port,
    server,
    requests,
    inFlight: () => inFlight,
    maxInFlight: () => max,
    connections: () => connections,
    setHandler(h2) {
      current = h2;
    },
    waitFor(n, timeoutMs = 10_000) {
      if (requests.length >= n) return Promise.resolve(requests.slice());
      return new Promise((resolve, reject) => {
        const t = setTimeout(
          () =>
            reject(new Error(`waited ${timeoutMs} ms for ${n} requests, got ${requests.length}`)),
          timeoutMs,
        );
        waiters.push({
          n,
          resolve: () => {
            clearTimeout(t);
            resolve(requests.slice());
          },
        });
      });
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  return receiver;
}

function replyWith(get: () => (req: Received) => Reply): Handler {
  return async (req, res) => {
    const r = get()(req);
    if (r.delayMs) await new Promise((done) => setTimeout(done, r.delayMs));
    if (res.destroyed) return;
    res.writeHead(r.status ?? 200, { 'content-type': 'text/plain', ...r.headers });
    res.end(r.body ?? 'ok');
  };
}
