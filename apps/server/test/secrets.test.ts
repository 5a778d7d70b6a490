import { describe, expect, it } from 'vitest';
import { generateApiKey, hashApiKey, isAdminKey } from '../src/security/api-keys.js';
import { generateSecret, secretProblem } from '../src/security/secrets.js';

describe('webhook secrets', () => {
  it('generates whsec_ + base64 of 32 bytes, which passes the rules', () => {
    const s = generateSecret();
    expect(s).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(s.slice(6), 'base64')).toHaveLength(32);
    expect(secretProblem(s)).toBeNull();
    expect(generateSecret()).not.toBe(s);
  });

  it.each([
    ['short', /16 to 256/],
    ['x'.repeat(257), /16 to 256/],
    ['has a space in it!!', /whitespace/],
    ['tab\there-0123456789', /whitespace/],
    ['ünïcödé-0123456789', /ASCII/],
    ['whsec_not*base64*at-all', /base64/],
    [`whsec_${Buffer.alloc(16).toString('base64')}`, /24 to 64 bytes/],
    [`whsec_${Buffer.alloc(65).toString('base64')}`, /24 to 64 bytes/],
  ])('refuses %j', (secret, why) => {
    expect(secretProblem(secret)).toMatch(why);
  });

  it.each([
    'my-own-secret-1234',
    'x'.repeat(256),
    `whsec_${Buffer.alloc(24, 1).toString('base64')}`,
    `whsec_${Buffer.alloc(64, 1).toString('base64')}`,
  ])('accepts %j', (secret) => {
    expect(secretProblem(secret)).toBeNull();
  });
});

describe('API keys', () => {
  it('are afk_ keys hashed with SHA-256', () => {
    const k = generateApiKey();
    expect(k).toMatch(/^afk_[A-Za-z0-9_-]{43}$/);
    expect(hashApiKey(k)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashApiKey(k)).not.toContain(k);
  });
  it('compares the admin key exactly', () => {
    expect(isAdminKey('abc', 'abc')).toBe(true);
    expect(isAdminKey('abd', 'abc')).toBe(false);
    expect(isAdminKey('abcd', 'abc')).toBe(false);
  });
});
