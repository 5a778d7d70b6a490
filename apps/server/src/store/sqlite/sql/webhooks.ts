/**
 * Webhooks (`Store.createWebhook` … `deleteWebhook`, `sampleWebhookSecrets`), as
 * `postgres/sql/webhooks.ts` is on PostgreSQL. Every statement is scoped by account: a webhook of
 * another account is never found, changed or deleted. Deleting a webhook fails its pending
 * deliveries (`endpoint_disabled`) in the same transaction, so nothing is left to claim for it.
 * Listen sessions are rows of `webhooks` too (`listen` = 1, `sql/listen-sessions.ts`): every
 * statement here leaves them out, so the webhooks API never sees or counts them.
 */
import type Database from 'better-sqlite3';
import {
  type Page,
  type PageQuery,
  pageOf,
  type SecretRotation,
  type WebhookPatch,
  type WebhookRow,
  webhookPatchColumns,
} from '../../types.js';
import { type Row, type Stmt, toWebhook } from '../rows.js';

export function createWebhook(
  db: Database.Database,
  stmt: Stmt,
  w: WebhookRow,
  maxPerAccount?: number,
): boolean {
  // One thread runs every statement, so the count and the insert cannot interleave with
  // another create; the transaction keeps them one unit anyway.
  return db
    .transaction(() => {
      if (maxPerAccount !== undefined) {
        const { n } = stmt(
          'SELECT count(*) AS n FROM webhooks WHERE account_id = ? AND listen = 0',
        ).get(w.accountId) as { n: number };
        if (n >= maxPerAccount) return false;
      }
      stmt(
        `INSERT INTO webhooks (id, account_id, name, url, events, active, disabled_reason, description,
           headers_enc, header_names, metadata, secret_enc, previous_secret_enc,
           previous_secret_expires_at, created_at, updated_at, last_delivery_at, last_delivery_status)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        w.id,
        w.accountId,
        w.name,
        w.url,
        JSON.stringify(w.events),
        w.active ? 1 : 0,
        w.disabledReason,
        w.description,
        w.headersEnc,
        JSON.stringify(w.headerNames),
        JSON.stringify(w.metadata),
        w.secretEnc,
        w.previousSecretEnc,
        w.previousSecretExpiresAt,
        w.createdAt,
        w.updatedAt,
        w.lastDeliveryAt,
        w.lastDeliveryStatus,
      );
      return true;
    })
    .immediate();
}

export function getWebhook(stmt: Stmt, accountId: string, id: string): WebhookRow | undefined {
  const r = stmt('SELECT * FROM webhooks WHERE account_id = ? AND id = ? AND listen = 0').get(
    accountId,
    id,
  ) as Row | undefined;
  return r && toWebhook(r);
}

export function listWebhooks(stmt: Stmt, accountId: string, page: PageQuery): Page<WebhookRow> {
  const rows = (
    page.cursor
      ? stmt(
          `SELECT * FROM webhooks WHERE account_id = ? AND id < ? AND listen = 0
           ORDER BY id DESC LIMIT ?`,
        ).all(accountId, page.cursor, page.limit + 1)
      : stmt(
          'SELECT * FROM webhooks WHERE account_id = ? AND listen = 0 ORDER BY id DESC LIMIT ?',
        ).all(accountId, page.limit + 1)
  ) as Row[];
  return pageOf(rows.map(toWebhook), page.limit);
}

export function updateWebhook(
  stmt: Stmt,
  accountId: string,
  id: string,
  patch: WebhookPatch,
  now: number,
): WebhookRow | undefined {
  const sets: string[] = [];
  const values: unknown[] = [];
  for (const key of Object.keys(webhookPatchColumns) as (keyof WebhookPatch)[]) {
    const v = patch[key];
    if (v === undefined) continue;
    sets.push(`${webhookPatchColumns[key]} = ?`);
    if (key === 'events' || key === 'headerNames' || key === 'metadata') {
      values.push(JSON.stringify(v));
    } else if (key === 'active') {
      values.push(v ? 1 : 0);
    } else {
      values.push(v);
    }
  }
  sets.push('updated_at = ?');
  values.push(now);
  const info = stmt(
    `UPDATE webhooks SET ${sets.join(', ')} WHERE account_id = ? AND id = ? AND listen = 0`,
  ).run(...values, accountId, id);
  return info.changes === 0 ? undefined : getWebhook(stmt, accountId, id);
}

export function rotateSecret(
  stmt: Stmt,
  accountId: string,
  id: string,
  rotation: SecretRotation,
  now: number,
): WebhookRow | undefined {
  const info = stmt(
    `UPDATE webhooks SET secret_enc = ?, previous_secret_enc = ?, previous_secret_expires_at = ?,
       updated_at = ? WHERE account_id = ? AND id = ? AND listen = 0`,
  ).run(
    rotation.secretEnc,
    rotation.previousSecretEnc,
    rotation.previousSecretExpiresAt,
    now,
    accountId,
    id,
  );
  return info.changes === 0 ? undefined : getWebhook(stmt, accountId, id);
}

export function deleteWebhook(
  db: Database.Database,
  stmt: Stmt,
  accountId: string,
  id: string,
  now: number,
): boolean {
  return deleteWebhookRow(db, stmt, accountId, id, now, false);
}

/** Deletes a webhook (`listen` false) or a listen session (true) and fails what waited for it. */
export function deleteWebhookRow(
  db: Database.Database,
  stmt: Stmt,
  accountId: string,
  id: string,
  now: number,
  listen: boolean,
): boolean {
  return db
    .transaction(() => {
      const info = stmt('DELETE FROM webhooks WHERE account_id = ? AND id = ? AND listen = ?').run(
        accountId,
        id,
        listen ? 1 : 0,
      );
      if (info.changes === 0) return false;
      failPendingDeliveries(stmt, id, now);
      return true;
    })
    .immediate();
}

/**
 * The pending deliveries of a webhook (or listen session) being deleted fail, without an attempt,
 * in the caller's transaction: nothing is left to claim for it, and their log stays.
 */
export function failPendingDeliveries(stmt: Stmt, webhookId: string, now: number): void {
  stmt(
    `UPDATE deliveries SET status = 'failed', next_attempt_at = NULL,
       last_error = 'endpoint_disabled', updated_at = ?
     WHERE webhook_id = ? AND status = 'pending'`,
  ).run(now, webhookId);
}

/** The newest webhooks' encrypted secrets: what the start-time key check tries to decrypt. */
export function sampleWebhookSecrets(
  stmt: Stmt,
  limit: number,
): { id: string; accountId: string; secretEnc: string }[] {
  const rows = stmt('SELECT id, account_id, secret_enc FROM webhooks ORDER BY id DESC LIMIT ?').all(
    limit,
  ) as Row[];
  return rows.map((r) => ({
    id: r.id as string,
    accountId: r.account_id as string,
    secretEnc: r.secret_enc as string,
  }));
}
