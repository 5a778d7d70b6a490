import pg from 'pg';
import { toStoreError } from './errors.js';

export interface PostgresOptions {
  /** `postgres://user@host:5432/db` */
  url: string;
  /** Schema holding the tables (created by `migrate()`); `public` by default. */
  schema?: string | undefined;
  /** Connections per process; `POOL_SIZE` by default. */
  poolSize?: number | undefined;
  /** Giving up on a connection attempt; 5 s by default. */
  connectTimeoutMs?: number | undefined;
  /** Longest statement, enforced by the server and, for a silent network, by the client; 30 s. */
  statementTimeoutMs?: number | undefined;
  /**
   * How long an event with an `Idempotency-Key` waits for another request holding the same key
   * to commit before answering `key_in_flight`; 5 s by default.
   */
  idempotencyWaitMs?: number | undefined;
  /** Called with errors of idle connections (the pool replaces them); ignored by default. */
  onError?: ((err: Error) => void) | undefined;
}

/** Connections per process by default: the API and the engine share them. */
export const POOL_SIZE = 10;

const INT8 = 20;

/** int8 (our epoch-ms columns and `count(*)`) as a JS number: every value fits below 2^53. */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8 && format !== 'binary') return (v: string) => Number(v);
    // biome-ignore lint/suspicious/noExplicitAny: the overloads of pg.types are not assignable one to another.
    return (pg.types.getTypeParser as any)(oid, format);
  },
};

/** A lowercase SQL identifier, so a schema name can be put in SQL text without quoting rules. */
export function checkSchemaName(schema: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new Error(`invalid schema name ${JSON.stringify(schema)}: use [a-z_][a-z0-9_]*`);
  }
  return schema;
}

/** Settings of every connection the store opens (the pool and the LISTEN connection). */
export function clientConfig(options: PostgresOptions): pg.ClientConfig {
  const schema = checkSchemaName(options.schema ?? 'public');
  const statementTimeout = options.statementTimeoutMs ?? 30_000;
  return {
    connectionString: options.url,
    // No JIT: the store's statements are short, and compiling one costs more (tens to hundreds
    // of ms) than running it; a stale estimate on a fresh database is enough to trigger it.
    options: `-c search_path=${schema} -c jit=off`,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
    statement_timeout: statementTimeout,
    // The server cannot time out a statement it never receives: a network that silently stops
    // answering is caught here, a little after the server would have given up.
    query_timeout: statementTimeout + Math.min(statementTimeout, 5_000),
    idle_in_transaction_session_timeout: 60_000,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    application_name: 'agentfactory-webhooks',
    types,
  };
}

export function createPool(options: PostgresOptions): pg.Pool {
  const max = options.poolSize ?? POOL_SIZE;
  const pool = new pg.Pool({
    ...clientConfig(options),
    max,
    // The warm-up opens every connection and prepares the hot statements in each (`warm-up.ts`):
    // kept open (min = max), they are still warm for the first events after a quiet minute;
    // closed after 30 s idle, the next burst paid for new server processes and their plans.
    min: max,
    idleTimeoutMillis: 30_000,
  });
  // An idle connection that dies (server restart, network drop) emits here; without a listener
  // the process would crash. The pool drops that client and opens a new one on the next query.
  pool.on('error', (err) => options.onError?.(err));
  return pool;
}

export type Queryable = Pick<pg.PoolClient, 'query'>;

/** `$from, …, $to`: the parameters of a call with many arguments. */
export function placeholders(from: number, to: number): string {
  return Array.from({ length: to - from + 1 }, (_, i) => `$${from + i}`).join(', ');
}

/**
 * One query on the pool (or on one of its connections: the warm-up); a lost connection becomes a `StoreUnavailableError`. With a `name`, the
 * statement is prepared once per connection and then only bound and executed. Only calls of the
 * store's functions are named: a statement that reads a table could keep a plan made while the
 * table was small.
 */
export async function query<R extends pg.QueryResultRow = pg.QueryResultRow>(
  pool: Queryable,
  text: string,
  values?: unknown[],
  name?: string,
): Promise<pg.QueryResult<R>> {
  try {
    return await pool.query<R>(name ? { name, text, values } : { text, values });
  } catch (err) {
    throw toStoreError(err);
  }
}

/**
 * Runs `fn` in a transaction on one connection: commit when it resolves, rollback when it throws.
 * A connection that failed is destroyed rather than returned to the pool.
 */
export async function transaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    throw toStoreError(err);
  }
  let broken: Error | undefined;
  // A checked-out client has no listener of the pool: a connection lost between two statements
  // would be an unhandled 'error' event and crash the process. Note it; the next query fails.
  const onError = (err: Error) => {
    broken = err;
  };
  client.on('error', onError);
  try {
    await client.query('begin');
    const result = await fn(client);
    await client.query('commit');
    return result;
  } catch (err) {
    try {
      await client.query('rollback');
    } catch (rollbackErr) {
      broken = rollbackErr as Error;
    }
    if (!broken && toStoreError(err) !== err) broken = err as Error;
    throw toStoreError(err);
  } finally {
    client.off('error', onError);
    client.release(broken ?? false);
  }
}
