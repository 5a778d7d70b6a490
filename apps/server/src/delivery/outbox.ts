import type { Logger } from 'pino';
import type { AttemptOutcome, Store } from '../store/types.js';
import type { EngineMetrics } from './engine.js';

/**
 * The outbox: outcomes of attempts waiting to be written, written in batches (one transaction for
 * many attempts), and never held by one outcome the store refuses.
 *
 * - Outcomes are written on the next turn (`setImmediate`, not a 0 ms timer, which waits 1 ms): a
 *   delivery's lease, counted against its webhook's leases, is released only once its outcome is
 *   durable, so any wait here delays the refill of a busy endpoint. Batches still form by
 *   themselves: outcomes that arrive while a write is in flight go together in the next one.
 * - A batch the store refuses is written one outcome at a time; one refused alone is written in
 *   its safe form (without the receiver's headers and body); one that cannot be written at all
 *   is dropped after `WRITE_TRIES` flushes and its delivery is sent again after its lease.
 *
 * How it talks to the others: the engine adds each attempt's outcome (`add`) and drops those of
 * leases given up (`drop`); once an outcome is durable its delivery's lease ends (`done`, the
 * engine's `Leases.end`) and the claim loop is woken (`wake`). On a store that completes and
 * claims in one round trip the write goes through the claim loop (`writeAndClaim`, its refill in
 * `claim-loop.ts`), which ends the batch's leases itself; the claim loop waits for a write under
 * way before it claims alone (`idle`).
 */

/** At this many outcomes waiting, a write starts at once instead of on the next turn. */
const FLUSH_BATCH = 100;
/** Tries of an outcome that cannot be written even without the receiver's bytes. */
const WRITE_TRIES = 3;
/** After a write failed with the database (not one outcome), the next try. */
const RETRY_MS = 500;

export interface OutboxOptions {
  store: Store;
  log: Logger;
  metrics: Pick<EngineMetrics, 'outcomeWriteFailed'> | undefined;
  /** Whether the delivery is still held (an outcome of a lease given up is not written). */
  holds(deliveryId: string): boolean;
  /** The outcome is written, or dropped for good: the delivery is no longer held. */
  done(deliveryId: string): void;
  /** Leases were freed (or a write failed): the claim loop may claim again. */
  wake(): void;
  /**
   * Writes the batch and claims in the same round trip (`completeAndClaim`), ending the batch's
   * leases; absent when the store cannot.
   */
  writeAndClaim?: (batch: AttemptOutcome[]) => Promise<void>;
}

export class Outbox {
  private queue: AttemptOutcome[] = [];
  /** Outcomes that failed to be written even in their safe form → tries so far. */
  private readonly strikes = new Map<string, number>();
  private retryTimer: NodeJS.Timeout | undefined;
  private queued: NodeJS.Immediate | undefined;
  private writing: Promise<void> | undefined;
  private stopping = false;

  constructor(private readonly opts: OutboxOptions) {}

  /** An attempt's outcome, to be written with the others of this turn. */
  add(outcome: AttemptOutcome): void {
    this.queue.push(outcome);
    if (this.queue.length >= FLUSH_BATCH) {
      void this.flush();
      return;
    }
    if (!this.retryTimer && !this.queued) {
      this.queued = setImmediate(() => {
        this.queued = undefined;
        void this.flush();
      });
    }
  }

  /** Whether an outcome of the delivery waits to be written. */
  has(deliveryId: string): boolean {
    return this.queue.some((o) => o.deliveryId === deliveryId);
  }

  /**
   * The leases of these deliveries were given up: their outcomes are not written. Answers how
   * many were waiting.
   */
  drop(ids: string[]): number {
    const drop = new Set(ids);
    const before = this.queue.length;
    this.queue = this.queue.filter((o) => !drop.has(o.deliveryId));
    for (const id of ids) this.strikes.delete(id);
    return before - this.queue.length;
  }

  /** Resolves once no write is under way. */
  async idle(): Promise<void> {
    while (this.writing) await this.writing.catch(() => {});
  }

  /**
   * At shutdown: from now on a write claims nothing, and a failed write waits for the next
   * `flush` instead of a timer.
   */
  stop(): void {
    this.stopping = true;
  }

  /**
   * Writes the outcomes waiting, in one transaction, then frees their leases. A store that can
   * (`writeAndClaim`) claims in the same round trip and the claimed deliveries start at once: a
   * lease is held from claim until its outcome is durable, so one endpoint's rate is
   * `endpointConcurrency / cycle`, and this takes the claim's own round trip and the hop through
   * the claim loop's wake-up out of the cycle.
   */
  async flush(): Promise<void> {
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
    }
    if (this.queued) {
      clearImmediate(this.queued);
      this.queued = undefined;
    }
    while (this.writing) await this.writing;
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    this.writing = (async () => {
      try {
        if (!this.stopping && this.opts.writeAndClaim) {
          await this.opts.writeAndClaim(batch);
          for (const o of batch) this.strikes.delete(o.deliveryId);
          return;
        }
        await this.opts.store.completeAttempts(batch);
        for (const o of batch) this.settled(o.deliveryId);
        this.opts.wake();
      } catch (err) {
        // Those given up meanwhile (lease lost) stay dropped.
        const held = batch.filter((o) => this.opts.holds(o.deliveryId));
        const again = await this.writeApart(held, err);
        if (again.length > 0) {
          this.queue.unshift(...again);
          if (!this.stopping) {
            this.retryTimer = setTimeout(() => {
              this.retryTimer = undefined;
              void this.flush();
            }, RETRY_MS);
          }
        }
        this.opts.wake();
      }
    })();
    try {
      await this.writing;
    } finally {
      this.writing = undefined;
    }
  }

  /**
   * Writes one outcome at once, outside the batches (the test action's, which its caller waits
   * for). As in `writeApart`, the receiver's bytes never make it fail: refused whole, it is
   * written in its safe form. Throws when even that fails.
   */
  async writeNow(outcome: AttemptOutcome): Promise<void> {
    try {
      await this.opts.store.completeAttempts([outcome]);
    } catch (err) {
      await this.writeSafeForm(outcome, err);
    }
  }

  /** The outcome is written, or dropped for good. */
  private settled(deliveryId: string): void {
    this.strikes.delete(deliveryId);
    this.opts.done(deliveryId);
  }

  /**
   * A batch failed to be written. One outcome must never hold the others (a receiver's bytes the
   * database refuses, a row it cannot take): each is written alone; one that fails alone is
   * written in its safe form (without the receiver's headers and body, the only bytes of an
   * outcome not made here). When not even the first safe form can be written the database is
   * likely unreachable: the batch is tried again as it was, and the heartbeat gives its
   * deliveries up if that lasts. An outcome whose safe form fails while others are written (or
   * was refused so before) is tried again up to `WRITE_TRIES` flushes, then dropped: its
   * delivery is sent again after its lease. Answers the outcomes to write again; logs each write
   * error once, with its cause.
   */
  private async writeApart(batch: AttemptOutcome[], cause: unknown): Promise<AttemptOutcome[]> {
    let failed: { outcome: AttemptOutcome; err: unknown }[] = batch.map((o) => ({
      outcome: o,
      err: cause,
    }));
    if (batch.length > 1) {
      this.opts.metrics?.outcomeWriteFailed?.('split');
      failed = [];
      for (const o of batch) {
        try {
          await this.opts.store.completeAttempts([o]);
          this.settled(o.deliveryId);
        } catch (err) {
          failed.push({ outcome: o, err });
        }
      }
    }
    const again: AttemptOutcome[] = [];
    let written = batch.length - failed.length;
    for (const { outcome, err } of failed) {
      try {
        await this.writeSafeForm(outcome, err);
        written++;
        this.settled(outcome.deliveryId);
      } catch (safeErr) {
        // Nothing written yet, and this outcome never was refused alone while others went
        // through: the database, not the outcome.
        if (written === 0 && !this.strikes.has(outcome.deliveryId)) {
          this.opts.log.error(
            { err: safeErr, outcomes: batch.length },
            'writing outcomes failed; retrying',
          );
          return failed.map((f) => f.outcome);
        }
        const strikes = (this.strikes.get(outcome.deliveryId) ?? 0) + 1;
        if (strikes < WRITE_TRIES) {
          this.strikes.set(outcome.deliveryId, strikes);
          again.push(outcome);
          continue;
        }
        this.settled(outcome.deliveryId);
        this.opts.metrics?.outcomeWriteFailed?.('dropped');
        this.opts.log.error(
          { err: safeErr, deliveryId: outcome.deliveryId, tries: strikes },
          'an outcome could not be written at all: dropped; the delivery is sent again after its lease',
        );
      }
    }
    return again;
  }

  /**
   * Writes the outcome without the receiver's headers and body (`safeForm`), then counts and
   * logs the refusal `err` of the whole outcome; throws when even that write fails.
   */
  private async writeSafeForm(outcome: AttemptOutcome, err: unknown): Promise<void> {
    await this.opts.store.completeAttempts([safeForm(outcome)]);
    this.opts.metrics?.outcomeWriteFailed?.('safe_form');
    this.opts.log.error(
      { err, deliveryId: outcome.deliveryId, webhookId: outcome.webhookId },
      "an outcome could not be written: recorded without the receiver's headers and body",
    );
  }
}

/** The outcome without the bytes a receiver chose (headers and body): what any store can hold. */
function safeForm(o: AttemptOutcome): AttemptOutcome {
  return {
    ...o,
    attempt: { ...o.attempt, responseHeaders: {}, responseBody: null, responseBodyEncoding: null },
  };
}
