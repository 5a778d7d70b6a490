import { validateHeaderName, validateHeaderValue } from 'node:http';
import { LRUCache } from 'lru-cache';
import type { Cipher } from '../security/crypto.js';
import type { ClaimedDelivery } from '../store/types.js';
import { signBody, signStandard } from './signing.js';

/** How a custom header's value is shown in an attempt's recorded request headers. */
const MASK = '••••';
/** Body signatures kept (event × secret): a fan-out signs one body once per secret. */
const SIGNATURE_CACHE_SIZE = 1024;

/** One attempt's request headers as sent, and as recorded on the attempt (custom values masked). */
export interface BuiltRequest {
  headers: Record<string, string>;
  recorded: Record<string, string>;
}

/**
 * Builds the headers of one attempt (SPEC §3): the webhook's secrets and custom headers
 * decrypted, the `X-AgentFactory-*` and Standard Webhooks headers signed with every live
 * secret, newest first. The body-only signature depends on the event and the secret alone, so it
 * is computed once per pair (kept in an `lru-cache`); the `webhook-signature` binds the
 * attempt's timestamp and is computed per attempt.
 */
export class RequestBuilder {
  private readonly bodySignatures = new LRUCache<string, string>({ max: SIGNATURE_CACHE_SIZE });

  constructor(
    private readonly cipher: Cipher,
    private readonly userAgent: string,
  ) {}

  /**
   * Throws when the request cannot be built: a secret or header blob this key does not decrypt,
   * a stored header the HTTP client would refuse (`node:http`'s rules, which undici applies).
   */
  build(c: ClaimedDelivery, number: number, now: number, sample: boolean): BuiltRequest {
    const hook = c.webhook;
    if (!hook) throw new Error('the delivery has no webhook');
    const secrets = [this.cipher.decrypt(hook.secretEnc)];
    if (
      hook.previousSecretEnc &&
      hook.previousSecretExpiresAt !== null &&
      hook.previousSecretExpiresAt > now
    ) {
      secrets.push(this.cipher.decrypt(hook.previousSecretEnc));
    }
    const custom: Record<string, string> = hook.headersEnc
      ? (JSON.parse(this.cipher.decrypt(hook.headersEnc)) as Record<string, string>)
      : {};
    for (const [name, value] of Object.entries(custom)) {
      validateHeaderName(name);
      validateHeaderValue(name, value);
    }
    const timestamp = Math.floor(now / 1000);
    const bodySigs = secrets.map((s) => this.signBodyCached(c.eventId, c.body, s));
    const standardSigs = secrets.map((s) => signStandard(c.body, s, c.eventId, timestamp));
    const headers: Record<string, string> = {
      'Content-Type': 'application/json',
      'User-Agent': this.userAgent,
      'X-AgentFactory-Event': c.event,
      'X-AgentFactory-Event-Id': c.eventId,
      'X-AgentFactory-Delivery': c.id,
      'X-AgentFactory-Attempt': String(number),
      'X-AgentFactory-Timestamp': String(timestamp),
      'X-AgentFactory-Signature': bodySigs.join(','),
      'webhook-id': c.eventId,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': standardSigs.join(' '),
    };
    if (sample) headers['X-AgentFactory-Test'] = '1';
    const recorded: Record<string, string> = { ...headers };
    for (const [name, value] of Object.entries(custom)) {
      headers[name] = value;
      recorded[name] = MASK;
    }
    return { headers, recorded };
  }

  private signBodyCached(eventId: string, body: string, secret: string): string {
    const key = `${eventId}\u0000${secret}`;
    let sig = this.bodySignatures.get(key);
    if (!sig) {
      sig = signBody(body, secret);
      this.bodySignatures.set(key, sig);
    }
    return sig;
  }
}
