/**
 * PostgreSQL for tests: the database at `AF_TEST_DATABASE_URL` (default the machine's local
 * PostgreSQL), a fresh schema per store so suites and tests never see each other's rows, all
 * dropped when the file ends. When PostgreSQL is not reachable the suite is skipped with one
 * line on the console, except under `CI=true`, where it fails: CI must test PostgreSQL.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, it } from 'vitest';

export function postgresTestUrl(): string {
  return process.env.AF_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
}

/** Connects once with a short timeout: is anybody there? */
export async function postgresReachable(url = postgresTestUrl()): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

export interface PostgresTestContext {
  url: string;
  /** A new unique schema name, dropped (with everything in it) when the file's tests end. */
  freshSchema(): string;
  /** Runs SQL as the test user on a short-lived connection (setup, checks). */
  sql<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    values?: unknown[],
  ): Promise<R[]>;
}

/**
 * `describe` for suites that need PostgreSQL. Call it at the top level of a test file with
 * `await`: reachability is checked once, before the tests are collected.
 */
export async function describePostgres(
  name: string,
  fn: (ctx: PostgresTestContext) => void,
): Promise<void> {
  const url = postgresTestUrl();
  const reachable = await postgresReachable(url);
  const where = url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
  if (!reachable && process.env.CI === 'true') {
    describe(name, () => {
      it('needs PostgreSQL', () => {
        throw new Error(`PostgreSQL not reachable at ${where}; CI=true requires it`);
      });
    });
    return;
  }
  if (!reachable) {
    console.log(`PostgreSQL not reachable at ${where}: skipping "${name}"`);
    describe.skip(name, () => fn(context(url)));
    return;
  }
  describe(name, () => fn(context(url)));
}

function context(url: string): PostgresTestContext {
  const schemas: string[] = [];
  const sql = async <R extends pg.QueryResultRow>(text: string, values?: unknown[]) => {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
    client.on('error', () => {});
    await client.connect();
    try {
      return (await client.query<R>(text, values)).rows;
    } finally {
      await client.end().catch(() => {});
    }
  };
  afterAll(async () => {
    if (schemas.length === 0) return;
    await sql(schemas.map((s) => `drop schema if exists ${s} cascade;`).join('\n'));
  });
  return {
    url,
    sql,
    freshSchema() {
      const s = `af_test_${process.pid}_${randomBytes(4).toString('hex')}`;
      schemas.push(s);
      return s;
    },
  };
}
