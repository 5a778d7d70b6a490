/**
 * Endpoint health end to end, on SQLite and on PostgreSQL: the whole service with an injected
 * clock, real receivers on loopback, operational events verified with the SDK as a customer's
 * receiver would. A webhook whose deliveries fail is `failing` (and the account is told), one
 * that succeeds again `recovered`; past `AF_AUTO_DISABLE_AFTER` (the clock advanced, not waited
 * for) it is disabled; enabling it clears its health. Events about a webhook never reach it.
 */
import { type AgentFactoryEvent, constructEvent, eventSamples } from '@agentfactory/webhooks';
import { afterAll, describe, expect, it, vi } from 'vitest';
import type { Clock } from '../src/clock.js';
import { type Call, client, eventually } from './helpers/client.js';
import { describePostgres } from './helpers/postgres.js';
import { type Receiver, startReceiver } from './helpers/receiver.js';
import { startTestServer, type TestServer } from './helpers/server.js';

vi.setConfig({ testTimeout: 60_000 });

const HOUR = 60 * 60 * 1000;

const started: (TestServer | Receiver)[] = [];
afterAll(async () => {
  for (const s of started.reverse()) await s.close();
});

/** The system clock, moved forward on demand. */
function movableClock(): Clock & { advance(ms: number): void } {
  let offset = 0;
  return {
    now: () => Date.now() + offset,
    advance(ms) {
      offset += ms;
    },
  };
}

async function receiver(): Promise<Receiver> {
  const r = await startReceiver();
  started.push(r);
  return r;
}

async function scenario(env: Record<string, string>, databaseSchema?: string): Promise<void> {
  const clock = movableClock();
  const server = await startTestServer(
    {
      ...env,
      // Every delivery has one attempt: its failure exhausts it.
      AF_MAX_RETRIES: '0',
      AF_AUTO_DISABLE_AFTER: '1h',
    },
    {
      clock,
      operationsIntervalMs: 50,
      pendingRefreshMs: 50,
      ...(databaseSchema ? { databaseSchema } : {}),
    },
  );
  started.push(server);
  const call: Call = client(server.url, server.apiKey);

  const monitor = await receiver();
  const bad = await receiver();
  bad.respond = () => ({ status: 500, body: 'down' });
  const flaky = await receiver();
  let flakyUp = false;
  flaky.respond = () => (flakyUp ? {} : { status: 503, body: 'later' });

  const create = async (name: string, url: string, events: string[]) => {
    const r = await call('POST', '/v1/webhooks', { name, url, events });
    expect(r.status).toBe(201);
    return r.body as { id: string; secret: string };
  };
  const mon = await create('ops', monitor.url, ['webhook.*']);
  const badHook = await create('bad', bad.url, ['agent.*']);
  // Subscribes to webhook.recovered: it must not receive the one about itself.
  const flakyHook = await create('flaky', flaky.url, ['agent.*', 'webhook.recovered']);

  /**
   * The monitor's events so far, each verified once, when first seen (both signatures, the
   * timestamp at the service's clock, which moves on later).
   */
  const verified: AgentFactoryEvent[] = [];
  const seen = async (): Promise<AgentFactoryEvent[]> => {
    for (const r of monitor.requests.slice(verified.length)) {
      verified.push(
        await constructEvent(r.body, r.headers as Record<string, string>, mon.secret, {
          now: clock.now,
          requireTimestamp: true,
        }),
      );
    }
    return verified.slice();
  };
  const waitSeen = (n: number) => monitor.waitFor(n, 15_000).then(seen);
  const webhook = async (id: string) => (await call('GET', `/v1/webhooks/${id}`)).body;
  const post = async (event: 'agent.created' | 'agent.updated') => {
    const r = await call('POST', '/v1/events', { event, data: eventSamples[event] });
    expect(r.status).toBe(202);
  };

  // Both endpoints fail the first delivery: each is failing, and the account is told of both.
  const failedAt = clock.now();
  await post('agent.created');
  const first = await waitSeen(2);
  expect(first.map((e) => e.event)).toEqual(['webhook.failing', 'webhook.failing']);
  const failing = new Map(first.map((e) => [(e.data as { webhook_id: string }).webhook_id, e]));
  expect(failing.get(badHook.id)?.data).toMatchObject({
    webhook_id: badHook.id,
    url: bad.url,
    failed_deliveries: 1,
    last_error: 'response_status',
  });
  expect(failing.has(flakyHook.id)).toBe(true);
  const badHealth = (await webhook(badHook.id)).health;
  expect(badHealth).toMatchObject({ state: 'failing', consecutive_failures: 1 });
  expect(Date.parse(badHealth.failing_since)).toBeGreaterThanOrEqual(failedAt);
  expect(badHealth.last_failure_at).toBe(badHealth.failing_since);
  expect(badHealth.last_success_at).toBeNull();

  // flaky answers again: it recovers, and is told of nothing about itself.
  flakyUp = true;
  await post('agent.updated');
  const second = await waitSeen(3);
  expect(second[2]).toMatchObject({
    event: 'webhook.recovered',
    data: { webhook_id: flakyHook.id, url: flaky.url },
  });
  expect((await webhook(flakyHook.id)).health).toMatchObject({
    state: 'healthy',
    failing_since: null,
    consecutive_failures: 0,
  });
  expect((await webhook(badHook.id)).health.consecutive_failures).toBe(2);

  // Past AF_AUTO_DISABLE_AFTER on the service's clock: bad is disabled, flaky is not.
  clock.advance(2 * HOUR);
  const third = await waitSeen(4);
  expect(third[3]).toMatchObject({
    event: 'webhook.disabled',
    data: { webhook_id: badHook.id, url: bad.url, reason: 'failing' },
  });
  const disabled = await webhook(badHook.id);
  expect(disabled).toMatchObject({
    active: false,
    disabled_reason: 'failing',
    health: { state: 'disabled', consecutive_failures: 2 },
  });
  expect((await webhook(flakyHook.id)).active).toBe(true);

  // The operators see it too.
  const metrics = await eventually(async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    return text.includes('agentfactory_webhooks_disabled{reason="failing"} 1') ? text : undefined;
  });
  expect(metrics).toContain('agentfactory_webhooks_failing 0');

  // Enabling it clears its health.
  const enabled = await call('PATCH', `/v1/webhooks/${badHook.id}`, { active: true });
  expect(enabled.body).toMatchObject({
    active: true,
    disabled_reason: null,
    health: { state: 'healthy', failing_since: null, consecutive_failures: 0 },
  });
  expect(enabled.body.health.last_failure_at).not.toBeNull();

  // A user disables flaky: the account is told that too.
  const off = await call('PATCH', `/v1/webhooks/${flakyHook.id}`, { active: false });
  expect(off.body).toMatchObject({ disabled_reason: 'manual', health: { state: 'disabled' } });
  const fourth = await waitSeen(5);
  expect(fourth[4]).toMatchObject({
    event: 'webhook.disabled',
    data: { webhook_id: flakyHook.id, reason: 'manual' },
  });

  // What the webhooks received: operational events only where subscribed, never about themselves.
  await new Promise((r) => setTimeout(r, 300));
  expect(monitor.requests).toHaveLength(5);
  const eventsOf = (r: Receiver) => r.requests.map((q) => JSON.parse(q.body).event);
  expect(eventsOf(bad)).toEqual(['agent.created', 'agent.updated']);
  expect(eventsOf(flaky)).toEqual(['agent.created', 'agent.updated']);
  // The operational events are in the account's event log like any other.
  const logged = await call('GET', '/v1/events?event=webhook.failing');
  expect(logged.body.data).toHaveLength(2);
  // And nobody may post one.
  const refused = await call('POST', '/v1/events', {
    event: 'webhook.failing',
    data: eventSamples['webhook.failing'],
  });
  expect(refused.status).toBe(422);
  expect(refused.body.error.code).toBe('unknown_event_type');
}

describe('endpoint health on SQLite', () => {
  it('failing, recovered, auto-disabled past the limit, cleared by enabling', async () => {
    await scenario({});
  });
});

await describePostgres('endpoint health on PostgreSQL', (pg) => {
  it('failing, recovered, auto-disabled past the limit, cleared by enabling', async () => {
    await scenario(
      {
        DATABASE_URL: pg.url,
        AF_ADMIN_KEY: 'admin-key-for-postgres-tests',
        AF_ENCRYPTION_KEY: Buffer.alloc(32, 9).toString('base64'),
        AF_ALLOW_PRIVATE_NETWORKS: 'true',
      },
      pg.freshSchema(),
    );
  });
});
