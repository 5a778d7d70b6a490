import { createPostgresStore } from '../src/store/postgres/index.js';
import { describePostgres } from './helpers/postgres.js';
import { storeContract } from './store-contract.js';

await describePostgres('postgres store', ({ url, freshSchema }) => {
  // A fresh schema per store: the contract counts pending deliveries across accounts.
  storeContract('postgres', () => createPostgresStore({ url, schema: freshSchema(), poolSize: 4 }));
});
