import { useEffect, useRef, useState } from 'react';
import type { Attempt, Delivery } from '../api.js';
import { ApiError } from '../api.js';
import { useApi } from '../api-context.js';
import { ErrorMessage } from '../components/error-message.js';
import { HeadersTable } from '../components/headers-table.js';
import { Loading, PageTitle } from '../components/page-title.js';
import { ResponseBody } from '../components/response-body.js';
import { DeliveryBadge, outcomeText } from '../components/status.js';
import { Time } from '../components/time.js';
import { formatUtc } from '../format.js';
import { isListenSessionId, paths } from '../router.js';
import { useLoad } from '../use-load.js';

const pollMs = 800;
const maxPolls = 40;

/** One delivery: its request body, every attempt, and a retry. */
export function DeliveryPage({ webhookId, deliveryId }: { webhookId: string; deliveryId: string }) {
  const api = useApi();
  const delivery = useLoad(() => api.getDelivery(deliveryId), [api, deliveryId]);
  const eventId = delivery.data?.event_id;
  const event = useLoad(async () => (eventId ? api.getEvent(eventId) : undefined), [api, eventId]);
  const [retryError, setRetryError] = useState<unknown>();
  const [retrying, setRetrying] = useState(false);
  const polls = useRef(0);
  const { reload, loading } = delivery;
  const pending = delivery.data?.status === 'pending';

  useEffect(() => {
    if (!(pending || retrying) || loading || polls.current >= maxPolls) return;
    const timer = setTimeout(() => {
      polls.current++;
      void reload();
    }, pollMs);
    return () => clearTimeout(timer);
  }, [pending, retrying, loading, reload]);

  const attemptCount = delivery.data?.attempts?.length ?? 0;
  const before = useRef(0);
  useEffect(() => {
    if (retrying && attemptCount > before.current) setRetrying(false);
  }, [retrying, attemptCount]);

  async function retry(d: Delivery) {
    setRetryError(undefined);
    try {
      before.current = d.attempts?.length ?? d.attempt_count;
      polls.current = 0;
      await api.retryDelivery(d.id);
      setRetrying(true);
    } catch (err) {
      setRetryError(err);
    }
  }

  const d = delivery.data;
  // A listen session's delivery: no webhook page to go back to (it would answer 404).
  const sentTo = d?.webhook_id ?? webhookId;
  const toSession = isListenSessionId(sentTo);
  return (
    <section>
      <p>
        {toSession ? (
          <a href={paths.tester}>← Back to the listen sessions</a>
        ) : (
          <a href={paths.webhook(webhookId)}>← Back to the webhook</a>
        )}
      </p>
      <PageTitle>Delivery {d ? <code>{d.event}</code> : null}</PageTitle>
      <ErrorMessage error={delivery.error} title="Could not load this delivery." />
      {!d && delivery.loading ? <Loading what="the delivery" /> : null}
      {d ? (
        <>
          <section className="card" aria-label="Delivery summary">
            <dl className="overview">
              <dt>Status</dt>
              <dd>
                <DeliveryBadge status={d.status} />
                {retrying ? <span role="status"> New attempt running…</span> : null}
              </dd>
              <dt>Delivery ID</dt>
              <dd>
                <code>{d.id}</code>
              </dd>
              <dt>Sent to</dt>
              <dd>
                {toSession ? (
                  <>
                    listen session <code>{d.webhook_id}</code>
                  </>
                ) : (
                  <a href={paths.webhook(d.webhook_id)}>
                    webhook <code>{d.webhook_id}</code>
                  </a>
                )}
              </dd>
              <dt>Event ID</dt>
              <dd>
                <code>{d.event_id}</code>
              </dd>
              <dt>Attempts</dt>
              <dd>{d.attempt_count}</dd>
              {d.next_attempt_at ? (
                <>
                  <dt>Next attempt</dt>
                  <dd>
                    <Time iso={d.next_attempt_at} />
                  </dd>
                </>
              ) : null}
              <dt>Created</dt>
              <dd>
                <Time iso={d.created_at} />
              </dd>
            </dl>
            <div className="actions">
              <button
                type="button"
                onClick={() => void retry(d)}
                disabled={retrying || d.status === 'succeeded'}
              >
                Retry delivery
              </button>
            </div>
            <ErrorMessage error={retryError} title="The retry was not started." />
          </section>
          <section className="card" aria-labelledby="body-title">
            <h2 id="body-title">Request body</h2>
            <p className="help">The event envelope; every attempt sends the same bytes.</p>
            {event.error ? (
              <ErrorMessage
                error={
                  event.error instanceof ApiError && event.error.status === 404
                    ? new Error('The event is no longer stored.')
                    : event.error
                }
              />
            ) : event.data ? (
              <pre>
                {JSON.stringify(
                  {
                    id: event.data.id,
                    event: event.data.event,
                    timestamp: event.data.timestamp,
                    data: event.data.data,
                  },
                  null,
                  2,
                )}
              </pre>
            ) : (
              <Loading what="the event" />
            )}
          </section>
          <section aria-labelledby="attempts-title">
            <h2 id="attempts-title">Attempts</h2>
            {d.attempts && d.attempts.length > 0 ? (
              [...d.attempts]
                .sort((a, b) => b.number - a.number)
                .map((attempt, i) => (
                  <AttemptView key={attempt.id} attempt={attempt} open={i === 0} />
                ))
            ) : (
              <p className="empty">No attempt yet: the first one is on its way.</p>
            )}
          </section>
        </>
      ) : null}
    </section>
  );
}

function AttemptView({ attempt, open }: { attempt: Attempt; open: boolean }) {
  const ok =
    attempt.status_code !== null && attempt.status_code >= 200 && attempt.status_code < 300;
  return (
    <details className={`card attempt ${ok ? 'ok' : 'bad'}`} open={open}>
      <summary>
        Attempt {attempt.number}: {outcomeText(attempt.status_code, attempt.error)}
        {attempt.duration_ms !== null ? `, ${attempt.duration_ms} ms` : ''} ({attempt.trigger})
      </summary>
      <dl className="overview">
        <dt>Started</dt>
        <dd>
          <time dateTime={attempt.started_at}>{formatUtc(attempt.started_at)}</time>
        </dd>
        <dt>Duration</dt>
        <dd>{attempt.duration_ms === null ? '—' : `${attempt.duration_ms} ms`}</dd>
        <dt>Response status</dt>
        <dd>{attempt.status_code ?? 'No response'}</dd>
        <dt>Error</dt>
        <dd>{attempt.error ? <code>{attempt.error}</code> : 'None'}</dd>
        <dt>Triggered by</dt>
        <dd>{attempt.trigger}</dd>
      </dl>
      <HeadersTable headers={attempt.request_headers} caption="Request headers" />
      <HeadersTable headers={attempt.response_headers} caption="Response headers" />
      <h3>Response body</h3>
      <ResponseBody body={attempt.response_body} encoding={attempt.response_body_encoding} />
    </details>
  );
}
