/**
 * Accounts and their API keys (`Store.createAccount`, `getAccount`, `purgeAccount`,
 * `listAccountIds`, `createApiKey`, `findApiKeyByHash`, `listApiKeys`, `revokeApiKey`,
 * `markApiKeyUsed`), as
 * `postgres/sql/accounts.ts` is on PostgreSQL. A key is stored only as its SHA-256 hash
 * (`security/api-keys.ts` makes it) and found by that hash; scopes are a JSON array.
 */
import type Database from 'better-sqlite3';
import {
  ACCOUNT_TABLES,
  type AccountRow,
  type ApiKeyRow,
  type ApiKeyScope,
  type Page,
  type PageQuery,
  pageOf,
} from '../../types.js';
import { json, type Row, type Stmt } from '../rows.js';

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

/**
 * `Store.purgeAccount`: the account's rows, children first (the foreign keys cascade too, but
 * the order here does not depend on them); each delete reads an index led by the account or,
 * for attempts, by its deliveries.
 */
export function purgeAccount(db: Database.Database, stmt: Stmt, id: string): void {
  db.transaction(() => {
    stmt(
      `DELETE FROM attempts WHERE delivery_id IN
         (SELECT id FROM deliveries WHERE account_id = ?)`,
    ).run(id);
    for (const table of ACCOUNT_TABLES) {
      stmt(`DELETE FROM ${table} WHERE account_id = ?`).run(id);
    }
    stmt('DELETE FROM accounts WHERE id = ?').run(id);
  })();
}

export function listAccountIds(stmt: Stmt, idPrefix: string, createdBefore: number): string[] {
  // Accounts are few: a scan of them, once at a start.
  return (
    stmt(
      'SELECT id FROM accounts WHERE substr(id, 1, ?) = ? AND created_at < ? ORDER BY id LIMIT 100',
    ).all(idPrefix.length, idPrefix, createdBefore) as { id: string }[]
  ).map((r) => r.id);
}

export function createApiKey(
  db: Database.Database,
  stmt: Stmt,
  k: ApiKeyRow,
  maxPerAccount?: number,
): boolean {
  // One thread runs every statement; the transaction keeps the count and the insert one unit.
  return db
    .transaction(() => {
      if (maxPerAccount !== undefined) {
        const { n } = stmt(
          'SELECT count(*) AS n FROM api_keys WHERE account_id = ? AND revoked_at IS NULL',
        ).get(k.accountId) as { n: number };
        if (n >= maxPerAccount) return false;
      }
      stmt(
        `INSERT INTO api_keys (id, account_id, key_hash, prefix, name, scopes, created_at,
           expires_at, last_used_at, revoked_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        k.id,
        k.accountId,
        k.keyHash,
        k.prefix,
        k.name,
        JSON.stringify(k.scopes),
        k.createdAt,
        k.expiresAt,
        k.lastUsedAt,
        k.revokedAt,
      );
      return true;
    })
    .immediate();
}

function toApiKey(r: Row): ApiKeyRow {
  return {
    id: r.id as string,
    accountId: r.account_id as string,
    keyHash: r.key_hash as string,
    prefix: r.prefix as string,
    name: r.name as string,
    scopes: json<ApiKeyScope[]>(r.scopes, ['full']),
    createdAt: r.created_at as number,
    expiresAt: (r.expires_at as number | null) ?? null,
    lastUsedAt: (r.last_used_at as number | null) ?? null,
    revokedAt: (r.revoked_at as number | null) ?? null,
  };
}

export function findApiKeyByHash(stmt: Stmt, keyHash: string): ApiKeyRow | undefined {
  // Only while its account exists (the foreign key cascades too; this says it where it is read).
  const r = stmt(
    `SELECT k.* FROM api_keys k
     WHERE k.key_hash = ? AND EXISTS (SELECT 1 FROM accounts a WHERE a.id = k.account_id)`,
  ).get(keyHash) as Row | undefined;
  return r && toApiKey(r);
}

export function listApiKeys(stmt: Stmt, accountId: string, page: PageQuery): Page<ApiKeyRow> {
  const rows = (
    page.cursor
      ? stmt(
          `SELECT * FROM api_keys WHERE account_id = ? AND revoked_at IS NULL AND id < ?
           ORDER BY id DESC LIMIT ?`,
        ).all(accountId, page.cursor, page.limit + 1)
      : stmt(
          `SELECT * FROM api_keys WHERE account_id = ? AND revoked_at IS NULL
           ORDER BY id DESC LIMIT ?`,
        ).all(accountId, page.limit + 1)
  ) as Row[];
  return pageOf(rows.map(toApiKey), page.limit);
}

export function revokeApiKey(
  stmt: Stmt,
  accountId: string,
  id: string,
  now: number,
): ApiKeyRow | undefined {
  const r = stmt(
    `UPDATE api_keys SET revoked_at = ?
     WHERE account_id = ? AND id = ? AND revoked_at IS NULL RETURNING *`,
  ).get(now, accountId, id) as Row | undefined;
  return r && { ...toApiKey(r), revokedAt: null };
}

export function markApiKeyUsed(stmt: Stmt, id: string, now: number, notBefore: number): void {
  stmt(
    `UPDATE api_keys SET last_used_at = ?
     WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`,
  ).run(now, id, notBefore);
}
