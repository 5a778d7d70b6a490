import { isIP } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { Agent, buildConnector, type Dispatcher } from 'undici';
import type { Clock } from '../clock.js';
import { BUILT_IN } from '../config.js';
import {
  BlockedAddressError,
  checkAddress,
  createGuardedLookup,
  type Resolver,
} from '../security/ssrf.js';
import type { AttemptError, BodyEncoding } from '../store/types.js';
import { recordBody, recordHeaders } from './response-body.js';
import { parseRetryAfter } from './retry-policy.js';

/**
 * One HTTP attempt, and nothing else: no retries, no state. It owns the undici `Agent` (keep-alive
 * pools per origin) and the connection policy that must never be turned off: TLS 1.2+ with
 * certificate validation, the SSRF guard on the address actually connected to, no redirects, a
 * whole-request timeout (headers and body), and a response body read with a streaming cap so a
 * receiver cannot make us buffer megabytes.
 */
export interface SendRequest {
  url: string;
  /** Sent in this order. */
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  /** Stops the request early (the engine lost the delivery's lease); reported as a timeout. */
  cancel?: Cancel;
}

/**
 * Stops an attempt early: the engine makes one per attempt and cancels it when the delivery's
 * lease is given up. A plain hook rather than an `AbortController`: the controller, its signal
 * and the listener cost about 10 µs of CPU per attempt (docs/performance.md) for a call that
 * almost never comes.
 */
export class Cancel {
  cancelled = false;
  /** Set by the sender while its request runs. */
  onCancel: (() => void) | undefined = undefined;

  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.onCancel?.();
  }
}

export interface SendResult {
  /** Epoch ms (injected clock) when the request started. */
  startedAt: number;
  durationMs: number;
  /** Null on network errors and timeouts before the status line. */
  statusCode: number | null;
  succeeded: boolean;
  error: AttemptError | null;
  responseHeaders: Record<string, string>;
  /** First `maxResponseBytes` of the body (see `recordBody`); null when nothing was read. */
  responseBody: string | null;
  responseBodyEncoding: BodyEncoding | null;
  /** A parsed `Retry-After`, in ms. */
  retryAfterMs: number | undefined;
  /**
   * What Node or undici threw, when the request failed before an answer (not stored: `error`
   * is the SPEC code the attempt keeps). The test action's diagnosis reads it to tell an expired
   * certificate from a self-signed one, both `tls_error`.
   */
  detail?: ErrorDetail | undefined;
}

/** The underlying error of a failed request: its most telling `code` and its message. */
export interface ErrorDetail {
  code: string | undefined;
  message: string;
}

export interface SenderOptions {
  allowPrivateNetworks: boolean;
  clock: Clock;
  /** Default `BUILT_IN.responseBodyBytes`, 4096 (SPEC §4). */
  maxResponseBytes?: number;
  /** Idle keep-alive sockets are closed after this; default 30 s. */
  keepAliveTimeoutMs?: number;
  /** Name resolution under the SSRF guard; default `dns.lookup`. Tests inject names. */
  resolver?: Resolver;
}

/** Past the cap we read (and drop) up to this much more to keep the connection reusable. */
const DRAIN_LIMIT = 64 * 1024;
/**
 * Connections open at once to one origin (scheme, host and port), all webhooks together
 * (`config.ts`): a worker's attempts to one host stay bounded however many webhooks point at it.
 * It is above the per-webhook cap (`AF_ENDPOINT_CONCURRENCY`, 10) times a dozen webhooks on one
 * host; requests past it wait for a connection within their own timeout.
 */
const MAX_CONNECTIONS_PER_ORIGIN = BUILT_IN.connectionsPerOrigin;

/** The one address `allowOwnReceiver` lets through. */
const OWN_HOST = '127.0.0.1';

export class Sender {
  private readonly agent: Agent;
  private readonly clock: Clock;
  private readonly maxBytes: number;
  /**
   * Loopback ports this process itself listens on, let past the SSRF guard (`allowOwnReceiver`):
   * `127.0.0.1:<port>` exactly, nothing else of the loopback.
   */
  private readonly ownPorts = new Set<string>();

  constructor(opts: SenderOptions) {
    this.clock = opts.clock;
    this.maxBytes = opts.maxResponseBytes ?? BUILT_IN.responseBodyBytes;
    const allowPrivate = opts.allowPrivateNetworks;
    const connector = buildConnector({
      lookup: createGuardedLookup(allowPrivate, opts.resolver),
      minVersion: 'TLSv1.2',
      rejectUnauthorized: true,
    } as buildConnector.BuildOptions);
    this.agent = new Agent({
      keepAliveTimeout: opts.keepAliveTimeoutMs ?? 30_000,
      connections: MAX_CONNECTIONS_PER_ORIGIN,
      pipelining: 1,
      connect: (options, callback) => {
        // `net.connect` skips the lookup for IP literals, so they are checked here, under either
        // policy (0.0.0.0 reaches loopback on Linux; metadata addresses are refused always).
        const host = options.hostname.replace(/^\[|\]$/g, '');
        if (isIP(host) !== 0 && !(host === OWN_HOST && this.ownPorts.has(String(options.port)))) {
          try {
            checkAddress(host, allowPrivate);
          } catch (err) {
            callback(err as Error, null);
            return;
          }
        }
        connector(options, (err, socket) => {
          if (socket && options.protocol === 'https:') this.observe(options, socket);
          callback(err, socket as never);
        });
      },
    });
  }

  /**
   * Lets attempts connect to `http://127.0.0.1:<port>`, a receiver of this process's own (the
   * warm-up's, `warm-up.ts`), whatever `allowPrivateNetworks` says, until the returned function
   * is called. Only that address and port: the rest of the loopback stays refused.
   */
  allowOwnReceiver(port: number): () => void {
    const key = String(port);
    this.ownPorts.add(key);
    return () => {
      this.ownPorts.delete(key);
    };
  }

  /**
   * `notAfter` of the certificate each origin presented on its latest new TLS connection (the
   * certificate watch reads it: `certificateVersion`, `certificateOf`). Recorded from the
   * connections the attempts open anyway, never from one of its own.
   */
  private readonly certificates = new Map<string, number>();
  /** Changes whenever a new connection records a certificate. */
  certificateVersion = 0;

  private observe(options: buildConnector.Options, socket: object): void {
    const peer = (socket as Partial<TLSSocket>).getPeerCertificate?.();
    const notAfter = peer?.valid_to ? Date.parse(peer.valid_to) : Number.NaN;
    if (Number.isNaN(notAfter)) return;
    const host =
      options.hostname.includes(':') && !options.hostname.startsWith('[')
        ? `[${options.hostname}]`
        : options.hostname;
    try {
      const origin = new URL(`https://${host}${options.port ? `:${options.port}` : ''}`).origin;
      this.certificates.set(origin, notAfter);
      this.certificateVersion++;
    } catch {
      // Not a host a URL can name: no webhook's URL has this origin either.
    }
  }

  /** The `notAfter` last recorded for the origin of `url` (epoch ms), if it was connected to. */
  certificateOf(url: string): number | undefined {
    try {
      return this.certificates.get(new URL(url).origin);
    } catch {
      return undefined;
    }
  }

  /**
   * One POST through the agent's `dispatch` with a handler of its own, not undici's `request`:
   * that one wraps each answer in a `Readable` read through an async iterator, and cost ~35 µs of
   * CPU per request against ~18 µs here (the main thread's largest single cost per delivery;
   * docs/performance.md). The handler keeps the first `maxResponseBytes` of the body, drains up to
   * `DRAIN_LIMIT` more for keep-alive, and aborts the rest.
   */
  send(req: SendRequest): Promise<SendResult> {
    const startedAt = this.clock.now();
    const t0 = performance.now();
    const maxBytes = this.maxBytes;
    return new Promise<SendResult>((resolve) => {
      let controller: Dispatcher.DispatchController | undefined;
      /** Why this side ended the request: the timeout (or a lost lease), or enough body read. */
      let stopped: 'timeout' | 'drained' | undefined;
      let statusCode: number | null = null;
      let headers: Record<string, string> = {};
      const chunks: Buffer[] = [];
      let kept = 0;
      let seen = 0;
      let settled = false;

      const stop = (why: 'timeout' | 'drained') => {
        stopped ??= why;
        controller?.abort(new Error(why === 'timeout' ? 'attempt timed out' : 'body drained'));
      };
      const onAbort = () => stop('timeout');
      const timer = setTimeout(onAbort, req.timeoutMs);
      const finish = (error: AttemptError | null, thrown?: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (req.cancel) req.cancel.onCancel = undefined;
        const read = statusCode === null ? null : Buffer.concat(chunks);
        const body = read && read.length > 0 ? recordBody(read, seen > kept) : null;
        resolve({
          startedAt,
          durationMs: Math.max(0, Math.round(performance.now() - t0)),
          statusCode,
          succeeded: error === null,
          error,
          responseHeaders: headers,
          responseBody: body?.body ?? null,
          responseBodyEncoding: body?.encoding ?? null,
          retryAfterMs: parseRetryAfter(headers['retry-after'], this.clock.now()),
          ...(thrown === undefined ? {} : { detail: errorDetail(thrown) }),
        });
      };

      let url: URL;
      try {
        url = new URL(req.url);
      } catch (err) {
        finish(mapError(err), err);
        return;
      }
      if (req.cancel?.cancelled) stopped = 'timeout';
      else if (req.cancel) req.cancel.onCancel = onAbort;
      this.agent.dispatch(
        {
          origin: url.origin,
          path: `${url.pathname}${url.search}`,
          method: 'POST',
          headers: req.headers,
          body: req.body,
          headersTimeout: req.timeoutMs,
          bodyTimeout: req.timeoutMs,
        },
        {
          onRequestStart(c) {
            controller = c;
            if (stopped) c.abort(new Error('attempt timed out'));
          },
          onResponseStart(_c, status, responseHeaders) {
            statusCode = status;
            headers = recordHeaders(flattenHeaders(responseHeaders));
          },
          onResponseData(_c, chunk) {
            seen += chunk.length;
            if (kept < maxBytes) {
              const part = chunk.subarray(0, maxBytes - kept);
              chunks.push(part);
              kept += part.length;
            }
            if (seen > maxBytes + DRAIN_LIMIT) stop('drained');
          },
          onResponseEnd() {
            if (statusCode === null) return finish('connection_error');
            finish(stopped === 'timeout' ? 'timeout' : errorOfStatus(statusCode));
          },
          onResponseError(_c, err) {
            if (stopped === 'timeout') return finish('timeout');
            // The status arrived and the rest of the body was refused on purpose: the answer stands.
            if (stopped === 'drained' && statusCode !== null)
              return finish(errorOfStatus(statusCode));
            finish(mapError(err), err);
          },
        },
      );
    });
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  /** Closes at once, failing requests still running (shutdown past its grace). */
  async destroy(): Promise<void> {
    await this.agent.destroy();
  }
}

/**
 * What an answer's status makes of an attempt (SPEC §4): 2xx succeeded, 3xx a redirect (never
 * followed), anything else `response_status`. The `listen` hub decides its CLI's reports with it.
 */
export function errorOfStatus(status: number): AttemptError | null {
  if (status >= 200 && status < 300) return null;
  return status >= 300 && status < 400 ? 'redirect' : 'response_status';
}

function flattenHeaders(h: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) continue;
    out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_TLS_HANDSHAKE_TIMEOUT',
  'EPROTO',
  'HOSTNAME_MISMATCH',
]);

/**
 * The `code` that says most about a thrown error, along its `cause` chain: a TLS or system code
 * (`CERT_HAS_EXPIRED`, `ECONNREFUSED`) rather than undici's wrapper (`UND_ERR_SOCKET`); and the
 * message of the error that carries it.
 */
export function errorDetail(err: unknown): ErrorDetail {
  let first: ErrorDetail | undefined;
  for (const e of causeChain(err)) {
    const code = (e as { code?: unknown }).code;
    const message = String((e as { message?: unknown }).message ?? '');
    if (typeof code === 'string') {
      if (!code.startsWith('UND_ERR_')) return { code, message };
      first ??= { code, message };
    }
  }
  return first ?? { code: undefined, message: err instanceof Error ? err.message : String(err) };
}

/** `err` and the errors along its `cause` chain, each once (a chain may loop). */
function* causeChain(err: unknown): Generator<object> {
  const seen = new Set<unknown>();
  let e: unknown = err;
  while (e && typeof e === 'object' && !seen.has(e)) {
    seen.add(e);
    yield e;
    e = (e as { cause?: unknown }).cause;
  }
}

/** Maps a thrown network error to the attempt error codes of SPEC §5. */
export function mapError(err: unknown): AttemptError {
  for (const e of causeChain(err)) {
    if (e instanceof BlockedAddressError) return 'blocked_address';
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') {
      if (code === 'ERR_BLOCKED_ADDRESS') return 'blocked_address';
      // undici refuses the request itself (a header value it will not send): no retry fixes it.
      if (code === 'UND_ERR_INVALID_ARG') return 'configuration_error';
      if (code === 'ECONNREFUSED') return 'connection_refused';
      if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code.startsWith('EAI_')) {
        return 'dns_error';
      }
      if (
        code === 'UND_ERR_HEADERS_TIMEOUT' ||
        code === 'UND_ERR_BODY_TIMEOUT' ||
        code === 'UND_ERR_CONNECT_TIMEOUT' ||
        code === 'ETIMEDOUT'
      ) {
        return 'timeout';
      }
      if (TLS_CODES.has(code) || code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_')) {
        return 'tls_error';
      }
    }
  }
  // A plain message from OpenSSL without a code (rare) still says so.
  if (err instanceof Error && /certificate|ssl|tls/i.test(err.message)) return 'tls_error';
  return 'connection_error';
}
