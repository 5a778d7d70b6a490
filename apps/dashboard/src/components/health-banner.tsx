import { useState } from 'react';
import type { Webhook } from '../api.js';
import { useApi } from '../api-context.js';
import { ErrorMessage } from './error-message.js';
import { Time } from './time.js';

const DAY = 86_400_000;
/** Certificates closer than this to their end are pointed out (the first warning event's). */
const CERTIFICATE_WARNING_MS = 14 * DAY;

/**
 * Where the recovery starts: a day (the default retry window) before the webhook started failing,
 * so the deliveries whose attempts ran into the failure are in it too.
 */
function recoverySince(webhook: Webhook): string {
  const h = webhook.health;
  const start = Date.parse(h.failing_since ?? h.last_failure_at ?? '') || Date.now();
  return new Date(start - DAY).toISOString();
}

/**
 * The banner of a webhook that is failing or was disabled by the service (410 Gone, or failing
 * past the auto-disable period), and of a certificate near its end. One button enables the
 * webhook (when it is off) and recovers its failed deliveries, in that order: recovered
 * deliveries of a disabled webhook would only fail again as `endpoint_disabled`.
 */
export function HealthBanner({
  webhook,
  onChange,
  onRecovered,
}: {
  webhook: Webhook;
  onChange: (w: Webhook) => void;
  onRecovered: () => void;
}) {
  const api = useApi();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [done, setDone] = useState<string>();
  const h = webhook.health;
  const serviceDisabled =
    !webhook.active &&
    (webhook.disabled_reason === 'gone' || webhook.disabled_reason === 'failing');
  const expires = h.certificate_expires_at ? Date.parse(h.certificate_expires_at) : null;
  const certificateSoon = expires !== null && expires - Date.now() < CERTIFICATE_WARNING_MS;

  async function enableAndRecover() {
    setBusy(true);
    setError(undefined);
    setDone(undefined);
    const since = recoverySince(webhook);
    try {
      const enabled = !webhook.active;
      if (enabled) onChange(await api.updateWebhook(webhook.id, { active: true }));
      const { deliveries } = await api.recover(webhook.id, { since });
      const what =
        deliveries === 0
          ? 'no failed deliveries to recover'
          : `${deliveries} failed ${deliveries === 1 ? 'delivery gets' : 'deliveries get'} a new attempt now`;
      setDone(`${enabled ? 'Enabled; ' : ''}${what}.`);
      onRecovered();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  if (!serviceDisabled && h.state !== 'failing' && !certificateSoon && !done) return null;
  return (
    <section className="card health-banner" aria-label="Endpoint health">
      {serviceDisabled && webhook.disabled_reason === 'gone' ? (
        <p className="warning">
          Disabled automatically: your receiver answered <strong>410 Gone</strong>. Enable the
          webhook when the URL accepts deliveries again, then recover the failed deliveries.
        </p>
      ) : null}
      {serviceDisabled && webhook.disabled_reason === 'failing' ? (
        <p className="warning">
          Disabled automatically: every delivery failed for too long ({h.consecutive_failures}{' '}
          {h.consecutive_failures === 1 ? 'delivery' : 'deliveries'} used up their attempts; first
          failure <Time iso={h.failing_since} fallback="unknown" />
          ). Fix the receiver, then enable the webhook and recover what failed.
        </p>
      ) : null}
      {webhook.active && h.state === 'failing' ? (
        <p className="warning">
          Failing: {h.consecutive_failures}{' '}
          {h.consecutive_failures === 1 ? 'delivery' : 'deliveries'} used up their attempts. First
          failure <Time iso={h.failing_since} fallback="unknown" />, last success{' '}
          <Time iso={h.last_success_at} fallback="never" />. The webhook is disabled if nothing
          succeeds for a while.
        </p>
      ) : null}
      {certificateSoon ? (
        <p className="warning">
          The TLS certificate of this endpoint expires <Time iso={h.certificate_expires_at} />.
          Renew it before then, or deliveries will fail.
        </p>
      ) : null}
      {serviceDisabled || (webhook.active && h.state === 'failing') ? (
        <div className="actions">
          <button type="button" disabled={busy} onClick={() => void enableAndRecover()}>
            {webhook.active
              ? 'Recover the failed deliveries'
              : 'Enable and recover the failed deliveries'}
          </button>
        </div>
      ) : null}
      <ErrorMessage error={error} title="The webhook was not recovered." />
      <p role="status">{done ?? ''}</p>
    </section>
  );
}
