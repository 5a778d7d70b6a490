/**
 * Rows of the SQLite store ↔ the Store's types (as `postgres/rows.ts` on the other side): JSON
 * columns parsed, integers to booleans, null for absent values.
 */
import type Database from 'better-sqlite3';
import type {
  AttemptRow,
  ClaimedDelivery,
  DeliveryRow,
  DeliveryStatus,
  DisabledReason,
  EventRow,
  ListenSessionRow,
  WebhookNotice,
  WebhookNoticeKind,
  WebhookRow,
} from '../types.js';
import { listenConnected } from '../types.js';

export type Row = Record<string, unknown>;

export function json<T>(text: unknown, fallback: T): T {
  if (typeof text !== 'string') return fallback;
  return JSON.parse(text) as T;
}

export function toWebhook(r: Row): WebhookRow {
  return {
    id: r.id as string,
    accountId: r.account_id as string,
    name: r.name as string,
    url: r.url as string,
    events: json<string[]>(r.events, []),
    active: r.active === 1,
    disabledReason: (r.disabled_reason as WebhookRow['disabledReason']) ?? null,
    description: (r.description as string | null) ?? null,
    headersEnc: (r.headers_enc as string | null) ?? null,
    headerNames: json<string[]>(r.header_names, []),
    metadata: json<Record<string, string>>(r.metadata, {}),
    secretEnc: r.secret_enc as string,
    previousSecretEnc: (r.previous_secret_enc as string | null) ?? null,
    previousSecretExpiresAt: (r.previous_secret_expires_at as number | null) ?? null,
    createdAt: r.created_at as number,
    updatedAt: r.updated_at as number,
    lastDeliveryAt: (r.last_delivery_at as number | null) ?? null,
    lastDeliveryStatus: (r.last_delivery_status as DeliveryStatus | null) ?? null,
    health: {
      failingSince: (r.health_failing_since as number | null) ?? null,
      consecutiveFailures: (r.health_consecutive_failures as number | null) ?? 0,
      lastSuccessAt: (r.health_last_success_at as number | null) ?? null,
      lastFailureAt: (r.health_last_failure_at as number | null) ?? null,
      certificateExpiresAt: (r.certificate_expires_at as number | null) ?? null,
    },
  };
}

export function toWebhookNotice(r: Row): WebhookNotice {
  return {
    id: r.id as number,
    accountId: r.account_id as string,
    webhookId: r.webhook_id as string,
    url: r.url as string,
    kind: r.kind as WebhookNoticeKind,
    at: r.at as number,
    failingSince: (r.failing_since as number | null) ?? null,
    failedDeliveries: (r.failed_deliveries as number | null) ?? null,
    lastError: (r.last_error as string | null) ?? null,
    reason: (r.reason as DisabledReason | null) ?? null,
    host: (r.host as string | null) ?? null,
    expiresAt: (r.expires_at as number | null) ?? null,
    daysLeft: (r.days_left as number | null) ?? null,
  };
}

/** A listen session's row of `webhooks` (`listen` = 1); `connected` as of `now`. */
export function toListenSession(r: Row, now: number): ListenSessionRow {
  const connection = (r.listen_connection as string | null) ?? null;
  const seenAt = (r.listen_seen_at as number | null) ?? null;
  return {
    id: r.id as string,
    accountId: r.account_id as string,
    name: r.name as string,
    forwardTo: r.url as string,
    events: json<string[]>(r.events, []),
    connected: listenConnected(connection, seenAt, now),
    connectedAt: (r.listen_connected_at as number | null) ?? null,
    seenAt,
    createdAt: r.created_at as number,
    lastDeliveryAt: (r.last_delivery_at as number | null) ?? null,
    lastDeliveryStatus: (r.last_delivery_status as DeliveryStatus | null) ?? null,
  };
}

export function toEvent(r: Row): EventRow {
  return {
    id: r.id as string,
    accountId: r.account_id as string,
    event: r.event as string,
    timestamp: r.timestamp as number,
    body: r.body as string,
    deliveries: r.deliveries as number,
  };
}

export function toDelivery(r: Row): DeliveryRow {
  return {
    id: r.id as string,
    accountId: r.account_id as string,
    eventId: r.event_id as string,
    event: r.event as string,
    webhookId: r.webhook_id as string,
    status: r.status as DeliveryStatus,
    attemptCount: r.attempt_count as number,
    nextAttemptAt: r.status === 'pending' ? ((r.next_attempt_at as number | null) ?? null) : null,
    lastStatusCode: (r.last_status_code as number | null) ?? null,
    lastError: (r.last_error as string | null) ?? null,
    createdAt: r.created_at as number,
    updatedAt: r.updated_at as number,
    // Leases are cleared on completion and release, and those of a dead process when the store
    // opens, so a held lease means an attempt is running.
    inFlight: r.lease_owner != null,
  };
}

export function toAttempt(r: Row): AttemptRow {
  return {
    id: r.id as string,
    deliveryId: r.delivery_id as string,
    number: r.number as number,
    startedAt: r.started_at as number,
    durationMs: r.duration_ms as number,
    statusCode: (r.status_code as number | null) ?? null,
    error: (r.error as AttemptRow['error']) ?? null,
    requestHeaders: json<Record<string, string>>(r.request_headers, {}),
    responseHeaders: json<Record<string, string>>(r.response_headers, {}),
    responseBody: (r.response_body as string | null) ?? null,
    // Rows written before the encoding was recorded hold decoded text.
    responseBodyEncoding:
      (r.response_body_encoding as AttemptRow['responseBodyEncoding']) ??
      (r.response_body == null ? null : 'utf8'),
    trigger: r.trigger as AttemptRow['trigger'],
    succeeded: r.succeeded === 1,
  };
}

export function toClaimed(r: Row): ClaimedDelivery {
  return {
    id: r.id as string,
    accountId: r.account_id as string,
    eventId: r.event_id as string,
    event: r.event as string,
    eventTimestamp: r.event_timestamp as number,
    body: r.body as string,
    attemptCount: r.attempt_count as number,
    trigger: r.trigger as ClaimedDelivery['trigger'],
    resumeAt: (r.resume_at as number | null) ?? null,
    statusBefore: ((r.status_before as DeliveryStatus | null) ?? 'pending') as DeliveryStatus,
    webhook:
      r.w_id == null
        ? null
        : {
            id: r.w_id as string,
            url: r.w_url as string,
            active: r.w_active === 1,
            headersEnc: (r.w_headers_enc as string | null) ?? null,
            secretEnc: r.w_secret_enc as string,
            previousSecretEnc: (r.w_previous_secret_enc as string | null) ?? null,
            previousSecretExpiresAt: (r.w_previous_secret_expires_at as number | null) ?? null,
          },
  };
}

export const CLAIMED_SELECT = `
SELECT d.id, d.account_id, d.event_id, d.event, d.attempt_count, d.trigger, d.resume_at,
       d.status_before, d.next_attempt_at, e.timestamp AS event_timestamp, e.body,
       w.id AS w_id, w.url AS w_url, w.active AS w_active, w.headers_enc AS w_headers_enc,
       w.secret_enc AS w_secret_enc, w.previous_secret_enc AS w_previous_secret_enc,
       w.previous_secret_expires_at AS w_previous_secret_expires_at
FROM deliveries d
JOIN events e ON e.id = d.event_id
LEFT JOIN webhooks w ON w.id = d.webhook_id`;

/** Prepares (once per distinct SQL text, see `SqliteStore.stmt`) the statement for `sql`. */
export type Stmt = (sql: string) => Database.Statement;

/** Runs `fn` in a transaction, or in a savepoint when one is open already (`transactions`). */
export type RunInTransaction = <T>(fn: () => T) => T;

/**
 * The connection's transaction runners, made once. better-sqlite3's `db.transaction(fn)` makes
 * four wrappers and defines five properties on each at every call, on the hot path (an insert, a
 * claim and a completion per event when events come one at a time). Here the wrappers are made
 * once and the work is their argument.
 */
export function transactions(db: Database.Database): { immediate: RunInTransaction } {
  const tx = db.transaction((fn: () => unknown) => fn());
  return { immediate: <T>(fn: () => T) => tx.immediate(fn) as T };
}

/**
 * `LIMIT n`, written into a statement's text rather than bound: SQLite plans an `ORDER BY` with
 * its LIMIT's value in mind, so a statement whose LIMIT is a bound parameter is parsed and planned
 * again at every run (9-14 µs each time, measured on the claim's statements, which ran several
 * per claim). Each distinct `n` is a statement of its own in the cache (`Stmt`): callers keep `n`
 * within a small range.
 */
export function limitOf(n: number): string {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`not a row count: ${n}`);
  return `LIMIT ${n}`;
}
