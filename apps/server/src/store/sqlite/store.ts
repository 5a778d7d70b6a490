import Database from 'better-sqlite3';
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
import { type Stmt, transactions } from './rows.js';
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
import { countPending, nextDueAt, SqliteClaims } from './sql/claim-due.js';
import { completeAttempts } from './sql/complete-attempts.js';
import { getDelivery, getEvent, listDeliveries, listEvents } from './sql/delivery-log.js';
import {
  countEncryptedRows,
  listEncryptedValues,
  replaceEncryptedValues,
} from './sql/encrypted-values.js';
import { insertEvents, purgeIdempotencyKeys } from './sql/insert-events.js';
import { releaseLeases, releaseOrphaned, renewLeases } from './sql/leases.js';
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
import { purgeFinished } from './sql/retention.js';
import {
  countWebhookHealth,
  disableFailingWebhooks,
  listWebhookNotices,
  publishWebhookNotices,
  recordCertificates,
  urlChange,
  userActivation,
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

/**
 * The embedded store: one SQLite file, one process (SPEC §6 default).
 *
 * Durability: WAL with `synchronous=FULL`, so a committed `insertEvents` survives a power cut
 * before the API answers 202 (`NORMAL` in WAL mode may lose the last commits on power loss, which
 * would break "durable before the 202"). Claims and completions commit with `NORMAL` (no fsync):
 * they are the engine's hot path, several per event, and losing the last of them to a power cut
 * only means a lease that expires or an attempt sent again (at-least-once). A process crash loses
 * nothing in either mode, and the next `FULL` commit syncs every WAL frame before it.
 *
 * better-sqlite3 is synchronous: this class runs in the store's worker thread (`worker.ts`), which
 * owns the connection, so a commit's fsync never blocks the service's event loop; the service
 * calls it through the proxy of `index.ts`. The methods are async only to fit the interface. Every
 * statement is prepared once and cached by its SQL text (filtered lists build one text per filter
 * combination, so the cache stays small).
 *
 * Leases: SQLite here is used by one process at a time, so every lease found when the store opens
 * was left by a process that died (SIGKILL, crash): opening releases them all, and the pending
 * deliveries are due again at once instead of waiting for their leases to expire.
 */
export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();
  private readonly claims: SqliteClaims;
  /** Transactions of the hot path (`transactions` in rows.ts says why not `db.transaction`). */
  private readonly tx: ReturnType<typeof transactions>;
  private insertQueue: {
    run: () => InsertEventResult[];
    resolve: (r: InsertEventResult[]) => void;
    reject: (err: unknown) => void;
  }[] = [];

  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('foreign_keys = ON');
    this.claims = new SqliteClaims(this.stmt);
    this.tx = transactions(this.db);
    releaseOrphaned(this.stmt);
  }

  /** Runs `fn` with `synchronous=NORMAL`: for writes that may be lost to a power cut (see above). */
  private relaxed<T>(fn: () => T): T {
    this.stmt('PRAGMA synchronous = NORMAL').run();
    try {
      return fn();
    } finally {
      this.stmt('PRAGMA synchronous = FULL').run();
    }
  }

  /** The one place statements are prepared: once per distinct SQL text. */
  private readonly stmt: Stmt = (sql) => {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  };

  async migrate(): Promise<void> {
    migrate(this.db);
    releaseOrphaned(this.stmt);
  }

  async ping(): Promise<void> {
    this.stmt('SELECT 1').get();
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  /**
   * The warm-up at start (`StoreWarmUp`): each hot statement prepared into the cache and, where
   * that changes nothing, run once with arguments no row matches, so that the first requests and
   * claims neither compile SQL nor run this thread's code for the first time. The insert of
   * events runs with no event (its statements prepared, the account's webhooks read, nothing
   * written), a claim with `now` = 0 takes nothing (no delivery is due before the epoch), a
   * completion of no outcome prepares its statements, and the reads look up ids no row has.
   */
  async warmUp(): Promise<{ connections: number }> {
    const none = 'warm_up';
    this.stmt('SELECT 1').get();
    findApiKeyByHash(this.stmt, none);
    getAccount(this.stmt, none);
    await this.insertEvents(none, [], 0);
    const nothingDue = {
      now: 0,
      limit: 1,
      owner: none,
      leaseMs: 1,
      webhookLeases: 1,
      fairness: { webhookCaps: {}, accountRoom: {}, accountShare: 1 },
    };
    await this.claimDue(nothingDue);
    await this.claimDue({ ...nothingDue, webhooks: [none] });
    await this.completeAndClaim([], nothingDue);
    nextDueAt(this.stmt, 0);
    countPending(this.stmt);
    return { connections: 1 };
  }

  // Accounts and API keys: sql/accounts.ts.

  async createAccount(a: AccountRow): Promise<void> {
    createAccount(this.stmt, a);
  }

  async getAccount(id: string): Promise<AccountRow | undefined> {
    return getAccount(this.stmt, id);
  }

  async purgeAccount(id: string): Promise<void> {
    purgeAccount(this.db, this.stmt, id);
  }

  async listAccountIds(idPrefix: string, createdBefore: number): Promise<string[]> {
    return listAccountIds(this.stmt, idPrefix, createdBefore);
  }

  async createApiKey(k: ApiKeyRow, maxPerAccount?: number): Promise<boolean> {
    return createApiKey(this.db, this.stmt, k, maxPerAccount);
  }

  async findApiKeyByHash(keyHash: string): Promise<ApiKeyRow | undefined> {
    return findApiKeyByHash(this.stmt, keyHash);
  }

  async listApiKeys(accountId: string, page: PageQuery): Promise<Page<ApiKeyRow>> {
    return listApiKeys(this.stmt, accountId, page);
  }

  async revokeApiKey(accountId: string, id: string, now: number): Promise<ApiKeyRow | undefined> {
    return revokeApiKey(this.stmt, accountId, id, now);
  }

  /** Without an fsync: a `lastUsedAt` lost to a power cut is only a little older than it was. */
  async markApiKeyUsed(id: string, now: number, notBefore: number): Promise<void> {
    this.relaxed(() => markApiKeyUsed(this.stmt, id, now, notBefore));
  }

  // The audit log: sql/audit-log.ts.

  async appendAudit(entry: AuditEntryRow): Promise<void> {
    appendAudit(this.stmt, entry);
  }

  async listAudit(
    accountId: string,
    filter: AuditFilter,
    page: PageQuery,
  ): Promise<Page<AuditEntryRow>> {
    return listAudit(this.stmt, accountId, filter, page);
  }

  // The account's listen secret: sql/listen-secret.ts.

  async getListenSecret(accountId: string): Promise<string | null> {
    return getListenSecret(this.stmt, accountId);
  }

  async setListenSecretIfAbsent(accountId: string, enc: string): Promise<string> {
    return setListenSecretIfAbsent(this.stmt, accountId, enc);
  }

  async rotateListenSecret(accountId: string, enc: string): Promise<boolean> {
    return rotateListenSecret(this.db, this.stmt, accountId, enc);
  }

  // Listen sessions: sql/listen-sessions.ts.

  async openListenSession(s: OpenListenSession): Promise<ListenSessionRow> {
    return openListenSession(this.stmt, s);
  }

  async touchListenSession(id: string, connection: string, now: number): Promise<boolean> {
    return touchListenSession(this.stmt, id, connection, now);
  }

  async closeListenSession(id: string, connection: string, now: number): Promise<void> {
    closeListenSession(this.stmt, id, connection, now);
  }

  async listListenSessions(accountId: string, now: number): Promise<ListenSessionRow[]> {
    return listListenSessions(this.stmt, accountId, now);
  }

  async deleteListenSession(accountId: string, id: string, now: number): Promise<boolean> {
    return deleteListenSession(this.db, this.stmt, accountId, id, now);
  }

  async expireListenSessions(seenBefore: number, now: number): Promise<number> {
    return expireListenSessions(this.db, this.stmt, seenBefore, now);
  }

  // Webhooks: sql/webhooks.ts.

  async createWebhook(w: WebhookRow, maxPerAccount?: number): Promise<boolean> {
    return createWebhook(this.db, this.stmt, w, maxPerAccount);
  }

  async getWebhook(accountId: string, id: string): Promise<WebhookRow | undefined> {
    return getWebhook(this.stmt, accountId, id);
  }

  async listWebhooks(accountId: string, page: PageQuery): Promise<Page<WebhookRow>> {
    return listWebhooks(this.stmt, accountId, page);
  }

  async updateWebhook(
    accountId: string,
    id: string,
    patch: WebhookPatch,
    now: number,
  ): Promise<WebhookRow | undefined> {
    return this.db
      .transaction(() => {
        if (patch.active !== undefined) userActivation(this.stmt, accountId, id, patch.active, now);
        if (patch.url !== undefined) urlChange(this.stmt, accountId, id, patch.url);
        return updateWebhook(this.stmt, accountId, id, patch, now);
      })
      .immediate();
  }

  async rotateSecret(
    accountId: string,
    id: string,
    rotation: SecretRotation,
    now: number,
  ): Promise<WebhookRow | undefined> {
    return rotateSecret(this.stmt, accountId, id, rotation, now);
  }

  async deleteWebhook(accountId: string, id: string, now: number): Promise<boolean> {
    return deleteWebhook(this.db, this.stmt, accountId, id, now);
  }

  async sampleWebhookSecrets(
    limit: number,
  ): Promise<{ id: string; accountId: string; secretEnc: string }[]> {
    return sampleWebhookSecrets(this.stmt, limit);
  }

  // Encryption key rotation: sql/encrypted-values.ts.

  async listEncryptedValues(
    table: EncryptedTable,
    afterId: string | null,
    limit: number,
  ): Promise<EncryptedRow[]> {
    return listEncryptedValues(this.stmt, table, afterId, limit);
  }

  async replaceEncryptedValues(changes: EncryptedChange[]): Promise<number> {
    return replaceEncryptedValues(this.db, this.stmt, changes);
  }

  async countEncryptedRows(): Promise<number> {
    return countEncryptedRows(this.stmt);
  }

  // Events and fan-out.

  /**
   * Group commit: inserts requested in the same turn of the event loop share one transaction
   * and so one fsync (`synchronous=FULL` costs one per commit, and under load it was the largest
   * cost per event). Each request runs in its own savepoint, so one request's conflict or error
   * leaves the others whole; every promise settles only after the shared commit. In the worker
   * thread this groups by itself under load: the requests that arrive while a commit fsyncs wait
   * in the thread's message queue, are all read in the next turn, and share the next commit.
   */
  insertEvents(accountId: string, events: NewEvent[], now: number): Promise<InsertEventResult[]> {
    return new Promise((resolve, reject) => {
      this.insertQueue.push({
        run: () => this.insertEventsNow(accountId, events, now),
        resolve,
        reject,
      });
      if (this.insertQueue.length === 1) setImmediate(() => this.commitInserts());
    });
  }

  private commitInserts(): void {
    const jobs = this.insertQueue;
    this.insertQueue = [];
    const settled: ({ ok: InsertEventResult[] } | { err: unknown })[] = [];
    try {
      this.tx.immediate(() => {
        for (const job of jobs) {
          try {
            settled.push({ ok: job.run() });
          } catch (err) {
            settled.push({ err });
          }
        }
      });
    } catch (err) {
      for (const job of jobs) job.reject(err);
      return;
    }
    jobs.forEach((job, i) => {
      const r = settled[i]!;
      if ('ok' in r) job.resolve(r.ok);
      else job.reject(r.err);
    });
  }

  /** One request's events, in its own transaction (a savepoint inside a group commit). */
  private insertEventsNow(accountId: string, events: NewEvent[], now: number): InsertEventResult[] {
    return insertEvents(this.tx.immediate, this.stmt, accountId, events, now);
  }

  async purgeIdempotencyKeys(before: number): Promise<number> {
    return purgeIdempotencyKeys(this.stmt, before);
  }

  // The delivery log: sql/delivery-log.ts.

  async getEvent(accountId: string, id: string): Promise<EventDetail | undefined> {
    return getEvent(this.stmt, accountId, id);
  }

  async listEvents(
    accountId: string,
    filter: EventFilter,
    page: PageQuery,
  ): Promise<Page<EventRow>> {
    return listEvents(this.stmt, accountId, filter, page);
  }

  async getDelivery(accountId: string, id: string): Promise<DeliveryDetail | undefined> {
    return getDelivery(this.stmt, accountId, id);
  }

  async listDeliveries(
    accountId: string,
    filter: DeliveryFilter,
    page: PageQuery,
  ): Promise<Page<DeliveryRow>> {
    return listDeliveries(this.stmt, accountId, filter, page);
  }

  // Manual retry, recover and the test action: sql/manual-deliveries.ts.

  async requestAttempt(
    accountId: string,
    id: string,
    trigger: 'manual',
    now: number,
  ): Promise<DeliveryRow | 'in_flight' | undefined> {
    return requestAttempt(this.db, this.stmt, accountId, id, trigger, now);
  }

  async recoverDeliveries(
    accountId: string,
    webhookId: string,
    since: number,
    until: number,
    now: number,
  ): Promise<number> {
    return recoverDeliveries(this.stmt, accountId, webhookId, since, until, now);
  }

  async insertTestDelivery(
    accountId: string,
    webhookId: string,
    event: NewEvent,
    delivery: { id: string; owner: string; leaseMs: number },
    now: number,
  ): Promise<ClaimedDelivery> {
    return insertTestDelivery(this.db, this.stmt, accountId, webhookId, event, delivery, now);
  }

  // The delivery engine: sql/claim-due.ts, sql/complete-attempts.ts, sql/leases.ts.

  async claimDue(o: ClaimOptions): Promise<ClaimedDelivery[]> {
    if (o.limit <= 0) return [];
    return this.relaxed(() => this.tx.immediate(() => this.claims.claim(o)));
  }

  /**
   * `completeAttempts` then `claimDue` in one transaction (one message to this thread, one
   * commit): the claim sees the leases the outcomes released. See `FusedCompleteClaim`.
   */
  async completeAndClaim(outcomes: AttemptOutcome[], o: ClaimOptions): Promise<ClaimedDelivery[]> {
    return this.relaxed(() =>
      this.tx.immediate(() => {
        completeAttempts(this.stmt, outcomes);
        return o.limit > 0 ? this.claims.claim(o) : [];
      }),
    );
  }

  async completeAttempts(outcomes: AttemptOutcome[]): Promise<void> {
    if (outcomes.length === 0) return;
    this.relaxed(() => this.tx.immediate(() => completeAttempts(this.stmt, outcomes)));
  }

  async renewLeases(owner: string, deliveryIds: string[], until: number): Promise<void> {
    renewLeases(this.stmt, owner, deliveryIds, until);
  }

  async releaseLeases(owner: string, deliveryIds?: string[]): Promise<void> {
    releaseLeases(this.stmt, owner, deliveryIds);
  }

  async nextDueAt(now: number, after?: number): Promise<number | null> {
    return nextDueAt(this.stmt, now, after);
  }

  async countPending(): Promise<number> {
    return countPending(this.stmt);
  }

  // Health and operational events: sql/webhook-health.ts.

  async listWebhookNotices(limit: number): Promise<WebhookNotice[]> {
    return listWebhookNotices(this.stmt, limit);
  }

  async publishWebhookNotices(events: NoticeEvent[], now: number): Promise<number> {
    return publishWebhookNotices(this.db, this.stmt, events, now);
  }

  async disableFailingWebhooks(failingSince: number, now: number): Promise<number> {
    return disableFailingWebhooks(this.db, this.stmt, failingSince, now);
  }

  async recordCertificates(seen: CertificateSeen[], now: number): Promise<number> {
    return recordCertificates(this.db, this.stmt, seen, now);
  }

  async warnExpiringCertificates(now: number): Promise<number> {
    return warnExpiringCertificates(this.db, this.stmt, now);
  }

  async countWebhookHealth(): Promise<WebhookHealthCounts> {
    return countWebhookHealth(this.stmt);
  }

  // Retention: sql/retention.ts.

  async purgeFinished(before: number, limit: number): Promise<PurgeCounts> {
    return this.relaxed(() => this.tx.immediate(() => purgeFinished(this.stmt, before, limit)));
  }

  // Stats: sql/webhook-stats.ts.

  async webhookStats(accountId: string, webhookId: string, q: StatsQuery): Promise<WebhookStats> {
    return webhookStats(this.stmt, accountId, webhookId, q);
  }
}
