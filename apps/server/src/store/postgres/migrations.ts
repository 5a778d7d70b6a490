/**
 * The PostgreSQL store's SQL, read from the `.sql` files next to this module (the build copies
 * them into `dist/`, see `scripts/copy-sql.mjs`):
 *
 * - `migrations/NNNN_<name>.sql`: the schema, as numbered migrations that `migrate()` applies in
 *   order, each once (the file rules are in `../migration-files.ts`, shared with SQLite).
 * - `functions/*.sql`: the claim and completion functions, each defined once in its current
 *   form. `migrate()` installs them after the migrations whenever their text changes (see
 *   `installFunctions` in `migrate.ts`). Files are read in name order; the types the claims
 *   return are created in `claim-due.sql`, the first.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { loadMigrations as loadFiles, type Migration, sqlFiles } from '../migration-files.js';

export type { Migration };

/** The functions' SQL as one script, with what it creates and a digest of its text. */
export interface FunctionSet {
  sql: string;
  sha256: string;
  /** Names of the functions the script creates. */
  functions: string[];
  /** Names of the types the script creates. */
  types: string[];
}

const MIGRATIONS_DIR = new URL('./migrations/', import.meta.url);
const FUNCTIONS_DIR = new URL('./functions/', import.meta.url);

/** The PostgreSQL migrations, numbered 1, 2, 3… without gaps. */
export function loadMigrations(dir: URL = MIGRATIONS_DIR): Migration[] {
  return loadFiles(dir);
}

export function loadFunctions(dir: URL = FUNCTIONS_DIR): FunctionSet {
  const files = sqlFiles(dir);
  const sql = files.map((f) => readFileSync(new URL(f, dir), 'utf8')).join('\n');
  const created = (kind: string) =>
    [...sql.matchAll(new RegExp(`^create ${kind} (\\w+)`, 'gim'))].map((m) => m[1]!);
  return {
    sql,
    sha256: createHash('sha256').update(sql).digest('hex'),
    functions: created('function'),
    types: created('type'),
  };
}
