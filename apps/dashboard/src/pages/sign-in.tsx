import { type FormEvent, useState } from 'react';
import { ApiError, createApi } from '../api.js';
import { ErrorMessage } from '../components/error-message.js';
import { PageTitle } from '../components/page-title.js';

/** Why a key was refused, in words a person can act on. */
function signInError(error: unknown): unknown {
  if (!(error instanceof ApiError)) return error;
  if (error.status === 401) {
    return new Error(
      'That API key was not accepted. Check that you pasted the whole key (it starts with afk_) and that it has not been revoked.',
    );
  }
  if (error.code === 'insufficient_scope') {
    return new Error(
      'This key may only post events (scope events:write): the dashboard needs a key with the scope read (to look) or full (to change things).',
    );
  }
  if (error.status === 403) {
    return new Error(
      'This key cannot manage webhooks (it may be the admin key). Sign in with an API key of your account.',
    );
  }
  return error;
}

export function SignInPage({
  notice,
  onSignedIn,
}: {
  notice: string | undefined;
  onSignedIn: (key: string) => void;
}) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    const trimmed = key.trim();
    if (!trimmed) {
      setError(new Error('Enter your API key.'));
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      // Any authenticated read proves the key; the smallest one will do.
      await createApi(trimmed).listWebhooks({ limit: 1 });
      onSignedIn(trimmed);
    } catch (err) {
      setError(signInError(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="sign-in">
      <PageTitle>Sign in to Agent Factory webhooks</PageTitle>
      {notice ? <p role="status">{notice}</p> : null}
      <form onSubmit={submit} className="card">
        <label htmlFor="api-key">API key</label>
        <input
          id="api-key"
          name="api-key"
          type="password"
          autoComplete="off"
          spellCheck={false}
          value={key}
          onChange={(e) => setKey(e.target.value)}
          aria-describedby="api-key-help"
          aria-invalid={error ? true : undefined}
        />
        <p id="api-key-help" className="help">
          An account API key (<code>afk_…</code>); <code>npm start</code> prints the development
          account's key. It is kept only for this browser tab and forgotten when you close it or
          sign out.
        </p>
        <ErrorMessage error={error} />
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
