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

export function ActiveBadge({ webhook }: { webhook: Webhook }) {
  if (webhook.active) return <span className="badge succeeded">Active</span>;
  const why = webhook.disabled_reason === 'gone' ? ' (receiver answered 410 Gone)' : '';
  return <span className="badge muted">Disabled{why}</span>;
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
