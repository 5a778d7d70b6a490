import { describe, expect, it } from 'vitest';
import { createPostgresStore } from '../src/store/postgres/index.js';
import { describePostgres } from './helpers/postgres.js';
import { storeContract } from './store-contract.js';

await describePostgres('postgres store', ({ url, freshSchema }) => {
  // A fresh schema per store: the contract counts pending deliveries across accounts.
  storeContract('postgres', () => createPostgresStore({ url, schema: freshSchema(), poolSize: 4 }));

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
  });
});
