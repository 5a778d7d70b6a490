/**
 * Listen sessions (`Store.openListenSession` … `expireListenSessions`), as
 * `sqlite/sql/listen-sessions.ts` is on SQLite. A session is a row of `webhooks` with `listen` set
 * (migration 0007), so its deliveries, attempts and log are a webhook's; these statements are the
 * only ones that read or change such rows as sessions, and `sql/webhooks.ts` leaves them out.
 * Deleting a session is deleting a webhook: a tombstone (`deleted_at`, which frees the name), and
 * its pending deliveries fail (`endpoint_disabled`) in the same transaction.
 */
import type pg from 'pg';
import type { ListenSessionRow, OpenListenSession } from '../../types.js';
import { query, transaction } from '../pool.js';
import { listenSessionRow, webhookSelect } from '../rows.js';
import { deleteWebhookRow, failPendingDeliveries } from './webhooks.js';

/**
 * Creates the session, or takes it over by name, in one statement: an upsert on the partial
 * unique index `webhooks_listen_name`, named by its columns and predicate (the conflict target
 * must imply the index's predicate). Of two concurrent opens of one name, the second waits for
 * the first's row and updates it: one session. An existing session keeps its id and creation
 * time; a new holder replaces the old one.
 */
const openSql = `
  with s as (
    insert into webhooks (id, account_id, name, url, events, active, secret_enc, created_at,
      updated_at, listen, listen_connection, listen_connected_at, listen_seen_at)
    values ($1, $2, $3, $4, $5, true, $6, $7, $7, true, $8, $7, $7)
    on conflict (account_id, name) where listen and deleted_at is null do update set
      url = excluded.url, events = excluded.events, secret_enc = excluded.secret_enc,
      active = true, disabled_reason = null, updated_at = excluded.updated_at,
      listen_connection = excluded.listen_connection,
      listen_connected_at = excluded.listen_connected_at, listen_seen_at = excluded.listen_seen_at
    returning *
  )
  ${webhookSelect('true', 's')}`;

export async function openListenSession(
  pool: pg.Pool,
  s: OpenListenSession,
): Promise<ListenSessionRow> {
  const { rows } = await query(pool, openSql, [
    s.id,
    s.accountId,
    s.name,
    s.forwardTo,
    s.events,
    s.secretEnc,
    s.now,
    s.connection,
  ]);
  return listenSessionRow(rows[0]!, s.now);
}

/** The holder's heartbeat: true while `connection` still holds the session. */
export async function touchListenSession(
  pool: pg.Pool,
  id: string,
  connection: string,
  now: number,
): Promise<boolean> {
  const { rowCount } = await query(
    pool,
    `update webhooks set listen_seen_at = $3
     where id = $1 and listen and listen_connection = $2 and deleted_at is null`,
    [id, connection, now],
  );
  return (rowCount ?? 0) > 0;
}

/** The holder's connection closed; a connection that lost the session changes nothing. */
export async function closeListenSession(
  pool: pg.Pool,
  id: string,
  connection: string,
  now: number,
): Promise<void> {
  await query(
    pool,
    `update webhooks set listen_connection = null, listen_seen_at = $3
     where id = $1 and listen and listen_connection = $2 and deleted_at is null`,
    [id, connection, now],
  );
}

export async function listListenSessions(
  pool: pg.Pool,
  accountId: string,
  now: number,
): Promise<ListenSessionRow[]> {
  const { rows } = await query(
    pool,
    `${webhookSelect('w.account_id = $1 and w.listen')} order by w.id desc`,
    [accountId],
  );
  return rows.map((r) => listenSessionRow(r, now));
}

export async function deleteListenSession(
  pool: pg.Pool,
  accountId: string,
  id: string,
  now: number,
): Promise<boolean> {
  return deleteWebhookRow(pool, accountId, id, now, true);
}

/**
 * Sessions of every account not seen since `seenBefore`, deleted as `deleteListenSession` does,
 * in one transaction. Whether or not one still names a holder: a process that died never closed
 * its connections.
 */
export async function expireListenSessions(
  pool: pg.Pool,
  seenBefore: number,
  now: number,
): Promise<number> {
  return transaction(pool, async (client) => {
    const { rows } = await client.query<{ id: string }>(
      `update webhooks set deleted_at = $2, active = false, updated_at = $2
       where listen and deleted_at is null and listen_seen_at < $1
       returning id`,
      [seenBefore, now],
    );
    if (rows.length > 0) {
      await failPendingDeliveries(
        client,
        rows.map((r) => r.id),
        now,
      );
    }
    return rows.length;
  });
}
