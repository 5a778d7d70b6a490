import { describe, expect, it } from 'vitest';
import { createPostgresStore } from '../src/store/postgres/index.js';
import { describePostgres } from './helpers/postgres.js';
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
