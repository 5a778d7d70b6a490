// biome-ignore-all lint/suspicious/noExplicitAny: API answers are read loosely in tests.
/**
 * The API routes that drive the delivery engine, against real loopback receivers: the test
 * action (also to an inactive webhook), manual retry (202, 409 delivery_in_flight), recover,
 * stats, and a delivery log that reads back what the receiver saw.
 */
import { eventSamples } from '@agentfactory/webhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Call, client, eventually, respond } from './helpers/client.js';
import { type Receiver, startReceiver } from './helpers/receiver.js';
import { startTestServer, type TestServer } from './helpers/server.js';

let server: TestServer;
let call: Call;
let receiver: Receiver;

beforeAll(async () => {
  server = await startTestServer({ AF_MAX_RETRIES: '1', AF_RETRY_BASE_DELAY: '200ms' });
  call = client(server.url, server.apiKey);
  receiver = await startReceiver();
});
afterAll(async () => {
  await server?.close();
  await receiver?.close();
});

async function newHook(over: Record<string, unknown> = {}) {
  const res = await call('POST', '/v1/webhooks', {
    name: 'R',
    url: receiver.url,
    events: ['agent.updated'],
    ...over,
  });
  expect(res.status).toBe(201);
  return res.body as { id: string; secret: string };
}

/** The delivery of `eventId` to `webhookId`. */
async function deliveryOf(eventId: string, webhookId: string): Promise<string> {
  const res = await call('GET', `/v1/deliveries?event_id=${eventId}&webhook_id=${webhookId}`);
  expect(res.body.data).toHaveLength(1);
  return res.body.data[0].id;
}

async function settled(deliveryId: string) {
  return eventually(
    async () => {
      const d = await call('GET', `/v1/deliveries/${deliveryId}`);
      return d.body.status !== 'pending' && !d.body.attempts.some((x: any) => x === null)
        ? d.body
        : undefined;
    },
    15_000,
    `delivery ${deliveryId} to settle`,
  );
}

describe('test action', () => {
  it('sends webhook.test now and answers the outcome; logged as a delivery', async () => {
    const wh = await newHook({ headers: { 'X-Custom': 'custom-value-123' } });
    respond(receiver, () => ({ status: 200, body: 'hello from receiver' }));
    const before = receiver.requests.length;
    const res = await call('POST', `/v1/webhooks/${wh.id}/test`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      delivery_id: expect.stringMatching(/^dlv_/),
      success: true,
      status_code: 200,
      duration_ms: expect.any(Number),
      response_body: 'hello from receiver',
      response_body_encoding: 'utf8',
      error: null,
      request: {
        url: receiver.url,
        method: 'POST',
        headers: expect.objectContaining({ 'X-Custom': '••••' }),
        body: expect.stringContaining('webhook.test'),
      },
      response: {
        status: 200,
        headers: expect.any(Object),
        body: 'hello from receiver',
        body_encoding: 'utf8',
      },
      diagnosis: null,
    });
    const got = receiver.requests[before]!;
    expect(got.headers['x-agentfactory-event']).toBe('webhook.test');
    expect(got.headers['x-custom']).toBe('custom-value-123');
    expect(JSON.parse(got.body).data).toMatchObject({ webhook_id: wh.id });
    const d = await call('GET', `/v1/deliveries/${res.body.delivery_id}`);
    expect(d.body).toMatchObject({ status: 'succeeded', event: 'webhook.test', webhook_id: wh.id });
    expect(d.body.attempts).toHaveLength(1);
    expect(d.body.attempts[0]).toMatchObject({ trigger: 'test', status_code: 200, number: 1 });
    expect(
      d.body.attempts[0].request_headers['X-Custom'] ??
        d.body.attempts[0].request_headers['x-custom'],
    ).toBe('••••');
    expect(JSON.stringify(d.body)).not.toContain('custom-value-123');
  });

  it('with a chosen event: its sample and X-AgentFactory-Test: 1; failure answered as 200', async () => {
    const wh = await newHook();
    respond(receiver, () => ({ status: 500, body: 'boom' }));
    const before = receiver.requests.length;
    const res = await call('POST', `/v1/webhooks/${wh.id}/test`, { event: 'conversation.ended' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      success: false,
      status_code: 500,
      response_body: 'boom',
      response_body_encoding: 'utf8',
      error: 'response_status',
    });
    const got = receiver.requests[before]!;
    expect(got.headers['x-agentfactory-event']).toBe('conversation.ended');
    expect(got.headers['x-agentfactory-test']).toBe('1');
    expect(JSON.parse(got.body).data).toEqual(eventSamples['conversation.ended']);
    // Never retried.
    await new Promise((r) => setTimeout(r, 600));
    expect(receiver.requests.length).toBe(before + 1);
    const d = await call('GET', `/v1/deliveries/${res.body.delivery_id}`);
    expect(d.body).toMatchObject({ status: 'failed', next_attempt_at: null });
    respond(receiver, () => ({}));
  });

  it('reaches an inactive webhook; unknown event → 422; unknown webhook → 404', async () => {
    const wh = await newHook({ active: false });
    respond(receiver, () => ({}));
    const res = await call('POST', `/v1/webhooks/${wh.id}/test`, {});
    expect(res.body.success).toBe(true);
    const bad = await call('POST', `/v1/webhooks/${wh.id}/test`, { event: 'agent.exploded' });
    expect(bad.status).toBe(422);
    expect(bad.body.error.code).toBe('unknown_event_type');
    const none = await call('POST', '/v1/webhooks/wh_01HMB7ZK2C8D9E0F1G2H3J4K5M/test', {});
    expect(none.status).toBe(404);
  });
});

describe('lifecycle through the API', () => {
  it('deleting a webhook fails its pending deliveries; their log stays readable', async () => {
    const wh = await newHook({ events: ['agent.undeployed'] });
    respond(receiver, () => ({ status: 500 }));
    const evt = await call('POST', '/v1/events', {
      event: 'agent.undeployed',
      data: eventSamples['agent.undeployed'],
    });
    const id = await deliveryOf(evt.body.id, wh.id);
    await eventually(async () => {
      const d = await call('GET', `/v1/deliveries/${id}`);
      return d.body.attempt_count >= 1 && d.body.status === 'pending' ? true : undefined;
    });
    expect((await call('DELETE', `/v1/webhooks/${wh.id}`)).status).toBe(204);
    const d = await call('GET', `/v1/deliveries/${id}`);
    expect(d.status).toBe(200);
    expect(d.body).toMatchObject({ status: 'failed', next_attempt_at: null, webhook_id: wh.id });
    expect(d.body.attempts.length).toBeGreaterThanOrEqual(1);
    respond(receiver, () => ({}));
  });

  it('a disabled webhook gets no new deliveries; re-enabled, it does', async () => {
    const wh = await newHook({ events: ['agent.deployed'], active: false });
    const before = await call('POST', '/v1/events', {
      event: 'agent.deployed',
      data: eventSamples['agent.deployed'],
    });
    expect(before.body.deliveries).toBe(0);
    await call('PATCH', `/v1/webhooks/${wh.id}`, { active: true });
    const after = await call('POST', '/v1/events', {
      event: 'agent.deployed',
      data: eventSamples['agent.deployed'],
    });
    expect(after.body.deliveries).toBe(1);
  });
});

describe('retry, recover, stats', () => {
  it('a failed delivery is retried manually (202) and succeeds', async () => {
    const wh = await newHook({ events: ['agent.deleted'] });
    respond(receiver, () => ({ status: 503, body: 'down' }));
    const evt = await call('POST', '/v1/events', {
      event: 'agent.deleted',
      data: eventSamples['agent.deleted'],
    });
    const deliveryId = await deliveryOf(evt.body.id, wh.id);
    const failed = await settled(deliveryId);
    expect(failed).toMatchObject({
      status: 'failed',
      attempt_count: 2,
      last_status_code: 503,
      last_error: 'response_status',
      next_attempt_at: null,
    });
    expect(failed.attempts.map((x: any) => x.trigger)).toEqual(['scheduled', 'scheduled']);

    respond(receiver, () => ({ status: 204 }));
    const retry = await call('POST', `/v1/deliveries/${deliveryId}/retry`);
    expect(retry.status).toBe(202);
    expect(retry.body.id).toBe(deliveryId);
    const ok = await eventually(async () => {
      const d = await call('GET', `/v1/deliveries/${deliveryId}`);
      return d.body.status === 'succeeded' ? d.body : undefined;
    });
    expect(ok.attempts.map((x: any) => x.trigger)).toEqual(['scheduled', 'scheduled', 'manual']);
    const list = await call('GET', `/v1/deliveries?webhook_id=${wh.id}&status=succeeded`);
    expect(list.body.data.map((d: any) => d.id)).toEqual([deliveryId]);
    expect(
      (await call('GET', `/v1/deliveries?webhook_id=${wh.id}&status=failed`)).body.data,
    ).toEqual([]);
    expect((await call('GET', `/v1/webhooks/${wh.id}`)).body).toMatchObject({
      last_delivery_status: 'succeeded',
      last_delivery_at: expect.any(String),
    });
  });

  it('409 delivery_in_flight while an attempt runs', async () => {
    const wh = await newHook({ events: ['error.resolved'] });
    respond(receiver, () => ({ status: 200, delayMs: 1500 }));
    const before = receiver.requests.length;
    const evt = await call('POST', '/v1/events', {
      event: 'error.resolved',
      data: eventSamples['error.resolved'],
    });
    const deliveryId = await deliveryOf(evt.body.id, wh.id);
    await receiver.waitFor(before + 1);
    const res = await call('POST', `/v1/deliveries/${deliveryId}/retry`);
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('delivery_in_flight');
    await settled(deliveryId);
    respond(receiver, () => ({}));
    expect((await call('POST', '/v1/deliveries/dlv_01HMB7ZK2C8D9E0F1G2H3J4K5M/retry')).status).toBe(
      404,
    );
  });

  it('recover re-attempts failed deliveries since a time (202 {deliveries})', async () => {
    const wh = await newHook({ events: ['usage.limit'] });
    respond(receiver, () => ({ status: 500 }));
    const since = new Date(Date.now() - 1000).toISOString();
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const evt = await call('POST', '/v1/events', {
        event: 'usage.limit',
        data: eventSamples['usage.limit'],
      });
      ids.push(await deliveryOf(evt.body.id, wh.id));
    }
    for (const id of ids) expect((await settled(id)).status).toBe('failed');
    respond(receiver, () => ({}));
    const res = await call('POST', `/v1/webhooks/${wh.id}/recover`, { since });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ deliveries: 2 });
    for (const id of ids) {
      await eventually(async () =>
        (await call('GET', `/v1/deliveries/${id}`)).body.status === 'succeeded' ? true : undefined,
      );
    }
    const d = await call('GET', `/v1/deliveries/${ids[0]}`);
    expect(d.body.attempts.at(-1).trigger).toBe('recover');
    expect((await call('POST', `/v1/webhooks/${wh.id}/recover`, {})).status).toBe(400);
    expect(
      (await call('POST', `/v1/webhooks/${wh.id}/recover`, { since: 'yesterday' })).status,
    ).toBe(400);

    const stats = await call('GET', `/v1/webhooks/${wh.id}/stats?window=24h&bucket=1h`);
    expect(stats.status).toBe(200);
    expect(stats.body).toMatchObject({ window: '24h', attempts: 6 });
    expect(stats.body.success_rate).toBeCloseTo(2 / 6, 5);
    expect(stats.body.buckets).toHaveLength(24);
    const total = stats.body.buckets.reduce(
      (n: number, b: any) => n + b.succeeded + b.failed + b.pending,
      0,
    );
    expect(total).toBe(2);
    expect(stats.body.p50_ms).toEqual(expect.any(Number));
    expect(
      (await call('GET', `/v1/webhooks/${wh.id}/stats?window=1h&bucket=5m`)).body.buckets,
    ).toHaveLength(12);
    for (const bad of ['window=forever', 'bucket=2h&window=1h', 'window=1y', 'bucket=1s']) {
      const r = await call('GET', `/v1/webhooks/${wh.id}/stats?${bad}`);
      expect(r.status, bad).toBe(400);
      expect(r.body.error.code).toBe('validation_error');
    }
  });
});
