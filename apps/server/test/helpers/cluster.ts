/**
 * Real service processes on one PostgreSQL database, for the scale tests: each test file gets a
 * fresh database (dropped at the end), and `start(role)` spawns `src/cli.ts serve` as its own
 * Node process (`runCli`) on a free loopback port with the shared keys and a compressed retry
 * schedule, and waits until it answers `/readyz`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventSamples } from '@agentfactory/webhooks';
import pg from 'pg';
import { type CliProcess, freePort, runCli } from './cli-process.js';

export const ADMIN_KEY = 'admin-key-for-scale-tests';
export const ENCRYPTION_KEY = Buffer.alloc(32, 7).toString('base64');

export type Role = 'api' | 'worker' | 'all';

export interface ServiceProcess {
  role: Role;
  url: string;
  pid: number;
  cli: CliProcess;
  alive(): boolean;
  /** Logs and banner, for a failure message. */
  output(): string;
}

export interface Cluster {
  /** `postgres://…/<fresh database>`. */
  databaseUrl: string;
  /** Spawns one process; `databaseUrl` may point elsewhere (e.g. a proxy). */
  start(role: Role, env?: Record<string, string>): Promise<ServiceProcess>;
  /** Spawns several at once and waits for all. */
  startMany(specs: { role: Role; env?: Record<string, string> }[]): Promise<ServiceProcess[]>;
  sql<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    values?: unknown[],
  ): Promise<R[]>;
  /** SIGKILLs whatever still runs, drops the database. */
  close(): Promise<void>;
}

/** The settings every process shares; a test adds its own. */
export function baseEnv(databaseUrl: string): Record<string, string> {
  return {
    DATABASE_URL: databaseUrl,
    HOST: '127.0.0.1',
    AF_ADMIN_KEY: ADMIN_KEY,
    AF_ENCRYPTION_KEY: ENCRYPTION_KEY,
    AF_LOG_LEVEL: 'warn',
    // The receivers run on loopback; on PostgreSQL private networks are refused by default.
    AF_ALLOW_PRIVATE_NETWORKS: 'true',
    AF_DELIVERY_TIMEOUT: '5s',
    AF_RETRY_BASE_DELAY: '200ms',
    AF_RETRY_FACTOR: '2',
    AF_RETRY_WINDOW: '2m',
    AF_RETRY_JITTER: '0',
    // Each start would deliver 10,000 warm-up deliveries first: seconds per process.
    AF_WARM_UP_DELIVERIES: '0',
  };
}

async function runSql<R extends pg.QueryResultRow>(
  url: string,
  text: string,
  values?: unknown[],
): Promise<R[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  client.on('error', () => {});
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end().catch(() => {});
  }
}

/** A fresh database next to the one at `adminUrl` (the test user may create databases). */
export async function createCluster(adminUrl: string): Promise<Cluster> {
  const name = `af_scale_${process.pid}_${randomBytes(4).toString('hex')}`;
  await runSql(adminUrl, `create database ${name}`);
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  const databaseUrl = u.toString();
  const dataDir = mkdtempSync(join(tmpdir(), 'af-scale-'));
  const procs: ServiceProcess[] = [];

  const start = async (role: Role, env: Record<string, string> = {}) => {
    const port = await freePort();
    const cli = runCli(['serve'], {
      ...baseEnv(databaseUrl),
      AF_DATA_DIR: join(dataDir, `${role}-${port}`),
      AF_ROLE: role,
      PORT: String(port),
      ...env,
    });
    const p: ServiceProcess = {
      role,
      url: `http://127.0.0.1:${port}`,
      pid: cli.child.pid!,
      cli,
      alive: () => cli.child.exitCode === null && cli.child.signalCode === null,
      output: () => `${cli.stdout()}\n${cli.stderr()}`.slice(-4000),
    };
    procs.push(p);
    await cli.waitForOutput(/is running at/, 60_000);
    const end = Date.now() + 30_000;
    for (;;) {
      const ok = await fetch(`${p.url}/readyz`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) break;
      if (Date.now() > end) throw new Error(`${role} not ready: ${p.output()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return p;
  };

  return {
    databaseUrl,
    start,
    startMany: (specs) => Promise.all(specs.map((s) => start(s.role, s.env))),
    sql: (text, values) => runSql(databaseUrl, text, values),
    async close() {
      for (const p of procs) if (p.alive()) p.cli.child.kill('SIGKILL');
      await Promise.all(procs.map((p) => p.cli.exited));
      rmSync(dataDir, { recursive: true, force: true });
      await runSql(adminUrl, `drop database if exists ${name} with (force)`);
    },
  };
}

/** JSON over HTTP with a key; answers status, body and the headers. */
export async function call(
  base: string,
  key: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
  // biome-ignore lint/suspicious/noExplicitAny: test code reads whatever JSON the API answered.
): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {}
  return { status: res.status, body: parsed, headers: res.headers };
}

/** A new account (admin key) and its API key. */
export async function createAccountKey(api: string): Promise<string> {
  const r = await call(api, ADMIN_KEY, 'POST', '/v1/accounts', { name: 'scale' });
  if (r.status !== 201) throw new Error(`accounts: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.api_key as string;
}

/** Webhooks for `urls`, subscribed to `events`; answers their ids. */
export async function createWebhooks(
  api: string,
  key: string,
  urls: string[],
  events: string[],
): Promise<string[]> {
  const ids: string[] = [];
  for (const url of urls) {
    const r = await call(api, key, 'POST', '/v1/webhooks', { name: 'scale', url, events });
    if (r.status !== 201) throw new Error(`webhooks: ${r.status} ${JSON.stringify(r.body)}`);
    ids.push(r.body.id);
  }
  return ids;
}

/** `n` catalog events of one type, for `/v1/events/batch`. */
export function batchOf(event: keyof typeof eventSamples, n: number) {
  return {
    events: Array.from({ length: n }, () => ({ event, data: eventSamples[event] })),
  };
}
