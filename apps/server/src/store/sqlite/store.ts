import Database from 'better-sqlite3';
import {
  type AccountRow,
  type ApiKeyRow,
  type AttemptOutcome,
  type ClaimedDelivery,
  type ClaimOptions,
  type DeliveryDetail,
  type DeliveryFilter,
  type DeliveryRow,
  type EventDetail,
  type EventFilter,
  type EventRow,
  type InsertEventResult,
  type NewEvent,
  type Page,
  type PageQuery,
  pageOf,
  type SecretRotation,
  type StatsQuery,
  type Store,
  type WebhookPatch,
  type WebhookRow,
  type WebhookStats,
  webhookPatchColumns,
} from '../types.js';
import { migrations } from './migrations.js';
import {
  CLAIMED_SELECT,
  type Row,
  toAttempt,
  toClaimed,
  toDelivery,
  toEvent,
  toWebhook,
} from './rows.js';
import { SqliteClaims } from './sql/claim-due.js';
import { completeAttempts } from './sql/complete-attempts.js';
import { insertEvents } from './sql/insert-events.js';
import { webhookStats } from './sql/webhook-stats.js';

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
  private readonly claims = new SqliteClaims((sql) => this.stmt(sql));
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
    this.releaseOrphanedLeases();
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
  private stmt(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  private releaseOrphanedLeases(): void {
    const hasTable = this.db
      .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'deliveries'")
      .get();
    if (hasTable) {
      this.db
        .prepare(
          'UPDATE deliveries SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL',
        )
        .run();
    }
  }

  async migrate(): Promise<void> {
    const run = this.db.transaction(() => {
      this.db.exec(
        'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)',
      );
      const applied = new Set(
        (this.db.prepare('SELECT version FROM schema_migrations').all() as Row[]).map(
          (r) => r.version as number,
        ),
      );
      for (const m of migrations) {
        if (applied.has(m.version)) continue;
        this.db.exec(m.sql);
        this.db
          .prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)')
          .run(m.version, m.name, Date.now());
      }
    });
    // IMMEDIATE takes the write lock first, so two processes migrating at once serialize.
    run.immediate();
    this.releaseOrphanedLeases();
  }

  async ping(): Promise<void> {
    this.stmt('SELECT 1').get();
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  // Accounts and API keys.

  async createAccount(account: AccountRow): Promise<void> {
    this.stmt('INSERT INTO accounts (id, name, created_at) VALUES (?, ?, ?)').run(
      account.id,
      account.name,
      account.createdAt,
    );
  }

  async getAccount(id: string): Promise<AccountRow | undefined> {
    const r = this.stmt('SELECT id, name, created_at FROM accounts WHERE id = ?').get(id) as
      | Row
      | undefined;
    return r && { id: r.id as string, name: r.name as string, createdAt: r.created_at as number };
  }

  async createApiKey(key: ApiKeyRow): Promise<void> {
    this.stmt(
      'INSERT INTO api_keys (id, account_id, key_hash, prefix, created_at) VALUES (?, ?, ?, ?, ?)',
    ).run(key.id, key.accountId, key.keyHash, key.prefix, key.createdAt);
  }

  async findApiKeyByHash(keyHash: string): Promise<ApiKeyRow | undefined> {
    const r = this.stmt('SELECT * FROM api_keys WHERE key_hash = ?').get(keyHash) as
      | Row
      | undefined;
    return (
      r && {
        id: r.id as string,
        accountId: r.account_id as string,
        keyHash: r.key_hash as string,
        prefix: r.prefix as string,
        createdAt: r.created_at as number,
      }
    );
  }

  // Webhooks.

  async createWebhook(w: WebhookRow, maxPerAccount?: number): Promise<boolean> {
    // One thread runs every statement, so the count and the insert cannot interleave with
    // another create; the transaction keeps them one unit anyway.
    return this.db
      .transaction(() => {
        if (maxPerAccount !== undefined) {
          const { n } = this.stmt('SELECT count(*) AS n FROM webhooks WHERE account_id = ?').get(
            w.accountId,
          ) as { n: number };
          if (n >= maxPerAccount) return false;
        }
        this.insertWebhook(w);
        return true;
      })
      .immediate();
  }

  private insertWebhook(w: WebhookRow): void {
    this.stmt(
      `INSERT INTO webhooks (id, account_id, name, url, events, active, disabled_reason, description,
         headers_enc, header_names, metadata, secret_enc, previous_secret_enc,
         previous_secret_expires_at, created_at, updated_at, last_delivery_at, last_delivery_status)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      w.id,
      w.accountId,
      w.name,
      w.url,
      JSON.stringify(w.events),
      w.active ? 1 : 0,
      w.disabledReason,
      w.description,
      w.headersEnc,
      JSON.stringify(w.headerNames),
      JSON.stringify(w.metadata),
      w.secretEnc,
      w.previousSecretEnc,
      w.previousSecretExpiresAt,
      w.createdAt,
      w.updatedAt,
      w.lastDeliveryAt,
      w.lastDeliveryStatus,
    );
  }

  private webhookRow(accountId: string, id: string): WebhookRow | undefined {
    const r = this.stmt('SELECT * FROM webhooks WHERE account_id = ? AND id = ?').get(
      accountId,
      id,
    ) as Row | undefined;
    return r && toWebhook(r);
  }

  async getWebhook(accountId: string, id: string): Promise<WebhookRow | undefined> {
    return this.webhookRow(accountId, id);
  }

  async listWebhooks(accountId: string, page: PageQuery): Promise<Page<WebhookRow>> {
    const rows = (
      page.cursor
        ? this.stmt(
            'SELECT * FROM webhooks WHERE account_id = ? AND id < ? ORDER BY id DESC LIMIT ?',
          ).all(accountId, page.cursor, page.limit + 1)
        : this.stmt('SELECT * FROM webhooks WHERE account_id = ? ORDER BY id DESC LIMIT ?').all(
            accountId,
            page.limit + 1,
          )
    ) as Row[];
    return pageOf(rows.map(toWebhook), page.limit);
  }

  async updateWebhook(
    accountId: string,
    id: string,
    patch: WebhookPatch,
    now: number,
  ): Promise<WebhookRow | undefined> {
    const columns = webhookPatchColumns;
    const sets: string[] = [];
    const values: unknown[] = [];
    for (const key of Object.keys(columns) as (keyof WebhookPatch)[]) {
      const v = patch[key];
      if (v === undefined) continue;
      sets.push(`${columns[key]} = ?`);
      if (key === 'events' || key === 'headerNames' || key === 'metadata') {
        values.push(JSON.stringify(v));
      } else if (key === 'active') {
        values.push(v ? 1 : 0);
      } else {
        values.push(v);
      }
    }
    sets.push('updated_at = ?');
    values.push(now);
    const info = this.stmt(
      `UPDATE webhooks SET ${sets.join(', ')} WHERE account_id = ? AND id = ?`,
    ).run(...values, accountId, id);
    if (info.changes === 0) return undefined;
    return this.webhookRow(accountId, id);
  }

  async rotateSecret(
    accountId: string,
    id: string,
    rotation: SecretRotation,
    now: number,
  ): Promise<WebhookRow | undefined> {
    const info = this.stmt(
      `UPDATE webhooks SET secret_enc = ?, previous_secret_enc = ?, previous_secret_expires_at = ?,
         updated_at = ? WHERE account_id = ? AND id = ?`,
    ).run(
      rotation.secretEnc,
      rotation.previousSecretEnc,
      rotation.previousSecretExpiresAt,
      now,
      accountId,
      id,
    );
    if (info.changes === 0) return undefined;
    return this.webhookRow(accountId, id);
  }

  async deleteWebhook(accountId: string, id: string, now: number): Promise<boolean> {
    const tx = this.db.transaction(() => {
      const info = this.stmt('DELETE FROM webhooks WHERE account_id = ? AND id = ?').run(
        accountId,
        id,
      );
      if (info.changes === 0) return false;
      this.stmt(
        `UPDATE deliveries SET status = 'failed', next_attempt_at = NULL,
           last_error = 'endpoint_disabled', updated_at = ?
         WHERE webhook_id = ? AND status = 'pending'`,
      ).run(now, id);
      return true;
    });
    return tx.immediate();
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
      this.db
        .transaction(() => {
          for (const job of jobs) {
            try {
              settled.push({ ok: job.run() });
            } catch (err) {
              settled.push({ err });
            }
          }
        })
        .immediate();
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
    return insertEvents(this.db, (sql) => this.stmt(sql), accountId, events, now);
  }

  async getEvent(accountId: string, id: string): Promise<EventDetail | undefined> {
    const r = this.stmt('SELECT * FROM events WHERE account_id = ? AND id = ?').get(
      accountId,
      id,
    ) as Row | undefined;
    if (!r) return undefined;
    const ids = (
      this.stmt('SELECT id FROM deliveries WHERE event_id = ? ORDER BY id').all(id) as Row[]
    ).map((d) => d.id as string);
    return { ...toEvent(r), deliveryIds: ids };
  }

  async listEvents(
    accountId: string,
    filter: EventFilter,
    page: PageQuery,
  ): Promise<Page<EventRow>> {
    const where = ['account_id = ?'];
    const values: unknown[] = [accountId];
    if (filter.event !== undefined) {
      where.push('event = ?');
      values.push(filter.event);
    }
    if (filter.since !== undefined) {
      where.push('timestamp >= ?');
      values.push(filter.since);
    }
    if (filter.until !== undefined) {
      where.push('timestamp <= ?');
      values.push(filter.until);
    }
    if (page.cursor) {
      where.push('id < ?');
      values.push(page.cursor);
    }
    const rows = this.stmt(
      `SELECT * FROM events WHERE ${where.join(' AND ')} ORDER BY id DESC LIMIT ?`,
    ).all(...values, page.limit + 1) as Row[];
    return pageOf(rows.map(toEvent), page.limit);
  }

  async purgeIdempotencyKeys(before: number): Promise<number> {
    return this.stmt('DELETE FROM idempotency_keys WHERE created_at < ?').run(before).changes;
  }

  // Delivery log.

  async getDelivery(accountId: string, id: string): Promise<DeliveryDetail | undefined> {
    const r = this.stmt('SELECT * FROM deliveries WHERE account_id = ? AND id = ?').get(
      accountId,
      id,
    ) as Row | undefined;
    if (!r) return undefined;
    const attempts = (
      this.stmt('SELECT * FROM attempts WHERE delivery_id = ? ORDER BY number, started_at, id').all(
        id,
      ) as Row[]
    ).map(toAttempt);
    return { ...toDelivery(r), attempts };
  }

  async listDeliveries(
    accountId: string,
    filter: DeliveryFilter,
    page: PageQuery,
  ): Promise<Page<DeliveryRow>> {
    const where = ['account_id = ?'];
    const values: unknown[] = [accountId];
    const add = (clause: string, v: unknown) => {
      where.push(clause);
      values.push(v);
    };
    if (filter.webhookId !== undefined) add('webhook_id = ?', filter.webhookId);
    if (filter.eventId !== undefined) add('event_id = ?', filter.eventId);
    if (filter.event !== undefined) add('event = ?', filter.event);
    if (filter.status !== undefined) add('status = ?', filter.status);
    if (filter.since !== undefined) add('created_at >= ?', filter.since);
    if (filter.until !== undefined) add('created_at <= ?', filter.until);
    if (page.cursor) add('id < ?', page.cursor);
    const rows = this.stmt(
      `SELECT * FROM deliveries WHERE ${where.join(' AND ')} ORDER BY id DESC LIMIT ?`,
    ).all(...values, page.limit + 1) as Row[];
    return pageOf(rows.map(toDelivery), page.limit);
  }

  async requestAttempt(
    accountId: string,
    id: string,
    trigger: 'manual',
    now: number,
  ): Promise<DeliveryRow | 'in_flight' | undefined> {
    const tx = this.db.transaction((): DeliveryRow | 'in_flight' | undefined => {
      const r = this.stmt('SELECT * FROM deliveries WHERE account_id = ? AND id = ?').get(
        accountId,
        id,
      ) as Row | undefined;
      if (!r) return undefined;
      if (r.lease_owner != null && (r.lease_until as number) > now) return 'in_flight';
      const queued = r.status === 'pending' && r.trigger !== 'scheduled';
      if (!queued) {
        // A manual attempt already queued keeps its first statusBefore/resumeAt.
        this.stmt(
          `UPDATE deliveries SET trigger = ?, status_before = status,
             resume_at = CASE WHEN status = 'pending' THEN next_attempt_at ELSE NULL END,
             status = 'pending', next_attempt_at = ?, updated_at = ?
           WHERE id = ?`,
        ).run(trigger, now, now, id);
      } else {
        this.stmt('UPDATE deliveries SET next_attempt_at = ?, updated_at = ? WHERE id = ?').run(
          now,
          now,
          id,
        );
      }
      const updated = this.stmt('SELECT * FROM deliveries WHERE id = ?').get(id) as Row;
      return toDelivery(updated);
    });
    return tx.immediate();
  }

  async recoverDeliveries(
    accountId: string,
    webhookId: string,
    since: number,
    until: number,
    now: number,
  ): Promise<number> {
    return this.stmt(
      `UPDATE deliveries SET trigger = 'recover', status_before = 'failed', resume_at = NULL,
         status = 'pending', next_attempt_at = ?, updated_at = ?
       WHERE account_id = ? AND webhook_id = ? AND status = 'failed'
         AND created_at >= ? AND created_at <= ?`,
    ).run(now, now, accountId, webhookId, since, until).changes;
  }

  async insertTestDelivery(
    accountId: string,
    webhookId: string,
    event: NewEvent,
    delivery: { id: string; owner: string; leaseMs: number },
    now: number,
  ): Promise<ClaimedDelivery> {
    const tx = this.db.transaction((): ClaimedDelivery => {
      const hook = this.webhookRow(accountId, webhookId);
      if (!hook) throw new Error(`insertTestDelivery: no webhook ${webhookId} in the account`);
      this.stmt(
        'INSERT INTO events (id, account_id, event, timestamp, body, deliveries) VALUES (?, ?, ?, ?, ?, 1)',
      ).run(event.id, accountId, event.event, event.timestamp, event.body);
      this.stmt(
        `INSERT INTO deliveries (id, account_id, event_id, event, webhook_id, status, attempt_count,
           next_attempt_at, created_at, updated_at, trigger, status_before, lease_owner, lease_until)
         VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?, 'test', 'pending', ?, ?)`,
      ).run(
        delivery.id,
        accountId,
        event.id,
        event.event,
        webhookId,
        now,
        now,
        now,
        delivery.owner,
        now + delivery.leaseMs,
      );
      return toClaimed(this.stmt(`${CLAIMED_SELECT} WHERE d.id = ?`).get(delivery.id) as Row);
    });
    return tx.immediate();
  }

  // The delivery engine.

  async claimDue(o: ClaimOptions): Promise<ClaimedDelivery[]> {
    if (o.limit <= 0) return [];
    return this.relaxed(() => this.db.transaction(() => this.claims.claim(o)).immediate());
  }

  /**
   * `completeAttempts` then `claimDue` in one transaction (one message to this thread, one
   * commit): the claim sees the leases the outcomes released. See `FusedCompleteClaim`.
   */
  async completeAndClaim(outcomes: AttemptOutcome[], o: ClaimOptions): Promise<ClaimedDelivery[]> {
    return this.relaxed(() =>
      this.db
        .transaction(() => {
          completeAttempts((sql) => this.stmt(sql), outcomes);
          return o.limit > 0 ? this.claims.claim(o) : [];
        })
        .immediate(),
    );
  }

  async completeAttempts(outcomes: AttemptOutcome[]): Promise<void> {
    if (outcomes.length === 0) return;
    this.relaxed(() =>
      this.db.transaction(() => completeAttempts((sql) => this.stmt(sql), outcomes)).immediate(),
    );
  }

  async renewLeases(owner: string, deliveryIds: string[], until: number): Promise<void> {
    if (deliveryIds.length === 0) return;
    this.stmt(
      `UPDATE deliveries SET lease_until = ?
       WHERE lease_owner = ? AND id IN (SELECT value FROM json_each(?))`,
    ).run(until, owner, JSON.stringify(deliveryIds));
  }

  async releaseLeases(owner: string, deliveryIds?: string[]): Promise<void> {
    if (deliveryIds === undefined) {
      this.stmt(
        'UPDATE deliveries SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?',
      ).run(owner);
      return;
    }
    if (deliveryIds.length === 0) return;
    this.stmt(
      `UPDATE deliveries SET lease_owner = NULL, lease_until = NULL
       WHERE lease_owner = ? AND id IN (SELECT value FROM json_each(?))`,
    ).run(owner, JSON.stringify(deliveryIds));
  }

  async nextDueAt(now: number, after?: number): Promise<number | null> {
    const r = this.stmt(
      `SELECT next_attempt_at FROM deliveries
       WHERE status = 'pending' AND next_attempt_at > ?
         AND (lease_owner IS NULL OR lease_until <= ?)
       ORDER BY next_attempt_at, id LIMIT 1`,
    ).get(after ?? Number.MIN_SAFE_INTEGER, now) as Row | undefined;
    return r ? (r.next_attempt_at as number) : null;
  }

  async countPending(): Promise<number> {
    const r = this.stmt(
      "SELECT COUNT(*) AS n FROM deliveries WHERE status = 'pending'",
    ).get() as Row;
    return r.n as number;
  }

  async sampleWebhookSecrets(limit: number): Promise<{ id: string; secretEnc: string }[]> {
    const rows = this.stmt('SELECT id, secret_enc FROM webhooks ORDER BY id DESC LIMIT ?').all(
      limit,
    ) as Row[];
    return rows.map((r) => ({ id: r.id as string, secretEnc: r.secret_enc as string }));
  }

  // Stats.

  async webhookStats(accountId: string, webhookId: string, q: StatsQuery): Promise<WebhookStats> {
    return webhookStats((sql) => this.stmt(sql), accountId, webhookId, q);
  }
}
