/**
 * Applies the SQLite store's pending migrations (`migrations/*.sql`), as `postgres/migrate.ts` does on
 * PostgreSQL: all in one transaction, each recorded in `schema_migrations`. `BEGIN IMMEDIATE`
 * takes the write lock first, so two processes migrating the same file at once serialize and the
 * second finds nothing left to do.
 */
import type Database from 'better-sqlite3';
import { loadMigrations, type Migration } from './migrations.js';
import type { Row } from './rows.js';

export function migrate(
  db: Database.Database,
  list: readonly Migration[] = loadMigrations(),
): number[] {
  const run = db.transaction((): number[] => {
    db.exec(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)',
    );
    const applied = new Set(
      (db.prepare('SELECT version FROM schema_migrations').all() as Row[]).map(
        (r) => r.version as number,
      ),
    );
    const done: number[] = [];
    for (const m of [...list].sort((a, b) => a.version - b.version)) {
      if (applied.has(m.version)) continue;
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
        m.version,
        m.name,
        Date.now(),
      );
      done.push(m.version);
    }
    return done;
  });
  return run.immediate();
}
