import { type Diagnosis, diagnoseRequest, type SchemeDiagnosis } from '@agentfactory/webhooks';
import { type FormEvent, useState } from 'react';
import { parseHeaderText } from '../headers-text.js';

const schemeTitles: Record<SchemeDiagnosis['scheme'], string> = {
  standard: 'Standard Webhooks (webhook-signature)',
  body: 'Body signature (X-AgentFactory-Signature)',
};

/**
 * Checks a request a receiver saw: the SDK's `diagnoseRequest` on Web Crypto, in this page. No
 * request is made on this path; the secret stays in the page's memory.
 */
export function SignatureChecker() {
  const [secret, setSecret] = useState('');
  const [showSecret, setShowSecret] = useState(false);
  const [headerText, setHeaderText] = useState('');
  const [body, setBody] = useState('');
  const [result, setResult] = useState<Diagnosis>();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);

  async function check(e: FormEvent) {
    e.preventDefault();
    setResult(undefined);
    setError(undefined);
    const parsed = parseHeaderText(headerText);
    if (!parsed.ok) {
      setError(parsed.error);
      return;
    }
    if (secret === '') {
      setError('Paste the webhook secret (whsec_…).');
      return;
    }
    setBusy(true);
    try {
      setResult(await diagnoseRequest({ body, headers: parsed.headers, secret }));
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="card" aria-labelledby="checker-title">
      <h2 id="checker-title">Signature checker</h2>
      <p className="help">
        Paste what your receiver saw. Both signatures are computed here, in your browser, with the
        SDK on Web Crypto: <strong>the secret never leaves this page</strong> (nothing is sent to
        the service or anywhere else).
      </p>
      <form onSubmit={check}>
        <div className="field">
          <label htmlFor="checker-secret">Secret</label>
          <div className="secret-input">
            <input
              id="checker-secret"
              type={showSecret ? 'text' : 'password'}
              autoComplete="off"
              spellCheck={false}
              value={secret}
              onChange={(e) => setSecret(e.target.value)}
              aria-describedby="checker-secret-help"
            />
            <button
              type="button"
              className="secondary"
              aria-pressed={showSecret}
              aria-controls="checker-secret"
              onClick={() => setShowSecret((s) => !s)}
            >
              {showSecret ? 'Hide secret' : 'Show secret'}
            </button>
          </div>
          <p className="help" id="checker-secret-help">
            The webhook's signing secret, <code>whsec_…</code>, exactly as your receiver holds it.
          </p>
        </div>
        <div className="field">
          <label htmlFor="checker-headers">Request headers</label>
          <textarea
            id="checker-headers"
            rows={8}
            spellCheck={false}
            value={headerText}
            onChange={(e) => setHeaderText(e.target.value)}
            aria-describedby="checker-headers-help"
          />
          <p className="help" id="checker-headers-help">
            One <code>Name: value</code> per line, as your receiver logs them, or a JSON object
            (such as Node's <code>req.headers</code>).
          </p>
        </div>
        <div className="field">
          <label htmlFor="checker-body">Raw body</label>
          <textarea
            id="checker-body"
            rows={8}
            spellCheck={false}
            value={body}
            onChange={(e) => setBody(e.target.value)}
            aria-describedby="checker-body-help"
          />
          <p className="help" id="checker-body-help">
            The bytes as received, before any JSON parsing: one changed space breaks the signature.
          </p>
        </div>
        <button type="submit" disabled={busy}>
          {busy ? 'Checking…' : 'Check signatures'}
        </button>
      </form>
      {error ? (
        <div className="error" role="alert">
          {error}
        </div>
      ) : null}
      <div role="status" aria-live="polite">
        {result ? <Verdict diagnosis={result} /> : null}
      </div>
    </section>
  );
}

function Verdict({ diagnosis: d }: { diagnosis: Diagnosis }) {
  return (
    <div className={`result ${d.verified ? 'ok' : 'bad'}`} data-testid="checker-verdict">
      <p>
        <strong>
          {d.verified
            ? `Verified: constructEvent accepts this request (${schemeTitles[d.scheme]}).`
            : `Not verified: ${d.code}.`}
        </strong>{' '}
        {d.verified ? null : d.message}
      </p>
      {d.event?.event ? (
        <p>
          Event <code>{d.event.event}</code>
          {d.event.id ? (
            <>
              {' '}
              <code>{d.event.id}</code>
            </>
          ) : null}
          {d.verified ? '' : ' (unverified)'}.
        </p>
      ) : null}
      {!d.verified && d.cause ? <Explanation cause={d.cause} fix={d.fix} /> : null}
      <h3>Each signature</h3>
      <ul className="schemes">
        {[d.standard, d.body].map((s) => (
          <li key={s.scheme} aria-label={schemeTitles[s.scheme]}>
            <strong>{schemeTitles[s.scheme]}: </strong>
            {s.ok ? (
              <span className="badge succeeded">ok</span>
            ) : (
              <span className="badge failed">{s.code}</span>
            )}
            {s.ok && s.secretIndex !== undefined && s.secretIndex > 0
              ? ` (secret ${s.secretIndex + 1})`
              : null}
            {!s.present ? <span className="muted"> — its headers did not come</span> : null}
            {!s.ok && s.cause && s.cause === d.cause && s.fix === d.fix ? (
              <p className="help">Cause and fix: as above.</p>
            ) : null}
            {!s.ok && s.cause && (s.cause !== d.cause || s.fix !== d.fix) ? (
              <Explanation cause={s.cause} fix={s.fix} />
            ) : null}
          </li>
        ))}
      </ul>
    </div>
  );
}

function Explanation({ cause, fix }: { cause: string; fix: string | undefined }) {
  return (
    <dl className="explanation">
      <dt>Cause</dt>
      <dd>{cause}</dd>
      {fix ? (
        <>
          <dt>Fix</dt>
          <dd>{fix}</dd>
        </>
      ) : null}
    </dl>
  );
}
