/**
 * The CLI commands of SPEC §7. `serve` and `migrate` run the service here; `accounts create`,
 * `keys create` and `trigger` call a running service over HTTP; `listen` (in `listen.ts`) forwards
 * the account's events to a local URL; `tester` (in `tester.ts`) is a
 * local receiver.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { eventSamples, isEventName } from '@agentfactory/webhooks';
import { loadClientEnv, loadConfig, parseDuration } from '../config.js';
import { openStore, startService } from '../service.js';
import { request } from './http.js';
import { CliError, type Io } from './output.js';
import { ROTATE_HELP } from './rotate-encryption-key.js';

type Options = NonNullable<Parameters<typeof parseArgs>[0]>['options'];

export const CLIENT_OPTIONS = {
  url: { type: 'string' },
  'api-key': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Options;

function parse<O extends Options>(args: string[], options: O, positionals = false) {
  try {
    return parseArgs({ args, options, allowPositionals: positionals, strict: true });
  } catch (err) {
    throw new CliError((err as Error).message);
  }
}

/** The running service's URL: --url, or the local one on PORT. */
export function clientUrl(flag: string | undefined): string {
  return flag ?? `http://127.0.0.1:${loadClientEnv().port}`;
}

/**
 * An account API key: --api-key, AF_API_KEY, or the development key of the data dir; undefined
 * when there is none.
 */
export function findAccountKey(flag: string | undefined): string | undefined {
  const env = loadClientEnv();
  if (flag) return flag;
  if (env.apiKey) return env.apiKey;
  const file = join(env.dataDir, 'dev-keys.json');
  if (existsSync(file)) {
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { api_key?: string };
    if (saved.api_key) return saved.api_key;
  }
  return undefined;
}

/** An account API key (`findAccountKey`), or the error that asks for one. */
function accountKey(flag: string | undefined): string {
  const key = findAccountKey(flag);
  if (key === undefined)
    throw new CliError('an API key is needed: pass --api-key or set AF_API_KEY');
  return key;
}

/** The admin key: --api-key, AF_ADMIN_KEY, or the generated key of the data dir. */
function adminKey(flag: string | undefined): string {
  const env = loadClientEnv();
  if (flag) return flag;
  if (env.adminKey) return env.adminKey;
  const file = join(env.dataDir, 'admin-key');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  throw new CliError('the admin key is needed: pass --api-key or set AF_ADMIN_KEY');
}

export const HELP: Record<string, string> = {
  main: `agentfactory-webhooks <command> [options]

Commands:
  serve                      run the service (the default)
  migrate                    create or update the database schema, then exit
  accounts create --name N   create an account and its first API key (admin key)
  keys list|create|revoke    the account's API keys (create --account ID: admin key)
  trigger <event>            send a catalog event with its sample data, show its deliveries
  listen --forward-to URL    forward the account's events to a local URL, no tunnel
  tester [--secret S]        a local receiver that shows each request and why it verifies or not
  rotate-encryption-key      re-encrypt every stored secret under the newest encryption key

Options for commands that call a running service:
  --url URL                  the service (default http://127.0.0.1:3000)
  --api-key KEY              the API key (default AF_API_KEY, or the development key)

Run \`agentfactory-webhooks <command> --help\` for a command's options.
Configuration is read from the environment and .env (see docs/configuration.md).`,
  serve: `agentfactory-webhooks serve

Runs the API, the delivery engine and the dashboard. Configured by environment variables
(PORT, HOST, AF_DATA_DIR, AF_ADMIN_KEY, …; see docs/configuration.md). On the first run in
development it creates the data dir, an admin key, an encryption key and a development account,
and prints the keys and a curl that creates a webhook. SIGTERM or SIGINT stops it gracefully.`,
  migrate: `agentfactory-webhooks migrate

Creates or updates the database schema in AF_DATA_DIR and exits.`,
  accounts: `agentfactory-webhooks accounts create --name NAME [--url URL] [--api-key ADMIN_KEY]

Creates an account and prints its id and first API key (shown once). Needs the admin key:
--api-key, AF_ADMIN_KEY, or the generated key in AF_DATA_DIR.`,
  keys: `agentfactory-webhooks keys list [--url URL] [--api-key KEY]
agentfactory-webhooks keys create --name NAME [--scopes S,S] [--expires-at TIME | --expires-in 30d]
agentfactory-webhooks keys revoke KEY_ID
agentfactory-webhooks keys create --account ACCOUNT_ID [--api-key ADMIN_KEY]

The account's API keys, with the account's own key (--api-key, AF_API_KEY, or the development
key; creating and revoking need a key with the scope full):

  list                  every key that is not revoked: id, name, the key's first characters,
                        scopes, when it was created, last used (updated at most once a minute)
                        and when it expires
  create --name NAME    a new key, printed once (only its hash is kept)
    --scopes S,S        full (default: everything), read (every GET but the secrets),
                        events:write (posting events only); several with commas
    --expires-at TIME   refused from then on (RFC 3339, e.g. 2026-12-31T00:00:00Z)
    --expires-in 30d    the same, from now (250ms, 5s, 5m, 24h, 5d)
  revoke KEY_ID         refused from now on, by every process of the service within a second

With the admin key, \`keys create --account ACCOUNT_ID\` creates another key (scope full) for
an account and prints it (shown once).`,
  trigger: `agentfactory-webhooks trigger <event> [--data file.json] [--set field=value …] [--url URL] [--api-key KEY]

Sends a catalog event (e.g. agent.created) with its sample data, prints the event id, waits a
moment and prints its deliveries. --data replaces the sample with a JSON file's object;
--set changes one field (dot paths for nested fields, e.g. --set agent_name="Support bot").`,
  listen: `agentfactory-webhooks listen --forward-to URL [--events a,b] [--session NAME] [--url URL] [--api-key KEY]
agentfactory-webhooks listen --print-secret

Receives the account's events over one outbound connection to the service and POSTs each one to
the local URL as a real delivery: the same body and headers as any webhook, signed with the
account's listen secret (printed at start). No tunnel, nothing listens on your machine but your
receiver. One line per delivery: time, event, event id, your receiver's status and duration.

Deliveries to a listen session are in the delivery log and retried like any other: when your
receiver fails or is down they are retried on the schedule; while listen is not running they
wait (up to the retry window) and arrive when it starts again with the same session.

  --forward-to URL  where your receiver listens, e.g. http://localhost:4000/webhooks
  --events a,b      event names or patterns (agent.*, *); default every event
  --session NAME    the session (default: this host and the --forward-to URL); the same name
                    receives what waited for it; another listen with the same name takes it over
  --print-secret    print only the account's listen secret and exit (for your receiver's env)
  --url URL         the service (default http://127.0.0.1:3000)
  --api-key KEY     the account's API key (default AF_API_KEY, or the development key)

Ctrl-C stops it.`,
  'rotate-encryption-key': ROTATE_HELP,
  tester: `agentfactory-webhooks tester [--secret whsec_…] [--port 5000] [--path /webhooks] [--url URL] [--api-key KEY]

A local receiver for debugging: listens on http://127.0.0.1:PORT/PATH (printed at start) and
prints each request's event (type, id, time, data) and the verdict of both signature schemes
(webhook-* and X-AgentFactory-Signature). A verified request is answered 200 {"ok":true}; any
failure 400 {"error":{"code","message"}} with the SDK's verification error code (400 for every
code: the SDK's own handlers answer 401 for most), and the terminal explains the cause and its
fix: a wrong or re-encoded secret, a changed or re-serialized body, the sha256= prefix, a stale
timestamp or clock skew, a missing header.

  --secret S   the webhook's signing secret; repeat it, or separate several with commas,
               during a rotation (a value is split only where every part has the 16
               characters a secret has at least)
  --port N     port on 127.0.0.1 (default 5000; 0 picks a free one)
  --path P     the path that takes POSTs (default /webhooks; other paths answer 404)
  --url URL    without --secret: the service to ask for the listen secret
               (default http://127.0.0.1:3000)
  --api-key K  without --secret: the account's API key (default AF_API_KEY, or the
               development key)

Without --secret it verifies with the account's listen secret, fetched from the service
(GET /v1/listen/secret) with the account's key; it exits 1 when the service cannot be reached
or refuses the key. Bodies over 1 MiB are answered 413. Ctrl-C stops it.`,
};

export async function serve(args: string[], io: Io): Promise<number> {
  const { values } = parse(args, { help: { type: 'boolean', short: 'h' } });
  if (values.help) return help('serve', io);
  const config = loadConfig();
  const started = startService(config);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      io.err(`${signal} again: exiting now`);
      process.exit(1);
    }
    stopping = true;
    io.err(`${signal}: stopping (in-flight deliveries get a moment to finish)…`);
    started
      .then((service) => service.close())
      .then(
        () => process.exit(0),
        (err) => {
          io.err(`error while stopping: ${(err as Error).message}`);
          process.exit(1);
        },
      );
  };
  // Before the service starts: a signal that comes right after the banner (printed by
  // `startService`) stops it gracefully too, instead of killing the process.
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  await started;
  return new Promise<number>(() => {});
}

export async function migrate(args: string[], io: Io): Promise<number> {
  const { values } = parse(args, { help: { type: 'boolean', short: 'h' } });
  if (values.help) return help('migrate', io);
  const config = loadConfig();
  const store = await openStore(config);
  await store.close();
  io.out(`database is up to date: ${config.databasePath}`);
  return 0;
}

export async function accounts(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(
    args,
    { ...CLIENT_OPTIONS, name: { type: 'string' } },
    true,
  );
  if (values.help) return help('accounts', io);
  if (positionals[0] !== 'create' || positionals.length !== 1)
    throw new CliError('usage: agentfactory-webhooks accounts create --name NAME');
  if (!values.name) throw new CliError('--name is required');
  const opts = { url: clientUrl(values.url), apiKey: adminKey(values['api-key']) };
  const account = await request<{ id: string; name: string; api_key: string }>(
    opts,
    'POST',
    '/v1/accounts',
    { name: values.name },
  );
  io.out(`account  ${account.id}  ${account.name}`);
  io.out(`api key  ${account.api_key}   (shown once: keep it now)`);
  return 0;
}

interface KeyAnswer {
  id: string;
  name: string;
  prefix: string;
  scopes: string[];
  created_at: string;
  last_used_at: string | null;
  expires_at: string | null;
}

const KEYS_USAGE =
  'usage: agentfactory-webhooks keys list | create --name NAME [--scopes S,S] [--expires-at TIME] | revoke KEY_ID | create --account ACCOUNT_ID';

/** `--scopes read,events:write` → the list the API takes; the API validates the names. */
function scopesOption(text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined;
  const scopes = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (scopes.length === 0)
    throw new CliError('--scopes needs at least one of full, read, events:write');
  return scopes;
}

/** `--expires-at` as an RFC 3339 time, or `--expires-in 30d` from now (the service's durations). */
function expiryOption(at: string | undefined, inText: string | undefined): string | undefined {
  if (at !== undefined && inText !== undefined)
    throw new CliError('pass --expires-at or --expires-in, not both');
  if (at !== undefined) return at;
  if (inText === undefined) return undefined;
  let ms: number;
  try {
    ms = parseDuration(inText);
  } catch (err) {
    throw new CliError(`--expires-in ${(err as Error).message}`);
  }
  return new Date(Date.now() + ms).toISOString();
}

export async function keys(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(
    args,
    {
      ...CLIENT_OPTIONS,
      account: { type: 'string' },
      name: { type: 'string' },
      scopes: { type: 'string' },
      'expires-at': { type: 'string' },
      'expires-in': { type: 'string' },
    },
    true,
  );
  if (values.help) return help('keys', io);
  const [action, ...rest] = positionals;
  const url = clientUrl(values.url);

  // The admin's form, as before: another key for an account (scope full).
  if (action === 'create' && values.account !== undefined) {
    if (rest.length > 0) throw new CliError(KEYS_USAGE);
    const opts = { url, apiKey: adminKey(values['api-key']) };
    const key = await request<{ id: string; api_key: string }>(
      opts,
      'POST',
      `/v1/accounts/${encodeURIComponent(values.account)}/api-keys`,
    );
    io.out(`key      ${key.id}`);
    io.out(`api key  ${key.api_key}   (shown once: keep it now)`);
    return 0;
  }

  const opts = { url, apiKey: accountKey(values['api-key']) };
  if (action === 'list' && rest.length === 0) {
    const all: KeyAnswer[] = [];
    let cursor: string | null = null;
    do {
      const page: { data: KeyAnswer[]; next_cursor: string | null } = await request(
        opts,
        'GET',
        `/v1/api-keys?limit=250${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      );
      all.push(...page.data);
      cursor = page.next_cursor;
    } while (cursor);
    if (all.length === 0) {
      io.out('no API keys');
      return 0;
    }
    const rows = [
      ['ID', 'NAME', 'PREFIX', 'SCOPES', 'CREATED', 'LAST USED', 'EXPIRES'],
      ...all.map((k) => [
        k.id,
        k.name,
        `${k.prefix}…`,
        k.scopes.join(','),
        k.created_at,
        k.last_used_at ?? '-',
        k.expires_at ?? 'never',
      ]),
    ];
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    for (const r of rows)
      io.out(
        r
          .map((c, i) => c.padEnd(widths[i]!))
          .join('  ')
          .trimEnd(),
      );
    return 0;
  }
  if (action === 'create' && rest.length === 0) {
    if (!values.name) throw new CliError('--name is required (or --account ID with the admin key)');
    const scopes = scopesOption(values.scopes);
    const expiresAt = expiryOption(values['expires-at'], values['expires-in']);
    const key = await request<KeyAnswer & { api_key: string }>(opts, 'POST', '/v1/api-keys', {
      name: values.name,
      ...(scopes ? { scopes } : {}),
      ...(expiresAt ? { expires_at: expiresAt } : {}),
    });
    io.out(`key      ${key.id}  ${key.name}`);
    io.out(`scopes   ${key.scopes.join(', ')}`);
    io.out(`expires  ${key.expires_at ?? 'never'}`);
    io.out(`api key  ${key.api_key}   (shown once: keep it now)`);
    return 0;
  }
  if (action === 'revoke' && rest.length === 1) {
    await request(opts, 'DELETE', `/v1/api-keys/${encodeURIComponent(rest[0]!)}`);
    io.out(`revoked  ${rest[0]}   (refused from now on, by every process within a second)`);
    return 0;
  }
  throw new CliError(KEYS_USAGE);
}

/** Sets `path` (dot-separated) in `target`; keeps strings as strings where the sample has one. */
export function setField(target: Record<string, unknown>, assignment: string): void {
  const eq = assignment.indexOf('=');
  if (eq <= 0) throw new CliError(`--set expects field=value, got "${assignment}"`);
  const path = assignment.slice(0, eq).split('.');
  const raw = assignment.slice(eq + 1);
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  const last = path.at(-1)!;
  let value: unknown = raw;
  if (typeof node[last] !== 'string') {
    try {
      value = JSON.parse(raw);
    } catch {
      value = raw;
    }
  }
  node[last] = value;
}

interface DeliveryAnswer {
  id: string;
  webhook_id: string;
  status: string;
  attempt_count: number;
  last_status_code: number | null;
  last_error: string | null;
  next_attempt_at: string | null;
}

export async function trigger(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(
    args,
    {
      ...CLIENT_OPTIONS,
      data: { type: 'string' },
      set: { type: 'string', multiple: true },
      wait: { type: 'string' },
    },
    true,
  );
  if (values.help) return help('trigger', io);
  const event = positionals[0];
  if (!event || positionals.length !== 1)
    throw new CliError(
      'usage: agentfactory-webhooks trigger <event> [--data file.json] [--set field=value …]',
    );
  if (!isEventName(event) || event === 'webhook.test')
    throw new CliError(`"${event}" is not an event type of the catalog (see GET /v1/event-types)`);
  const sample: unknown = structuredClone(eventSamples[event]);
  let data = sample as Record<string, unknown>;
  if (values.data) {
    try {
      data = JSON.parse(readFileSync(values.data, 'utf8'));
    } catch (err) {
      throw new CliError(`cannot read --data ${values.data}: ${(err as Error).message}`);
    }
  }
  for (const s of values.set ?? []) setField(data, s);
  const opts = { url: clientUrl(values.url), apiKey: accountKey(values['api-key']) };
  const posted = await request<{ id: string; deliveries: number }>(opts, 'POST', '/v1/events', {
    event,
    data,
  });
  io.out(
    `event ${posted.id} (${event}) accepted: ${posted.deliveries} deliver${posted.deliveries === 1 ? 'y' : 'ies'}`,
  );
  if (posted.deliveries === 0) {
    io.out('no active webhook subscribes to this event: create one first (see README)');
    return 0;
  }
  const waitMs = Math.min(Number(values.wait ?? 3000) || 3000, 60_000);
  const deadline = Date.now() + waitMs;
  let deliveries: DeliveryAnswer[] = [];
  for (let i = 0; i < 200; i++) {
    const page = await request<{ data: DeliveryAnswer[] }>(
      opts,
      'GET',
      `/v1/deliveries?event_id=${posted.id}&limit=250`,
    );
    deliveries = page.data;
    const settled = deliveries.every((d) => d.status !== 'pending' || d.attempt_count > 0);
    if ((settled && deliveries.length > 0) || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 150));
  }
  for (const d of deliveries) {
    const outcome =
      d.last_status_code !== null
        ? `HTTP ${d.last_status_code}`
        : (d.last_error ?? 'not attempted yet');
    const attempts = `${d.attempt_count} attempt${d.attempt_count === 1 ? '' : 's'}`;
    const next =
      d.status === 'pending' && d.next_attempt_at ? `, next at ${d.next_attempt_at}` : '';
    io.out(`  ${d.id} → ${d.webhook_id}  ${d.status} (${outcome}, ${attempts}${next})`);
  }
  return 0;
}

export function help(topic: string, io: Io): number {
  io.out(HELP[topic] ?? HELP.main!);
  return 0;
}
