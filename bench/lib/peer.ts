/**
 * The peer row: graphile-worker (`bench/peer-graphile.ts`) in its own process, on its own
 * PostgreSQL database, doing the service's job: one job per delivery, each a signed POST.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { peakRssOf } from './processes.js';

/**
 * graphile-worker's batching preset, as its performance page gives it (`localQueue.size` 500,
 * `completeJobBatchDelay` 0, `failJobBatchDelay` 0): jobs fetched and locked 500 at a time and
 * served from memory, completions and failures written in batches. Concurrency is the service's
 * order of magnitude for one process (64 jobs at once, against the service's 10 per endpoint ×
 * 10 endpoints); the pool is one more than the concurrency, as that page sets it (with batching
 * few of its connections are ever opened; graphile-worker warns about a smaller one).
 */
export const PEER_PRESET = {
  concurrentJobs: 64,
  maxPoolSize: 65,
  localQueue: { size: 500 },
  completeJobBatchDelay: 0,
  failJobBatchDelay: 0,
};

export const PEER_PRESET_TEXT = `graphile-worker batching preset: localQueue.size ${PEER_PRESET.localQueue.size}, completeJobBatchDelay ${PEER_PRESET.completeJobBatchDelay}, failJobBatchDelay ${PEER_PRESET.failJobBatchDelay}, concurrentJobs ${PEER_PRESET.concurrentJobs}, pool ${PEER_PRESET.maxPoolSize}`;

export interface GraphilePeer {
  pid: number;
  /** Adds `events` × (number of endpoints) jobs; resolves when the last `addJobs` returned. */
  enqueue(events: number): Promise<void>;
  /** The process's CPU time so far (user + system), in seconds. */
  cpuSeconds(): Promise<number>;
  /** Peak resident set size (VmHWM), in bytes. */
  peakRss(): number;
  stop(): Promise<void>;
}

function ask<T>(child: ChildProcess, type: string, reply: string, extra = {}): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (msg: { type: string }) => {
      if (msg.type !== reply) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(msg as T);
    };
    const onExit = (code: number | null) => {
      child.off('message', onMessage);
      reject(new Error(`graphile-worker peer exited with ${code}`));
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
    child.send({ type, ...extra });
  });
}

/** Starts the peer on `databaseUrl` (its schema is installed at start) for the receivers' URLs. */
export async function startGraphilePeer(
  databaseUrl: string,
  urls: string[],
): Promise<GraphilePeer> {
  const child = fork(fileURLToPath(new URL('../peer-graphile.ts', import.meta.url)), [], {
    execArgv: ['--conditions=agentfactory-source', '--import', 'tsx'],
    env: { ...process.env, PEER_DATABASE_URL: databaseUrl, PEER_URLS: urls.join(',') },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`graphile-worker peer exited with ${code}`)));
  });
  const peakRss = peakRssOf(child.pid!);
  return {
    pid: child.pid!,
    enqueue: async (events) => {
      await ask(child, 'enqueue', 'enqueued', { events });
    },
    cpuSeconds: async () => (await ask<{ us: number }>(child, 'cpu', 'cpu')).us / 1e6,
    peakRss,
    stop: async () => {
      peakRss();
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.send({ type: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
