/**
 * The embedded store as the service sees it: a `Store` whose methods forward to the SQLite
 * store's own thread (`worker.ts`), which owns the connection. better-sqlite3 is synchronous,
 * and a `synchronous=FULL` commit (an accepted event must survive a power cut before its 202)
 * blocks its thread for an fsync: on that thread, not the one parsing requests and sending
 * deliveries. See `store.ts` for the store itself.
 *
 * The thread keeps the process alive only while a call is waiting for its answer, as a socket
 * with a request in flight would. If it dies, every waiting and later call rejects with
 * `StoreUnavailableError` (the API answers 503 `unavailable`, `/readyz` 503) instead of hanging.
 */
import { Worker } from 'node:worker_threads';
import type { FusedCompleteClaim, StoreWarmUp } from '../capabilities.js';
import { StoreUnavailableError } from '../postgres/errors.js';
import type { Store } from '../types.js';
import {
  deserializeError,
  type StoreAnswer,
  type StoreCall,
  type StoreMethod,
  type StoreThreadData,
} from './protocol.js';

export interface SqliteStoreOptions {
  /** Path of the database file; its directory must exist. */
  path: string;
}

/**
 * Opens (creating if needed) the SQLite database at `options.path`, in the store's own thread.
 * One process at a time: opening releases the leases a dead process left (see `store.ts`).
 *
 * @example
 * const store = createSqliteStore({ path: '.agentfactory/webhooks.db' });
 * await store.migrate();
 */
export function createSqliteStore(
  options: SqliteStoreOptions,
): Store & FusedCompleteClaim & StoreWarmUp {
  return new SqliteThreadStore(options);
}

/**
 * From the TypeScript sources (tests, `tsx`) the thread runs `worker.ts` through tsx, which only
 * the development install has (`worker-source.mjs` registers it: Node 20 does not apply
 * `--import` from a Worker's `execArgv`); the build runs `dist/store/sqlite/worker.js`.
 */
function threadEntry(): { url: URL; execArgv?: string[] } {
  if (import.meta.url.endsWith('.ts')) {
    return {
      url: new URL('./worker-source.mjs', import.meta.url),
      execArgv: ['--conditions=agentfactory-source'],
    };
  }
  return { url: new URL('./worker.js', import.meta.url) };
}

type Waiting = { resolve: (value: unknown) => void; reject: (err: Error) => void };

/** The proxy. Exported for tests, which end its `thread` to see how the service copes. */
export class SqliteThreadStore implements Store, FusedCompleteClaim, StoreWarmUp {
  /** The thread that owns the connection. */
  readonly thread: Worker;
  private readonly waiting = new Map<number, Waiting>();
  private lastId = 0;
  /** Set once the thread is gone: every call rejects with it. */
  private failure: Error | undefined;
  private closing: Promise<void> | undefined;

  constructor(options: SqliteStoreOptions) {
    const entry = threadEntry();
    this.thread = new Worker(entry.url, {
      workerData: { path: options.path } satisfies StoreThreadData,
      ...(entry.execArgv ? { execArgv: entry.execArgv } : {}),
    });
    this.thread.unref();
    this.thread.on('message', (answer: StoreAnswer) => this.settle(answer));
    this.thread.on('error', (err) => {
      this.fail(new StoreUnavailableError(new Error(`the SQLite thread failed: ${err.message}`)));
    });
    this.thread.on('exit', (code) => {
      this.fail(
        new StoreUnavailableError(
          new Error(`the SQLite thread ${this.closing ? 'is closed' : `exited (code ${code})`}`),
        ),
      );
    });
  }

  private send(method: StoreMethod, args: unknown[]): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure);
    const id = ++this.lastId;
    return new Promise((resolve, reject) => {
      // Throws (and so rejects) before anything is recorded when an argument cannot be cloned.
      this.thread.postMessage({ id, method, args } satisfies StoreCall);
      if (this.waiting.size === 0) this.thread.ref();
      this.waiting.set(id, { resolve, reject });
    });
  }

  private call(method: StoreMethod, args: unknown[]): Promise<unknown> {
    if (this.closing) return Promise.reject(new Error(`${method}: the SQLite store is closed`));
    return this.send(method, args);
  }

  private settle(answer: StoreAnswer): void {
    const waiting = this.waiting.get(answer.id);
    if (!waiting) return;
    this.waiting.delete(answer.id);
    if (this.waiting.size === 0) this.thread.unref();
    if ('error' in answer) waiting.reject(deserializeError(answer.error));
    else waiting.resolve(answer.value);
  }

  private fail(err: Error): void {
    this.failure ??= err;
    const waiting = [...this.waiting.values()];
    this.waiting.clear();
    this.thread.unref();
    for (const w of waiting) w.reject(this.failure);
  }

  /** One Store method, forwarded with its argument and result types. */
  private forward<M extends Exclude<StoreMethod, 'close'>>(
    method: M,
  ): (Store & FusedCompleteClaim & StoreWarmUp)[M] {
    return ((...args: unknown[]) => this.call(method, args)) as (Store &
      FusedCompleteClaim &
      StoreWarmUp)[M];
  }

  /** Lets the thread commit what it holds, closes the database, then ends the thread. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      try {
        await this.send('close', []);
      } catch (err) {
        // A thread that died has nothing left to close.
        if (err !== this.failure) throw err;
      } finally {
        await this.thread.terminate();
      }
    })();
    return this.closing;
  }

  readonly migrate = this.forward('migrate');
  readonly ping = this.forward('ping');
  readonly createAccount = this.forward('createAccount');
  readonly getAccount = this.forward('getAccount');
  readonly purgeAccount = this.forward('purgeAccount');
  readonly listAccountIds = this.forward('listAccountIds');
  readonly createApiKey = this.forward('createApiKey');
  readonly findApiKeyByHash = this.forward('findApiKeyByHash');
  readonly listApiKeys = this.forward('listApiKeys');
  readonly revokeApiKey = this.forward('revokeApiKey');
  readonly markApiKeyUsed = this.forward('markApiKeyUsed');
  readonly appendAudit = this.forward('appendAudit');
  readonly listAudit = this.forward('listAudit');
  readonly getListenSecret = this.forward('getListenSecret');
  readonly setListenSecretIfAbsent = this.forward('setListenSecretIfAbsent');
  readonly rotateListenSecret = this.forward('rotateListenSecret');
  readonly openListenSession = this.forward('openListenSession');
  readonly touchListenSession = this.forward('touchListenSession');
  readonly closeListenSession = this.forward('closeListenSession');
  readonly listListenSessions = this.forward('listListenSessions');
  readonly deleteListenSession = this.forward('deleteListenSession');
  readonly expireListenSessions = this.forward('expireListenSessions');
  readonly createWebhook = this.forward('createWebhook');
  readonly getWebhook = this.forward('getWebhook');
  readonly listWebhooks = this.forward('listWebhooks');
  readonly updateWebhook = this.forward('updateWebhook');
  readonly rotateSecret = this.forward('rotateSecret');
  readonly deleteWebhook = this.forward('deleteWebhook');
  readonly insertEvents = this.forward('insertEvents');
  readonly getEvent = this.forward('getEvent');
  readonly listEvents = this.forward('listEvents');
  readonly purgeIdempotencyKeys = this.forward('purgeIdempotencyKeys');
  readonly getDelivery = this.forward('getDelivery');
  readonly listDeliveries = this.forward('listDeliveries');
  readonly requestAttempt = this.forward('requestAttempt');
  readonly recoverDeliveries = this.forward('recoverDeliveries');
  readonly insertTestDelivery = this.forward('insertTestDelivery');
  readonly claimDue = this.forward('claimDue');
  readonly completeAttempts = this.forward('completeAttempts');
  /** One message and one transaction in the thread: see `FusedCompleteClaim`. */
  readonly completeAndClaim = this.forward('completeAndClaim');
  readonly renewLeases = this.forward('renewLeases');
  readonly releaseLeases = this.forward('releaseLeases');
  readonly nextDueAt = this.forward('nextDueAt');
  readonly countPending = this.forward('countPending');
  readonly sampleWebhookSecrets = this.forward('sampleWebhookSecrets');
  readonly listEncryptedValues = this.forward('listEncryptedValues');
  readonly replaceEncryptedValues = this.forward('replaceEncryptedValues');
  readonly countEncryptedRows = this.forward('countEncryptedRows');
  readonly webhookStats = this.forward('webhookStats');
  readonly listWebhookNotices = this.forward('listWebhookNotices');
  readonly publishWebhookNotices = this.forward('publishWebhookNotices');
  readonly disableFailingWebhooks = this.forward('disableFailingWebhooks');
  readonly purgeFinished = this.forward('purgeFinished');
  readonly countWebhookHealth = this.forward('countWebhookHealth');
  readonly recordCertificates = this.forward('recordCertificates');
  readonly warnExpiringCertificates = this.forward('warnExpiringCertificates');
  /** See `SqliteStore.warmUp`. */
  readonly warmUp = this.forward('warmUp');
}
