/**
 * The account's listen secret (`Store.getListenSecret`, `setListenSecretIfAbsent`,
 * `rotateListenSecret`), as `postgres/sql/listen-secret.ts` is on PostgreSQL. Stored encrypted
 * (the blob only; the API encrypts and decrypts) in `accounts.listen_secret_enc`, and copied into
 * each listen session (`webhooks.secret_enc`, see `listen-sessions.ts`), which signs with it.
 */
import type Database from 'better-sqlite3';
import type { Row, Stmt } from '../rows.js';

export function getListenSecret(stmt: Stmt, accountId: string): string | null {
  const r = stmt('SELECT listen_secret_enc FROM accounts WHERE id = ?').get(accountId) as
    | Row
    | undefined;
  return (r?.listen_secret_enc as string | null | undefined) ?? null;
}

/**
 * Sets the secret only while there is none, and answers the one stored. The store's thread runs
 * one statement at a time, so two first calls end with the first one's secret.
 */
export function setListenSecretIfAbsent(stmt: Stmt, accountId: string, enc: string): string {
  stmt('UPDATE accounts SET listen_secret_enc = ? WHERE id = ? AND listen_secret_enc IS NULL').run(
    enc,
    accountId,
  );
  const stored = getListenSecret(stmt, accountId);
  if (stored === null) throw new Error(`setListenSecretIfAbsent: no account ${accountId}`);
  return stored;
}

/**
 * Replaces the secret, and its copy in each of the account's listen sessions in the same
 * transaction, so their next deliveries sign with the new one; false when the account does not
 * exist.
 */
export function rotateListenSecret(
  db: Database.Database,
  stmt: Stmt,
  accountId: string,
  enc: string,
): boolean {
  return db
    .transaction(() => {
      const info = stmt('UPDATE accounts SET listen_secret_enc = ? WHERE id = ?').run(
        enc,
        accountId,
      );
      if (info.changes === 0) return false;
      stmt('UPDATE webhooks SET secret_enc = ? WHERE account_id = ? AND listen = 1').run(
        enc,
        accountId,
      );
      return true;
    })
    .immediate();
}
