/**
 * Numbered migrations read from `.sql` files, for both stores (`sqlite/migrations/`,
 * `postgres/migrations/`; the build copies them into `dist/`, see `scripts/copy-sql.mjs`). A file
 * is `NNNN_<what>.sql`, numbered 1, 2, 3… without gaps; its first line, `-- <name>`, is the name
 * recorded in `schema_migrations`. A migration, once released, never changes: a change is a new
 * migration.
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** The `.sql` files of `dir`, in name order. */
export function sqlFiles(dir: URL): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort();
}

/** The migrations of `dir`, checked for numbering and names. */
export function loadMigrations(dir: URL): Migration[] {
  return sqlFiles(dir).map((file, i) => {
    const version = Number(/^(\d{4})_[a-z0-9_]+\.sql$/.exec(file)?.[1]);
    if (version !== i + 1) {
      throw new Error(
        `migration ${file}: expected a name like ${String(i + 1).padStart(4, '0')}_what.sql`,
      );
    }
    const sql = readFileSync(new URL(file, dir), 'utf8');
    const name = /^-- (.+?)\r?\n/.exec(sql)?.[1];
    if (!name) throw new Error(`migration ${file}: its first line must be "-- <name>"`);
    return { version, name, sql };
  });
}
