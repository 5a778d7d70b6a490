/**
 * Every encrypted value, for the encryption key rotation (`Store.listEncryptedValues`,
 * `replaceEncryptedValues`, `countEncryptedRows`), as `sqlite/sql/encrypted-values.ts` is on
 * SQLite. The store never decrypts: it pages through the blobs and writes back the ones the
 * rotation sealed again, each only while it is unchanged. Deleted webhooks keep their rows
 * (`deleted_at`) and are rotated too; listen sessions are `webhooks` rows as well.
 */
import type pg from 'pg';
import {
  type EncryptedChange,
  type EncryptedRow,
  type EncryptedTable,
  encryptedColumns,
} from '../../types.js';
import { query, transaction } from '../pool.js';

/** The rows' `where` for "holds an encrypted value", per table. */
function holdsValues(table: EncryptedTable): string {
  return `(${encryptedColumns[table].map((c) => `${c} is not null`).join(' or ')})`;
}

export async function listEncryptedValues(
  pool: pg.Pool,
  table: EncryptedTable,
  afterId: string | null,
  limit: number,
): Promise<EncryptedRow[]> {
  const columns = encryptedColumns[table];
  const accountColumn = table === 'accounts' ? 'id' : 'account_id';
  const { rows } = await query(
    pool,
    `select id, ${accountColumn} as account_id, ${columns.join(', ')} from ${table}
     where id > $1 and ${holdsValues(table)} order by id limit $2`,
    [afterId ?? '', limit],
  );
  return rows.map((r) => ({
    table,
    id: r.id as string,
    accountId: r.account_id as string,
    values: columns
      .filter((column) => r[column] !== null)
      .map((column) => ({ column, blob: r[column] as string })),
  }));
}

export async function replaceEncryptedValues(
  pool: pg.Pool,
  changes: EncryptedChange[],
): Promise<number> {
  if (changes.length === 0) return 0;
  return transaction(pool, async (client) => {
    let written = 0;
    for (const c of changes) {
      // Only the fixed names of `encryptedColumns` reach the SQL text.
      if (!(encryptedColumns[c.table] as readonly string[]).includes(c.column))
        throw new Error(`replaceEncryptedValues: ${c.table}.${c.column} is not encrypted`);
      const { rowCount } = await client.query(
        `update ${c.table} set ${c.column} = $1 where id = $2 and ${c.column} = $3`,
        [c.to, c.id, c.from],
      );
      written += rowCount ?? 0;
    }
    return written;
  });
}

export async function countEncryptedRows(pool: pg.Pool): Promise<number> {
  const { rows } = await query<{ n: string }>(
    pool,
    `select (select count(*) from webhooks where ${holdsValues('webhooks')})
          + (select count(*) from accounts where ${holdsValues('accounts')}) as n`,
  );
  return Number(rows[0]?.n ?? 0);
}
