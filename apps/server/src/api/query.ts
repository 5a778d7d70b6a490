/** Cursors and times of requests, checked before they reach the store (SPEC §5). */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { ValidationError } from '../errors.js';
import { type IdPrefix, isId } from '../ids.js';

/**
 * A list's `next_cursor` is the id of the last item of the page and a MAC of it for the account
 * (`wh_….<mac>`): a cursor the service did not issue — garbage, another list's, another
 * account's, or an id written by hand — is a 400, not an empty or a wrong page. The MAC's key is
 * derived from `AF_ENCRYPTION_KEY`, which every process of one service shares.
 */
export interface Cursors {
  /** The `next_cursor` of a page whose last item is `id`. */
  issue(accountId: string, id: string | null): string | null;
  /** The id a `cursor` of this list stands for; throws a 400 when the service did not issue it. */
  check(prefix: IdPrefix, accountId: string, cursor: string | undefined): string | undefined;
}

export function createCursors(encryptionKey: string): Cursors {
  const key = createHmac('sha256', encryptionKey).update('agentfactory cursors v1').digest();
  const mac = (accountId: string, id: string) =>
    createHmac('sha256', key).update(`${accountId}\n${id}`).digest().subarray(0, 12);
  return {
    issue(accountId, id) {
      return id === null ? null : `${id}.${mac(accountId, id).toString('base64url')}`;
    },
    check(prefix, accountId, cursor) {
      if (cursor === undefined) return undefined;
      const dot = cursor.indexOf('.');
      const id = cursor.slice(0, dot);
      const given = Buffer.from(cursor.slice(dot + 1), 'base64url');
      if (dot > 0 && isId(prefix, id) && given.length === 12) {
        if (timingSafeEqual(given, mac(accountId, id))) return id;
      }
      throw ValidationError.field(
        '/cursor',
        'cursor is not one this list issued: pass next_cursor of the previous page as it is',
      );
    },
  };
}

/**
 * An RFC 3339 time (already matched by the schema's `date-time` format) → epoch ms. The format
 * admits leap seconds (`23:59:60Z`), which `Date.parse` does not: NaN must not reach the store.
 */
export function parseTime(path: string, text: string): number;
export function parseTime(path: string, text: string | undefined): number | undefined;
export function parseTime(path: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = Date.parse(text);
  if (!Number.isFinite(ms))
    throw ValidationError.field(
      path,
      `${path.slice(1)} must be an RFC 3339 time such as 2024-01-15T10:35:00.000Z`,
    );
  return ms;
}
