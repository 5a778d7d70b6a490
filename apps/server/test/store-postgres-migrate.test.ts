import { expect, it } from 'vitest';
import { newId } from '../src/ids.js';
import { createPostgresStore } from '../src/store/postgres/index.js';
import { migrate } from '../src/store/postgres/migrate.js';
import { loadFunctions, loadMigrations } from '../src/store/postgres/migrations.js';
import { createPool } from '../src/store/postgres/pool.js';
import type { ClaimedDelivery, ClaimOptions } from '../src/store/types.js';
import { migrations as releasedV5 } from './fixtures/postgres-migrations-v5.js';
import { describePostgres } from './helpers/postgres.js';
import { webhookRow } from './helpers/rows.js';

const T0 = Date.UTC(2024, 0, 15, 10, 30);
const MIN = 60_000;

/** The store's functions, each once; the five claims return the claimed-delivery type. */
const FUNCTIONS = [
  'af_account_room',
  'af_claim_due',
  'af_claim_locked',
  'af_complete_and_claim',
  'af_complete_and_refill',
  'af_complete_attempts',
  'af_next_due',
  'af_record_health',
  'af_refill',
  'af_webhook_cap',
];
/** The functions the released code (`releasedV5`) created; `af_next_due` and `af_record_health` came after. */
const RELEASED_FUNCTIONS = FUNCTIONS.filter((f) => f !== 'af_record_health' && f !== 'af_next_due');
const CLAIMS = [
  'af_claim_due',
  'af_claim_locked',
  'af_complete_and_claim',
  'af_complete_and_refill',
  'af_refill',
];

await describePostgres('postgres migrations', ({ url, freshSchema, sql }) => {
  const migrations = loadMigrations();
  const versions = migrations.map((m) => m.version);

  /** The store's functions in `schema`: name, result, and oid (which changes when re-created). */
  const functionsOf = (schema: string) =>
    sql<{ name: string; result: string; oid: number }>(
      `select p.proname as name, pg_get_function_result(p.oid) as result, p.oid::int as oid
       from pg_proc p join pg_namespace n on n.oid = p.pronamespace
       where n.nspname = $1 order by 1, 3`,
      [schema],
    );

  /** What a schema holds, with its name taken out so two schemas compare. */
  const catalog = async (schema: string) => {
    const strip = (s: string) => s.replaceAll(`${schema}.`, '');
    const columns = await sql(
      `select table_name, column_name, data_type, is_nullable, column_default
       from information_schema.columns where table_schema = $1 and table_name <> 'schema_functions'
       order by table_name, ordinal_position`,
      [schema],
    );
    const indexes = await sql<{ def: string }>(
      'select indexdef as def from pg_indexes where schemaname = $1 order by indexname',
      [schema],
    );
    const functions = await sql<{ def: string }>(
      `select pg_get_functiondef(p.oid) as def
       from pg_proc p join pg_namespace n on n.oid = p.pronamespace
       where n.nspname = $1 order by p.proname`,
      [schema],
    );
    const type = await sql<{ attname: string; type: string }>(
      `select a.attname, format_type(a.atttypid, a.atttypmod) as type
       from pg_attribute a join pg_type t on t.typrelid = a.attrelid
       join pg_namespace n on n.oid = t.typnamespace
       where n.nspname = $1 and t.typname = 'af_claimed_delivery' and a.attnum > 0
       order by a.attnum`,
      [schema],
    );
    const applied = await sql(`select version, name from ${schema}.schema_migrations order by 1`);
    return {
      columns,
      indexes: indexes.map((r) => strip(r.def)),
      functions: functions.map((r) => strip(r.def)),
      type: type.map((r) => `${r.attname} ${strip(r.type)}`),
      applied,
    };
  };

  const claimOptions = (over: Partial<ClaimOptions> = {}): ClaimOptions => ({
    now: T0,
    limit: 10,
    owner: 'w1',
    leaseMs: 30_000,
    webhookLeases: 10,
    ...over,
  });

  it('five pools migrating one fresh schema at once: all succeed, each migration applied once', async () => {
    const schema = freshSchema();
    const pools = Array.from({ length: 5 }, () => createPool({ url, schema, poolSize: 1 }));
    try {
      const applied = await Promise.all(pools.map((p) => migrate(p, schema)));
      // Exactly one process applied every migration; the other four found nothing to do.
      expect(applied.flat().sort((a, b) => a - b)).toEqual(versions);
      expect(applied.filter((a) => a.length > 0)).toHaveLength(1);
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
    const rows = await sql<{ version: number }>(
      `select version from ${schema}.schema_migrations order by version`,
    );
    expect(rows.map((r) => r.version)).toEqual(versions);
    // And the functions, one of each name, installed once.
    expect((await functionsOf(schema)).map((f) => f.name)).toEqual(FUNCTIONS);
    expect(await sql(`select sha256 from ${schema}.schema_functions`)).toEqual([
      { sha256: loadFunctions().sha256 },
    ]);
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
      expect(await migrate(pool, schema)).toEqual(versions);
    } finally {
      await pool.end();
    }
  });

  it('the migrations keep the versions and names the released ones recorded', () => {
    expect(migrations.slice(0, releasedV5.length).map((m) => [m.version, m.name])).toEqual(
      releasedV5.map((m) => [m.version, m.name]),
    );
    // Added since that release.
    expect(migrations.slice(releasedV5.length).map((m) => [m.version, m.name])).toEqual([
      [6, 'listen secret'],
      [7, 'listen sessions'],
      [8, 'rate limits'],
      [9, 'api key scopes and audit log'],
      [10, 'webhook health and retention'],
      [11, 'fewer delivery indexes'],
      [12, 'no foreign keys on the delivery path'],
      [13, 'leases of their own'],
    ]);
  });

  it('a database migrated by the released code migrates on, its data untouched', async () => {
    const schema = freshSchema();
    const pool = createPool({ url, schema, poolSize: 1 });
    const store = createPostgresStore({ url, schema, poolSize: 2 });
    try {
      // The database as the release before the .sql files left it, functions and all.
      expect(await migrate(pool, schema, releasedV5, null)).toEqual(
        releasedV5.map((m) => m.version),
      );
      const before = await functionsOf(schema);
      expect(before.map((f) => f.name)).toEqual(RELEASED_FUNCTIONS);
      expect(before.find((f) => f.name === 'af_claim_due')!.result).toMatch(/^TABLE\(claimed /);

      // Written by the store (without its migrate) on the released functions.
      const acct = newId('acct');
      await store.createAccount({ id: acct, name: 'old', createdAt: T0 });
      const hook = webhookRow({
        accountId: acct,
        url: 'https://example.test/old',
        secretEnc: 'enc-secret',
        createdAt: T0,
      });
      await store.createWebhook(hook);
      const events = ['agent.created', 'agent.updated'].map((event, i) => {
        const id = newId('evt');
        return { id, event, timestamp: T0 + i, body: JSON.stringify({ id, event, data: {} }) };
      });
      // The events and their deliveries as the released insertEvents wrote them: today's sets
      // `deliveries.listen`, a column of a later migration.
      for (const e of events) {
        await sql(
          `insert into ${schema}.events (id, account_id, event, timestamp, body, deliveries)
           values ($1, $2, $3, $4, $5, 1)`,
          [e.id, acct, e.event, e.timestamp, e.body],
        );
        await sql(
          `insert into ${schema}.deliveries (id, account_id, event_id, event, webhook_id, status,
             next_attempt_at, created_at, updated_at)
           values ($1, $2, $3, $4, $5, 'pending', $6, $6, $6)`,
          [newId('dlv'), acct, e.id, e.event, hook.id, T0],
        );
      }
      // The first delivery: claimed, failed once, due again a minute later.
      const [first] = await store.claimDue(claimOptions({ limit: 1, owner: 'old-worker' }));
      expect(first?.body).toBe(events[0]!.body);
      await store.completeAttempts([failedOnce(first!)]);

      // A key as the released createApiKey wrote it, before keys had scopes.
      const keyId = newId('key');
      await sql(
        `insert into ${schema}.api_keys (id, account_id, key_hash, prefix, created_at)
         values ($1, $2, $3, 'afk_old', $4)`,
        [keyId, acct, 'f'.repeat(64), T0],
      );

      // Today's migrate: the migrations since that release applied, the functions replaced.
      await store.migrate();
      // Keys made before scopes existed can do everything, as they could.
      expect(await store.findApiKeyByHash('f'.repeat(64))).toEqual({
        id: keyId,
        accountId: acct,
        keyHash: 'f'.repeat(64),
        prefix: 'afk_old',
        name: 'default',
        scopes: ['full'],
        createdAt: T0,
        expiresAt: null,
        lastUsedAt: null,
        revokedAt: null,
      });
      const after = await functionsOf(schema);
      expect(after.map((f) => f.name)).toEqual(FUNCTIONS);
      for (const f of after.filter((f) => CLAIMS.includes(f.name))) {
        expect(f.result, f.name).toBe(`SETOF ${schema}.af_claimed_delivery`);
      }
      const applied = await sql(`select version, name from ${schema}.schema_migrations`);
      expect(applied).toHaveLength(versions.length);

      // The data, as it was.
      expect(await store.getAccount(acct)).toEqual({ id: acct, name: 'old', createdAt: T0 });
      expect((await store.getWebhook(acct, hook.id))?.url).toBe('https://example.test/old');
      const event = await store.getEvent(acct, events[1]!.id);
      expect(event?.body).toBe(events[1]!.body);
      const delivery = await store.getDelivery(acct, first!.id);
      expect(delivery?.status).toBe('pending');
      expect(delivery?.attempts.map((a) => [a.number, a.statusCode, a.responseBody])).toEqual([
        [1, 500, 'down'],
      ]);

      // The new functions claim both pending deliveries, the retried one with its count.
      const claimed = await store.claimDue(claimOptions({ now: T0 + MIN, owner: 'new-worker' }));
      expect(claimed.map((c) => [c.eventId, c.attemptCount, c.webhook?.url])).toEqual([
        [events[1]!.id, 0, 'https://example.test/old'],
        [events[0]!.id, 1, 'https://example.test/old'],
      ]);

      // A second migrate does nothing: no migration, the functions not re-created.
      const installed = await sql(`select * from ${schema}.schema_functions`);
      expect(await migrate(pool, schema)).toEqual([]);
      expect(await functionsOf(schema)).toEqual(after);
      expect(await sql(`select * from ${schema}.schema_functions`)).toEqual(installed);
    } finally {
      await Promise.all([pool.end(), store.close()]);
    }
  });

  it('leases held on delivery rows before migration 13 move to delivery_leases, still held', async () => {
    const schema = freshSchema();
    const pool = createPool({ url, schema, poolSize: 1 });
    const store = createPostgresStore({ url, schema, poolSize: 2 });
    try {
      await migrate(
        pool,
        schema,
        migrations.filter((m) => m.version < 13),
        null,
      );
      const acct = newId('acct');
      await store.createAccount({ id: acct, name: 'old', createdAt: T0 });
      const hook = webhookRow({
        accountId: acct,
        url: 'https://example.test/held',
        secretEnc: 'enc-secret',
        createdAt: T0,
      });
      await store.createWebhook(hook);
      // Two deliveries as the release before leased them: on their own rows, one lease live
      // until a minute after T0, one expired.
      const ids: string[] = [];
      for (const until of [T0 + MIN, T0 - 1]) {
        const event = newId('evt');
        const id = newId('dlv');
        ids.push(id);
        await sql(
          `insert into ${schema}.events (id, account_id, event, timestamp, body, deliveries)
           values ($1, $2, 'agent.created', $3, '{}', 1)`,
          [event, acct, T0],
        );
        await sql(
          `insert into ${schema}.deliveries (id, account_id, event_id, event, webhook_id, status,
             next_attempt_at, created_at, updated_at, lease_owner, lease_until)
           values ($1, $2, $3, 'agent.created', $4, 'pending', $5, $5, $5, 'old-worker', $6)`,
          [id, acct, event, hook.id, T0, until],
        );
      }

      await store.migrate();
      expect(
        await sql(`select delivery_id, webhook_id, owner, until from ${schema}.delivery_leases
                   order by until desc`),
      ).toEqual([
        { delivery_id: ids[0], webhook_id: hook.id, owner: 'old-worker', until: String(T0 + MIN) },
        { delivery_id: ids[1], webhook_id: hook.id, owner: 'old-worker', until: String(T0 - 1) },
      ]);
      expect(
        await sql(
          `select count(*)::int as n from ${schema}.deliveries where lease_owner is not null`,
        ),
      ).toEqual([{ n: 0 }]);
      expect((await store.getDelivery(acct, ids[0]!))?.inFlight).toBe(true);
      // The old worker still holds the webhook: nothing for another until its lease ends.
      expect(await store.claimDue(claimOptions({ now: T0 + 1, owner: 'new-worker' }))).toEqual([]);
      const claimed = await store.claimDue(claimOptions({ now: T0 + MIN, owner: 'new-worker' }));
      expect(claimed.map((c) => c.id).sort()).toEqual([...ids].sort());
    } finally {
      await Promise.all([pool.end(), store.close()]);
    }
  });

  it('a fresh database and one migrated by the released code end up the same', async () => {
    const fresh = freshSchema();
    const upgraded = freshSchema();
    const pools = [fresh, upgraded].map((schema) => createPool({ url, schema, poolSize: 1 }));
    try {
      await migrate(pools[0]!, fresh);
      await migrate(pools[1]!, upgraded, releasedV5, null);
      await migrate(pools[1]!, upgraded);
      const [a, b] = [await catalog(fresh), await catalog(upgraded)];
      expect(a.functions).toHaveLength(FUNCTIONS.length);
      expect(a.type.length).toBeGreaterThan(0);
      expect(b).toEqual(a);
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
  });

  it('a database stopped at an earlier migration keeps one function of each name', async () => {
    // Migration 3 created the claims without `p_fair`: a different signature, not replaced by
    // `create function`, so the install drops it by the name it finds.
    const schema = freshSchema();
    const pool = createPool({ url, schema, poolSize: 1 });
    try {
      await migrate(pool, schema, releasedV5.slice(0, 3), null);
      expect(await migrate(pool, schema)).toEqual([4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
      expect((await functionsOf(schema)).map((f) => f.name)).toEqual(FUNCTIONS);
    } finally {
      await pool.end();
    }
  });

  it('functions whose text changed are installed again, those gone from the files dropped', async () => {
    const schema = freshSchema();
    const pool = createPool({ url, schema, poolSize: 1 });
    try {
      await migrate(pool, schema);
      const first = await functionsOf(schema);
      const fns = loadFunctions();
      // A function the next release no longer has, recorded as installed by this one.
      const extra = 'create function af_gone() returns int language sql as $$ select 1 $$;';
      await migrate(pool, schema, migrations, {
        ...fns,
        sql: `${fns.sql}\n${extra}`,
        sha256: 'changed',
        functions: [...fns.functions, 'af_gone'],
      });
      const second = await functionsOf(schema);
      expect(second.map((f) => f.name)).toEqual([...FUNCTIONS, 'af_gone'].sort());
      expect(second.map((f) => f.oid)).not.toContain(first[0]!.oid);
      // The files again: reinstalled, af_gone dropped with the rest.
      await migrate(pool, schema);
      expect((await functionsOf(schema)).map((f) => f.name)).toEqual(FUNCTIONS);
    } finally {
      await pool.end();
    }
  });
});

function failedOnce(c: ClaimedDelivery) {
  return {
    deliveryId: c.id,
    accountId: c.accountId,
    webhookId: c.webhook!.id,
    status: 'pending' as const,
    nextAttemptAt: T0 + MIN,
    owner: 'old-worker',
    now: T0 + 100,
    attempt: {
      id: newId('att'),
      deliveryId: c.id,
      number: 1,
      startedAt: T0,
      durationMs: 42,
      statusCode: 500,
      error: null,
      requestHeaders: {},
      responseHeaders: {},
      responseBody: 'down',
      responseBodyEncoding: 'utf8' as const,
      trigger: c.trigger,
      succeeded: false,
    },
  };
}
