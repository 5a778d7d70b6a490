/**
 * The service's side of `listen` (SPEC §7): each api process holds the WebSocket connections
 * that landed on it, one per session, and sends those sessions' deliveries over them.
 *
 * - A session is a webhook of its own kind (`ListenSessionRow`): fan-out gives it deliveries like
 *   any webhook, no worker claims them (the claim leaves them out), and the connection's process
 *   claims them for that session alone (`ClaimOptions.webhooks`), under its own lease owner, so
 *   two connections of one session never send the same delivery at once.
 * - Each attempt is an `AttemptRunner` attempt whose transport is the socket: the request is built
 *   and signed as any webhook's (with the account's listen secret), the CLI POSTs it locally and
 *   answers what happened, and the retry policy decides the state. The outcome is recorded with
 *   `completeAttempts`, so the delivery log, retries, manual retry and metrics are the same.
 * - While no connection holds a session its deliveries wait, due, and are claimed on the next
 *   connection; a connection that closes mid-attempt releases its leases without an attempt (the
 *   CLI may have forwarded it: at least once, as every delivery). A session not seen for the retry
 *   window is deleted with what waits for it (`expireListenSessions`), so nothing waits forever.
 * - A connection marks its session seen every `listenHeartbeatMs`; when the store says another
 *   connection holds it now (or it was deleted), this one is closed with `CLOSE.sessionLost`.
 *   WebSocket pings find a CLI that vanished without closing.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import type { Clock } from '../clock.js';
import { BUILT_IN, DEFAULTS, type DeliveryConfig, parseDuration } from '../config.js';
import { AttemptRunner } from '../delivery/attempt.js';
import type { EngineMetrics } from '../delivery/engine.js';
import { parseRetryAfter } from '../delivery/retry-policy.js';
import { errorOfStatus, type SendRequest, type SendResult } from '../delivery/sender.js';
import { newId } from '../ids.js';
import { blobContext, type Cipher } from '../security/crypto.js';
import { generateSecret } from '../security/secrets.js';
import { hasWorkNotifier } from '../store/capabilities.js';
import type { AttemptError, ClaimedDelivery, ListenSessionRow, Store } from '../store/types.js';
import {
  CLOSE,
  type DeliveryMessage,
  parseResult,
  type ReadyMessage,
  type ResultMessage,
} from './protocol.js';

/** How long past the attempt's timeout the service waits for the CLI's result. */
const RESULT_GRACE_MS = 5_000;
/** A CLI that answers no ping within this is gone. */
const PING_MS = 15_000;
/** How long a close waits for the client's close frame before dropping the connection. */
const CLOSE_HANDSHAKE_MS = 2_000;
/** How often the hub deletes sessions not seen for the retry window. */
const EXPIRY_SWEEP_MS = 60_000;

export interface ListenHubOptions {
  store: Store;
  cipher: Cipher;
  clock: Clock;
  log: Logger;
  config: DeliveryConfig;
  metrics?: Pick<EngineMetrics, 'attemptFinished'> | undefined;
}

/** The account's listen secret and its stored blob, created on the account's first use. */
export async function listenSecretOf(
  store: Store,
  cipher: Cipher,
  accountId: string,
): Promise<{ secret: string; enc: string }> {
  const stored = await store.getListenSecret(accountId);
  const context = blobContext.listenSecret(accountId);
  // The first use: one secret wins, even against a concurrent first use.
  const enc =
    stored ??
    (await store.setListenSecretIfAbsent(accountId, cipher.encrypt(generateSecret(), context)));
  return { secret: cipher.decrypt(enc, context), enc };
}

/** The socket closed before the CLI answered: the delivery is released, not attempted. */
class Disconnected extends Error {}

export class ListenHub {
  readonly store: Store;
  readonly log: Logger;
  readonly clock: Clock;
  readonly config: DeliveryConfig;
  readonly runner: AttemptRunner;
  /** How long a claim holds a delivery (`AF_LEASE_DURATION`), as the engine's. */
  readonly leaseMs: number;
  private readonly cipher: Cipher;
  private readonly connections = new Set<ListenConnection>();
  private unsubscribe: (() => void) | undefined;
  private sweep: NodeJS.Timeout | undefined;
  private stopping = false;

  constructor(opts: ListenHubOptions) {
    this.store = opts.store;
    this.cipher = opts.cipher;
    this.clock = opts.clock;
    this.log = opts.log;
    this.config = opts.config;
    this.leaseMs = opts.config.leaseMs ?? parseDuration(DEFAULTS.AF_LEASE_DURATION);
    this.runner = new AttemptRunner({
      cipher: opts.cipher,
      clock: opts.clock,
      log: opts.log,
      config: opts.config,
      metrics: opts.metrics,
      random: Math.random,
    });
  }

  /** Wakes on other processes' new work (PostgreSQL) and sweeps expired sessions. */
  start(): void {
    if (hasWorkNotifier(this.store))
      this.unsubscribe = this.store.onWorkAvailable(() => this.notify());
    this.sweep = setInterval(() => void this.expire(), EXPIRY_SWEEP_MS);
    this.sweep.unref();
  }

  /** New work may be due (events accepted, a retry asked for): each connection claims. */
  notify(): void {
    for (const c of this.connections) c.pump();
  }

  /** Sessions of every account not seen for the retry window, deleted. */
  async expire(): Promise<number> {
    const now = this.clock.now();
    try {
      const n = await this.store.expireListenSessions(now - BUILT_IN.listenExpiryMs, now);
      if (n > 0)
        this.log.info({ sessions: n }, 'listen sessions not seen for the retry window deleted');
      return n;
    } catch (err) {
      this.log.warn({ err }, 'deleting expired listen sessions failed');
      return 0;
    }
  }

  /**
   * A CLI connected as `accountId`: opens (or takes over) the session, says `ready`, and sends
   * its deliveries until the socket closes.
   */
  async accept(
    socket: WebSocket,
    accountId: string,
    params: { name: string; forwardTo: string; events: string[] },
  ): Promise<void> {
    if (this.stopping) {
      socket.close(CLOSE.goingAway, 'the service is shutting down');
      return;
    }
    const owner = `listen_${randomUUID()}`;
    const { secret, enc } = await listenSecretOf(this.store, this.cipher, accountId);
    const session = await this.store.openListenSession({
      id: newId('lsn'),
      accountId,
      name: params.name,
      forwardTo: params.forwardTo,
      events: params.events,
      secretEnc: enc,
      connection: owner,
      now: this.clock.now(),
    });
    if (socket.readyState !== socket.OPEN) {
      await this.store.closeListenSession(session.id, owner, this.clock.now());
      return;
    }
    // Another connection of this session in this process stops now; in another, at its heartbeat.
    for (const c of this.connections)
      if (c.sessionId === session.id)
        c.close(CLOSE.sessionLost, 'another listen opened this session');
    const connection = new ListenConnection(this, socket, session, owner);
    this.connections.add(connection);
    connection.closed.then(() => this.connections.delete(connection));
    const ready: ReadyMessage = {
      type: 'ready',
      session: {
        id: session.id,
        name: session.name,
        forward_to: session.forwardTo,
        events: session.events,
      },
      secret,
    };
    socket.send(JSON.stringify(ready));
    this.log.info(
      { sessionId: session.id, accountId, forwardTo: session.forwardTo },
      'listen session connected',
    );
    connection.start();
  }

  /** The session was deleted here: its connection in this process closes now (others: heartbeat). */
  dropped(sessionId: string): void {
    for (const c of this.connections)
      if (c.sessionId === sessionId) c.close(CLOSE.sessionLost, 'the session was deleted');
  }

  /** Closes every connection (the CLIs reconnect to another process) and waits for their leases. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.unsubscribe?.();
    if (this.sweep) clearInterval(this.sweep);
    const all = [...this.connections];
    for (const c of all) c.close(CLOSE.goingAway, 'the service is shutting down');
    await Promise.all(all.map((c) => c.closed));
    await this.runner.close();
  }
}

/** One CLI's socket, bound to its session. */
class ListenConnection {
  /** Resolves once the socket closed and every lease it held was released or recorded. */
  readonly closed: Promise<void>;
  private resolveClosed!: () => void;
  private readonly waiting = new Map<
    string,
    { resolve: (r: ResultMessage) => void; reject: (e: Error) => void }
  >();
  /** Attempts under way, recording included. */
  private readonly running = new Set<Promise<void>>();
  private readonly timers: NodeJS.Timeout[] = [];
  private pumping = false;
  private pumpAgain = false;
  private open = true;
  private alive = true;

  readonly sessionId: string;

  constructor(
    private readonly hub: ListenHub,
    private readonly socket: WebSocket,
    private readonly session: ListenSessionRow,
    private readonly owner: string,
  ) {
    this.sessionId = session.id;
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
  }

  start(): void {
    this.socket.on('message', (data, isBinary) => this.onMessage(data.toString(), isBinary));
    this.socket.on('pong', () => {
      this.alive = true;
    });
    this.socket.on('close', () => void this.onClose());
    this.socket.on('error', (err) =>
      this.hub.log.debug({ err, sessionId: this.session.id }, 'listen socket error'),
    );
    this.every(BUILT_IN.pollIntervalMs, () => this.pump());
    this.every(BUILT_IN.listenHeartbeatMs, () => void this.heartbeat());
    this.every(PING_MS, () => {
      if (!this.alive) {
        this.socket.terminate();
        return;
      }
      this.alive = false;
      this.socket.ping();
    });
    this.pump();
  }

  close(code: number, reason: string): void {
    if (this.socket.readyState !== this.socket.OPEN) {
      this.socket.terminate();
      return;
    }
    this.socket.close(code, reason);
    // A client that never answers the close handshake does not hold a shutdown.
    setTimeout(() => this.socket.terminate(), CLOSE_HANDSHAKE_MS).unref();
  }

  /** Claims due deliveries of the session while there is room; coalesced. */
  pump(): void {
    if (!this.open) return;
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    void this.claim().finally(() => {
      this.pumping = false;
      if (this.pumpAgain && this.open) {
        this.pumpAgain = false;
        this.pump();
      }
    });
  }

  private async claim(): Promise<void> {
    const { store, clock, config } = this.hub;
    const cap = config.endpointConcurrency;
    const room = cap - this.running.size;
    if (room <= 0) return;
    let claimed: ClaimedDelivery[];
    try {
      claimed = await store.claimDue({
        now: clock.now(),
        limit: room,
        owner: this.owner,
        leaseMs: this.hub.leaseMs,
        webhookLeases: cap,
        webhooks: [this.session.id],
      });
    } catch (err) {
      this.hub.log.warn({ err, sessionId: this.session.id }, 'listen claim failed');
      return;
    }
    for (const c of claimed) {
      const run = this.attempt(c).finally(() => {
        this.running.delete(run);
        this.pump();
      });
      this.running.add(run);
    }
  }

  /** One attempt over the socket, recorded; released instead when the socket closes first. */
  private async attempt(c: ClaimedDelivery): Promise<void> {
    const { store, log } = this.hub;
    try {
      const outcome = await this.hub.runner.run(c, {
        test: false,
        sample: false,
        transport: (req) => this.forward(c, req),
      });
      // A local server's 410 does not disable the session: the developer's server is not gone.
      const { disableWebhook: _gone, ...kept } = outcome;
      await store.completeAttempts([{ ...kept, owner: this.owner }]);
    } catch (err) {
      if (!(err instanceof Disconnected))
        log.error({ err, deliveryId: c.id, sessionId: this.session.id }, 'listen attempt failed');
      await store
        .releaseLeases(this.owner, [c.id])
        .catch((e: unknown) =>
          log.warn({ err: e, deliveryId: c.id }, 'releasing a listen lease failed'),
        );
    }
  }

  /** Sends the request to the CLI and turns its answer into the attempt's result. */
  private forward(c: ClaimedDelivery, req: SendRequest): Promise<SendResult> {
    const { clock } = this.hub;
    if (!this.open) return Promise.reject(new Disconnected());
    const startedAt = clock.now();
    const t0 = performance.now();
    const message: DeliveryMessage = {
      type: 'delivery',
      delivery_id: c.id,
      event_id: c.eventId,
      event: c.event,
      attempt: c.attemptCount + 1,
      headers: req.headers,
      body: req.body,
      timeout_ms: req.timeoutMs,
    };
    return new Promise<SendResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(c.id);
        // The CLI is connected but did not answer in time: the attempt timed out.
        resolve(
          result(
            startedAt,
            Math.round(performance.now() - t0),
            null,
            'timeout',
            {},
            null,
            null,
            clock.now(),
          ),
        );
      }, req.timeoutMs + RESULT_GRACE_MS);
      this.waiting.set(c.id, {
        resolve: (r) => {
          clearTimeout(timer);
          const elapsed = Math.round(performance.now() - t0);
          resolve(
            result(
              startedAt,
              Math.min(r.duration_ms, elapsed),
              r.status_code,
              r.error,
              r.response_headers,
              r.response_body,
              r.response_body_encoding,
              clock.now(),
            ),
          );
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.socket.send(JSON.stringify(message), (err) => {
        if (err) this.settle(c.id, new Disconnected());
      });
    });
  }

  private settle(id: string, answer: ResultMessage | Error): void {
    const w = this.waiting.get(id);
    if (!w) return;
    this.waiting.delete(id);
    if (answer instanceof Error) w.reject(answer);
    else w.resolve(answer);
  }

  private onMessage(text: string, isBinary: boolean): void {
    const r = isBinary ? undefined : parseResult(text);
    if (!r) {
      this.hub.log.warn({ sessionId: this.session.id }, 'listen: a message that is not a result');
      this.close(CLOSE.protocol, 'expected a result message (is the CLI up to date?)');
      return;
    }
    this.settle(r.delivery_id, r);
  }

  private async heartbeat(): Promise<void> {
    const { store, clock, log } = this.hub;
    try {
      const now = clock.now();
      const held = await store.touchListenSession(this.session.id, this.owner, now);
      if (!held && this.open) {
        this.close(CLOSE.sessionLost, 'another listen opened this session, or it was deleted');
        return;
      }
      // Deliveries out at the CLI keep their leases however long the configured timeout is.
      const out = [...this.waiting.keys()];
      if (out.length > 0) await store.renewLeases(this.owner, out, now + this.hub.leaseMs);
    } catch (err) {
      log.warn({ err, sessionId: this.session.id }, 'listen heartbeat failed');
    }
  }

  private async onClose(): Promise<void> {
    if (!this.open) return;
    this.open = false;
    for (const t of this.timers) clearInterval(t);
    for (const id of [...this.waiting.keys()]) this.settle(id, new Disconnected());
    await Promise.allSettled([...this.running]);
    const { store, clock, log } = this.hub;
    await store
      .closeListenSession(this.session.id, this.owner, clock.now())
      .catch((err: unknown) =>
        log.warn({ err, sessionId: this.session.id }, 'closing a listen session failed'),
      );
    log.info({ sessionId: this.session.id }, 'listen session disconnected');
    this.resolveClosed();
  }

  private every(ms: number, fn: () => void): void {
    const t = setInterval(fn, ms);
    t.unref();
    this.timers.push(t);
  }
}

/**
 * The CLI's report as the attempt's result. A status decides success on this side, as the
 * sender decides it (`errorOfStatus`).
 */
function result(
  startedAt: number,
  durationMs: number,
  statusCode: number | null,
  error: ResultMessage['error'],
  responseHeaders: Record<string, string>,
  responseBody: string | null,
  responseBodyEncoding: ResultMessage['response_body_encoding'],
  now: number,
): SendResult {
  const decided: AttemptError | null =
    statusCode === null || error === 'timeout'
      ? (error ?? 'connection_error')
      : errorOfStatus(statusCode);
  const headers = Object.fromEntries(
    Object.entries(responseHeaders).map(([k, v]) => [k.toLowerCase(), v]),
  );
  return {
    startedAt,
    durationMs,
    statusCode,
    succeeded: decided === null,
    error: decided,
    responseHeaders: headers,
    responseBody: responseBody,
    responseBodyEncoding: responseBody === null ? null : (responseBodyEncoding ?? 'utf8'),
    retryAfterMs: parseRetryAfter(headers['retry-after'], now),
  };
}
