import { type FormEvent, useState } from 'react';
import { useApi } from '../api-context.js';
import { ErrorMessage } from '../components/error-message.js';
import { Loading, PageTitle } from '../components/page-title.js';
import { Time } from '../components/time.js';
import { usePages } from '../use-load.js';

/** The actions the service records (`apps/server/src/api/audit.ts`), in words. */
const actions: Record<string, string> = {
  'webhook.created': 'Webhook created',
  'webhook.updated': 'Webhook changed',
  'webhook.enabled': 'Webhook enabled',
  'webhook.disabled': 'Webhook disabled',
  'webhook.deleted': 'Webhook deleted',
  'webhook.secret_revealed': 'Signing secret revealed',
  'webhook.secret_rotated': 'Signing secret rotated',
  'webhook.recover': 'Failed deliveries recovered',
  'api_key.created': 'API key created',
  'api_key.revoked': 'API key revoked',
  'listen_secret.revealed': 'Listen secret revealed',
  'listen_secret.rotated': 'Listen secret rotated',
};

interface Filters {
  action: string;
  target: string;
  since: string;
  until: string;
}

const noFilters: Filters = { action: '', target: '', since: '', until: '' };

/** A `datetime-local` value (the browser's local time) → RFC 3339 UTC; '' stays unset. */
function toIso(local: string): string | undefined {
  if (!local) return undefined;
  const ms = Date.parse(local);
  return Number.isFinite(ms) ? new Date(ms).toISOString() : undefined;
}

/** Settings → Audit log: who changed what in this account, filtered, newest first. */
export function AuditLogPage() {
  const api = useApi();
  const [form, setForm] = useState<Filters>(noFilters);
  const [applied, setApplied] = useState<Filters>(noFilters);
  const query = {
    action: applied.action || undefined,
    target_id: applied.target.trim() || undefined,
    since: toIso(applied.since),
    until: toIso(applied.until),
  };
  const list = usePages(
    (cursor) => api.listAudit(cursor ? { ...query, cursor } : query),
    [api, applied],
  );
  const { items: entries, cursor, moreError, loadMore } = list;

  function apply(event: FormEvent) {
    event.preventDefault();
    setApplied({ ...form });
  }

  const set = (key: keyof Filters, value: string) => setForm((f) => ({ ...f, [key]: value }));
  return (
    <section>
      <PageTitle>Audit log</PageTitle>
      <p className="lead">
        Every change to this account's configuration: which key made it, when, and what changed.
        Secrets are never recorded, only that they were revealed or rotated.
      </p>
      <form className="card filters" onSubmit={apply} aria-label="Filter the audit log">
        <div className="field">
          <label htmlFor="audit-action">Action</label>
          <select
            id="audit-action"
            value={form.action}
            onChange={(e) => set('action', e.target.value)}
          >
            <option value="">All actions</option>
            {Object.entries(actions).map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="audit-target">Resource ID</label>
          <input
            id="audit-target"
            value={form.target}
            placeholder="wh_… or key_…"
            onChange={(e) => set('target', e.target.value)}
          />
        </div>
        <div className="field">
          <label htmlFor="audit-since">From</label>
          <input
            id="audit-since"
            type="datetime-local"
            value={form.since}
            onChange={(e) => set('since', e.target.value)}
          />
        </div>
        <div className="field">
          <label htmlFor="audit-until">To</label>
          <input
            id="audit-until"
            type="datetime-local"
            value={form.until}
            onChange={(e) => set('until', e.target.value)}
          />
        </div>
        <button type="submit">Apply filters</button>
      </form>

      <ErrorMessage error={list.error} title="Could not load the audit log." />
      {list.loading && !entries ? <Loading what="the audit log" /> : null}
      {entries && entries.length === 0 ? (
        <p className="empty card">
          No changes recorded{applied === noFilters ? '' : ' that match'}.
        </p>
      ) : null}
      {entries && entries.length > 0 ? (
        <div className="table-wrap">
          <table className="stack-on-phone">
            <caption className="visually-hidden">Configuration changes, newest first</caption>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Action</th>
                <th scope="col">Resource</th>
                <th scope="col">By key</th>
                <th scope="col">Changes</th>
              </tr>
            </thead>
            <tbody>
              {entries.map((e) => (
                <tr key={e.id}>
                  <td data-label="When">
                    <Time iso={e.created_at} />
                  </td>
                  <td data-label="Action">
                    {actions[e.action] ?? e.action}
                    <div className="muted mono small-text">{e.action}</div>
                  </td>
                  <td data-label="Resource" className="mono">
                    {e.target_id ?? '—'}
                  </td>
                  <td data-label="By key" className="mono">
                    {e.actor_key_id ?? 'admin key'}
                  </td>
                  <td data-label="Changes">
                    <Changes changes={e.changes} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      <ErrorMessage error={moreError} title="Could not load more entries." />
      {cursor ? (
        <button type="button" className="secondary" onClick={loadMore}>
          Load more entries
        </button>
      ) : null}
    </section>
  );
}

const show = (value: unknown) =>
  value === null || value === undefined
    ? '—'
    : typeof value === 'string'
      ? value
      : JSON.stringify(value);

/** `{field: {from, to}}` as "field: from → to"; any other value as it is. */
function Changes({ changes }: { changes: Record<string, unknown> }) {
  const fields = Object.entries(changes);
  if (fields.length === 0) return <span className="muted">—</span>;
  return (
    <ul className="changes">
      {fields.map(([field, value]) => {
        const diff =
          value !== null && typeof value === 'object' && 'from' in value && 'to' in value
            ? (value as { from: unknown; to: unknown })
            : undefined;
        return (
          <li key={field}>
            <code>{field}</code>:{' '}
            {diff ? (
              <>
                {show(diff.from)} → {show(diff.to)}
              </>
            ) : (
              show(value)
            )}
          </li>
        );
      })}
    </ul>
  );
}
