/**
 * Webhook health and its notices (`WebhookHealth`, `WebhookNotice` in `../../types.ts`), as
 * `sqlite/sql/webhook-health.ts` is on SQLite: the auto-disable sweep, a user's enable and
 * disable, and the notices' publication as operational events. The completions' health update
 * is `af_record_health` (`../functions/webhook-health.sql`), called by `af_complete_attempts`.
 */
import { matchesEvent } from '@agentfactory/webhooks';
import type pg from 'pg';
import { newId } from '../../../ids.js';
import {
  CERTIFICATE_WARNING_DAYS,
  type CertificateSeen,
  type DisabledReason,
  type NoticeEvent,
  type WebhookHealthCounts,
  type WebhookNotice,
} from '../../types.js';
import { sendWakeUp, type WakeUp } from '../notifier.js';
import { type Queryable, query, transaction } from '../pool.js';
import { webhookNoticeRow } from '../rows.js';

/** `Store.disableFailingWebhooks`: one statement, the notices written with the disables. */
export async function disableFailingWebhooks(
  pool: pg.Pool,
  failingSince: number,
  now: number,
): Promise<number> {
  const { rows } = await query<{ n: number }>(
    pool,
    `with off as (
       update webhooks set active = false, disabled_reason = 'failing', updated_at = $2
       where active and not listen and deleted_at is null and health_consecutive_failures > 0
         and health_failing_since <= $1
       returning id, account_id, url
     ),
     told as (
       insert into webhook_notices (account_id, webhook_id, url, kind, at, reason)
       select account_id, id, url, 'disabled', $2, 'failing' from off order by id
       returning 1
     )
     select count(*)::int as n from told`,
    [failingSince, now],
  );
  return rows[0]?.n ?? 0;
}

/**
 * A user's change of `active`, in `updateWebhook`'s transaction before its update: enabling an
 * inactive webhook clears its health (it starts again from healthy), disabling an active one
 * tells the account (`manual`). The row is locked first, so two changes at once tell it once.
 */
export async function userActivation(
  client: Queryable,
  accountId: string,
  id: string,
  active: boolean,
  now: number,
): Promise<void> {
  await client.query(
    `with old as (
       select id, account_id, url, active from webhooks
       where account_id = $1 and id = $2 and deleted_at is null and not listen
       for no key update
     ),
     reset as (
       update webhooks w set health_failing_since = null, health_consecutive_failures = 0
       from old where w.id = old.id and $3 and not old.active
       returning 1
     )
     insert into webhook_notices (account_id, webhook_id, url, kind, at, reason)
     select account_id, id, url, 'disabled', $4, 'manual' from old where not $3 and old.active`,
    [accountId, id, active, now],
  );
}

/**
 * A new URL, in `updateWebhook`'s transaction before its update: the certificate recorded was
 * another endpoint's, and its warnings with it.
 */
export async function urlChange(
  client: Queryable,
  accountId: string,
  id: string,
  url: string,
): Promise<void> {
  await client.query(
    `update webhooks set certificate_expires_at = null, certificate_warned_days = null
     where account_id = $1 and id = $2 and deleted_at is null and not listen and url <> $3`,
    [accountId, id, url],
  );
}

/** `Store.listWebhookNotices`. */
export async function listWebhookNotices(pool: pg.Pool, limit: number): Promise<WebhookNotice[]> {
  const { rows } = await query(pool, 'select * from webhook_notices order by id limit $1', [limit]);
  return rows.map(webhookNoticeRow);
}

/**
 * `Store.publishWebhookNotices`: the notices taken (deleted) first, so that of two processes
 * publishing the same notices one stores their events; then the fan-out of `insert-events.ts`,
 * but the webhook each is about, and a wake-up for the workers at commit.
 */
export async function publishWebhookNotices(
  pool: pg.Pool,
  wake: WakeUp,
  events: NoticeEvent[],
  now: number,
): Promise<number> {
  if (events.length === 0) return 0;
  return transaction(pool, async (client) => {
    const { rows: taken } = await client.query<{ id: string }>(
      'delete from webhook_notices where id = any($1::bigint[]) returning id',
      [events.map((e) => e.noticeId)],
    );
    const takenIds = new Set(taken.map((r) => Number(r.id)));
    const mine = events.filter((e) => takenIds.has(e.noticeId));
    if (mine.length === 0) return 0;
    const { rows: hooks } = await client.query<{
      id: string;
      account_id: string;
      events: string[];
      listen: boolean;
    }>(
      `select id, account_id, events, listen from webhooks
       where account_id = any($1) and active and deleted_at is null`,
      [[...new Set(mine.map((e) => e.accountId))]],
    );
    const ev = { ids: [] as string[], accounts: [] as string[], names: [] as string[] };
    const evTimes: number[] = [];
    const evBodies: string[] = [];
    const evCounts: number[] = [];
    const d = {
      ids: [] as string[],
      accounts: [] as string[],
      eventIds: [] as string[],
      events: [] as string[],
      hooks: [] as string[],
      listen: [] as boolean[],
    };
    for (const n of mine) {
      const targets = hooks.filter(
        (h) =>
          h.account_id === n.accountId &&
          h.id !== n.webhookId &&
          matchesEvent(h.events, n.event.event),
      );
      ev.ids.push(n.event.id);
      ev.accounts.push(n.accountId);
      ev.names.push(n.event.event);
      evTimes.push(n.event.timestamp);
      evBodies.push(n.event.body);
      evCounts.push(targets.length);
      for (const h of targets) {
        d.ids.push(newId('dlv', now));
        d.accounts.push(n.accountId);
        d.eventIds.push(n.event.id);
        d.events.push(n.event.event);
        d.hooks.push(h.id);
        d.listen.push(h.listen);
      }
    }
    await client.query(
      `insert into events (id, account_id, event, timestamp, body, deliveries)
       select * from unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::int[])`,
      [ev.ids, ev.accounts, ev.names, evTimes, evBodies, evCounts],
    );
    if (d.ids.length > 0) {
      await client.query(
        `insert into deliveries (id, account_id, event_id, event, webhook_id, status,
           next_attempt_at, created_at, updated_at, listen)
         select u.id, u.account_id, u.event_id, u.event, u.webhook_id, 'pending', $7, $7, $7,
           u.listen
         from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::boolean[])
           as u(id, account_id, event_id, event, webhook_id, listen)`,
        [d.ids, d.accounts, d.eventIds, d.events, d.hooks, d.listen, now],
      );
      await sendWakeUp(client, wake);
    }
    return d.ids.length;
  });
}

/**
 * `Store.recordCertificates`: the certificates first, in one statement (a new one clears the
 * thresholds warned of), then the warnings of those webhooks, in one transaction.
 */
export async function recordCertificates(
  pool: pg.Pool,
  seen: CertificateSeen[],
  now: number,
): Promise<number> {
  if (seen.length === 0) return 0;
  const sorted = [...seen].sort((a, b) => (a.webhookId < b.webhookId ? -1 : 1));
  return transaction(pool, async (client) => {
    await client.query(
      `update webhooks w set
         certificate_warned_days = case when w.certificate_expires_at = u.expires_at
                                        then w.certificate_warned_days end,
         certificate_expires_at = u.expires_at
       from unnest($1::text[], $2::text[], $3::bigint[]) as u(id, account_id, expires_at)
       where w.id = u.id and w.account_id = u.account_id and not w.listen
         and w.deleted_at is null`,
      [
        sorted.map((c) => c.webhookId),
        sorted.map((c) => c.accountId),
        sorted.map((c) => c.expiresAt),
      ],
    );
    return warn(
      client,
      now,
      sorted.map((c) => c.webhookId),
    );
  });
}

/** `Store.warnExpiringCertificates`. */
export async function warnExpiringCertificates(pool: pg.Pool, now: number): Promise<number> {
  return warn(pool, now, null);
}

/**
 * One statement: each active webhook (of `ids`, or all) whose certificate reached a threshold of
 * `CERTIFICATE_WARNING_DAYS` not warned of yet is marked and gets its notice.
 */
async function warn(client: Queryable, now: number, ids: string[] | null): Promise<number> {
  const { rows } = await client.query<{ n: number }>(
    `with due as (
       select w.id, (select min(d) from unnest($2::int[]) as d
                     where w.certificate_expires_at - $1 <= d::bigint * 86400000) as days
       from webhooks w
       where w.active and not w.listen and w.deleted_at is null
         and w.certificate_expires_at is not null
         and w.certificate_expires_at <= $1 + $3::bigint * 86400000
         and ($4::text[] is null or w.id = any($4))
     ),
     marked as (
       update webhooks w set certificate_warned_days = due.days
       from due
       where w.id = due.id and due.days is not null
         and (w.certificate_warned_days is null or due.days < w.certificate_warned_days)
       returning w.id, w.account_id, w.url, w.certificate_expires_at
     ),
     told as (
       insert into webhook_notices (account_id, webhook_id, url, kind, at, expires_at, days_left)
       select account_id, id, url, 'certificate_expiring', $1, certificate_expires_at,
         greatest(0, floor((certificate_expires_at - $1) / 86400000.0))::int
       from marked order by id
       returning 1
     )
     select count(*)::int as n from told`,
    [now, [...CERTIFICATE_WARNING_DAYS], CERTIFICATE_WARNING_DAYS[0], ids],
  );
  return rows[0]?.n ?? 0;
}

/** `Store.countWebhookHealth`. */
export async function countWebhookHealth(pool: pg.Pool): Promise<WebhookHealthCounts> {
  const { rows } = await query<{ reason: DisabledReason | null; active: boolean; n: number }>(
    pool,
    `select active, case when active then null else disabled_reason end as reason,
       count(*)::int as n
     from webhooks
     where deleted_at is null and not listen and (not active or health_consecutive_failures > 0)
     group by 1, 2`,
  );
  const counts: WebhookHealthCounts = { failing: 0, disabled: { gone: 0, failing: 0, manual: 0 } };
  for (const r of rows) {
    if (r.active) counts.failing += r.n;
    else counts.disabled[r.reason ?? 'manual'] += r.n;
  }
  return counts;
}
