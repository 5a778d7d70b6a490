import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import { type FusedCompleteClaim, hasWorkNotifier } from '../store/capabilities.js';
import type { AttemptOutcome, ClaimedDelivery, Store } from '../store/types.js';
import type { Fairness } from './fairness.js';
import type { Lease, Leases } from './leases.js';

/**
 * The claim loop: when the worker claims due deliveries, and how many.
 *
 * - Work lives in the database, not the heap: the worker holds at most `maxInFlight` deliveries
 *   (attempts running, deliveries waiting for a slot of their webhook, outcomes not yet
 *   written), claims more only as room frees, and sleeps until the store's earliest due time (one
 *   timer, no per-delivery polling), with a fallback poll so that work of other processes and
 *   expired leases are seen within a second. `notify` wakes it at once (events accepted here, or
 *   in another process on PostgreSQL, a retry requested, a recover).
 * - The claim passes what fairness allows now (`fairness.ts`: slowed webhooks, each account's
 *   room), and the store enforces it inside the claim.
 * - One claim at a time in a process: the pump (`pump`) waits for a write of outcomes under way,
 *   and a write that claims (`completeAndClaim`, the refill on a store that completes and claims
 *   in one round trip) waits for the pump's claim.
 *
 * How it talks to the others: each delivery claimed is leased to this worker (`Leases.take`,
 * whose `size` is the room used) and handed to the engine (`launch`); the outbox (`outbox.ts`)
 * writes through `completeAndClaim` when the store can, and wakes the loop after other writes.
 */

/** Deliveries claimed at most in one claim. */
const CLAIM_BATCH = 100;
/** How soon to look again when due work could not be claimed (see `sleepUntilDue`). */
const BLOCKED_RETRY_MS = 20;

export interface ClaimLoopOptions {
  store: Store;
  clock: Clock;
  log: Logger;
  /** This worker's lease owner id. */
  owner: string;
  leaseMs: number;
  /** Deliveries held at once, at most. */
  maxInFlight: number;
  /** Fallback poll when idle, ms. */
  pollMs: number;
  /** Leases of a healthy webhook in one worker (`ClaimOptions.webhookLeases`). */
  webhookLeases: number;
  fairness: Fairness;
  leases: Leases;
  /** The outbox: a claim waits for its write under way. */
  outbox: { idle(): Promise<void> };
  /** Runs a delivery just claimed, under its lease. */
  launch(c: ClaimedDelivery, lease: Lease): void;
}

export class ClaimLoop {
  private readonly store: Store;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly maxInFlight: number;
  private readonly pollMs: number;
  private readonly leases: Leases;
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

  constructor(private readonly opts: ClaimLoopOptions) {
    this.store = opts.store;
    this.clock = opts.clock;
    this.log = opts.log;
    this.maxInFlight = opts.maxInFlight;
    this.pollMs = opts.pollMs;
    this.leases = opts.leases;
  }

  /** Begins claiming due work. */
  start(): void {
    if (this.started || this.stopping) return;
    this.started = true;
    // PostgreSQL wakes idle workers when other processes add work; SQLite has one process.
    if (hasWorkNotifier(this.store))
      this.unsubscribe = this.store.onWorkAvailable(() => this.notify());
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
   * Claims nothing more from now on; resolves once a claim under way has ended (and handed back
   * what it took, see `pump`).
   */
  async stop(): Promise<void> {
    this.stopping = true;
    this.unsubscribe?.();
    if (this.idleTimer) clearTimeout(this.idleTimer);
    await this.pumpRun?.catch(() => {});
  }

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
          await this.opts.outbox.idle();
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
              this.opts.owner,
              claimed.map((c) => c.id),
            );
          return;
        }
        if (claimed.length > 0) this.blockedOnce = false;
        for (const c of claimed) this.opts.launch(c, this.leases.take(c, now));
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
      owner: this.opts.owner,
      leaseMs: this.opts.leaseMs,
      webhookLeases: this.opts.webhookLeases,
      fairness: this.opts.fairness.claim(completing.map((o) => o.accountId)),
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

  /**
   * Writes a batch of outcomes and claims in the same round trip (the outbox's write on a store
   * that can): the leases the batch frees are refilled at once, and the claimed deliveries start.
   */
  async completeAndClaim(
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
    const held = this.opts.fairness.heldBelowShare();
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
            this.opts.owner,
            claimed.map((c) => c.id),
          )
          .catch((err: unknown) => this.log.error({ err }, 'releasing leases failed'));
      }
      return;
    }
    for (const c of claimed) this.opts.launch(c, this.leases.take(c, now));
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
}
