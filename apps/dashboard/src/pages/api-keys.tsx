import { type FormEvent, useRef, useState } from 'react';
import type { ApiKey, ApiKeyScope, CreatedApiKey } from '../api.js';
import { useApi } from '../api-context.js';
import { ConfirmDialog } from '../components/confirm-dialog.js';
import { CopyButton } from '../components/copy-button.js';
import { ErrorMessage } from '../components/error-message.js';
import { Loading, PageTitle } from '../components/page-title.js';
import { Time } from '../components/time.js';
import { usePages } from '../use-load.js';

/** The scopes a key may hold (SPEC §5), in the words the page uses for them. */
const scopeChoices: { scope: ApiKeyScope; label: string; help: string }[] = [
  { scope: 'full', label: 'Full access', help: 'Everything this account can do.' },
  {
    scope: 'read',
    label: 'Read only',
    help: 'Every read (webhooks, events, deliveries, stats), but no secret.',
  },
  {
    scope: 'events:write',
    label: 'Send events',
    help: 'Posting events only: for the service that produces them.',
  },
];

const expiryChoices: { label: string; days: number | null }[] = [
  { label: 'Never', days: null },
  { label: 'In 7 days', days: 7 },
  { label: 'In 30 days', days: 30 },
  { label: 'In 90 days', days: 90 },
  { label: 'In 1 year', days: 365 },
];

/** Settings → API keys: the account's keys, a new one shown once, revoke with a confirmation. */
export function ApiKeysPage() {
  const api = useApi();
  const [created, setCreated] = useState<CreatedApiKey>();
  const [toRevoke, setToRevoke] = useState<ApiKey>();
  const [revokeError, setRevokeError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const listHeading = useRef<HTMLHeadingElement>(null);
  const list = usePages((cursor) => api.listApiKeys({ cursor }), [api]);
  const { items: keys, cursor, moreError, loadMore } = list;

  async function revoke(key: ApiKey) {
    setBusy(true);
    setRevokeError(undefined);
    try {
      await api.revokeApiKey(key.id);
      setToRevoke(undefined);
      // The session's own key: the next call is refused, which signs out with a message.
      if (key.prefix === api.keyPrefix) {
        await api.listApiKeys().catch(() => {});
        return;
      }
      list.setItems((rows) => rows.filter((k) => k.id !== key.id));
      listHeading.current?.focus();
    } catch (err) {
      setRevokeError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section>
      <PageTitle>API keys</PageTitle>
      <p className="lead">
        Keys call the API for this account: <code>Authorization: Bearer afk_…</code>. Give each
        service its own key with only the scopes it needs, and revoke a key the moment it may have
        leaked: it is refused within a second.
      </p>

      {created ? (
        <div className="card notice" role="status">
          <p>
            <strong>Copy the new key now: it is not shown again.</strong> Only a hash of it is kept.
          </p>
          <dl className="secrets">
            <dt>{created.name}</dt>
            <dd>
              <code data-testid="created-api-key">{created.api_key}</code>
              <CopyButton value={created.api_key} label="API key" />
            </dd>
          </dl>
          <button type="button" className="secondary" onClick={() => setCreated(undefined)}>
            I have copied it
          </button>
        </div>
      ) : null}

      <CreateKeyForm
        onCreated={(key) => {
          setCreated(key);
          const { api_key: _shownOnce, ...listed } = key;
          list.setItems((rows) => [listed, ...rows]);
        }}
      />

      <section className="card" aria-labelledby="keys-title">
        <h2 id="keys-title" ref={listHeading} tabIndex={-1}>
          Keys of this account
        </h2>
        <ErrorMessage error={list.error} title="Could not load the API keys." />
        {list.loading && !keys ? <Loading what="API keys" /> : null}
        {keys && keys.length === 0 ? <p className="empty">No API keys.</p> : null}
        {keys && keys.length > 0 ? (
          <div className="table-wrap">
            <table className="stack-on-phone">
              <caption className="visually-hidden">API keys of this account, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Key</th>
                  <th scope="col">Scopes</th>
                  <th scope="col">Created</th>
                  <th scope="col">Last used</th>
                  <th scope="col">Expires</th>
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {keys.map((key) => (
                  <tr key={key.id}>
                    <td>
                      <span className="strong">{key.name}</span>
                      {key.prefix === api.keyPrefix ? (
                        <span className="muted"> (this session)</span>
                      ) : null}
                      <div className="muted mono small-text">{key.id}</div>
                    </td>
                    <td data-label="Key">
                      <code>{key.prefix}…</code>
                    </td>
                    <td data-label="Scopes">{key.scopes.join(', ')}</td>
                    <td data-label="Created">
                      <Time iso={key.created_at} />
                    </td>
                    <td data-label="Last used">
                      <Time iso={key.last_used_at} fallback="never" />
                    </td>
                    <td data-label="Expires">
                      {key.expires_at && Date.parse(key.expires_at) <= Date.now() ? (
                        <span>expired</span>
                      ) : (
                        <Time iso={key.expires_at} fallback="never" />
                      )}
                    </td>
                    <td>
                      <button
                        type="button"
                        className="secondary small"
                        onClick={() => {
                          setRevokeError(undefined);
                          setToRevoke(key);
                        }}
                        aria-label={`Revoke API key ${key.name}`}
                      >
                        Revoke
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : null}
        <ErrorMessage error={moreError} title="Could not load more keys." />
        {cursor ? (
          <button type="button" className="secondary" onClick={loadMore}>
            Load more keys
          </button>
        ) : null}
      </section>

      <ConfirmDialog
        id="revoke"
        open={toRevoke !== undefined}
        title={<>Revoke API key “{toRevoke?.name}”?</>}
        error={revokeError}
        errorTitle="The key was not revoked."
        confirm="Revoke key"
        busy={busy}
        onConfirm={() => toRevoke && void revoke(toRevoke)}
        onClose={() => setToRevoke(undefined)}
      >
        Requests with <code>{toRevoke?.prefix}…</code> are refused from now on, everywhere within a
        second. This cannot be undone.
        {toRevoke?.prefix === api.keyPrefix
          ? ' It is the key you are signed in with: you will be signed out.'
          : ''}
      </ConfirmDialog>
    </section>
  );
}

function CreateKeyForm({ onCreated }: { onCreated: (key: CreatedApiKey) => void }) {
  const api = useApi();
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<Set<ApiKeyScope>>(new Set(['full']));
  const [days, setDays] = useState<string>('');
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);

  function toggle(scope: ApiKeyScope, on: boolean) {
    setScopes((current) => {
      const next = new Set(current);
      if (on) next.add(scope);
      else next.delete(scope);
      return next;
    });
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (name.trim() === '') return setError(new Error('Give the key a name.'));
    if (scopes.size === 0) return setError(new Error('Pick at least one scope.'));
    setBusy(true);
    setError(undefined);
    try {
      const expires =
        days === '' ? undefined : new Date(Date.now() + Number(days) * 86_400_000).toISOString();
      const key = await api.createApiKey({
        name: name.trim(),
        scopes: scopeChoices.map((c) => c.scope).filter((s) => scopes.has(s)),
        ...(expires ? { expires_at: expires } : {}),
      });
      setName('');
      onCreated(key);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="card form" onSubmit={submit} noValidate aria-labelledby="create-key-title">
      <h2 id="create-key-title">Create an API key</h2>
      <div className="field">
        <label htmlFor="key-name">Name</label>
        <input
          id="key-name"
          value={name}
          onChange={(e) => setName(e.target.value)}
          placeholder="production ingest"
          maxLength={200}
          required
        />
      </div>
      <fieldset>
        <legend>Scopes</legend>
        {scopeChoices.map((c) => (
          <div key={c.scope} className="field checkbox">
            <input
              id={`key-scope-${c.scope}`}
              type="checkbox"
              checked={scopes.has(c.scope)}
              onChange={(e) => toggle(c.scope, e.target.checked)}
              aria-describedby={`key-scope-${c.scope}-help`}
            />
            <label htmlFor={`key-scope-${c.scope}`}>
              {c.label} (<code>{c.scope}</code>)
            </label>
            <span id={`key-scope-${c.scope}-help`} className="help">
              {c.help}
            </span>
          </div>
        ))}
      </fieldset>
      <div className="field">
        <label htmlFor="key-expires">Expires</label>
        <select id="key-expires" value={days} onChange={(e) => setDays(e.target.value)}>
          {expiryChoices.map((c) => (
            <option key={c.label} value={c.days === null ? '' : String(c.days)}>
              {c.label}
            </option>
          ))}
        </select>
      </div>
      <ErrorMessage error={error} title="The key was not created." />
      <div className="actions">
        <button type="submit" disabled={busy}>
          {busy ? 'Creating…' : 'Create key'}
        </button>
      </div>
    </form>
  );
}
