/**
 * The peer of the throughput rows: graphile-worker doing the service's job, run in its own
 * process like a service process so that its RSS and CPU are measured the same way. The parent
 * (`lib/peer.ts`) gives it the database and the receivers' URLs in its environment; on
 * `enqueue` it adds one job per delivery (each event × every endpoint), 1,000 jobs per `addJobs`
 * call (100 events), four calls in flight, as the service's batch endpoint is driven; each job
 * of the task `deliver` makes the delivery's signed POST (the service's `RequestBuilder`, so
 * `node:crypto`) with undici keep-alive through `dispatch` as the service sends, and fails on any
 * status but 2xx, to be retried by graphile-worker. The preset is graphile-worker's batching one (`PEER_PRESET`).
 */
import { Logger, makeWorkerUtils, run, type Task } from 'graphile-worker';
import pg from 'pg';
import { Agent } from 'undici';
import { DeliverySigner, eventBody } from './lib/delivery.js';
import { dispatchPost } from './lib/load.js';
import { PEER_PRESET } from './lib/peer.js';

const connectionString = process.env.PEER_DATABASE_URL!;
const urls = process.env.PEER_URLS!.split(',');

interface DeliverPayload {
  endpoint: number;
  eventId: string;
  deliveryId: string;
  body: string;
}

const targets = urls.map((u) => new URL(u));
const signer = new DeliverySigner(urls.length);
const agent = new Agent({ keepAliveTimeout: 30_000, connections: PEER_PRESET.concurrentJobs });

const deliver: Task = async (payload) => {
  const p = payload as DeliverPayload;
  const url = targets[p.endpoint]!;
  // The lean client the service's sender uses (`dispatch`), so both pay the same per POST.
  const status = await dispatchPost(agent, {
    origin: url.origin,
    path: url.pathname,
    method: 'POST',
    headers: signer.headers(p.endpoint, p.eventId, p.deliveryId, p.body),
    body: p.body,
  });
  if (status < 200 || status >= 300) throw new Error(`the receiver answered ${status}`);
};

/** Warnings and errors only: at info level graphile-worker logs a line per job. */
const logger = new Logger(() => (level, message) => {
  if (level === 'error' || level === 'warning')
    process.stderr.write(`[graphile-worker] ${message}\n`);
});

const pgPool = new pg.Pool({ connectionString, max: PEER_PRESET.maxPoolSize });
const onPgError = (err: Error) => process.stderr.write(`[graphile-worker] pg: ${err.message}\n`);
pgPool.on('error', onPgError);
pgPool.on('connect', (client) => client.on('error', onPgError));
const runner = await run({
  pgPool,
  logger,
  noHandleSignals: true,
  taskList: { deliver },
  preset: { worker: { ...PEER_PRESET } },
});
const utils = await makeWorkerUtils({ pgPool, logger });

async function enqueue(events: number) {
  const tag = `${process.pid}_${Date.now()}`;
  let next = 0;
  const caller = async () => {
    for (;;) {
      const start = next;
      if (start >= events) return;
      const n = Math.min(100, events - start);
      next += n;
      const jobs = [];
      for (let k = start; k < start + n; k++) {
        const eventId = `evt_peer_${tag}_${k}`;
        const body = eventBody(eventId, k);
        for (let endpoint = 0; endpoint < urls.length; endpoint++) {
          const payload: DeliverPayload = {
            endpoint,
            eventId,
            deliveryId: `dlv_peer_${tag}_${k}_${endpoint}`,
            body,
          };
          jobs.push({ identifier: 'deliver', payload });
        }
      }
      await utils.addJobs(jobs);
    }
  };
  await Promise.all(Array.from({ length: 4 }, caller));
}

process.on('message', (msg: { type: string; events?: number }) => {
  if (msg.type === 'enqueue') {
    enqueue(msg.events!).then(
      () => process.send?.({ type: 'enqueued' }),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  } else if (msg.type === 'cpu') {
    const cpu = process.cpuUsage();
    process.send?.({ type: 'cpu', us: cpu.user + cpu.system });
  } else if (msg.type === 'stop') {
    void (async () => {
      await runner.stop();
      await utils.release();
      await pgPool.end();
      await agent.close();
      process.send?.({ type: 'stopped' });
      process.exit(0);
    })();
  }
});
process.on('disconnect', () => process.exit(0));
process.send?.({ type: 'ready' });
