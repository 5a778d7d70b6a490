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
 * - Per webhook, how far ahead it is leased: the deliveries beyond those running wait in this
 *   worker and start the moment an attempt ends, while outcomes are written and more claimed (a
 *   few milliseconds, see `engine.ts`). An endpoint that answers within `FAST_MS` uses up its
 *   lease-ahead within that time, so while this worker holds it and its last attempt was that
 *   fast it is leased up to `fastLeases` instead of `fullLeases`; after a slower answer it is
 *   refilled only up to `fullLeases` again (what it holds beyond still runs: given back, the
 *   same deliveries would be claimed again at once, ~1 % of them in the benchmark). The extra
 *   comes out of its account's share only as far as the account's other webhooks held here
 *   leave it: with ten busy webhooks an account's share is used up at about `fullLeases` each,
 *   and more for some would leave others' slots idle.
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
  /** Account → deliveries held by this worker, and how many of its webhooks are in `webhooks`. */
  private readonly accounts = new Map<string, { held: number; webhooks: number }>();
  /**
   * Webhook → its account, deliveries held by this worker, and whether its last attempt was
   * fast. Forgotten when none is held, so it never grows beyond the deliveries held.
   */
  private readonly webhooks = new Map<string, { account: string; held: number; fast: boolean }>();

  constructor(
    /** `AF_ENDPOINT_CONCURRENCY`. */
    private readonly cap: number,
    /** Leases of a healthy webhook, `cap × leases per slot`. */
    private readonly fullLeases: number,
    /** Leases of a healthy webhook that answers within `FAST_MS`. */
    private readonly fastLeases: number,
    /** Deliveries one account may hold in this worker. */
    readonly accountShare: number,
  ) {}

  /** Attempts the webhook may run at once. */
  limit(webhookId: string): number {
    return this.limits.get(webhookId) ?? this.cap;
  }

  /** Deliveries this worker may hold for the webhook (running and waiting to start). */
  leases(webhookId: string): number {
    const limit = this.limits.get(webhookId);
    if (limit !== undefined) return limit;
    const w = this.webhooks.get(webhookId);
    return w?.fast ? this.fastLeasesOf(w.account) : this.fullLeases;
  }

  /** A fast webhook's leases: up to `fastLeases`, as its account's share allows (the header). */
  private fastLeasesOf(account: string): number {
    const busy = this.accounts.get(account)?.webhooks || 1;
    return Math.max(
      this.fullLeases,
      Math.min(this.fastLeases, Math.floor(this.accountShare / busy)),
    );
  }

  /**
   * An attempt that reached the webhook's endpoint (or tried to) ended after `durationMs`; true
   * when its limit went down (its waiting deliveries beyond the new lease cap go back,
   * `slots.ts`).
   */
  attemptEnded(webhookId: string, error: AttemptError | null, durationMs: number): boolean {
    const w = this.webhooks.get(webhookId);
    if (w) w.fast = error !== 'timeout' && durationMs < FAST_MS;
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

  /** A delivery of the account's webhook is now held by this worker (claimed). */
  hold(accountId: string, webhookId: string): void {
    let a = this.accounts.get(accountId);
    if (!a) {
      a = { held: 0, webhooks: 0 };
      this.accounts.set(accountId, a);
    }
    a.held++;
    if (webhookId === '') return; // a deleted webhook's delivery: sent nowhere
    const w = this.webhooks.get(webhookId);
    if (w) {
      w.held++;
      return;
    }
    this.webhooks.set(webhookId, { account: accountId, held: 1, fast: false });
    a.webhooks++;
  }

  /** A delivery held is no longer (its outcome is durable, or it was given back or up). */
  release(accountId: string, webhookId: string): void {
    const a = this.accounts.get(accountId);
    if (!a) return;
    const w = this.webhooks.get(webhookId);
    if (w && --w.held <= 0) {
      this.webhooks.delete(webhookId);
      a.webhooks--;
    }
    // Its last delivery held was also the last of each of its webhooks.
    if (--a.held <= 0) this.accounts.delete(accountId);
  }

  /**
   * Deliveries held for accounts still below their share: what the claims of this worker compete
   * for. An account at its share takes nothing more whatever the claim, so its deliveries do not
   * make the worker short of room for the others.
   */
  heldBelowShare(): number {
    let n = 0;
    for (const { held } of this.accounts.values()) if (held < this.accountShare) n += held;
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
    for (const [account, { held }] of this.accounts) {
      accountRoom[account] = Math.max(0, this.accountShare - held + (freed.get(account) ?? 0));
    }
    // Every cap other than the default: the slowed webhooks', and the held webhooks' own.
    const webhookCaps: Record<string, number> = Object.fromEntries(this.limits);
    for (const id of this.webhooks.keys()) {
      const leases = this.leases(id);
      if (leases !== this.fullLeases) webhookCaps[id] = leases;
    }
    return {
      webhookCaps,
      accountRoom,
      accountShare: this.accountShare,
    };
  }
}

/**
 * An attempt that ended within this many milliseconds makes its webhook fast (see the header). A
 * write and a claim take a few milliseconds under load (`docs/performance.md`); an endpoint
 * slower than this gets through fewer attempts per slot meanwhile than `fullLeases` leaves
 * waiting, so leasing it further ahead would only hold more of the worker.
 */
const FAST_MS = 25;

/**
 * Slowed webhooks remembered at once; past it the one slowed longest ago is forgotten (it starts
 * again at the full limit and is slowed again by its next timeouts).
 */
const MAX_TRACKED = 10_000;
