import pg from 'pg';
import type { WorkNotifier } from '../capabilities.js';
import { clientConfig, type PostgresOptions, type Queryable } from './pool.js';

/** The NOTIFY channel; the payload is the schema, so stores on other schemas ignore it. */
export const WORK_CHANNEL = 'af_work';

/** Where a wake-up goes: the channel, and the store's schema as the payload. */
export interface WakeUp {
  channel: string;
  payload: string;
}

/** Sends a wake-up in the caller's transaction: delivered at commit, dropped on rollback. */
export async function sendWakeUp(client: Queryable, wake: WakeUp): Promise<void> {
  await client.query('select pg_notify($1, $2)', [wake.channel, wake.payload]);
}

/** How often the LISTEN connection proves it is alive. */
const HEARTBEAT_MS = 15_000;

/**
 * `LISTEN af_work` on one dedicated connection, opened with the first subscriber and closed with
 * the last. A lost connection is reopened with backoff (250 ms doubling to 10 s); a wake-up sent
 * meanwhile is lost, which is why workers also poll. After a reconnect every subscriber is
 * called once, since work may have arrived unseen.
 */
export class PgWorkNotifier implements WorkNotifier {
  private readonly subscribers = new Set<() => void>();
  private client: pg.Client | undefined;
  private timer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private delay = 250;
  private closed = false;

  constructor(
    private readonly options: PostgresOptions,
    private readonly schema: string,
  ) {}

  onWorkAvailable(cb: () => void): () => void {
    this.subscribers.add(cb);
    if (this.subscribers.size === 1 && !this.closed) this.connect(false);
    return () => {
      this.subscribers.delete(cb);
      if (this.subscribers.size === 0) this.stop();
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.subscribers.clear();
    await this.stop();
  }

  private connect(reconnect: boolean): void {
    this.timer = undefined;
    if (this.closed || this.subscribers.size === 0 || this.client) return;
    const client = new pg.Client({ ...clientConfig(this.options), query_timeout: 5_000 });
    this.client = client;
    const fail = () => {
      if (this.client !== client) return;
      this.client = undefined;
      clearInterval(this.heartbeat);
      client.removeAllListeners('notification');
      client.end().catch(() => {});
      if (this.closed || this.subscribers.size === 0) return;
      this.timer = setTimeout(() => this.connect(true), this.delay);
      this.timer.unref();
      this.delay = Math.min(this.delay * 2, 10_000);
    };
    client.on('error', fail);
    client.on('end', fail);
    client.on('notification', (msg) => {
      if (msg.channel === WORK_CHANNEL && msg.payload === this.schema) this.wake();
    });
    client
      .connect()
      .then(() => client.query(`listen ${WORK_CHANNEL}`))
      .then(() => {
        this.delay = 250;
        // A network that dies silently sends no error: a query that goes unanswered does.
        clearInterval(this.heartbeat);
        this.heartbeat = setInterval(() => {
          client.query('select 1').catch(fail);
        }, HEARTBEAT_MS);
        this.heartbeat.unref();
        if (reconnect) this.wake();
      })
      .catch(fail);
  }

  private wake(): void {
    for (const cb of [...this.subscribers]) {
      try {
        cb();
      } catch {
        // A subscriber's failure is its own; the others still hear the wake-up.
      }
    }
  }

  private async stop(): Promise<void> {
    clearInterval(this.heartbeat);
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const client = this.client;
    this.client = undefined;
    if (client) {
      client.removeAllListeners('notification');
      await client.end().catch(() => {});
    }
  }
}
