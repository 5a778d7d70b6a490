/**
 * Idempotency of `POST /v1/events` and `/v1/events/batch` (SPEC §5), the service's one entry point
 * for it. A request carries `Idempotency-Key` (single) or `idempotency_key` per item (batch);
 * within `BUILT_IN.idempotencyTtlMs` (24 h, `config.ts`) the same key with the same request
 * answers the first event again (`Idempotent-Replayed: true`), with another request a 409
 * `idempotency_key_reused`, and while the first request is still in its transaction a 409
 * `idempotency_key_in_flight`.
 *
 * - Here: the key's rules, the request's hash, the conflicts as API errors, the purge timer.
 * - In the insert transaction, each store's `sql/insert-events.ts` checks and records the key
 *   with the events, so a key is taken if and only if its events are stored.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import { BUILT_IN } from '../config.js';
import { ConflictError, ValidationError } from '../errors.js';
import type { InsertEventResult, Store } from '../store/types.js';

/** What identifies "the same request": the event type and its data, not the envelope around. */
export function requestHash(event: string, data: unknown): string {
  return createHash('sha256').update(JSON.stringify({ event, data })).digest('hex');
}

/** A key as given, or a 400 naming `path`: 1 to 255 printable ASCII characters. */
export function checkIdempotencyKey(key: string, path: string): string {
  if (key.length < 1 || key.length > 255 || !/^[\x20-\x7e]+$/.test(key))
    throw ValidationError.field(
      path,
      'the idempotency key must be 1 to 255 printable ASCII characters',
    );
  return key;
}

/** The 409 of a stored result whose key was refused, or null. */
export function conflictOf(result: InsertEventResult, path: string): ConflictError | null {
  if (result.status === 'key_reused')
    return new ConflictError(
      'idempotency_key_reused',
      'This idempotency key was already used with a different request in the last 24 hours.',
      [{ path, message: 'already used with a different request' }],
    );
  if (result.status === 'key_in_flight')
    return new ConflictError(
      'idempotency_key_in_flight',
      'A request with this idempotency key is still being processed; retry shortly.',
      [{ path, message: 'the first request with this key is still in flight' }],
    );
  return null;
}

/**
 * Drops keys past their TTL every `BUILT_IN.idempotencyPurgeMs` (an expired key already counts
 * as unused; the purge only keeps the table small). Returns the function that stops it.
 */
export function startIdempotencyPurge(store: Store, clock: Clock, logger: Logger): () => void {
  const timer = setInterval(() => {
    store
      .purgeIdempotencyKeys(clock.now() - BUILT_IN.idempotencyTtlMs)
      .catch((err) => logger.warn({ err }, 'purging idempotency keys failed'));
  }, BUILT_IN.idempotencyPurgeMs);
  timer.unref();
  return () => clearInterval(timer);
}
