import { describe, expect, it } from 'vitest';
import {
  BlockedAddressError,
  checkAddress,
  classifyAddress,
  createGuardedLookup,
  isLiteralBlocked,
} from '../src/security/ssrf.js';

describe('classifyAddress (no traffic)', () => {
  const cases: [string, string][] = [
    // IPv4
    ['8.8.8.8', 'public'],
    ['93.184.216.34', 'public'],
    ['127.0.0.1', 'loopback'],
    ['127.1.2.3', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['172.32.0.1', 'public'],
    ['192.168.1.1', 'private'],
    ['169.254.1.1', 'link_local'],
    ['169.254.169.254', 'metadata'],
    ['169.254.170.2', 'metadata'],
    ['100.100.100.200', 'metadata'],
    ['168.63.129.16', 'metadata'],
    ['100.64.0.1', 'cgnat'],
    ['100.127.255.255', 'cgnat'],
    ['100.128.0.1', 'public'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['255.255.255.255', 'reserved'],
    ['240.0.0.1', 'reserved'],
    ['192.0.2.10', 'reserved'],
    ['198.51.100.7', 'reserved'],
    ['203.0.113.9', 'reserved'],
    ['198.18.0.1', 'reserved'],
    // IPv6
    ['2606:4700:4700::1111', 'public'],
    ['::1', 'loopback'],
    ['[::1]', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'link_local'],
    ['fe80::1%eth0', 'link_local'],
    ['fc00::1', 'private'],
    ['fd12:3456::1', 'private'],
    ['fec0::1', 'private'],
    ['fd00:ec2::254', 'metadata'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'reserved'],
    ['3fff::1', 'reserved'],
    ['100::1', 'reserved'],
    ['2001:0:4136:e378::1', 'reserved'], // Teredo
    ['4000::1', 'reserved'], // outside 2000::/3
    // IPv4 inside IPv6
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:10.1.2.3', 'private'],
    ['::ffff:169.254.169.254', 'metadata'],
    ['::ffff:8.8.8.8', 'public'],
    ['::127.0.0.1', 'loopback'],
    ['::a00:1', 'private'],
    ['64:ff9b::127.0.0.1', 'loopback'],
    ['64:ff9b::a9fe:a9fe', 'metadata'],
    ['64:ff9b::808:808', 'public'],
    ['64:ff9b:1::1', 'reserved'],
    ['2002:7f00:1::1', 'loopback'], // 6to4 of 127.0.0.1
    ['2002:808:808::1', 'public'],
    // Not an address
    ['example.com', 'reserved'],
    ['1.2.3', 'reserved'],
  ];
  it.each(cases)('%s → %s', (ip, cls) => {
    expect(classifyAddress(ip)).toBe(cls);
  });

  it('checkAddress throws only for non-public addresses when private is disallowed', () => {
    expect(() => checkAddress('127.0.0.1', false)).toThrow(BlockedAddressError);
    expect(() => checkAddress('127.0.0.1', true)).not.toThrow();
    expect(() => checkAddress('8.8.8.8', false)).not.toThrow();
  });
});

describe('isLiteralBlocked (create time)', () => {
  it.each([
    'http://127.0.0.1/',
    'http://127.1.2.3:8080/x',
    'http://127.1/',
    'http://0x7f000001/',
    'http://2130706433/',
    'http://0177.0.0.1/',
    'http://[::1]/',
    'http://[::ffff:127.0.0.1]/',
    'http://[::ffff:7f00:1]/',
    'http://169.254.169.254/latest/meta-data',
    'http://10.0.0.1/',
    'http://0.0.0.0/',
    'http://[fd00::1]/',
    'https://localhost/',
    'https://LOCALHOST./',
    'https://api.localhost/',
  ])('blocks %s', (url) => {
    expect(isLiteralBlocked(url)).toBe(true);
  });

  it.each([
    'https://example.com/hook',
    'https://8.8.8.8/',
    'https://[2606:4700:4700::1111]/',
    'not a url',
  ])('lets %s through', (url) => {
    expect(isLiteralBlocked(url)).toBe(false);
  });
});

describe('createGuardedLookup', () => {
  function lookup(allow: boolean, host: string, all: boolean) {
    return new Promise<{ err: NodeJS.ErrnoException | null; address: unknown }>((resolve) => {
      createGuardedLookup(allow)(host, { all }, (err, address) => resolve({ err, address }));
    });
  }

  it('refuses names that resolve to loopback', async () => {
    for (const all of [true, false]) {
      const r = await lookup(false, 'localhost', all);
      expect(r.err).toBeInstanceOf(BlockedAddressError);
      expect((r.err as BlockedAddressError).code).toBe('ERR_BLOCKED_ADDRESS');
    }
  });

  it('resolves them when private networks are allowed, in both callback shapes', async () => {
    const many = await lookup(true, 'localhost', true);
    expect(many.err).toBeNull();
    expect(Array.isArray(many.address)).toBe(true);
    const one = await lookup(true, 'localhost', false);
    expect(one.err).toBeNull();
    expect(['127.0.0.1', '::1']).toContain(one.address);
  });
});
