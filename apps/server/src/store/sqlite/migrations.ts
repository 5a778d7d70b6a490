/**
 * The SQLite store's numbered migrations, read from `migrations/NNNN_<name>.sql` next to this
 * module (rules in `../migration-files.ts`; the build copies the files into `dist/`). Applied by
 * `migrate.ts`. The first file says why the indexes look the way they do.
 */
import { loadMigrations as loadFiles, type Migration } from '../migration-files.js';

export type { Migration };

const MIGRATIONS_DIR = new URL('./migrations/', import.meta.url);

/** The SQLite migrations, numbered 1, 2, 3… without gaps. */
export function loadMigrations(dir: URL = MIGRATIONS_DIR): Migration[] {
  return loadFiles(dir);
}
