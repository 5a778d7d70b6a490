import { validateHeaderName, validateHeaderValue } from 'node:http';
import { headerNames as H, signatureHeaders } from '@agentfactory/webhooks';
import { LRUCache } from 'lru-cache';
import { blobContext, type Cipher } from '../security/crypto.js';
import type { ClaimedDelivery } from '../store/types.js';
import { signBody, signStandard } from './signing.js';

/** How a custom header's value is shown in an attempt's recorded request headers. */
const MASK = '••••';
/**
 * Decrypted blobs kept by their ciphertext: every delivery of a webhook carries the same secret
 * and header blobs, and AES-GCM per attempt was a tenth of the attempt's own CPU at fan-out 10
 * (docs/performance.md). The signing keys of the same secrets are cached in `signing.ts`.
 */
const PLAIN_CACHE_SIZE = 1024;

/** One attempt's request headers as sent, and as recorded on the attempt (custom values masked). */
export interface BuiltRequest {
  headers: Record<string, string>;
  recorded: Record<string, string>;
}

/**
 * Builds the headers of one attempt (SPEC §3): the webhook's secrets and custom headers
 * decrypted, the `X-AgentFactory-*` and Standard Webhooks headers signed with every live
 * secret, newest first. Names and list rules are the SDK's (`headerNames`, `signatureHeaders`),
 * the HMACs `signing.ts`'s.
 */
export class RequestBuilder {
  /**
   * Blob → the context it opened for and its plaintext, for blobs that decrypted (one that fails
   * is never kept). A hit counts only for the same context: a blob copied into another row is
   * decrypted (and refused) again rather than served from here.
   */
  private readonly plain = new LRUCache<string, { context: string; text: string }>({
    max: PLAIN_CACHE_SIZE,
  });

  constructor(
    private readonly cipher: Cipher,
    private readonly userAgent: string,
  ) {}

  private decrypt(blob: string, context: string): string {
    const hit = this.plain.get(blob);
    if (hit !== undefined && hit.context === context) return hit.text;
    const text = this.cipher.decrypt(blob, context);
    this.plain.set(blob, { context, text });
    return text;
  }

  /**
   * Throws when the request cannot be built: a secret or header blob this key does not decrypt,
   * a stored header the HTTP client would refuse (`node:http`'s rules, which undici applies).
   */
  build(c: ClaimedDelivery, number: number, now: number, sample: boolean): BuiltRequest {
    const hook = c.webhook;
    if (!hook) throw new Error('the delivery has no webhook');
    const secretContext = blobContext.secretOf(hook.id, c.accountId);
    const secrets = [this.decrypt(hook.secretEnc, secretContext)];
    if (
      hook.previousSecretEnc &&
      hook.previousSecretExpiresAt !== null &&
      hook.previousSecretExpiresAt > now
    ) {
      secrets.push(this.decrypt(hook.previousSecretEnc, secretContext));
    }
    const custom: Record<string, string> = hook.headersEnc
      ? (JSON.parse(this.decrypt(hook.headersEnc, blobContext.webhookHeaders(hook.id))) as Record<
          string,
          string
        >)
      : {};
    for (const [name, value] of Object.entries(custom)) {
      validateHeaderName(name);
      validateHeaderValue(name, value);
    }
    const timestamp = Math.floor(now / 1000);
    const signed = signatureHeaders({
      id: c.eventId,
      timestamp,
      bodySignatures: secrets.map((s) => signBody(c.body, s)),
      standardSignatures: secrets.map((s) => signStandard(c.body, s, c.eventId, timestamp)),
    });
    const headers: Record<string, string> = {
      'Content-Type': 'application/json',
      'User-Agent': this.userAgent,
      [H.event]: c.event,
      [H.eventId]: c.eventId,
      [H.delivery]: c.id,
      [H.attempt]: String(number),
      [H.timestamp]: signed['x-agentfactory-timestamp'],
      [H.signature]: signed['x-agentfactory-signature'],
      [H.webhookId]: signed['webhook-id'],
      [H.webhookTimestamp]: signed['webhook-timestamp'],
      [H.webhookSignature]: signed['webhook-signature'],
    };
    if (sample) headers[H.test] = '1';
    const recorded: Record<string, string> = { ...headers };
    for (const [name, value] of Object.entries(custom)) {
      headers[name] = value;
      recorded[name] = MASK;
    }
    return { headers, recorded };
  }
}
