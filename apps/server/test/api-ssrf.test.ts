/**
 * The SSRF policy at the API (SPEC §6): on the development default (SQLite, private networks
 * allowed) a receiver on loopback or the LAN is accepted, while cloud-metadata, link-local and
 * unspecified hosts are a 400 `url_not_allowed` on create and on update, in every spelling.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { privateNetworksPolicy } from '../src/service.js';
import { type Call, client } from './helpers/client.js';
import { startTestServer, type TestServer } from './helpers/server.js';

let server: TestServer;
let call: Call;

beforeAll(async () => {
  server = await startTestServer();
  call = client(server.url, server.apiKey);
});
afterAll(async () => {
  await server.close();
});

const hook = (url: string) => ({ name: 'ssrf', url, events: ['*'] });

const REFUSED = [
  'http://169.254.169.254/latest/meta-data/',
  'http://2852039166/',
  'http://0xa9fea9fe/',
  'http://0251.0376.0251.0376/',
  'http://169.254.43518/',
  'http://[::ffff:169.254.169.254]/',
  'http://[::ffff:a9fe:a9fe]/',
  'http://[64:ff9b::a9fe:a9fe]/',
  'http://[2002:a9fe:a9fe::]/',
  'http://[fd00:ec2::254]/',
  'http://100.100.100.200/',
  'http://168.63.129.16/',
  'http://169.254.170.2/v2/credentials',
  'http://0.0.0.0:4000/',
  'http://0:4000/',
  'http://[::]:4000/',
  'http://[::ffff:0.0.0.0]:4000/',
  'http://metadata.google.internal/computeMetadata/v1/',
  'http://metadata/computeMetadata/v1/',
];

describe('SSRF policy with private networks allowed (development on SQLite)', () => {
  it('runs with private networks allowed', () => {
    expect(server.config.allowPrivateNetworks).toBe(true);
  });

  it.each(REFUSED)('refuses %s on create with 400 url_not_allowed', async (url) => {
    const res = await call('POST', '/v1/webhooks', hook(url));
    expect({ status: res.status, code: res.body?.error?.code }).toEqual({
      status: 400,
      code: 'url_not_allowed',
    });
    expect(res.body.error.message).toMatch(/can never be sent there/);
    expect(res.body.error.details).toEqual([{ path: '/url', message: res.body.error.message }]);
  });

  it('refuses them on update too, and keeps the URL it had', async () => {
    const created = await call('POST', '/v1/webhooks', hook('http://127.0.0.1:4000/hooks'));
    expect(created.status).toBe(201);
    for (const url of REFUSED) {
      const res = await call('PATCH', `/v1/webhooks/${created.body.id}`, { url });
      expect({ url, status: res.status, code: res.body?.error?.code }).toEqual({
        url,
        status: 400,
        code: 'url_not_allowed',
      });
    }
    const now = await call('GET', `/v1/webhooks/${created.body.id}`);
    expect(now.body.url).toBe('http://127.0.0.1:4000/hooks');
  });

  it.each([
    'http://127.0.0.1:4000/hooks',
    'http://localhost:4000/hooks',
    'http://10.1.2.3/hooks',
    'http://[::1]:4000/hooks',
  ])('accepts %s (a private network)', async (url) => {
    expect((await call('POST', '/v1/webhooks', hook(url))).status).toBe(201);
  });
});

describe('SSRF policy with private networks disallowed', () => {
  it('says what to do about a private address', async () => {
    const strict = await startTestServer({ AF_ALLOW_PRIVATE_NETWORKS: 'false' });
    try {
      const res = await client(strict.url, strict.apiKey)(
        'POST',
        '/v1/webhooks',
        hook('http://10.0.0.1/x'),
      );
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('url_not_allowed');
      expect(res.body.error.message).toMatch(
        /10\.0\.0\.1, a private address.*does not send webhooks to private networks/,
      );
    } finally {
      await strict.close();
    }
  });
});

describe('the start banner says which policy is in force', () => {
  const pg = 'postgres://u@127.0.0.1/db';
  it.each([
    [
      true,
      false,
      'development',
      undefined,
      /^allowed, but never .*\(development on SQLite; AF_ALLOW_PRIVATE_NETWORKS=false to refuse\)$/,
    ],
    [
      false,
      false,
      'development',
      pg,
      /^refused \(PostgreSQL; AF_ALLOW_PRIVATE_NETWORKS=true to allow\)$/,
    ],
    [
      false,
      false,
      'production',
      undefined,
      /^refused \(production; AF_ALLOW_PRIVATE_NETWORKS=true to allow\)$/,
    ],
    [true, true, 'production', pg, /^allowed, but never .*\(AF_ALLOW_PRIVATE_NETWORKS=true\)$/],
    [false, true, 'development', undefined, /^refused \(AF_ALLOW_PRIVATE_NETWORKS=false\)$/],
  ] as const)('allow=%s explicit=%s %s %s', (allow, explicit, env, databaseUrl, line) => {
    expect(
      privateNetworksPolicy({
        allowPrivateNetworks: allow,
        allowPrivateNetworksExplicit: explicit,
        env,
        databaseUrl,
      }),
    ).toMatch(line);
  });
});
