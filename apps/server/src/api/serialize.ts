/**
 * Store rows → API JSON (SPEC §5): snake_case fields, RFC 3339 UTC times, custom header values
 * masked. Nothing here decrypts.
 */
import type {
  AttemptRow,
  DeliveryDetail,
  DeliveryRow,
  EventDetail,
  EventRow,
  WebhookRow,
} from '../store/types.js';

export const MASK = '••••';

/** Epoch ms → RFC 3339 UTC (`2024-01-15T10:35:00.000Z`). */
export function rfc3339(ms: number): string {
  return new Date(ms).toISOString();
}

const maybeTime = (ms: number | null) => (ms === null ? null : rfc3339(ms));

export function maskedHeaders(names: readonly string[]): Record<string, string> {
  return Object.fromEntries(names.map((n) => [n, MASK]));
}

export function serializeWebhook(row: WebhookRow, secret?: string) {
  return {
    id: row.id,
    name: row.name,
    url: row.url,
    events: row.events,
    active: row.active,
    disabled_reason: row.disabledReason,
    description: row.description,
    headers: maskedHeaders(row.headerNames),
    metadata: row.metadata,
    created_at: rfc3339(row.createdAt),
    updated_at: rfc3339(row.updatedAt),
    last_delivery_at: maybeTime(row.lastDeliveryAt),
    last_delivery_status: row.lastDeliveryStatus,
    health: serializeHealth(row),
    ...(secret === undefined ? {} : { secret }),
  };
}

/** A webhook's `health` (SPEC §5): its state is read from `active` and the failure count. */
export function serializeHealth(row: Pick<WebhookRow, 'active' | 'health'>) {
  const h = row.health;
  return {
    state: !row.active ? 'disabled' : h.consecutiveFailures > 0 ? 'failing' : 'healthy',
    failing_since: maybeTime(h.failingSince),
    consecutive_failures: h.consecutiveFailures,
    last_success_at: maybeTime(h.lastSuccessAt),
    last_failure_at: maybeTime(h.lastFailureAt),
    certificate_expires_at: maybeTime(h.certificateExpiresAt),
  };
}

/** The stored envelope is the source of the event's `timestamp` and `data`. */
export function serializeEvent(row: EventRow | EventDetail) {
  const envelope = JSON.parse(row.body) as { timestamp?: string; data?: unknown };
  return {
    id: row.id,
    event: row.event,
    timestamp: envelope.timestamp ?? rfc3339(row.timestamp),
    data: envelope.data ?? {},
    deliveries: row.deliveries,
    ...('deliveryIds' in row ? { delivery_ids: row.deliveryIds } : {}),
  };
}

export function serializeAttempt(row: AttemptRow) {
  return {
    id: row.id,
    number: row.number,
    started_at: rfc3339(row.startedAt),
    duration_ms: Math.round(row.durationMs),
    status_code: row.statusCode,
    error: row.error,
    request_headers: row.requestHeaders,
    response_headers: row.responseHeaders,
    response_body: row.responseBody,
    response_body_encoding: row.responseBodyEncoding,
    trigger: row.trigger,
  };
}

export function serializeDelivery(row: DeliveryRow | DeliveryDetail) {
  return {
    id: row.id,
    event_id: row.eventId,
    event: row.event,
    webhook_id: row.webhookId,
    status: row.status,
    attempt_count: row.attemptCount,
    next_attempt_at: row.status === 'pending' ? maybeTime(row.nextAttemptAt) : null,
    last_status_code: row.lastStatusCode,
    last_error: row.lastError,
    created_at: rfc3339(row.createdAt),
    updated_at: rfc3339(row.updatedAt),
    ...('attempts' in row ? { attempts: row.attempts.map(serializeAttempt) } : {}),
  };
}
