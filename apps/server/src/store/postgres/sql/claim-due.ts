import type { AttemptOutcome, ClaimedDelivery, ClaimOptions } from '../../types.js';
import { placeholders, type Queryable, query } from '../pool.js';
import { claimedRow } from '../rows.js';
import { outcomeParams } from './complete-attempts.js';

/**
 * A claim, done by the function `af_claim_due` (`../functions/claim-due.sql`) in one round trip
 * and its own transaction.
 *
 * Step 1: webhooks with due work that are below their cap, locked for this transaction.
 *
 * The rule (at most `webhookLeases` live leases per webhook, and none taken from a webhook
 * another owner holds live leases on) must hold when two workers claim for the same webhook at
 * the same moment. Both would count the same live leases and each take the rest. So a claim
 * first locks the webhook rows it will take work from
 * (`FOR NO KEY UPDATE SKIP LOCKED`: another claimer skips them instead of waiting; API updates
 * of the webhook are the only other lockers, and only for a moment). Then step 2 counts leases
 * in a NEW statement: in READ COMMITTED its snapshot is taken after the lock was granted, so it
 * sees every claim committed by the previous holder. Counting in the same statement as the lock
 * would read a snapshot from before the lock and could overshoot.
 *
 * Which webhooks: usually those of the oldest due deliveries (the head: a short walk of
 * `deliveries_due`). When that head is full of rows that cannot be taken now — a slow endpoint's
 * backlog at its cap, or webhooks another worker is claiming for — walking further would cost as
 * much as the backlog, so the claim asks each webhook instead for its oldest due delivery
 * (one probe of `deliveries_webhook_due` per webhook): a slow endpoint never hides the others'
 * work.
 *
 * Step 2 (`af_claim_locked`, which a refill runs alone): for each locked webhook, its oldest
 * due deliveries (`FOR UPDATE SKIP LOCKED`: rows being completed or retried right now are left
 * alone), at most the cap minus its live leases, then the oldest due `limit` of all, leased to
 * `owner` until `now + leaseMs`.
 *
 * A listen session's deliveries (`listen`) are claimed only by its connection, which names the
 * session (a refill: `af_refill`, whose step 2 reads `deliveries_webhook_due`); `af_claim_due`
 * leaves them out: they are not in `deliveries_due` (the head), and the walk skips sessions.
 *
 * One round trip instead of begin, three or four statements and commit. The events and webhooks
 * are joined inside the function, in the snapshot of the claim itself: joined outside, an event
 * committed between the outer statement's snapshot and the claim would be claimed yet not seen.
 */
// A row `r` of `af_claimed_delivery` with its delivery spread: the columns `claimedRow` reads.
const claimColumns = `(r.claimed).*, r.e_timestamp, r.e_body, r.w_id, r.w_url, r.w_active,
  r.w_headers_enc, r.w_secret_enc, r.w_previous_secret_enc, r.w_previous_secret_expires_at,
  r.w_deleted_at`;
const claimOrder = 'order by (r.claimed).next_attempt_at, (r.claimed).id';

const claimSql = `select ${claimColumns} from af_claim_due($1, $2, $3, $4, $5, $6) r ${claimOrder}`;
/** A refill (`ClaimOptions.webhooks`): step 2 for those webhooks only (`af_refill`). */
const refillSql = `select ${claimColumns} from af_refill($1, $2, $3, $4, $5, $6, $7) r ${claimOrder}`;

export function claimParams(o: ClaimOptions): unknown[] {
  const f = o.fairness;
  // `p_fair`: lease caps per webhook and room per account, or no such rule.
  const fair = f
    ? JSON.stringify({ caps: f.webhookCaps, room: f.accountRoom, share: f.accountShare })
    : null;
  const params = [o.now, o.webhookLeases, o.limit, o.owner, o.leaseMs, fair];
  return o.webhooks ? [o.webhooks, ...params] : params;
}

export async function claimDue(pool: Queryable, o: ClaimOptions): Promise<ClaimedDelivery[]> {
  if (o.limit <= 0 || o.webhookLeases <= 0 || o.webhooks?.length === 0) return [];
  const { rows } = o.webhooks
    ? await query(pool, refillSql, claimParams(o), 'af_refill')
    : await query(pool, claimSql, claimParams(o), 'af_claim');
  return rows.map(claimedRow);
}

export const completeAndClaimSql = `select ${claimColumns}
  from af_complete_and_claim(${placeholders(1, 26)}) r ${claimOrder}`;
export const completeAndRefillSql = `select ${claimColumns}
  from af_complete_and_refill(${placeholders(1, 27)}) r ${claimOrder}`;

/**
 * `completeAttempts(outcomes)` then `claimDue(o)` in one transaction and one round trip
 * (`af_complete_and_claim`, or `af_complete_and_refill` for `o.webhooks`, both in
 * `../functions/complete-and-claim.sql`): the engine's cycle, outcomes written and the freed
 * slots refilled.
 */
export async function completeAndClaim(
  pool: Queryable,
  outcomes: AttemptOutcome[],
  o: ClaimOptions,
): Promise<ClaimedDelivery[]> {
  if (outcomes.length === 0) return claimDue(pool, o);
  const params = [...outcomeParams(outcomes), ...claimParams(o)];
  const { rows } = o.webhooks
    ? await query(pool, completeAndRefillSql, params, 'af_complete_refill')
    : await query(pool, completeAndClaimSql, params, 'af_complete_claim');
  return rows.map(claimedRow);
}

/**
 * When the next delivery after `after` falls due and is not leased: the engine's next wake-up.
 * Listen sessions' deliveries are their connections' to send, never a reason to wake the engine
 * (and not in `deliveries_due`, which this reads).
 */
export async function nextDueAt(
  pool: Queryable,
  now: number,
  after?: number,
): Promise<number | null> {
  const { rows } = await query<{ at: number | null }>(
    pool,
    'select af_next_due($1, $2) as at',
    [now, after ?? Number.MIN_SAFE_INTEGER],
    'af_next_due',
  );
  return rows[0]?.at ?? null;
}

/** Pending deliveries, leased or not: the backlog gauge. */
export async function countPending(pool: Queryable): Promise<number> {
  const { rows } = await query(
    pool,
    `select count(*) as n from deliveries where status = 'pending'`,
  );
  return rows[0]!.n;
}
