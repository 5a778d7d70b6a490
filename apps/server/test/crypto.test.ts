import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createCipher, DecryptError } from '../src/security/crypto.js';

const key = randomBytes(32).toString('base64');

describe('createCipher', () => {
  it('round-trips text, with a fresh IV each time', () => {
    const c = createCipher(key);
    const plain = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw ✓ é';
    const a = c.encrypt(plain);
    const b = c.encrypt(plain);
    expect(a).not.toBe(b);
    expect(a).toMatch(/^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]+$/);
    expect(a).not.toContain('whsec_');
    expect(c.decrypt(a)).toBe(plain);
    expect(c.decrypt(b)).toBe(plain);
    expect(c.decrypt(c.encrypt(''))).toBe('');
  });

  it('detects tampering with the ciphertext, tag or IV', () => {
    const c = createCipher(key);
    const blob = c.encrypt('secret value');
    const parts = blob.split('.');
    for (const i of [1, 2, 3]) {
      const bytes = Buffer.from(parts[i]!, 'base64url');
      bytes[0] = bytes[0]! ^ 1;
      const altered = [...parts];
      altered[i] = bytes.toString('base64url');
      expect(() => c.decrypt(altered.join('.'))).toThrow(DecryptError);
    }
  });

  it('refuses another key and unknown formats', () => {
    const blob = createCipher(key).encrypt('x');
    expect(() => createCipher(randomBytes(32).toString('base64')).decrypt(blob)).toThrow(
      DecryptError,
    );
    const c = createCipher(key);
    expect(() => c.decrypt('plain text')).toThrow(DecryptError);
    expect(() => c.decrypt(blob.replace(/^v1/, 'v2'))).toThrow(DecryptError);
    expect(() => c.decrypt('v1.AAAA.AAAA.AAAA')).toThrow(DecryptError);
  });

  it('throws a clear error for a key that is not 32 bytes of base64', () => {
    expect(() => createCipher(randomBytes(16).toString('base64'))).toThrow(/32 bytes/);
    expect(() => createCipher('not base64 at all!!')).toThrow(/32 bytes/);
    expect(() => createCipher('')).toThrow(/32 bytes/);
    expect(() => createCipher(randomBytes(32).toString('base64url'))).not.toThrow();
  });
});
