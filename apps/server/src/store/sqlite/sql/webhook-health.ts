/**
 * Webhook health and its notices (`WebhookHealth`, `WebhookNotice` in `../../types.ts`), as
 * `postgres/functions/webhook-health.sql` and `postgres/sql/webhook-health.ts` are on PostgreSQL:
 * the completions' health update, once per webhook per batch, the auto-disable sweep, a user's
 * enable and disable, and the notices' publication as operational events.
 */
import { matchesEvent } from '@agentfactory/webhooks';
import type Database from 'better-sqlite3';
import { newId } from '../../../ids.js';
import {
  type AttemptOutcome,
  CERTIFICATE_WARNING_DAYS,
  type CertificateSeen,
  type DisabledReason,
  type NoticeEvent,
  type WebhookHealthCounts,
  type WebhookNotice,
  type WebhookNoticeKind,
} from '../../types.js';
import { json, type Row, type Stmt, toWebhookNotice } from '../rows.js';

type NoticeFields = Partial<
  Pick<
    WebhookNotice,
    'failingSince' | 'failedDeliveries' | 'lastError' | 'reason' | 'host' | 'expiresAt' | 'daysLeft'
  >
>;

/** Writes a notice in the caller's transaction. */
export function addNotice(
  stmt: Stmt,
  hook: { id: string; accountId: string; url: string },
  kind: WebhookNoticeKind,
  at: number,
  f: NoticeFields = {},
): void {
  stmt(
    `INSERT INTO webhook_notices (account_id, webhook_id, url, kind, at, failing_since,
       failed_deliveries, last_error, reason, host, expires_at, days_left)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    hook.accountId,
    hook.id,
    hook.url,
    kind,
    at,
    f.failingSince ?? null,
    f.failedDeliveries ?? null,
    f.lastError ?? null,
    f.reason ?? null,
    f.host ?? null,
    f.expiresAt ?? null,
    f.daysLeft ?? null,
  );
}

/** One webhook's outcomes of a batch, summed up as `af_record_health` does on PostgreSQL. */
interface BatchHealth {
  accountId: string;
  successAt: number | null;
  failureAt: number | null;
  firstFailureAt: number | null;
  exhausted: number;
  lastError: string | null;
  gone: boolean;
  now: number;
}

/** Whether an attempt tells anything of the endpoint (see `WebhookHealth`). */
function counts(o: AttemptOutcome): boolean {
  return o.attempt.trigger !== 'test' && o.attempt.error !== 'endpoint_disabled';
}

function summarize(outcomes: AttemptOutcome[]): Map<string, BatchHealth> {
  const byHook = new Map<string, BatchHealth>();
  for (const o of outcomes) {
    let b = byHook.get(o.webhookId);
    if (!b) {
      b = {
        accountId: o.accountId,
        successAt: null,
        failureAt: null,
        firstFailureAt: null,
        exhausted: 0,
        lastError: null,
        gone: false,
        now: o.now,
      };
      byHook.set(o.webhookId, b);
    }
    b.now = Math.max(b.now, o.now);
    if (o.disableWebhook === 'gone') b.gone = true;
    if (counts(o) && o.attempt.succeeded)
      b.successAt = Math.max(b.successAt ?? 0, o.attempt.startedAt);
  }
  // Failures count from the batch's last success on, as they do from the stored one.
  for (const o of outcomes) {
    const b = byHook.get(o.webhookId)!;
    if (!counts(o) || o.attempt.succeeded) continue;
    const at = o.attempt.startedAt;
    if (b.failureAt === null || at >= b.failureAt) {
      b.failureAt = at;
      b.lastError = o.attempt.error;
    }
    if (b.successAt !== null && at <= b.successAt) continue;
    b.firstFailureAt = Math.min(b.firstFailureAt ?? at, at);
    if (o.status === 'failed' && o.attempt.trigger === 'scheduled') b.exhausted++;
  }
  return byHook;
}

/**
 * A healthy webhook's last success is kept to this resolution: a batch of successes writes its row
 * only when the recorded one is this much older, not once per completion batch (on PostgreSQL that
 * write also locks the row every claim of the webhook locks). `af_record_health` uses the same
 * value.
 */
export const LAST_SUCCESS_RESOLUTION_MS = 1000;

/**
 * The health of each webhook of a batch of recorded outcomes, one read and one write per webhook,
 * with the notices its change calls for (`recovered`, `failing`, `disabled` for a 410). Runs in
 * the completion's transaction before the 410s disable their webhooks, so that it sees which
 * were active.
 */
export function recordHealth(stmt: Stmt, recorded: AttemptOutcome[]): void {
  if (recorded.length === 0) return;
  const read = stmt(
    `SELECT id, account_id, url, active, listen, health_failing_since,
       health_consecutive_failures, health_last_success_at, health_last_failure_at
     FROM webhooks WHERE id = ? AND account_id = ?`,
  );
  const write = stmt(
    `UPDATE webhooks SET health_failing_since = ?, health_consecutive_failures = ?,
       health_last_success_at = ?, health_last_failure_at = ?
     WHERE id = ?`,
  );
  for (const [webhookId, b] of summarize(recorded)) {
    const w = read.get(webhookId, b.accountId) as Row | undefined;
    if (!w || w.listen === 1) continue;
    const oldFailures = w.health_consecutive_failures as number;
    const oldSince = (w.health_failing_since as number | null) ?? null;
    const lastSuccess = (w.health_last_success_at as number | null) ?? null;
    const nothingNew =
      b.failureAt === null &&
      !b.gone &&
      oldFailures === 0 &&
      oldSince === null &&
      (b.successAt === null ||
        (lastSuccess !== null && b.successAt < lastSuccess + LAST_SUCCESS_RESOLUTION_MS));
    if (nothingNew) continue;
    const failingSince = b.successAt !== null ? b.firstFailureAt : (oldSince ?? b.firstFailureAt);
    const failures = b.successAt !== null ? b.exhausted : oldFailures + b.exhausted;
    const latest = (old: unknown, now: number | null) =>
      now === null
        ? ((old as number | null) ?? null)
        : Math.max((old as number | null) ?? now, now);
    write.run(
      failingSince,
      failures,
      latest(w.health_last_success_at, b.successAt),
      latest(w.health_last_failure_at, b.failureAt),
      webhookId,
    );
    if (w.active !== 1) continue;
    const hook = { id: webhookId, accountId: b.accountId, url: w.url as string };
    if (b.successAt !== null && oldFailures > 0) {
      addNotice(stmt, hook, 'recovered', b.successAt, {
        failingSince: oldSince,
        failedDeliveries: oldFailures,
      });
    }
    if (failures > 0 && (oldFailures === 0 || b.successAt !== null)) {
      addNotice(stmt, hook, 'failing', b.now, {
        failingSince,
        failedDeliveries: failures,
        lastError: b.lastError,
      });
    }
    if (b.gone) addNotice(stmt, hook, 'disabled', b.now, { reason: 'gone' });
  }
}

/** `Store.disableFailingWebhooks`. */
export function disableFailingWebhooks(
  db: Database.Database,
  stmt: Stmt,
  failingSince: number,
  now: number,
): number {
  return db
    .transaction(() => {
      const rows = stmt(
        `UPDATE webhooks SET active = 0, disabled_reason = 'failing', updated_at = ?
         WHERE active = 1 AND listen = 0 AND health_consecutive_failures > 0
           AND health_failing_since <= ?
         RETURNING id, account_id, url`,
      ).all(now, failingSince) as Row[];
      for (const r of rows) {
        const hook = {
          id: r.id as string,
          accountId: r.account_id as string,
          url: r.url as string,
        };
        addNotice(stmt, hook, 'disabled', now, { reason: 'failing' });
      }
      return rows.length;
    })
    .immediate();
}

/**
 * A user's change of `active`, in `updateWebhook`'s transaction before its update: enabling an
 * inactive webhook clears its health (it starts again from healthy), disabling an active one
 * tells the account (`manual`).
 */
export function userActivation(
  stmt: Stmt,
  accountId: string,
  id: string,
  active: boolean,
  now: number,
): void {
  const w = stmt(
    'SELECT id, account_id, url, active FROM webhooks WHERE account_id = ? AND id = ? AND listen = 0',
  ).get(accountId, id) as Row | undefined;
  if (!w || (w.active === 1) === active) return;
  if (active) {
    stmt(
      `UPDATE webhooks SET health_failing_since = NULL, health_consecutive_failures = 0
       WHERE id = ?`,
    ).run(id);
  } else {
    addNotice(stmt, { id, accountId, url: w.url as string }, 'disabled', now, {
      reason: 'manual',
    });
  }
}

/**
 * A new URL, in `updateWebhook`'s transaction before its update: the certificate recorded was
 * another endpoint's, and its warnings with it.
 */
export function urlChange(stmt: Stmt, accountId: string, id: string, url: string): void {
  stmt(
    `UPDATE webhooks SET certificate_expires_at = NULL, certificate_warned_days = NULL
     WHERE account_id = ? AND id = ? AND listen = 0 AND url <> ?`,
  ).run(accountId, id, url);
}

/** `Store.listWebhookNotices`. */
export function listWebhookNotices(stmt: Stmt, limit: number): WebhookNotice[] {
  return (stmt('SELECT * FROM webhook_notices ORDER BY id LIMIT ?').all(limit) as Row[]).map(
    toWebhookNotice,
  );
}

/** `Store.publishWebhookNotices`: the fan-out of `insert-events.ts`, but the webhook it is about. */
export function publishWebhookNotices(
  db: Database.Database,
  stmt: Stmt,
  events: NoticeEvent[],
  now: number,
): number {
  return db
    .transaction(() => {
      const take = stmt('DELETE FROM webhook_notices WHERE id = ?');
      const hooksOf = stmt(
        'SELECT id, events, listen FROM webhooks WHERE account_id = ? AND active = 1',
      );
      const insertEvent = stmt(
        'INSERT INTO events (id, account_id, event, timestamp, body, deliveries) VALUES (?, ?, ?, ?, ?, ?)',
      );
      const insertDelivery = stmt(
        `INSERT INTO deliveries (id, account_id, event_id, event, webhook_id, status, attempt_count,
           next_attempt_at, created_at, updated_at, listen)
         VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?)`,
      );
      let created = 0;
      for (const n of events) {
        if (take.run(n.noticeId).changes === 0) continue;
        const targets = (hooksOf.all(n.accountId) as Row[]).filter(
          (h) => h.id !== n.webhookId && matchesEvent(json<string[]>(h.events, []), n.event.event),
        );
        const e = n.event;
        insertEvent.run(e.id, n.accountId, e.event, e.timestamp, e.body, targets.length);
        for (const h of targets) {
          insertDelivery.run(
            newId('dlv', now),
            n.accountId,
            e.id,
            e.event,
            h.id,
            now,
            now,
            now,
            h.listen,
          );
        }
        created += targets.length;
      }
      return created;
    })
    .immediate();
}

const DAY = 86_400_000;

/** The smallest warning threshold (days) a certificate expiring at `expiresAt` has reached. */
function dueWarning(expiresAt: number, now: number): number | undefined {
  let due: number | undefined;
  for (const days of CERTIFICATE_WARNING_DAYS) if (expiresAt - now <= days * DAY) due = days;
  return due;
}

/** `Store.recordCertificates`. */
export function recordCertificates(
  db: Database.Database,
  stmt: Stmt,
  seen: CertificateSeen[],
  now: number,
): number {
  return db
    .transaction(() => {
      const write = stmt(
        `UPDATE webhooks SET certificate_warned_days = CASE
           WHEN certificate_expires_at = ? THEN certificate_warned_days END,
           certificate_expires_at = ?
         WHERE id = ? AND account_id = ? AND listen = 0`,
      );
      for (const c of seen) write.run(c.expiresAt, c.expiresAt, c.webhookId, c.accountId);
      return warn(
        stmt,
        now,
        seen.map((c) => c.webhookId),
      );
    })
    .immediate();
}

/** `Store.warnExpiringCertificates`. */
export function warnExpiringCertificates(db: Database.Database, stmt: Stmt, now: number): number {
  return db.transaction(() => warn(stmt, now)).immediate();
}

function warn(stmt: Stmt, now: number, ids?: string[]): number {
  const horizon = now + CERTIFICATE_WARNING_DAYS[0] * DAY;
  const rows = (
    ids
      ? stmt(
          `SELECT id, account_id, url, certificate_expires_at, certificate_warned_days FROM webhooks
           WHERE id IN (SELECT value FROM json_each(?)) AND active = 1 AND listen = 0
             AND certificate_expires_at <= ?`,
        ).all(JSON.stringify(ids), horizon)
      : stmt(
          `SELECT id, account_id, url, certificate_expires_at, certificate_warned_days FROM webhooks
           WHERE active = 1 AND listen = 0 AND certificate_expires_at <= ?`,
        ).all(horizon)
  ) as Row[];
  const mark = stmt('UPDATE webhooks SET certificate_warned_days = ? WHERE id = ?');
  let told = 0;
  for (const r of rows) {
    const expiresAt = r.certificate_expires_at as number;
    const due = dueWarning(expiresAt, now);
    const warned = (r.certificate_warned_days as number | null) ?? null;
    if (due === undefined || (warned !== null && warned <= due)) continue;
    mark.run(due, r.id);
    const hook = { id: r.id as string, accountId: r.account_id as string, url: r.url as string };
    addNotice(stmt, hook, 'certificate_expiring', now, {
      expiresAt,
      daysLeft: Math.max(0, Math.floor((expiresAt - now) / DAY)),
    });
    told++;
  }
  return told;
}

/** `Store.countWebhookHealth`. */
export function countWebhookHealth(stmt: Stmt): WebhookHealthCounts {
  const failing = stmt(
    `SELECT count(*) AS n FROM webhooks
     WHERE active = 1 AND health_consecutive_failures > 0 AND listen = 0`,
  ).get() as Row;
  const disabled: WebhookHealthCounts['disabled'] = { gone: 0, failing: 0, manual: 0 };
  const rows = stmt(
    `SELECT disabled_reason AS reason, count(*) AS n FROM webhooks
     WHERE active = 0 AND listen = 0 GROUP BY disabled_reason`,
  ).all() as Row[];
  for (const r of rows) {
    const reason = (r.reason as DisabledReason | null) ?? 'manual';
    disabled[reason] += r.n as number;
  }
  return { failing: failing.n as number, disabled };
}
