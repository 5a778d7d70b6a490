/**
 * Errors of the PostgreSQL store. A database that cannot be reached is not a bug: the API answers
 * 503 `unavailable` with `Retry-After` and workers back off. `isUnavailableError` tells those
 * errors apart from the rest, whatever layer raised them (the socket, node-postgres, the server).
 */

/** Thrown by store methods when PostgreSQL cannot be reached or dropped the connection. */
export class StoreUnavailableError extends Error {
  readonly code = 'unavailable';
  override readonly name = 'StoreUnavailableError';
  constructor(cause: unknown) {
    super(`database unavailable: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    });
  }
}

/** Socket-level error codes of Node: the server is down, unreachable or went away. */
const socketCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** SQLSTATEs that mean "try again later": shutdown, too many connections, starting up. */
const serverCodes = new Set(['57P01', '57P02', '57P03', '53300', '53400']);

/** Messages node-postgres uses for connections it lost or could not make in time. */
const clientMessages = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Query read timeout',
  'Client has encountered a connection error',
  'Client was closed and is not queryable',
  'Cannot use a pool after calling end',
  'connection timeout',
];

/**
 * True when `err` means the database could not be reached (map it to 503 `unavailable`), false
 * for every other error (a bug or a constraint: 500).
 */
export function isUnavailableError(err: unknown): boolean {
  if (err instanceof StoreUnavailableError) return true;
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (socketCodes.has(code) || serverCodes.has(code)) return true;
    // Class 08: connection exception.
    if (/^08[0-9A-Z]{3}$/.test(code)) return true;
  }
  if (clientMessages.some((m) => err.message.includes(m))) return true;
  // AggregateError from a connect that tried several addresses (::1 and 127.0.0.1).
  if (err instanceof AggregateError) return err.errors.some(isUnavailableError);
  return err.cause !== undefined && err.cause !== err && isUnavailableError(err.cause);
}

/** Rethrows `err` as a `StoreUnavailableError` when it is one, unchanged otherwise. */
export function toStoreError(err: unknown): unknown {
  if (err instanceof StoreUnavailableError) return err;
  return isUnavailableError(err) ? new StoreUnavailableError(err) : err;
}
