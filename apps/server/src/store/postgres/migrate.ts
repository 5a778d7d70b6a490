import type pg from 'pg';
import { type Migration, migrations } from './migrations.js';
import { transaction } from './pool.js';

/** The client-side bound on one migration statement (the server-side one is lifted). */
const MIGRATE_TIMEOUT_MS = 60 * 60 * 1000;

/** Advisory lock namespace of the store (`pg_advisory_xact_lock(int, int)`): "AF". */
export const LOCK_NAMESPACE = 0x4146;

/**
 * Applies the migrations not applied yet, in one transaction under a transaction-level advisory
 * lock keyed by the schema: ten processes starting at once queue on the lock, the first one
 * migrates, the others find nothing left to do. Either every pending migration is applied or
 * none is.
 */
export async function migrate(
  pool: pg.Pool,
  schema: string,
  list: readonly Migration[] = migrations,
): Promise<number[]> {
  return transaction(pool, async (client) => {
    // A migration of a large table, or waiting on the lock while another process runs one, may
    // take longer than the store's usual statement timeouts: lift them for this transaction.
    // (`query_timeout` per query is supported by node-postgres but missing from its types.)
    const long = (text: string, values?: unknown[]) =>
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
    const applied = new Set(rows.map((r) => r.version));
    const done: number[] = [];
    for (const m of [...list].sort((a, b) => a.version - b.version)) {
      if (applied.has(m.version)) continue;
      await client.query(`set local search_path = ${schema}`);
      await long(m.sql);
      await client.query(
        `insert into ${schema}.schema_migrations (version, name) values ($1, $2)`,
        [m.version, m.name],
      );
      done.push(m.version);
    }
    return done;
  });
}
