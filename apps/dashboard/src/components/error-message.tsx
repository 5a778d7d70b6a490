import { ApiError } from '../api.js';

/** What a person can do about each error code, in their words. */
const hints: Record<string, string> = {
  unauthorized: 'Your API key was not accepted. Sign out and sign in again with a valid key.',
  forbidden: 'This key may not do that. Use an API key of the account that owns the webhook.',
  insufficient_scope:
    "This API key's scopes do not allow this. Sign in with a key that has the scope named above (full does everything).",
  not_found: 'It may have been deleted, or it belongs to another account.',
  url_not_allowed:
    'The service does not deliver to this address. Use a public https:// URL (private and loopback addresses are refused in production).',
  unknown_event_type: 'Pick event types from the list; the catalog page shows every one.',
  delivery_in_flight: 'An attempt is running right now. Wait a moment, then retry.',
  rate_limited: 'Too many requests. Wait a little, then try again.',
  unavailable: 'The service cannot reach its database right now. Try again shortly.',
  network_error: '',
};

/** An error shown where the person is working: the message, each field's problem, a hint. */
export function ErrorMessage({ error, title }: { error: unknown; title?: string }) {
  if (!error) return null;
  const apiError = error instanceof ApiError ? error : undefined;
  const message =
    apiError?.message ?? (error instanceof Error ? error.message : 'Something went wrong.');
  const hint = apiError ? hints[apiError.code] : undefined;
  // A single detail that only repeats the message adds nothing but its field name.
  const details = (apiError?.details ?? []).filter(
    (d, _, all) => !(all.length === 1 && d.message === message),
  );
  return (
    <div className="error" role="alert">
      {title ? <strong>{title} </strong> : null}
      <span>{message}</span>
      {details.length > 0 ? (
        <ul>
          {details.map((detail) => (
            <li key={`${detail.path}:${detail.message}`}>
              {detail.path ? <code>{fieldName(detail.path)}</code> : null} {detail.message}
            </li>
          ))}
        </ul>
      ) : null}
      {hint ? <p className="hint">{hint}</p> : null}
    </div>
  );
}

/** `/events/2` → `events[2]`, `/url` → `url`: the field as the form names it. */
function fieldName(pointer: string): string {
  return pointer
    .split('/')
    .filter(Boolean)
    .map((part, i) => (/^\d+$/.test(part) ? `[${part}]` : i === 0 ? part : `.${part}`))
    .join('');
}
