import type { AttemptError, ClaimFairness } from '../store/types.js';

/**
 * Fair sharing of one worker's capacity, so that no endpoint and no account can take it from the
 * others (a tenant's webhooks pointing at servers that never answer, each holding its slots for
 * the whole delivery timeout at every retry):
 *
 * - Per webhook, adaptive concurrency (AIMD, as TCP and Netflix's concurrency-limits do): an
 *   attempt that times out halves the attempts the webhook may run at once, down to 1; any other
 *   outcome adds one back, up to `AF_ENDPOINT_CONCURRENCY`. A webhook below its full limit is
 *   leased only as many deliveries as it may run (no lease-ahead: its attempts are slow anyway),
 *   so a black hole holds one slot of the worker, not `3 × AF_ENDPOINT_CONCURRENCY`.
 * - Per account, a share of the worker: an account holds at most `accountShare` deliveries of
 *   this worker (held = claimed and not yet completed), enforced inside the claim, so the rest
 *   is always there for the other accounts whatever one account's endpoints do.
 *
 * The limits live in this worker's memory: they are learnt again by a worker that takes a
 * webhook over (one round of timeouts), and forgotten when the webhook is healthy again.
 */
export class Fairness {
  /** Webhooks below their full limit → the attempts they may run at once. */
  private readonly limits = new Map<string, number>();
  /** Account → deliveries held by this worker. */
  private readonly held = new Map<string, number>();

  constructor(
    /** `AF_ENDPOINT_CONCURRENCY`. */
    private readonly cap: number,
    /** Leases of a healthy webhook, `cap × leases per slot`. */
    private readonly fullLeases: number,
    /** Deliveries one account may hold in this worker. */
    readonly accountShare: number,
  ) {}

  /** Attempts the webhook may run at once. */
  limit(webhookId: string): number {
    return this.limits.get(webhookId) ?? this.cap;
  }

  /** Deliveries this worker may hold for the webhook (running and waiting to start). */
  leases(webhookId: string): number {
    return this.limits.get(webhookId) ?? this.fullLeases;
  }

  /** An attempt to the webhook ended; true when its limit went down. */
  attemptEnded(webhookId: string, error: AttemptError | null): boolean {
    const before = this.limit(webhookId);
    if (error === 'timeout') {
      const next = Math.max(1, Math.floor(before / 2));
      // Re-inserted: the map's order is least recently slowed first, for the bound below.
      this.limits.delete(webhookId);
      this.limits.set(webhookId, next);
      if (this.limits.size > MAX_TRACKED) {
        const oldest = this.limits.keys().next().value;
        if (oldest !== undefined) this.limits.delete(oldest);
      }
      return next < before;
    }
    if (before < this.cap) {
      if (before + 1 >= this.cap) this.limits.delete(webhookId);
      else this.limits.set(webhookId, before + 1);
    }
    return false;
  }

  hold(accountId: string): void {
    this.held.set(accountId, (this.held.get(accountId) ?? 0) + 1);
  }

  release(accountId: string): void {
    const n = (this.held.get(accountId) ?? 0) - 1;
    if (n > 0) this.held.set(accountId, n);
    else this.held.delete(accountId);
  }

  /**
   * Deliveries held for accounts still below their share: what the claims of this worker compete
   * for. An account at its share takes nothing more whatever the claim, so its deliveries do not
   * make the worker short of room for the others.
   */
  heldBelowShare(): number {
    let n = 0;
    for (const held of this.held.values()) if (held < this.accountShare) n += held;
    return n;
  }

  /**
   * What a claim must respect now (`ClaimOptions.fairness`); `completing` are the accounts of
   * outcomes written in the same transaction, whose deliveries are no longer held when it claims.
   */
  claim(completing: readonly string[] = []): ClaimFairness {
    const freed = new Map<string, number>();
    for (const a of completing) freed.set(a, (freed.get(a) ?? 0) + 1);
    const accountRoom: Record<string, number> = {};
    for (const [account, n] of this.held) {
      accountRoom[account] = Math.max(0, this.accountShare - n + (freed.get(account) ?? 0));
    }
    return {
      webhookCaps: Object.fromEntries(this.limits),
      accountRoom,
      accountShare: this.accountShare,
    };
  }
}

/**
 * Slowed webhooks remembered at once; past it the one slowed longest ago is forgotten (it starts
 * again at the full limit and is slowed again by its next timeouts).
 */
const MAX_TRACKED = 10_000;
