/**
 * The store: every byte of state the service keeps, behind one interface so that SQLite
 * (`sqlite/`) and PostgreSQL (`postgres/`) are interchangeable and pass one contract suite
 * (`test/store-contract.ts`). The interface and its row types stay in this one file, past 400
 * lines, so the whole contract both stores keep reads in one place.
 *
 * Terms (see ARCHITECTURE.md):
 * - account: a tenant. Every other row belongs to exactly one account, and every method that
 *   reads or changes account data takes `accountId` and never crosses it.
 * - webhook (endpoint): where an account wants events sent, which events, and the secret.
 * - event: one thing that happened, accepted by `POST /v1/events`; its envelope is serialized
 *   once (`body`) and never changes.
 * - delivery: one event × one webhook; `pending` until `succeeded` or `failed`.
 * - attempt: one HTTP request of a delivery, with its outcome.
 *
 * Rules that every implementation keeps:
 * - Times are epoch milliseconds in and out, always passed in by the caller (the injected
 *   clock); a store never reads the wall clock.
 * - Secrets and custom header values arrive already encrypted (`*Enc` fields): the store never
 *   sees plaintext and never holds the encryption key.
 * - The store decides nothing about retries: the delivery engine computes the next state and
 *   the store persists it (`completeAttempts`).
 * - Lists are newest first, by id (ULIDs sort by creation time); `cursor` is the last id of the
 *   previous page, and `nextCursor` is null on the last page.
 */

import { BUILT_IN } from '../config.js';
import { newId } from '../ids.js';

export type DeliveryStatus = 'pending' | 'succeeded' | 'failed';
export type AttemptTrigger = 'scheduled' | 'manual' | 'recover' | 'test';
export type AttemptError =
  | 'timeout'
  | 'connection_refused'
  | 'dns_error'
  | 'tls_error'
  | 'redirect'
  | 'response_status'
  | 'blocked_address'
  | 'endpoint_disabled'
  | 'connection_error'
  /** The attempt could not be built: a secret that does not decrypt, a header the client refuses. */
  | 'configuration_error';
/** Why a webhook is inactive: 410 Gone, failing past `AF_AUTO_DISABLE_AFTER`, or a user. */
export type DisabledReason = 'gone' | 'failing' | 'manual';
/** How `AttemptRow.responseBody` holds the bytes received. */
export type BodyEncoding = 'utf8' | 'base64';

/**
 * How long an `Idempotency-Key` answers with its first event (SPEC §5): older keys are free
 * again. Set in `config.ts` with the other built-in values.
 */
export const IDEMPOTENCY_KEY_TTL_MS = BUILT_IN.idempotencyTtlMs;

export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}

/**
 * A page from `limit + 1` rows read newest first: the extra row only says there is a next page,
 * whose cursor is the last id shown. Both stores page this way.
 */
export function pageOf<T extends { id: string }>(rows: T[], limit: number): Page<T> {
  const data = rows.slice(0, limit);
  return { data, nextCursor: rows.length > limit ? data[data.length - 1]!.id : null };
}

export interface PageQuery {
  /** 1–250, validated by the API. */
  limit: number;
  cursor?: string | undefined;
}

export interface AccountRow {
  id: string;
  name: string;
  createdAt: number;
}

/**
 * What an API key may do (SPEC §5): `full` everything of its account, `read` every `GET` but the
 * secret reveals, `events:write` posting events only. Each route declares the one it needs
 * (`api/scopes.ts`).
 */
export type ApiKeyScope = 'full' | 'read' | 'events:write';
export const API_KEY_SCOPES: readonly ApiKeyScope[] = ['full', 'read', 'events:write'];

export interface ApiKeyRow {
  id: string;
  accountId: string;
  /** SHA-256 hex of the whole key; the key itself is never stored. */
  keyHash: string;
  /** The first characters of the key, for people to recognise it (`afk_ab12…`). */
  prefix: string;
  /** A label people give the key (`ci`, `production ingest`). */
  name: string;
  /** At least one; `full` for the keys made before scopes existed. */
  scopes: ApiKeyScope[];
  createdAt: number;
  /** Refused from this time on; null: never expires. */
  expiresAt: number | null;
  /** Written at most once a minute per key (`Store.markApiKeyUsed`), so it lags by up to that. */
  lastUsedAt: number | null;
  /** Set by `revokeApiKey`: the key is refused and no longer listed. */
  revokedAt: number | null;
}

/**
 * One configuration change of an account (`GET /v1/audit-log`): what was done (`action`, e.g.
 * `webhook.updated`), by which key (null: the admin key), to what, and what changed. `changes`
 * never holds a secret value: the API builds it from names and non-secret fields only.
 */
export interface AuditEntryRow {
  id: string;
  accountId: string;
  action: string;
  actorKeyId: string | null;
  targetId: string | null;
  changes: Record<string, unknown>;
  createdAt: number;
}

export interface AuditFilter {
  action?: string | undefined;
  targetId?: string | undefined;
  since?: number | undefined;
  until?: number | undefined;
}

export interface WebhookRow {
  id: string;
  accountId: string;
  name: string;
  url: string;
  /** Event names, `agent.*`-style wildcards or `*`. */
  events: string[];
  active: boolean;
  disabledReason: DisabledReason | null;
  description: string | null;
  /** Encrypted JSON object of custom header name → value; null when there are none. */
  headersEnc: string | null;
  /** Header names only, so answers can list them masked without decrypting. */
  headerNames: string[];
  metadata: Record<string, string>;
  secretEnc: string;
  /** The secret before the last rotation, still signing until `previousSecretExpiresAt`. */
  previousSecretEnc: string | null;
  previousSecretExpiresAt: number | null;
  createdAt: number;
  updatedAt: number;
  lastDeliveryAt: number | null;
  lastDeliveryStatus: DeliveryStatus | null;
  /** Kept by the completions (`completeAttempts`); a new webhook's is `NEW_HEALTH`. */
  health: WebhookHealth;
}

/**
 * What the completions learned of a webhook's endpoint (SPEC §5 `health`). Counted from its
 * attempts but the test action's and those failed as `endpoint_disabled` (they say nothing of
 * the endpoint). A delivery *exhausted* is one the schedule failed: no attempt left.
 *
 * - `failingSince`: the start of the first failed attempt after the last success; null once an
 *   attempt succeeds.
 * - `consecutiveFailures`: deliveries exhausted since the last success. Above 0 the webhook is
 *   `failing` (SPEC's state); it is what `webhook.failing` reports and auto-disable needs.
 * - `certificateExpiresAt`: `notAfter` of the certificate its HTTPS endpoint last presented on a
 *   new connection.
 *
 * Enabling a webhook again (`updateWebhook` with `active: true` on an inactive one) clears
 * `failingSince` and `consecutiveFailures`.
 */
export interface WebhookHealth {
  failingSince: number | null;
  consecutiveFailures: number;
  lastSuccessAt: number | null;
  lastFailureAt: number | null;
  certificateExpiresAt: number | null;
}

/**
 * The tables whose rows name their account (`account_id`), children before parents: what
 * `purgeAccount` deletes after the account's attempts (which it finds by their deliveries) and
 * before the account's own row. A table given an `account_id` belongs here.
 */
export const ACCOUNT_TABLES = [
  'deliveries',
  'events',
  'idempotency_keys',
  'api_keys',
  'audit_log',
  'webhook_notices',
  'webhooks',
] as const;

export const NEW_HEALTH: Readonly<WebhookHealth> = {
  failingSince: null,
  consecutiveFailures: 0,
  lastSuccessAt: null,
  lastFailureAt: null,
  certificateExpiresAt: null,
};

/**
 * A new webhook's row, every field not given at its plain default (active, all events, no
 * headers, no rotation, never delivered, healthy): the warm-up's webhooks, and tests'.
 */
export function newWebhookRow(
  over: Partial<WebhookRow> & Pick<WebhookRow, 'accountId' | 'url' | 'secretEnc' | 'createdAt'>,
): WebhookRow {
  return {
    id: newId('wh'),
    name: 'h',
    events: ['*'],
    active: true,
    disabledReason: null,
    description: null,
    headersEnc: null,
    headerNames: [],
    metadata: {},
    previousSecretEnc: null,
    previousSecretExpiresAt: null,
    updatedAt: over.createdAt,
    lastDeliveryAt: null,
    lastDeliveryStatus: null,
    health: { ...NEW_HEALTH },
    ...over,
  };
}

/** What an operational event (SPEC §2) is about: `webhook.<kind>`. */
export type WebhookNoticeKind = 'failing' | 'disabled' | 'recovered' | 'certificate_expiring';

/**
 * A change of a webhook's health that its account must be told of, written in the transaction
 * that made it (a completion, an auto-disable, a user's disable): `operations/notices.ts` turns
 * it into an operational event and `publishWebhookNotices` delivers that and deletes it, so each
 * is told once. The fields beyond `at` are those of its kind's event.
 */
export interface WebhookNotice {
  /** Increasing: notices are published in the order they were written. */
  id: number;
  accountId: string;
  webhookId: string;
  url: string;
  kind: WebhookNoticeKind;
  /** When it happened: the failing attempt's batch, the recovering attempt's start, the disable. */
  at: number;
  failingSince: number | null;
  failedDeliveries: number | null;
  lastError: string | null;
  reason: DisabledReason | null;
  host: string | null;
  expiresAt: number | null;
  daysLeft: number | null;
}

/** The certificate a webhook's endpoint presented on a new TLS connection (`CertificateWatch`). */
export interface CertificateSeen {
  webhookId: string;
  accountId: string;
  /** Its `notAfter`, epoch ms. */
  expiresAt: number;
}

/**
 * Days before a certificate's `notAfter` when `webhook.certificate_expiring` is sent, once each
 * (SPEC §2), largest first.
 */
export const CERTIFICATE_WARNING_DAYS = [14, 7, 1] as const;

/** `Store.countWebhookHealth`. */
export interface WebhookHealthCounts {
  failing: number;
  disabled: Record<DisabledReason, number>;
}

/** Rows one batch of retention deleted (`Store.purgeFinished`). */
export interface PurgeCounts {
  events: number;
  deliveries: number;
  attempts: number;
  webhooks: number;
}

/** A notice's operational event, ready to store. */
export interface NoticeEvent {
  noticeId: number;
  accountId: string;
  /** The webhook the event is about: it never receives it. */
  webhookId: string;
  event: NewEvent;
}

/**
 * A `listen` session: a webhook of its own kind (`webhooks.listen`), whose deliveries only the
 * api process holding the session's connection claims and sends over it (`listen/hub.ts`); no
 * worker claims them and the service never connects to `forwardTo` (the CLI does). Named per
 * account: `listen` started again with the same name is the same session, and receives what
 * waited for it. Its secret is the account's listen secret. Ids `lsn_…`. Not a webhook of the
 * webhooks API (never listed, read, changed or counted there); its deliveries are in the log.
 */
export interface ListenSessionRow {
  id: string;
  accountId: string;
  name: string;
  /** The CLI's local URL, shown; the service never calls it. */
  forwardTo: string;
  /** Event names, wildcards or `*`, as a webhook's. */
  events: string[];
  /** A connection holds it now: set, and seen within `BUILT_IN.listenStaleMs` of `now`. */
  connected: boolean;
  /** When the current, or the last, connection opened. */
  connectedAt: number | null;
  /** When a connection last marked it seen (its heartbeat, or its close). */
  seenAt: number | null;
  createdAt: number;
  lastDeliveryAt: number | null;
  lastDeliveryStatus: DeliveryStatus | null;
}

/**
 * `ListenSessionRow.connected` from a session's holder and when it was last seen: both stores
 * read it this way, from the `now` their caller passed.
 */
export function listenConnected(
  connection: string | null,
  seenAt: number | null,
  now: number,
): boolean {
  return connection !== null && seenAt !== null && seenAt > now - BUILT_IN.listenStaleMs;
}

/** `Store.openListenSession`: a connection opens (or takes over) a session. */
export interface OpenListenSession {
  /** The id when the session is new (`lsn_…`); an existing session keeps its own. */
  id: string;
  accountId: string;
  name: string;
  forwardTo: string;
  events: string[];
  /** The account's listen secret, encrypted: deliveries to the session are signed with it. */
  secretEnc: string;
  /** The connection's id: the session's holder from now on. */
  connection: string;
  now: number;
}

/**
 * The tables that hold encrypted values and their columns, for the encryption key rotation
 * (`rotate-encryption-key`, `security/key-rotation.ts`). A `webhooks` row is a webhook or a
 * listen session (`lsn_…`, whose secret is its account's listen secret).
 */
export const encryptedColumns = {
  webhooks: ['secret_enc', 'previous_secret_enc', 'headers_enc'],
  accounts: ['listen_secret_enc'],
} as const;
export type EncryptedTable = keyof typeof encryptedColumns;
export type EncryptedColumn = (typeof encryptedColumns)[EncryptedTable][number];

/** One row's encrypted values (`Store.listEncryptedValues`); a column that is null is left out. */
export interface EncryptedRow {
  table: EncryptedTable;
  id: string;
  accountId: string;
  values: { column: EncryptedColumn; blob: string }[];
}

/** One re-encrypted value (`Store.replaceEncryptedValues`): written only while it is still `from`. */
export interface EncryptedChange {
  table: EncryptedTable;
  id: string;
  column: EncryptedColumn;
  from: string;
  to: string;
}

/** A webhook's new secret, and the one it replaces while it still signs (rotation). */
export interface SecretRotation {
  secretEnc: string;
  previousSecretEnc: string | null;
  previousSecretExpiresAt: number | null;
}

/** Fields `PATCH /v1/webhooks/{id}` may change; absent means unchanged. */
export type WebhookPatch = Partial<
  Pick<
    WebhookRow,
    | 'name'
    | 'url'
    | 'events'
    | 'active'
    | 'disabledReason'
    | 'description'
    | 'headersEnc'
    | 'headerNames'
    | 'metadata'
  >
>;

/** The column of each patchable webhook field, for the stores' `updateWebhook`. */
export const webhookPatchColumns: Readonly<Record<keyof WebhookPatch, string>> = {
  name: 'name',
  url: 'url',
  events: 'events',
  active: 'active',
  disabledReason: 'disabled_reason',
  description: 'description',
  headersEnc: 'headers_enc',
  headerNames: 'header_names',
  metadata: 'metadata',
};

export interface EventRow {
  id: string;
  accountId: string;
  /** The event type, e.g. `agent.created`. */
  event: string;
  /** Epoch ms when the event was accepted (the envelope's `timestamp`). */
  timestamp: number;
  /** The serialized envelope `{id, event, timestamp, data}`: the exact bytes every delivery sends. */
  body: string;
  /** How many deliveries fan-out created. */
  deliveries: number;
}

export interface EventDetail extends EventRow {
  deliveryIds: string[];
}

export interface NewEvent {
  id: string;
  event: string;
  timestamp: number;
  body: string;
  /** Present when the request carried an `Idempotency-Key` (single) or `idempotency_key` (batch). */
  idempotencyKey?: string | undefined;
  /** Hash of the request that carried the key: the same key with another hash is a conflict. */
  requestHash?: string | undefined;
}

export type InsertEventResult =
  | { status: 'created'; event: EventRow }
  /** The key was used before with the same request: the first event, answered again. */
  | { status: 'replayed'; event: EventRow }
  /** The key was used before (within 24 h) with another request. */
  | { status: 'key_reused'; index: number }
  /** The key's first request has not committed yet (another process). */
  | { status: 'key_in_flight'; index: number };

export interface DeliveryRow {
  id: string;
  accountId: string;
  eventId: string;
  event: string;
  webhookId: string;
  status: DeliveryStatus;
  attemptCount: number;
  nextAttemptAt: number | null;
  lastStatusCode: number | null;
  lastError: string | null;
  createdAt: number;
  updatedAt: number;
  /** True while an attempt is running (a live lease). */
  inFlight: boolean;
}

export interface AttemptRow {
  id: string;
  deliveryId: string;
  /** 1 for the first attempt of the delivery, 2.. after. */
  number: number;
  startedAt: number;
  durationMs: number;
  statusCode: number | null;
  error: AttemptError | null;
  requestHeaders: Record<string, string>;
  responseHeaders: Record<string, string>;
  /**
   * The first 4 KiB of the response body: the text itself when those bytes are UTF-8 without a
   * NUL (`utf8`; a character cut by the cap is dropped), else their base64 (`base64`), so any
   * bytes a receiver sends are kept exactly and fit a text column. Null when nothing was read.
   */
  responseBody: string | null;
  responseBodyEncoding: BodyEncoding | null;
  trigger: AttemptTrigger;
  succeeded: boolean;
}

export interface DeliveryDetail extends DeliveryRow {
  /** Oldest first. */
  attempts: AttemptRow[];
}

export interface EventFilter {
  event?: string | undefined;
  since?: number | undefined;
  until?: number | undefined;
}

export interface DeliveryFilter extends EventFilter {
  webhookId?: string | undefined;
  eventId?: string | undefined;
  status?: DeliveryStatus | undefined;
}

/** One delivery taken by a worker, with everything needed to send it without another query. */
export interface ClaimedDelivery {
  id: string;
  accountId: string;
  eventId: string;
  event: string;
  /** Epoch ms the event was accepted: the retry window counts from here. */
  eventTimestamp: number;
  body: string;
  attemptCount: number;
  /** What asked for this attempt: the schedule, a manual retry, a recover, or the test action. */
  trigger: AttemptTrigger;
  /** Set for manual/recover attempts on a pending delivery: its due time before the request. */
  resumeAt: number | null;
  /** The status the delivery had before a manual/recover attempt. */
  statusBefore: DeliveryStatus;
  /** Null when the webhook was deleted after the delivery was created. */
  webhook: {
    id: string;
    url: string;
    active: boolean;
    headersEnc: string | null;
    secretEnc: string;
    previousSecretEnc: string | null;
    previousSecretExpiresAt: number | null;
  } | null;
}

export interface ClaimOptions {
  now: number;
  /** At most this many deliveries. */
  limit: number;
  /** Identifies the claiming worker; its leases can be released or renewed together. */
  owner: string;
  /** The lease lasts until `now + leaseMs`; an expired lease may be claimed again. */
  leaseMs: number;
  /**
   * At most this many live leases per webhook (unless `fairness.webhookCaps` names it). A
   * webhook is claimed by one worker at a time: none is taken from a webhook another owner
   * holds live leases on, so that worker alone decides how many of its attempts run at once
   * (`AF_ENDPOINT_CONCURRENCY`), and may hold more leases than that: the next deliveries,
   * started the moment an attempt ends.
   */
  webhookLeases: number;
  /**
   * Only deliveries of these webhooks (a refill of the webhooks a batch of outcomes came from:
   * no search of the queue for others); every webhook when absent. The other rules hold.
   */
  webhooks?: string[] | undefined;
  /**
   * Fair sharing of the claiming worker (see `delivery/fairness.ts`): other lease caps for
   * some webhooks (lower for endpoints that time out, higher for fast ones), and at most
   * `accountRoom[account]` (else `accountShare`) new leases per account in this claim. Absent:
   * only `webhookLeases` applies.
   */
  fairness?: ClaimFairness | undefined;
}

export interface ClaimFairness {
  /** Webhook id → its lease cap, instead of `webhookLeases` (lower or higher). */
  webhookCaps: Record<string, number>;
  /** Account id → how many more deliveries it may be leased now (0: none). */
  accountRoom: Record<string, number>;
  /** The room of an account absent from `accountRoom`. */
  accountShare: number;
}

/** What one attempt did and the state the engine decided for its delivery. */
export interface AttemptOutcome {
  deliveryId: string;
  accountId: string;
  webhookId: string;
  attempt: AttemptRow;
  /** `attemptCount` becomes `attempt.number`. */
  status: DeliveryStatus;
  /** Null unless `status` is pending. */
  nextAttemptAt: number | null;
  /** Set when the attempt disables the webhook (410 Gone). */
  disableWebhook?: DisabledReason | undefined;
  /**
   * The worker whose lease this attempt ran under. When set, the outcome is recorded only while
   * the delivery is still leased by this owner: a worker whose lease was taken over (it could not
   * renew in time) never overwrites the state another worker is producing. The test action, whose
   * delivery the API leased itself, leaves it unset.
   */
  owner?: string | undefined;
  now: number;
  /**
   * What Node or undici threw when the request failed (`SendResult.detail`); never stored, read by
   * the test action's diagnosis.
   */
  detail?: { code: string | undefined; message: string } | undefined;
}

export interface StatsQuery {
  since: number;
  until: number;
  bucketMs: number;
}

export interface WebhookStats {
  /** Attempts started in the window, their outcome and duration percentiles. */
  attempts: number;
  succeededAttempts: number;
  p50Ms: number | null;
  p95Ms: number | null;
  /** Deliveries created in each bucket, by current status, oldest bucket first, gaps filled. */
  buckets: { start: number; succeeded: number; failed: number; pending: number }[];
}

export interface Store {
  /** Creates or updates the schema (numbered migrations); safe to call from many processes. */
  migrate(): Promise<void>;
  /** Throws when the database cannot be reached: `/readyz`. */
  ping(): Promise<void>;
  close(): Promise<void>;

  // Accounts and API keys.
  createAccount(account: AccountRow): Promise<void>;
  getAccount(id: string): Promise<AccountRow | undefined>;
  /**
   * Deletes the account and every record of it, in one transaction: its attempts, then the rows
   * of `ACCOUNT_TABLES`, then the account. Nothing of another account is touched. Not an API
   * operation: the warm-up removes its own account with it (`warm-up.ts`).
   */
  purgeAccount(id: string): Promise<void>;
  /**
   * Ids of the accounts whose id starts with `idPrefix` and that were created before
   * `createdBefore`, at most 100: the warm-up finds the accounts of warm-ups that did not finish
   * (a process killed during one) by the prefix no API-made id has (`warm-up.ts`).
   */
  listAccountIds(idPrefix: string, createdBefore: number): Promise<string[]>;
  /**
   * Inserts the key; with `maxPerAccount`, only while the account has fewer unrevoked keys than
   * that, checked in the insert's transaction (as `createWebhook`). False when the quota refused
   * it (nothing written).
   */
  createApiKey(key: ApiKeyRow, maxPerAccount?: number): Promise<boolean>;
  /**
   * The key with this hash while its account exists, revoked or expired too: the caller decides
   * whether it is valid.
   */
  findApiKeyByHash(keyHash: string): Promise<ApiKeyRow | undefined>;
  /** The account's keys that are not revoked (expired ones too), newest first. */
  listApiKeys(accountId: string, page: PageQuery): Promise<Page<ApiKeyRow>>;
  /**
   * Revokes the account's key `id` at `now`; answers the key as it was before, or undefined when
   * the account has no such key or it was revoked already.
   */
  revokeApiKey(accountId: string, id: string, now: number): Promise<ApiKeyRow | undefined>;
  /**
   * Sets the key's `lastUsedAt` to `now` unless it is already later than `notBefore`, so many
   * processes together write it at most once per interval.
   */
  markApiKeyUsed(id: string, now: number, notBefore: number): Promise<void>;

  // The audit log (`GET /v1/audit-log`).
  appendAudit(entry: AuditEntryRow): Promise<void>;
  /** The account's entries, newest first, filtered (`since`/`until` inclusive on `createdAt`). */
  listAudit(accountId: string, filter: AuditFilter, page: PageQuery): Promise<Page<AuditEntryRow>>;

  // The account's listen secret (`GET /v1/listen/secret`): the encrypted blob, never the secret.
  /** The account's encrypted listen secret, or null when it has none yet (or no such account). */
  getListenSecret(accountId: string): Promise<string | null>;
  /**
   * Stores `enc` only when the account has no listen secret, atomically (two concurrent first
   * calls end with one secret), and answers the blob stored. Throws when the account is absent.
   */
  setListenSecretIfAbsent(accountId: string, enc: string): Promise<string>;
  /**
   * Replaces the account's listen secret, and the secret of each of its listen sessions in the
   * same transaction; false when the account is absent.
   */
  rotateListenSecret(accountId: string, enc: string): Promise<boolean>;

  // Listen sessions (see `ListenSessionRow`).
  /**
   * Creates the session `name` of the account, or updates it when it exists (forwardTo, events,
   * secret), active, held by `connection` since `now`, seen now. Atomic: two concurrent opens of
   * one name end with one session. A connection that held it before loses it (`touch` says so).
   */
  openListenSession(session: OpenListenSession): Promise<ListenSessionRow>;
  /** Marks the session seen at `now` while `connection` holds it; false when it does not. */
  touchListenSession(id: string, connection: string, now: number): Promise<boolean>;
  /** The connection closed: the session has no holder (if `connection` still held it), seen `now`. */
  closeListenSession(id: string, connection: string, now: number): Promise<void>;
  /** The account's sessions, newest first (few per account: no pages). */
  listListenSessions(accountId: string, now: number): Promise<ListenSessionRow[]>;
  /** Deletes the session as `deleteWebhook` deletes a webhook; false when absent. */
  deleteListenSession(accountId: string, id: string, now: number): Promise<boolean>;
  /**
   * Deletes (as `deleteListenSession`) every session of any account not seen since `seenBefore`
   * (disconnected, or its process died), so that nothing waits for it past the retry window.
   * Answers how many.
   */
  expireListenSessions(seenBefore: number, now: number): Promise<number>;

  // Webhooks. Listen sessions are never found, changed, deleted or counted by these.
  /**
   * Inserts the webhook; with `maxPerAccount`, only while the account has fewer webhooks than
   * that (deleted ones do not count), checked in the insert's transaction so concurrent creates
   * cannot pass it. False when the quota refused it (nothing written).
   */
  createWebhook(webhook: WebhookRow, maxPerAccount?: number): Promise<boolean>;
  getWebhook(accountId: string, id: string): Promise<WebhookRow | undefined>;
  listWebhooks(accountId: string, page: PageQuery): Promise<Page<WebhookRow>>;
  /**
   * Undefined when there is no such webhook in the account. Changing `active` is also health:
   * enabling an inactive webhook clears its `failingSince` and `consecutiveFailures`, and
   * disabling an active one writes a `disabled` notice with reason `manual` (the API's user), in
   * the same transaction. A new `url` forgets the certificate recorded for the old one.
   */
  updateWebhook(
    accountId: string,
    id: string,
    patch: WebhookPatch,
    now: number,
  ): Promise<WebhookRow | undefined>;
  /** Replaces the secret; the old one keeps signing until `previousSecretExpiresAt`. */
  rotateSecret(
    accountId: string,
    id: string,
    rotation: SecretRotation,
    now: number,
  ): Promise<WebhookRow | undefined>;
  /**
   * Deletes the webhook and fails its pending deliveries (`last_error` `endpoint_disabled`, no
   * attempt recorded); their log stays. False when absent.
   */
  deleteWebhook(accountId: string, id: string, now: number): Promise<boolean>;

  // Events and fan-out.
  /**
   * Stores events and their deliveries, one per active webhook (and listen session, its
   * deliveries marked so) whose `events` match, due now,
   * in one transaction: when it resolves, all of it is durable. All-or-nothing: a key conflict
   * on any item stores none of them and answers that item's index.
   * Without a conflict the answer has one result per input, in order; on a conflict it holds
   * exactly one element, the conflict (`key_reused` / `key_in_flight` with its `index`).
   * A key whose first use is older than `IDEMPOTENCY_KEY_TTL_MS` counts as unused.
   */
  insertEvents(accountId: string, events: NewEvent[], now: number): Promise<InsertEventResult[]>;
  getEvent(accountId: string, id: string): Promise<EventDetail | undefined>;
  listEvents(accountId: string, filter: EventFilter, page: PageQuery): Promise<Page<EventRow>>;
  /** Drops idempotency keys older than `before`. */
  purgeIdempotencyKeys(before: number): Promise<number>;

  // Delivery log.
  getDelivery(accountId: string, id: string): Promise<DeliveryDetail | undefined>;
  listDeliveries(
    accountId: string,
    filter: DeliveryFilter,
    page: PageQuery,
  ): Promise<Page<DeliveryRow>>;
  /**
   * Makes the delivery due now for one attempt with this trigger (manual retry). `in_flight`
   * while an attempt runs; undefined when there is no such delivery.
   */
  requestAttempt(
    accountId: string,
    id: string,
    trigger: 'manual',
    now: number,
  ): Promise<DeliveryRow | 'in_flight' | undefined>;
  /** Makes every failed delivery of the webhook created in [since, until] due now (trigger recover). */
  recoverDeliveries(
    accountId: string,
    webhookId: string,
    since: number,
    until: number,
    now: number,
  ): Promise<number>;
  /**
   * The test action: stores a `webhook.test` (or sample) event and one delivery to this webhook
   * only, already leased by `owner`, so no worker takes it; the caller sends it and completes it.
   * `delivery.id` is `newId('dlv', now)`: the delivery log reads a time window as a range of ids
   * too (`idBefore`), so an id is never older than its delivery's `created_at`.
   */
  insertTestDelivery(
    accountId: string,
    webhookId: string,
    event: NewEvent,
    delivery: { id: string; owner: string; leaseMs: number },
    now: number,
  ): Promise<ClaimedDelivery>;

  // The delivery engine.
  /**
   * Leases up to `limit` due deliveries (pending, `nextAttemptAt <= now`, no live lease), oldest
   * due first, never one of a listen session unless `webhooks` names it, never more live leases
   * per webhook than its cap (`fairness.webhookCaps`, else `webhookLeases`), and none of a
   * webhook another owner holds live leases on.
   */
  claimDue(options: ClaimOptions): Promise<ClaimedDelivery[]>;
  /**
   * Records attempts and the new delivery states, and releases their leases, in one transaction.
   * Also sets the webhook's `lastDeliveryAt` (the attempt's start) and `lastDeliveryStatus`
   * (`succeeded` when the attempt succeeded, else `failed`), and disables it on `disableWebhook`.
   * An outcome whose delivery no longer exists is skipped; the rest of the batch is recorded.
   */
  completeAttempts(outcomes: AttemptOutcome[]): Promise<void>;
  /** Extends live leases of `owner` (heartbeat while attempts run). */
  renewLeases(owner: string, deliveryIds: string[], until: number): Promise<void>;
  /** Releases leases without recording an attempt (shutdown): the deliveries are due again. */
  releaseLeases(owner: string, deliveryIds?: string[]): Promise<void>;
  /**
   * The earliest `nextAttemptAt` of a pending delivery without a live lease, or null. With
   * `after`, the earliest one strictly later than it: the next retry behind work that is due but
   * cannot be claimed now (an endpoint at its cap). Listen sessions' deliveries are not counted.
   */
  nextDueAt(now: number, after?: number): Promise<number | null>;
  /** Pending deliveries, for the metrics gauge. */
  countPending(): Promise<number>;
  /** The encrypted secrets of the newest `limit` webhooks: a start checks it can decrypt them. */
  sampleWebhookSecrets(
    limit: number,
  ): Promise<{ id: string; accountId: string; secretEnc: string }[]>;

  // Encryption key rotation (`security/key-rotation.ts`): every encrypted value, a page at a time.
  /** Rows of `table` holding encrypted values, by id, after `afterId` (null: from the first). */
  listEncryptedValues(
    table: EncryptedTable,
    afterId: string | null,
    limit: number,
  ): Promise<EncryptedRow[]>;
  /**
   * Writes re-encrypted values in one transaction, each only where the column still holds its
   * `from` blob (a value the API changed meanwhile is left as the API wrote it); answers how many
   * were written.
   */
  replaceEncryptedValues(changes: EncryptedChange[]): Promise<number>;
  /** How many rows hold encrypted values (deleted webhooks' rows included): the progress total. */
  countEncryptedRows(): Promise<number>;

  // Health and operational events (`operations/`).
  /** The oldest `limit` notices not published yet, oldest first. */
  listWebhookNotices(limit: number): Promise<WebhookNotice[]>;
  /**
   * For each notice still there (another process may have published it: then nothing), in one
   * transaction: deletes it and stores its event with one pending delivery, due now, for each
   * active webhook and listen session of the account that subscribes to it but the webhook it is
   * about. Answers how many deliveries it created.
   */
  publishWebhookNotices(events: NoticeEvent[], now: number): Promise<number>;
  /**
   * Disables (`failing`) every active webhook failing since `failingSince` or earlier (some
   * delivery exhausted, no success since), with a `disabled` notice for each. Answers how many.
   */
  disableFailingWebhooks(failingSince: number, now: number): Promise<number>;

  /**
   * Records each certificate as its webhook's `certificateExpiresAt` (a new certificate starts
   * its warnings again), then warns of those webhooks' certificates as
   * `warnExpiringCertificates` does. Answers how many warnings it wrote.
   */
  recordCertificates(seen: CertificateSeen[], now: number): Promise<number>;
  /**
   * For each active webhook whose certificate expires within one of `CERTIFICATE_WARNING_DAYS`
   * of `now` and was not warned of at that many days or fewer yet: a `certificate_expiring`
   * notice (`expiresAt`, whole `daysLeft`), once per threshold and certificate. Answers how many.
   */
  warnExpiringCertificates(now: number): Promise<number>;

  /** Webhooks (not listen sessions) failing, and inactive by reason: the `/metrics` gauges. */
  countWebhookHealth(): Promise<WebhookHealthCounts>;

  // Retention (`operations/retention.ts`).
  /**
   * One small batch of retention, in one short transaction: up to `limit` events accepted before
   * `before` none of whose deliveries is pending, with their deliveries and attempts; then up to
   * `limit` deleted webhooks' (and listen sessions') rows deleted before `before` that no
   * delivery names any more. Answers how many rows of each it deleted. Events are found by id,
   * oldest first: an event whose id was made before `before` (ids are made by the service's
   * clock at acceptance, monotonic, so an id's time is never before its event's `timestamp`).
   */
  purgeFinished(before: number, limit: number): Promise<PurgeCounts>;

  // Stats.
  webhookStats(accountId: string, webhookId: string, query: StatsQuery): Promise<WebhookStats>;
}
