import { expect, it } from 'vitest';
import { createPostgresStore } from '../src/store/postgres/index.js';
import { migrate } from '../src/store/postgres/migrate.js';
import { loadMigrations } from '../src/store/postgres/migrations.js';
import { createPool } from '../src/store/postgres/pool.js';
import { describePostgres } from './helpers/postgres.js';

await describePostgres('postgres migrations', ({ url, freshSchema, sql }) => {
  const migrations = loadMigrations();

  it('five pools migrating one fresh schema at once: all succeed, each migration applied once', async () => {
    const schema = freshSchema();
    const pools = Array.from({ length: 5 }, () => createPool({ url, schema, poolSize: 1 }));
    try {
      const applied = await Promise.all(pools.map((p) => migrate(p, schema)));
      // Exactly one process applied every migration; the other four found nothing to do.
      expect(applied.flat().sort()).toEqual(migrations.map((m) => m.version).sort());
      expect(applied.filter((a) => a.length > 0)).toHaveLength(1);
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
    const rows = await sql<{ version: number }>(
      `select version from ${schema}.schema_migrations order by version`,
    );
    expect(rows.map((r) => r.version)).toEqual(migrations.map((m) => m.version));
  });

  it('five stores calling migrate() at once on a fresh schema all resolve and work', async () => {
    const schema = freshSchema();
    const stores = Array.from({ length: 5 }, () =>
      createPostgresStore({ url, schema, poolSize: 1 }),
    );
    try {
      await Promise.all(stores.map((s) => s.migrate()));
      await Promise.all(stores.map((s) => s.ping()));
      await stores[0]!.createAccount({ id: 'acct_1', name: 'a', createdAt: 0 });
      expect(await stores[4]!.getAccount('acct_1')).toEqual({
        id: 'acct_1',
        name: 'a',
        createdAt: 0,
      });
      // Again, with everything applied: a no-op.
      await Promise.all(stores.map((s) => s.migrate()));
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('a failing migration applies nothing: the whole run rolls back', async () => {
    const schema = freshSchema();
    const pool = createPool({ url, schema, poolSize: 1 });
    try {
      const broken = [...migrations, { version: 9999, name: 'broken', sql: 'select nope' }];
      await expect(migrate(pool, schema, broken)).rejects.toThrow(/nope/);
      const exists = await sql(`select 1 from pg_namespace where nspname = $1`, [schema]);
      expect(exists).toHaveLength(0);
      // The good migrations still apply afterwards.
      expect(await migrate(pool, schema)).toEqual(migrations.map((m) => m.version));
    } finally {
      await pool.end();
    }
  });
});
