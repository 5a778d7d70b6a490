/**
 * Validation of a webhook's fields beyond their JSON shape (SPEC §3–§5): the URL, the
 * event patterns, the secret rules, custom headers and metadata. Each rule throws the error
 * code the SPEC gives it, with a detail pointing at the field.
 */

import { isValidPattern } from '@agentfactory/webhooks';
import type { Config } from '../config.js';
import {
  type ErrorDetail,
  LimitExceededError,
  UnknownEventTypeError,
  UrlNotAllowedError,
  ValidationError,
} from '../errors.js';
import { secretProblem } from '../security/secrets.js';
import { literalHostRefusal } from '../security/ssrf.js';

/** Checks an endpoint URL: http(s), https only in production, no literal host the SSRF policy refuses. */
export function checkUrl(
  text: string,
  config: Pick<Config, 'env' | 'allowPrivateNetworks'>,
): string {
  // The URL parser drops tabs and newlines and trims spaces, so the stored text and the URL
  // sent to would differ.
  if (hasSpaceOrControl(text))
    throw ValidationError.field('/url', 'url must not contain spaces or control characters');
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw ValidationError.field('/url', 'url must be an absolute http:// or https:// URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw ValidationError.field(
      '/url',
      `url must use http or https, not ${url.protocol.slice(0, -1)}`,
    );
  if (url.hostname === '') throw ValidationError.field('/url', 'url must name a host');
  // Credentials would be stored and shown in clear; authenticate with a custom header instead.
  if (url.username !== '' || url.password !== '')
    throw ValidationError.field(
      '/url',
      'url must not contain credentials (user:password@); send them in a custom header such as Authorization',
    );
  if (config.env === 'production' && url.protocol !== 'https:')
    throw new UrlNotAllowedError('url must use https:// in production');
  // Under either policy: cloud-metadata, link-local and unspecified addresses are refused even
  // where private networks are allowed.
  const refusal = literalHostRefusal(url.href, config.allowPrivateNetworks);
  if (refusal !== null) throw new UrlNotAllowedError(refusal);
  return text;
}

function hasSpaceOrControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** Why `pattern` cannot be subscribed to (a webhook's or a `listen` session's), or undefined. */
export function patternProblem(pattern: string): string | undefined {
  if (isValidPattern(pattern)) return undefined;
  return pattern === 'webhook.test'
    ? 'webhook.test is sent only by the test action and cannot be subscribed to'
    : `"${pattern}" is not an event type of the catalog, a category wildcard such as agent.*, or *`;
}

/** Event patterns: catalog names, `category.*` or `*`; anything else is 422 unknown_event_type. */
export function checkEvents(events: readonly string[]): string[] {
  const details: ErrorDetail[] = [];
  events.forEach((e, i) => {
    const message = patternProblem(e);
    if (message !== undefined) details.push({ path: `/events/${i}`, message });
  });
  if (details.length > 0)
    throw new UnknownEventTypeError(`Unknown event type: ${details[0]!.message}`, details);
  return [...events];
}

/** The customer's own secret, by the SPEC §3 rules. */
export function checkSecret(secret: string, path = '/secret'): string {
  const problem = secretProblem(secret);
  if (problem) throw ValidationError.field(path, `secret ${problem}`);
  return secret;
}

/** Header names we set ourselves, or that the HTTP client controls. */
const RESERVED = new Set([
  'host',
  'content-length',
  'content-type',
  'transfer-encoding',
  'connection',
  'user-agent',
]);
/** RFC 9110 §5.6.2 token. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/**
 * RFC 9110 §5.5 field value, without obs-text (bytes 0x80–0xFF, which senders must not
 * generate): visible ASCII, with spaces and tabs only between visible characters. No CTL but
 * HTAB, so no CR, LF or NUL. Empty is allowed.
 */
const FIELD_VALUE = /^(?:[\x21-\x7e](?:[\t\x20-\x7e]*[\x21-\x7e])?)?$/;
export const MAX_HEADER_NAME = 100;
export const MAX_HEADER_VALUE = 4096;

/**
 * Custom headers: at most `max` (`AF_MAX_HEADERS_PER_WEBHOOK`, 422 `limit_exceeded`), names
 * RFC 9110 tokens and none of ours or the reserved ones, values RFC 9110 field values. Values
 * undici would refuse at every attempt are refused here, with the header in the path.
 */
export function checkHeaders(headers: Record<string, string>, max: number): Record<string, string> {
  const entries = Object.entries(headers);
  if (entries.length > max)
    throw new LimitExceededError(
      `A webhook may have at most ${max} custom headers (AF_MAX_HEADERS_PER_WEBHOOK); got ${entries.length}.`,
      '/headers',
    );
  const seen = new Set<string>();
  for (const [name, value] of entries) {
    const path = `/headers/${name.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    const lower = name.toLowerCase();
    if (name.length > MAX_HEADER_NAME)
      throw ValidationError.field(
        path,
        `header names must be at most ${MAX_HEADER_NAME} characters`,
      );
    if (!TOKEN.test(name))
      throw ValidationError.field(
        path,
        `"${name}" is not a valid header name (an RFC 9110 token: letters, digits and !#$%&'*+-.^_\`|~)`,
      );
    if (RESERVED.has(lower) || lower.startsWith('x-agentfactory-') || lower.startsWith('webhook-'))
      throw ValidationError.field(
        path,
        `"${name}" is set by Agent Factory and cannot be overridden`,
      );
    if (seen.has(lower)) throw ValidationError.field(path, `"${name}" is given twice`);
    seen.add(lower);
    if (value.length > MAX_HEADER_VALUE)
      throw ValidationError.field(
        path,
        `header values must be at most ${MAX_HEADER_VALUE} characters`,
      );
    if (!FIELD_VALUE.test(value))
      throw ValidationError.field(
        path,
        /[\r\n\0]/.test(value)
          ? 'header values must not contain CR, LF or NUL characters'
          : /^[\t ]|[\t ]$/.test(value)
            ? 'header values must not begin or end with whitespace'
            : 'header values may hold only visible ASCII characters, spaces and tabs (RFC 9110 field values)',
      );
  }
  return headers;
}

const MAX_METADATA = 50;

/** Metadata: at most 50 string keys (≤ 100 characters) with string values (≤ 1000). */
export function checkMetadata(metadata: Record<string, string>): Record<string, string> {
  const entries = Object.entries(metadata);
  if (entries.length > MAX_METADATA)
    throw ValidationError.field('/metadata', `at most ${MAX_METADATA} metadata keys are allowed`);
  for (const [key, value] of entries) {
    const path = `/metadata/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    if (key.length === 0 || key.length > 100)
      throw ValidationError.field(path, 'metadata keys must be 1 to 100 characters');
    if (value.length > 1000)
      throw ValidationError.field(path, 'metadata values must be at most 1000 characters');
  }
  return metadata;
}
