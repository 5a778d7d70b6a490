/**
 * The event envelope (SPEC §3): `{id, event, timestamp, data}`, serialized once when the event is
 * accepted. These bytes are what every endpoint and every retry receives.
 */
import { newId } from '../ids.js';
import type { NewEvent } from '../store/types.js';
import { rfc3339 } from './serialize.js';

export function buildEnvelope(
  event: string,
  data: unknown,
  now: number,
  idempotency?: { key: string; requestHash: string },
): NewEvent {
  const id = newId('evt', now);
  return {
    id,
    event,
    timestamp: now,
    body: JSON.stringify({ id, event, timestamp: rfc3339(now), data }),
    ...(idempotency
      ? { idempotencyKey: idempotency.key, requestHash: idempotency.requestHash }
      : {}),
  };
}
