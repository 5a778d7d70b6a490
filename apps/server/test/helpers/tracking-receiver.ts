/**
 * A receiver on loopback for scale tests: many endpoints on one server (one path each), and the
 * bookkeeping that the at-least-once and concurrency claims are checked against — how many times
 * each delivery arrived, whether one delivery was ever in flight twice at once (an overlap: two
 * workers sending it at the same time), and the most requests in flight per endpoint. It keeps
 * counters, not bodies, so 20,000 deliveries cost little memory.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TrackingReceiver {
  /** `http://127.0.0.1:port`; endpoint n is `${url}/e${n}`. */
  url: string;
  endpoint(n: number): string;
  /** Delivery id → requests that arrived for it (completed or not). */
  counts: Map<string, number>;
  /** Delivery id → when its latest request arrived (epoch ms). */
  lastAt: Map<string, number>;
  /** Event ids seen (from `X-AgentFactory-Event-Id`). */
  events: Set<string>;
  /** Delivery ids that arrived while another request for them was still in flight. */
  overlaps: string[];
  /** Endpoint path → the most requests in flight at once. */
  maxInFlight: Map<string, number>;
  /** Delivery ids in flight right now. */
  inFlightIds(): string[];
  /** Requests that arrived, and deliveries that arrived more than once. */
  total(): number;
  repeated(): string[];
  /** Delay (ms) before answering a request to `path`; default 0. Status is always 200. */
  delayMs: (path: string) => number;
  /** Resolves once `n` distinct deliveries arrived and answered (bounded by `timeoutMs`). */
  waitForDistinct(n: number, timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

export async function startTrackingReceiver(): Promise<TrackingReceiver> {
  const counts = new Map<string, number>();
  const lastAt = new Map<string, number>();
  const answered = new Set<string>();
  const events = new Set<string>();
  const overlaps: string[] = [];
  const live = new Map<string, number>();
  const perPath = new Map<string, number>();
  const maxInFlight = new Map<string, number>();
  let total = 0;

  const header = (req: IncomingMessage, name: string) => {
    const v = req.headers[name];
    return Array.isArray(v) ? (v[0] ?? '') : (v ?? '');
  };

  const server: Server = createServer((req, res) => {
    const id = header(req, 'x-agentfactory-delivery');
    const path = (req.url ?? '/').split('?')[0]!;
    total++;
    counts.set(id, (counts.get(id) ?? 0) + 1);
    lastAt.set(id, Date.now());
    events.add(header(req, 'x-agentfactory-event-id'));
    const before = live.get(id) ?? 0;
    if (before > 0) overlaps.push(id);
    live.set(id, before + 1);
    const n = (perPath.get(path) ?? 0) + 1;
    perPath.set(path, n);
    if (n > (maxInFlight.get(path) ?? 0)) maxInFlight.set(path, n);
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      const left = (live.get(id) ?? 1) - 1;
      if (left > 0) live.set(id, left);
      else live.delete(id);
      perPath.set(path, (perPath.get(path) ?? 1) - 1);
    };
    res.on('close', finish);
    req.resume();
    req.on('end', () => {
      const answer = () => {
        if (res.destroyed) return;
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('ok', () => {
          answered.add(id);
        });
      };
      const delay = receiver.delayMs(path);
      if (delay > 0) setTimeout(answer, delay);
      else answer();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;

  const receiver: TrackingReceiver = {
    url,
    endpoint: (n) => `${url}/e${n}`,
    counts,
    lastAt,
    events,
    overlaps,
    maxInFlight,
    inFlightIds: () => [...live.keys()],
    total: () => total,
    repeated: () => [...counts].filter(([, n]) => n > 1).map(([id]) => id),
    delayMs: () => 0,
    async waitForDistinct(n, timeoutMs) {
      const end = Date.now() + timeoutMs;
      while (answered.size < n) {
        if (Date.now() > end)
          throw new Error(`waited ${timeoutMs} ms for ${n} deliveries, ${answered.size} arrived`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  return receiver;
}
