import { type FormEvent, useState } from 'react';
import { useApi } from '../api-context.js';
import { ErrorMessage } from './error-message.js';

/** `datetime-local` value (local time, minutes) for a Date. */
function toLocalInput(date: Date): string {
  const offset = date.getTimezoneOffset() * 60_000;
  return new Date(date.getTime() - offset).toISOString().slice(0, 16);
}

/** Gives every failed delivery of a period one new attempt now. */
export function RecoverPanel({
  webhookId,
  onRecovered,
}: {
  webhookId: string;
  onRecovered: () => void;
}) {
  const api = useApi();
  const [since, setSince] = useState(() => toLocalInput(new Date(Date.now() - 86_400_000)));
  const [until, setUntil] = useState('');
  const [count, setCount] = useState<number>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();

  async function recover(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    setCount(undefined);
    try {
      const sinceDate = new Date(since);
      if (Number.isNaN(sinceDate.getTime())) throw new Error('Enter the start of the period.');
      const body: { since: string; until?: string } = { since: sinceDate.toISOString() };
      if (until) body.until = new Date(until).toISOString();
      const answer = await api.recover(webhookId, body);
      setCount(answer.deliveries);
      onRecovered();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="card" aria-labelledby="recover-title">
      <h2 id="recover-title">Recover failed deliveries</h2>
      <p className="help">
        After an outage of your receiver: each failed delivery of this webhook created in the period
        gets one new attempt now. Times are in your local time zone.
      </p>
      <form onSubmit={recover} className="inline-form">
        <div className="field">
          <label htmlFor="recover-since">Since</label>
          <input
            id="recover-since"
            type="datetime-local"
            value={since}
            onChange={(e) => setSince(e.target.value)}
            required
          />
        </div>
        <div className="field">
          <label htmlFor="recover-until">Until (optional)</label>
          <input
            id="recover-until"
            type="datetime-local"
            value={until}
            onChange={(e) => setUntil(e.target.value)}
          />
        </div>
        <button type="submit" disabled={busy}>
          Recover failed deliveries
        </button>
      </form>
      <ErrorMessage error={error} title="Nothing was recovered." />
      <p role="status">
        {count === undefined
          ? ''
          : count === 0
            ? 'No failed deliveries in that period.'
            : `${count} ${count === 1 ? 'delivery gets' : 'deliveries get'} a new attempt now.`}
      </p>
    </section>
  );
}
