/**
 * Webhooks (`Store.createWebhook` … `deleteWebhook`, `sampleWebhookSecrets`), as
 * `sqlite/sql/webhooks.ts` is on SQLite. Every statement is scoped by account: a webhook of
 * another account is never found, changed or deleted. A deleted webhook keeps its row
 * (`deleted_at`, so its delivery log still names it) and its pending deliveries fail
 * (`endpoint_disabled`) in the same transaction, so nothing is left to claim for it. Listen
 * sessions are rows of `webhooks` too (`listen`, `sql/listen-sessions.ts`): every statement here
 * leaves them out, so the webhooks API never sees or counts them.
 */
import type pg from 'pg';
import {
  type Page,
  type PageQuery,
  pageOf,
  type SecretRotation,
  type WebhookPatch,
  type WebhookRow,
  webhookPatchColumns,
} from '../../types.js';
import { type Queryable, query, transaction } from '../pool.js';
import { webhookRow, webhookSelect } from '../rows.js';
import { urlChange, userActivation } from './webhook-health.js';

export async function createWebhook(
  pool: pg.Pool,
  w: WebhookRow,
  maxPerAccount?: number,
): Promise<boolean> {
  return transaction(pool, async (client) => {
    if (maxPerAccount !== undefined) {
      // Creates of one account queue on its row (`no key update` leaves other readers and
      // writers of the account alone), so two creates cannot both see room for one more.
      await client.query('select 1 from accounts where id = $1 for no key update', [w.accountId]);
      const { rows } = await client.query<{ n: string }>(
        'select count(*) as n from webhooks where account_id = $1 and deleted_at is null and not listen',
        [w.accountId],
      );
      if (Number(rows[0]!.n) >= maxPerAccount) return false;
    }
    await client.query(
      `insert into webhooks (id, account_id, name, url, events, active, disabled_reason,
       description, headers_enc, header_names, metadata, secret_enc, previous_secret_enc,
       previous_secret_expires_at, created_at, updated_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
      [
        w.id,
        w.accountId,
        w.name,
        w.url,
        w.events,
        w.active,
        w.disabledReason,
        w.description,
        w.headersEnc,
        w.headerNames,
        JSON.stringify(w.metadata),
        w.secretEnc,
        w.previousSecretEnc,
        w.previousSecretExpiresAt,
        w.createdAt,
        w.updatedAt,
      ],
    );
    return true;
  });
}

export async function getWebhook(
  pool: pg.Pool,
  accountId: string,
  id: string,
): Promise<WebhookRow | undefined> {
  const { rows } = await query(
    pool,
    webhookSelect('w.account_id = $1 and w.id = $2 and not w.listen'),
    [accountId, id],
  );
  return rows[0] && webhookRow(rows[0]);
}

export async function listWebhooks(
  pool: pg.Pool,
  accountId: string,
  page: PageQuery,
): Promise<Page<WebhookRow>> {
  const { rows } = await query(
    pool,
    `${webhookSelect('w.account_id = $1 and not w.listen and ($2::text is null or w.id < $2)')}
     order by w.id desc limit $3`,
    [accountId, page.cursor ?? null, page.limit + 1],
  );
  return pageOf(rows.map(webhookRow), page.limit);
}

export async function updateWebhook(
  pool: pg.Pool,
  accountId: string,
  id: string,
  patch: WebhookPatch,
  now: number,
): Promise<WebhookRow | undefined> {
  // A change of `active` or `url` is a change of health too (`webhook-health.ts`).
  const found =
    patch.active === undefined && patch.url === undefined
      ? await updateWebhookRow(pool, accountId, id, patch, now)
      : await transaction(pool, async (client) => {
          if (patch.active !== undefined) {
            await userActivation(client, accountId, id, patch.active, now);
          }
          if (patch.url !== undefined) await urlChange(client, accountId, id, patch.url);
          return updateWebhookRow(client, accountId, id, patch, now);
        });
  return found ? getWebhook(pool, accountId, id) : undefined;
}

/** The patch's update alone; false when there is no such webhook. */
async function updateWebhookRow(
  pool: Queryable,
  accountId: string,
  id: string,
  patch: WebhookPatch,
  now: number,
): Promise<boolean> {
  const sets = ['updated_at = $3'];
  const values: unknown[] = [accountId, id, now];
  for (const [field, column] of Object.entries(webhookPatchColumns)) {
    const value = patch[field as keyof WebhookPatch];
    if (value === undefined) continue;
    values.push(field === 'metadata' ? JSON.stringify(value) : value);
    sets.push(`${column} = $${values.length}`);
  }
  const { rowCount } = await query(
    pool,
    `update webhooks set ${sets.join(', ')}
     where account_id = $1 and id = $2 and deleted_at is null and not listen`,
    values,
  );
  return Boolean(rowCount);
}

export async function rotateSecret(
  pool: pg.Pool,
  accountId: string,
  id: string,
  r: SecretRotation,
  now: number,
): Promise<WebhookRow | undefined> {
  const { rowCount } = await query(
    pool,
    `update webhooks set secret_enc = $3, previous_secret_enc = $4,
       previous_secret_expires_at = $5, updated_at = $6
     where account_id = $1 and id = $2 and deleted_at is null and not listen`,
    [accountId, id, r.secretEnc, r.previousSecretEnc, r.previousSecretExpiresAt, now],
  );
  return rowCount ? getWebhook(pool, accountId, id) : undefined;
}

export async function deleteWebhook(
  pool: pg.Pool,
  accountId: string,
  id: string,
  now: number,
): Promise<boolean> {
  return deleteWebhookRow(pool, accountId, id, now, false);
}

/** Deletes a webhook (`listen` false) or a listen session (true) and fails what waited for it. */
export async function deleteWebhookRow(
  pool: pg.Pool,
  accountId: string,
  id: string,
  now: number,
  listen: boolean,
): Promise<boolean> {
  // Webhook row first, deliveries second: the lock order of completeAttempts.
  return transaction(pool, async (client) => {
    const { rowCount } = await client.query(
      `update webhooks set deleted_at = $3, active = false, updated_at = $3
       where account_id = $1 and id = $2 and deleted_at is null and listen = $4`,
      [accountId, id, now, listen],
    );
    if (!rowCount) return false;
    await failPendingDeliveries(client, [id], now);
    return true;
  });
}

/**
 * The pending deliveries of webhooks (or listen sessions) being deleted fail, without an attempt,
 * in the caller's transaction, after it locked the webhook rows (the lock order of
 * completeAttempts): nothing is left to claim for them, and their log stays.
 */
export async function failPendingDeliveries(
  client: Queryable,
  webhookIds: string[],
  now: number,
): Promise<void> {
  await client.query(
    `update deliveries set status = 'failed', next_attempt_at = null,
       last_error = 'endpoint_disabled', updated_at = $2
     where webhook_id = any($1) and status = 'pending'`,
    [webhookIds, now],
  );
}

export async function sampleWebhookSecrets(
  pool: pg.Pool,
  limit: number,
): Promise<{ id: string; accountId: string; secretEnc: string }[]> {
  const { rows } = await query(
    pool,
    `select id, account_id, secret_enc from webhooks where deleted_at is null
      order by id desc limit $1`,
    [limit],
  );
  return rows.map((r) => ({
    id: r.id as string,
    accountId: r.account_id as string,
    secretEnc: r.secret_enc as string,
  }));
}
