import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * Encryption at rest for webhook secrets and custom header values (SPEC §6 `AF_ENCRYPTION_KEY`).
 * AES-256-GCM authenticates as well as hides, so a row edited in the database fails to decrypt
 * instead of signing with an attacker's secret. The text format is versioned
 * (`v1.<iv>.<tag>.<ciphertext>`, base64url) so that a future key rotation or algorithm can be told
 * apart from today's blobs.
 */
export interface Cipher {
  encrypt(plain: string): string;
  /** Throws `DecryptError` when the blob was altered, is malformed, or used another key. */
  decrypt(blob: string): string;
}

export class DecryptError extends Error {
  readonly code = 'decrypt_failed';
  constructor(message = 'The encrypted value could not be decrypted (altered, or another key).') {
    super(message);
    this.name = 'DecryptError';
  }
}

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** `keyBase64` must decode to exactly 32 bytes (e.g. `openssl rand -base64 32`). */
export function createCipher(keyBase64: string): Cipher {
  const trimmed = keyBase64.trim();
  const key = Buffer.from(trimmed, 'base64');
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed) || key.length !== 32) {
    throw new TypeError(
      `The encryption key must be 32 bytes encoded as base64 (got ${key.length} bytes); generate one with \`openssl rand -base64 32\`.`,
    );
  }
  return {
    encrypt(plain: string): string {
      const iv = randomBytes(IV_BYTES);
      const c = createCipheriv('aes-256-gcm', key, iv);
      const ct = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
      const tag = c.getAuthTag();
      return [VERSION, iv, tag, ct]
        .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
        .join('.');
    },
    decrypt(blob: string): string {
      const parts = blob.split('.');
      if (parts.length !== 4 || parts[0] !== VERSION) {
        throw new DecryptError('The encrypted value has an unknown format.');
      }
      const iv = Buffer.from(parts[1]!, 'base64url');
      const tag = Buffer.from(parts[2]!, 'base64url');
      const ct = Buffer.from(parts[3]!, 'base64url');
      if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) {
        throw new DecryptError('The encrypted value has an unknown format.');
      }
      try {
        const d = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
        d.setAuthTag(tag);
        return Buffer.concat([d.update(ct), d.final()]).toString('utf8');
      } catch {
        throw new DecryptError();
      }
    },
  };
}
