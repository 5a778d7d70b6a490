/**
 * Accounts and their API keys (`Store.createAccount`, `getAccount`, `createApiKey`,
 * `findApiKeyByHash`), as `postgres/sql/accounts.ts` is on PostgreSQL. A key is stored only as its
 * SHA-256 hash (`security/api-keys.ts` makes it) and found by that hash.
 */
import type { AccountRow, ApiKeyRow } from '../../types.js';
import type { Row, Stmt } from '../rows.js';

export function createAccount(stmt: Stmt, a: AccountRow): void {
  stmt('INSERT INTO accounts (id, name, created_at) VALUES (?, ?, ?)').run(
    a.id,
    a.name,
    a.createdAt,
  );
}

export function getAccount(stmt: Stmt, id: string): AccountRow | undefined {
  const r = stmt('SELECT id, name, created_at FROM accounts WHERE id = ?').get(id) as
    | Row
    | undefined;
  return r && { id: r.id as string, name: r.name as string, createdAt: r.created_at as number };
}

export function createApiKey(stmt: Stmt, k: ApiKeyRow): void {
  stmt(
    'INSERT INTO api_keys (id, account_id, key_hash, prefix, created_at) VALUES (?, ?, ?, ?, ?)',
  ).run(k.id, k.accountId, k.keyHash, k.prefix, k.createdAt);
}

export function findApiKeyByHash(stmt: Stmt, keyHash: string): ApiKeyRow | undefined {
  const r = stmt('SELECT * FROM api_keys WHERE key_hash = ?').get(keyHash) as Row | undefined;
  return (
    r && {
      id: r.id as string,
      accountId: r.account_id as string,
      keyHash: r.key_hash as string,
      prefix: r.prefix as string,
      createdAt: r.created_at as number,
    }
  );
}
