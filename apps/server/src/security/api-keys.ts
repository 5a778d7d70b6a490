/**
 * API keys: `afk_` + 32 random bytes (base64url), shown once and stored only as a SHA-256 hash;
 * the admin key comes from the configuration and is compared in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** A new account API key. */
export function generateApiKey(): string {
  return `afk_${randomBytes(32).toString('base64url')}`;
}

/** SHA-256 hex of the whole key: what the store keeps and looks up. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** The first characters of a key, for people to recognise it. */
export function keyPrefix(key: string): string {
  return key.slice(0, 12);
}

/** Constant-time comparison of a presented key with the admin key (hashes equalize lengths). */
export function isAdminKey(presented: string, adminKey: string): boolean {
  return sameSecret(presented, adminKey);
}

/**
 * Constant-time comparison of a presented secret with the configured one: both are hashed first,
 * so the comparison runs over equal-length digests and its time says nothing about the length
 * or the prefix of the secret.
 */
export function sameSecret(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}
