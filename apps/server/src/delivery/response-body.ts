import type { BodyEncoding } from '../store/types.js';

/**
 * A receiver may answer any bytes: NUL (a gzip page served without decoding), invalid UTF-8,
 * control characters. The attempt record keeps them exactly and in a form every store can hold
 * (PostgreSQL `text` and `jsonb` refuse U+0000): readable text when it is text, base64 otherwise.
 */
export interface RecordedBody {
  body: string;
  encoding: BodyEncoding;
}

const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * `utf8` with the text when `bytes` are UTF-8 without NUL, else `base64` of the exact bytes. When
 * the cap cut the body (`truncated`), an incomplete character at the end (up to 3 bytes) is
 * dropped first: a long text body stays text.
 */
export function recordBody(bytes: Uint8Array, truncated: boolean): RecordedBody {
  const text = asText(bytes) ?? (truncated ? asTextCut(bytes) : undefined);
  if (text !== undefined) return { body: text, encoding: 'utf8' };
  return {
    body: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64'),
    encoding: 'base64',
  };
}

function asText(bytes: Uint8Array): string | undefined {
  if (bytes.includes(0)) return undefined;
  try {
    return strict.decode(bytes);
  } catch {
    return undefined;
  }
}

function asTextCut(bytes: Uint8Array): string | undefined {
  for (let cut = 1; cut <= 3 && cut < bytes.length; cut++) {
    const text = asText(bytes.subarray(0, bytes.length - cut));
    if (text !== undefined) return text;
  }
  return undefined;
}

/**
 * Header names and values as received, with what no store can hold replaced: U+0000 becomes
 * U+FFFD. (The HTTP parser refuses NUL in a header already; this holds whatever parser runs.)
 */
export function recordHeaders(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    out[name.replaceAll('\u0000', '\ufffd')] = value.replaceAll('\u0000', '\ufffd');
  }
  return out;
}
