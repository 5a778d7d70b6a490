/**
 * A health notice (`WebhookNotice`, written by the store in the transaction that changed the
 * webhook) as the operational event the account receives (SPEC §2): `webhook.<kind>` with the
 * data its catalog schema describes, in the envelope every event has.
 */
import type { OperationalEventName } from '@agentfactory/webhooks';
import { buildEnvelope } from '../api/envelope.js';
import { rfc3339 } from '../api/serialize.js';
import type { NoticeEvent, WebhookNotice } from '../store/types.js';

/** The event's `data`: the webhook, its URL and the numbers behind the notice. */
export function noticeData(n: WebhookNotice): Record<string, unknown> {
  const about = { webhook_id: n.webhookId, url: n.url };
  switch (n.kind) {
    case 'failing':
      return {
        ...about,
        failing_since: rfc3339(n.failingSince ?? n.at),
        failed_deliveries: n.failedDeliveries ?? 1,
        ...(n.lastError === null ? {} : { last_error: n.lastError }),
      };
    case 'disabled':
      return { ...about, reason: n.reason ?? 'manual', disabled_at: rfc3339(n.at) };
    case 'recovered':
      return {
        ...about,
        recovered_at: rfc3339(n.at),
        failing_since: rfc3339(n.failingSince ?? n.at),
      };
    case 'certificate_expiring':
      return {
        ...about,
        host: n.host ?? new URL(n.url).hostname,
        expires_at: rfc3339(n.expiresAt ?? n.at),
        days_left: n.daysLeft ?? 0,
      };
  }
}

/** The notice's event, accepted `now`, for `Store.publishWebhookNotices`. */
export function noticeEvent(n: WebhookNotice, now: number): NoticeEvent {
  const name: OperationalEventName = `webhook.${n.kind}`;
  return {
    noticeId: n.id,
    accountId: n.accountId,
    webhookId: n.webhookId,
    event: buildEnvelope(name, noticeData(n), now),
  };
}
