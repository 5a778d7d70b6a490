/** The service layouts a benchmark runs on: SQLite (one process), PostgreSQL (one process, or api + 2 workers). */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { type ServiceProcess, startService } from './processes.js';

export type LayoutName = 'sqlite' | 'pg' | 'pg-split';

export interface RunningLayout {
  url: string;
  adminKey: string;
  processes: ServiceProcess[];
  /** Starts `n` more worker processes (PostgreSQL layouts). */
  addWorkers(n: number): Promise<ServiceProcess[]>;
  dbSizeBytes(): Promise<number>;
  stop(): Promise<void>;
}

let counter = 0;

/** A new database on the PostgreSQL server of `pgUrl`, dropped by `drop()`. */
export async function createScratchDatabase(
  pgUrl: string,
  prefix: string,
): Promise<{ url: string; drop(): Promise<void> }> {
  const dbName = `${prefix}_${process.pid}_${++counter}`;
  const admin = new pg.Client({ connectionString: pgUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  await admin.end();
  const dbUrl = new URL(pgUrl);
  dbUrl.pathname = `/${dbName}`;
  return {
    url: dbUrl.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: pgUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      await c.end();
    },
  };
}

export async function startLayout(
  name: LayoutName,
  pgUrl: string,
  env: Record<string, string> = {},
  options: { workers?: number; nodeArgs?: string[] } = {},
): Promise<RunningLayout> {
  const adminKey = `afk_bench_${randomBytes(16).toString('hex')}`;
  const base: Record<string, string> = {
    AF_ADMIN_KEY: adminKey,
    AF_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    // Receivers listen on loopback. Set explicitly on every layout: without it the service's
    // default decides, and that default is to refuse private networks with DATABASE_URL set.
    AF_ALLOW_PRIVATE_NETWORKS: 'true',
    ...env,
  };
  if (name === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'af-bench-'));
    const proc = await startService({ ...base, AF_DATA_DIR: dir }, options.nodeArgs);
    return {
      url: proc.url,
      adminKey,
      processes: [proc],
      addWorkers: async () => {
        throw new Error('SQLite runs one process');
      },
      dbSizeBytes: async () =>
        readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0),
      stop: async () => {
        await proc.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }

  const db = await createScratchDatabase(pgUrl, 'af_bench');
  const dbUrl = new URL(db.url);
  const pgEnv = {
    ...base,
    DATABASE_URL: dbUrl.toString(),
    AF_DATA_DIR: mkdtempSync(join(tmpdir(), 'af-bench-')),
  };
  const processes: ServiceProcess[] = [];
  const split = name === 'pg-split';
  processes.push(
    await startService({ ...pgEnv, AF_ROLE: split ? 'api' : 'all' }, options.nodeArgs),
  );
  const addWorkers = async (n: number) => {
    const started = await Promise.all(
      Array.from({ length: n }, () =>
        startService({ ...pgEnv, AF_ROLE: 'worker' }, options.nodeArgs),
      ),
    );
    processes.push(...started);
    return started;
  };
  if (split) await addWorkers(options.workers ?? 2);
  return {
    url: processes[0]!.url,
    adminKey,
    processes,
    addWorkers,
    dbSizeBytes: async () => {
      const c = new pg.Client({ connectionString: dbUrl.toString() });
      await c.connect();
      const { rows } = await c.query<{ size: string }>(
        'SELECT pg_database_size(current_database()) AS size',
      );
      await c.end();
      return Number(rows[0]!.size);
    },
    stop: async () => {
      await Promise.all(processes.map((p) => p.stop()));
      await db.drop();
    },
  };
}
