import { eventCatalog } from '@agentfactory/webhooks';
import { useCallback, useEffect, useRef, useState } from 'react';
import type { Delivery } from '../api.js';
import { useApi } from '../api-context.js';
import { paths } from '../router.js';
import { ErrorMessage } from './error-message.js';
import { Loading } from './page-title.js';
import { DeliveryBadge, outcomeText } from './status.js';
import { Time } from './time.js';

/**
 * The table refreshes itself: every second while a shown delivery is pending, every 5 s
 * otherwise, and not while the tab is hidden; it stops after an hour without any interaction.
 */
const pendingPollMs = 1000;
const idlePollMs = 5000;
const maxPolls = 720;

function mergeRows(first: Delivery[], rest: Delivery[]): Delivery[] {
  const seen = new Set(first.map((d) => d.id));
  return [...first, ...rest.filter((d) => !seen.has(d.id))];
}

export function DeliveriesTable({
  webhookId,
  refreshToken,
  onChange,
}: {
  webhookId: string;
  refreshToken: number;
  onChange: () => void;
}) {
  const api = useApi();
  const [status, setStatus] = useState('');
  const [event, setEvent] = useState('');
  const [rows, setRows] = useState<Delivery[]>();
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<unknown>();
  const [actionError, setActionError] = useState<unknown>();
  const [tick, setTick] = useState(0);
  const polls = useRef(0);
  const generation = useRef(0);

  /** Reloads the first page; rows loaded with "load more" stay. */
  const refresh = useCallback(
    async (reset: boolean) => {
      const mine = ++generation.current;
      setLoading(true);
      try {
        const page = await api.listDeliveries({ webhook_id: webhookId, status, event });
        if (mine !== generation.current) return;
        setRows((old) => (reset || !old ? page.data : mergeRows(page.data, old)));
        if (reset) setCursor(page.next_cursor);
        setError(undefined);
      } catch (err) {
        if (mine === generation.current) setError(err);
      } finally {
        if (mine === generation.current) setLoading(false);
      }
    },
    [api, webhookId, status, event],
  );

  // biome-ignore lint/correctness/useExhaustiveDependencies: refreshToken asks for a reload.
  useEffect(() => {
    polls.current = 0;
    void refresh(true);
  }, [refresh, refreshToken]);

  const anyPending = rows?.some((d) => d.status === 'pending') ?? false;

  // When what the table shows changes, the page's health (last delivery, chart) changes too.
  const shown = rows?.map((d) => `${d.id}:${d.status}:${d.attempt_count}`).join() ?? '';
  const lastShown = useRef<string>(undefined);
  useEffect(() => {
    if (lastShown.current !== undefined && lastShown.current !== shown) onChange();
    lastShown.current = shown;
  }, [shown, onChange]);
  // biome-ignore lint/correctness/useExhaustiveDependencies: tick re-arms the timer after a hidden-tab skip.
  useEffect(() => {
    if (loading || polls.current >= maxPolls) return;
    const timer = setTimeout(
      () => {
        if (document.hidden) return setTick((n) => n + 1);
        polls.current++;
        void refresh(false);
      },
      anyPending ? pendingPollMs : idlePollMs,
    );
    return () => clearTimeout(timer);
  }, [anyPending, loading, refresh, onChange, tick]);

  async function loadMore() {
    if (!cursor) return;
    try {
      const page = await api.listDeliveries({ webhook_id: webhookId, status, event, cursor });
      setRows((old) => mergeRows(old ?? [], page.data));
      setCursor(page.next_cursor);
    } catch (err) {
      setActionError(err);
    }
  }

  async function retry(delivery: Delivery) {
    setActionError(undefined);
    try {
      const updated = await api.retryDelivery(delivery.id);
      setRows((old) =>
        old?.map((d) => (d.id === updated.id ? { ...updated, status: 'pending' } : d)),
      );
      polls.current = 0;
      // The new attempt runs in the background: poll until it has an outcome.
      setTimeout(() => void refresh(false), 300);
    } catch (err) {
      setActionError(err);
    }
  }

  return (
    <section className="card" aria-labelledby="deliveries-title">
      <div className="section-head">
        <h2 id="deliveries-title">Deliveries</h2>
        <button type="button" className="secondary small" onClick={() => void refresh(true)}>
          Refresh deliveries
        </button>
      </div>
      <div className="filters">
        <div className="field">
          <label htmlFor="filter-status">Status</label>
          <select id="filter-status" value={status} onChange={(e) => setStatus(e.target.value)}>
            <option value="">All statuses</option>
            <option value="pending">Pending</option>
            <option value="succeeded">Succeeded</option>
            <option value="failed">Failed</option>
          </select>
        </div>
        <div className="field">
          <label htmlFor="filter-event">Event</label>
          <select id="filter-event" value={event} onChange={(e) => setEvent(e.target.value)}>
            <option value="">All events</option>
            {eventCatalog.map((info) => (
              <option key={info.name} value={info.name}>
                {info.name}
              </option>
            ))}
          </select>
        </div>
      </div>
      <ErrorMessage error={error} title="Could not load deliveries." />
      <ErrorMessage error={actionError} />
      {!rows && loading ? <Loading what="deliveries" /> : null}
      {rows && rows.length === 0 ? (
        <p className="empty">
          {status || event
            ? 'No deliveries match these filters.'
            : 'No deliveries yet. Send a test event, or wait for activity in your account.'}
        </p>
      ) : null}
      {rows && rows.length > 0 ? (
        <div className="table-wrap">
          <table>
            <caption className="visually-hidden">Deliveries of this webhook, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Event</th>
                <th scope="col">Status</th>
                <th scope="col">Attempts</th>
                <th scope="col">Last response</th>
                <th scope="col">Created</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.map((d) => (
                <tr key={d.id}>
                  <td>
                    <a href={paths.delivery(webhookId, d.id)}>
                      <code>{d.event}</code>
                    </a>
                    <div className="muted mono small-text">{d.id}</div>
                  </td>
                  <td>
                    <DeliveryBadge status={d.status} />
                    {d.status === 'pending' && d.next_attempt_at ? (
                      <div className="muted small-text">
                        next <Time iso={d.next_attempt_at} />
                      </div>
                    ) : null}
                  </td>
                  <td>{d.attempt_count}</td>
                  <td>{outcomeText(d.last_status_code, d.last_error)}</td>
                  <td>
                    <Time iso={d.created_at} />
                  </td>
                  <td>
                    {d.status !== 'succeeded' ? (
                      <button
                        type="button"
                        className="secondary small"
                        onClick={() => void retry(d)}
                        aria-label={`Retry ${d.event} delivery ${d.id}`}
                      >
                        Retry
                      </button>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {cursor ? (
        <button type="button" className="secondary" onClick={() => void loadMore()}>
          Load more deliveries
        </button>
      ) : null}
    </section>
  );
}
