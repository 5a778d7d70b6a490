/**
 * Case-insensitive header lookup over the shapes receivers hold: a plain object, a Fetch
 * `Headers`, or Node's `IncomingHttpHeaders` (whose values may be arrays).
 */

/** Anything with a Fetch-style `get`, e.g. `Headers`. */
export interface HeadersGetter {
  get(name: string): string | null;
}

/** A plain object of headers (any case), `IncomingHttpHeaders` included. */
export type HeadersRecord = Readonly<Record<string, string | readonly string[] | undefined | null>>;

/** The request headers, as `Headers`, `IncomingHttpHeaders` or a plain object. */
export type HeadersInput = HeadersGetter | HeadersRecord;

function isGetter(headers: HeadersInput): headers is HeadersGetter {
  return typeof (headers as { get?: unknown }).get === 'function';
}

/**
 * The value of one header, `undefined` when absent. Repeated values (arrays) are joined with
 * `separator`, which is how the header list syntax of each signature header reads them.
 */
export function getHeader(
  headers: HeadersInput,
  name: string,
  separator = ', ',
): string | undefined {
  const lower = name.toLowerCase();
  if (isGetter(headers)) return headers.get(lower) ?? undefined;
  let value = headers[lower];
  if (value === undefined) {
    for (const key of Object.keys(headers)) {
      if (key.toLowerCase() === lower) {
        value = headers[key];
        break;
      }
    }
  }
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  return value.length === 0 ? undefined : value.join(separator);
}
