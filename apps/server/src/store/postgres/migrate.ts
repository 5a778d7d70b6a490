import type pg from 'pg';
import { type FunctionSet, loadFunctions, loadMigrations, type Migration } from './migrations.js';
import { transaction } from './pool.js';

/** The client-side bound on one migration statement (the server-side one is lifted). */
const MIGRATE_TIMEOUT_MS = 60 * 60 * 1000;

/** Advisory lock namespace of the store (`pg_advisory_xact_lock(int, int)`): "AF". */
export const LOCK_NAMESPACE = 0x4146;

type Long = (text: string, values?: unknown[]) => Promise<pg.QueryResult>;

/**
 * Applies the migrations not applied yet, then installs the functions if their text changed, in
 * one transaction under a transaction-level advisory lock keyed by the schema: ten processes
 * starting at once queue on the lock, the first one migrates, the others find nothing left to
 * do. Either all of it is applied or none. Returns the versions applied.
 *
 * `functions: null` leaves the functions alone (tests building a database as an older release
 * left it, whose migrations created them).
 */
export async function migrate(
  pool: pg.Pool,
  schema: string,
  list: readonly Migration[] = loadMigrations(),
  functions: FunctionSet | null = loadFunctions(),
): Promise<number[]> {
  return transaction(pool, async (client) => {
    // A migration of a large table, or waiting on the lock while another process runs one, may
    // take longer than the store's usual statement timeouts: lift them for this transaction.
    // (`query_timeout` per query is supported by node-postgres but missing from its types.)
    const long: Long = (text, values) =>
      client.query({ text, values, query_timeout: MIGRATE_TIMEOUT_MS } as pg.QueryConfig);
    await long('set local statement_timeout = 0');
    await long('select pg_advisory_xact_lock($1, hashtext($2))', [
      LOCK_NAMESPACE,
      `migrate:${schema}`,
    ]);
    await client.query(`create schema if not exists ${schema}`);
    await client.query(
      `create table if not exists ${schema}.schema_migrations (
         version integer primary key,
         name text not null,
         applied_at timestamptz not null default now()
       )`,
    );
    const { rows } = await client.query<{ version: number }>(
      `select version from ${schema}.schema_migrations`,
    );
    // Each migration, and the functions, run with the schema as the only one on the path.
    const inSchema = () => client.query(`set local search_path = ${schema}`);
    const applied = new Set(rows.map((r) => r.version));
    const done: number[] = [];
    for (const m of [...list].sort((a, b) => a.version - b.version)) {
      if (applied.has(m.version)) continue;
      await inSchema();
      await long(m.sql);
      await client.query('insert into schema_migrations (version, name) values ($1, $2)', [
        m.version,
        m.name,
      ]);
      done.push(m.version);
    }
    if (functions) {
      await inSchema();
      await installFunctions(client, long, functions);
    }
    return done;
  });
}

/**
 * Installs the functions unless `schema_functions` records the digest of this very text. The
 * functions are dropped and created again rather than replaced: `create or replace` cannot
 * change a function's result type or arguments, and the old ones would stay beside the new as
 * overloads. Dropped: those this install recorded last time, and any function of a name the
 * script creates (so a database whose functions came from its migrations, before they were
 * installed here, moves on too), each by its exact signature; then the types the script creates.
 * Their signatures and results stay those the store's callers use, so processes of the previous
 * release keep working beside the new ones during a rolling deploy.
 */
async function installFunctions(client: pg.PoolClient, long: Long, fns: FunctionSet) {
  await client.query(
    `create table if not exists schema_functions (
       sha256 text not null,
       functions text[] not null,
       installed_at timestamptz not null default now()
     )`,
  );
  const { rows } = await client.query<{ sha256: string; functions: string[] }>(
    'select sha256, functions from schema_functions',
  );
  if (rows.length === 1 && rows[0]!.sha256 === fns.sha256) return;
  const drop = new Set([
    ...rows.flatMap((r) => r.functions),
    ...(await signatures(client, fns.functions)),
  ]);
  for (const fn of drop) await client.query(`drop function if exists ${fn}`);
  // Newest first: a type may be made of one the script created before it.
  for (const type of [...fns.types].reverse()) {
    await client.query(`drop type if exists ${type}`);
  }
  await long(fns.sql);
  await client.query('delete from schema_functions');
  await client.query('insert into schema_functions (sha256, functions) values ($1, $2)', [
    fns.sha256,
    await signatures(client, fns.functions),
  ]);
}

/** `name(argtype, …)` of every function of these names in the schema on the search path. */
async function signatures(client: pg.PoolClient, names: string[]): Promise<string[]> {
  const { rows } = await client.query<{ signature: string }>(
    `select format('%I(%s)', p.proname, oidvectortypes(p.proargtypes)) as signature
     from pg_proc p
     where p.pronamespace = current_schema()::regnamespace and p.proname = any($1)
     order by 1`,
    [names],
  );
  return rows.map((r) => r.signature);
}
