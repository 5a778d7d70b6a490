// biome-ignore-all lint/suspicious/noExplicitAny: API answers are read loosely in tests.
/**
 * The account's listen secret over HTTP (SPEC §5, issue 13) against a real in-process service
 * on SQLite: created on the first call, the same afterwards and under concurrent first calls,
 * rotated, one per account, encrypted at rest, account keys only. The store contract covers
 * PostgreSQL.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { secretProblem } from '../src/security/secrets.js';
import { type Call, client } from './helpers/client.js';
import { startTestServer, type TestServer } from './helpers/server.js';

let server: TestServer;
let call: Call;
let admin: Call;
let anon: Call;

beforeAll(async () => {
  server = await startTestServer();
  call = client(server.url, server.apiKey);
  admin = client(server.url, server.adminKey);
  anon = client(server.url);
});
afterAll(async () => {
  await server?.close();
});

function expectError(res: { status: number; body: any }, status: number, code: string) {
  expect({ status: res.status, code: res.body?.error?.code }).toEqual({ status, code });
  expect(typeof res.body.error.message).toBe('string');
}

/** A new account and a call with its key. */
async function newAccount(name: string): Promise<Call> {
  const created = await admin('POST', '/v1/accounts', { name });
  expect(created.status).toBe(201);
  return client(server.url, created.body.api_key);
}

describe('GET /v1/listen/secret', () => {
  it('creates a whsec_ secret on the first call, concurrent first calls get the same one', async () => {
    const own = await newAccount('Concurrent');
    const answers = await Promise.all([
      own('GET', '/v1/listen/secret'),
      own('GET', '/v1/listen/secret'),
      own('GET', '/v1/listen/secret'),
    ]);
    for (const res of answers) {
      expect(res.status).toBe(200);
      expect(Object.keys(res.body)).toEqual(['secret']);
    }
    const secret: string = answers[0]!.body.secret;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(secretProblem(secret)).toBeNull();
    expect(answers.map((r) => r.body.secret)).toEqual([secret, secret, secret]);
    // And on every later call.
    expect((await own('GET', '/v1/listen/secret')).body).toEqual({ secret });
  });

  it('is one per account', async () => {
    const a = (await call('GET', '/v1/listen/secret')).body.secret;
    const other = await newAccount('Other');
    const b = (await other('GET', '/v1/listen/secret')).body.secret;
    expect(b).not.toBe(a);
    expect((await call('GET', '/v1/listen/secret')).body.secret).toBe(a);
  });

  it('is encrypted at rest: the database files never hold it', async () => {
    const { secret } = (await call('GET', '/v1/listen/secret')).body;
    const dir = server.dataDir;
    for (const file of readdirSync(dir)) {
      const bytes = readFileSync(join(dir, file));
      expect(bytes.includes(Buffer.from(secret)), file).toBe(false);
      expect(bytes.includes(Buffer.from(secret.slice('whsec_'.length))), file).toBe(false);
    }
  });
});

describe('POST /v1/listen/secret/rotate', () => {
  it('answers a new secret, which every later GET answers', async () => {
    const own = await newAccount('Rotating');
    const before = (await own('GET', '/v1/listen/secret')).body.secret;
    const rotated = await own('POST', '/v1/listen/secret/rotate');
    expect(rotated.status).toBe(200);
    expect(rotated.body).toEqual({ secret: expect.stringMatching(/^whsec_/) });
    expect(rotated.body.secret).not.toBe(before);
    expect((await own('GET', '/v1/listen/secret')).body).toEqual(rotated.body);
  });

  it('rotates an account that never read it', async () => {
    const own = await newAccount('Fresh');
    const rotated = await own('POST', '/v1/listen/secret/rotate', {});
    expect(rotated.status).toBe(200);
    expect((await own('GET', '/v1/listen/secret')).body).toEqual(rotated.body);
  });

  it('refuses a body with fields (400 validation_error)', async () => {
    expectError(
      await call('POST', '/v1/listen/secret/rotate', { secret: 'whsec_x' }),
      400,
      'validation_error',
    );
  });
});

describe('authentication', () => {
  it('401 without a key or with a wrong one', async () => {
    for (const [method, path] of [
      ['GET', '/v1/listen/secret'],
      ['POST', '/v1/listen/secret/rotate'],
    ] as const) {
      expectError(await anon(method, path), 401, 'unauthorized');
      expectError(await client(server.url, 'afk_nope')(method, path), 401, 'unauthorized');
    }
  });

  it('the admin key gets 403 forbidden, as on the other account routes', async () => {
    expectError(await admin('GET', '/v1/listen/secret'), 403, 'forbidden');
    expectError(await admin('POST', '/v1/listen/secret/rotate'), 403, 'forbidden');
    expectError(await admin('GET', '/v1/webhooks'), 403, 'forbidden');
  });
});

describe('OpenAPI', () => {
  it('documents both routes with their answers', async () => {
    const doc = (await anon('GET', '/openapi.json')).body;
    const get = doc.paths['/v1/listen/secret'].get;
    expect(get.responses['200'].content['application/json'].schema.properties.secret.type).toBe(
      'string',
    );
    expect(Object.keys(get.responses).sort()).toEqual(['200', '401', '403']);
    const rotate = doc.paths['/v1/listen/secret/rotate'].post;
    expect(Object.keys(rotate.responses).sort()).toEqual(['200', '400', '401', '403']);
  });
});
