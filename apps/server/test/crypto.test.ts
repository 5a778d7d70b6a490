import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { blobContext, createCipher, DecryptError, keyId } from '../src/security/crypto.js';

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

describe('createCipher with several keys and contexts (rotation)', () => {
  const older = randomBytes(32).toString('base64');
  const newer = randomBytes(32).toString('base64');
  const ctx = blobContext.webhookSecret('wh_1');

  it('seals in v2 under the newest key, naming it, bound to the context', () => {
    const c = createCipher([newer, older]);
    const blob = c.encrypt('secret value', ctx);
    const id = keyId(Buffer.from(newer, 'base64'));
    expect(c.keyIds).toEqual([id, keyId(Buffer.from(older, 'base64'))]);
    expect(blob.startsWith(`v2.${id}.`)).toBe(true);
    expect(blob.split('.')).toHaveLength(5);
    expect(c.isCurrent(blob)).toBe(true);
    expect(c.decrypt(blob, ctx)).toBe('secret value');
  });

  it('refuses a blob for another row or field with a clear error', () => {
    const c = createCipher(newer);
    const blob = c.encrypt('secret value', ctx);
    expect(() => c.decrypt(blob, blobContext.webhookSecret('wh_2'))).toThrow(
      /copied from another row or field/,
    );
    expect(() => c.decrypt(blob, blobContext.webhookHeaders('wh_1'))).toThrow(DecryptError);
    expect(() => c.decrypt(blob)).toThrow(DecryptError);
  });

  it('reads blobs of every configured key, and names a key that is not configured', () => {
    const old = createCipher(older);
    const v2 = old.encrypt('a', ctx);
    const v1 = old.encrypt('b');
    const both = createCipher([newer, older]);
    expect(both.decrypt(v2, ctx)).toBe('a');
    expect(both.decrypt(v1, ctx)).toBe('b');
    expect(both.isCurrent(v2)).toBe(false);
    expect(both.isCurrent(v1)).toBe(false);
    const newOnly = createCipher(newer);
    expect(() => newOnly.decrypt(v2, ctx)).toThrow(
      new RegExp(`key ${keyId(Buffer.from(older, 'base64'))}, which is not configured`),
    );
    expect(() => newOnly.decrypt(v1, ctx)).toThrow(DecryptError);
  });

  it('a listen session signs with its account listen secret', () => {
    expect(blobContext.secretOf('lsn_1', 'acct_1')).toBe(blobContext.listenSecret('acct_1'));
    expect(blobContext.secretOf('wh_1', 'acct_1')).toBe(blobContext.webhookSecret('wh_1'));
  });

  it('refuses no keys and the same key twice', () => {
    expect(() => createCipher([])).toThrow(/At least one/);
    expect(() => createCipher([newer, newer])).toThrow(/twice/);
  });
});
