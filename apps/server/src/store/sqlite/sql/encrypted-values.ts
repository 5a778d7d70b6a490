/**
 * Every encrypted value, for the encryption key rotation (`Store.listEncryptedValues`,
 * `replaceEncryptedValues`, `countEncryptedRows`), as `postgres/sql/encrypted-values.ts` is on
 * PostgreSQL. The store never decrypts: it pages through the blobs and writes back the ones the
 * rotation sealed again, each only while it is unchanged. Listen sessions are `webhooks` rows too.
 */
import type Database from 'better-sqlite3';
import {
  type EncryptedChange,
  type EncryptedRow,
  type EncryptedTable,
  encryptedColumns,
} from '../../types.js';
import type { Row, Stmt } from '../rows.js';

/** The rows' `WHERE` for "holds an encrypted value", per table. */
function holdsValues(table: EncryptedTable): string {
  return `(${encryptedColumns[table].map((c) => `${c} IS NOT NULL`).join(' OR ')})`;
}

export function listEncryptedValues(
  stmt: Stmt,
  table: EncryptedTable,
  afterId: string | null,
  limit: number,
): EncryptedRow[] {
  const columns = encryptedColumns[table];
  const accountColumn = table === 'accounts' ? 'id' : 'account_id';
  const rows = stmt(
    `SELECT id, ${accountColumn} AS account_id, ${columns.join(', ')} FROM ${table}
     WHERE id > ? AND ${holdsValues(table)} ORDER BY id LIMIT ?`,
  ).all(afterId ?? '', limit) as Row[];
  return rows.map((r) => ({
    table,
    id: r.id as string,
    accountId: r.account_id as string,
    values: columns
      .filter((column) => r[column] !== null)
      .map((column) => ({ column, blob: r[column] as string })),
  }));
}

export function replaceEncryptedValues(
  db: Database.Database,
  stmt: Stmt,
  changes: EncryptedChange[],
): number {
  return db
    .transaction(() => {
      let written = 0;
      for (const c of changes) {
        // Only the fixed names of `encryptedColumns` reach the SQL text.
        if (!(encryptedColumns[c.table] as readonly string[]).includes(c.column))
          throw new Error(`replaceEncryptedValues: ${c.table}.${c.column} is not encrypted`);
        written += stmt(
          `UPDATE ${c.table} SET ${c.column} = ? WHERE id = ? AND ${c.column} = ?`,
        ).run(c.to, c.id, c.from).changes;
      }
      return written;
    })
    .immediate();
}

export function countEncryptedRows(stmt: Stmt): number {
  const tables = Object.keys(encryptedColumns) as EncryptedTable[];
  return tables.reduce((sum, table) => {
    const r = stmt(`SELECT count(*) AS n FROM ${table} WHERE ${holdsValues(table)}`).get() as Row;
    return sum + Number(r.n);
  }, 0);
}
