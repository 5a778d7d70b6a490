import { useState } from 'react';
import type { Webhook } from '../api.js';
import { useApi } from '../api-context.js';
import { ErrorMessage } from '../components/error-message.js';
import { Loading, PageTitle } from '../components/page-title.js';
import { DeliveryBadge, HealthBadge } from '../components/status.js';
import { Time } from '../components/time.js';
import { eventsSummary, formatRate } from '../format.js';
import { paths } from '../router.js';
import { useLoad, usePages } from '../use-load.js';

export function WebhookListPage() {
  const api = useApi();
  const list = usePages((cursor) => api.listWebhooks(cursor ? { cursor } : {}), [api]);
  const { items: webhooks, cursor, moreError, loadMore } = list;

  return (
    <section>
      <div className="page-head">
        <PageTitle>Webhooks</PageTitle>
        <a className="button" href={paths.newWebhook}>
          Create Webhook
        </a>
      </div>
      <p className="lead">
        Agent Factory sends a signed HTTP POST to each webhook when a subscribed event happens in
        your account.
      </p>
      <ErrorMessage error={list.error} title="Could not load your webhooks." />
      {list.loading && !webhooks ? <Loading what="webhooks" /> : null}
      {webhooks && webhooks.length === 0 ? (
        <div className="empty card">
          <p>No webhooks yet.</p>
          <p>
            Create one to receive agent, conversation, usage and error events at your own URL.{' '}
            <a href={paths.newWebhook}>Create your first webhook</a>
          </p>
        </div>
      ) : null}
      {webhooks && webhooks.length > 0 ? (
        <div className="table-wrap">
          <table className="stack-on-phone">
            <caption className="visually-hidden">Your webhooks and their health</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Events</th>
                <th scope="col">Active</th>
                <th scope="col">Health</th>
                <th scope="col">Last delivery</th>
                <th scope="col">Success (24 h)</th>
              </tr>
            </thead>
            <tbody>
              {webhooks.map((webhook) => (
                <WebhookRow key={webhook.id} webhook={webhook} />
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      <ErrorMessage error={moreError} title="Could not load more webhooks." />
      {cursor ? (
        <button type="button" className="secondary" onClick={loadMore}>
          Load more webhooks
        </button>
      ) : null}
    </section>
  );
}

function WebhookRow({ webhook: initial }: { webhook: Webhook }) {
  const api = useApi();
  const [webhook, setWebhook] = useState(initial);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const stats = useLoad(() => api.stats(webhook.id), [api, webhook.id]);

  // The switch shows the requested state at once and falls back if the API refuses it.
  const [requested, setRequested] = useState<boolean>();
  const active = requested ?? webhook.active;

  async function toggle() {
    const next = !active;
    setRequested(next);
    setBusy(true);
    setError(undefined);
    try {
      setWebhook(await api.updateWebhook(webhook.id, { active: next }));
    } catch (err) {
      setError(err);
    } finally {
      setRequested(undefined);
      setBusy(false);
    }
  }

  const rate = stats.data?.success_rate;
  return (
    <tr>
      <td>
        <a href={paths.webhook(webhook.id)} className="strong">
          {webhook.name}
        </a>
        <div className="url">{webhook.url}</div>
      </td>
      <td data-label="Events" title={webhook.events.join(', ')}>
        {eventsSummary(webhook.events)}
      </td>
      <td data-label="Active">
        <label className="switch">
          <input
            type="checkbox"
            role="switch"
            aria-checked={active}
            checked={active}
            disabled={busy}
            onChange={toggle}
            aria-label={`Active: ${webhook.name}`}
          />
          <span>
            {active
              ? 'On'
              : webhook.disabled_reason === 'gone'
                ? 'Off (410)'
                : webhook.disabled_reason === 'failing'
                  ? 'Off (failing)'
                  : 'Off'}
          </span>
        </label>
        <ErrorMessage error={error} />
      </td>
      <td data-label="Health">
        <HealthBadge webhook={webhook} />
      </td>
      <td data-label="Last delivery">
        <DeliveryBadge status={webhook.last_delivery_status} />{' '}
        <Time iso={webhook.last_delivery_at} fallback="" />
      </td>
      <td data-label="Success (24 h)">
        {stats.error ? (
          <span className="muted" title={(stats.error as Error).message}>
            unavailable
          </span>
        ) : stats.loading && !stats.data ? (
          <span className="muted">…</span>
        ) : rate === null || rate === undefined ? (
          <span className="muted">No attempts</span>
        ) : (
          <span>
            {formatRate(rate)}{' '}
            <span className="muted">
              of {stats.data?.attempts} {stats.data?.attempts === 1 ? 'attempt' : 'attempts'}
            </span>
          </span>
        )}
      </td>
    </tr>
  );
}
