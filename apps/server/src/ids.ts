import { monotonicFactory } from 'ulid';

/** The type prefixes of SPEC §5: every id is a prefix and a ULID, so ids sort by creation time. */
export type IdPrefix = 'acct' | 'key' | 'wh' | 'evt' | 'dlv' | 'att';

const ulid = monotonicFactory();

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
