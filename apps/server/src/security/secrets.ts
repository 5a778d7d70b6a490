/**
 * Webhook signing secrets (SPEC §3): generated as `whsec_` + base64 of 32 random bytes, or
 * supplied by the customer within the rules below.
 */
import { randomBytes } from 'node:crypto';

/** A new secret: `whsec_` + base64 of 32 random bytes. */
export function generateSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/**
 * Why `secret` breaks the SPEC §3 rules, or null when it is acceptable: 16–256 printable ASCII
 * characters without whitespace; one that starts with `whsec_` must be valid base64 of 24–64
 * bytes after the prefix.
 */
export function secretProblem(secret: string): string | null {
  if (secret.length < 16 || secret.length > 256)
    return `must be 16 to 256 characters long (got ${secret.length})`;
  if (!/^[\x21-\x7e]+$/.test(secret))
    return 'must contain only printable ASCII characters, without spaces or other whitespace';
  if (secret.startsWith('whsec_')) {
    const b64 = secret.slice('whsec_'.length);
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0)
      return 'starts with whsec_, so the rest must be valid base64';
    const bytes = Buffer.from(b64, 'base64').length;
    if (bytes < 24 || bytes > 64)
      return `starts with whsec_, so the rest must be base64 of 24 to 64 bytes (got ${bytes})`;
  }
  return null;
}
