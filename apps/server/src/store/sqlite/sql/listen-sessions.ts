/**
 * Listen sessions (`Store.openListenSession` … `expireListenSessions`), as
 * `postgres/sql/listen-sessions.ts` is on PostgreSQL. A session is a row of `webhooks` with
 * `listen` = 1 (migration 0005), so its deliveries, attempts and log are a webhook's; these
 * statements are the only ones that read or change such rows as sessions, and `sql/webhooks.ts`
 * leaves them out. Deleting a session is deleting a webhook: its pending deliveries fail
 * (`endpoint_disabled`) in the same transaction.
 */
import type Database from 'better-sqlite3';
import type { ListenSessionRow, OpenListenSession } from '../../types.js';
import { type Row, type Stmt, toListenSession } from '../rows.js';
import { deleteWebhookRow, failPendingDeliveries } from './webhooks.js';

/**
 * Creates the session, or takes it over by name: one upsert on `webhooks_listen_name`, so two
 * opens of one name end with one row (the store's thread runs them one after the other anyway).
 * An existing session keeps its id and creation time; a new holder replaces the old one.
 */
export function openListenSession(stmt: Stmt, s: OpenListenSession): ListenSessionRow {
  const r = stmt(
    `INSERT INTO webhooks (id, account_id, name, url, events, active, header_names, metadata,
       secret_enc, created_at, updated_at, listen, listen_connection, listen_connected_at,
       listen_seen_at)
     VALUES (?, ?, ?, ?, ?, 1, '[]', '{}', ?, ?, ?, 1, ?, ?, ?)
     ON CONFLICT (account_id, name) WHERE listen = 1 DO UPDATE SET
       url = excluded.url, events = excluded.events, secret_enc = excluded.secret_enc,
       active = 1, disabled_reason = NULL, updated_at = excluded.updated_at,
       listen_connection = excluded.listen_connection,
       listen_connected_at = excluded.listen_connected_at, listen_seen_at = excluded.listen_seen_at
     RETURNING *`,
  ).get(
    s.id,
    s.accountId,
    s.name,
    s.forwardTo,
    JSON.stringify(s.events),
    s.secretEnc,
    s.now,
    s.now,
    s.connection,
    s.now,
    s.now,
  ) as Row;
  return toListenSession(r, s.now);
}

/** The holder's heartbeat: true while `connection` still holds the session. */
export function touchListenSession(
  stmt: Stmt,
  id: string,
  connection: string,
  now: number,
): boolean {
  return (
    stmt(
      'UPDATE webhooks SET listen_seen_at = ? WHERE id = ? AND listen = 1 AND listen_connection = ?',
    ).run(now, id, connection).changes > 0
  );
}

/** The holder's connection closed; a connection that lost the session changes nothing. */
export function closeListenSession(stmt: Stmt, id: string, connection: string, now: number): void {
  stmt(
    `UPDATE webhooks SET listen_connection = NULL, listen_seen_at = ?
     WHERE id = ? AND listen = 1 AND listen_connection = ?`,
  ).run(now, id, connection);
}

export function listListenSessions(stmt: Stmt, accountId: string, now: number): ListenSessionRow[] {
  const rows = stmt(
    'SELECT * FROM webhooks WHERE account_id = ? AND listen = 1 ORDER BY id DESC',
  ).all(accountId) as Row[];
  return rows.map((r) => toListenSession(r, now));
}

export function deleteListenSession(
  db: Database.Database,
  stmt: Stmt,
  accountId: string,
  id: string,
  now: number,
): boolean {
  return deleteWebhookRow(db, stmt, accountId, id, now, true);
}

/**
 * Sessions of every account not seen since `seenBefore`, deleted as `deleteListenSession` does.
 * Whether or not one still names a holder: a process that died never closed its connections.
 * Few rows (sessions only, on `webhooks_listen_name`), so they are read first and deleted one by
 * one in one transaction.
 */
export function expireListenSessions(
  db: Database.Database,
  stmt: Stmt,
  seenBefore: number,
  now: number,
): number {
  return db
    .transaction(() => {
      const ids = stmt('SELECT id FROM webhooks WHERE listen = 1 AND listen_seen_at < ?').all(
        seenBefore,
      ) as Row[];
      const remove = stmt('DELETE FROM webhooks WHERE id = ?');
      for (const r of ids) {
        remove.run(r.id);
        failPendingDeliveries(stmt, r.id as string, now);
      }
      return ids.length;
    })
    .immediate();
}
