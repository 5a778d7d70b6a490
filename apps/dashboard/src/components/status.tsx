import type { DeliveryStatus, ListenSession, Webhook } from '../api.js';

const deliveryLabels: Record<DeliveryStatus, string> = {
  pending: 'Pending',
  succeeded: 'Succeeded',
  failed: 'Failed',
};

export function DeliveryBadge({ status }: { status: DeliveryStatus | null }) {
  if (!status) return <span className="badge muted">No deliveries yet</span>;
  return <span className={`badge ${status}`}>{deliveryLabels[status]}</span>;
}

/** Why a webhook is disabled, in a few words. */
export const disabledReasons: Record<NonNullable<Webhook['disabled_reason']>, string> = {
  gone: 'receiver answered 410 Gone',
  failing: 'every delivery failed too long',
  manual: 'by a user',
};

export function ActiveBadge({ webhook }: { webhook: Webhook }) {
  if (webhook.active) return <span className="badge succeeded">Active</span>;
  const why =
    webhook.disabled_reason && webhook.disabled_reason !== 'manual'
      ? ` (${disabledReasons[webhook.disabled_reason]})`
      : '';
  return <span className="badge muted">Disabled{why}</span>;
}

/** The endpoint's health: healthy, failing (with how many deliveries), or disabled. */
export function HealthBadge({ webhook }: { webhook: Webhook }) {
  const h = webhook.health;
  if (h.state === 'failing') {
    const n = h.consecutive_failures;
    return (
      <span className="badge failed" title={`Failing since ${h.failing_since ?? '?'}`}>
        Failing ({n} {n === 1 ? 'delivery' : 'deliveries'})
      </span>
    );
  }
  if (h.state === 'disabled') return <span className="badge muted">Disabled</span>;
  return <span className="badge succeeded">Healthy</span>;
}

/** Whether a `listen` is connected to the session now. */
export function ConnectedBadge({ session }: { session: ListenSession }) {
  return session.connected ? (
    <span className="badge succeeded">Connected</span>
  ) : (
    <span className="badge muted">Disconnected</span>
  );
}

/** The answer of an attempt in a few words: `200`, `500`, `timeout`. */
export function outcomeText(statusCode: number | null, error: string | null): string {
  if (statusCode !== null && statusCode !== undefined) return `HTTP ${statusCode}`;
  if (error) return error.replaceAll('_', ' ');
  return '—';
}
