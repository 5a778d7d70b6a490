import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import { BUILT_IN, DEFAULTS, type DeliveryConfig, parseDuration } from '../config.js';
import type { Cipher } from '../security/crypto.js';
import {
  type FusedCompleteClaim,
  hasCompleteAndClaim,
  hasWorkNotifier,
} from '../store/capabilities.js';
import type { AttemptOutcome, ClaimedDelivery, Store } from '../store/types.js';
import { type AttemptMode, AttemptRunner } from './attempt.js';
import { Fairness } from './fairness.js';
import { type Lease, Leases } from './leases.js';
import { Outbox } from './outbox.js';
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

const CLAIM_BATCH = 100;
/**
 * Leases per webhook, as a multiple of `endpointConcurrency`: the attempts in flight, and the
 * next deliveries ready to start as attempts end while their outcomes are written and more are
 * claimed (see the class comment). Three is where the measured gain flattens
 * (`docs/performance.md`); more would let a slow endpoint hold more of the worker.
 */
const WEBHOOK_LEASES_PER_SLOT = 3;
/** How soon to look again when due work could not be claimed (see `sleepUntilDue`). */
const BLOCKED_RETRY_MS = 20;
/**
 * The delivery engine: claim → sign → send → complete, in batches.
 *
 * Why it is shaped like this:
 * - Work lives in the database, not the heap: the engine holds at most `maxInFlight` deliveries
 *   (attempts running plus outcomes waiting to be written), claims more only as capacity frees,
 *   and sleeps until the store's earliest due time (one timer, no per-delivery polling), with a
 *   fallback poll so that work of other processes and expired leases are seen within a second.
 * - One worker at a time sends to a webhook: the claim takes nothing from a webhook another
 *   worker holds live leases on (counted in the store, across processes). That worker runs at
 *   most `endpointConcurrency` attempts to it at once, and leases up to three times as many
 *   deliveries: the next ones wait in this process and start the moment an attempt ends, not
 *   after the database has recorded its outcome and a claim has come back (a write and a claim
 *   take milliseconds, during which a fast endpoint answers several attempts per slot).
 * - No endpoint and no account takes the worker from the others (`fairness.ts`): an endpoint
 *   that times out runs fewer attempts at once, down to one, and is leased no more than it runs;
 *   an account holds at most half of the worker. Both are enforced inside the claim.
 * - Outcomes are written in batches (one transaction for many attempts), and a delivery's lease
 *   is released only once its outcome is durable, so the lease count stays honest.
 * - A claim leases each delivery for `leaseMs` (`AF_LEASE_DURATION`), and a heartbeat renews the
 *   leases of everything held (attempts running and outcomes not yet written) every third of it,
 *   in one `renewLeases` call. A worker that dies stops renewing: its deliveries are claimed again
 *   within a lease, not after the delivery timeout plus a margin. A worker that cannot renew (its
 *   database is unreachable) gives a delivery up before its lease runs out — the attempt is
 *   aborted and its outcome dropped — so two workers never send the same delivery at once.
 * - The engine decides states through the retry policy (`decideState`: 410, manual attempts,
 *   the schedule), builds requests through `request.ts`, and the store only persists.
 */
export class DeliveryEngine {
  private readonly store: Store;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly config: DeliveryConfig;
  private readonly metrics: EngineMetrics | undefined;
  private readonly owner: string;
  private readonly maxInFlight: number;
  private readonly pollMs: number;
  private readonly leaseMs: number;
  private readonly fairness: Fairness;
  private readonly slots: WebhookSlots;
  /** The deliveries this worker holds, from claim to durable outcome, and their heartbeat. */
  private readonly leases: Leases;
  private readonly outbox: Outbox;
  private readonly tests = new Set<Promise<unknown>>();
  private idleTimer: NodeJS.Timeout | undefined;
  /** When `idleTimer` fires (clock time). */
  private idleAt = 0;
  private pumpQueued = false;
  private pumping = false;
  /** The running claim loop, awaited by `stop` so no claim lands after it returns. */
  private pumpRun: Promise<void> | undefined;
  private pumpAgain = false;
  /**
   * The pump waits for a flush to end. Under steady load flushes follow each other and it may
   * wait long: meanwhile each flush claims for it (a full claim, not a refill).
   */
  private pumpWaiting = false;
  /** The pump's claim under way; a flush that claims waits for it (see `pump`). */
  private claiming: Promise<unknown> | undefined;
  /** The last claim found due work it could not take (see `sleepUntilDue`). */
  private blockedOnce = false;
  private started = false;
  private stopping = false;
  private unsubscribe: (() => void) | undefined;
  private readonly attempts: AttemptRunner;

  constructor(opts: DeliveryEngineOptions) {
    this.store = opts.store;
    this.clock = opts.clock;
    this.log = opts.logger;
    this.config = opts.config;
    this.metrics = opts.metrics;
    this.owner =
      opts.owner ?? `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
    this.maxInFlight = opts.maxInFlight ?? BUILT_IN.workerCapacity;
    this.pollMs = opts.pollIntervalMs ?? BUILT_IN.pollIntervalMs;
    this.leaseMs = this.config.leaseMs ?? parseDuration(DEFAULTS.AF_LEASE_DURATION);
    this.fairness = new Fairness(
      this.config.endpointConcurrency,
      this.config.endpointConcurrency * WEBHOOK_LEASES_PER_SLOT,
      Math.max(1, Math.floor(this.maxInFlight * (opts.accountShare ?? BUILT_IN.accountShare))),
    );
    this.slots = new WebhookSlots(this.fairness);
    this.leases = new Leases({
      store: this.store,
      clock: this.clock,
      log: this.log,
      owner: this.owner,
      leaseMs: this.leaseMs,
      accounts: this.fairness,
      lost: (ids) => this.lost(ids),
    });
    const store = this.store;
    this.outbox = new Outbox({
      store,
      log: this.log,
      metrics: this.metrics,
      holds: (id) => this.leases.holds(id),
      done: (id) => this.leases.end(id),
      wake: () => this.notify(),
      ...(hasCompleteAndClaim(store)
        ? { writeAndClaim: (batch: AttemptOutcome[]) => this.completeAndClaim(store, batch) }
        : {}),
    });
    this.attempts = new AttemptRunner({
      cipher: opts.cipher,
      clock: this.clock,
      log: this.log,
      config: this.config,
      metrics: this.metrics,
      random: opts.random ?? Math.random,
    });
  }

  /** Begins claiming due work. */
  start(): void {
    if (this.started || this.stopping) return;
    this.started = true;
    // PostgreSQL wakes idle workers when other processes add work; SQLite has one process.
    if (hasWorkNotifier(this.store))
      this.unsubscribe = this.store.onWorkAvailable(() => this.notify());
    this.leases.start();
    this.notify();
  }

  /** New work may be due now (after insertEvents, a retry request or a recover): coalesced. */
  notify(): void {
    if (!this.started || this.stopping || this.pumpQueued) return;
    this.pumpQueued = true;
    setImmediate(() => {
      this.pumpQueued = false;
      if (this.pumping) {
        this.pumpAgain = true;
        return;
      }
      const run = this.pump();
      this.pumpRun = run;
      void run.finally(() => {
        if (this.pumpRun === run) this.pumpRun = undefined;
      });
    });
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
    this.unsubscribe?.();
    if (this.idleTimer) clearTimeout(this.idleTimer);
    // Deliveries waiting for their endpoint never start now: wake them to return (see `slot`).
    this.slots.wakeAll();
    // A claim under way finishes first (and hands back what it took, see `pump`).
    await this.pumpRun?.catch(() => {});
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

  // The loop.

  private async pump(): Promise<void> {
    if (this.stopping) return;
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        // One claim at a time in this process: a flush that claims (`completeAndClaim`) and
        // this claim would otherwise race for the same webhooks, and on PostgreSQL the loser
        // skips the locked webhook and finds nothing, though work is due.
        this.pumpWaiting = true;
        try {
          await this.outbox.idle();
        } finally {
          this.pumpWaiting = false;
        }
        if (this.stopping) return;
        const room = this.maxInFlight - this.leases.size;
        if (room <= 0) break; // a completion pumps again
        const limit = Math.min(room, CLAIM_BATCH);
        const now = this.clock.now();
        let claimed: ClaimedDelivery[];
        const claim = this.store.claimDue(this.claimOptions(now, limit));
        this.claiming = claim;
        try {
          claimed = await claim;
        } finally {
          this.claiming = undefined;
        }
        if (this.stopping) {
          if (claimed.length)
            await this.store.releaseLeases(
              this.owner,
              claimed.map((c) => c.id),
            );
          return;
        }
        if (claimed.length > 0) this.blockedOnce = false;
        for (const c of claimed) this.launch(c, this.leases.take(c, now));
        if (claimed.length === limit) this.pumpAgain = true;
        else await this.sleepUntilDue();
      } while (this.pumpAgain && !this.stopping);
    } catch (err) {
      this.log.error({ err }, 'claiming deliveries failed; retrying');
      this.armTimer(this.pollMs);
    } finally {
      this.pumping = false;
    }
  }

  private claimOptions(now: number, limit: number, completing: AttemptOutcome[] = []) {
    return {
      now,
      limit,
      owner: this.owner,
      leaseMs: this.leaseMs,
      webhookLeases: this.config.endpointConcurrency * WEBHOOK_LEASES_PER_SLOT,
      fairness: this.fairness.claim(completing.map((o) => o.accountId)),
    };
  }

  /** One timer: the earliest due time, or the fallback poll, whichever is sooner. */
  private async sleepUntilDue(): Promise<void> {
    const now = this.clock.now();
    const due = await this.store.nextDueAt(now);
    if (due !== null && due <= now) {
      // Due now but not claimed: blocked by an endpoint's cap, or by another worker claiming
      // for that webhook at this instant (it is skipped while locked, and that claim may have
      // started before this work was committed). A claim takes milliseconds: look again soon,
      // once, then at the poll interval — or at the next due time behind the blocked work,
      // if sooner (a retry of another endpoint; refills do not look for it, see
      // `completeAndClaim`).
      const wait = this.blockedOnce ? this.pollMs : BLOCKED_RETRY_MS;
      const next = await this.store.nextDueAt(now, now);
      this.armTimer(next === null ? wait : Math.min(wait, next - now));
      this.blockedOnce = true;
      return;
    }
    this.blockedOnce = false;
    this.armTimer(due === null ? this.pollMs : Math.min(due - now, this.pollMs));
  }

  private armTimer(ms: number): void {
    if (this.stopping) return;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    const delay = Math.max(1, ms);
    this.idleAt = this.clock.now() + delay;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      this.notify();
    }, delay);
    this.idleTimer.unref();
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
      const abort = new AbortController();
      lease.abort = abort;
      let outcome: AttemptOutcome;
      try {
        outcome = await this.attempt(c, {
          test: c.trigger === 'test',
          sample: false,
          signal: abort.signal,
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

  private async completeAndClaim(
    store: Store & FusedCompleteClaim,
    batch: AttemptOutcome[],
  ): Promise<void> {
    // One claim at a time (see `pump`): a claim of the pump under way ends first.
    while (this.claiming) await this.claiming.catch(() => {});
    // The batch's slots are free once it is written: count them as room for this claim. No
    // other claim runs meanwhile (see `pump`), so no slot is promised twice.
    const room = this.maxInFlight - (this.leases.size - batch.length);
    const limit = Math.max(0, Math.min(room, CLAIM_BATCH));
    const now = this.clock.now();
    // A refill: the next deliveries of the batch's webhooks only, without searching the queue
    // for others (new work is claimed by the pump, woken by `notify`, a due time or the poll).
    // While this process has room for everyone that takes nothing from other webhooks; past half
    // of it, a full claim keeps the order of the whole queue (oldest due first). Deliveries of an
    // account at its share do not count: no claim gives that account more, so they leave the
    // others no shorter of room (a noisy account at its share would otherwise turn every refill
    // of the others into a full claim). A pump waiting for this flush gets a full claim too: it
    // was woken for work elsewhere (a retry now due).
    const held = this.fairness.heldBelowShare();
    const webhooks =
      !this.pumpWaiting && held < this.maxInFlight / 2
        ? [...new Set(batch.map((o) => o.webhookId).filter((id) => id !== ''))]
        : undefined;
    const claimed = await store.completeAndClaim(batch, {
      ...this.claimOptions(now, limit, batch),
      webhooks,
    });
    for (const o of batch) this.leases.end(o.deliveryId);
    if (this.stopping) {
      // `stop` is waiting for what runs; these never started, so they go back at once.
      if (claimed.length > 0) {
        await this.store
          .releaseLeases(
            this.owner,
            claimed.map((c) => c.id),
          )
          .catch((err: unknown) => this.log.error({ err }, 'releasing leases failed'));
      }
      return;
    }
    for (const c of claimed) this.launch(c, this.leases.take(c, now));
    // A full claim may have left more behind, as in `pump`. A short one took all it could: only
    // the timer needs setting, for the retries this batch scheduled (work from elsewhere comes
    // with a `notify` or is found by the poll), without asking the store for `nextDueAt`.
    if (limit === 0 || claimed.length === limit) this.notify();
    else this.wakeFor(batch, now);
  }

  /** Arms the idle timer for the earliest retry in `batch` if it is sooner than the timer's. */
  private wakeFor(batch: AttemptOutcome[], now: number): void {
    let due = Number.POSITIVE_INFINITY;
    for (const o of batch) {
      if (o.status === 'pending' && o.nextAttemptAt !== null) due = Math.min(due, o.nextAttemptAt);
    }
    // A claim under way may arm the timer from a `nextDueAt` read before this batch was written:
    // let it claim and read once more instead.
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    const delay = Math.min(Math.max(0, due - now), this.pollMs);
    if (!this.idleTimer || now + delay < this.idleAt) this.armTimer(delay);
  }

  /**
   * One attempt (`attempt.ts`), then what it tells of the endpoint (`fairness.ts`): a timeout
   * lowers the webhook's limit, and its deliveries waiting beyond the new lease cap go back
   * (`slots.ts`). Only what the endpoint answered (or did not) tells how it copes; an attempt
   * that sent nothing says nothing of it.
   */
  private async attempt(c: ClaimedDelivery, mode: AttemptMode): Promise<AttemptOutcome> {
    const outcome = await this.attempts.run(c, mode);
    const { error } = outcome.attempt;
    const sent = error !== 'endpoint_disabled' && error !== 'configuration_error';
    if (sent && outcome.webhookId !== '' && this.fairness.attemptEnded(outcome.webhookId, error)) {
      this.slots.shed(outcome.webhookId);
    }
    return outcome;
  }
}
