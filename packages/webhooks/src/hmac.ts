const KEY_CACHE_LIMIT = 1000;
const keyCache = new Map<string, Promise<CryptoKey>>();

/** Imports an HMAC-SHA256 key once per (scheme, secret): importKey is the costly part of signing. */
function hmacKey(cacheKey: string, keyBytes: Uint8Array): Promise<CryptoKey> {
  let key = keyCache.get(cacheKey);
  if (key) {
    keyCache.delete(cacheKey);
    keyCache.set(cacheKey, key);
    return key;
  }
  key = globalThis.crypto.subtle.importKey(
    'raw',
    keyBytes as Uint8Array<ArrayBuffer>,
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  );
  keyCache.set(cacheKey, key);
  if (keyCache.size > KEY_CACHE_LIMIT) keyCache.delete(keyCache.keys().next().value as string);
  return key;
}

/** HMAC-SHA256 of `message` under `keyBytes`; `cacheKey` names the key for reuse. */
export async function hmacSha256(
  cacheKey: string,
  keyBytes: Uint8Array,
  message: Uint8Array,
): Promise<Uint8Array> {
  const key = await hmacKey(cacheKey, keyBytes);
  const mac = await globalThis.crypto.subtle.sign('HMAC', key, message as Uint8Array<ArrayBuffer>);
  return new Uint8Array(mac);
}

/** Compares two byte strings in time that depends only on their lengths. */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}
