/**
 * A minimal webhook receiver for the benchmark, run in its own process so that it never shares
 * an event loop with the service. It counts deliveries by event id and answers 200 with an empty
 * body. Modes: `ok`, `blackhole` (accepts the connection, never answers), `fail-first` (500 on
 * the first attempt of each delivery, then 200). One process serves `ports` endpoints (argv[3],
 * default 1), each on its own port, counted together, so that the ceiling can put ten endpoints
 * in one process or in ten. The parent talks to it over IPC; its stats carry the process's own
 * CPU time (`process.cpuUsage()`), so a run can tell whether the receivers were the limit.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

type Mode = 'ok' | 'blackhole' | 'fail-first';

const mode = (process.argv[2] ?? 'ok') as Mode;
const portCount = Math.max(1, Number(process.argv[3] ?? 1));
const wallNow = () => performance.timeOrigin + performance.now();

let received = 0;
let duplicates = 0;
let inFlight = 0;
let maxInFlight = 0;
const seen = new Set<string>();
const failedOnce = new Set<string>();
const latencies: number[] = [];
/** When each latency sample's event was sent (`bench_sent_at`), in the same order. */
const sentAt: number[] = [];
let firstAt = 0;
let lastAt = 0;

const handler = (req: IncomingMessage, res: ServerResponse) => {
  if (mode === 'blackhole') {
    req.resume();
    return;
  }
  inFlight++;
  if (inFlight > maxInFlight) maxInFlight = inFlight;
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const at = wallNow();
    const key = `${req.headers['x-agentfactory-event-id']}|${req.headers['x-agentfactory-delivery']}`;
    if (mode === 'fail-first' && !failedOnce.has(key)) {
      failedOnce.add(key);
      inFlight--;
      res.writeHead(500).end();
      return;
    }
    if (seen.has(key)) duplicates++;
    else {
      seen.add(key);
      received++;
      if (!firstAt) firstAt = at;
      lastAt = at;
      const body = Buffer.concat(chunks).toString('utf8');
      const sent = /"bench_sent_at":([0-9.]+)/.exec(body);
      if (sent) {
        latencies.push(at - Number(sent[1]));
        sentAt.push(Number(sent[1]));
      }
    }
    inFlight--;
    res.writeHead(200, { 'content-length': '0' }).end();
  });
};

process.on('message', (msg: { type: string }) => {
  if (msg.type === 'stats') {
    const cpu = process.cpuUsage();
    process.send?.({
      type: 'stats',
      received,
      duplicates,
      maxInFlight,
      firstAt,
      lastAt,
      latencies: latencies.splice(0),
      cpuUs: cpu.user + cpu.system,
      sentAt: sentAt.splice(0),
    });
  } else if (msg.type === 'reset') {
    received = 0;
    duplicates = 0;
    maxInFlight = 0;
    firstAt = 0;
    lastAt = 0;
    seen.clear();
    failedOnce.clear();
    latencies.length = 0;
    sentAt.length = 0;
    process.send?.({ type: 'reset' });
  }
});
process.on('disconnect', () => process.exit(0));

const ports = await Promise.all(
  Array.from(
    { length: portCount },
    () =>
      new Promise<number>((resolve) => {
        const server = createServer(handler);
        server.keepAliveTimeout = 60_000;
        server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
      }),
  ),
);
process.send?.({ type: 'ready', ports });
