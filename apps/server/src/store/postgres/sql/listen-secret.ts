/**
 * The account's listen secret (`Store.getListenSecret`, `setListenSecretIfAbsent`,
 * `rotateListenSecret`), as `sqlite/sql/listen-secret.ts` is on SQLite. Stored encrypted (the
 * blob only; the API encrypts and decrypts) in `accounts.listen_secret_enc`, and copied into each
 * listen session (`webhooks.secret_enc`, see `listen-sessions.ts`), which signs with it.
 */
import type pg from 'pg';
import { query } from '../pool.js';

export async function getListenSecret(pool: pg.Pool, accountId: string): Promise<string | null> {
  const { rows } = await query<{ listen_secret_enc: string | null }>(
    pool,
    'select listen_secret_enc from accounts where id = $1',
    [accountId],
  );
  return rows[0]?.listen_secret_enc ?? null;
}

/**
 * Sets the secret only while there is none, and answers the one stored, in one statement: a
 * concurrent first call waits for the row's lock, then `coalesce` reads the committed secret,
 * so both end with the same one.
 */
export async function setListenSecretIfAbsent(
  pool: pg.Pool,
  accountId: string,
  enc: string,
): Promise<string> {
  const { rows } = await query<{ listen_secret_enc: string }>(
    pool,
    `update accounts set listen_secret_enc = coalesce(listen_secret_enc, $2)
     where id = $1 returning listen_secret_enc`,
    [accountId, enc],
  );
  const stored = rows[0]?.listen_secret_enc;
  if (stored === undefined) throw new Error(`setListenSecretIfAbsent: no account ${accountId}`);
  return stored;
}

/**
 * Replaces the secret, and its copy in each of the account's listen sessions, in one statement
 * (so one transaction; a data-modifying `with` runs whether or not it is read): their next
 * deliveries sign with the new one. False when the account does not exist.
 */
export async function rotateListenSecret(
  pool: pg.Pool,
  accountId: string,
  enc: string,
): Promise<boolean> {
  const { rows } = await query<{ n: number }>(
    pool,
    `with a as (
       update accounts set listen_secret_enc = $2 where id = $1 returning id
     ),
     sessions as (
       update webhooks w set secret_enc = $2
       from a where w.account_id = a.id and w.listen and w.deleted_at is null
     )
     select count(*)::int as n from a`,
    [accountId, enc],
  );
  return rows[0]!.n > 0;
}
