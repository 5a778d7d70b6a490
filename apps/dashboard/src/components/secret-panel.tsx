import { type FormEvent, useState } from 'react';
import type { SecretInfo } from '../api.js';
import { useApi } from '../api-context.js';
import { formatUtc } from '../format.js';
import { CopyButton } from './copy-button.js';
import { ErrorMessage } from './error-message.js';

const gracePeriods = [
  { seconds: 0, label: 'No grace period: the old secret stops working now' },
  { seconds: 3600, label: '1 hour' },
  { seconds: 86_400, label: '24 hours (default)' },
  { seconds: 604_800, label: '7 days' },
];

/** Reveal the signing secret, and rotate it with a grace period. */
export function SecretPanel({ webhookId }: { webhookId: string }) {
  const api = useApi();
  const [secret, setSecret] = useState<SecretInfo>();
  const [rotated, setRotated] = useState(false);
  const [grace, setGrace] = useState(86_400);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();

  async function reveal() {
    setBusy(true);
    setError(undefined);
    try {
      setSecret(await api.getSecret(webhookId));
      setRotated(false);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  async function rotate(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      setSecret(await api.rotateSecret(webhookId, { grace_period_seconds: grace }));
      setRotated(true);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="card" aria-labelledby="secret-title">
      <h2 id="secret-title">Signing secret</h2>
      <p className="help">
        Every delivery is signed with this secret (<code>X-AgentFactory-Signature</code> and the
        Standard Webhooks <code>webhook-signature</code>). Your receiver verifies with it.
      </p>
      {secret ? (
        <div className="secret-box" role="status">
          {rotated ? (
            <p>
              <strong>The secret was rotated.</strong> Your new secret:
            </p>
          ) : null}
          <code data-testid="webhook-secret">{secret.secret}</code>
          <CopyButton value={secret.secret} label="secret" />
          {secret.previous_secret_expires_at ? (
            <p className="help">
              The previous secret stays valid until{' '}
              <time dateTime={secret.previous_secret_expires_at}>
                {formatUtc(secret.previous_secret_expires_at)}
              </time>
              .
            </p>
          ) : null}
          <button type="button" className="secondary small" onClick={() => setSecret(undefined)}>
            Hide secret
          </button>
        </div>
      ) : (
        <button type="button" className="secondary" onClick={reveal} disabled={busy}>
          Reveal secret
        </button>
      )}
      <form onSubmit={rotate} className="rotate">
        <h3>Rotate the secret</h3>
        <p className="help">
          Rotating creates a new secret. During the grace period every delivery carries two
          signatures, the new one first (<code>sha256=&lt;new&gt;,sha256=&lt;old&gt;</code>), so a
          receiver that checks each signature keeps working while you deploy the new secret. A
          receiver that compares the whole header fails during that period. After it, only the new
          secret signs.
        </p>
        <div className="field">
          <label htmlFor="grace-period">Keep the previous secret valid for</label>
          <select
            id="grace-period"
            value={grace}
            onChange={(e) => setGrace(Number(e.target.value))}
          >
            {gracePeriods.map((g) => (
              <option key={g.seconds} value={g.seconds}>
                {g.label}
              </option>
            ))}
          </select>
        </div>
        <button type="submit" disabled={busy}>
          Rotate secret
        </button>
      </form>
      <ErrorMessage error={error} />
    </section>
  );
}
