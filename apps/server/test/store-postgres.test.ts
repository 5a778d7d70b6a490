import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { newId } from '../src/ids.js';
import { createPostgresStore } from '../src/store/postgres/index.js';
import { describePostgres } from './helpers/postgres.js';
import { webhookRow } from './helpers/rows.js';
import { storeContract } from './store-contract.js';
import { healthContract } from './store-contract-health.js';
import { retentionContract } from './store-contract-retention.js';

await describePostgres('postgres store', ({ url, freshSchema, sql }) => {
  // A fresh schema per store: the contract counts pending deliveries across accounts.
  storeContract('postgres', () => createPostgresStore({ url, schema: freshSchema(), poolSize: 4 }));
  const fresh = () => createPostgresStore({ url, schema: freshSchema(), poolSize: 4 });
  healthContract('postgres', fresh);
  retentionContract('postgres', fresh);

  describe('postgres specifics', () => {
    it('refuses a schema name that is not a plain identifier', () => {
      expect(() => createPostgresStore({ url, schema: 'x; drop table y' })).toThrow(/schema/);
      expect(() => createPostgresStore({ url, schema: 'Public' })).toThrow(/schema/);
    });

    it('connects lazily, and close() may be called twice', async () => {
      const store = createPostgresStore({ url, schema: freshSchema() });
      await store.ping();
      await Promise.all([store.close(), store.close()]);
      await store.close();
    });

    it('finds the next due time at the head of the queue, without reading the backlog', async () => {
      // The pump asks after every claim that took less than its limit; behind a burst the whole
      // backlog is due. Counted by PostgreSQL itself (this transaction's reads of deliveries).
      const schema = freshSchema();
      const store = createPostgresStore({ url, schema });
      const client = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
      try {
        await store.migrate();
        const t0 = Date.UTC(2024, 0, 15);
        const account = newId('acct');
        await store.createAccount({ id: account, name: 'A', createdAt: t0 });
        const hook = webhookRow({
          accountId: account,
          name: 'busy',
          url: 'https://example.test/hook',
          secretEnc: 'enc',
          createdAt: t0,
          updatedAt: t0,
        });
        await store.createWebhook(hook);
        // Statistics of the empty table, as a fresh database has them before autovacuum runs.
        await client.connect();
        await client.query('analyze deliveries; analyze delivery_leases');
        for (let i = 0; i < 4; i++) {
          const events = Array.from({ length: 500 }, (_, j) => ({
            id: newId('evt'),
            event: 'agent.created',
            timestamp: t0 + i * 500 + j,
            body: '{}',
          }));
          await store.insertEvents(account, events, t0 + i);
        }
        const leased = await store.claimDue({
          now: t0 + 10,
          limit: 20,
          owner: 'w',
          leaseMs: 60_000,
          webhookLeases: 20,
        });
        expect(leased).toHaveLength(20);

        await client.query('begin');
        const [next] = (
          await client.query<{ at: string }>('select af_next_due($1, $2) as at', [
            t0 + 10,
            Number.MIN_SAFE_INTEGER,
          ])
        ).rows;
        const [read] = (
          await client.query<{ n: string }>(
            `select coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) as n
             from pg_stat_xact_user_tables where relid = 'deliveries'::regclass`,
          )
        ).rows;
        await client.query('commit');
        // The four batches' deliveries fell due at t0 … t0 + 3: the first not leased is due at t0.
        expect(Number(next!.at)).toBe(t0);
        // The 20 leased at the head, then the first that is not; not the 2,000 pending.
        expect(Number(read!.n)).toBeLessThanOrEqual(25);
        expect(await store.nextDueAt(t0 + 10)).toBe(t0);
        expect(await store.nextDueAt(t0 + 10, t0 + 2)).toBe(t0 + 3);
      } finally {
        await client.end().catch(() => {});
        await store.close();
      }
    });

    it("warns at start exactly when the server's autovacuum is off", async () => {
      // A server-wide setting, read here the way an operator would see it.
      const [row] = await sql<{ autovacuum: string }>('show autovacuum');
      const store = createPostgresStore({ url, schema: freshSchema() });
      try {
        const warnings = await store.settingWarnings();
        if (row!.autovacuum === 'off') {
          expect(warnings).toEqual([expect.stringMatching(/autovacuum = off.*VACUUM ANALYZE/s)]);
        } else {
          expect(warnings).toEqual([]);
        }
      } finally {
        await store.close();
      }
    });
  });
});
