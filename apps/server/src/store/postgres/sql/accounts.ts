/**
 * Accounts and their API keys (`Store.createAccount`, `getAccount`, `purgeAccount`,
 * `listAccountIds`, `createApiKey`, `findApiKeyByHash`, `listApiKeys`, `revokeApiKey`,
 * `markApiKeyUsed`), as
 * `sqlite/sql/accounts.ts` is on SQLite. A key is stored only as its SHA-256 hash
 * (`security/api-keys.ts` makes it) and found by that hash.
 */
import type pg from 'pg';
import {
  ACCOUNT_TABLES,
  type AccountRow,
  type ApiKeyRow,
  type Page,
  type PageQuery,
  pageOf,
} from '../../types.js';
import { type Queryable, query, transaction } from '../pool.js';
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

/**
 * `Store.purgeAccount`: the account's rows, children first; each delete reads an index led by
 * the account or, for attempts and leases (which name no account), by its deliveries.
 */
export async function purgeAccount(pool: pg.Pool, id: string): Promise<void> {
  await transaction(pool, async (client) => {
    for (const child of ['attempts', 'delivery_leases']) {
      await client.query(
        `delete from ${child} x using deliveries d where x.delivery_id = d.id and d.account_id = $1`,
        [id],
      );
    }
    for (const table of ACCOUNT_TABLES) {
      await client.query(`delete from ${table} where account_id = $1`, [id]);
    }
    await client.query('delete from accounts where id = $1', [id]);
  });
}

export async function listAccountIds(
  pool: Queryable,
  idPrefix: string,
  createdBefore: number,
): Promise<string[]> {
  // Accounts are few: a scan of them, once at a start.
  const { rows } = await query<{ id: string }>(
    pool,
    'select id from accounts where left(id, $1) = $2 and created_at < $3 order by id limit 100',
    [idPrefix.length, idPrefix, createdBefore],
  );
  return rows.map((r) => r.id);
}

export async function createApiKey(
  pool: pg.Pool,
  k: ApiKeyRow,
  maxPerAccount?: number,
): Promise<boolean> {
  return transaction(pool, async (client) => {
    if (maxPerAccount !== undefined) {
      // Creates of one account queue on its row, as `createWebhook`'s: two cannot both see room.
      await client.query('select 1 from accounts where id = $1 for no key update', [k.accountId]);
      const { rows } = await client.query<{ n: string }>(
        'select count(*) as n from api_keys where account_id = $1 and revoked_at is null',
        [k.accountId],
      );
      if (Number(rows[0]!.n) >= maxPerAccount) return false;
    }
    await client.query(
      `insert into api_keys (id, account_id, key_hash, prefix, name, scopes, created_at,
         expires_at, last_used_at, revoked_at)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [
        k.id,
        k.accountId,
        k.keyHash,
        k.prefix,
        k.name,
        k.scopes,
        k.createdAt,
        k.expiresAt,
        k.lastUsedAt,
        k.revokedAt,
      ],
    );
    return true;
  });
}

export async function findApiKeyByHash(
  pool: Queryable,
  keyHash: string,
): Promise<ApiKeyRow | undefined> {
  // Only while its account exists: a key outlives no account (there is no foreign key here).
  const { rows } = await query(
    pool,
    `select k.* from api_keys k
     where k.key_hash = $1 and exists (select 1 from accounts a where a.id = k.account_id)`,
    [keyHash],
  );
  return rows[0] && apiKeyRow(rows[0]);
}

export async function listApiKeys(
  pool: Queryable,
  accountId: string,
  page: PageQuery,
): Promise<Page<ApiKeyRow>> {
  const { rows } = await query(
    pool,
    `select * from api_keys
     where account_id = $1 and revoked_at is null and ($2::text is null or id < $2)
     order by id desc limit $3`,
    [accountId, page.cursor ?? null, page.limit + 1],
  );
  return pageOf(rows.map(apiKeyRow), page.limit);
}

export async function revokeApiKey(
  pool: Queryable,
  accountId: string,
  id: string,
  now: number,
): Promise<ApiKeyRow | undefined> {
  const { rows } = await query(
    pool,
    `update api_keys set revoked_at = $3
     where account_id = $1 and id = $2 and revoked_at is null returning *`,
    [accountId, id, now],
  );
  return rows[0] && { ...apiKeyRow(rows[0]), revokedAt: null };
}

export async function markApiKeyUsed(
  pool: Queryable,
  id: string,
  now: number,
  notBefore: number,
): Promise<void> {
  await query(
    pool,
    `update api_keys set last_used_at = $2
     where id = $1 and (last_used_at is null or last_used_at < $3)`,
    [id, now, notBefore],
  );
}
