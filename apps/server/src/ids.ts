import { randomFillSync } from 'node:crypto';
import { encodeTime, monotonicFactory, TIME_LEN, TIME_MAX } from 'ulid';

/** The type prefixes of SPEC §5: every id is a prefix and a ULID, so ids sort by creation time. */
export type IdPrefix = 'acct' | 'key' | 'wh' | 'lsn' | 'evt' | 'dlv' | 'att' | 'aud';

const POOL_SIZE = 4096;
const pool = new Uint8Array(POOL_SIZE);
let poolAt = POOL_SIZE;

/**
 * ulid's default source asks `crypto.getRandomValues` for one byte per character (16 calls per
 * id, ~3% of the service's CPU under load, several ids per delivery): this hands out bytes of a
 * 4 KiB buffer refilled from the same CSPRNG. A byte / 256 picks one of the 32 characters
 * uniformly (256 is a multiple of 32).
 */
function pooledRandom(): number {
  if (poolAt === POOL_SIZE) {
    randomFillSync(pool);
    poolAt = 0;
  }
  return pool[poolAt++]! / 256;
}

const ulid = monotonicFactory(pooledRandom);

/** A new id, e.g. `newId('evt')` → `evt_01HMB7ZK2C8D9E0F1G2H3J4K5M`. */
export function newId(prefix: IdPrefix, now?: number): string {
  return `${prefix}_${ulid(now)}`;
}

/** True when `id` has the prefix and the shape of a ULID: cheap validation before a lookup. */
export function isId(prefix: IdPrefix, id: string): boolean {
  return (
    id.startsWith(`${prefix}_`) && /^[0-9A-HJKMNP-TV-Z]{26}$/.test(id.slice(prefix.length + 1))
  );
}

/**
 * The least id of `prefix` made at `ms` or later: every id made before `ms` sorts below it, so a
 * range of ids finds the records older or newer than a time (retention; the delivery log's time
 * windows). A record's id is made at its `created_at` or later (`newId(prefix, now)` with the
 * `now` stored as `created_at`; the monotonic factory never goes back in time), so a record
 * created at `t` or later has an id at least `idBefore(prefix, t)`. Times outside a ULID's range
 * are clamped to it.
 */
export function idBefore(prefix: IdPrefix, ms: number): string {
  const t = Math.min(TIME_MAX, Math.max(0, Math.floor(ms)));
  return `${prefix}_${encodeTime(t, TIME_LEN)}${'0'.repeat(16)}`;
}
