/**
 * The claim (`Store.claimDue`, and the claim half of `completeAndClaim`), as
 * `postgres/sql/claim-due.ts` is on PostgreSQL: due deliveries oldest first, leased to the owner,
 * never more than a webhook's cap of live leases (none from a webhook another owner holds), each
 * account within its room (`ClaimOptions.fairness`). It runs inside the caller's transaction on
 * the store's thread.
 *
 * A listen session's deliveries (`listen` = 1) are claimed only by its connection, which names the
 * session (`ClaimOptions.webhooks`, `oldestDue`); every other claim leaves them out: they are not
 * in `deliveries_due`, and the slow path's walk steps over sessions.
 */
import type { ClaimedDelivery, ClaimOptions } from '../../types.js';
import { CLAIMED_SELECT, limitOf, type Row, type Stmt, toClaimed } from '../rows.js';

/** Rows scanned in claim order before the claim walks webhook by webhook instead. */
const CLAIM_SCAN_BUDGET = 1000;
/** Upper bound of webhooks the per-webhook claim walk visits in one claim. */
const CLAIM_WEBHOOK_WALK = 10_000;
/** Rows of capped webhooks the scan always may step over before walking instead. */
const CLAIM_SKIP_MIN = 32;

export class SqliteClaims {
  /** Webhooks the last claim walk visited: what walking costs now (see `claimOrder`). */
  private walkedLast = Number.POSITIVE_INFINITY;

  constructor(private readonly stmt: Stmt) {}

  /** The claim, inside the caller's transaction. */
  claim(o: ClaimOptions): ClaimedDelivery[] {
    const live = new Map<string, number>();
    for (const r of this.stmt(
      // INDEXED BY: without it the planner prefers an index ordered for the GROUP BY and scans
      // every delivery; the partial lease index holds only rows in flight.
      `SELECT webhook_id, COUNT(*) AS n, MAX(lease_owner <> ?) AS other
       FROM deliveries INDEXED BY deliveries_leased
       WHERE lease_owner IS NOT NULL AND lease_until > ? GROUP BY webhook_id`,
    ).all(o.owner, o.now) as Row[]) {
      // A webhook another owner holds leases on is that owner's for now (see ClaimOptions).
      live.set(r.webhook_id as string, r.other ? Number.POSITIVE_INFINITY : (r.n as number));
    }
    const caps = o.fairness?.webhookCaps;
    const room = (webhookId: string) =>
      (caps?.[webhookId] ?? o.webhookLeases) - (live.get(webhookId) ?? 0);
    const accounts = new AccountRoom(o);
    const picked = o.webhooks
      ? this.oldestDue(
          o.webhooks.map((w) => [w, undefined]),
          room,
          accounts,
          o,
        )
      : this.claimOrder(room, accounts, o);
    // Prepared before the early return, so that the warm-up (a claim of nothing) prepares them.
    const lease = this.stmt(
      `UPDATE deliveries SET lease_owner = ?, lease_until = ?
       WHERE id IN (SELECT value FROM json_each(?))`,
    );
    const read = this.stmt(
      `${CLAIMED_SELECT} WHERE d.id IN (SELECT value FROM json_each(?))
       ORDER BY d.next_attempt_at, d.id`,
    );
    if (picked.length === 0) return [];

    const ids = JSON.stringify(picked);
    lease.run(o.owner, o.now + o.leaseMs, ids);
    const rows = read.all(ids) as Row[];
    return rows.map(toClaimed);
  }

  /** The ids a claim takes, in claim order, each webhook within its `room`. */
  private claimOrder(
    room: (webhookId: string) => number,
    accounts: AccountRoom,
    o: ClaimOptions,
  ): string[] {
    // Fast path: the due rows in claim order, skipping webhooks at their cap.
    // Rows are stepped one at a time and the scan stops as soon as the claim is full, so a
    // claim costs about `limit` rows unless capped webhooks stand in the way.
    // Rows of capped webhooks are stepped over only while that is cheaper than the walk below:
    // one endpoint's backlog at its cap (fan-out 1 under load) made every claim step over the
    // whole budget, about 1 ms of this thread per claim, before walking its single webhook anyway.
    const budget = Math.max(CLAIM_SCAN_BUDGET, o.limit * 4);
    const skipBudget = Math.min(budget, Math.max(CLAIM_SKIP_MIN, this.walkedLast * 4));
    const taken = new Map<string, number>();
    let picked: string[] = [];
    let scanned = 0;
    let skipped = 0;
    for (const r of this.stmt(
      `SELECT id, webhook_id, account_id FROM deliveries
       WHERE status = 'pending' AND listen = 0 AND next_attempt_at <= ?
         AND (lease_owner IS NULL OR lease_until <= ?)
       ORDER BY next_attempt_at, id ${limitOf(budget)}`,
    ).iterate(o.now, o.now) as IterableIterator<Row>) {
      scanned++;
      const w = r.webhook_id as string;
      const a = r.account_id as string;
      const t = taken.get(w) ?? 0;
      if (t >= room(w) || accounts.left(a) <= 0) {
        if (++skipped >= skipBudget) break;
        continue;
      }
      taken.set(w, t + 1);
      accounts.take(a);
      picked.push(r.id as string);
      if (picked.length >= o.limit) break;
    }

    // Slow path: the budget (or the skips) ran out on rows of capped webhooks (one endpoint's
    // backlog in front of the others). Walk the webhooks that have pending work, take each one's
    // oldest due rows up to its room, and merge by due time: exact, and cost grows with webhooks,
    // not rows. Listen sessions are stepped over (one probe each, however much waits for them):
    // their ids are read here, off the fast path, from the few rows of `webhooks_listen_name`.
    if (picked.length < o.limit && (scanned === budget || skipped >= skipBudget)) {
      const next = this.stmt(
        `SELECT webhook_id, account_id FROM deliveries WHERE status = 'pending' AND webhook_id > ?
         ORDER BY webhook_id LIMIT 1`,
      );
      const sessions = new Set(
        (this.stmt('SELECT id FROM webhooks WHERE listen = 1').all() as Row[]).map(
          (r) => r.id as string,
        ),
      );
      let walked = 0;
      const webhooks = function* (): Generator<[string, string]> {
        let cursor = '';
        for (; walked < CLAIM_WEBHOOK_WALK; walked++) {
          const r = next.get(cursor) as Row | undefined;
          if (!r) return;
          cursor = r.webhook_id as string;
          if (sessions.has(cursor)) continue;
          yield [cursor, r.account_id as string];
        }
      };
      picked = this.oldestDue(webhooks(), room, new AccountRoom(o), o);
      this.walkedLast = walked;
    }
    return picked;
  }

  /**
   * Each webhook's oldest due deliveries within its room, merged by due time, within each
   * account's room, `o.limit` at most. A webhook given with its account is skipped at once when
   * that account has no room.
   */
  private oldestDue(
    webhooks: Iterable<[webhookId: string, accountId: string | undefined]>,
    room: (webhookId: string) => number,
    accounts: AccountRoom,
    o: ClaimOptions,
  ): string[] {
    // One statement per `n` (at most the claim's limit, `CLAIM_BATCH` in the engine): `limitOf`.
    const due = (n: number) =>
      this.stmt(
        `SELECT id, webhook_id, account_id, next_attempt_at FROM deliveries
         WHERE status = 'pending' AND webhook_id = ? AND next_attempt_at <= ?
           AND (lease_owner IS NULL OR lease_until <= ?)
         ORDER BY next_attempt_at, id ${limitOf(n)}`,
      );
    const candidates: Row[] = [];
    for (const [w, account] of webhooks) {
      if (account !== undefined && accounts.left(account) <= 0) continue;
      const n = Math.min(room(w), o.limit);
      if (n > 0) candidates.push(...(due(n).all(w, o.now, o.now) as Row[]));
    }
    candidates.sort(
      (a, b) =>
        (a.next_attempt_at as number) - (b.next_attempt_at as number) ||
        (a.id as string).localeCompare(b.id as string),
    );
    const picked: string[] = [];
    for (const r of candidates) {
      if (picked.length >= o.limit) break;
      const a = r.account_id as string;
      if (accounts.left(a) <= 0) continue;
      accounts.take(a);
      picked.push(r.id as string);
    }
    return picked;
  }
}

/** How many more deliveries each account may be leased in this claim (`ClaimOptions.fairness`). */
class AccountRoom {
  private readonly taken = new Map<string, number>();
  constructor(private readonly o: ClaimOptions) {}

  left(accountId: string): number {
    const f = this.o.fairness;
    if (!f) return Number.POSITIVE_INFINITY;
    return (f.accountRoom[accountId] ?? f.accountShare) - (this.taken.get(accountId) ?? 0);
  }

  take(accountId: string): void {
    this.taken.set(accountId, (this.taken.get(accountId) ?? 0) + 1);
  }
}

/**
 * When the next delivery after `after` falls due and is not leased: the engine's next wake-up.
 * Listen sessions' deliveries are their connections' to send, never a reason to wake the engine.
 */
export function nextDueAt(stmt: Stmt, now: number, after?: number): number | null {
  const r = stmt(
    `SELECT next_attempt_at FROM deliveries
     WHERE status = 'pending' AND listen = 0 AND next_attempt_at > ?
       AND (lease_owner IS NULL OR lease_until <= ?)
     ORDER BY next_attempt_at, id LIMIT 1`,
  ).get(after ?? Number.MIN_SAFE_INTEGER, now) as Row | undefined;
  return r ? (r.next_attempt_at as number) : null;
}

/** Pending deliveries, leased or not: the backlog gauge. */
export function countPending(stmt: Stmt): number {
  const r = stmt("SELECT COUNT(*) AS n FROM deliveries WHERE status = 'pending'").get() as Row;
  return r.n as number;
}
