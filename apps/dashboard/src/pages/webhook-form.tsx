import { type FormEvent, useEffect, useId, useRef, useState } from 'react';
import type { CreatedWebhook, Webhook, WebhookInput } from '../api.js';
import { useApi } from '../api-context.js';
import { categories, categoryTitles, eventsIn, eventsToSave, expandEvents } from '../catalog.js';
import { CopyButton } from '../components/copy-button.js';
import { ErrorMessage } from '../components/error-message.js';
import { Loading, PageTitle } from '../components/page-title.js';
import { navigate, paths } from '../router.js';
import { useLoad } from '../use-load.js';

interface FormValues {
  name: string;
  url: string;
  description: string;
  allEvents: boolean;
  events: Set<string>;
  active: boolean;
  secretMode: 'generate' | 'own';
  secret: string;
}

function initialValues(webhook?: Webhook): FormValues {
  return {
    name: webhook?.name ?? '',
    url: webhook?.url ?? '',
    description: webhook?.description ?? '',
    allEvents: webhook?.events.includes('*') ?? false,
    events: expandEvents(webhook?.events ?? []),
    active: webhook?.active ?? true,
    secretMode: 'generate',
    secret: '',
  };
}

/** Problems found before sending; the service checks everything again. */
function localProblems(values: FormValues, creating: boolean): string[] {
  const problems: string[] = [];
  if (!values.name.trim()) problems.push('Enter a name.');
  if (!values.url.trim()) problems.push('Enter the URL that receives the deliveries.');
  if (!values.allEvents && values.events.size === 0) problems.push('Choose at least one event.');
  if (creating && values.secretMode === 'own' && !values.secret) {
    problems.push('Enter your secret, or choose to have one generated.');
  }
  return problems;
}

export function WebhookCreatePage() {
  const api = useApi();
  const [created, setCreated] = useState<CreatedWebhook>();
  if (created) return <CreatedNotice webhook={created} />;
  return (
    <section>
      <PageTitle>Create Webhook</PageTitle>
      <WebhookForm
        submitLabel="Create webhook"
        onSubmit={async (input) => setCreated(await api.createWebhook(input))}
        cancelHref={paths.webhooks}
      />
    </section>
  );
}

export function WebhookEditPage({ id }: { id: string }) {
  const api = useApi();
  const webhook = useLoad(() => api.getWebhook(id), [api, id]);
  return (
    <section>
      <PageTitle>Edit webhook</PageTitle>
      <ErrorMessage error={webhook.error} title="Could not load the webhook." />
      {webhook.loading && !webhook.data ? <Loading what="the webhook" /> : null}
      {webhook.data ? (
        <WebhookForm
          webhook={webhook.data}
          submitLabel="Save changes"
          cancelHref={paths.webhook(id)}
          onSubmit={async ({ secret: _secret, ...patch }) => {
            await api.updateWebhook(id, patch);
            navigate(paths.webhook(id));
          }}
        />
      ) : null}
    </section>
  );
}

function WebhookForm({
  webhook,
  submitLabel,
  cancelHref,
  onSubmit,
}: {
  webhook?: Webhook;
  submitLabel: string;
  cancelHref: string;
  onSubmit: (input: WebhookInput) => Promise<void>;
}) {
  const creating = !webhook;
  const [values, setValues] = useState(() => initialValues(webhook));
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const set = <K extends keyof FormValues>(key: K, value: FormValues[K]) =>
    setValues((v) => ({ ...v, [key]: value }));

  async function submit(event: FormEvent) {
    event.preventDefault();
    const problems = localProblems(values, creating);
    if (problems.length > 0) {
      setError(new Error(problems.join(' ')));
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      const input: WebhookInput = {
        name: values.name.trim(),
        url: values.url.trim(),
        events: values.allEvents ? ['*'] : eventsToSave(values.events, webhook?.events),
        active: values.active,
        description: values.description.trim() || null,
      };
      if (creating && values.secretMode === 'own') input.secret = values.secret;
      await onSubmit(input);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  }

  return (
    <form className="card form" onSubmit={submit} noValidate>
      <div className="field">
        <label htmlFor="wh-name">Name</label>
        <input
          id="wh-name"
          value={values.name}
          onChange={(e) => set('name', e.target.value)}
          required
          maxLength={200}
        />
      </div>
      <div className="field">
        <label htmlFor="wh-url">Endpoint URL</label>
        <input
          id="wh-url"
          type="url"
          inputMode="url"
          placeholder="https://example.com/webhooks/agentfactory"
          value={values.url}
          onChange={(e) => set('url', e.target.value)}
          aria-describedby="wh-url-help"
          required
        />
        <p id="wh-url-help" className="help">
          Receives a signed POST for each event. Use <code>https://</code> in production.
        </p>
      </div>
      <div className="field">
        <label htmlFor="wh-description">Description (optional)</label>
        <input
          id="wh-description"
          value={values.description}
          onChange={(e) => set('description', e.target.value)}
        />
      </div>

      <EventPicker values={values} setValues={setValues} />

      {creating ? <SecretChoice values={values} set={set} /> : null}

      <div className="field checkbox">
        <input
          id="wh-active"
          type="checkbox"
          checked={values.active}
          onChange={(e) => set('active', e.target.checked)}
        />
        <label htmlFor="wh-active">Active (deliver events to this webhook)</label>
      </div>

      <ErrorMessage error={error} title="The webhook was not saved." />
      <div className="actions">
        <button type="submit" disabled={busy}>
          {busy ? 'Saving…' : submitLabel}
        </button>
        <a href={cancelHref} className="button secondary">
          Cancel
        </a>
      </div>
    </form>
  );
}

function EventPicker({
  values,
  setValues,
}: {
  values: FormValues;
  setValues: (update: (v: FormValues) => FormValues) => void;
}) {
  function toggle(names: string[], on: boolean) {
    setValues((v) => {
      const events = new Set(v.events);
      for (const name of names) {
        if (on) events.add(name);
        else events.delete(name);
      }
      return { ...v, events };
    });
  }
  return (
    <fieldset className="events">
      <legend>Events</legend>
      <div className="field checkbox">
        <input
          id="wh-all-events"
          type="checkbox"
          checked={values.allEvents}
          onChange={(e) => setValues((v) => ({ ...v, allEvents: e.target.checked }))}
          aria-describedby="wh-all-events-help"
        />
        <label htmlFor="wh-all-events">All events, including event types added later</label>
        <p id="wh-all-events-help" className="help">
          Subscribes with <code>*</code>. Or choose event types below.
        </p>
      </div>
      <div className="event-groups">
        {categories.map((category) => (
          <EventGroup
            key={category}
            category={category}
            selected={values.events}
            disabled={values.allEvents}
            toggle={toggle}
          />
        ))}
      </div>
      <p className="help">
        <a href="#/events" target="_blank" rel="noreferrer">
          What each event contains (opens the event catalog)
        </a>
      </p>
    </fieldset>
  );
}

function EventGroup({
  category,
  selected,
  disabled,
  toggle,
}: {
  category: string;
  selected: Set<string>;
  disabled: boolean;
  toggle: (names: string[], on: boolean) => void;
}) {
  const events = eventsIn(category);
  const names = events.map((e) => e.name);
  const count = names.filter((n) => selected.has(n)).length;
  const all = count === names.length;
  const some = count > 0 && !all;
  const selectAll = useRef<HTMLInputElement>(null);
  const id = useId();
  useEffect(() => {
    if (selectAll.current) selectAll.current.indeterminate = some;
  }, [some]);
  const title = categoryTitles[category] ?? category;
  return (
    <fieldset className="event-group" disabled={disabled}>
      <legend>{title}</legend>
      <div className="field checkbox select-all">
        <input
          ref={selectAll}
          id={`${id}-all`}
          type="checkbox"
          checked={all}
          onChange={() => toggle(names, !all)}
        />
        <label htmlFor={`${id}-all`}>Select all {title.toLowerCase()}</label>
      </div>
      {events.map((info) => (
        <div key={info.name} className="field checkbox">
          <input
            id={`${id}-${info.name}`}
            type="checkbox"
            checked={selected.has(info.name)}
            onChange={(e) => toggle([info.name], e.target.checked)}
            aria-describedby={`${id}-${info.name}-desc`}
          />
          <label htmlFor={`${id}-${info.name}`}>
            <code>{info.name}</code>
          </label>
          <span id={`${id}-${info.name}-desc`} className="help">
            {info.description}
          </span>
        </div>
      ))}
    </fieldset>
  );
}

function SecretChoice({
  values,
  set,
}: {
  values: FormValues;
  set: <K extends keyof FormValues>(key: K, value: FormValues[K]) => void;
}) {
  return (
    <fieldset>
      <legend>Signing secret</legend>
      <div className="field checkbox">
        <input
          id="wh-secret-generate"
          type="radio"
          name="secret-mode"
          checked={values.secretMode === 'generate'}
          onChange={() => set('secretMode', 'generate')}
        />
        <label htmlFor="wh-secret-generate">Generate a secret for me (recommended)</label>
      </div>
      <div className="field checkbox">
        <input
          id="wh-secret-own"
          type="radio"
          name="secret-mode"
          checked={values.secretMode === 'own'}
          onChange={() => set('secretMode', 'own')}
        />
        <label htmlFor="wh-secret-own">Use my own secret</label>
      </div>
      {values.secretMode === 'own' ? (
        <div className="field">
          <label htmlFor="wh-secret">Your secret</label>
          <input
            id="wh-secret"
            type="text"
            autoComplete="off"
            spellCheck={false}
            value={values.secret}
            onChange={(e) => set('secret', e.target.value)}
            aria-describedby="wh-secret-rules"
          />
        </div>
      ) : null}
      <div id="wh-secret-rules" className="help">
        A generated secret is <code>whsec_</code> followed by 32 random bytes in base64. Your own
        secret must be:
        <ul>
          <li>16 to 256 printable ASCII characters, without spaces or other whitespace;</li>
          <li>
            if it starts with <code>whsec_</code>, the rest must be valid base64 of 24 to 64 bytes.
          </li>
        </ul>
      </div>
    </fieldset>
  );
}

/** Shown once after creating: the guide's "Note webhook ID and secret". */
function CreatedNotice({ webhook }: { webhook: CreatedWebhook }) {
  return (
    <section>
      <PageTitle>Webhook created</PageTitle>
      <div className="card notice" role="status">
        <p>
          <strong>Note the webhook ID and secret now.</strong> Your receiver needs the secret to
          verify signatures. You can reveal it again on the webhook's page.
        </p>
        <dl className="secrets">
          <dt>Webhook ID</dt>
          <dd>
            <code data-testid="created-webhook-id">{webhook.id}</code>
            <CopyButton value={webhook.id} label="webhook ID" />
          </dd>
          <dt>Signing secret</dt>
          <dd>
            <code data-testid="created-webhook-secret">{webhook.secret}</code>
            <CopyButton value={webhook.secret} label="secret" />
          </dd>
        </dl>
      </div>
      <p className="actions">
        <a className="button" href={paths.webhook(webhook.id)}>
          Go to {webhook.name}
        </a>
        <a className="button secondary" href={paths.webhooks}>
          Back to webhooks
        </a>
      </p>
    </section>
  );
}
