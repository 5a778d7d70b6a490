import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import { BUILT_IN, DEFAULTS, type DeliveryConfig, parseDuration } from '../config.js';
import type { Cipher } from '../security/crypto.js';
import { hasCompleteAndClaim } from '../store/capabilities.js';
import type { AttemptOutcome, ClaimedDelivery, Store } from '../store/types.js';
import { type AttemptMode, AttemptRunner } from './attempt.js';
import type { CertificateWatch } from './certificates.js';
import { ClaimLoop } from './claim-loop.js';
import { Fairness } from './fairness.js';
import { type Lease, Leases } from './leases.js';
import { Outbox } from './outbox.js';
import { Cancel } from './sender.js';
import { WebhookSlots } from './slots.js';

export type { DeliveryConfig } from '../config.js';

export interface EngineMetrics {
  attemptFinished(a: {
    succeeded: boolean;
    statusCode: number | null;
    error: string | null;
    durationMs: number;
    trigger: string;
  }): void;
  /**
   * Writing outcomes failed: `split` (a batch failed and was written one outcome at a time),
   * `safe_form` (an outcome was written without the receiver's headers and body), `dropped` (an
   * outcome could not be written at all; its delivery is sent again after its lease).
   */
  outcomeWriteFailed?(kind: 'split' | 'safe_form' | 'dropped'): void;
}

export interface DeliveryEngineOptions {
  store: Store;
  cipher: Cipher;
  clock: Clock;
  logger: Logger;
  config: DeliveryConfig;
  metrics?: EngineMetrics;
  /** Identifies this worker's leases; default host, pid and a random part. */
  owner?: string;
  /**
   * Deliveries held at once (attempts running or waiting for their endpoint, outcomes not yet
   * written). Default 512, each holding a body of at most `AF_MAX_PAYLOAD`. A healthy webhook
   * holds at most `3 × endpointConcurrency` of them, a slowed one as many as it may run, and one
   * account half of them (`fairness.ts`).
   */
  maxInFlight?: number;
  /** Fallback poll when idle, ms; default 1000. */
  pollIntervalMs?: number;
  /** Jitter's randomness; default `Math.random`. */
  random?: () => number;
  /**
   * The part of `maxInFlight` one account may hold (see `fairness.ts`); default 0.5, so one
   * account never holds more than half of a worker.
   */
  accountShare?: number;
}

/**
 * Leases per webhook, as a multiple of `endpointConcurrency`: the attempts in flight, and the
 * next deliveries ready to start as attempts end while their outcomes are written and more are
 * claimed (see the class comment). Three covers an endpoint that answers in tens of
 * milliseconds; more would only let a slow endpoint hold more of the worker.
 */
const WEBHOOK_LEASES_PER_SLOT = 3;
/**
 * The same for an endpoint that answers within `FAST_MS` (`fairness.ts`): each slot runs several
 * attempts while one write and claim are under way, and with three per slot the slots of one
 * busy webhook on PostgreSQL ran dry most of the time. Measured at fan-out 1 on PostgreSQL
 * (`docs/performance.md`, the eighth pass): six +27–30 %, ten another +9–18 %; twenty and forty
 * gave no more (the ninth pass). Ten for every webhook lowered fan-out 10, where an account's
 * share of the worker ran out on the webhooks refilled first: hence the share's division in
 * `fairness.ts`.
 */
const FAST_LEASES_PER_SLOT = 10;

/**
 * The delivery engine: claim → sign → send → complete, in batches. This file wires the parts
 * together and takes each claimed delivery through them; each part has one job and says at its
 * top how it talks to the others:
 *
 * - `claim-loop.ts`: when and how much to claim (one timer for the earliest due time, a fallback
 *   poll, the refill with each write of outcomes);
 * - `leases.ts`: the deliveries this worker holds, their leases and the heartbeat;
 * - `slots.ts` and `fairness.ts`: the attempts a webhook may run at once, and an account's share;
 * - `attempt.ts`: one attempt (`request.ts` builds and signs it, `sender.ts` sends it,
 *   `retry-policy.ts` decides the delivery's next state);
 * - `outbox.ts`: outcomes written in batches, none held by one the store refuses.
 *
 * Here: a delivery just claimed waits for a slot of its webhook, is attempted under its lease,
 * and its outcome goes to the outbox (`launch`); the test action (`sendTest`); start and stop.
 *
 * Why it is shaped like this:
 * - One worker at a time sends to a webhook: the claim takes nothing from a webhook another
 *   worker holds live leases on (counted in the store, across processes). That worker runs at
 *   most `endpointConcurrency` attempts to it at once, and leases up to three times as many
 *   deliveries: the next ones wait in this process and start the moment an attempt ends, not
 *   after the database has recorded its outcome and a claim has come back (a write and a claim
 *   take milliseconds, during which a fast endpoint answers several attempts per slot).
 * - No endpoint and no account takes the worker from the others (`fairness.ts`): an endpoint
 *   that times out runs fewer attempts at once, down to one, and is leased no more than it runs;
 *   an account holds at most half of the worker. Both are enforced inside the claim.
 * - A delivery's lease is released only once its outcome is durable, so the lease count stays
 *   honest, and a worker that cannot renew its leases gives its deliveries up before another may
 *   claim them (`leases.ts`).
 * - States are decided by the retry policy (`decideState`: 410, manual attempts, the schedule),
 *   requests built by `request.ts`, and the store only persists.
 */
export class DeliveryEngine {
  private readonly store: Store;
  private readonly log: Logger;
  private readonly config: DeliveryConfig;
  /** The lease owner this process claims as (the warm-up holds its own webhooks with it). */
  readonly owner: string;
  private readonly fairness: Fairness;
  private readonly slots: WebhookSlots;
  private readonly leases: Leases;
  private readonly claims: ClaimLoop;
  private readonly attempts: AttemptRunner;
  private readonly outbox: Outbox;
  /** Test actions running, awaited by `stop`. */
  private readonly tests = new Set<Promise<unknown>>();
  private started = false;
  private stopping = false;

  constructor(opts: DeliveryEngineOptions) {
    const { store, clock, config } = opts;
    this.store = store;
    this.log = opts.logger;
    this.config = config;
    this.owner =
      opts.owner ?? `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
    const maxInFlight = opts.maxInFlight ?? BUILT_IN.workerCapacity;
    const leaseMs = config.leaseMs ?? parseDuration(DEFAULTS.AF_LEASE_DURATION);
    const webhookLeases = config.endpointConcurrency * WEBHOOK_LEASES_PER_SLOT;
    this.fairness = new Fairness(
      config.endpointConcurrency,
      webhookLeases,
      config.endpointConcurrency * FAST_LEASES_PER_SLOT,
      Math.max(1, Math.floor(maxInFlight * (opts.accountShare ?? BUILT_IN.accountShare))),
    );
    this.slots = new WebhookSlots(this.fairness);
    this.leases = new Leases({
      store,
      clock,
      log: this.log,
      owner: this.owner,
      leaseMs,
      accounts: this.fairness,
      lost: (ids) => this.lost(ids),
    });
    this.outbox = new Outbox({
      store,
      log: this.log,
      metrics: opts.metrics,
      holds: (id) => this.leases.holds(id),
      done: (id) => this.leases.end(id),
      wake: () => this.notify(),
      // The refill of the claim loop, in the same round trip as the write.
      ...(hasCompleteAndClaim(store)
        ? { writeAndClaim: (batch: AttemptOutcome[]) => this.claims.completeAndClaim(store, batch) }
        : {}),
    });
    this.claims = new ClaimLoop({
      store,
      clock,
      log: this.log,
      owner: this.owner,
      leaseMs,
      maxInFlight,
      pollMs: opts.pollIntervalMs ?? BUILT_IN.pollIntervalMs,
      webhookLeases,
      fairness: this.fairness,
      leases: this.leases,
      outbox: this.outbox,
      launch: (c, lease) => this.launch(c, lease),
    });
    this.attempts = new AttemptRunner({
      cipher: opts.cipher,
      clock,
      log: this.log,
      config,
      metrics: opts.metrics,
      random: opts.random ?? Math.random,
    });
  }

  /** Begins claiming due work. */
  start(): void {
    if (this.started || this.stopping) return;
    this.started = true;
    this.leases.start();
    this.claims.start();
  }

  /** The certificates endpoints presented since the last call (see `CertificateWatch`). */
  get certificates(): CertificateWatch {
    return this.attempts.certificates;
  }

  /**
   * Lets attempts reach `http://127.0.0.1:<port>`, a receiver of this process's own, until the
   * returned function is called: the warm-up's (`warm-up.ts`). See `Sender.allowOwnReceiver`.
   */
  allowOwnReceiver(port: number): () => void {
    return this.attempts.allowOwnReceiver(port);
  }

  /** New work may be due now (after insertEvents, a retry request or a recover): coalesced. */
  notify(): void {
    this.claims.notify();
  }

  /**
   * The test action: one attempt now, even to an inactive webhook, completed at once as final
   * (never retried). `sampleEvent` adds `X-AgentFactory-Test: 1`.
   */
  async sendTest(
    claimed: ClaimedDelivery,
    opts: { sampleEvent?: boolean } = {},
  ): Promise<AttemptOutcome> {
    const run = (async () => {
      // Inside the webhook's cap like any attempt: it waits for one of the webhook's slots.
      await this.slot(claimed, undefined);
      let outcome: AttemptOutcome;
      try {
        outcome = await this.attempt(claimed, {
          test: true,
          sample: opts.sampleEvent === true,
        });
      } finally {
        this.endSlot(claimed);
      }
      await this.outbox.writeNow(outcome);
      return outcome;
    })();
    this.tests.add(run);
    try {
      return await run;
    } finally {
      this.tests.delete(run);
    }
  }

  /**
   * Stops claiming, lets running attempts finish within `graceMs`, writes their outcomes, and
   * releases the leases of the rest so the next start (or another worker) takes them again.
   */
  async stop(opts: { graceMs?: number } = {}): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.outbox.stop();
    const claimsStopped = this.claims.stop();
    // Deliveries waiting for their endpoint never start now: wake them to return (see `slot`).
    this.slots.wakeAll();
    // A claim under way finishes first (and hands back what it took, see `claim-loop.ts`).
    await claimsStopped;
    const grace = opts.graceMs ?? this.config.timeoutMs;
    const all = Promise.allSettled([...this.leases.runs(), ...this.tests]);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([all, new Promise((r) => (timer = setTimeout(r, grace)))]);
    clearTimeout(timer);
    await this.outbox.flush();
    const left = this.leases.ids().filter((id) => !this.outbox.has(id));
    if (left.length > 0) {
      // No longer held: an outcome that comes after is dropped (see `launch`).
      for (const id of left) this.leases.end(id);
      try {
        await this.store.releaseLeases(this.owner, left);
      } catch (err) {
        this.log.error({ err }, 'releasing leases at shutdown failed; they will expire');
      }
      this.log.info({ released: left.length }, 'released leases of unfinished attempts');
    }
    // Outcomes that landed while the leases were being released are still worth keeping.
    await this.outbox.flush();
    this.leases.stop();
    await this.attempts.close().catch(() => {});
  }

  /** Runs a delivery just claimed under its lease: a slot of its webhook, the attempt, the outbox. */
  private launch(c: ClaimedDelivery, lease: Lease): void {
    lease.run = (async () => {
      const go = await this.slot(c, lease);
      if (go === 'shed') {
        this.leases.giveBack(c.id);
        return;
      }
      if (!go) return;
      const cancel = new Cancel();
      lease.abort = cancel;
      let outcome: AttemptOutcome;
      try {
        outcome = await this.attempt(c, {
          test: c.trigger === 'test',
          sample: false,
          cancel,
        });
      } catch (err) {
        // A bug (an attempt that cannot be built is a `configuration_error` outcome): leave the
        // lease to expire.
        this.log.error({ err, deliveryId: c.id }, 'attempt failed before sending');
        this.leases.end(c.id);
        this.notify();
        return;
      } finally {
        lease.abort = undefined;
        this.endSlot(c);
      }
      // Given up (the lease could not be renewed) or released at shutdown meanwhile: dropped.
      if (!this.leases.isHeld(lease)) return;
      this.outbox.add({ ...outcome, owner: this.owner });
    })();
  }

  /**
   * Waits for a slot of the delivery's webhook (`WebhookSlots`). False (and no slot) when the
   * engine stops or the lease was given up meanwhile; `shed` when the webhook was slowed down and
   * the delivery goes back unsent. The test action (no `lease`) waits the same way, never shed.
   */
  private async slot(c: ClaimedDelivery, lease: Lease | undefined): Promise<boolean | 'shed'> {
    const held = () => lease === undefined || (!this.stopping && this.leases.isHeld(lease));
    // A deleted webhook's delivery sends nothing (see `attempt`): no slot.
    const hook = c.webhook?.id;
    if (hook === undefined) return held();
    if (!(await this.slots.take(hook, lease ? c.id : ''))) return 'shed';
    if (!held()) {
      this.slots.release(hook);
      return false;
    }
    return true;
  }

  private endSlot(c: ClaimedDelivery): void {
    if (c.webhook) this.slots.release(c.webhook.id);
  }

  /**
   * The heartbeat gave these deliveries up (`leases.ts`: their leases could not be renewed in
   * time, their attempts were aborted): their outcomes are not written either, so a stale one
   * never overwrites a newer one. They are sent again (at-least-once).
   */
  private lost(ids: string[]): void {
    const dropped = this.outbox.drop(ids);
    this.log.warn(
      { deliveries: ids.length, outcomesDropped: dropped },
      'leases could not be renewed in time: gave up those deliveries (they will be sent again)',
    );
    this.notify();
  }

  /**
   * One attempt (`attempt.ts`), then what it tells of the endpoint (`fairness.ts`): a timeout
   * lowers the webhook's limit and its deliveries waiting beyond the new lease cap go back
   * (`slots.ts`); how fast it answered sets how far ahead it is leased. Only what the endpoint
   * answered (or did not) tells how it copes; an attempt that sent nothing says nothing of it.
   */
  private async attempt(c: ClaimedDelivery, mode: AttemptMode): Promise<AttemptOutcome> {
    const outcome = await this.attempts.run(c, mode);
    const { error, durationMs } = outcome.attempt;
    const sent = error !== 'endpoint_disabled' && error !== 'configuration_error';
    if (
      sent &&
      outcome.webhookId !== '' &&
      this.fairness.attemptEnded(outcome.webhookId, error, durationMs)
    ) {
      this.slots.shed(outcome.webhookId);
    }
    return outcome;
  }
}
