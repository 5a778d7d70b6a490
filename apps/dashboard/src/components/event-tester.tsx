import { eventSamples } from '@agentfactory/webhooks';
import { type FormEvent, useId, useMemo, useState } from 'react';
import { ApiError, type TestResult } from '../api.js';
import { useApi } from '../api-context.js';
import { subscribableEvents } from '../catalog.js';
import { paths } from '../router.js';
import { checkEventData, type SchemaProblem } from '../schema-check.js';
import { useLoad } from '../use-load.js';
import { ErrorMessage } from './error-message.js';
import { HeadersTable } from './headers-table.js';
import { Loading } from './page-title.js';
import { ResponseBody } from './response-body.js';
import { outcomeText } from './status.js';

function sampleText(event: string): string {
  return JSON.stringify((eventSamples as Record<string, unknown>)[event] ?? {}, null, 2);
}

type Checked =
  | { state: 'valid'; data: unknown }
  | { state: 'unparsable'; error: string }
  | { state: 'invalid'; problems: SchemaProblem[] };

function check(event: string, text: string): Checked {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    return { state: 'unparsable', error: error instanceof Error ? error.message : String(error) };
  }
  const problems = checkEventData(event, data);
  return problems.length === 0 ? { state: 'valid', data } : { state: 'invalid', problems };
}

/**
 * Sends one catalog event, with its sample or edited data checked against its schema as you
 * type, to a webhook; shows what was sent, what came back, and a diagnosis of a failure.
 */
export function EventTester({ initialWebhookId }: { initialWebhookId?: string | undefined }) {
  const api = useApi();
  const webhooks = useLoad(() => api.listWebhooks({ limit: 100 }), [api]);
  const [picked, setPicked] = useState(initialWebhookId ?? '');
  const [event, setEvent] = useState(subscribableEvents[0]?.name ?? '');
  const [text, setText] = useState(() => sampleText(event));
  const [result, setResult] = useState<TestResult>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const checked = useMemo(() => check(event, text), [event, text]);
  const id = useId();

  const list = webhooks.data?.data ?? [];
  const webhookId = picked || list[0]?.id || '';

  async function send(e: FormEvent) {
    e.preventDefault();
    if (checked.state !== 'valid' || !webhookId) return;
    setBusy(true);
    setError(undefined);
    setResult(undefined);
    try {
      setResult(await api.testWebhook(webhookId, { event, data: checked.data }));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  if (webhooks.loading && !webhooks.data) return <Loading what="your webhooks" />;
  return (
    <section className="card" aria-labelledby="send-title">
      <h2 id="send-title">Send a test event</h2>
      <ErrorMessage error={webhooks.error} title="Your webhooks could not be loaded." />
      {webhooks.data && list.length === 0 ? (
        <p className="empty">
          No webhooks yet. <a href={paths.newWebhook}>Create one</a> to send it a test event.
        </p>
      ) : null}
      <form onSubmit={send}>
        <div className="inline-form">
          <div className="field">
            <label htmlFor={`${id}-webhook`}>Webhook</label>
            <select
              id={`${id}-webhook`}
              value={webhookId}
              onChange={(e) => setPicked(e.target.value)}
            >
              {list.map((w) => (
                <option key={w.id} value={w.id}>
                  {w.name} ({w.url})
                </option>
              ))}
            </select>
          </div>
          <div className="field">
            <label htmlFor={`${id}-event`}>Event</label>
            <select
              id={`${id}-event`}
              value={event}
              onChange={(e) => {
                setEvent(e.target.value);
                setText(sampleText(e.target.value));
              }}
            >
              {subscribableEvents.map((info) => (
                <option key={info.name} value={info.name}>
                  {info.name}
                </option>
              ))}
            </select>
          </div>
        </div>
        <div className="field">
          <label htmlFor={`${id}-data`}>Event data (JSON)</label>
          <textarea
            id={`${id}-data`}
            rows={12}
            spellCheck={false}
            value={text}
            onChange={(e) => setText(e.target.value)}
            aria-invalid={checked.state !== 'valid'}
            aria-describedby={`${id}-data-help ${id}-data-check`}
          />
          <p className="help" id={`${id}-data-help`}>
            The event's <code>data</code>, starting from its sample; checked against the event's
            JSON Schema as you type.{' '}
            <button type="button" className="link" onClick={() => setText(sampleText(event))}>
              Reset to the sample
            </button>
          </p>
          <div id={`${id}-data-check`} aria-live="polite">
            <DataCheck checked={checked} />
          </div>
        </div>
        <button type="submit" disabled={busy || checked.state !== 'valid' || !webhookId}>
          {busy ? 'Sending…' : 'Send'}
        </button>
        <p className="help">
          One attempt, right now, even while the webhook is disabled; never retried; marked with{' '}
          <code>X-AgentFactory-Test: 1</code>.
        </p>
      </form>
      <ErrorMessage
        error={error}
        title={
          error instanceof ApiError && (error.status === 422 || error.status === 413)
            ? 'The service refused the data.'
            : 'The test was not sent.'
        }
      />
      <div role="status" aria-live="polite">
        {result ? <Outcome result={result} webhookId={webhookId} /> : null}
      </div>
    </section>
  );
}

function DataCheck({ checked }: { checked: Checked }) {
  if (checked.state === 'valid') return <p className="help">Valid for this event's schema.</p>;
  if (checked.state === 'unparsable') {
    return (
      <div className="error" data-testid="data-problems">
        Not JSON: {checked.error}
      </div>
    );
  }
  return (
    <div className="error" data-testid="data-problems">
      Does not match the event's schema:
      <ul>
        {checked.problems.map((p) => (
          <li key={`${p.path}:${p.message}`}>
            <code>{p.path}</code> {p.message}
          </li>
        ))}
      </ul>
    </div>
  );
}

function Outcome({ result, webhookId }: { result: TestResult; webhookId: string }) {
  const { request, response, diagnosis } = result;
  return (
    <div className="tester-outcome">
      <div className={`result ${result.success ? 'ok' : 'bad'}`}>
        <p>
          <strong>
            {result.success ? 'Delivered' : 'Failed'}:{' '}
            {outcomeText(result.status_code, result.error)}
          </strong>{' '}
          in {result.duration_ms} ms.{' '}
          <a href={paths.delivery(webhookId, result.delivery_id)}>View the delivery</a>
        </p>
        {diagnosis ? (
          <dl className="explanation" aria-label="Diagnosis">
            <dt>Diagnosis</dt>
            <dd>
              {diagnosis.message} <code>{diagnosis.code}</code>
            </dd>
            <dt>Fix</dt>
            <dd>{diagnosis.fix}</dd>
          </dl>
        ) : null}
      </div>
      <section aria-labelledby="sent-title">
        <h3 id="sent-title">Sent</h3>
        <p className="url">
          <code>
            {request.method} {request.url}
          </code>
        </p>
        <HeadersTable headers={request.headers} caption="Sent headers" />
        <p className="help">Body, exactly as sent:</p>
        <pre>{request.body}</pre>
      </section>
      <section aria-labelledby="received-title">
        <h3 id="received-title">Received</h3>
        {response ? (
          <>
            <p>
              <strong>HTTP {response.status}</strong>
            </p>
            <HeadersTable headers={response.headers} caption="Received headers" />
            <p className="help">Body (the first 4096 bytes at most):</p>
            <ResponseBody body={response.body} encoding={response.body_encoding} />
          </>
        ) : (
          <p className="muted">No answer arrived.</p>
        )}
      </section>
    </div>
  );
}
