/**
 * `agentfactory-webhooks listen --forward-to <url>` (SPEC §7): the account's events on a laptop,
 * no tunnel. One outbound WebSocket to the service (`GET /v1/listen/connect`, undici's client);
 * each delivery that arrives on it is POSTed to the local URL with its exact body and signed
 * headers, and what the local server answered goes back as the attempt's result, so the delivery
 * log and the retries are the service's as for any webhook (`listen/hub.ts`).
 *
 * The local request is made by the same `Sender` as the service's attempts (timeout, capped body,
 * no redirects), with private networks allowed: here the caller is the developer's own machine.
 * A lost connection is retried with backoff; a session taken over by another `listen`, or
 * deleted, stops this one.
 */
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { WebSocket } from 'undici';
import { systemClock } from '../clock.js';
import { Sender } from '../delivery/sender.js';
import {
  CLOSE,
  type DeliveryMessage,
  parseEventList,
  type ReadyMessage,
  type ResultMessage,
} from '../listen/protocol.js';
import { CLIENT_OPTIONS, clientUrl, help } from './commands.js';
import { CliError, type Io } from './output.js';
import { fetchListenSecret } from './tester.js';

/** Reconnection backoff after a lost connection: 1 s, doubling, at most this. */
const MAX_BACKOFF_MS = 10_000;

export interface ListenOptions {
  url: string;
  apiKey: string;
  forwardTo: string;
  events: string[];
  /** The session's name: the same name receives what waited for it. */
  session: string;
}

export interface RunningListen {
  /** Resolves with the `ready` message of the first connection. */
  ready: Promise<ReadyMessage>;
  /** Resolves when listening ended on its own (session lost): the exit code. */
  ended: Promise<number>;
  close(): Promise<void>;
}

export async function listen(args: string[], io: Io, signal?: AbortSignal): Promise<number> {
  const { values } = parseOptions(args);
  if (values.help) return help('listen', io);
  const url = clientUrl(values.url);
  const { secret, apiKey } = await fetchListenSecret(url, values['api-key'], 'listen');
  if (values['print-secret']) {
    io.out(secret);
    return 0;
  }
  const forwardTo = values['forward-to'];
  if (forwardTo === undefined)
    throw new CliError(
      'listen needs --forward-to <url>: the local URL your receiver listens on, e.g. --forward-to http://localhost:4000/webhooks',
    );
  checkLocalUrl(forwardTo);
  const { events, problem } = parseEventList(values.events);
  if (problem !== undefined) throw new CliError(`--events: ${problem}`);
  const running = startListen(
    {
      url,
      apiKey,
      forwardTo,
      events,
      session: values.session ?? `${hostname()} ${forwardTo}`,
    },
    io,
  );
  const code = await new Promise<number>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      signal?.removeEventListener('abort', stop);
      resolve(0);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    if (signal?.aborted) stop();
    else signal?.addEventListener('abort', stop);
    running.ended.then(resolve);
  });
  await running.close();
  return code;
}

function checkLocalUrl(text: string): void {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new CliError(
      `--forward-to must be an absolute URL such as http://localhost:4000/webhooks, got "${text}"`,
    );
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new CliError(`--forward-to must be an http:// or https:// URL, got "${text}"`);
}

/** Connects (and reconnects) and forwards until `close`, or until the session is lost. */
export function startListen(options: ListenOptions, io: Io): RunningListen {
  const sender = new Sender({ allowPrivateNetworks: true, clock: systemClock });
  let socket: WebSocket | undefined;
  let closing = false;
  let backoff = 1000;
  let retryTimer: NodeJS.Timeout | undefined;
  let resolveReady!: (m: ReadyMessage) => void;
  let rejectReady!: (e: Error) => void;
  const ready = new Promise<ReadyMessage>((resolve, reject) => {
    resolveReady = resolve;
    rejectReady = reject;
  });
  ready.catch(() => {});
  let resolveEnded!: (code: number) => void;
  const ended = new Promise<number>((resolve) => {
    resolveEnded = resolve;
  });
  let firstReady = true;
  const forwarding = new Set<Promise<void>>();

  const connectUrl = new URL('/v1/listen/connect', options.url.replace(/\/+$/, '/'));
  connectUrl.protocol = connectUrl.protocol === 'https:' ? 'wss:' : 'ws:';
  connectUrl.searchParams.set('name', options.session);
  connectUrl.searchParams.set('forward_to', options.forwardTo);
  connectUrl.searchParams.set('events', options.events.join(','));

  const connect = () => {
    if (closing) return;
    const ws = new WebSocket(connectUrl, {
      headers: { authorization: `Bearer ${options.apiKey}` },
    });
    socket = ws;
    let opened = false;
    ws.addEventListener('open', () => {
      opened = true;
    });
    ws.addEventListener('message', (ev) => {
      const message = JSON.parse(String(ev.data)) as ReadyMessage | DeliveryMessage;
      if (message.type === 'ready') {
        backoff = 1000;
        if (firstReady) {
          firstReady = false;
          io.out(
            `Ready: forwarding ${message.session.events.join(', ')} to ${options.forwardTo} (session "${message.session.name}", ${message.session.id})`,
          );
          io.out(
            `Your listen secret is ${message.secret} (set it as your receiver's webhook secret; \`listen --print-secret\` prints it alone). Ctrl-C stops.`,
          );
          resolveReady(message);
        } else {
          io.out(`${stamp()}  reconnected`);
        }
        return;
      }
      if (message.type === 'delivery') {
        const run = forward(ws, message).finally(() => forwarding.delete(run));
        forwarding.add(run);
      }
    });
    ws.addEventListener('close', (ev) => {
      if (socket === ws) socket = undefined;
      if (closing) return;
      if (ev.code === CLOSE.sessionLost || ev.code === CLOSE.protocol) {
        io.err(`listen stopped: ${ev.reason || 'the service closed the session'}`);
        rejectReady(new CliError(ev.reason));
        resolveEnded(1);
        return;
      }
      const why = opened
        ? 'the connection to the service was lost'
        : `cannot connect to ${options.url}`;
      if (!opened && firstReady) {
        // A first connection refused: the key or the query was refused, or nothing listens there.
        io.err(`listen: ${why}; retrying in ${backoff / 1000}s (Ctrl-C stops)`);
      } else {
        io.err(
          `${stamp()}  ${why}; reconnecting in ${backoff / 1000}s (deliveries wait in the service)`,
        );
      }
      retryTimer = setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    });
    ws.addEventListener('error', () => {
      // Followed by `close`, which decides what to do.
    });
  };

  const forward = async (ws: WebSocket, m: DeliveryMessage): Promise<void> => {
    const r = await sender.send({
      url: options.forwardTo,
      headers: m.headers,
      body: m.body,
      timeoutMs: m.timeout_ms,
    });
    const reply: ResultMessage = {
      type: 'result',
      delivery_id: m.delivery_id,
      status_code: r.statusCode,
      error: networkError(r),
      duration_ms: r.durationMs,
      response_headers: r.responseHeaders,
      response_body: r.responseBody,
      response_body_encoding: r.responseBodyEncoding,
    };
    const outcome =
      r.statusCode !== null
        ? `${r.statusCode}${r.error === 'timeout' ? ' timeout' : ''}`
        : `${r.error}${r.error === 'connection_refused' ? ` (is your receiver running on ${options.forwardTo}?)` : ''}`;
    io.out(
      `${stamp()}  ${m.event.padEnd(24)} ${m.event_id}  → ${outcome} (${r.durationMs} ms)${m.attempt > 1 ? `  attempt ${m.attempt}` : ''}`,
    );
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(reply));
  };

  connect();
  return {
    ready,
    ended,
    async close() {
      closing = true;
      if (retryTimer) clearTimeout(retryTimer);
      await Promise.allSettled([...forwarding]);
      const ws = socket;
      if (ws && ws.readyState !== WebSocket.CLOSED) {
        await new Promise<void>((resolve) => {
          ws.addEventListener('close', () => resolve());
          ws.close(1000, 'listen stopped');
          setTimeout(resolve, 2000).unref();
        });
      }
      await sender.destroy();
      rejectReady(new CliError('listen stopped before it was ready'));
    },
  };
}

/** The error a result reports: the network failure, or none when the server answered. */
function networkError(r: {
  statusCode: number | null;
  error: string | null;
}): ResultMessage['error'] {
  if (r.error === 'timeout') return 'timeout';
  if (r.statusCode !== null) return null;
  switch (r.error) {
    case 'connection_refused':
    case 'dns_error':
    case 'tls_error':
      return r.error;
    default:
      return 'connection_error';
  }
}

function stamp(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function parseOptions(args: string[]) {
  const options = {
    ...CLIENT_OPTIONS,
    'forward-to': { type: 'string' },
    events: { type: 'string' },
    session: { type: 'string' },
    'print-secret': { type: 'boolean' },
  } as const;
  try {
    return parseArgs({ args, options, strict: true });
  } catch (err) {
    throw new CliError((err as Error).message);
  }
}
