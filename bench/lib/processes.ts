/** Child processes of a benchmark run: receivers and service processes, each in its own process. */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
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
  /** The receiver process's CPU time since it started (user + system), in microseconds. */
  cpuUs: number;
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

/** One receiver process serving one or more endpoints (ports), counted together. */
export interface ReceiverProcess {
  ports: number[];
  urls: string[];
  pid: number;
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

/** A receiver process (`bench/receiver.ts`) with `ports` endpoints. */
export async function startReceiverProcess(
  ports = 1,
  mode: 'ok' | 'blackhole' | 'fail-first' = 'ok',
): Promise<ReceiverProcess> {
  const child = fork(
    fileURLToPath(new URL('../receiver.ts', import.meta.url)),
    [mode, String(ports)],
    {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    },
  );
  const listening = await new Promise<number[]>((resolve, reject) => {
    child.once('message', (msg: { type: string; ports: number[] }) => resolve(msg.ports));
    child.once('exit', (code) => reject(new Error(`receiver exited with ${code}`)));
  });
  return {
    ports: listening,
    urls: listening.map((port) => `http://127.0.0.1:${port}/webhook`),
    pid: child.pid!,
    stats: () => request<ReceiverStats>(child, 'stats'),
    reset: async () => {
      await request(child, 'reset');
    },
    stop: () => child.kill('SIGKILL'),
  };
}

/** One endpoint in its own receiver process. */
export async function startReceiver(
  mode: 'ok' | 'blackhole' | 'fail-first' = 'ok',
): Promise<Receiver> {
  const p = await startReceiverProcess(1, mode);
  return { port: p.ports[0]!, url: p.urls[0]!, stats: p.stats, reset: p.reset, stop: p.stop };
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

/**
 * Reads a process's peak resident set size (VmHWM) in bytes; after the process has exited it
 * answers the last reading, so read it once before stopping the process.
 */
export function peakRssOf(pid: number): () => number {
  let lastPeak = 0;
  return () => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) lastPeak = Number(m[1]) * 1024;
    } catch {
      // exited: keep the last reading
    }
    return lastPeak;
  };
}

export interface ServiceProcess {
  url: string;
  pid: number;
  /** From spawning the process to its first `/readyz` 200 (polled every `READY_POLL_MS`), ms. */
  readyMs: number;
  /** Peak resident set size so far (VmHWM), in bytes. */
  peakRss(): number;
  /** CPU time used so far (user + system, all threads), in seconds. */
  cpuSeconds(): number;
  /** CPU time used so far on the main thread alone, in seconds. */
  mainThreadCpuSeconds(): number;
  stop(): Promise<void>;
}

/** Clock ticks per second of /proc/<pid>/stat (`getconf CLK_TCK`: 100 on Linux). */
const CLK_TCK = 100;

/**
 * A /proc `stat` file: the command name, and the fields after it (`fields[1]` the parent's pid,
 * `[11]`/`[12]` user/system ticks, `[13]`/`[14]` those of its exited children). Undefined once
 * the process is gone.
 */
function readStat(path: string): { comm: string; fields: string[] } | undefined {
  try {
    const stat = readFileSync(path, 'utf8');
    // The command name is in parentheses and may hold spaces.
    const close = stat.lastIndexOf(')');
    return {
      comm: stat.slice(stat.indexOf('(') + 1, close),
      fields: stat.slice(close + 2).split(' '),
    };
  } catch {
    return undefined;
  }
}

/** User + system ticks of a `stat` file's fields. */
const ownTicks = (fields: string[]) => Number(fields[11]) + Number(fields[12]);

/** User + system CPU seconds of a /proc `stat` file, or undefined once the process is gone. */
function statCpuSeconds(path: string): number | undefined {
  const stat = readStat(path);
  return stat && ownTicks(stat.fields) / CLK_TCK;
}

/** A process's user + system CPU seconds from /proc (all its threads), or undefined once gone. */
export function processCpuSeconds(pid: number): number | undefined {
  return statCpuSeconds(`/proc/${pid}/stat`);
}

/**
 * The CPU seconds the local PostgreSQL server has used so far, every process of it (backends,
 * autovacuum, the WAL writer, the checkpointer): the live ones' own, and the postmaster's
 * children that have exited (its `cutime` and `cstime`), so a backend that ends during a run is
 * still counted. Undefined when no `postgres` process is visible (a database on another host).
 * The server serves whatever else runs on it too: read it around a window where the benchmark's
 * database is the only busy one.
 */
export function databaseCpuSeconds(): number | undefined {
  const server = new Map<number, string[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(`/proc/${entry}/stat`);
    if (stat?.comm === 'postgres') server.set(Number(entry), stat.fields);
  }
  if (server.size === 0) return undefined;
  let ticks = 0;
  for (const fields of server.values()) {
    ticks += ownTicks(fields);
    // The postmaster (its parent is not a postgres process): its exited children's CPU.
    if (!server.has(Number(fields[1]))) ticks += Number(fields[13]) + Number(fields[14]);
  }
  return ticks / CLK_TCK;
}

/**
 * A process's CPU seconds on its main thread (the event loop: HTTP, the engine, undici) apart
 * from its other threads (the SQLite store's thread, V8's GC and compiler helpers, libuv's pool).
 */
export function mainThreadCpuSeconds(pid: number): number | undefined {
  return statCpuSeconds(`/proc/${pid}/task/${pid}/stat`);
}

/** Starts `agentfactory-webhooks serve` from the build, with the given environment. */

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
  const peakRss = peakRssOf(pid);
  let lastCpu = 0;
  const cpuSeconds = () => {
    lastCpu = processCpuSeconds(pid) ?? lastCpu;
    return lastCpu;
  };
  let lastMain = 0;
  const mainCpu = () => {
    lastMain = mainThreadCpuSeconds(pid) ?? lastMain;
    return lastMain;
  };
  return {
    url,
    pid,
    readyMs,
    peakRss,
    cpuSeconds,
    mainThreadCpuSeconds: mainCpu,
    stop: async () => {
      peakRss();
      cpuSeconds();
      mainCpu();
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
