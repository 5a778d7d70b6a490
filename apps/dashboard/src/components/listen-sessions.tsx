import { useEffect, useRef, useState } from 'react';
import type { ListenSession } from '../api.js';
import { useApi } from '../api-context.js';
import { eventsSummary } from '../format.js';
import { useLoad } from '../use-load.js';
import { ConfirmDialog } from './confirm-dialog.js';
import { CopyButton } from './copy-button.js';
import { ErrorMessage } from './error-message.js';
import { Loading } from './page-title.js';
import { ConnectedBadge, DeliveryBadge } from './status.js';
import { Time } from './time.js';

/**
 * Sessions connect and go away without anyone touching this page: it reloads every 5 s, not
 * while the tab is hidden, and stops after an hour without any interaction (as the deliveries
 * table does), so a forgotten tab does not poll forever.
 */
const pollMs = 5000;
const maxPolls = 720;

/** The CLI's own default service; any other origin must be passed with `--url`. */
const defaultOrigins = ['http://127.0.0.1:3000', 'http://localhost:3000'];

/**
 * The command to copy. The dashboard is served by the service it talks to (`api.ts` calls `/v1`
 * on this origin), so this origin is the `--url` the CLI needs.
 */
function listenCommand(origin: string): string {
  const command = 'agentfactory-webhooks listen --forward-to http://localhost:4000/webhooks';
  return defaultOrigins.includes(origin) ? command : `${command} --url ${origin}`;
}

/** The account's `listen` sessions: connected or not, since when, forwarding where; delete one. */
export function ListenSessions() {
  const api = useApi();
  const sessions = useLoad(() => api.listListenSessions(), [api]);
  const [tick, setTick] = useState(0);
  const polls = useRef(0);
  const heading = useRef<HTMLHeadingElement>(null);
  const [toDelete, setToDelete] = useState<ListenSession>();
  const [busy, setBusy] = useState(false);
  const [deleteError, setDeleteError] = useState<unknown>();
  const { reload, loading, setData } = sessions;

  // biome-ignore lint/correctness/useExhaustiveDependencies: tick re-arms the timer after a hidden-tab skip.
  useEffect(() => {
    if (loading || polls.current >= maxPolls) return;
    const timer = setTimeout(() => {
      if (document.hidden) return setTick((n) => n + 1);
      polls.current++;
      void reload();
    }, pollMs);
    return () => clearTimeout(timer);
  }, [loading, reload, tick]);

  function refresh() {
    polls.current = 0;
    void reload();
  }

  async function remove(session: ListenSession) {
    setBusy(true);
    setDeleteError(undefined);
    try {
      await api.deleteListenSession(session.id);
      const rest = sessions.data?.data.filter((s) => s.id !== session.id) ?? [];
      setData({ data: rest });
      setToDelete(undefined);
      // Its Delete button is gone with its row: the panel's heading takes the focus.
      heading.current?.focus();
      refresh();
    } catch (err) {
      setDeleteError(err);
    } finally {
      setBusy(false);
    }
  }

  const command = listenCommand(window.location.origin);
  const list = sessions.data?.data;
  return (
    <section className="card" aria-labelledby="listen-title">
      <div className="section-head">
        <h2 id="listen-title" ref={heading} tabIndex={-1}>
          Listen sessions
        </h2>
        <button type="button" className="secondary small" onClick={refresh}>
          Refresh sessions
        </button>
      </div>
      <p className="help">
        Receive your account's events on your laptop, at a local URL, with no tunnel and no public
        address: run this with an API key of this account in <code>AF_API_KEY</code> (or pass{' '}
        <code>--api-key</code>). Each delivery arrives signed with the account's listen secret and
        is in the delivery log, retried like any other; while <code>listen</code> is stopped, its
        deliveries wait for it.
      </p>
      <div className="command">
        <pre>
          <code data-testid="listen-command">{command}</code>
        </pre>
        <CopyButton value={command} label="command" />
      </div>
      <ErrorMessage error={sessions.error} title="Could not load the listen sessions." />
      {!list && loading ? <Loading what="listen sessions" /> : null}
      {list && list.length === 0 ? (
        <p className="empty">
          No listen sessions yet. Run the command above: its session shows here once it connects.
        </p>
      ) : null}
      {list && list.length > 0 ? (
        <div className="table-wrap">
          <table className="stack-on-phone">
            <caption className="visually-hidden">
              Listen sessions of this account, newest first
            </caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Forwarding to</th>
                <th scope="col">Events</th>
                <th scope="col">Status</th>
                <th scope="col">Since</th>
                <th scope="col">Last delivery</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.map((s) => (
                <tr key={s.id}>
                  <td>
                    <span className="strong">{s.name}</span>
                    <div className="muted mono small-text">{s.id}</div>
                  </td>
                  <td data-label="Forwarding to" className="url">
                    {s.forward_to}
                  </td>
                  <td data-label="Events" title={s.events.join(', ')}>
                    {eventsSummary(s.events)}
                  </td>
                  <td data-label="Status">
                    <ConnectedBadge session={s} />
                  </td>
                  <td data-label="Since">
                    {s.connected ? (
                      <Time iso={s.connected_at} />
                    ) : (
                      <span>
                        last seen <Time iso={s.last_seen_at} fallback="never" />
                      </span>
                    )}
                  </td>
                  <td data-label="Last delivery">
                    <DeliveryBadge status={s.last_delivery_status} />{' '}
                    <Time iso={s.last_delivery_at} fallback="" />
                  </td>
                  <td>
                    <button
                      type="button"
                      className="secondary small"
                      onClick={() => {
                        setDeleteError(undefined);
                        setToDelete(s);
                      }}
                      aria-label={`Delete listen session ${s.name}`}
                    >
                      Delete
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      <ConfirmDialog
        id="delete-session"
        open={toDelete !== undefined}
        title={<>Delete listen session “{toDelete?.name}”?</>}
        error={deleteError}
        errorTitle="The session was not deleted."
        confirm="Delete session"
        busy={busy}
        onConfirm={() => toDelete && void remove(toDelete)}
        onClose={() => setToDelete(undefined)}
      >
        Deliveries waiting for it fail
        {toDelete?.connected ? ', and its listen is stopped' : ''}. Their log stays. Events are no
        longer forwarded to <code className="url">{toDelete?.forward_to}</code> until{' '}
        <code>listen</code> runs again.
      </ConfirmDialog>
      <ListenSecret />
    </section>
  );
}

/** The secret a local receiver verifies `listen`'s deliveries with: reveal, copy, rotate. */
function ListenSecret() {
  const api = useApi();
  const [secret, setSecret] = useState<string>();
  const [rotated, setRotated] = useState(false);
  const [busy, setBusy] = useState(false);
  const [revealError, setRevealError] = useState<unknown>();
  const [rotateError, setRotateError] = useState<unknown>();
  const [confirmRotate, setConfirmRotate] = useState(false);

  async function reveal() {
    setBusy(true);
    setRevealError(undefined);
    try {
      setSecret((await api.getListenSecret()).secret);
      setRotated(false);
    } catch (err) {
      setRevealError(err);
    } finally {
      setBusy(false);
    }
  }

  async function rotate() {
    setBusy(true);
    setRotateError(undefined);
    try {
      setSecret((await api.rotateListenSecret()).secret);
      setRotated(true);
      setConfirmRotate(false);
    } catch (err) {
      setRotateError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section aria-labelledby="listen-secret-title">
      <h3 id="listen-secret-title">Listen secret</h3>
      <p className="help">
        Your local receiver verifies what <code>listen</code> forwards with this secret, not with a
        webhook's; <code>listen</code> prints it when it starts. One per account, for every session.
      </p>
      {secret ? (
        <div className="secret-box" role="status">
          {rotated ? (
            <p>
              <strong>The listen secret was rotated.</strong> Your new secret:
            </p>
          ) : null}
          <code data-testid="listen-secret">{secret}</code>
          <CopyButton value={secret} label="listen secret" />
          <button type="button" className="secondary small" onClick={() => setSecret(undefined)}>
            Hide listen secret
          </button>
        </div>
      ) : null}
      <div className="actions">
        {secret ? null : (
          <button type="button" className="secondary" onClick={() => void reveal()} disabled={busy}>
            Reveal listen secret
          </button>
        )}
        <button
          type="button"
          className="secondary"
          disabled={busy}
          onClick={() => {
            setRotateError(undefined);
            setConfirmRotate(true);
          }}
        >
          Rotate listen secret
        </button>
      </div>
      <ErrorMessage error={revealError} title="Could not load the listen secret." />
      <ConfirmDialog
        id="rotate-listen"
        open={confirmRotate}
        title="Rotate the listen secret?"
        error={rotateError}
        errorTitle="The secret was not rotated."
        confirm="Rotate now"
        busy={busy}
        onConfirm={() => void rotate()}
        onClose={() => setConfirmRotate(false)}
      >
        There is no grace period: the current secret stops at once, and local receivers that verify
        with it reject every delivery until they have the new one.
      </ConfirmDialog>
    </section>
  );
}
