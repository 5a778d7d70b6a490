import type { LookupAddress } from 'node:dns';
import { describe, expect, it } from 'vitest';
import {
  BlockedAddressError,
  checkAddress,
  classifyAddress,
  createGuardedLookup,
  isLiteralBlocked,
  literalHostRefusal,
  type Resolver,
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
    ['169.254.170.23', 'metadata'],
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
    ['fd00:ec2::23', 'metadata'],
    ['fd20:ce::254', 'metadata'],
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
    ['64:ff9b:1::808:808', 'reserved'],
    ['64:ff9b:1::1', 'unspecified'], // 0.0.0.1 behind a /96 local-use NAT64
    ['2002:7f00:1::1', 'loopback'], // 6to4 of 127.0.0.1
    ['2002:808:808::1', 'public'],
    ['2002:a9fe:a9fe::', 'metadata'], // 6to4 of 169.254.169.254
    ['::ffff:0:a9fe:a9fe', 'metadata'], // IPv4-translated (SIIT)
    ['::ffff:0:808:808', 'public'],
    ['64:ff9b:1::a9fe:a9fe', 'metadata'], // local-use NAT64 with a /96 prefix
    ['64:ff9b:1::a00:1', 'reserved'],
    ['::ffff:0:0', 'unspecified'],
    ['::0.0.0.0', 'unspecified'],
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
    expect(() => checkAddress('10.0.0.1', true)).not.toThrow();
    expect(() => checkAddress('fd12::1', true)).not.toThrow();
    expect(() => checkAddress('8.8.8.8', false)).not.toThrow();
  });

  // Every spelling of a metadata or unspecified address a resolver or the URL parser can hand the
  // sender, and link-local (see ALWAYS_REFUSED): refused under both policies.
  const alwaysRefused = [
    '169.254.169.254',
    '169.254.170.2',
    '169.254.170.23',
    '100.100.100.200',
    '168.63.129.16',
    '169.254.1.1',
    '0.0.0.0',
    '0.1.2.3',
    '::',
    '::ffff:169.254.169.254',
    '::ffff:a9fe:a9fe',
    '::ffff:0:a9fe:a9fe',
    '64:ff9b::a9fe:a9fe',
    '64:ff9b:1::a9fe:a9fe',
    '2002:a9fe:a9fe::',
    'fd00:ec2::254',
    'fd20:ce::254',
    '::ffff:0.0.0.0',
    '::ffff:0:0',
    'fe80::1',
  ];
  it.each(alwaysRefused)('checkAddress refuses %s even with private networks allowed', (ip) => {
    for (const allowPrivate of [true, false]) {
      let err: unknown;
      try {
        checkAddress(ip, allowPrivate);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(BlockedAddressError);
      expect((err as BlockedAddressError).message).toMatch(/never allowed/);
    }
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
    expect(isLiteralBlocked(url, true)).toBe(false);
  });

  // The spellings of SPEC §6's "refused always": the WHATWG parser normalizes the IPv4 forms
  // (decimal, hex, octal, short) to a dotted quad and IPv6 to its compressed form first.
  it.each([
    'http://169.254.169.254/latest/meta-data/',
    'http://2852039166/',
    'http://0xa9fea9fe/',
    'http://0251.0376.0251.0376/',
    'http://169.254.43518/',
    'http://169.16689662/',
    'http://[::ffff:169.254.169.254]/',
    'http://[::ffff:a9fe:a9fe]/',
    'http://[64:ff9b::a9fe:a9fe]/',
    'http://[2002:a9fe:a9fe::]/',
    'http://[fd00:ec2::254]/',
    'http://[fd20:ce::254]/',
    'http://100.100.100.200/',
    'http://168.63.129.16/',
    'http://169.254.170.2/v2/credentials',
    'http://169.254.1.1/',
    'http://0.0.0.0:8080/',
    'http://0/',
    'http://0x0/',
    'http://[::]/',
    'http://[::ffff:0.0.0.0]/',
    'http://metadata.google.internal/computeMetadata/v1/',
    'http://METADATA.Google.Internal./',
    'http://metadata/',
    'http://metadata.goog/',
    'http://instance-data/',
  ])('refuses %s under both policies, saying it never delivers there', (url) => {
    for (const allowPrivate of [true, false]) {
      const why = literalHostRefusal(url, allowPrivate);
      expect(why).toMatch(/can never be sent there/);
      expect(isLiteralBlocked(url, allowPrivate)).toBe(true);
    }
  });

  it('names the normalized host and the class in the message', () => {
    expect(literalHostRefusal('http://0xa9fea9fe/', true)).toMatch(
      /^url names 169\.254\.169\.254, a cloud-metadata address/,
    );
    expect(literalHostRefusal('http://0/', true)).toMatch(
      /^url names 0\.0\.0\.0, an unspecified address/,
    );
    expect(literalHostRefusal('http://10.0.0.1/', false)).toMatch(
      /private address, and this service does not send webhooks to private networks.*AF_ALLOW_PRIVATE_NETWORKS=true/,
    );
  });

  it.each([
    'http://127.0.0.1:4000/hook',
    'http://10.0.0.1/',
    'http://[fd00::1]/',
    'http://100.64.0.1/',
    'http://localhost:4000/',
    'http://metadata.example.com/',
  ])('lets %s through while private networks are allowed', (url) => {
    expect(literalHostRefusal(url, true)).toBeNull();
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

describe('createGuardedLookup with an injected resolver', () => {
  function resolverOf(...addresses: string[]): Resolver {
    return (_host, _opts, cb) =>
      cb(
        null,
        addresses.map(
          (address): LookupAddress => ({ address, family: address.includes(':') ? 6 : 4 }),
        ),
      );
  }
  function lookup(allow: boolean, resolver: Resolver, all: boolean) {
    return new Promise<{ err: NodeJS.ErrnoException | null; address: unknown }>((resolve) => {
      createGuardedLookup(allow, resolver)('receiver.example', { all }, (err, address) =>
        resolve({ err, address }),
      );
    });
  }

  it.each([
    ['169.254.169.254'],
    ['0.0.0.0'],
    ['::'],
    ['fd00:ec2::254'],
    ['::ffff:a9fe:a9fe'],
    ['169.254.20.10'],
  ])('refuses a name resolving to %s with private networks allowed', async (ip) => {
    for (const all of [true, false]) {
      const r = await lookup(true, resolverOf(ip), all);
      expect(r.err).toBeInstanceOf(BlockedAddressError);
      expect((r.err as BlockedAddressError).address).toBe(ip);
    }
  });

  it('refuses the whole name when one of its addresses is refused', async () => {
    const r = await lookup(true, resolverOf('10.0.0.5', '169.254.169.254'), true);
    expect(r.err).toBeInstanceOf(BlockedAddressError);
    const pub = await lookup(false, resolverOf('8.8.8.8', '0.0.0.0'), true);
    expect(pub.err).toBeInstanceOf(BlockedAddressError);
  });

  it('lets private addresses through only while they are allowed', async () => {
    const allowed = await lookup(true, resolverOf('10.0.0.5'), false);
    expect(allowed).toEqual({ err: null, address: '10.0.0.5' });
    const refused = await lookup(false, resolverOf('10.0.0.5'), false);
    expect(refused.err).toBeInstanceOf(BlockedAddressError);
    const pub = await lookup(false, resolverOf('8.8.8.8'), true);
    expect(pub).toEqual({ err: null, address: [{ address: '8.8.8.8', family: 4 }] });
  });
});
