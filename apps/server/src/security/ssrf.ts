import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP } from 'node:net';

/**
 * The SSRF guard. An endpoint URL is customer input, and the service runs inside someone's
 * network: with private networks disallowed, no attempt may ever connect to loopback, private,
 * link-local, CGNAT, multicast, unspecified, reserved or cloud-metadata addresses.
 *
 * Some addresses are refused even where private networks are allowed (`AF_ALLOW_PRIVATE_NETWORKS`,
 * the default only in development on SQLite): see `ALWAYS_REFUSED`. Allowing private networks
 * trusts the operator's own network (a receiver on the laptop, in the same VPC), not whatever
 * answers on the machine's cloud-metadata address, which hands out the instance's credentials.
 *
 * Checked twice: at creation on the URL's literal host (`literalHostRefusal`, a fast 400), and at
 * connect time on every address the hostname resolves to (`createGuardedLookup`) — the only check
 * that holds against DNS names pointing inward and DNS rebinding, because the address checked is
 * the address connected to. IP-literal hosts skip DNS lookup in `net.connect`, so the sender checks
 * those with `checkAddress` before connecting.
 */
export type AddressClass =
  | 'public'
  | 'loopback'
  | 'private'
  | 'link_local'
  | 'cgnat'
  | 'multicast'
  | 'unspecified'
  | 'metadata'
  | 'reserved';

/**
 * Refused whatever the policy:
 * - `metadata`: the cloud instance-metadata and wire-server addresses below; an SSRF there reads
 *   the instance's credentials.
 * - `unspecified` (0.0.0.0/8, `::`): connecting to 0.0.0.0 reaches this machine's loopback on
 *   Linux, so it is loopback under another name and, unlike `127.0.0.1`, never what a person
 *   means by a receiver's address.
 * - `link_local` (169.254.0.0/16, fe80::/10), the whole range and not only the addresses listed
 *   as `metadata`: the clouds keep putting credential services there (EC2 169.254.169.254, ECS
 *   169.254.170.2, EKS Pod Identity 169.254.170.23, DNS and time servers beside them), a list of
 *   single addresses lags behind them, and a webhook receiver has no reason to live on a
 *   self-assigned address (IPv6 link-local cannot even be named in a URL: it needs a zone).
 *   Allowing private networks for development loses nothing by it.
 */
export const ALWAYS_REFUSED: ReadonlySet<AddressClass> = new Set([
  'metadata',
  'unspecified',
  'link_local',
]);

/**
 * Host names of metadata services, refused at creation whatever the policy. At connect time the
 * address they resolve to decides (a metadata address, refused always).
 */
const METADATA_NAMES: ReadonlySet<string> = new Set([
  'metadata', // GCP, short name through the search domain
  'metadata.google.internal', // GCP
  'metadata.goog', // GCP
  'instance-data', // AWS EC2
  'instance-data.ec2.internal', // AWS EC2
]);

/** The error a refused address raises; the sender maps it to the attempt error `blocked_address`. */
export class BlockedAddressError extends Error {
  readonly code = 'ERR_BLOCKED_ADDRESS';
  constructor(
    readonly address: string,
    readonly addressClass: AddressClass,
  ) {
    super(
      ALWAYS_REFUSED.has(addressClass)
        ? `Connection to ${describeClass(addressClass)} refused (never allowed)`
        : `Connection to ${describeClass(addressClass)} refused (private networks are not allowed)`,
    );
    this.name = 'BlockedAddressError';
  }
}

/** The class in words, with its article, for messages. */
function describeClass(cls: AddressClass): string {
  return {
    public: 'a public address',
    loopback: 'a loopback address',
    private: 'a private address',
    link_local: 'a link-local address',
    cgnat: 'a carrier-grade NAT address',
    multicast: 'a multicast address',
    unspecified: 'an unspecified address (0.0.0.0 or ::, which reaches this machine)',
    metadata: 'a cloud-metadata address',
    reserved: 'a reserved address',
  }[cls];
}

type Range = [prefix: number[], bits: number, cls: AddressClass];

function v4(cidr: string, cls: AddressClass): Range {
  const [ip, bits] = cidr.split('/');
  return [ip!.split('.').map(Number), Number(bits ?? 32), cls];
}

// Most specific first: the first match wins.
const V4_RANGES: Range[] = [
  v4('169.254.169.254/32', 'metadata'), // AWS, GCP, Azure, OpenStack…
  v4('169.254.170.2/32', 'metadata'), // AWS ECS task metadata
  v4('100.100.100.200/32', 'metadata'), // Alibaba Cloud
  v4('168.63.129.16/32', 'metadata'), // Azure wire server
  v4('169.254.170.23/32', 'metadata'), // AWS EKS Pod Identity agent
  v4('0.0.0.0/8', 'unspecified'),
  v4('127.0.0.0/8', 'loopback'),
  v4('10.0.0.0/8', 'private'),
  v4('172.16.0.0/12', 'private'),
  v4('192.168.0.0/16', 'private'),
  v4('169.254.0.0/16', 'link_local'),
  v4('100.64.0.0/10', 'cgnat'),
  v4('224.0.0.0/4', 'multicast'),
  v4('240.0.0.0/4', 'reserved'), // incl. 255.255.255.255
  v4('192.0.0.0/24', 'reserved'), // IETF protocol assignments
  v4('192.0.2.0/24', 'reserved'), // TEST-NET-1
  v4('198.51.100.0/24', 'reserved'), // TEST-NET-2
  v4('203.0.113.0/24', 'reserved'), // TEST-NET-3
  v4('198.18.0.0/15', 'reserved'), // benchmarking
  v4('192.88.99.0/24', 'reserved'), // 6to4 relay anycast
];

function v6(prefixHex: string, bits: number, cls: AddressClass): Range {
  return [parseV6(prefixHex)!, bits, cls];
}

const LOCAL_NAT64 = v6('64:ff9b:1::', 48, 'reserved');

const V6_RANGES: Range[] = [
  v6('fd00:ec2::254', 128, 'metadata'), // AWS IMDS over IPv6
  v6('fd00:ec2::23', 128, 'metadata'), // AWS EKS Pod Identity agent over IPv6
  v6('fd20:ce::254', 128, 'metadata'), // GCP metadata server over IPv6
  v6('::', 128, 'unspecified'),
  v6('::1', 128, 'loopback'),
  v6('fe80::', 10, 'link_local'),
  v6('fec0::', 10, 'private'), // site-local (deprecated, still routed inside some networks)
  v6('fc00::', 7, 'private'), // unique local
  v6('ff00::', 8, 'multicast'),
  v6('2001:db8::', 32, 'reserved'), // documentation
  v6('3fff::', 20, 'reserved'), // documentation (RFC 9637)
  v6('100::', 64, 'reserved'), // discard
  LOCAL_NAT64,
  v6('2001::', 23, 'reserved'), // IETF protocol assignments, Teredo
];

function matches(bytes: number[], [prefix, bits]: Range): boolean {
  for (let i = 0; i < bits; i += 8) {
    const take = Math.min(8, bits - i);
    const mask = (0xff << (8 - take)) & 0xff;
    if (((bytes[i / 8] ?? 0) & mask) !== ((prefix[i / 8] ?? 0) & mask)) return false;
  }
  return true;
}

function parseV4(ip: string): number[] | null {
  const parts = ip.split('.');
  if (parts.length !== 4) return null;
  const bytes = parts.map((p) => (/^\d{1,3}$/.test(p) ? Number(p) : Number.NaN));
  return bytes.every((b) => b >= 0 && b <= 255) ? bytes : null;
}

/** 16 bytes of an IPv6 address (with an optional embedded dotted quad and zone), or null. */
function parseV6(input: string): number[] | null {
  let ip = input.replace(/^\[|\]$/g, '');
  const zone = ip.indexOf('%');
  if (zone >= 0) ip = ip.slice(0, zone);
  let tail: number[] = [];
  const lastColon = ip.lastIndexOf(':');
  if (ip.slice(lastColon + 1).includes('.')) {
    const quad = parseV4(ip.slice(lastColon + 1));
    if (!quad) return null;
    tail = quad;
    ip = `${ip.slice(0, lastColon + 1)}0:0`;
  }
  const halves = ip.split('::');
  if (halves.length > 2) return null;
  const groups = (s: string) => (s === '' ? [] : s.split(':'));
  const head = groups(halves[0]!);
  const rest = halves.length === 2 ? groups(halves[1]!) : [];
  const fill = 8 - head.length - rest.length;
  if (halves.length === 1 ? fill !== 0 : fill < 0) return null;
  const all = [...head, ...Array<string>(halves.length === 2 ? fill : 0).fill('0'), ...rest];
  const bytes: number[] = [];
  for (const g of all) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
    const n = Number.parseInt(g, 16);
    bytes.push(n >> 8, n & 0xff);
  }
  if (tail.length === 4) bytes.splice(12, 4, ...tail);
  return bytes.length === 16 ? bytes : null;
}

function classifyV4(bytes: number[]): AddressClass {
  for (const r of V4_RANGES) if (matches(bytes, r)) return r[2];
  return 'public';
}

function classifyV6(bytes: number[]): AddressClass {
  const zeros = (from: number, to: number) => bytes.slice(from, to).every((b) => b === 0);
  const embedded = () => classifyV4(bytes.slice(12));
  for (const r of V6_RANGES) {
    if (!matches(bytes, r)) continue;
    // Local-use NAT64 (64:ff9b:1::/48) is reserved, but where a network runs it with a /96
    // prefix the packet reaches the IPv4 address in the last 32 bits: when that one is refused
    // whatever the policy, so is this.
    if (r === LOCAL_NAT64 && zeros(6, 12) && ALWAYS_REFUSED.has(embedded())) return embedded();
    return r[2];
  }
  // IPv4 inside IPv6: mapped ::ffff:a.b.c.d, translated ::ffff:0:a.b.c.d (SIIT), compatible
  // ::a.b.c.d, NAT64 64:ff9b::a.b.c.d — the packet reaches the IPv4 address, so that address
  // decides.
  if (zeros(0, 10) && bytes[10] === 0xff && bytes[11] === 0xff) return embedded();
  if (zeros(0, 8) && bytes[8] === 0xff && bytes[9] === 0xff && zeros(10, 12)) return embedded();
  if (zeros(0, 12)) return embedded();
  if (matches(bytes, [[0, 0x64, 0xff, 0x9b], 96, 'public'])) return embedded();
  // 6to4 2002:a.b.c.d::/48 tunnels to the IPv4 address it embeds.
  if (bytes[0] === 0x20 && bytes[1] === 0x02) return classifyV4(bytes.slice(2, 6));
  // Only 2000::/3 is allocated as global unicast.
  if ((bytes[0]! & 0xe0) !== 0x20) return 'reserved';
  return 'public';
}

/** The class of an IP address (v4 or v6, brackets and zone allowed); `reserved` when unparsable. */
export function classifyAddress(ip: string): AddressClass {
  const bare = ip.replace(/^\[|\]$/g, '');
  const family = isIP(bare.split('%')[0]!);
  if (family === 4) return classifyV4(parseV4(bare)!);
  if (family === 6) {
    const bytes = parseV6(bare);
    return bytes ? classifyV6(bytes) : 'reserved';
  }
  return 'reserved';
}

/** The class that refuses an address under the policy, or null when it may be connected to. */
export function refusedClass(ip: string, allowPrivate: boolean): AddressClass | null {
  const cls = classifyAddress(ip);
  if (cls === 'public') return null;
  if (allowPrivate && !ALWAYS_REFUSED.has(cls)) return null;
  return cls;
}

/** Throws `BlockedAddressError` when the address may not be connected to. */
export function checkAddress(ip: string, allowPrivate: boolean): void {
  const cls = refusedClass(ip, allowPrivate);
  if (cls !== null) throw new BlockedAddressError(ip, cls);
}

/**
 * The create-time check, on the URL's host: why it is refused (a sentence for the API's 400
 * `url_not_allowed`, saying what to do), or null. Refused are IP literals in any form the WHATWG
 * URL parser normalizes (`0xa9fea9fe`, `169.254.43518`, `0`, `[::ffff:a9fe:a9fe]`, …) that the
 * policy refuses, names reserved for loopback (`localhost`, `*.localhost`) while private networks
 * are disallowed, and the metadata services' names always. Other host names are checked when
 * connecting, on the addresses they resolve to. An unparsable URL is not this check's business.
 */
export function literalHostRefusal(url: string, allowPrivate: boolean): string | null {
  let host: string;
  try {
    host = new URL(url).hostname.toLowerCase();
  } catch {
    return null;
  }
  if (host.endsWith('.')) host = host.slice(0, -1);
  if (METADATA_NAMES.has(host))
    return `url names ${host}, a cloud-metadata service: webhooks can never be sent there; use your receiver's public URL`;
  if (host === 'localhost' || host.endsWith('.localhost'))
    return allowPrivate ? null : privateRefusal(host, 'loopback');
  const bare = host.replace(/^\[|\]$/g, '');
  if (isIP(bare) === 0) return null;
  const cls = refusedClass(bare, allowPrivate);
  if (cls === null) return null;
  if (ALWAYS_REFUSED.has(cls))
    return `url names ${host}, ${describeClass(cls)}: webhooks can never be sent there; use your receiver's public URL`;
  return privateRefusal(host, cls);
}

function privateRefusal(host: string, cls: AddressClass): string {
  return `url names ${host}, ${describeClass(cls)}, and this service does not send webhooks to private networks: use a URL your receiver can be reached at from the internet (an operator can allow private networks with AF_ALLOW_PRIVATE_NETWORKS=true)`;
}

/** True when `literalHostRefusal` refuses the URL. */
export function isLiteralBlocked(url: string, allowPrivate = false): boolean {
  return literalHostRefusal(url, allowPrivate) !== null;
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/** `dns.lookup` with `all: true`: what the guarded lookup resolves with (tests inject their own). */
export type Resolver = (
  hostname: string,
  options: { family: 0 | 4 | 6; all: true; hints?: number },
  callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

/**
 * A `dns.lookup`-compatible function for `net`/`tls` `connect({ lookup })` (undici `connect`
 * option): resolves, then refuses the whole name when any address it resolves to is blocked, so a
 * name with one inward address cannot be raced to it. Answers in both callback shapes
 * (`all: true` arrays, used by Happy Eyeballs, and single address).
 */
export function createGuardedLookup(allowPrivate: boolean, resolve: Resolver = dnsLookup) {
  return function guardedLookup(
    hostname: string,
    options: { family?: number | string; all?: boolean; hints?: number } | number,
    callback: LookupCallback,
  ): void {
    const opts = typeof options === 'number' ? { family: options } : { ...options };
    const family =
      opts.family === 'IPv4' ? 4 : opts.family === 'IPv6' ? 6 : Number(opts.family ?? 0);
    resolve(
      hostname,
      { family: family as 0 | 4 | 6, all: true, ...(opts.hints ? { hints: opts.hints } : {}) },
      (err, addresses) => {
        if (err) return callback(err, opts.all ? [] : '', undefined);
        // Checked under either policy: some addresses are refused even where private networks
        // are allowed (`ALWAYS_REFUSED`).
        for (const a of addresses) {
          const cls = refusedClass(a.address, allowPrivate);
          if (cls !== null) {
            return callback(new BlockedAddressError(a.address, cls), opts.all ? [] : '');
          }
        }
        if (opts.all) return callback(null, addresses);
        const first = addresses[0];
        if (!first) {
          const e: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname}`);
          e.code = 'ENOTFOUND';
          return callback(e, '');
        }
        callback(null, first.address, first.family);
      },
    );
  };
}
