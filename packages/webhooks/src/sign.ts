import {
  concatBytes,
  fromBase64,
  type RawBody,
  toBase64,
  toBytes,
  toHex,
  utf8,
} from './encoding.js';
import { hmacSha256 } from './hmac.js';

const WHSEC_PREFIX = 'whsec_';

/**
 * The names of SPEC §3's headers as Agent Factory sends them. Receivers read them in any case
 * (`getHeader`); the service sends them with these.
 */
export const headerNames = {
  event: 'X-AgentFactory-Event',
  eventId: 'X-AgentFactory-Event-Id',
  delivery: 'X-AgentFactory-Delivery',
  attempt: 'X-AgentFactory-Attempt',
  timestamp: 'X-AgentFactory-Timestamp',
  signature: 'X-AgentFactory-Signature',
  test: 'X-AgentFactory-Test',
  webhookId: 'webhook-id',
  webhookTimestamp: 'webhook-timestamp',
  webhookSignature: 'webhook-signature',
} as const;

/**
 * The signature headers of one delivery attempt (SPEC §3), lower-case names. A type alias, not
 * an interface, so that it is assignable to a plain header record.
 */
export type SignatureHeaders = {
  'x-agentfactory-signature': string;
  'x-agentfactory-timestamp': string;
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
};

export interface SignPayloadInput {
  /** The exact bytes that will be sent. */
  body: RawBody;
  /** One secret, or several newest first during a rotation's grace period. */
  secret: string | readonly string[];
  /** The event id (`evt_…`), sent as `webhook-id`. */
  id: string;
  /** Unix seconds when this attempt is signed. */
  timestamp: number;
}

/**
 * Key bytes of the Standard Webhooks scheme: base64 after `whsec_`, else the secret's UTF-8 bytes.
 * Throws on a `whsec_` secret whose rest is not base64.
 */
export function standardWebhooksKey(secret: string): Uint8Array {
  if (!secret.startsWith(WHSEC_PREFIX)) return utf8(secret);
  const key = fromBase64(secret.slice(WHSEC_PREFIX.length));
  if (!key || key.length === 0) {
    throw new TypeError('A secret that starts with "whsec_" must be followed by valid base64.');
  }
  return key;
}

/**
 * `sha256=<hex>` of the body under one secret: the `X-AgentFactory-Signature` value.
 *
 * @example
 * const sig = await signBody('{"id":"evt_1"}', 'whsec_...');
 * // 'sha256=5f2b…'
 */
export async function signBody(body: RawBody, secret: string): Promise<string> {
  const mac = await hmacSha256(`b:${secret}`, utf8(secret), toBytes(body));
  return `sha256=${toHex(mac)}`;
}

/**
 * `v1,<base64>` of `{id}.{timestamp}.{body}` under one secret: one `webhook-signature` entry.
 *
 * @example
 * const sig = await signStandard({ body, secret: 'whsec_...', id: 'evt_1', timestamp: 1705314600 });
 * // 'v1,DRnX…'
 */
export async function signStandard(input: {
  body: RawBody;
  secret: string;
  id: string;
  timestamp: number | string;
}): Promise<string> {
  const message = concatBytes(utf8(`${input.id}.${input.timestamp}.`), toBytes(input.body));
  const mac = await hmacSha256(`s:${input.secret}`, standardWebhooksKey(input.secret), message);
  return `v1,${toBase64(mac)}`;
}

/**
 * Signs one delivery attempt: returns exactly the signature headers of SPEC §3. With several
 * secrets (newest first) each header carries one signature per secret, in the same order.
 *
 * @example
 * const headers = await signPayload({
 *   body: JSON.stringify(event),
 *   secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
 *   id: event.id,
 *   timestamp: Math.floor(Date.now() / 1000),
 * });
 * await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
 */
export async function signPayload(input: SignPayloadInput): Promise<SignatureHeaders> {
  const secrets = typeof input.secret === 'string' ? [input.secret] : [...input.secret];
  if (secrets.length === 0) throw new TypeError('signPayload needs at least one secret.');
  const timestamp = Math.floor(input.timestamp);
  const [bodySignatures, standardSignatures] = await Promise.all([
    Promise.all(secrets.map((s) => signBody(input.body, s))),
    Promise.all(
      secrets.map((s) => signStandard({ body: input.body, secret: s, id: input.id, timestamp })),
    ),
  ]);
  return signatureHeaders({ id: input.id, timestamp, bodySignatures, standardSignatures });
}

/**
 * The signature headers from signatures already computed, one per secret, newest first: each
 * header's list syntax (commas between `sha256=` values, spaces between `v1,` values, as the
 * verifiers split them) and the timestamp in whole seconds in both timestamp headers. The service
 * computes its signatures with `node:crypto` and assembles its headers here, so sender and
 * verifiers share one set of rules.
 */
export function signatureHeaders(input: {
  id: string;
  /** Unix seconds when the attempt is signed. */
  timestamp: number;
  bodySignatures: readonly string[];
  standardSignatures: readonly string[];
}): SignatureHeaders {
  const timestamp = String(Math.floor(input.timestamp));
  return {
    'x-agentfactory-signature': input.bodySignatures.join(','),
    'x-agentfactory-timestamp': timestamp,
    'webhook-id': input.id,
    'webhook-timestamp': timestamp,
    'webhook-signature': input.standardSignatures.join(' '),
  };
}
