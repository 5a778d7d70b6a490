// biome-ignore-all lint/suspicious/noExplicitAny: API answers are read loosely in tests.
/**
 * Tenant isolation: with two accounts, every route that takes an id answers 404 to the other
 * account's ids, and lists never show the other account's rows.
 */
import { eventSamples } from '@agentfactory/webhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Call, client, eventually } from './helpers/client.js';
import { type Receiver, startReceiver } from './helpers/receiver.js';
import { startTestServer, type TestServer } from './helpers/server.js';

let server: TestServer;
let receiver: Receiver;
let a: Call;
let b: Call;
const ids = { webhook: '', event: '', delivery: '', accountA: '', accountB: '' };

beforeAll(async () => {
  server = await startTestServer();
  receiver = await startReceiver();
  const admin = client(server.url, server.adminKey);
  const accountA = (await admin('POST', '/v1/accounts', { name: 'A' })).body;
  const accountB = (await admin('POST', '/v1/accounts', { name: 'B' })).body;
  ids.accountA = accountA.id;
  ids.accountB = accountB.id;
  a = client(server.url, accountA.api_key);
  b = client(server.url, accountB.api_key);
  const wh = await a('POST', '/v1/webhooks', { name: 'A', url: receiver.url, events: ['*'] });
  ids.webhook = wh.body.id;
  const evt = await a('POST', '/v1/events', {
    event: 'agent.created',
    data: eventSamples['agent.created'],
  });
  ids.event = evt.body.id;
  ids.delivery = (await a('GET', `/v1/events/${ids.event}`)).body.delivery_ids[0];
  await eventually(async () => {
    const d = await a('GET', `/v1/deliveries/${ids.delivery}`);
    return d.body.status === 'succeeded' ? true : undefined;
  });
});
afterAll(async () => {
  await server?.close();
  await receiver?.close();
});

describe('tenant isolation', () => {
  it("every route answers 404 to the other account's ids", async () => {
    const { webhook, event, delivery } = ids;
    const routes: [string, string, unknown?][] = [
      ['GET', `/v1/webhooks/${webhook}`],
      ['PATCH', `/v1/webhooks/${webhook}`, { name: 'stolen' }],
      ['GET', `/v1/webhooks/${webhook}/secret`],
      ['POST', `/v1/webhooks/${webhook}/secret/rotate`, {}],
      ['POST', `/v1/webhooks/${webhook}/test`, {}],
      ['POST', `/v1/webhooks/${webhook}/recover`, { since: '2020-01-01T00:00:00Z' }],
      ['GET', `/v1/webhooks/${webhook}/stats`],
      ['DELETE', `/v1/webhooks/${webhook}`],
      ['GET', `/v1/events/${event}`],
      ['GET', `/v1/deliveries/${delivery}`],
      ['POST', `/v1/deliveries/${delivery}/retry`],
    ];
    for (const [method, path, body] of routes) {
      const res = await b(method, path, body);
      expect({
        route: `${method} ${path}`,
        status: res.status,
        code: res.body?.error?.code,
      }).toEqual({
        route: `${method} ${path}`,
        status: 404,
        code: 'not_found',
      });
    }
    // Posting an event into the other account with account_id: 404 too.
    const post = await b('POST', '/v1/events', {
      event: 'agent.created',
      data: eventSamples['agent.created'],
      account_id: ids.accountA,
    });
    expect(post.status).toBe(404);
    // Nothing changed for A.
    const still = await a('GET', `/v1/webhooks/${webhook}`);
    expect(still.body.name).toBe('A');
    expect(receiver.requests).toHaveLength(1);
  });

  it("lists and filters never show the other account's rows", async () => {
    expect((await b('GET', '/v1/webhooks')).body.data).toEqual([]);
    expect((await b('GET', '/v1/events')).body.data).toEqual([]);
    expect((await b('GET', '/v1/deliveries')).body.data).toEqual([]);
    expect((await b('GET', `/v1/deliveries?webhook_id=${ids.webhook}`)).body.data).toEqual([]);
    expect((await b('GET', `/v1/deliveries?event_id=${ids.event}`)).body.data).toEqual([]);
    expect((await a('GET', '/v1/webhooks')).body.data).toHaveLength(1);
  });

  it("B's events do not fan out to A's webhooks", async () => {
    const res = await b('POST', '/v1/events', {
      event: 'agent.created',
      data: eventSamples['agent.created'],
    });
    expect(res.body.deliveries).toBe(0);
  });
});
