/**
 * The warm-up of one pooled connection (`PostgresStore.warmUp`, run at start before `/readyz`
 * answers 200), as the SQLite store warms its statement cache. A new connection is a new server
 * process: the first time it runs a statement it loads the tables' and indexes' descriptions
 * into its caches, compiles the PL/pgSQL functions it calls, and (for the store's named
 * statements) parses and prepares them; under load those first calls cost tens to hundreds of
 * milliseconds each, paid by the first requests and claims.
 *
 * Every hot statement runs here once, through the same code and with the same statement names
 * as the store's, with arguments that match nothing, so it changes nothing:
 * - the claims (`af_claim_due`, `af_refill`, and their fused completions) with `now` = 0, before
 *   any delivery is due: they find no head and return at once, having planned its statement;
 *   `af_claim_locked` (their second step) on no webhook at all;
 * - completions (`af_complete_attempts`) of no outcome: the insert of attempts selects no row;
 * - the insert of events and deliveries (`af_insert`) with empty arrays: no row is inserted and
 *   no wake-up sent (it is sent only with a delivery);
 * - the API's reads with an id or a key hash that no row has: the key lookup, the account, the
 *   account's webhooks; the engine's next due time and the pending count.
 *
 * Nothing is inserted and then rolled back: that would leave dead rows, and needs an account.
 */
import type pg from 'pg';
import type { ClaimOptions } from '../../types.js';
import type { WakeUp } from '../notifier.js';
import { query } from '../pool.js';
import { findApiKeyByHash, getAccount } from './accounts.js';
import {
  claimDue,
  claimParams,
  completeAndClaimSql,
  completeAndRefillSql,
  countPending,
  nextDueAt,
} from './claim-due.js';
import { completeSql, outcomeParams } from './complete-attempts.js';
import { insertAllSql, webhooksSql } from './insert-events.js';

/** An id, a key hash and an owner no row has (ids are `prefix_` + a ULID; hashes are hex). */
const NONE = 'warm_up';
const NO_HASH = 'warm-up';

/** A claim that can take nothing: due at the epoch, before any delivery. */
const NOTHING_DUE: ClaimOptions = {
  now: 0,
  limit: 1,
  owner: NONE,
  leaseMs: 1,
  webhookLeases: 1,
  // As the engine claims: with fair sharing (a `p_fair` argument, not null).
  fairness: { webhookCaps: {}, accountRoom: {}, accountShare: 1 },
};

/** Runs each hot statement of the store once on `client` (see the top of this file). */
export async function warmConnection(client: pg.PoolClient, wake: WakeUp): Promise<void> {
  await query(client, 'select 1');
  // The API: authentication, the admin key's account, the fan-out's webhooks, the insert.
  await findApiKeyByHash(client, NO_HASH);
  await getAccount(client, NONE);
  await query(client, webhooksSql, [NONE]);
  await query(
    client,
    insertAllSql,
    [NONE, [], [], [], [], [], 0, [], [], [], [], [], wake.channel, wake.payload],
    'af_insert',
  );
  // The engine: claims, refills, completions, and when to wake next.
  await claimDue(client, NOTHING_DUE);
  await claimDue(client, { ...NOTHING_DUE, webhooks: [NONE] });
  await query(client, 'select count(*) from af_claim_locked($1, 0, 1, 1, $2, 1, null)', [[], NONE]);
  const noOutcomes = outcomeParams([]);
  await query(client, completeSql, noOutcomes, 'af_complete');
  await query(
    client,
    completeAndClaimSql,
    [...noOutcomes, ...claimParams(NOTHING_DUE)],
    'af_complete_claim',
  );
  await query(
    client,
    completeAndRefillSql,
    [...noOutcomes, ...claimParams({ ...NOTHING_DUE, webhooks: [NONE] })],
    'af_complete_refill',
  );
  await nextDueAt(client, 0);
  await countPending(client);
}
