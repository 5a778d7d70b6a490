import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import type { ClaimedDelivery, Store } from '../store/types.js';
import type { Cancel } from './sender.js';

/**
 * Leases: the deliveries this worker holds, each from its claim until its outcome is durable (or
 * it is given back or given up), and the heartbeat that keeps their leases in the store.
 *
 * - A claim leases each delivery for `leaseMs` (`AF_LEASE_DURATION`). Every third of it the
 *   heartbeat renews the leases of everything held (attempts running, deliveries waiting for a
 *   slot of their webhook, outcomes not yet written) in one `renewLeases` call. A worker that
 *   dies stops renewing: its deliveries are claimed again within a lease, not after the delivery
 *   timeout plus a margin.
 * - A worker that cannot renew (its database is unreachable) gives a delivery up before its lease
 *   runs out: the attempt's request is aborted and the engine drops its outcome, so two workers
 *   never send the same delivery at once. It is sent again (at-least-once).
 *
 * How it talks to the others: the claim loop (`claim-loop.ts`) takes a lease for each delivery it
 * claims and counts `size` against the worker's capacity; the engine runs the delivery under its
 * lease (`Lease.run`, `Lease.abort`) and queues the outcome only if the lease is still held; the
 * lease ends once the outcome is written (`outbox.ts`, or the claim loop's write with its refill).
 * From `take` to `end` a delivery counts against its account's share of the worker (`accounts`,
 * the engine's `Fairness`). Given-up leases are reported to the engine (`lost`), which drops
 * their outcomes from the outbox.
 */

/** A delivery this worker holds: one entry for everything the worker keeps about it. */
export interface Lease {
  readonly id: string;
  readonly accountId: string;
  /** '' for a delivery whose webhook was deleted. */
  readonly webhookId: string;
  /** When the lease ends as far as this worker knows (renewals included), clock time. */
  until: number;
  /** The delivery's work in this worker, from its claim until its outcome is queued. */
  run: Promise<void> | undefined;
  /** The attempt running under the lease, aborted if the lease is given up. */
  abort: Cancel | undefined;
}

export interface LeasesOptions {
  store: Store;
  clock: Clock;
  log: Logger;
  /** This worker's lease owner id. */
  owner: string;
  leaseMs: number;
  /** Counts the deliveries held per account and webhook (`fairness.ts`). */
  accounts: {
    hold(accountId: string, webhookId: string): void;
    release(accountId: string, webhookId: string): void;
  };
  /** Leases given up (not renewed in time): their attempts were aborted and the leases ended. */
  lost(ids: string[]): void;
}

export class Leases {
  private readonly held = new Map<string, Lease>();
  private readonly heartbeatMs: number;
  private timer: NodeJS.Timeout | undefined;
  /** A renewal is under way (it may hang on a silent network). */
  private beating = false;
  /** Leases given back unsent (a webhook slowed down), released together on the next turn. */
  private givenBack: string[] = [];

  constructor(private readonly opts: LeasesOptions) {
    this.heartbeatMs = Math.max(1, Math.floor(opts.leaseMs / 3));
  }

  /** Starts the heartbeat. */
  start(): void {
    this.timer = setInterval(() => void this.heartbeat(), this.heartbeatMs);
    this.timer.unref();
  }

  /** Stops the heartbeat (at shutdown, once the rest is written or released). */
  stop(): void {
    clearInterval(this.timer);
  }

  /** Deliveries held. */
  get size(): number {
    return this.held.size;
  }

  /** A claim at `now` leased the delivery to this worker. */
  take(c: Pick<ClaimedDelivery, 'id' | 'accountId' | 'webhook'>, now: number): Lease {
    const lease: Lease = {
      id: c.id,
      accountId: c.accountId,
      webhookId: c.webhook?.id ?? '',
      until: now + this.opts.leaseMs,
      run: undefined,
      abort: undefined,
    };
    this.held.set(c.id, lease);
    this.opts.accounts.hold(lease.accountId, lease.webhookId);
    return lease;
  }

  /** Whether the delivery is held. */
  holds(id: string): boolean {
    return this.held.has(id);
  }

  /** Whether `lease` is still held: not ended meanwhile (given up, or released at shutdown). */
  isHeld(lease: Lease): boolean {
    return this.held.get(lease.id) === lease;
  }

  /** The ids of the deliveries held. */
  ids(): string[] {
    return [...this.held.keys()];
  }

  /** The work of every delivery held (see `Lease.run`). */
  runs(): Promise<void>[] {
    return [...this.held.values()].flatMap((l) => (l.run ? [l.run] : []));
  }

  /** The delivery is no longer held: its outcome is durable, or it was given back or up. */
  end(id: string): void {
    const lease = this.held.get(id);
    if (!lease) return;
    this.held.delete(id);
    this.opts.accounts.release(lease.accountId, lease.webhookId);
  }

  /**
   * Ends the lease and gives it back to the store unsent, on the next turn together with the
   * others given back meanwhile: one store call.
   */
  giveBack(id: string): void {
    this.end(id);
    this.givenBack.push(id);
    if (this.givenBack.length > 1) return;
    setImmediate(() => {
      const ids = this.givenBack;
      this.givenBack = [];
      void this.opts.store
        .releaseLeases(this.opts.owner, ids)
        .catch((err: unknown) =>
          this.opts.log.warn({ err }, 'giving leases back failed; they expire'),
        );
    });
  }

  /**
   * Renews the leases of every delivery held, in one call, and gives up those whose lease would
   * run out before the next beat (renewals failing: the database is unreachable from here).
   */
  private async heartbeat(): Promise<void> {
    // First, and even while a renewal hangs on a silent network: half a beat of slack for a late
    // timer, so a delivery is given up before its lease ends, never after.
    const horizon = this.opts.clock.now() + this.heartbeatMs * 1.5;
    const lost = [...this.held.values()].filter((l) => l.until <= horizon);
    if (lost.length > 0) this.giveUp(lost);
    if (this.beating || this.held.size === 0) return;
    this.beating = true;
    const now = this.opts.clock.now();
    const renewed = [...this.held.values()];
    const until = now + this.opts.leaseMs;
    try {
      await this.opts.store.renewLeases(
        this.opts.owner,
        renewed.map((l) => l.id),
        until,
      );
      for (const lease of renewed) lease.until = until;
    } catch (err) {
      this.opts.log.warn({ err, leases: renewed.length }, 'renewing leases failed; retrying');
    } finally {
      this.beating = false;
    }
  }

  /**
   * Another worker may claim these deliveries soon: their requests are aborted and their leases
   * end, so a delivery is never sent by two workers at once; the engine drops their outcomes
   * (`lost`), so a stale one never overwrites a newer one.
   */
  private giveUp(lost: Lease[]): void {
    for (const lease of lost) {
      lease.abort?.cancel();
      this.end(lease.id);
    }
    this.opts.lost(lost.map((l) => l.id));
  }
}
