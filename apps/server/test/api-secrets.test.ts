/**
 * Secrets stay secret: after webhooks with secrets and custom headers, API keys, events,
 * deliveries, a rotation, the account's listen secret (read and rotated) and a test, neither the SQLite files (database, WAL) nor the captured
 * logs (at trace level) hold a webhook secret, an API key or a custom header value in plaintext.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { eventSamples } from '@agentfactory/webhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, eventually } from './helpers/client.js';
import { type Receiver, startReceiver } from './helpers/receiver.js';
import { startTestServer, type TestServer } from './helpers/server.js';

let server: TestServer;
let receiver: Receiver;
let logs = '';
const capture = new Writable({
  write(chunk, _enc, done) {
    logs += chunk.toString();
    done();
  },
});

const OWN_SECRET = 'plaintext-own-secret-7f3a9c';
const HEADER_VALUE = 'plaintext-header-value-5e1d2b';
const secrets: string[] = [OWN_SECRET, HEADER_VALUE];

beforeAll(async () => {
  server = await startTestServer({ AF_LOG_LEVEL: 'trace' }, { logStream: capture });
  receiver = await startReceiver();
  secrets.push(server.apiKey, server.adminKey);
  const admin = client(server.url, server.adminKey);
  const other = await admin('POST', '/v1/accounts', { name: 'Other' });
  secrets.push(other.body.api_key);
  const extra = await admin('POST', `/v1/accounts/${other.body.id}/api-keys`);
  secrets.push(extra.body.api_key);

  const call = client(server.url, server.apiKey);
  const own = await call('POST', '/v1/webhooks', {
    name: 'own',
    url: receiver.url,
    events: ['*'],
    secret: OWN_SECRET,
    headers: { 'X-Receiver-Token': HEADER_VALUE },
  });
  const generated = await call('POST', '/v1/webhooks', {
    name: 'gen',
    url: receiver.url,
    events: ['agent.*'],
  });
  secrets.push(generated.body.secret);
  const rotated = await call('POST', `/v1/webhooks/${generated.body.id}/secret/rotate`, {});
  secrets.push(rotated.body.secret);
  const listen = await call('GET', '/v1/listen/secret');
  secrets.push(listen.body.secret);
  const listenRotated = await call('POST', '/v1/listen/secret/rotate');
  secrets.push(listenRotated.body.secret);
  await call('POST', `/v1/webhooks/${own.body.id}/test`, {});
  const evt = await call('POST', '/v1/events', {
    event: 'agent.created',
    data: eventSamples['agent.created'],
  });
  expect(evt.body.deliveries).toBe(2);
  await eventually(async () => (receiver.requests.length >= 3 ? true : undefined));
  // The receiver did get the header: it exists, just not in our files.
  expect(receiver.requests.some((r) => r.headers['x-receiver-token'] === HEADER_VALUE)).toBe(true);
  await eventually(async () => {
    const d = await call('GET', `/v1/deliveries?event_id=${evt.body.id}`);
    return d.body.data.every((x: { status: string }) => x.status === 'succeeded')
      ? true
      : undefined;
  });
});
afterAll(async () => {
  await server?.close();
  await receiver?.close();
});

describe('secrets at rest and in logs', () => {
  it('the SQLite files hold no secret, API key or custom header value', () => {
    const files = readdirSync(server.dataDir).filter((f) => f.startsWith('agentfactory.db'));
    expect(files).toContain('agentfactory.db');
    for (const f of files) {
      const bytes = readFileSync(join(server.dataDir, f));
      for (const s of secrets) {
        expect(bytes.includes(Buffer.from(s)), `${s.slice(0, 10)}… in ${f}`).toBe(false);
      }
      // A whsec_ secret's base64 body could be stored without its prefix: not that either.
      for (const s of secrets.filter((x) => x.startsWith('whsec_'))) {
        expect(bytes.includes(Buffer.from(s.slice(6)))).toBe(false);
      }
    }
  });

  it('the logs hold none of them either (and the logs did capture requests)', () => {
    expect(logs).toContain('"url":"/v1/webhooks"');
    for (const s of secrets) expect(logs.includes(s), `${s.slice(0, 10)}… in logs`).toBe(false);
  });
});
