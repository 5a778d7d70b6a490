/**
 * The service's signatures (SPEC §3), with `node:crypto`. The SDK's `signBody`/`signStandard`
 * compute the same values with WebCrypto, which runs every HMAC as an asynchronous job on the
 * libuv thread pool: a hop per attempt that costs more than the HMAC and holds the webhook's
 * slot meanwhile (docs/performance.md has the profile). `createHmac` on a body of a few KB takes
 * microseconds, synchronously. The key rules stay the SDK's (`standardWebhooksKey`), and the
 * shared vectors pass through the engine (`test/engine-vectors.test.ts`).
 */
import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { standardWebhooksKey } from '@agentfactory/webhooks';
import { LRUCache } from 'lru-cache';

/** Secrets kept with their keys: a worker's webhooks in flight and their rotations fit. */
const KEY_CACHE_SIZE = 1024;

/** Both HMAC keys of one secret, made once: the body scheme's and the Standard Webhooks one's. */
interface SecretKeys {
  body: KeyObject;
  standard: KeyObject;
}

/** The service's one signature cache: each recent secret's keys (an `lru-cache`). */
const keys = new LRUCache<string, SecretKeys>({ max: KEY_CACHE_SIZE });

/** `sha256=<hex>`: HMAC-SHA256 of the body, key = the UTF-8 bytes of the whole secret. */
export function signBody(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', keysOf(secret).body).update(body).digest('hex')}`;
}

/** `v1,<base64>`: HMAC-SHA256 of `{id}.{timestamp}.{body}` under the Standard Webhooks key. */
export function signStandard(body: string, secret: string, id: string, timestamp: number): string {
  const mac = createHmac('sha256', keysOf(secret).standard);
  return `v1,${mac.update(`${id}.${timestamp}.`).update(body).digest('base64')}`;
}

function keysOf(secret: string): SecretKeys {
  let k = keys.get(secret);
  if (!k) {
    k = {
      body: createSecretKey(Buffer.from(secret, 'utf8')),
      standard: createSecretKey(standardWebhooksKey(secret)),
    };
    keys.set(secret, k);
  }
  return k;
}
