import { concatBytes, fromBase64, utf8 } from './encoding.js';
import { BODY_ALREADY_PARSED_MESSAGE, WebhookVerificationError } from './errors.js';
import type { AgentFactoryEvent } from './generated/events.js';
import { getHeader, type HeadersInput } from './headers.js';
import { hmacSha256, timingSafeEqual } from './hmac.js';
import { standardWebhooksKey } from './sign.js';

/** The raw request body: the exact bytes received, as a string, `Uint8Array` or `Buffer`. */
export type RawBodyInput = string | Uint8Array;

/** One secret, or several during a rotation's grace period (any order). */
export type SecretsInput = string | readonly string[];

export interface VerifyOptions {
  /** How far `webhook-timestamp` may be from now, either way, in seconds. Default 300. */
  toleranceSeconds?: number;
  /** The clock: milliseconds since the epoch, like `Date.now` (the default). */
  now?: () => number;
}

export interface ConstructEventOptions extends VerifyOptions {
  /**
   * Refuse a request that carries only the body signature (`X-AgentFactory-Signature`), which
   * binds no timestamp and so gives no replay protection. Default false.
   */
  requireTimestamp?: boolean;
}

const DEFAULT_TOLERANCE_SECONDS = 300;
const SHA256_ENTRY = /^sha256=([0-9a-fA-F]{64})$/;
const TIMESTAMP = /^\d{1,15}$/;
const decoder = new TextDecoder('utf-8', { fatal: true });

/** The exact bytes of the body; an object means a framework parsed it first. */
export function rawBodyBytes(body: unknown): Uint8Array {
  if (typeof body === 'string') return utf8(body);
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  if (ArrayBuffer.isView(body))
    return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  if (body !== null && typeof body === 'object') {
    throw new WebhookVerificationError('body_already_parsed', BODY_ALREADY_PARSED_MESSAGE);
  }
  throw new WebhookVerificationError(
    'invalid_payload',
    `No raw body was given (got ${body === null ? 'null' : typeof body}): pass the request body as a string, Uint8Array or Buffer.`,
  );
}

/** Checks every secret and returns them as a non-empty list. */
export function normalizeSecrets(secrets: unknown): string[] {
  const list = typeof secrets === 'string' ? [secrets] : Array.isArray(secrets) ? secrets : null;
  if (!list || list.length === 0) {
    throw new WebhookVerificationError(
      'invalid_secret',
      'No webhook secret was given: pass the endpoint secret (a string), or an array of secrets during a rotation.',
    );
  }
  return list.map((secret: unknown, i) => {
    const which = list.length > 1 ? `Secret #${i + 1}` : 'The webhook secret';
    if (typeof secret !== 'string' || secret.length === 0) {
      throw new WebhookVerificationError('invalid_secret', `${which} is empty or not a string.`);
    }
    if (secret.trim() !== secret) {
      throw new WebhookVerificationError(
        'invalid_secret',
        `${which} has leading or trailing whitespace (often a newline from a .env file or a copy-paste): trim it. Secrets never contain whitespace.`,
      );
    }
    if (/\s/.test(secret)) {
      throw new WebhookVerificationError(
        'invalid_secret',
        `${which} contains whitespace; secrets never do. Copy it again from the dashboard.`,
      );
    }
    try {
      standardWebhooksKey(secret);
    } catch {
      throw new WebhookVerificationError(
        'invalid_secret',
        `${which} starts with "whsec_" but the rest is not valid base64: copy it again, whole.`,
      );
    }
    return secret;
  });
}

function hexToBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

function preview(value: string): string {
  return JSON.stringify(value.length > 24 ? `${value.slice(0, 24)}…` : value);
}

/** True when one of `candidates` equals one of `expected`; every pair is compared in constant time. */
function anyEqual(candidates: Uint8Array[], expected: Uint8Array[]): boolean {
  let found = false;
  for (const c of candidates) for (const e of expected) found = timingSafeEqual(c, e) || found;
  return found;
}

/**
 * Throws unless `header` holds a `sha256=` signature of `body` under one of `secrets` (taken as
 * given, not checked). Internal: `diagnoseRequest` uses it for the body scheme's verdict.
 */
export async function checkBodySignature(
  body: Uint8Array,
  header: string | undefined,
  secrets: string[],
): Promise<void> {
  if (header === undefined || header.trim() === '') {
    throw new WebhookVerificationError(
      'missing_header',
      'The X-AgentFactory-Signature header is missing.',
    );
  }
  const candidates: Uint8Array[] = [];
  for (const entry of header.split(',')) {
    const match = SHA256_ENTRY.exec(entry.trim());
    if (match) candidates.push(hexToBytes(match[1]!.toLowerCase()));
  }
  if (candidates.length === 0) {
    throw new WebhookVerificationError(
      'invalid_signature_format',
      `X-AgentFactory-Signature must be "sha256=<64 hex digits>", several separated by commas during a secret rotation; got ${preview(header)}.`,
    );
  }
  const expected = await Promise.all(secrets.map((s) => hmacSha256(`b:${s}`, utf8(s), body)));
  if (!anyEqual(candidates, expected)) {
    throw new WebhookVerificationError(
      'signature_mismatch',
      'No signature in X-AgentFactory-Signature matches the body under the configured secret(s). Check the secret and that the body is the raw bytes received, not re-serialized JSON.',
    );
  }
}

/**
 * Checks the `X-AgentFactory-Signature` header (`sha256=<hex>`, several comma-separated during a
 * rotation) against the raw body. Resolves `false` for a missing, malformed or wrong signature;
 * rejects with a {@link WebhookVerificationError} only for misuse (a parsed body, a bad secret).
 * This signature binds no timestamp: prefer {@link constructEvent}, which also checks the
 * Standard Webhooks headers and their timestamp.
 *
 * @example
 * const ok = await verifySignature(rawBody, req.headers['x-agentfactory-signature'], secret);
 * if (!ok) return res.status(401).end();
 */
export async function verifySignature(
  rawBody: RawBodyInput,
  header: string | readonly string[] | null | undefined,
  secrets: SecretsInput,
): Promise<boolean> {
  const body = rawBodyBytes(rawBody);
  const list = normalizeSecrets(secrets);
  const value = typeof header === 'string' ? header : header ? header.join(',') : undefined;
  try {
    await checkBodySignature(body, value, list);
    return true;
  } catch (error) {
    if (error instanceof WebhookVerificationError) return false;
    throw error;
  }
}

/**
 * Verifies the Standard Webhooks headers (`webhook-id`, `webhook-timestamp`,
 * `webhook-signature`): the timestamp must be within `toleranceSeconds` of `now` either way, and
 * one `v1,` signature must match one of the secrets. Rejects with a
 * {@link WebhookVerificationError} otherwise.
 *
 * @example
 * await verifyStandardWebhook(rawBody, request.headers, process.env.AF_WEBHOOK_SECRET!);
 */
export async function verifyStandardWebhook(
  rawBody: RawBodyInput,
  headers: HeadersInput,
  secrets: SecretsInput,
  options: VerifyOptions = {},
): Promise<void> {
  const body = rawBodyBytes(rawBody);
  const list = normalizeSecrets(secrets);
  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  if (!(tolerance >= 0)) throw new RangeError('toleranceSeconds must be a number ≥ 0.');
  const id = headers ? getHeader(headers, 'webhook-id') : undefined;
  const timestamp = headers ? getHeader(headers, 'webhook-timestamp') : undefined;
  const signature = headers ? getHeader(headers, 'webhook-signature', ' ') : undefined;
  const missing = [
    id ? null : 'webhook-id',
    timestamp ? null : 'webhook-timestamp',
    signature ? null : 'webhook-signature',
  ].filter(Boolean);
  if (missing.length > 0) {
    throw new WebhookVerificationError(
      'missing_header',
      `Missing Standard Webhooks header(s): ${missing.join(', ')}.`,
    );
  }
  const ts = timestamp!.trim();
  if (!TIMESTAMP.test(ts)) {
    throw new WebhookVerificationError(
      'invalid_timestamp',
      `webhook-timestamp must be unix seconds (digits only); got ${preview(timestamp!)}.`,
    );
  }
  const nowSeconds = Math.floor((options.now ?? Date.now)() / 1000);
  const age = nowSeconds - Number(ts);
  if (age > tolerance) {
    throw new WebhookVerificationError(
      'timestamp_too_old',
      `webhook-timestamp is ${age} s old, more than the ${tolerance} s tolerance: a replayed request, or this server's clock is wrong.`,
    );
  }
  if (-age > tolerance) {
    throw new WebhookVerificationError(
      'timestamp_too_new',
      `webhook-timestamp is ${-age} s in the future, more than the ${tolerance} s tolerance: check this server's clock.`,
    );
  }
  const candidates: Uint8Array[] = [];
  for (const entry of signature!.split(/\s+/)) {
    if (!entry.startsWith('v1,')) continue; // Other schemes (e.g. v1a) are not ours to check.
    // A repeated header read through `Headers` arrives joined with ", ": drop that comma.
    const mac = fromBase64(entry.slice(3).replace(/,$/, ''));
    if (mac && mac.length === 32) candidates.push(mac);
  }
  if (candidates.length === 0) {
    throw new WebhookVerificationError(
      'invalid_signature_format',
      `webhook-signature must hold "v1,<base64>" entries separated by spaces; got ${preview(signature!)}.`,
    );
  }
  const message = concatBytes(utf8(`${id}.${ts}.`), body);
  const expected = await Promise.all(
    list.map((s) => hmacSha256(`s:${s}`, standardWebhooksKey(s), message)),
  );
  if (!anyEqual(candidates, expected)) {
    throw new WebhookVerificationError(
      'signature_mismatch',
      'No v1 signature in webhook-signature matches under the configured secret(s). Check the secret and that the body is the raw bytes received, not re-serialized JSON.',
    );
  }
}

/** Parses a verified body into the event envelope `{ id, event, timestamp, data }`. */
export function parseEvent(body: Uint8Array): AgentFactoryEvent {
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(body));
  } catch {
    throw new WebhookVerificationError('invalid_payload', 'The body is not valid UTF-8 JSON.');
  }
  const envelope = parsed as Record<string, unknown> | null;
  if (
    typeof envelope !== 'object' ||
    envelope === null ||
    Array.isArray(envelope) ||
    typeof envelope.id !== 'string' ||
    typeof envelope.event !== 'string' ||
    typeof envelope.data !== 'object' ||
    envelope.data === null
  ) {
    throw new WebhookVerificationError(
      'invalid_payload',
      'The body is not an event envelope: expected a JSON object with string "id" and "event" and an object "data".',
    );
  }
  return envelope as unknown as AgentFactoryEvent;
}

/**
 * Verifies a delivery and returns its event. Uses the Standard Webhooks headers when present
 * (signature and timestamp), else the `X-AgentFactory-Signature` body signature, which
 * `requireTimestamp: true` refuses. It does not validate `data` against the catalog's schemas:
 * an event type or a field newer than this SDK passes through as sent.
 *
 * @example
 * const event = await constructEvent(rawBody, req.headers, process.env.AF_WEBHOOK_SECRET!);
 * if (event.event === 'conversation.message') console.log(event.data.message);
 */
export async function constructEvent(
  rawBody: RawBodyInput,
  headers: HeadersInput,
  secrets: SecretsInput,
  options: ConstructEventOptions = {},
): Promise<AgentFactoryEvent> {
  const body = rawBodyBytes(rawBody);
  const list = normalizeSecrets(secrets);
  const has = (name: string) => (headers ? getHeader(headers, name) !== undefined : false);
  if (has('webhook-id') || has('webhook-timestamp') || has('webhook-signature')) {
    await verifyStandardWebhook(body, headers, list, options);
  } else if (options.requireTimestamp) {
    throw new WebhookVerificationError(
      'missing_header',
      'The Standard Webhooks headers (webhook-id, webhook-timestamp, webhook-signature) are missing, and requireTimestamp refuses a body-only signature.',
    );
  } else {
    const header = headers ? getHeader(headers, 'x-agentfactory-signature', ',') : undefined;
    if (header === undefined) {
      throw new WebhookVerificationError(
        'missing_header',
        'No signature headers: expected webhook-id, webhook-timestamp and webhook-signature (or at least X-AgentFactory-Signature). Is this request from Agent Factory, and does a proxy strip headers?',
      );
    }
    await checkBodySignature(body, header, list);
  }
  return parseEvent(body);
}
