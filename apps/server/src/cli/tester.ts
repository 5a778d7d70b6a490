/**
 * `agentfactory-webhooks tester` (SPEC §7): a local receiver for debugging. Each request is
 * diagnosed by the SDK's `diagnoseRequest` and printed — the event, each signature scheme's
 * verdict, and on failure the cause and its fix — then answered 200 `{"ok":true}` when it
 * verifies, else 400 `{"error":{"code","message"}}` with the SDK's verification error code.
 * Without `--secret` it verifies with the account's listen secret (`GET /v1/listen/secret`, with
 * the account's key: --api-key, AF_API_KEY or the development key).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import {
  type Diagnosis,
  diagnoseRequest,
  type SchemeDiagnosis,
  verifySignature,
  WebhookVerificationError,
} from '@agentfactory/webhooks';
import { CLIENT_OPTIONS, clientUrl, findAccountKey, help } from './commands.js';
import { request } from './http.js';
import { CliError, type Io } from './output.js';

/** Largest body the tester reads; a larger one is answered 413. */
export const TESTER_MAX_BODY = 1024 * 1024;
const HOST = '127.0.0.1';
const DATA_MAX_LINES = 40;
const DATA_MAX_LINE_CHARS = 200;
/** The shortest secret there is (SPEC §3), which tells a list of secrets from one with a comma. */
const SECRET_MIN_LENGTH = 16;

export interface TesterOptions {
  /** Port on 127.0.0.1; 0 picks a free one. */
  port: number;
  /** The path that takes the POSTs, e.g. `/webhooks`. */
  path: string;
  /** The secrets to verify with: one, or several during a rotation. */
  secrets: string[];
}

export interface RunningTester {
  /** The URL to point a webhook at, with the port actually bound. */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Splits `--secret` values on commas, unless a part is too short to be a secret of its own. */
export function splitSecrets(values: readonly string[]): string[] {
  return values.flatMap((value) => {
    const parts = value.split(',');
    return parts.length > 1 && parts.every((p) => p.length >= SECRET_MIN_LENGTH) ? parts : [value];
  });
}

export async function tester(args: string[], io: Io, signal?: AbortSignal): Promise<number> {
  const { values } = parseOptions(args);
  if (values.help) return help('tester', io);
  const portText = values.port ?? '5000';
  const port = Number(portText);
  if (!/^\d{1,5}$/.test(portText) || port > 65535) {
    throw new CliError(
      `--port must be a number from 0 to 65535 (0 picks a free one), got "${portText}"`,
    );
  }
  const path = values.path ?? '/webhooks';
  if (!path.startsWith('/')) throw new CliError(`--path must start with "/", got "${path}"`);
  let secrets = splitSecrets(values.secret ?? []);
  const fromService = secrets.length === 0;
  if (fromService) {
    const url = clientUrl(values.url);
    secrets = [(await fetchListenSecret(url, values['api-key'], 'tester')).secret];
    io.out(
      `tester: no --secret, verifying with the account's listen secret from ${url} (${secretPrefix(secrets[0]!)})`,
    );
  }
  try {
    // Resolves for well-formed secrets; rejects with the SDK's reason (whitespace, bad base64…).
    await verifySignature('', undefined, secrets);
  } catch (err) {
    if (err instanceof WebhookVerificationError)
      throw new CliError(`${fromService ? 'the listen secret' : '--secret'}: ${err.message}`);
    throw err;
  }

  const running = await startTester({ port, path, secrets }, io);
  io.out(
    `tester listening: point a webhook at ${running.url} (${secrets.length} secret${secrets.length === 1 ? '' : 's'}; 200 when verified, else 400; Ctrl-C stops)`,
  );
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      signal?.removeEventListener('abort', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    if (signal?.aborted) stop();
    else signal?.addEventListener('abort', stop);
  });
  await running.close();
  io.out('tester stopped');
  return 0;
}

/** A secret as the terminal may show it: its first 10 characters, then `…`. */
export function secretPrefix(secret: string): string {
  return `${secret.slice(0, 10)}…`;
}

/**
 * The account's listen secret, `GET /v1/listen/secret` with the account's key (--api-key,
 * AF_API_KEY or the development key); a CliError (exit 1) when there is no key, the service
 * cannot be reached or refuses the key. `command` names who asks, in the errors.
 */
export async function fetchListenSecret(
  url: string,
  keyFlag: string | undefined,
  command: 'tester' | 'listen',
): Promise<{ secret: string; apiKey: string }> {
  const apiKey = findAccountKey(keyFlag);
  if (apiKey === undefined) {
    throw new CliError(
      command === 'tester'
        ? "tester needs a secret: pass --secret whsec_… (the webhook's signing secret; GET /v1/webhooks/{id}/secret shows it), or --api-key (or AF_API_KEY) to verify with the account's listen secret"
        : "listen needs the account's API key: pass --api-key or set AF_API_KEY (`npm start` prints the development key)",
    );
  }
  try {
    const answer = await request<{ secret?: unknown }>({ url, apiKey }, 'GET', '/v1/listen/secret');
    if (typeof answer?.secret !== 'string')
      throw new CliError('GET /v1/listen/secret answered without a secret');
    return { secret: answer.secret, apiKey };
  } catch (err) {
    if (err instanceof CliError)
      throw new CliError(
        `${command} could not fetch the account's listen secret from ${url}: ${err.message}${command === 'tester' ? ' (or pass --secret whsec_…)' : ''}`,
      );
    throw err;
  }
}

function parseOptions(args: string[]) {
  const options = {
    ...CLIENT_OPTIONS,
    port: { type: 'string' },
    path: { type: 'string' },
    secret: { type: 'string', multiple: true },
  } as const;
  try {
    return parseArgs({ args, options, strict: true });
  } catch (err) {
    throw new CliError((err as Error).message);
  }
}

/** Starts the tester's server on 127.0.0.1 and resolves once it listens. */
export async function startTester(options: TesterOptions, io: Io): Promise<RunningTester> {
  const path = trimSlash(options.path);
  let url = '';
  const server = createServer((req, res) => {
    handle(req, res, { ...options, path }, url, io).catch((err: unknown) => {
      io.err(`tester: error while handling ${req.method} ${req.url}: ${(err as Error).message}`);
      if (!res.headersSent)
        answer(res, 500, { error: { code: 'internal', message: 'tester error' } });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'EADDRINUSE'
          ? new CliError(
              `port ${options.port} is already in use on ${HOST}: pass another --port (0 picks a free one)`,
            )
          : err,
      );
    });
    server.listen(options.port, HOST, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  url = `http://${HOST}:${port}${path}`;
  return {
    url,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  options: TesterOptions,
  url: string,
  io: Io,
): Promise<void> {
  const when = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const pathname = trimSlash(new URL(req.url ?? '/', 'http://tester').pathname);
  const line = `${when} ${req.method} ${req.url}`;
  if (pathname !== options.path) {
    req.resume();
    io.out(`${line}  → 404: the tester listens on ${options.path} (point the webhook at ${url})`);
    return answer(res, 404, {
      error: { code: 'not_found', message: `The tester receives webhooks at ${url}.` },
    });
  }
  if (req.method !== 'POST') {
    req.resume();
    io.out(`${line}  → 405: webhooks are POSTed`);
    res.setHeader('allow', 'POST');
    return answer(res, 405, {
      error: { code: 'method_not_allowed', message: `The tester takes POST requests at ${url}.` },
    });
  }
  const body = await readBody(req);
  if (body === undefined) {
    io.out(`${line}  → 413: the body is larger than ${TESTER_MAX_BODY} bytes`);
    return answer(res, 413, {
      error: { code: 'payload_too_large', message: `The tester reads bodies up to 1 MiB.` },
    });
  }
  const d = await diagnoseRequest({ body, headers: req.headers, secret: options.secrets });
  const block = describe(line, d, req, body, options.secrets.length);
  if (d.verified) {
    io.out([...block, '  → 200 verified'].join('\n'));
    return answer(res, 200, { ok: true });
  }
  const code = d.code ?? 'signature_mismatch';
  io.out([...block, `  → 400 ${code}`].join('\n'));
  return answer(res, 400, {
    error: { code, message: [d.cause, d.fix].filter(Boolean).join(' ') },
  });
}

/** The printed lines of one request: the event, each scheme's verdict, the causes and fixes. */
function describe(
  line: string,
  d: Diagnosis,
  req: IncomingMessage,
  body: Buffer,
  secretCount: number,
): string[] {
  const header = (name: string) => {
    const v = req.headers[name];
    return Array.isArray(v) ? v.join(', ') : v;
  };
  const type = d.event?.event ?? header('x-agentfactory-event') ?? '(no event type)';
  const id = d.event?.id ?? header('x-agentfactory-event-id') ?? '(no event id)';
  const out = [
    `${line}  ${type}  ${id}  (${body.length} bytes${d.verified ? '' : ', unverified'})`,
  ];
  const delivery = header('x-agentfactory-delivery');
  const attempt = header('x-agentfactory-attempt');
  const extra = [delivery && `delivery ${delivery}`, attempt && `attempt ${attempt}`].filter(
    Boolean,
  );
  out.push(
    `  event time: ${d.event?.timestamp ?? '(none)'}${extra.length ? `  (${extra.join(', ')})` : ''}`,
  );
  if (d.event)
    out.push(...(d.event.data === undefined ? ['  data: (none)'] : prettyData(d.event.data)));
  else out.push(`  body: ${body.length === 0 ? '(empty)' : `not a JSON object: ${preview(body)}`}`);
  const printed = new Set<string>();
  const explain = (indent: string, cause?: string, fix?: string) => {
    if (!cause) return;
    if (printed.has(cause)) {
      out.push(`${indent}cause: the same as above`);
      return;
    }
    printed.add(cause);
    out.push(`${indent}cause: ${cause}`);
    if (fix) out.push(`${indent}fix:   ${fix}`);
  };
  for (const scheme of [d.standard, d.body]) {
    out.push(`  ${schemeName(scheme).padEnd(40)} ${verdictText(scheme, secretCount)}`);
    if (!scheme.ok && scheme.present) explain('      ', scheme.cause, scheme.fix);
  }
  if (!d.verified && d.cause && !printed.has(d.cause)) explain('  ', d.cause, d.fix);
  return out;
}

function schemeName(scheme: SchemeDiagnosis): string {
  return scheme.scheme === 'standard'
    ? 'webhook-signature (Standard Webhooks):'
    : 'X-AgentFactory-Signature (body only):';
}

function verdictText(scheme: SchemeDiagnosis, secretCount: number): string {
  if (scheme.ok) {
    return secretCount > 1 && scheme.secretIndex !== undefined
      ? `ok (secret #${scheme.secretIndex + 1})`
      : 'ok';
  }
  if (!scheme.present) {
    return scheme.scheme === 'standard'
      ? 'absent (no webhook-* headers: no replay protection)'
      : 'absent';
  }
  return `FAILED ${scheme.code}`;
}

/** The event's data, pretty-printed, at most DATA_MAX_LINES lines of DATA_MAX_LINE_CHARS. */
function prettyData(data: unknown): string[] {
  const lines = (JSON.stringify(data, null, 2) ?? 'undefined').split('\n');
  const shown = lines
    .slice(0, DATA_MAX_LINES)
    .map((l) => (l.length > DATA_MAX_LINE_CHARS ? `${l.slice(0, DATA_MAX_LINE_CHARS)}…` : l));
  if (lines.length > DATA_MAX_LINES) shown.push(`… (${lines.length - DATA_MAX_LINES} more lines)`);
  const [first, ...rest] = shown;
  return [`  data: ${first}`, ...rest.map((l) => `        ${l}`)];
}

/** The start of a body that is not JSON, quoted, control characters escaped. */
function preview(body: Buffer): string {
  const text = body.subarray(0, 200).toString('utf8');
  return `${JSON.stringify(text)}${body.length > 200 ? '…' : ''}`;
}

/**
 * The raw body, or undefined when it is larger than TESTER_MAX_BODY: then the rest is read and
 * dropped, so that the client, still sending, gets the 413 instead of a reset connection.
 */
async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = false;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > TESTER_MAX_BODY) tooLarge = true;
    if (!tooLarge) chunks.push(chunk as Buffer);
  }
  return tooLarge ? undefined : Buffer.concat(chunks);
}

function answer(res: ServerResponse, status: number, body: unknown): void {
  res.statusCode = status;
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(body));
}

function trimSlash(path: string): string {
  return path.length > 1 ? path.replace(/\/+$/, '') : path;
}
