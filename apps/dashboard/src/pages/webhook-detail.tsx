import { useCallback, useState } from 'react';
import type { Webhook } from '../api.js';
import { useApi } from '../api-context.js';
import { ConfirmDialog } from '../components/confirm-dialog.js';
import { CopyButton } from '../components/copy-button.js';
import { DeliveriesTable } from '../components/deliveries-table.js';
import { DeliveryChart } from '../components/delivery-chart.js';
import { ErrorMessage } from '../components/error-message.js';
import { HealthBanner } from '../components/health-banner.js';
import { Loading, PageTitle } from '../components/page-title.js';
import { RecoverPanel } from '../components/recover-panel.js';
import { SecretPanel } from '../components/secret-panel.js';
import { ActiveBadge, DeliveryBadge, HealthBadge } from '../components/status.js';
import { TestPanel } from '../components/test-panel.js';
import { Time } from '../components/time.js';
import { navigate, paths } from '../router.js';
import { useLoad } from '../use-load.js';

export function WebhookDetailPage({ id }: { id: string }) {
  const api = useApi();
  const webhook = useLoad(() => api.getWebhook(id), [api, id]);
  const [refreshToken, setRefreshToken] = useState(0);
  const stats = useLoad(() => api.stats(id), [api, id, refreshToken]);
  const reloadWebhook = webhook.reload;
  const reloadStats = stats.reload;
  const onDeliveriesChanged = useCallback(() => {
    void reloadWebhook();
    void reloadStats();
  }, [reloadWebhook, reloadStats]);
  const refreshAll = useCallback(() => {
    setRefreshToken((n) => n + 1);
    void reloadWebhook();
  }, [reloadWebhook]);

  if (!webhook.data) {
    return (
      <section>
        <PageTitle>Webhook</PageTitle>
        <ErrorMessage error={webhook.error} title="Could not load this webhook." />
        {webhook.loading ? <Loading what="the webhook" /> : null}
      </section>
    );
  }
  const wh = webhook.data;

  return (
    <section className="detail">
      <div className="page-head">
        <PageTitle>{wh.name}</PageTitle>
        <ActiveBadge webhook={wh} />
      </div>
      <HealthBanner webhook={wh} onChange={webhook.setData} onRecovered={refreshAll} />
      <Overview webhook={wh} onChange={webhook.setData} />
      <section className="card" aria-labelledby="chart-title">
        <h2 id="chart-title">Last 24 hours</h2>
        <ErrorMessage error={stats.error} title="Could not load the statistics." />
        {stats.data ? <DeliveryChart stats={stats.data} /> : <Loading what="statistics" />}
      </section>
      <TestPanel webhookId={id} onSent={refreshAll} />
      <DeliveriesTable webhookId={id} refreshToken={refreshToken} onChange={onDeliveriesChanged} />
      <RecoverPanel webhookId={id} onRecovered={refreshAll} />
      <SecretPanel webhookId={id} />
      <DangerZone webhook={wh} />
    </section>
  );
}

function Overview({ webhook, onChange }: { webhook: Webhook; onChange: (w: Webhook) => void }) {
  const api = useApi();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();

  async function setActive(active: boolean) {
    setBusy(true);
    setError(undefined);
    try {
      onChange(await api.updateWebhook(webhook.id, { active }));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="card" aria-label="Overview">
      <dl className="overview">
        <dt>Webhook ID</dt>
        <dd>
          <code>{webhook.id}</code> <CopyButton value={webhook.id} label="webhook ID" />
        </dd>
        <dt>Endpoint URL</dt>
        <dd className="url">{webhook.url}</dd>
        {webhook.description ? (
          <>
            <dt>Description</dt>
            <dd>{webhook.description}</dd>
          </>
        ) : null}
        <dt>Events</dt>
        <dd>
          {webhook.events.includes('*') ? (
            'All events'
          ) : (
            <ul className="tags">
              {webhook.events.map((e) => (
                <li key={e}>
                  <code>{e}</code>
                </li>
              ))}
            </ul>
          )}
        </dd>
        {webhook.headers && Object.keys(webhook.headers).length > 0 ? (
          <>
            <dt>Custom headers</dt>
            <dd>
              <ul className="tags">
                {Object.entries(webhook.headers).map(([name, value]) => (
                  <li key={name}>
                    <code>
                      {name}: {value}
                    </code>
                  </li>
                ))}
              </ul>
            </dd>
          </>
        ) : null}
        <dt>Last delivery</dt>
        <dd>
          <DeliveryBadge status={webhook.last_delivery_status} />{' '}
          <Time iso={webhook.last_delivery_at} fallback="" />
        </dd>
        {webhook.active ? (
          <>
            <dt>Health</dt>
            <dd>
              <HealthBadge webhook={webhook} />
            </dd>
          </>
        ) : null}
        <dt>Last success</dt>
        <dd>
          <Time iso={webhook.health.last_success_at} fallback="—" />
        </dd>
        {webhook.health.certificate_expires_at ? (
          <>
            <dt>TLS certificate expires</dt>
            <dd>
              <Time iso={webhook.health.certificate_expires_at} />
            </dd>
          </>
        ) : null}
        <dt>Created</dt>
        <dd>
          <Time iso={webhook.created_at} />
        </dd>
      </dl>
      <div className="actions">
        <a className="button secondary" href={paths.editWebhook(webhook.id)}>
          Edit webhook
        </a>
        <button
          type="button"
          className="secondary"
          disabled={busy}
          onClick={() => void setActive(!webhook.active)}
        >
          {webhook.active ? 'Disable webhook' : 'Enable webhook'}
        </button>
      </div>
      <ErrorMessage error={error} />
    </section>
  );
}

function DangerZone({ webhook }: { webhook: Webhook }) {
  const api = useApi();
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();

  async function remove() {
    setBusy(true);
    setError(undefined);
    try {
      await api.deleteWebhook(webhook.id);
      setConfirmDelete(false);
      navigate(paths.webhooks);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  }

  return (
    <section className="card danger" aria-labelledby="danger-title">
      <h2 id="danger-title">Delete this webhook</h2>
      <p className="help">
        Deliveries stop at once; pending ones fail. The delivery log stays readable until it
        expires.
      </p>
      <button type="button" className="danger" onClick={() => setConfirmDelete(true)}>
        Delete webhook
      </button>
      <ConfirmDialog
        id="delete"
        open={confirmDelete}
        title={<>Delete “{webhook.name}”?</>}
        error={error}
        errorTitle="The webhook was not deleted."
        confirm="Delete permanently"
        busy={busy}
        onConfirm={() => void remove()}
        onClose={() => setConfirmDelete(false)}
      >
        This cannot be undone. Events will no longer be sent to <code>{webhook.url}</code>.
      </ConfirmDialog>
    </section>
  );
}
