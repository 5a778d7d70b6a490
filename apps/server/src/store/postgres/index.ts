/**
 * The PostgreSQL store: the same `Store` as SQLite, for many api and worker processes on one
 * database. Work is shared through the database alone: claims lock rows (`FOR UPDATE SKIP
 * LOCKED`) and lease them for a while (a visibility timeout renewed by the worker's heartbeat),
 * completions come back in batches, and `NOTIFY af_work` wakes idle workers.
 *
 * ```ts
 * const store = createPostgresStore({ url: process.env.DATABASE_URL! });
 * await store.migrate();
 * ```
 *
 * This class holds the pool, the LISTEN connection and the settings; each SQL operation has its own
 * file under `sql/`, named as its SQLite twin under `../sqlite/sql/`.
 */
import type pg from 'pg';
import type {
  FusedCompleteClaim,
  SettingsAdvice,
  SharedRateLimits,
  StoreWarmUp,
  WorkNotifier,
} from '../capabilities.js';
import type {
  AccountRow,
  ApiKeyRow,
  AttemptOutcome,
  AuditEntryRow,
  AuditFilter,
  CertificateSeen,
  ClaimedDelivery,
  ClaimOptions,
  DeliveryDetail,
  DeliveryFilter,
  DeliveryRow,
  EncryptedChange,
  EncryptedRow,
  EncryptedTable,
  EventDetail,
  EventFilter,
  EventRow,
  InsertEventResult,
  ListenSessionRow,
  NewEvent,
  NoticeEvent,
  OpenListenSession,
  Page,
  PageQuery,
  PurgeCounts,
  SecretRotation,
  StatsQuery,
  Store,
  WebhookHealthCounts,
  WebhookNotice,
  WebhookPatch,
  WebhookRow,
  WebhookStats,
} from '../types.js';
import { migrate } from './migrate.js';
import { PgWorkNotifier, type WakeUp, WORK_CHANNEL } from './notifier.js';
import { checkSchemaName, createPool, POOL_SIZE, type PostgresOptions, query } from './pool.js';
import {
  createAccount,
  createApiKey,
  findApiKeyByHash,
  getAccount,
  listAccountIds,
  listApiKeys,
  markApiKeyUsed,
  purgeAccount,
  revokeApiKey,
} from './sql/accounts.js';
import { appendAudit, listAudit } from './sql/audit-log.js';
import { claimDue, completeAndClaim, countPending, nextDueAt } from './sql/claim-due.js';
import { completeAttempts } from './sql/complete-attempts.js';
import { getDelivery, getEvent, listDeliveries, listEvents } from './sql/delivery-log.js';
import {
  countEncryptedRows,
  listEncryptedValues,
  replaceEncryptedValues,
} from './sql/encrypted-values.js';
import { insertEvents, purgeIdempotencyKeys } from './sql/insert-events.js';
import { releaseLeases, renewLeases } from './sql/leases.js';
import {
  getListenSecret,
  rotateListenSecret,
  setListenSecretIfAbsent,
} from './sql/listen-secret.js';
import {
  closeListenSession,
  deleteListenSession,
  expireListenSessions,
  listListenSessions,
  openListenSession,
  touchListenSession,
} from './sql/listen-sessions.js';
import { insertTestDelivery, recoverDeliveries, requestAttempt } from './sql/manual-deliveries.js';
import { takeRate } from './sql/rate-limits.js';
import { purgeFinished } from './sql/retention.js';
import { warmConnection } from './sql/warm-up.js';
import {
  countWebhookHealth,
  disableFailingWebhooks,
  listWebhookNotices,
  publishWebhookNotices,
  recordCertificates,
  warnExpiringCertificates,
} from './sql/webhook-health.js';
import { webhookStats } from './sql/webhook-stats.js';
import {
  createWebhook,
  deleteWebhook,
  getWebhook,
  listWebhooks,
  rotateSecret,
  sampleWebhookSecrets,
  updateWebhook,
} from './sql/webhooks.js';

export { isUnavailableError, StoreUnavailableError } from './errors.js';
export { loadMigrations } from './migrations.js';
export type { PostgresOptions } from './pool.js';

export type PostgresStore = Store &
  WorkNotifier &
  FusedCompleteClaim &
  SettingsAdvice &
  SharedRateLimits &
  StoreWarmUp;

/** A store on PostgreSQL; call `migrate()` before the first use. Nothing connects until then. */
export function createPostgresStore(options: PostgresOptions): PostgresStore {
  return new PgStore(options);
}

class PgStore implements PostgresStore {
  private readonly pool: pg.Pool;
  private readonly schema: string;
  private readonly notifier: PgWorkNotifier;
  private readonly keyWaitMs: number;
  private readonly wake: WakeUp;
  private readonly poolSize: number;

  constructor(options: PostgresOptions) {
    this.schema = checkSchemaName(options.schema ?? 'public');
    this.keyWaitMs = options.idempotencyWaitMs ?? 5_000;
    this.wake = { channel: WORK_CHANNEL, payload: this.schema };
    this.poolSize = options.poolSize ?? POOL_SIZE;
    this.pool = createPool({ ...options, poolSize: this.poolSize });
    this.notifier = new PgWorkNotifier(options, this.schema);
  }

  async migrate(): Promise<void> {
    await migrate(this.pool, this.schema);
  }

  async ping(): Promise<void> {
    await query(this.pool, 'select 1');
  }

  async settingWarnings(): Promise<string[]> {
    const { rows } = await query<{ autovacuum: string }>(
      this.pool,
      "select current_setting('autovacuum') as autovacuum",
    );
    if (rows[0]?.autovacuum !== 'off') return [];
    return [
      'PostgreSQL runs with autovacuum = off. Every attempt rewrites a delivery row, so without ' +
        'vacuum the deliveries table and its indexes only grow, statistics go stale, and claims ' +
        'slow down. Turn autovacuum on (see docs/scaling.md), or run VACUUM ANALYZE regularly.',
    ];
  }

  /**
   * Opens every connection of the pool (the API and the engine of this process use them all at
   * once under load) and warms each: `sql/warm-up.ts`. A connection that cannot be opened or
   * warmed rejects the whole, after the others are back in the pool.
   */
  async warmUp(): Promise<{ connections: number }> {
    const opened = await Promise.allSettled(
      Array.from({ length: this.poolSize }, () => this.pool.connect()),
    );
    const clients = opened.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
    const warmed = await Promise.allSettled(
      clients.map((client) => warmConnection(client, this.wake)),
    );
    clients.forEach((client, i) => {
      client.release(warmed[i]!.status === 'rejected');
    });
    const failed = [...opened, ...warmed].find((o) => o.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    return { connections: clients.length };
  }

  /** Connections open in the pool now, busy or idle (tests). */
  get connections(): number {
    return this.pool.totalCount;
  }

  private closing: Promise<void> | undefined;

  /** Ends the LISTEN connection and the pool; calling it again answers the same promise. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.notifier.close();
      await this.pool.end();
    })();
    return this.closing;
  }

  onWorkAvailable(cb: () => void): () => void {
    return this.notifier.onWorkAvailable(cb);
  }

  // Accounts and API keys: sql/accounts.ts.

  createAccount(a: AccountRow): Promise<void> {
    return createAccount(this.pool, a);
  }

  getAccount(id: string): Promise<AccountRow | undefined> {
    return getAccount(this.pool, id);
  }

  purgeAccount(id: string): Promise<void> {
    return purgeAccount(this.pool, id);
  }

  listAccountIds(idPrefix: string, createdBefore: number): Promise<string[]> {
    return listAccountIds(this.pool, idPrefix, createdBefore);
  }

  createApiKey(k: ApiKeyRow, maxPerAccount?: number): Promise<boolean> {
    return createApiKey(this.pool, k, maxPerAccount);
  }

  findApiKeyByHash(keyHash: string): Promise<ApiKeyRow | undefined> {
    return findApiKeyByHash(this.pool, keyHash);
  }

  listApiKeys(accountId: string, page: PageQuery): Promise<Page<ApiKeyRow>> {
    return listApiKeys(this.pool, accountId, page);
  }

  revokeApiKey(accountId: string, id: string, now: number): Promise<ApiKeyRow | undefined> {
    return revokeApiKey(this.pool, accountId, id, now);
  }

  markApiKeyUsed(id: string, now: number, notBefore: number): Promise<void> {
    return markApiKeyUsed(this.pool, id, now, notBefore);
  }

  // The audit log: sql/audit-log.ts.

  appendAudit(entry: AuditEntryRow): Promise<void> {
    return appendAudit(this.pool, entry);
  }

  listAudit(accountId: string, filter: AuditFilter, page: PageQuery): Promise<Page<AuditEntryRow>> {
    return listAudit(this.pool, accountId, filter, page);
  }

  getListenSecret(accountId: string): Promise<string | null> {
    return getListenSecret(this.pool, accountId);
  }

  setListenSecretIfAbsent(accountId: string, enc: string): Promise<string> {
    return setListenSecretIfAbsent(this.pool, accountId, enc);
  }

  rotateListenSecret(accountId: string, enc: string): Promise<boolean> {
    return rotateListenSecret(this.pool, accountId, enc);
  }

  // Listen sessions: sql/listen-sessions.ts.

  openListenSession(s: OpenListenSession): Promise<ListenSessionRow> {
    return openListenSession(this.pool, s);
  }

  touchListenSession(id: string, connection: string, now: number): Promise<boolean> {
    return touchListenSession(this.pool, id, connection, now);
  }

  closeListenSession(id: string, connection: string, now: number): Promise<void> {
    return closeListenSession(this.pool, id, connection, now);
  }

  listListenSessions(accountId: string, now: number): Promise<ListenSessionRow[]> {
    return listListenSessions(this.pool, accountId, now);
  }

  deleteListenSession(accountId: string, id: string, now: number): Promise<boolean> {
    return deleteListenSession(this.pool, accountId, id, now);
  }

  expireListenSessions(seenBefore: number, now: number): Promise<number> {
    return expireListenSessions(this.pool, seenBefore, now);
  }

  // Webhooks: sql/webhooks.ts.

  createWebhook(w: WebhookRow, maxPerAccount?: number): Promise<boolean> {
    return createWebhook(this.pool, w, maxPerAccount);
  }

  getWebhook(accountId: string, id: string): Promise<WebhookRow | undefined> {
    return getWebhook(this.pool, accountId, id);
  }

  listWebhooks(accountId: string, page: PageQuery): Promise<Page<WebhookRow>> {
    return listWebhooks(this.pool, accountId, page);
  }

  updateWebhook(
    accountId: string,
    id: string,
    patch: WebhookPatch,
    now: number,
  ): Promise<WebhookRow | undefined> {
    return updateWebhook(this.pool, accountId, id, patch, now);
  }

  rotateSecret(
    accountId: string,
    id: string,
    r: SecretRotation,
    now: number,
  ): Promise<WebhookRow | undefined> {
    return rotateSecret(this.pool, accountId, id, r, now);
  }

  deleteWebhook(accountId: string, id: string, now: number): Promise<boolean> {
    return deleteWebhook(this.pool, accountId, id, now);
  }

  sampleWebhookSecrets(
    limit: number,
  ): Promise<{ id: string; accountId: string; secretEnc: string }[]> {
    return sampleWebhookSecrets(this.pool, limit);
  }

  // Encryption key rotation: sql/encrypted-values.ts.

  listEncryptedValues(
    table: EncryptedTable,
    afterId: string | null,
    limit: number,
  ): Promise<EncryptedRow[]> {
    return listEncryptedValues(this.pool, table, afterId, limit);
  }

  replaceEncryptedValues(changes: EncryptedChange[]): Promise<number> {
    return replaceEncryptedValues(this.pool, changes);
  }

  countEncryptedRows(): Promise<number> {
    return countEncryptedRows(this.pool);
  }

  // Rate limits shared by the api processes: sql/rate-limits.ts.

  takeRate(
    key: string,
    costMs: number,
    toleranceMs: number,
  ): Promise<{ tat: number; allowed: boolean; nowMs: number }> {
    return takeRate(this.pool, key, costMs, toleranceMs);
  }

  // Events, fan-out and idempotency: sql/insert-events.ts.

  insertEvents(accountId: string, events: NewEvent[], now: number): Promise<InsertEventResult[]> {
    return insertEvents(this.pool, accountId, events, now, this.wake, this.keyWaitMs);
  }

  purgeIdempotencyKeys(before: number): Promise<number> {
    return purgeIdempotencyKeys(this.pool, before);
  }

  // The delivery log: sql/delivery-log.ts.

  getEvent(accountId: string, id: string): Promise<EventDetail | undefined> {
    return getEvent(this.pool, accountId, id);
  }

  listEvents(accountId: string, filter: EventFilter, page: PageQuery): Promise<Page<EventRow>> {
    return listEvents(this.pool, accountId, filter, page);
  }

  getDelivery(accountId: string, id: string): Promise<DeliveryDetail | undefined> {
    return getDelivery(this.pool, accountId, id);
  }

  listDeliveries(
    accountId: string,
    filter: DeliveryFilter,
    page: PageQuery,
  ): Promise<Page<DeliveryRow>> {
    return listDeliveries(this.pool, accountId, filter, page);
  }

  // Manual retry, recover and the test action: sql/manual-deliveries.ts.

  requestAttempt(
    accountId: string,
    id: string,
    trigger: 'manual',
    now: number,
  ): Promise<DeliveryRow | 'in_flight' | undefined> {
    return requestAttempt(this.pool, this.wake, accountId, id, trigger, now);
  }

  recoverDeliveries(
    accountId: string,
    webhookId: string,
    since: number,
    until: number,
    now: number,
  ): Promise<number> {
    return recoverDeliveries(this.pool, this.wake, accountId, webhookId, since, until, now);
  }

  insertTestDelivery(
    accountId: string,
    webhookId: string,
    event: NewEvent,
    delivery: { id: string; owner: string; leaseMs: number },
    now: number,
  ): Promise<ClaimedDelivery> {
    return insertTestDelivery(this.pool, accountId, webhookId, event, delivery, now);
  }

  // The delivery engine: sql/claim-due.ts, sql/complete-attempts.ts, sql/leases.ts.

  claimDue(o: ClaimOptions): Promise<ClaimedDelivery[]> {
    return claimDue(this.pool, o);
  }

  completeAndClaim(outcomes: AttemptOutcome[], claim: ClaimOptions): Promise<ClaimedDelivery[]> {
    return completeAndClaim(this.pool, outcomes, claim);
  }

  completeAttempts(outcomes: AttemptOutcome[]): Promise<void> {
    return completeAttempts(this.pool, outcomes);
  }

  renewLeases(owner: string, deliveryIds: string[], until: number): Promise<void> {
    return renewLeases(this.pool, owner, deliveryIds, until);
  }

  releaseLeases(owner: string, deliveryIds?: string[]): Promise<void> {
    return releaseLeases(this.pool, this.wake, owner, deliveryIds);
  }

  nextDueAt(now: number, after?: number): Promise<number | null> {
    return nextDueAt(this.pool, now, after);
  }

  countPending(): Promise<number> {
    return countPending(this.pool);
  }

  // Health and operational events: sql/webhook-health.ts (and functions/webhook-health.sql).

  listWebhookNotices(limit: number): Promise<WebhookNotice[]> {
    return listWebhookNotices(this.pool, limit);
  }

  publishWebhookNotices(events: NoticeEvent[], now: number): Promise<number> {
    return publishWebhookNotices(this.pool, this.wake, events, now);
  }

  disableFailingWebhooks(failingSince: number, now: number): Promise<number> {
    return disableFailingWebhooks(this.pool, failingSince, now);
  }

  recordCertificates(seen: CertificateSeen[], now: number): Promise<number> {
    return recordCertificates(this.pool, seen, now);
  }

  warnExpiringCertificates(now: number): Promise<number> {
    return warnExpiringCertificates(this.pool, now);
  }

  countWebhookHealth(): Promise<WebhookHealthCounts> {
    return countWebhookHealth(this.pool);
  }

  // Retention: sql/retention.ts.

  purgeFinished(before: number, limit: number): Promise<PurgeCounts> {
    return purgeFinished(this.pool, before, limit);
  }

  // Stats: sql/webhook-stats.ts.

  webhookStats(accountId: string, webhookId: string, q: StatsQuery): Promise<WebhookStats> {
    return webhookStats(this.pool, accountId, webhookId, q);
  }
}
