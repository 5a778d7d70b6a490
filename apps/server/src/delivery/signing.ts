/**
 * The service's signatures (SPEC §3), with `node:crypto`. The SDK's `signBody`/`signStandard`
 * compute the same values with WebCrypto, which runs every HMAC as an asynchronous job on the
 * libuv thread pool: in a profile of a one-endpoint drain that job was the largest cost on the
 * service's thread after the store messages, and it adds a hop to every attempt, which holds one
 * of the endpoint's `AF_ENDPOINT_CONCURRENCY` slots meanwhile. `createHmac` on a body of a few KB
 * takes microseconds, synchronously. The key rules stay the SDK's (`standardWebhooksKey`), and
 * the shared vectors pass through the engine (`test/engine-vectors.test.ts`).
 */
import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { standardWebhooksKey } from '@agentfactory/webhooks';
import { LRUCache } from 'lru-cache';

/** The decoded Standard Webhooks key of each recent secret. */
const standardKeys = new LRUCache<string, KeyObject>({ max: 1024 });

/** `sha256=<hex>`: HMAC-SHA256 of the body, key = the UTF-8 bytes of the whole secret. */
export function signBody(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** `v1,<base64>`: HMAC-SHA256 of `{id}.{timestamp}.{body}` under the Standard Webhooks key. */
export function signStandard(body: string, secret: string, id: string, timestamp: number): string {
  const mac = createHmac('sha256', standardKey(secret));
  return `v1,${mac.update(`${id}.${timestamp}.`).update(body).digest('base64')}`;
}

function standardKey(secret: string): KeyObject {
  let key = standardKeys.get(secret);
  if (!key) {
    key = createSecretKey(standardWebhooksKey(secret));
    standardKeys.set(secret, key);
  }
  return key;
}
