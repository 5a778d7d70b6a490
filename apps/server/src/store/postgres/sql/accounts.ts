/**
 * Accounts and their API keys (`Store.createAccount`, `getAccount`, `createApiKey`,
 * `findApiKeyByHash`), as `sqlite/sql/accounts.ts` is on SQLite. A key is stored only as its
 * SHA-256 hash (`security/api-keys.ts` makes it) and found by that hash.
 */
import type pg from 'pg';
import type { AccountRow, ApiKeyRow } from '../../types.js';
import { type Queryable, query } from '../pool.js';
import { accountRow, apiKeyRow } from '../rows.js';

export async function createAccount(pool: pg.Pool, a: AccountRow): Promise<void> {
  await query(pool, 'insert into accounts (id, name, created_at) values ($1, $2, $3)', [
    a.id,
    a.name,
    a.createdAt,
  ]);
}

export async function getAccount(pool: Queryable, id: string): Promise<AccountRow | undefined> {
  const { rows } = await query(pool, 'select * from accounts where id = $1', [id]);
  return rows[0] && accountRow(rows[0]);
}

export async function createApiKey(pool: pg.Pool, k: ApiKeyRow): Promise<void> {
  await query(
    pool,
    `insert into api_keys (id, account_id, key_hash, prefix, created_at)
     values ($1, $2, $3, $4, $5)`,
    [k.id, k.accountId, k.keyHash, k.prefix, k.createdAt],
  );
}

export async function findApiKeyByHash(
  pool: Queryable,
  keyHash: string,
): Promise<ApiKeyRow | undefined> {
  const { rows } = await query(pool, 'select * from api_keys where key_hash = $1', [keyHash]);
  return rows[0] && apiKeyRow(rows[0]);
}
