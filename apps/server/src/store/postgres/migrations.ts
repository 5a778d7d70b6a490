/**
 * The PostgreSQL store's SQL, read from the `.sql` files next to this module (the build copies
 * them into `dist/`, see `scripts/copy-sql.mjs`):
 *
 * - `migrations/NNNN_<name>.sql`: the schema, as numbered migrations that `migrate()` applies in
 *   order, each once. The first line of a file, `-- <name>`, is the name recorded in
 *   `schema_migrations`. A migration, once released, never changes: a change is a new migration.
 * - `functions/*.sql`: the claim and completion functions, each defined once in its current
 *   form. `migrate()` installs them after the migrations whenever their text changes (see
 *   `installFunctions` in `migrate.ts`). Files are read in name order; the type the claims return
 *   is created in `claim-due.sql`, the first.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

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

const sqlFiles = (dir: URL) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort();

/** The migrations, numbered 1, 2, 3… without gaps. */
export function loadMigrations(dir: URL = MIGRATIONS_DIR): Migration[] {
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
