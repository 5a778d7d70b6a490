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
 * One file per SQL operation lives in `sql/`; the short ones are inline below.
 */
import type pg from 'pg';
import type { FusedCompleteClaim, SettingsAdvice, WorkNotifier } from '../capabilities.js';
import type {
  AccountRow,
  ApiKeyRow,
  AttemptOutcome,
  ClaimedDelivery,
  ClaimOptions,
  DeliveryDetail,
  DeliveryFilter,
  DeliveryRow,
  EventDetail,
  EventFilter,
  EventRow,
  InsertEventResult,
  NewEvent,
  Page,
  PageQuery,
  SecretRotation,
  StatsQuery,
  Store,
  WebhookPatch,
  WebhookRow,
  WebhookStats,
} from '../types.js';
import { pageOf, webhookPatchColumns } from '../types.js';
import { migrate } from './migrate.js';
import { PgWorkNotifier, sendWakeUp, type WakeUp, WORK_CHANNEL } from './notifier.js';
import {
  checkSchemaName,
  createPool,
  type PostgresOptions,
  type Queryable,
  query,
  transaction,
} from './pool.js';
import {
  accountRow,
  apiKeyRow,
  attemptRow,
  claimedRow,
  claimedSelect,
  deliveryRow,
  eventRow,
  type Raw,
  webhookRow,
  webhookSelect,
} from './rows.js';
import { claimDue, completeAndClaim } from './sql/claim-due.js';
import { completeAttempts } from './sql/complete-attempts.js';
import { insertEvents } from './sql/insert-events.js';
import { webhookStats } from './sql/webhook-stats.js';

export { isUnavailableError, StoreUnavailableError } from './errors.js';
export { loadMigrations } from './migrations.js';
export type { PostgresOptions } from './pool.js';

export type PostgresStore = Store & WorkNotifier & FusedCompleteClaim & SettingsAdvice;

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

  constructor(options: PostgresOptions) {
    this.schema = checkSchemaName(options.schema ?? 'public');
    this.keyWaitMs = options.idempotencyWaitMs ?? 5_000;
    this.wake = { channel: WORK_CHANNEL, payload: this.schema };
    this.pool = createPool(options);
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

  /** Sent at commit of the caller's transaction; nothing is sent when it rolls back. */
  private notify = (client: Queryable): Promise<void> => sendWakeUp(client, this.wake);

  // Accounts and API keys.

  async createAccount(a: AccountRow): Promise<void> {
    await query(this.pool, 'insert into accounts (id, name, created_at) values ($1, $2, $3)', [
      a.id,
      a.name,
      a.createdAt,
    ]);
  }

  async getAccount(id: string): Promise<AccountRow | undefined> {
    const { rows } = await query(this.pool, 'select * from accounts where id = $1', [id]);
    return rows[0] && accountRow(rows[0]);
  }

  async createApiKey(k: ApiKeyRow): Promise<void> {
    await query(
      this.pool,
      `insert into api_keys (id, account_id, key_hash, prefix, created_at)
       values ($1, $2, $3, $4, $5)`,
      [k.id, k.accountId, k.keyHash, k.prefix, k.createdAt],
    );
  }

  async findApiKeyByHash(keyHash: string): Promise<ApiKeyRow | undefined> {
    const { rows } = await query(this.pool, 'select * from api_keys where key_hash = $1', [
      keyHash,
    ]);
    return rows[0] && apiKeyRow(rows[0]);
  }

  // Webhooks.

  async createWebhook(w: WebhookRow, maxPerAccount?: number): Promise<boolean> {
    return transaction(this.pool, async (client) => {
      if (maxPerAccount !== undefined) {
        // Creates of one account queue on its row (`no key update` leaves other readers and
        // writers of the account alone), so two creates cannot both see room for one more.
        await client.query('select 1 from accounts where id = $1 for no key update', [w.accountId]);
        const { rows } = await client.query<{ n: string }>(
          'select count(*) as n from webhooks where account_id = $1 and deleted_at is null',
          [w.accountId],
        );
        if (Number(rows[0]!.n) >= maxPerAccount) return false;
      }
      await client.query(
        `insert into webhooks (id, account_id, name, url, events, active, disabled_reason,
         description, headers_enc, header_names, metadata, secret_enc, previous_secret_enc,
         previous_secret_expires_at, created_at, updated_at)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
        [
          w.id,
          w.accountId,
          w.name,
          w.url,
          w.events,
          w.active,
          w.disabledReason,
          w.description,
          w.headersEnc,
          w.headerNames,
          JSON.stringify(w.metadata),
          w.secretEnc,
          w.previousSecretEnc,
          w.previousSecretExpiresAt,
          w.createdAt,
          w.updatedAt,
        ],
      );
      return true;
    });
  }

  async getWebhook(accountId: string, id: string): Promise<WebhookRow | undefined> {
    const { rows } = await query(this.pool, webhookSelect('w.account_id = $1 and w.id = $2'), [
      accountId,
      id,
    ]);
    return rows[0] && webhookRow(rows[0]);
  }

  async listWebhooks(accountId: string, page: PageQuery): Promise<Page<WebhookRow>> {
    const { rows } = await query(
      this.pool,
      `${webhookSelect('w.account_id = $1 and ($2::text is null or w.id < $2)')}
       order by w.id desc limit $3`,
      [accountId, page.cursor ?? null, page.limit + 1],
    );
    return pageOf(rows.map(webhookRow), page.limit);
  }

  async updateWebhook(
    accountId: string,
    id: string,
    patch: WebhookPatch,
    now: number,
  ): Promise<WebhookRow | undefined> {
    const sets = ['updated_at = $3'];
    const values: unknown[] = [accountId, id, now];
    for (const [field, column] of Object.entries(webhookPatchColumns)) {
      const value = patch[field as keyof WebhookPatch];
      if (value === undefined) continue;
      values.push(field === 'metadata' ? JSON.stringify(value) : value);
      sets.push(`${column} = $${values.length}`);
    }
    const { rowCount } = await query(
      this.pool,
      `update webhooks set ${sets.join(', ')}
       where account_id = $1 and id = $2 and deleted_at is null`,
      values,
    );
    return rowCount ? this.getWebhook(accountId, id) : undefined;
  }

  async rotateSecret(
    accountId: string,
    id: string,
    r: SecretRotation,
    now: number,
  ): Promise<WebhookRow | undefined> {
    const { rowCount } = await query(
      this.pool,
      `update webhooks set secret_enc = $3, previous_secret_enc = $4,
         previous_secret_expires_at = $5, updated_at = $6
       where account_id = $1 and id = $2 and deleted_at is null`,
      [accountId, id, r.secretEnc, r.previousSecretEnc, r.previousSecretExpiresAt, now],
    );
    return rowCount ? this.getWebhook(accountId, id) : undefined;
  }

  async deleteWebhook(accountId: string, id: string, now: number): Promise<boolean> {
    // Webhook row first, deliveries second: the lock order of completeAttempts.
    return transaction(this.pool, async (client) => {
      const { rowCount } = await client.query(
        `update webhooks set deleted_at = $3, active = false, updated_at = $3
         where account_id = $1 and id = $2 and deleted_at is null`,
        [accountId, id, now],
      );
      if (!rowCount) return false;
      await client.query(
        `update deliveries set status = 'failed', next_attempt_at = null,
           last_error = 'endpoint_disabled', updated_at = $2
         where webhook_id = $1 and status = 'pending'`,
        [id, now],
      );
      return true;
    });
  }

  // Events and fan-out.

  insertEvents(accountId: string, events: NewEvent[], now: number): Promise<InsertEventResult[]> {
    return insertEvents(this.pool, accountId, events, now, this.wake, this.keyWaitMs);
  }

  async getEvent(accountId: string, id: string): Promise<EventDetail | undefined> {
    const { rows } = await query(
      this.pool,
      `select e.*, array(select d.id from deliveries d where d.event_id = e.id order by d.id)
         as delivery_ids
       from events e where e.account_id = $1 and e.id = $2`,
      [accountId, id],
    );
    const r = rows[0];
    return r && { ...eventRow(r), deliveryIds: r.delivery_ids };
  }

  async listEvents(
    accountId: string,
    filter: EventFilter,
    page: PageQuery,
  ): Promise<Page<EventRow>> {
    const { rows } = await query(
      this.pool,
      `select * from events
       where account_id = $1 and ($2::text is null or id < $2)
         and ($3::text is null or event = $3)
         and ($4::bigint is null or timestamp >= $4)
         and ($5::bigint is null or timestamp <= $5)
       order by id desc limit $6`,
      [
        accountId,
        page.cursor ?? null,
        filter.event ?? null,
        filter.since ?? null,
        filter.until ?? null,
        page.limit + 1,
      ],
    );
    return pageOf(rows.map(eventRow), page.limit);
  }

  async purgeIdempotencyKeys(before: number): Promise<number> {
    const { rowCount } = await query(
      this.pool,
      'delete from idempotency_keys where created_at < $1',
      [before],
    );
    return rowCount ?? 0;
  }

  // Delivery log.

  async getDelivery(accountId: string, id: string): Promise<DeliveryDetail | undefined> {
    const { rows } = await query(
      this.pool,
      'select * from deliveries where account_id = $1 and id = $2',
      [accountId, id],
    );
    if (!rows[0]) return undefined;
    const attempts = await query(
      this.pool,
      'select * from attempts where delivery_id = $1 order by number, started_at, id',
      [id],
    );
    return { ...deliveryRow(rows[0]), attempts: attempts.rows.map(attemptRow) };
  }

  async listDeliveries(
    accountId: string,
    filter: DeliveryFilter,
    page: PageQuery,
  ): Promise<Page<DeliveryRow>> {
    const { rows } = await query(
      this.pool,
      `select * from deliveries
       where account_id = $1 and ($2::text is null or id < $2)
         and ($3::text is null or event = $3)
         and ($4::bigint is null or created_at >= $4)
         and ($5::bigint is null or created_at <= $5)
         and ($6::text is null or webhook_id = $6)
         and ($7::text is null or event_id = $7)
         and ($8::text is null or status = $8)
       order by id desc limit $9`,
      [
        accountId,
        page.cursor ?? null,
        filter.event ?? null,
        filter.since ?? null,
        filter.until ?? null,
        filter.webhookId ?? null,
        filter.eventId ?? null,
        filter.status ?? null,
        page.limit + 1,
      ],
    );
    return pageOf(rows.map(deliveryRow), page.limit);
  }

  async requestAttempt(
    accountId: string,
    id: string,
    trigger: 'manual',
    now: number,
  ): Promise<DeliveryRow | 'in_flight' | undefined> {
    return transaction(this.pool, async (client) => {
      const { rows } = await client.query<Raw>(
        'select * from deliveries where account_id = $1 and id = $2 for update',
        [accountId, id],
      );
      const d = rows[0];
      if (!d) return undefined;
      if (d.lease_owner !== null && d.lease_until > now) return 'in_flight';
      // A second request before the first attempt ran keeps the state to return to.
      const { rows: updated } = await client.query<Raw>(
        `update deliveries set
           status_before = case when trigger = 'scheduled' then status else status_before end,
           resume_at = case when trigger = 'scheduled'
             then (case when status = 'pending' then next_attempt_at end) else resume_at end,
           trigger = case when trigger = 'scheduled' then $3 else trigger end,
           status = 'pending', next_attempt_at = $2, updated_at = $2,
           lease_owner = null, lease_until = null
         where id = $1 returning *`,
        [id, now, trigger],
      );
      await this.notify(client);
      return deliveryRow(updated[0]!);
    });
  }

  async recoverDeliveries(
    accountId: string,
    webhookId: string,
    since: number,
    until: number,
    now: number,
  ): Promise<number> {
    return transaction(this.pool, async (client) => {
      const { rowCount } = await client.query(
        `update deliveries set status_before = 'failed', resume_at = null, status = 'pending',
           next_attempt_at = $5, trigger = 'recover', updated_at = $5
         where account_id = $1 and webhook_id = $2 and status = 'failed'
           and created_at >= $3 and created_at <= $4`,
        [accountId, webhookId, since, until, now],
      );
      if (rowCount) await this.notify(client);
      return rowCount ?? 0;
    });
  }

  async insertTestDelivery(
    accountId: string,
    webhookId: string,
    event: NewEvent,
    delivery: { id: string; owner: string; leaseMs: number },
    now: number,
  ): Promise<ClaimedDelivery> {
    return transaction(this.pool, async (client) => {
      const hook = await client.query(
        'select 1 from webhooks where account_id = $1 and id = $2 and deleted_at is null',
        [accountId, webhookId],
      );
      if (!hook.rowCount) {
        throw new Error(`insertTestDelivery: no webhook ${webhookId} in the account`);
      }
      await client.query(
        `insert into events (id, account_id, event, timestamp, body, deliveries)
         values ($1, $2, $3, $4, $5, 1)`,
        [event.id, accountId, event.event, event.timestamp, event.body],
      );
      const { rows } = await client.query(
        `with c as (
           insert into deliveries (id, account_id, event_id, event, webhook_id, status,
             next_attempt_at, created_at, updated_at, lease_owner, lease_until, trigger)
           values ($1, $2, $3, $4, $5, 'pending', $6, $6, $6, $7, $6::bigint + $8::bigint, 'test')
           returning *
         ) ${claimedSelect}`,
        [
          delivery.id,
          accountId,
          event.id,
          event.event,
          webhookId,
          now,
          delivery.owner,
          delivery.leaseMs,
        ],
      );
      return claimedRow(rows[0]!);
    });
  }

  // The delivery engine.

  claimDue(options: ClaimOptions): Promise<ClaimedDelivery[]> {
    return claimDue(this.pool, options);
  }

  completeAndClaim(outcomes: AttemptOutcome[], claim: ClaimOptions): Promise<ClaimedDelivery[]> {
    return completeAndClaim(this.pool, outcomes, claim);
  }

  completeAttempts(outcomes: AttemptOutcome[]): Promise<void> {
    return completeAttempts(this.pool, outcomes);
  }

  async renewLeases(owner: string, deliveryIds: string[], until: number): Promise<void> {
    if (deliveryIds.length === 0) return;
    await query(
      this.pool,
      `update deliveries set lease_until = $3
       where lease_owner = $1 and id = any($2::text[])`,
      [owner, deliveryIds, until],
    );
  }

  async releaseLeases(owner: string, deliveryIds?: string[]): Promise<void> {
    await transaction(this.pool, async (client) => {
      const { rowCount } = await client.query(
        `update deliveries set lease_owner = null, lease_until = null
         where lease_owner = $1 and ($2::text[] is null or id = any($2::text[]))`,
        [owner, deliveryIds ?? null],
      );
      if (rowCount) await this.notify(client);
    });
  }

  async nextDueAt(now: number, after?: number): Promise<number | null> {
    const { rows } = await query(
      this.pool,
      `select min(next_attempt_at) as at from deliveries
       where status = 'pending' and (lease_until is null or lease_until <= $1)
         and ($2::bigint is null or next_attempt_at > $2)`,
      [now, after ?? null],
    );
    return rows[0]?.at ?? null;
  }

  async countPending(): Promise<number> {
    const { rows } = await query(
      this.pool,
      `select count(*) as n from deliveries where status = 'pending'`,
    );
    return rows[0]!.n;
  }

  async sampleWebhookSecrets(limit: number): Promise<{ id: string; secretEnc: string }[]> {
    const { rows } = await query(
      this.pool,
      `select id, secret_enc from webhooks where deleted_at is null order by id desc limit $1`,
      [limit],
    );
    return rows.map((r) => ({ id: r.id as string, secretEnc: r.secret_enc as string }));
  }

  // Stats.

  webhookStats(accountId: string, webhookId: string, q: StatsQuery): Promise<WebhookStats> {
    return webhookStats(this.pool, accountId, webhookId, q);
  }
}
