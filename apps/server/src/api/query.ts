/** Cursors and times of requests, checked before they reach the store (SPEC §5). */
import { ValidationError } from '../errors.js';
import { type IdPrefix, isId } from '../ids.js';

/**
 * A list's `cursor` is the id of the last item of the previous page (`next_cursor`), so anything
 * but an id of the listed type is not one the service issued: 400, not an empty or a wrong page.
 */
export function checkCursor(prefix: IdPrefix, cursor: string | undefined): string | undefined {
  if (cursor === undefined || isId(prefix, cursor)) return cursor;
  throw ValidationError.field(
    '/cursor',
    'cursor is not one this list issued: pass next_cursor of the previous page as it is',
  );
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
