import type {
  AccountRow,
  ApiKeyRow,
  AttemptRow,
  AuditEntryRow,
  ClaimedDelivery,
  DeliveryRow,
  EventRow,
  ListenSessionRow,
  WebhookNotice,
  WebhookRow,
} from '../types.js';
import { listenConnected } from '../types.js';

// biome-ignore lint/suspicious/noExplicitAny: rows come untyped from the driver and are mapped here.
export type Raw = Record<string, any>;

export const accountRow = (r: Raw): AccountRow => ({
  id: r.id,
  name: r.name,
  createdAt: r.created_at,
});

export const apiKeyRow = (r: Raw): ApiKeyRow => ({
  id: r.id,
  accountId: r.account_id,
  keyHash: r.key_hash,
  prefix: r.prefix,
  name: r.name,
  scopes: r.scopes,
  createdAt: r.created_at,
  expiresAt: r.expires_at ?? null,
  lastUsedAt: r.last_used_at ?? null,
  revokedAt: r.revoked_at ?? null,
});

export const auditRow = (r: Raw): AuditEntryRow => ({
  id: r.id,
  accountId: r.account_id,
  action: r.action,
  actorKeyId: r.actor_key_id ?? null,
  targetId: r.target_id ?? null,
  changes: r.changes,
  createdAt: r.created_at,
});

/**
 * A webhook with `last_delivery_*` read from its latest attempt (its start, and `succeeded` or
 * `failed`). Reading them keeps completions from updating one hot webhook row per attempt, which
 * would serialize every worker delivering to a busy endpoint. `from`: the table, or a CTE of
 * webhook rows an upsert returned.
 */
export const webhookSelect = (where: string, from = 'webhooks') => `
  select w.*, la.started_at as last_delivery_at,
    case when la.succeeded then 'succeeded' when not la.succeeded then 'failed' end
      as last_delivery_status
  from ${from} w
  left join lateral (
    select a.started_at, a.succeeded from attempts a
    where a.webhook_id = w.id
    order by a.started_at desc, a.id desc limit 1
  ) la on true
  where w.deleted_at is null and ${where}`;

export const webhookRow = (r: Raw): WebhookRow => ({
  id: r.id,
  accountId: r.account_id,
  name: r.name,
  url: r.url,
  events: r.events,
  active: r.active,
  disabledReason: r.disabled_reason,
  description: r.description,
  headersEnc: r.headers_enc,
  headerNames: r.header_names,
  metadata: r.metadata,
  secretEnc: r.secret_enc,
  previousSecretEnc: r.previous_secret_enc,
  previousSecretExpiresAt: r.previous_secret_expires_at,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  lastDeliveryAt: r.last_delivery_at ?? null,
  lastDeliveryStatus: r.last_delivery_status ?? null,
  health: {
    failingSince: r.health_failing_since ?? null,
    consecutiveFailures: r.health_consecutive_failures ?? 0,
    lastSuccessAt: r.health_last_success_at ?? null,
    lastFailureAt: r.health_last_failure_at ?? null,
    certificateExpiresAt: r.certificate_expires_at ?? null,
  },
});

export const webhookNoticeRow = (r: Raw): WebhookNotice => ({
  id: Number(r.id),
  accountId: r.account_id,
  webhookId: r.webhook_id,
  url: r.url,
  kind: r.kind,
  at: r.at,
  failingSince: r.failing_since,
  failedDeliveries: r.failed_deliveries,
  lastError: r.last_error,
  reason: r.reason,
  host: r.host,
  expiresAt: r.expires_at,
  daysLeft: r.days_left,
});

/** A listen session's row of `webhooks` (read with `webhookSelect`); `connected` as of `now`. */
export const listenSessionRow = (r: Raw, now: number): ListenSessionRow => ({
  id: r.id,
  accountId: r.account_id,
  name: r.name,
  forwardTo: r.url,
  events: r.events,
  connected: listenConnected(r.listen_connection, r.listen_seen_at, now),
  connectedAt: r.listen_connected_at,
  seenAt: r.listen_seen_at,
  createdAt: r.created_at,
  lastDeliveryAt: r.last_delivery_at ?? null,
  lastDeliveryStatus: r.last_delivery_status ?? null,
});

export const eventRow = (r: Raw): EventRow => ({
  id: r.id,
  accountId: r.account_id,
  event: r.event,
  timestamp: r.timestamp,
  body: r.body,
  deliveries: r.deliveries,
});

/**
 * Delivery rows as `deliveryRow` reads them: with `leased_by`, the owner of the delivery's lease
 * if it has one (`delivery_leases`, migration 0013), for `inFlight`. Followed by a `where`.
 */
export const deliverySelect = `select d.*,
  (select l.owner from delivery_leases l where l.delivery_id = d.id) as leased_by
  from deliveries d`;

export const deliveryRow = (r: Raw): DeliveryRow => ({
  id: r.id,
  accountId: r.account_id,
  eventId: r.event_id,
  event: r.event,
  webhookId: r.webhook_id,
  status: r.status,
  attemptCount: r.attempt_count,
  nextAttemptAt: r.status === 'pending' ? r.next_attempt_at : null,
  lastStatusCode: r.last_status_code,
  lastError: r.last_error,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  inFlight: (r.leased_by ?? null) !== null,
});

export const attemptRow = (r: Raw): AttemptRow => ({
  id: r.id,
  deliveryId: r.delivery_id,
  number: r.number,
  startedAt: r.started_at,
  durationMs: r.duration_ms,
  statusCode: r.status_code,
  error: r.error,
  requestHeaders: r.request_headers,
  responseHeaders: r.response_headers,
  responseBody: r.response_body,
  // Rows written before the encoding was recorded hold decoded text.
  responseBodyEncoding: r.response_body_encoding ?? (r.response_body === null ? null : 'utf8'),
  trigger: r.trigger,
  succeeded: r.succeeded,
});

/** A claimed delivery joined with its event (`e_*`) and webhook (`w_*`, null for a tombstone). */
export const claimedRow = (r: Raw): ClaimedDelivery => ({
  id: r.id,
  accountId: r.account_id,
  eventId: r.event_id,
  event: r.event,
  eventTimestamp: r.e_timestamp,
  body: r.e_body,
  attemptCount: r.attempt_count,
  trigger: r.trigger,
  resumeAt: r.resume_at,
  statusBefore: r.status_before ?? 'pending',
  webhook:
    r.w_id === null || r.w_deleted_at !== null
      ? null
      : {
          id: r.w_id,
          url: r.w_url,
          active: r.w_active,
          headersEnc: r.w_headers_enc,
          secretEnc: r.w_secret_enc,
          previousSecretEnc: r.w_previous_secret_enc,
          previousSecretExpiresAt: r.w_previous_secret_expires_at,
        },
});

/** The columns `claimedRow` reads, from a CTE `c` of delivery rows. */
export const claimedSelect = `
  select c.*, e.timestamp as e_timestamp, e.body as e_body,
    w.id as w_id, w.url as w_url, w.active as w_active, w.headers_enc as w_headers_enc,
    w.secret_enc as w_secret_enc, w.previous_secret_enc as w_previous_secret_enc,
    w.previous_secret_expires_at as w_previous_secret_expires_at, w.deleted_at as w_deleted_at
  from c
  join events e on e.id = c.event_id
  left join webhooks w on w.id = c.webhook_id`;
