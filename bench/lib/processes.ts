/** Child processes of a benchmark run: receivers and service processes, each in its own process. */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

export interface ReceiverStats {
  received: number;
  duplicates: number;
  maxInFlight: number;
  firstAt: number;
  lastAt: number;
  latencies: number[];
  /** When the event of each of `latencies` was sent, in the same order (wall-clock ms). */
  sentAt: number[];
}

export interface Receiver {
  port: number;
  url: string;
  stats(): Promise<ReceiverStats>;
  reset(): Promise<void>;
  stop(): void;
}

function request<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve) => {
    const onMessage = (msg: { type: string }) => {
      if (msg.type !== type) return;
      child.off('message', onMessage);
      resolve(msg as T);
    };
    child.on('message', onMessage);
    child.send({ type });
  });
}

export async function startReceiver(
  mode: 'ok' | 'blackhole' | 'fail-first' = 'ok',
): Promise<Receiver> {
  const child = fork(fileURLToPath(new URL('../receiver.ts', import.meta.url)), [mode], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (msg: { type: string; port: number }) => resolve(msg.port));
    child.once('exit', (code) => reject(new Error(`receiver exited with ${code}`)));
  });
  return {
    port,
    url: `http://127.0.0.1:${port}/webhook`,
    stats: () => request<ReceiverStats>(child, 'stats'),
    reset: async () => {
      await request(child, 'reset');
    },
    stop: () => child.kill('SIGKILL'),
  };
}

export interface BlackHoleStats {
  /** Connections accepted since the start or the last reset. */
  accepted: number;
  /** Sockets open now. */
  open: number;
  /** Connections that sent at least one byte (one request each: nothing is ever answered). */
  requests: number;
  maxOpen: number;
}

export interface BlackHoles {
  urls: string[];
  stats(): Promise<BlackHoleStats>;
  reset(): Promise<void>;
  stop(): void;
}

/** `n` never-answering endpoints on loopback, each on its own port, in one process (`bench/blackholes.ts`). */
export async function startBlackHoles(n: number): Promise<BlackHoles> {
  const child = fork(fileURLToPath(new URL('../blackholes.ts', import.meta.url)), [String(n)], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ports = await new Promise<number[]>((resolve, reject) => {
    child.once('message', (msg: { type: string; ports: number[] }) => resolve(msg.ports));
    child.once('exit', (code) => reject(new Error(`black holes exited with ${code}`)));
  });
  return {
    urls: ports.map((port) => `http://127.0.0.1:${port}/webhook`),
    stats: () => request<BlackHoleStats & { type: string }>(child, 'stats'),
    reset: async () => {
      await request(child, 'reset');
    },
    stop: () => child.kill('SIGKILL'),
  };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export interface ServiceProcess {
  url: string;
  pid: number;
  /** From spawning the process to its first `/readyz` 200 (polled every `READY_POLL_MS`), ms. */
  readyMs: number;
  /** Peak resident set size so far (VmHWM), in bytes. */
  peakRss(): number;
  stop(): Promise<void>;
}

/** How often a starting service's `/readyz` is asked: the resolution of `readyMs`. */
const READY_POLL_MS = 20;

/**
 * Starts `agentfactory-webhooks serve` from the build, with the given environment, and resolves
 * at its first `/readyz` 200 (the service answers 503 until it has warmed up).
 */
export async function startService(
  env: Record<string, string>,
  nodeArgs: string[] = [],
): Promise<ServiceProcess> {
  const port = await freePort();
  const spawnedAt = performance.now();
  const child = spawn(
    process.execPath,
    [...nodeArgs, `${repoRoot}/apps/server/dist/cli.js`, 'serve'],
    {
      cwd: repoRoot,
      env: { ...process.env, AF_LOG_LEVEL: 'warn', ...env, PORT: String(port), HOST: '127.0.0.1' },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`service exited with ${child.exitCode}`);
    try {
      const res = await fetch(`${url}/readyz`);
      await res.body?.cancel();
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error('service did not become ready within 30 s');
    await new Promise((r) => setTimeout(r, READY_POLL_MS));
  }
  const readyMs = performance.now() - spawnedAt;
  const pid = child.pid!;
  let lastPeak = 0;
  const peakRss = () => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) lastPeak = Number(m[1]) * 1024;
    } catch {
      // exited: keep the last reading
    }
    return lastPeak;
  };
  return {
    url,
    pid,
    readyMs,
    peakRss,
    stop: async () => {
      peakRss();
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
