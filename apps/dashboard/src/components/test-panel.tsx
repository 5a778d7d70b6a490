import { type FormEvent, useState } from 'react';
import type { TestResult } from '../api.js';
import { useApi } from '../api-context.js';
import { subscribableEvents } from '../catalog.js';
import { paths } from '../router.js';
import { ErrorMessage } from './error-message.js';
import { ResponseBody } from './response-body.js';
import { outcomeText } from './status.js';

/** Sends one test delivery now and shows what the receiver answered. */
export function TestPanel({ webhookId, onSent }: { webhookId: string; onSent: () => void }) {
  const api = useApi();
  const [event, setEvent] = useState('');
  const [result, setResult] = useState<TestResult>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();

  async function send(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    setResult(undefined);
    try {
      setResult(await api.testWebhook(webhookId, event ? { event } : {}));
      onSent();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="card" aria-labelledby="test-title">
      <h2 id="test-title">Send a test event</h2>
      <form onSubmit={send} className="inline-form">
        <div className="field">
          <label htmlFor="test-event">Event to send</label>
          <select id="test-event" value={event} onChange={(e) => setEvent(e.target.value)}>
            <option value="">webhook.test (a test message)</option>
            {subscribableEvents.map((info) => (
              <option key={info.name} value={info.name}>
                {info.name} (sample data)
              </option>
            ))}
          </select>
        </div>
        <button type="submit" disabled={busy}>
          {busy ? 'Sending…' : 'Send test event'}
        </button>
      </form>
      <p className="help">
        One attempt, right now, even while the webhook is disabled; never retried. A sample event
        carries the header <code>X-AgentFactory-Test: 1</code>.{' '}
        <a href={paths.testerFor(webhookId)}>Open the Tester</a> to edit the data and see every
        header sent.
      </p>
      <ErrorMessage error={error} title="The test was not sent." />
      <div role="status" aria-live="polite">
        {result ? (
          <div className={`result ${result.success ? 'ok' : 'bad'}`}>
            <p>
              <strong>
                {result.success ? 'Test delivered' : 'Test failed'}:{' '}
                {outcomeText(result.status_code, result.error)}
              </strong>
              {result.duration_ms !== null ? ` in ${result.duration_ms} ms` : ''}.{' '}
              <a href={paths.delivery(webhookId, result.delivery_id)}>View the delivery</a>
            </p>
            {result.response_body ? (
              <>
                <p className="help">Your receiver answered:</p>
                <ResponseBody
                  body={result.response_body}
                  encoding={result.response_body_encoding}
                />
              </>
            ) : null}
          </div>
        ) : null}
      </div>
    </section>
  );
}
